/**
 * A NetworkMapping resolved from the target region alone, for when the source network does not answer
 * (its region is down) — as in a brand-new cluster rebuilt during an outage, where no mapping was ever
 * resolved. The target network (the one named, or the `<source>-asr` mirror the operator created) has the
 * source's subnets under the mapped names, so the mapping is read back from it: each target subnet maps
 * from the source subnet of the same name (or the one `subnetMappings` maps to it), whose id follows from
 * the source network's id. Nothing is created or changed; the full resolution takes over once the source
 * network answers again. What needs the source (its location, the reverse mapping) is left as it was.
 */
import type { VirtualNetwork } from '@azure/arm-network';
import type { NetworkMapping, ResolvedSubnetMapping } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';
import { getVirtualNetwork } from '../azure/resources/virtual-network.ts';
import { done, stalled, type Step } from '../runtime/step.ts';

export interface TargetOnlyMapping {
  target: VirtualNetwork;
  test: VirtualNetwork | undefined;
  subnetMappings: ResolvedSubnetMapping[];
}

async function networkNamed(az: AzureClients, id: string | undefined, resourceGroup: string, mirrorName: string): Promise<VirtualNetwork | undefined> {
  const at = id ? parseArmId(id) : { resourceGroup, name: mirrorName };
  return getVirtualNetwork(id ? az.forResource(id) : az, at.resourceGroup, at.name);
}

export async function mappingFromTarget(az: AzureClients, mapping: NetworkMapping): Promise<Step<TargetOnlyMapping>> {
  const spec = mapping.spec;
  const sourceName = parseArmId(spec.sourceVirtualNetworkId).name;
  const target = await networkNamed(az, spec.targetVirtualNetworkId, spec.targetResourceGroup, `${sourceName}-asr`);
  if (!target) {
    return stalled('SourceRegionUnavailable', `the source network ${spec.sourceVirtualNetworkId} does not answer and no target network exists to map from; the mapping resolves once the source region is back`);
  }
  const test = await networkNamed(az, spec.testVirtualNetworkId, spec.targetResourceGroup, `${sourceName}-asr-test`);
  const sourceOf = new Map((spec.subnetMappings ?? []).map((m) => [m.target, m.source]));
  const subnetMappings = (target.subnets ?? [])
    .filter((t) => t.name && t.id)
    .map((t) => {
      const source = sourceOf.get(t.name as string) ?? (t.name as string);
      const testSubnet = test?.subnets?.find((s) => s.name === t.name);
      return { source, target: t.name as string, sourceSubnetId: `${spec.sourceVirtualNetworkId}/subnets/${source}`, targetSubnetId: t.id as string, ...(testSubnet?.id ? { testSubnetId: testSubnet.id } : {}) };
    });
  return done(`${subnetMappings.length} subnet(s) mapped by the names of target network ${target.name}`, { target, test, subnetMappings });
}
