-- Argo CD health check for siterecovery.io/FailoverRequest (Lua 5.1; Argo CD runs it with gopher-lua).
-- Run to completion, by phase: Succeeded, Committed and CleanedUp are Healthy; Failed is Degraded;
-- Pending, Running and CleaningUp (and a spec change not yet observed) are Progressing.
local hs = {}

-- The condition of the given type in status.conditions, or nil.
local function condition(status, conditionType)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- "Reason: message" of a condition, or the fallback.
local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= "" then
    return message
  end
  if reason ~= "" then
    return reason
  end
  return fallback
end

-- The step running now (or the last one), for the message.
local function currentStep(status)
  if status.steps == nil then
    return nil
  end
  local last = nil
  for _, step in ipairs(status.steps) do
    if step.state == "Running" or step.state == "Failed" then
      return step
    end
    if step.state ~= "Pending" then
      last = step
    end
  end
  return last
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the failover"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local phase = status.phase
if phase == "Succeeded" or phase == "Committed" or phase == "CleanedUp" then
  hs.status = "Healthy"
  local message = "Failover " .. phase
  if phase == "CleanedUp" then
    message = "Test failover cleaned up"
  elseif status.targetVirtualMachineId ~= nil then
    message = message .. ": " .. status.targetVirtualMachineId
  end
  if status.rtoSeconds ~= nil and phase ~= "CleanedUp" then
    message = message .. " (RTO " .. status.rtoSeconds .. "s)"
  end
  hs.message = message
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  local step = currentStep(status)
  local fallback = "Failover failed"
  if step ~= nil and step.message ~= nil then
    fallback = "Failover failed in step " .. step.name .. ": " .. step.message
  elseif step ~= nil then
    fallback = "Failover failed in step " .. step.name
  end
  local succeeded = condition(status, "Succeeded")
  if succeeded ~= nil and succeeded.status == "False" and succeeded.message ~= nil then
    hs.message = describe(succeeded, fallback)
  else
    hs.message = fallback
  end
  return hs
end

hs.status = "Progressing"
local step = currentStep(status)
if step ~= nil then
  hs.message = phase .. ": step " .. step.name .. " " .. step.state
else
  hs.message = phase
end
return hs
