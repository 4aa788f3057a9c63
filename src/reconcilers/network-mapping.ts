/**
 * NetworkMapping: resolves (or creates) the target network mirroring the source network's address space
 * and subnets (named <source>-asr, as Azure Site Recovery does), the isolated test-failover network, the
 * subnet mapping by name with overrides, and the reverse mapping used after re-protect. A network it creates
 * carries each source subnet's network security group and route table, mirrored into the target resource
 * group or named per subnet (./network-mapping-subnets.ts). In namespaced tenancy every network and group it
 * names must be inside its namespace's Azure scopes (./tenancy.ts).
 */
import type { Subnet, VirtualNetwork } from '@azure/arm-network';
import type { NetworkMapping, NetworkMappingStatus, ReplicatedVM, ResolvedSubnetMapping } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { foreignSubscriptionRefusal, parseArmId, sourceSubscriptionRefusal, subscriptionOfId } from '../azure/arm-id.ts';
import { resourceGroupIsEmpty, resourceGroupResource } from '../azure/resources/resource-group.ts';
import { getVirtualNetwork, virtualNetworkResource, type VirtualNetworkSpec } from '../azure/resources/virtual-network.ts';
import { classifyAzureError, isUnanswered, reconcileErrorFor } from '../azure/errors.ts';
import { mappingFromTarget } from './network-mapping-from-target.ts';
import { convergeSubnetSecurity, planSubnetSecurity, removeSubnetSecurity } from './network-mapping-subnets.ts';
import type { ScopeSource } from '../azure/scopes.ts';
import { networkMappingAzureIds, networkMappingSecurityIds, tenancyRefusal } from './tenancy.ts';
import { convergeResource, removeResource } from '../azure/external-resource.ts';
import { ResourceLedger } from '../azure/resource-ledger.ts';
import type { Readiness } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../runtime/controller.ts';
import { addFinalizer, isDeleting, removeFinalizer } from '../runtime/finalizers.ts';
import { StatusWriter } from '../runtime/status-writer.ts';
import { POLL_MS, stalled, type Step, type Unfinished } from '../runtime/step.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';

/** How soon to try the source network again while it does not answer. */
const SOURCE_RECHECK_MS = 30_000;

const ROLE_RG = 'TargetResourceGroup';
const ROLE_TARGET = 'TargetVirtualNetwork';
const ROLE_TEST = 'TestVirtualNetwork';

export class NetworkMappingReconciler implements Reconciler<NetworkMapping> {
  private readonly mappings: CustomResourceClient<NetworkMapping>;
  private readonly az: AzureClients;
  private readonly listVms: (namespace: string) => readonly ReplicatedVM[];
  private readonly status: StatusWriter<NetworkMapping>;
  /** Namespaced tenancy: the Azure scopes of each namespace; absent in cluster tenancy. */
  private readonly scopes: ScopeSource | undefined;

  constructor(mappings: CustomResourceClient<NetworkMapping>, az: AzureClients, listVms: (namespace: string) => readonly ReplicatedVM[], scopes?: ScopeSource) {
    this.mappings = mappings;
    this.az = az;
    this.listVms = listVms;
    this.scopes = scopes;
    this.status = new StatusWriter(mappings);
  }

  async reconcile(mapping: NetworkMapping, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const ledger = new ResourceLedger(mapping.status?.targetResources);
    try {
      if (isDeleting(mapping)) return await this.finalize(mapping, ledger, ctx);
      mapping = await addFinalizer(this.mappings, mapping);
      return await this.converge(mapping, ledger, ctx);
    } catch (error) {
      return this.status.fail(mapping, reconcileErrorFor(error, 'reconciling the network mapping'), { targetResources: ledger.list() });
    }
  }

  private async converge(mapping: NetworkMapping, ledger: ResourceLedger, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const spec = mapping.spec;
    const owner = `${mapping.metadata.namespace}/${mapping.metadata.name}`;
    const persist = () => this.record(mapping, ledger, { state: 'progressing', reason: 'Creating', message: 'creating target network resources' }, {});
    const stall = (reason: string, message: string) => this.status.stall(mapping, stalled(reason, message), ctx.events, { targetResources: ledger.list() });
    const pause = (step: Unfinished) => (step.state === 'stalled' ? stall(step.reason, step.message) : this.status.pause(mapping, step, { targetResources: ledger.list() }));

    // 1. The source network (in the subscription the operator manages; a target or test network it names may be
    // in another, for ReplicatedVMs failing over there, spec.targetSubscriptionId: it is read in its own; the groups, tables and application security groups named for a network the mapping creates are in the operator's).
    // The source network may be in another subscription only when the mapping leads back into the operator's
    // (an adopted target network there: the reverse mapping of re-protect after a failover into another subscription).
    const { sourceVirtualNetworkId } = spec;
    const foreign =
      sourceSubscriptionRefusal(this.az.subscriptionId, 'spec.sourceVirtualNetworkId', sourceVirtualNetworkId, subscriptionOfId(spec.targetVirtualNetworkId), 'spec.targetVirtualNetworkId') ??
      foreignSubscriptionRefusal(this.az.subscriptionId, networkMappingSecurityIds(mapping));
    if (foreign) return stall(foreign.reason, foreign.message);
    const outside = tenancyRefusal(this.scopes, mapping.metadata.namespace ?? 'default', networkMappingAzureIds(mapping, this.az.subscriptionId));
    if (outside) return stall(outside.reason, outside.message);
    const sourceId = parseArmId(spec.sourceVirtualNetworkId);
    let source: VirtualNetwork | undefined;
    try {
      source = await getVirtualNetwork(this.az.forResource(spec.sourceVirtualNetworkId), sourceId.resourceGroup, sourceId.name);
    } catch (error) {
      if (!isUnanswered(error)) throw error;
      return this.fromTarget(mapping, ledger, ctx, error);
    }
    if (!source) return stall('SourceNetworkNotFound', `virtual network ${spec.sourceVirtualNetworkId} does not exist`);
    // A mapping within one region serves zone-to-zone replication: each ReplicatedVM using it must then be
    // zonal and fail over into another zone (enable-replication.ts refuses it otherwise, SameRegion).
    const sourceSubnets = (source.subnets ?? []).filter((s): s is Subnet & { name: string } => Boolean(s.name));
    // Each subnet's network security group and route table, decided (or refused) before anything is created.
    const security = await planSubnetSecurity(this.az, mapping, sourceSubnets);
    if ('reason' in security) return stall(security.reason, security.message);

    // 2. The target resource group, then the mirrors of the source subnets' groups and route tables.
    const group = await convergeResource(resourceGroupResource(this.az, ROLE_RG, spec.targetResourceGroup, spec.targetLocation, owner), ledger, persist);
    if (group.state !== 'done') return pause(group);
    const mirrors = await convergeSubnetSecurity(security, ledger, persist);
    if (mirrors.state !== 'done') return pause(mirrors);

    // 3. The target network: adopted when named, else a mirror of the source.
    const mirror = (name: string): VirtualNetworkSpec => ({
      resourceGroup: spec.targetResourceGroup,
      name,
      location: spec.targetLocation,
      owner,
      addressPrefixes: source.addressSpace?.addressPrefixes ?? [],
      subnets: sourceSubnets.map((s) => ({ name: s.name, addressPrefix: s.addressPrefix ?? s.addressPrefixes?.[0] ?? '', ...security.bySubnet.get(s.name) })),
    });
    const target = await this.network(spec.targetVirtualNetworkId, ROLE_TARGET, mirror(`${sourceId.name}-asr`), ledger, persist);
    if (target.state !== 'done') return pause(target);
    const test = await this.network(spec.testVirtualNetworkId, ROLE_TEST, mirror(`${sourceId.name}-asr-test`), ledger, persist);
    if (test.state !== 'done') return pause(test);

    // 4. The subnet mapping, by name unless overridden.
    const overrides = new Map((spec.subnetMappings ?? []).map((m) => [m.source, m.target]));
    for (const name of overrides.keys()) {
      if (!sourceSubnets.some((s) => s.name === name)) return stall('SubnetNotFound', `subnetMappings names source subnet "${name}", which ${sourceId.name} does not have`);
    }
    const resolved: ResolvedSubnetMapping[] = [];
    for (const s of sourceSubnets) {
      const targetName = overrides.get(s.name) ?? s.name;
      const targetSubnet = target.value.subnets?.find((t) => t.name === targetName);
      if (!targetSubnet) {
        return stall('SubnetNotMapped', `source subnet "${s.name}" maps to "${targetName}", which target network ${target.value.name} does not have; add it or set subnetMappings`);
      }
      const testSubnet = test.value.subnets?.find((t) => t.name === targetName) ?? test.value.subnets?.find((t) => t.name === s.name);
      resolved.push({
        source: s.name,
        target: targetName,
        sourceSubnetId: s.id,
        targetSubnetId: targetSubnet.id,
        ...(testSubnet?.id ? { testSubnetId: testSubnet.id } : {}),
        ...(targetSubnet.networkSecurityGroup?.id ? { networkSecurityGroupId: targetSubnet.networkSecurityGroup.id } : {}),
        ...(targetSubnet.routeTable?.id ? { routeTableId: targetSubnet.routeTable.id } : {}),
      });
    }

    // 5. Record it all, with the reverse mapping.
    const wasReady = mapping.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    await this.record(mapping, ledger, { state: 'ready', reason: 'Mapped', message: `${resolved.length} subnet(s) mapped from ${sourceId.name} to ${target.value.name}` }, {
      sourceLocation: source.location,
      targetVirtualNetworkId: target.value.id,
      targetVirtualNetworkCreated: ledger.get(ROLE_TARGET)?.created ?? false,
      testVirtualNetworkId: test.value.id,
      testVirtualNetworkCreated: ledger.get(ROLE_TEST)?.created ?? false,
      subnetMappings: resolved,
      reverse: {
        sourceVirtualNetworkId: target.value.id,
        targetVirtualNetworkId: source.id,
        targetLocation: source.location,
        subnetMappings: resolved.map((m) => ({ source: m.target, target: m.source })),
      },
    });
    if (!wasReady) ctx.events.record(mapping, 'Normal', 'Mapped', `network ${sourceId.name} maps to ${target.value.id}`);
  }

  /**
   * The source network does not answer (its region is down): the mapping is read back from the target
   * network (network-mapping-from-target.ts), so failovers can proceed; the source is tried again soon.
   */
  private async fromTarget(mapping: NetworkMapping, ledger: ResourceLedger, ctx: ReconcileContext, error: unknown): Promise<ReconcileResult> {
    const resolved = await mappingFromTarget(this.az, mapping);
    if (resolved.state === 'stalled') return this.status.stall(mapping, resolved, ctx.events, { targetResources: ledger.list() });
    if (resolved.state === 'waiting') return this.status.pause(mapping, resolved, { targetResources: ledger.list() });
    const { target, test, subnetMappings } = resolved.value;
    const message = `the source network does not answer (${classifyAzureError(error).message}): ${resolved.message}; the source is tried again every ${SOURCE_RECHECK_MS / 1000} s`;
    await this.record(mapping, ledger, { state: 'ready', reason: 'MappedFromTargetNetwork', message }, {
      targetVirtualNetworkId: target.id,
      ...(test?.id ? { testVirtualNetworkId: test.id } : {}),
      subnetMappings,
    });
    return { requeueAfterMs: SOURCE_RECHECK_MS };
  }

  /** Adopts the named network, or converges the mirror the operator manages. */
  private async network(adoptId: string | undefined, role: string, mirror: VirtualNetworkSpec, ledger: ResourceLedger, persist: () => Promise<void>): Promise<Step<VirtualNetwork>> {
    if (adoptId) {
      const id = parseArmId(adoptId);
      const network = await getVirtualNetwork(this.az.forResource(adoptId), id.resourceGroup, id.name);
      if (!network) return stalled(`${role}NotFound`, `virtual network ${adoptId} does not exist`);
      ledger.set({ role, id: network.id ?? adoptId, created: false });
      return { state: 'done', value: network };
    }
    return convergeResource(virtualNetworkResource(this.az, role, mirror), ledger, persist);
  }

  /** Deletion: refused while ReplicatedVMs use the mapping; then removes only what the operator created. */
  private async finalize(mapping: NetworkMapping, ledger: ResourceLedger, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const users = this.listVms(mapping.metadata.namespace ?? 'default').filter((vm) => vm.spec.networkMappingRef.name === mapping.metadata.name);
    if (users.length > 0) {
      const names = users.map((u) => u.metadata.name).join(', ');
      await this.record(mapping, ledger, { state: 'stalled', reason: 'InUse', message: `the mapping is used by ReplicatedVM ${names}; it is deleted once none uses it` }, {});
      return;
    }
    const spec = mapping.spec;
    const owner = `${mapping.metadata.namespace}/${mapping.metadata.name}`;
    const sourceName = parseArmId(spec.sourceVirtualNetworkId).name;
    const stub = (name: string): VirtualNetworkSpec => ({ resourceGroup: spec.targetResourceGroup, name, location: spec.targetLocation, owner, addressPrefixes: [], subnets: [] });
    let gone = await removeResource(virtualNetworkResource(this.az, ROLE_TEST, stub(`${sourceName}-asr-test`)), ledger.get(ROLE_TEST));
    gone = (await removeResource(virtualNetworkResource(this.az, ROLE_TARGET, stub(`${sourceName}-asr`)), ledger.get(ROLE_TARGET))) && gone;
    // The subnets' groups and route tables once no network uses them (Azure refuses to delete them before).
    if (gone) gone = await removeSubnetSecurity(this.az, mapping, ledger);
    if (!gone) {
      await this.record(mapping, ledger, { state: 'progressing', reason: 'Deleting', message: 'deleting the networks, network security groups and route tables the operator created' }, {});
      return { requeueAfterMs: POLL_MS };
    }
    const group = ledger.get(ROLE_RG);
    if (group?.created && (await resourceGroupIsEmpty(this.az, spec.targetResourceGroup))) {
      await removeResource(resourceGroupResource(this.az, ROLE_RG, spec.targetResourceGroup, spec.targetLocation, owner), group);
    }
    ctx.events.record(mapping, 'Normal', 'Deleted', 'removed the networks the operator created');
    await removeFinalizer(this.mappings, mapping);
  }

  private async record(mapping: NetworkMapping, ledger: ResourceLedger, readiness: Readiness, fields: Partial<NetworkMappingStatus>): Promise<void> {
    await this.status.record(mapping, readiness, { ...fields, targetResources: ledger.list() });
  }
}
