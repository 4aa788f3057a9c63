-- Argo CD resource action of a siterecovery.io/FailoverRequest (Lua 5.1, run by Argo CD with gopher-lua):
-- cleanup removes what a Test failover created. Only a Test failover that has ended (Succeeded or Failed)
-- and is not already being cleaned up can be; a real failover is committed, never undone.
local actions = {}
local ended = obj.status ~= nil and (obj.status.phase == "Succeeded" or obj.status.phase == "Failed")
local test = obj.spec ~= nil and obj.spec.type == "Test"
local asked = obj.spec ~= nil and obj.spec.cleanup == true
actions["cleanup"] = {["disabled"] = not (test and ended and not asked)}
return actions
