-- Argo CD health check for siterecovery.io/RecoveryPoint (Lua 5.1; Argo CD runs it with gopher-lua).
-- A RecoveryPoint is created by the datapath only once it is sealed: it is Healthy as soon as it exists.
local hs = {}
hs.status = "Healthy"
local consistency = "CrashConsistent"
local time = ""
if obj.spec ~= nil then
  if obj.spec.consistency ~= nil then
    consistency = obj.spec.consistency
  end
  if obj.spec.time ~= nil then
    time = " at " .. obj.spec.time
  end
end
hs.message = consistency .. " recovery point" .. time
return hs
