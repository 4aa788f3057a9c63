/**
 * The Argo CD health checks of the siterecovery.io kinds, written once. Argo CD needs one self-contained
 * Lua script per kind (deploy/argocd/health/<group>/<Kind>/health.lua, and the same text in argocd-cm),
 * but most of the kinds judge health the same way, by kstatus conventions: suspended, not yet observed,
 * Stalled, a stale Ready condition, Ready, Reconciling, not ready. So each script is rendered from one
 * template: a header, the shared helpers the kind uses, and a body — the kstatus body with per-kind
 * slots (ReplicatedVM adds its phases and RPO health), or a kind's own body where its health is not about
 * conditions (FailoverRequest runs to completion by phase; a RecoveryPoint is healthy once it exists).
 *
 * helm-generate.ts writes the files (`npm run generate:packaging`); test/unit/argocd-health.test.ts runs
 * each script under Lua 5.1 (what gopher-lua implements) and checks that the committed files are fresh.
 */

/** Shared Lua functions, by name; a script includes the ones its kind uses, in this order. */
const HELPERS = {
  condition: `
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
`,
  describe: `
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
`,
  currentStep: `
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
`,
} as const;

type Helper = keyof typeof HELPERS;

/** The parts of the kstatus body a kind may replace or extend (Lua statements, each ending in a newline). */
interface KstatusSlots {
  /** After the staleness checks, before Ready=True: checks of the kind's own phases. */
  phases?: string;
  /** What Ready=True means (default: Healthy with the condition's reason and message). */
  ready?: string;
  /** After Ready=True, before Reconciling=True: more progress the kind can show. */
  progress?: string;
}

const KSTATUS_SUMMARY = `-- Suspended: spec.suspend; Progressing: no status yet, generation not yet observed, Reconciling=True;
-- Degraded: Stalled=True, or Ready=False without Reconciling; Healthy: Ready=True.`;

const DEFAULT_READY = `if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end
`;

/** The kstatus body: health from spec.suspend, observedGeneration and the Stalled/Ready/Reconciling conditions. */
function kstatusBody(slots: KstatusSlots = {}): string {
  const part = (text: string | undefined) => (text ? `\n${text}` : '');
  return `
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Reconciliation is suspended (spec.suspend)"
  return hs
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the object"
  return hs
end

-- Not yet observed: whatever the conditions say is about an older spec.
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. generation
  return hs
end
${part(slots.phases)}
${slots.ready ?? DEFAULT_READY}${part(slots.progress)}
local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
`;
}

interface HealthScript {
  /** Comment lines (each starting with "-- ") after the first: what the kind's health means. */
  summary: string;
  helpers: readonly Helper[];
  body: string;
}

const REPLICATED_VM_PHASES = `if status.phase == "Error" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Replication is in error")
  return hs
end

if status.phase == "FailingOver" then
  hs.status = "Progressing"
  hs.message = "Failing over"
  return hs
end

if status.phase == "FailedOver" then
  hs.status = "Healthy"
  hs.message = "Failed over to the target region"
  return hs
end
`;

// Stable messages: one phrase per state. The RPO, the newest point's time (in the Ready condition's message)
// and the sync percent change all the time; in the message they would make Argo CD show constant churn.
const REPLICATED_VM_READY = `if ready ~= nil and ready.status == "True" then
  if status.health == "Critical" then
    hs.status = "Degraded"
    hs.message = "Replication health is Critical: no recent recovery point"
    return hs
  end
  hs.status = "Healthy"
  if status.health == "Warning" then
    hs.message = "Protected, replication health Warning"
  elseif obj.spec ~= nil and obj.spec.targetLocation ~= nil then
    hs.message = "Protected: replicating to " .. obj.spec.targetLocation
  else
    hs.message = "Protected"
  end
  return hs
end
`;

const REPLICATED_VM_PROGRESS = `if status.phase == "InitialSync" then
  hs.status = "Progressing"
  hs.message = "Initial sync in progress"
  return hs
end
`;

const FAILOVER_REQUEST_BODY = `
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
`;

const RECOVERY_POINT_BODY = `hs.status = "Healthy"
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
`;

/** Every kind of the API and how its health is judged. */
const SCRIPTS: Record<string, HealthScript> = {
  FailoverRequest: {
    summary: `-- Run to completion, by phase: Succeeded, Committed and CleanedUp are Healthy; Failed is Degraded;
-- Pending, Running and CleaningUp (and a spec change not yet observed) are Progressing.`,
    helpers: ['condition', 'describe', 'currentStep'],
    body: FAILOVER_REQUEST_BODY,
  },
  NetworkMapping: { summary: KSTATUS_SUMMARY, helpers: ['condition', 'describe'], body: kstatusBody() },
  RecoveryPlan: { summary: KSTATUS_SUMMARY, helpers: ['condition', 'describe'], body: kstatusBody() },
  RecoveryPoint: {
    summary: '-- A RecoveryPoint is created by the datapath only once it is sealed: it is Healthy as soon as it exists.',
    helpers: [],
    body: RECOVERY_POINT_BODY,
  },
  ReplicatedVM: {
    summary: `-- As the other kinds (conditions and observedGeneration), plus: phase Error is Degraded; a Ready VM whose
-- RPO health is Critical is Degraded; initial sync and failover show as Progressing. Messages are stable
-- phrases (no RPO, times or percentages), so Argo CD shows no churn.`,
    helpers: ['condition', 'describe'],
    body: kstatusBody({ phases: REPLICATED_VM_PHASES, ready: REPLICATED_VM_READY, progress: REPLICATED_VM_PROGRESS }),
  },
  ReplicationPolicy: { summary: KSTATUS_SUMMARY, helpers: ['condition', 'describe'], body: kstatusBody() },
  DrillSchedule: { summary: KSTATUS_SUMMARY, helpers: ['condition', 'describe'], body: kstatusBody() },
};

export const HEALTH_GROUP = 'siterecovery.io';

/** The kinds that have a health script, sorted. */
export const HEALTH_KINDS = Object.keys(SCRIPTS).sort();

/** The complete health.lua of `kind`: header, helpers, body. */
export function healthScript(kind: string): string {
  const script = SCRIPTS[kind];
  if (!script) throw new Error(`no Argo CD health script for kind ${kind}`);
  return [
    `-- Argo CD health check for ${HEALTH_GROUP}/${kind} (Lua 5.1; Argo CD runs it with gopher-lua).\n`,
    `${script.summary}\n`,
    '-- Generated by `npm run generate:packaging` from test/support/argocd-health-lua.ts. Do not edit.\n',
    'local hs = {}\n',
    ...script.helpers.map((name) => HELPERS[name]),
    script.body,
  ].join('');
}
