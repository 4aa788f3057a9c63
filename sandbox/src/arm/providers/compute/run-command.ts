// Microsoft.Compute/virtualMachines/{vm}/runCommand (POST, long-running; RunCommandInput {commandId,
// script[], parameters[]} -> RunCommandResult {value: InstanceViewStatus[]}, one ComponentStatus/StdOut and
// one ComponentStatus/StdErr status). Shape from azure-rest-api-specs,
// specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-03-01/examples/
// runCommandExamples/VirtualMachineRunCommand.json (operation VirtualMachines_RunCommand), and the
// RunCommandInput / RunCommandResult models of @azure/arm-compute. A VM that is not running refuses with
// 409 Conflict (Run Command needs the VM agent of a running VM).
//
// The sandbox has no guest, so the emulated guest understands only what quiescing needs: a script line
// `fsfreeze --freeze|-f <mount>` holds every write to the VM's disks (writes in flight finish first, as
// fsfreeze waits for them) until a later command's `fsfreeze --unfreeze|-u`, or until FREEZE_LIMIT_MS
// passed (the guest thaws on its own, like VSS's freeze timeout; real fsfreeze has none); `exit <n>` with
// n != 0 ends the script with that status on stderr; every other line is echoed to stdout.
import type { ArmEngine, Reply, RequestContext } from '../../engine.ts';
import { conflict, invalidParameter } from '../../errors.ts';
import type { Json, StoredResource } from '../../store.ts';
import { isObj, lroAction } from '../common.ts';
import { NS, vmDiskIds } from './shared.ts';

const FREEZE_LIMIT_MS = 60_000;
const COMMAND_IDS = ['RunShellScript', 'RunPowerShellScript'];

/** Frozen VMs of this emulator: the release of the held writes, and the guest's own thaw timer. */
const frozen = new WeakMap<ArmEngine, Map<string, { release: () => void; timer: NodeJS.Timeout }>>();

function frozenOf(engine: ArmEngine): Map<string, { release: () => void; timer: NodeJS.Timeout }> {
  let map = frozen.get(engine);
  if (!map) {
    map = new Map();
    frozen.set(engine, map);
  }
  return map;
}

export async function runCommand(engine: ArmEngine, ctx: RequestContext, vm: StoredResource): Promise<Reply> {
  const input: Json = isObj(ctx.body) ? ctx.body : {};
  if (!COMMAND_IDS.includes(input.commandId)) throw invalidParameter(`The value '${String(input.commandId)}' of parameter 'commandId' is not valid.`, 'commandId');
  if (input.script !== undefined && (!Array.isArray(input.script) || input.script.some((l: unknown) => typeof l !== 'string'))) throw invalidParameter('script must be an array of strings.', 'script');
  if (vm.internal.powerState !== 'running') {
    throw conflict('Conflict', `Run command cannot be executed on VM '${vm.body.name}' because the VM is ${vm.internal.powerState ?? 'not running'}.`);
  }
  return lroAction(engine, ctx, { res: vm, kind: 'virtualMachines.runCommand', ns: NS, params: { script: (input.script ?? []) as string[] } });
}

/** Runs the emulated guest's script (see the file's header). */
async function runScript(engine: ArmEngine, vm: StoredResource, script: string[]): Promise<Json> {
  const out: string[] = [];
  let err = '';
  for (const line of script) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'fsfreeze' && (words[1] === '--freeze' || words[1] === '-f')) await freeze(engine, vm);
    else if (words[0] === 'fsfreeze' && (words[1] === '--unfreeze' || words[1] === '-u')) thaw(engine, vm.id);
    else if (words[0] === 'exit' && Number(words[1]) !== 0) {
      err = `script exited with status ${words[1]}`;
      break;
    } else out.push(line);
  }
  const status = (stream: string, message: string) => ({ code: `ComponentStatus/${stream}/succeeded`, level: 'Info', displayStatus: 'Provisioning succeeded', message });
  return { value: [status('StdOut', out.join('\n')), status('StdErr', err)] };
}

async function freeze(engine: ArmEngine, vm: StoredResource): Promise<void> {
  const map = frozenOf(engine);
  if (map.has(vm.id)) return;
  const release = await engine.disks.holdWrites(vmDiskIds(vm));
  const timer = setTimeout(() => thaw(engine, vm.id), FREEZE_LIMIT_MS);
  timer.unref();
  map.set(vm.id, { release, timer });
}

function thaw(engine: ArmEngine, vmId: string): void {
  const map = frozenOf(engine);
  const held = map.get(vmId);
  if (!held) return;
  map.delete(vmId);
  clearTimeout(held.timer);
  held.release();
}

export function registerRunCommand(engine: ArmEngine): void {
  engine.registerCompleter('virtualMachines.runCommand', async (e, op) => {
    const vm = e.store.get(op.resourceId);
    if (!vm) throw conflict('Conflict', `VM ${op.resourceId} no longer exists.`);
    return runScript(e, vm, ((op.params as Json)?.script ?? []) as string[]);
  });
}
