/**
 * The steps about the failed-over VM:
 * - ReplaceVirtualMachine (failback only): the original VM (deallocated by re-protect) has the name the
 *   failed-back VM takes. Its VM resource is deleted, which detaches and keeps its disks and network
 *   interfaces; the NICs are reused (same names, same addresses) and the disks listed in status for the
 *   user to delete when satisfied. What it held is recorded before the delete is sent.
 * - CreateVirtualMachine: the VM from the imported disks and the NICs, through the resource contract, in
 *   the shape the registration recorded (vm-shape.ts: security type, size and fallbacks, license, tags,
 *   identities, boot diagnostics); a VM with our name that this request did not create is refused, never
 *   adopted.
 * - StartVirtualMachine: powers it on; the failover is over once it runs.
 */
import type { VirtualMachine } from '@azure/arm-compute';
import { parseArmId } from '../../../azure/arm-id.ts';
import { convergeResource } from '../../../azure/external-resource.ts';
import { powerState, startVm } from '../../../azure/failover-resources.ts';
import { taggedFor } from '../../../azure/resources/observe.ts';
import { virtualMachineResource, type VirtualMachineSpec } from '../../../azure/resources/virtual-machine.ts';
import { TerminalError } from '../../../runtime/reconcile-errors.ts';
import { done, stalled, waiting, type Step } from '../../../runtime/step.ts';
import { failoverIds, primaryFirst, targetPlacement } from '../names.ts';
import type { ProcedurePass } from '../state.ts';
import { chosenPoint } from './recovery-point.ts';
import { vmShape, vmSizes } from './vm-shape.ts';

export async function replaceSeedVm(pass: ProcedurePass): Promise<Step> {
  const { deps, vm } = pass;
  const seedId = vm.spec.seedVirtualMachineId as string;
  const name = parseArmId(seedId).name;
  const resource = virtualMachineResource(deps.az.forResource(seedId), seedId, pass.owner);
  const observed = await resource.observe();
  if (!observed.exists) return done(pass.status.replacedVirtualMachine ? `${name} replaced` : `no VM ${name} to replace`);
  if (observed.managedTag) return done(`${name} is this request's VM`);
  if (!pass.status.replacedVirtualMachine) {
    pass.status.replacedVirtualMachine = heldBy(observed.resource, seedId);
    await pass.save();
  }
  const state = await powerState(deps.az.forResource(seedId), seedId);
  if (state !== 'stopped' && state !== 'deallocated') {
    return stalled('ReplacedVirtualMachineRunning', `VM ${name} (the original VM, seed of this replication) is ${state ?? 'in an unknown state'}: the failed-back VM takes its name; deallocate it and retry with a new FailoverRequest`);
  }
  await resource.delete();
  const deleting = await deps.az.forResource(seedId).operationStatus(seedId);
  return waiting('ReplacingVirtualMachine', `removing the original VM ${name} (its disks and network interfaces are kept)`, deleting?.running ? deleting.retryAfterMs : undefined);
}

/** What a replaced VM held: its NICs (primary first) and its disks (OS first). */
function heldBy(seed: VirtualMachine, seedId: string) {
  const nics = primaryFirst(seed.networkProfile?.networkInterfaces ?? []);
  const disks = [seed.storageProfile?.osDisk?.managedDisk?.id, ...(seed.storageProfile?.dataDisks ?? []).map((d) => d.managedDisk?.id)];
  return { id: seed.id ?? seedId, networkInterfaceIds: nics.map((n) => n.id).filter((n): n is string => Boolean(n)), diskIds: disks.filter((d): d is string => Boolean(d)) };
}

export async function createVirtualMachine(pass: ProcedurePass): Promise<Step> {
  const { deps, fo, vm } = pass;
  const ids = failoverIds(fo, vm);
  const group = targetPlacement(vm).resourceGroup;
  const step = await convergeResource(virtualMachineResource(deps.az.forResource(ids.vm), ids.vm, pass.owner, () => desiredVm(pass)), pass.resources, () => pass.save());
  if (pass.resources.isForeign(ids.vm) || (step.state === 'done' && !taggedFor(step.value.tags, pass.owner))) {
    return stalled('VirtualMachineNameTaken', `a VM named ${ids.vmName} that this request did not create already exists in ${group}`);
  }
  if (step.state === 'stalled') return stalled('VirtualMachineFailed', `VM ${ids.vmName} failed to provision`);
  if (step.state === 'waiting') return waiting('CreatingVirtualMachine', `creating VM ${ids.vmName}`, step.requeueAfterMs);
  pass.status.targetVirtualMachineId = step.value.id ?? ids.vm;
  const principal = step.value.identity?.principalId;
  if (principal) pass.status.targetPrincipalId = principal;
  const identity = principal ? `, system-assigned identity ${principal} (a new principal)` : '';
  return done(`VM ${ids.vmName} created (size ${step.value.hardwareProfile?.vmSize ?? '?'}${identity})`);
}

/** The VM to create: the imported disks (OS, then data by LUN), the NICs (primary first), the placement. */
async function desiredVm(pass: ProcedurePass): Promise<VirtualMachineSpec> {
  const { fo, vm } = pass;
  const point = await chosenPoint(pass);
  if (!point) throw new TerminalError('RecoveryPointGone', 'the chosen recovery point no longer exists');
  const os = point.spec.disks.find((d) => d.role === 'OS');
  if (!os) throw new TerminalError('NoOsDisk', `RecoveryPoint ${point.metadata.name} has no OS disk`);
  const ids = failoverIds(fo, vm);
  const target = targetPlacement(vm);
  const report = pass.status.networkInterfaces ?? [];
  return {
    location: vm.spec.targetLocation,
    vmSizes: vmSizes(vm),
    shape: vmShape(vm),
    osType: vm.status?.sourceOsType ?? 'Linux',
    osDiskId: ids.disk(os.name),
    dataDisks: point.spec.disks.filter((d) => d.role === 'Data').sort((a, b) => (a.lun ?? 0) - (b.lun ?? 0)).map((d) => ({ lun: d.lun ?? 0, diskId: ids.disk(d.name) })),
    nicIds: primaryFirst(vm.status?.sourceNetworkInterfaces ?? []).map((n) => report.find((r) => r.sourceName === n.name)?.networkInterfaceId ?? ids.nic(n.name)),
    ...(target.availabilitySetId ? { availabilitySetId: target.availabilitySetId } : {}),
    ...(target.zone ? { zone: target.zone } : {}),
    ...(vm.spec.targetProximityPlacementGroupId ? { proximityPlacementGroupId: vm.spec.targetProximityPlacementGroupId } : {}),
    ...(vm.spec.targetCapacityReservationGroupId ? { capacityReservationGroupId: vm.spec.targetCapacityReservationGroupId } : {}),
  };
}

export async function startTargetVm({ deps, status }: ProcedurePass): Promise<Step> {
  const targetId = status.targetVirtualMachineId;
  if (!targetId) return stalled('NoTargetVM', 'the target VM id was not recorded');
  const state = await powerState(deps.az.forResource(targetId), targetId);
  if (state === 'running') return done('target VM running');
  if (state !== 'starting') await startVm(deps.az.forResource(targetId), targetId);
  const starting = await deps.az.forResource(targetId).operationStatus(targetId);
  return waiting('StartingVirtualMachine', 'starting the target VM', starting?.running ? starting.retryAfterMs : undefined);
}
