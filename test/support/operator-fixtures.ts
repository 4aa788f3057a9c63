// Objects and helpers shared by operator tests.
import crypto from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { NetworkMapping, RecoveryPoint, ReplicatedVM, ReplicationPolicy } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import type { LocalAzure } from './local-azure.ts';

export interface Clients {
  policies: CustomResourceClient<ReplicationPolicy>;
  mappings: CustomResourceClient<NetworkMapping>;
  vms: CustomResourceClient<ReplicatedVM>;
  points: CustomResourceClient<RecoveryPoint>;
}

export function crClients(kc: KubeConfig): Clients {
  return {
    policies: new CustomResourceClient<ReplicationPolicy>(kc, 'ReplicationPolicy'),
    mappings: new CustomResourceClient<NetworkMapping>(kc, 'NetworkMapping'),
    vms: new CustomResourceClient<ReplicatedVM>(kc, 'ReplicatedVM'),
    points: new CustomResourceClient<RecoveryPoint>(kc, 'RecoveryPoint'),
  };
}

export const randomName = (prefix: string): string => `${prefix}-${crypto.randomBytes(3).toString('hex')}`;

export const conditionIs = (type: string, status: string) => (o: { status?: { conditions?: Array<{ type: string; status: string }> } } | undefined) =>
  Boolean(o?.status?.conditions?.some((c) => c.type === type && c.status === status));

/**
 * A source VM (own resource group and network) with a policy, a mapping and a ReplicatedVM protecting it.
 */
export async function protectNewVm(
  azure: LocalAzure,
  clients: Clients,
  namespace: string,
  options: { name?: string; dataDisks?: number; policy?: string; mapping?: string; deletionPolicy?: 'Delete' | 'Retain'; policySpec?: ReplicationPolicy['spec']; beforeProtect?: () => void } = {},
): Promise<{ rg: string; vmId: string; name: string; vnetId: string }> {
  const name = options.name ?? randomName('vm');
  const rg = randomName('app');
  const vm = await azure.createVm({ name, resourceGroup: rg, dataDisks: options.dataDisks ?? 2 });
  const vnetId = `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;
  options.beforeProtect?.();
  const policy = options.policy ?? `${name}-policy`;
  const mapping = options.mapping ?? `${name}-net`;
  if (!(await clients.policies.get({ namespace, name: policy }))) {
    await clients.policies.create(namespace, { metadata: { name: policy }, spec: options.policySpec ?? {} });
  }
  await clients.mappings.create(namespace, { metadata: { name: mapping }, spec: { sourceVirtualNetworkId: vnetId, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
  await clients.vms.create(namespace, {
    metadata: { name },
    spec: {
      sourceVirtualMachineId: vm.id as string,
      targetLocation: 'northeurope',
      policyRef: { name: policy },
      networkMappingRef: { name: mapping },
      // Explicit: the default is Retain, and the tests expect deleting the object to remove what it created.
      deletionPolicy: options.deletionPolicy ?? 'Delete',
    },
  });
  return { rg, vmId: vm.id as string, name, vnetId };
}
