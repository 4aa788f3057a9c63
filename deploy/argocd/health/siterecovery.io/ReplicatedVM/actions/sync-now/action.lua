-- Asks the datapath for a recovery point now: a new value of the siterecovery.io/sync-now annotation (as
-- `site-recovery sync-now` sets it); status.replication.syncNow answers it once the point is sealed.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["siterecovery.io/sync-now"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
