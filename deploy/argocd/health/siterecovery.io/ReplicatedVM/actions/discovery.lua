-- Argo CD resource actions of a siterecovery.io/ReplicatedVM (Lua 5.1, run by Argo CD with gopher-lua):
-- sync-now (seal a recovery point now) and test-failover (a drill: a Test FailoverRequest from the newest
-- point). Both need a protected VM: before the initial sync ends, or once it failed over, they are disabled.
local actions = {}
local protected = obj.status ~= nil and obj.status.phase == "Protected"
actions["sync-now"] = {["disabled"] = not protected}
actions["test-failover"] = {["disabled"] = not protected}
return actions
