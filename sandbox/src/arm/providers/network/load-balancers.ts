// Microsoft.Network/loadBalancers: a load balancer with its SKU (Basic | Standard, tier Regional), frontend IP
// configurations and backend address pools, whose members are NIC IP configurations (a configuration names its
// pools in loadBalancerBackendAddressPools; a pool's backendIPConfigurations is computed from them). Shapes from
// LoadBalancer, LoadBalancerSku, FrontendIPConfiguration and BackendAddressPool(PropertiesFormat) in
// specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/loadBalancer.json
// (Azure/azure-rest-api-specs). Rules and probes are kept as given; no traffic is balanced.
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { etag, normLocation } from '../../engine.ts';
import { badRequest } from '../../errors.ts';
import { idKey, parentId } from '../../paths.ts';
import type { Json } from '../../store.ts';
import { clone, isObj, lroDelete, lroPut, newResource, putCompleter, ref, trackedBody, uuid } from '../common.ts';
import { LB, NIC, NS, findSubnet, invalidRef, removeCompleter } from './shared.ts';

/** The NIC IP configurations that name backend pool `poolId`. */
function membersOf(engine: ArmEngine, poolId: string): string[] {
  const k = idKey(poolId);
  return engine.store
    .ofType(NIC)
    .flatMap((nic) => (nic.body.properties.ipConfigurations ?? []) as Json[])
    .filter((c) => ((c.properties?.loadBalancerBackendAddressPools ?? []) as Json[]).some((p) => idKey(p.id) === k))
    .map((c) => c.id as string);
}

/**
 * The backend pool ids a NIC IP configuration names, checked: each pool of a load balancer that exists in the
 * NIC's region (else InvalidResourceReference, as for any reference Azure cannot resolve there).
 */
export function backendPoolsOf(engine: ArmEngine, nicId: string, location: string, cp: Json): string[] | undefined {
  const pools: unknown = cp.loadBalancerBackendAddressPools;
  if (!Array.isArray(pools) || pools.length === 0) return undefined;
  return pools.map((p: Json) => {
    const id: unknown = p?.id;
    const lbId = typeof id === 'string' ? parentId(id) : undefined;
    const lb = lbId ? engine.store.get(lbId) : undefined;
    const pool = lb?.type === LB ? (lb.body.properties.backendAddressPools as Json[]).find((x) => idKey(x.id) === idKey(id as string)) : undefined;
    if (!lb || !pool || normLocation(lb.body.location) !== location) throw invalidRef(String(id), nicId);
    return pool.id as string;
  });
}

function frontend(e: ArmEngine, lbId: string, location: string, f: Json): Json {
  const p = isObj(f?.properties) ? f.properties : {};
  if (typeof f?.name !== 'string' || !f.name) throw badRequest('InvalidRequestFormat', 'Frontend IP configuration name is required.');
  const subnetId: unknown = p.subnet?.id;
  if (subnetId !== undefined) {
    const found = typeof subnetId === 'string' ? findSubnet(e, subnetId) : undefined;
    if (!found || normLocation(found.vnet.body.location) !== location) throw invalidRef(String(subnetId), lbId);
  }
  return {
    id: `${lbId}/frontendIPConfigurations/${f.name}`,
    name: f.name,
    etag: etag(),
    type: `${LB}/frontendIPConfigurations`,
    properties: {
      provisioningState: 'Succeeded',
      privateIPAllocationMethod: p.privateIPAllocationMethod === 'Static' ? 'Static' : 'Dynamic',
      ...(typeof p.privateIPAddress === 'string' ? { privateIPAddress: p.privateIPAddress } : {}),
      ...(typeof subnetId === 'string' ? { subnet: ref(subnetId) } : {}),
      ...(p.publicIPAddress?.id ? { publicIPAddress: ref(p.publicIPAddress.id) } : {}),
      privateIPAddressVersion: 'IPv4',
    },
  };
}

function loadBalancerHandler(): TypeHandler {
  return {
    type: LB,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      for (const pool of out.properties.backendAddressPools as Json[]) {
        const members = membersOf(e, pool.id);
        if (members.length) pool.properties.backendIPConfigurations = members.map(ref);
      }
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const location = normLocation(req.location);
      const skuName = req.sku?.name ?? target.existing?.body.sku.name ?? 'Basic';
      if (!['Basic', 'Standard'].includes(skuName)) throw badRequest('InvalidRequestFormat', `Load balancer SKU ${String(skuName)} is not supported.`);
      const body = trackedBody(target, LB, req);
      body.etag = etag();
      body.sku = { name: skuName, tier: 'Regional' };
      const pools: Json[] = Array.isArray(props.backendAddressPools) ? props.backendAddressPools : [];
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid(),
        frontendIPConfigurations: (Array.isArray(props.frontendIPConfigurations) ? props.frontendIPConfigurations : []).map((f: Json) => frontend(e, target.id, location, f)),
        backendAddressPools: pools.map((p) => {
          if (typeof p?.name !== 'string' || !p.name) throw badRequest('InvalidRequestFormat', 'Backend address pool name is required.');
          return { id: `${target.id}/backendAddressPools/${p.name}`, name: p.name, etag: etag(), type: `${LB}/backendAddressPools`, properties: { provisioningState: 'Succeeded' } };
        }),
        loadBalancingRules: clone(Array.isArray(props.loadBalancingRules) ? props.loadBalancingRules : []),
        probes: clone(Array.isArray(props.probes) ? props.probes : []),
        inboundNatRules: [],
        outboundRules: [],
      };
      return lroPut(e, ctx, { res: newResource(target, LB, body), created: !target.existing, kind: 'loadBalancers.put', ns: NS });
    },
    async delete(e, ctx, res) {
      return lroDelete(e, ctx, { res, kind: 'loadBalancers.delete', ns: NS });
    },
  };
}

export function registerLoadBalancers(engine: ArmEngine): void {
  engine.registerType(loadBalancerHandler());
  engine.registerCompleter('loadBalancers.put', putCompleter());
  engine.registerCompleter('loadBalancers.delete', removeCompleter);
}
