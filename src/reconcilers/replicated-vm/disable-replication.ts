/**
 * Disable replication (the ReplicatedVM is being deleted). With deletionPolicy Retain nothing in Azure is
 * touched. Otherwise the VM's recovery points go, then what the operator created for it: per-VM resources
 * first, shared ones (resource group, storage accounts, availability set, network security group mirrors
 * not attached to a failed-over NIC) only once no other ReplicatedVM
 * uses them, the resource group last and only when empty. Adopted resources are never deleted.
 */
import { REPLICATED_VM_LABEL, RESOURCE_ROLE as ROLE } from '../../api/contract.ts';
import { resourceGroupNameOf, sameArmId } from '../../azure/arm-id.ts';
import { removeResource } from '../../azure/external-resource.ts';
import { resourceGroupIsEmpty, resourceGroupResource } from '../../azure/resources/resource-group.ts';
import type { ReconcileResult } from '../../runtime/controller.ts';
import { removeFinalizer } from '../../runtime/finalizers.ts';
import { POLL_MS } from '../../runtime/step.ts';
import { refOf } from '../../kube/custom-resources.ts';
import { mirrorInUse, NSG_MIRROR_ROLE } from './network-security-groups.ts';
import type { VmPass } from './pass.ts';
import { recordedResource, SHARED_ROLES } from './target-resources.ts';

/** Per-VM resources first, then the shared ones (network security group mirrors among them); the resource group is handled last. */
const deletionOrder = (mirrors: string[]) => [ROLE.cacheContainer, ROLE.replicaContainer, ROLE.restorePoints, ...mirrors, ROLE.availabilitySet, ROLE.cache, ROLE.target];

export async function disableReplication(pass: VmPass): Promise<ReconcileResult | void> {
  const { vm, deps, ledger, ctx } = pass;
  if (vm.spec.deletionPolicy === 'Retain') {
    ctx.events.record(vm, 'Normal', 'Retained', 'replication disabled; Azure resources retained (deletionPolicy Retain)');
    return removeFinalizer(deps.vms, vm);
  }
  await pass.record({ state: 'progressing', reason: 'DisablingReplication', message: 'removing what the operator created for this VM' });

  // Recovery points of this VM (no garbage collector is assumed to run).
  const points = await deps.recoveryPoints.list(pass.namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`);
  await Promise.all(points.items.map((p) => deps.recoveryPoints.delete(refOf(p))));

  const others = deps.listAllVms().filter((o) => o.metadata.uid !== vm.metadata.uid);
  const usedElsewhere = (id: string) => others.some((o) => (o.status?.targetResources ?? []).some((r) => sameArmId(r.id, id)));
  let allGone = true;
  const mirrors = ledger.list().map((r) => r.role).filter((role) => role.startsWith(NSG_MIRROR_ROLE));
  for (const role of deletionOrder(mirrors)) {
    const record = ledger.get(role);
    if (!record) continue;
    // A mirror a failed-over NIC uses stays (with that NIC), as do resources another VM uses.
    const shared = SHARED_ROLES.has(role) || mirrors.includes(role);
    if ((shared && usedElsewhere(record.id)) || (mirrors.includes(role) && (await mirrorInUse(deps.az, record.id)))) {
      ledger.remove(role);
      continue;
    }
    const gone = await removeResource(recordedResource(deps.az, role, record.id), record);
    if (gone) ledger.remove(role);
    else allGone = false;
  }
  if (!allGone) {
    await pass.record({ state: 'progressing', reason: 'DisablingReplication', message: 'waiting for Azure to delete resources' });
    return { requeueAfterMs: POLL_MS };
  }
  // The groups (the replica storage's in the operator's subscription too, with a target subscription), each in its id's subscription.
  for (const role of [ROLE.group, ROLE.replicaGroup]) {
    const group = ledger.get(role);
    if (!group?.created || usedElsewhere(group.id)) continue;
    const name = resourceGroupNameOf(group.id);
    const az = deps.az.forResource(group.id);
    if (await resourceGroupIsEmpty(az, name)) await removeResource(resourceGroupResource(az, role, name, vm.spec.targetLocation, ''), group);
  }
  ctx.events.record(vm, 'Normal', 'ReplicationDisabled', 'replication disabled and the resources the operator created removed');
  await removeFinalizer(deps.vms, vm);
}
