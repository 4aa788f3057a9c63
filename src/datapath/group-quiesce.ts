/**
 * Coordinated quiesce of a consistency group's cycle (ReplicatedVM spec.quiesce): the members' preFreeze
 * commands run in parallel through the VM Run Command API (POST virtualMachines/{vm}/runCommand,
 * operation VirtualMachines_RunCommand; azure-rest-api-specs, specification/compute/resource-manager/
 * Microsoft.Compute/ComputeRP/stable/2024-03-01/examples/runCommandExamples/VirtualMachineRunCommand.json),
 * the restore points are taken while every member is frozen, then the thaw commands run. A command fails
 * when ARM refuses it or the script writes to stderr (the result's ComponentStatus/StdErr message).
 *
 * One member's preFreeze failing makes the whole cycle crash-consistent: the members already frozen are
 * thawed at once and the cycle goes on without the freeze, so replication never waits on a guest.
 */
import type { RunCommand } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';
import { withDeadline } from '../util/deadline.ts';
import { errorMessage } from './errors.ts';

/** How long one Run Command may take (the guest agent answers within seconds when it is healthy). */
export const QUIESCE_TIMEOUT_MS = 60_000;

export interface CommandRunner {
  /** Runs `command` in the guest of VM `vmId`; throws when it fails. */
  run(vmId: string, command: RunCommand, signal: AbortSignal): Promise<void>;
}

/** The Run Command API of the VMs' subscription. */
export function runCommandRunner(az: AzureClients): CommandRunner {
  return {
    async run(vmId, command, signal) {
      const id = parseArmId(vmId);
      const result = await withDeadline(signal, QUIESCE_TIMEOUT_MS, `run command on ${id.name}`, (deadline) =>
        az.compute.virtualMachines.beginRunCommandAndWait(id.resourceGroup, id.name, { commandId: command.commandId ?? 'RunShellScript', script: command.script }, { abortSignal: deadline, updateIntervalInMs: 500 }),
      );
      const stderr = (result.value ?? []).filter((s) => /StdErr/i.test(s.code ?? '') && s.message).map((s) => s.message);
      if (stderr.length) throw new Error(`the command wrote to stderr: ${stderr.join('; ').slice(0, 300)}`);
    },
  };
}

/** A member to freeze: its key, VM and commands. */
export interface QuiesceMember {
  key: string;
  vmId: string;
  preFreeze: RunCommand;
  thaw: RunCommand;
}

/** Freezes every member; on any failure thaws those frozen and says why. */
export async function freezeAll(runner: CommandRunner, members: readonly QuiesceMember[], signal: AbortSignal): Promise<{ frozen: QuiesceMember[]; failure?: string }> {
  const results = await Promise.allSettled(members.map((m) => runner.run(m.vmId, m.preFreeze, signal)));
  const frozen = members.filter((_, i) => results[i]!.status === 'fulfilled');
  const failures = members.flatMap((m, i) => {
    const r = results[i]!;
    return r.status === 'rejected' ? [`${m.key}: ${errorMessage(r.reason)}`] : [];
  });
  if (failures.length === 0) return { frozen };
  const thawFailures = await thawAll(runner, frozen, signal);
  return { frozen: [], failure: [`preFreeze failed on ${failures.join(', ')}`, ...thawFailures].join('; ') };
}

/** Thaws every member (each attempted even when another fails); returns what failed. */
export async function thawAll(runner: CommandRunner, members: readonly QuiesceMember[], signal: AbortSignal): Promise<string[]> {
  const results = await Promise.allSettled(members.map((m) => runner.run(m.vmId, m.thaw, signal)));
  return members.flatMap((m, i) => {
    const r = results[i]!;
    return r.status === 'rejected' ? [`thaw failed on ${m.key}: ${errorMessage(r.reason)}`] : [];
  });
}
