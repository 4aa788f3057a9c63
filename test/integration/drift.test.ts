// The source VM changing after replication was enabled (issue 18, drift): its size and tags change and a
// second NIC is attached. At the next drift check (the operator's --drift-check-interval, 2 s here) the
// operator records what the target needs — status.sourceVmSize, sourceVmProperties, sourceNetworkInterfaces
// and the registration saved in the target region — and one DriftDetected event per change, saying old →
// new; drift checks that find nothing changed record nothing. A Test failover then creates the VM with the
// new size and tags and both NICs, read back through the SDK. Real operator and datapath (in this process),
// real API server, local Azure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCE_ROLE } from '../../src/api/contract.ts';
import { parseArmId } from '../../src/azure/arm-id.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { readSavedRegistration } from '../../src/azure/saved-registration.ts';
import { listEvents, waitForEvents } from '../support/events.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import { waitForObject } from '../support/wait.ts';

const rg = 'drift-src';
const vmName = 'drifty';
const FIRST_SIZE = 'Standard_D2s_v3';
const NEW_SIZE = 'Standard_D4s_v5';
const TAGS = { app: 'billing' };
const NEW_TAGS = { app: 'billing', owner: 'team-a' };
const poll = { updateIntervalInMs: 20 };

let fx: FailoverFixture;
let az: AzureClients;
const vmRef = () => ({ namespace: fx.ns, name: vmName });
const driftEvents = () => listEvents(fx.kc, fx.ns, vmName, 'DriftDetected');

beforeAll(async () => {
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'drift', rg, vmName, disks: 1, diskBytes: 8 * 1024 * 1024, shape: { vm: { tags: TAGS } } });
  enforceShippedRoles(fx.sb);
  az = new AzureClients(fx.sb.azure);
  await fx.runInProcess('dp-drift', { resyncMs: 2_000 });
  await fx.protect(1);
}, 240_000);

afterAll(async () => {
  await fx?.close();
});

describe('drift of a protected VM: size, tags and a NIC changed on the source', () => {
  let secondNicId: string;

  it('records nothing while the source VM does not change', async () => {
    const vm = await fx.clients.vms.get(vmRef());
    expect(vm?.status?.sourceVmSize).toBe(FIRST_SIZE);
    expect(await driftEvents()).toEqual([]);
  });

  it('records what changed, one DriftDetected event per change (old → new), and updates status and the saved registration', async () => {
    const subnetId = `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet/subnets/default`;
    const nic = await fx.sb.c.network.networkInterfaces.beginCreateOrUpdateAndWait(rg, `${vmName}-nic2`, { location: 'westeurope', ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnetId } }] }, poll);
    secondNicId = nic.id as string;
    await fx.sb.c.compute.virtualMachines.beginUpdateAndWait(
      rg,
      vmName,
      { hardwareProfile: { vmSize: NEW_SIZE }, tags: NEW_TAGS, networkProfile: { networkInterfaces: [{ id: fx.sourceNicId, primary: true }, { id: secondNicId, primary: false }] } },
      poll,
    );
    const vm = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => o?.status?.sourceVmSize === NEW_SIZE && o.status.sourceNetworkInterfaces?.length === 2 && o.status.sourceVmProperties?.tags?.owner === 'team-a', 'the drift recorded', 60_000);
    expect(vm?.status?.sourceVmProperties?.tags).toEqual(NEW_TAGS);
    expect(vm?.status?.sourceNetworkInterfaces?.map((n) => [n.name, n.primary, n.privateIpAddress])).toEqual([
      [`${vmName}-nic`, true, fx.sourceIp],
      [`${vmName}-nic2`, false, nic.ipConfigurations?.[0]?.privateIPAddress],
    ]);

    const events = await waitForEvents(fx.kc, fx.ns, vmName, 'DriftDetected', 3);
    expect(events.map((e) => e.message).sort()).toEqual([
      `network interface ${vmName}-nic2 attached (secondary, ipconfig1 default/${nic.ipConfigurations?.[0]?.privateIPAddress}, NSG (none), accelerated networking off): a failover creates it too`,
      `size changed from ${FIRST_SIZE} to ${NEW_SIZE}: a failover creates the VM at ${NEW_SIZE} unless spec.targetVmSize says otherwise`,
      'tags changed from {app=billing} to {app=billing, owner=team-a}: a failover carries the new tags over',
    ]);
    expect(events.every((e) => e.type === 'Normal')).toBe(true);

    const container = vm?.status?.targetResources?.find((r) => r.role === RESOURCE_ROLE.replicaContainer)?.id as string;
    const saved = await readSavedRegistration(az, container);
    expect(saved?.sourceVmSize).toBe(NEW_SIZE);
    expect(saved?.sourceVmProperties?.tags).toEqual(NEW_TAGS);
    expect(saved?.sourceNetworkInterfaces?.map((n) => n.name)).toEqual([`${vmName}-nic`, `${vmName}-nic2`]);
  });

  it('a Test failover creates the VM with the new size and tags and both NICs', async () => {
    await fx.failovers.create(fx.ns, { metadata: { name: 'after-drift' }, spec: { replicatedVMName: vmName, type: 'Test' } });
    const fo = await waitForObject(fx.kc, fx.failovers, { namespace: fx.ns, name: 'after-drift' }, finished, 'test failover done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const { resourceGroup, name } = parseArmId(fo?.status?.targetVirtualMachineId as string);
    const target = await az.compute.virtualMachines.get(resourceGroup, name);
    expect(target.hardwareProfile?.vmSize).toBe(NEW_SIZE);
    expect(target.tags).toMatchObject(NEW_TAGS);
    const nics = target.networkProfile?.networkInterfaces ?? [];
    expect(nics.map((n) => [parseArmId(n.id as string).name.replace(/-test-[0-9a-f]+$/, ''), n.primary])).toEqual([
      [`${vmName}-nic`, true],
      [`${vmName}-nic2`, false],
    ]);
  });

  it('the drift checks since recorded no event again: still one per change', async () => {
    // Many drift checks (every 2 s) ran during the failover; each change is still one event, counted once.
    const events = await driftEvents();
    expect(events).toHaveLength(3);
    expect(events.map((e) => e.count ?? 1)).toEqual([1, 1, 1]);
  });
});

nothingRefused(() => fx.sb);
