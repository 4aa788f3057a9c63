// fast-check generators of malformed and hostile siterecovery.io objects, for the fuzz tests
// (test/integration/fuzz-objects.test.ts). Each kind starts from a spec shaped like its schema
// (schemas/*.yaml) whose strings are often hostile while still matching the schema's patterns (dot
// segments, query and fragment characters, percent escapes, spaces, non-ASCII, very long values), and
// then has up to two fields dropped or replaced by arbitrary JSON, so that some objects are refused by
// admission and some are admitted and reach the operator.
//
// Every Azure id an object names lies in a resource group that exists nowhere (`fz-…`) or in a hostile
// one, or names the fixture's network in another subscription (where it does not exist): whatever the
// operator does with an admitted object, it must not find anything in Azure to act on, so any ARM write
// is a finding.
import fc from 'fast-check';

/** The objects the fixture creates, which fuzzed objects may reference by name. */
export interface FuzzFixture {
  subscriptionId: string;
  /** A Ready ReplicationPolicy. */
  policy: string;
  /** A Ready NetworkMapping. */
  mapping: string;
  /** A ReplicatedVM that exists (stalled: its VM does not exist). */
  replicatedVm: string;
  /** The fixture's source network (resource group, name): it exists, in the fixture's subscription only. */
  network: { group: string; name: string };
}

export interface FuzzObject {
  kind: 'ReplicationPolicy' | 'NetworkMapping' | 'ReplicatedVM' | 'FailoverRequest' | 'RecoveryPoint';
  /** metadata.name is set by the test (unique); this is the rest of the body. */
  body: { metadata?: Record<string, unknown>; spec?: unknown };
}

/** Path segments that match the CRDs' `[^/]+` and mean something else to a URL, a shell or a parser. */
const HOSTILE_SEGMENTS = [
  '..', '.', '%2e%2e', '%2F', 'a b', ' lead', 'a?api-version=1', 'a#frag', 'a;b', 'a&b=c', '\\..\\x', '~', '$(id)', '${jndi:ldap://x/a}',
  "a'b", 'a"b', '<b>', 'ü', 'ÿ\u0301', '😀', 'a\tb', 'x'.repeat(300), '-', '_', '()', 'CON', 'a:b', '@', '*',
];

const anyString = fc.oneof(
  fc.constantFrom(...HOSTILE_SEGMENTS, '', ' ', '\n', 'a/b', '/', '//'),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ minLength: 1000, maxLength: 3000 }),
);

/** Any JSON value: what a hostile client can put where a field goes. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  anyString,
  fc.integer(),
  fc.constantFrom(0, -1, 2 ** 53, -(2 ** 63), 1e308, 0.5),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(anyString, fc.integer()), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(anyString, fc.integer()), { maxKeys: 3 }),
);

/** Absent two times in three. */
const optional = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
/** Usually `valid` (what the schema admits, hostile where it can be), now and then `invalid`. */
const mostly = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>) => fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: invalid });

/** A segment of an ARM id: a hostile one, or an arbitrary one without a slash. */
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => !s.includes('/')) },
);

/** A resource group that exists nowhere. */
const fuzzGroup = fc.stringMatching(/^[a-z0-9]{4,10}$/).map((s) => `fz-${s}`);
const resourceGroup = fc.oneof({ weight: 3, arbitrary: fuzzGroup }, { weight: 2, arbitrary: segment });
const resourceName = fc.oneof({ weight: 2, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/).map((s) => `fz${s}`) }, { weight: 2, arbitrary: segment });

function armId(fixture: FuzzFixture, type: string, name: fc.Arbitrary<string> = resourceName): fc.Arbitrary<string> {
  const subscription = fc.oneof({ weight: 3, arbitrary: fc.constant(fixture.subscriptionId) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 1, arbitrary: segment });
  const tail = fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/', '//', '/x', '/subnets/default', '?api-version=2024-07-01', '#x') });
  const providerType = fc.oneof({ weight: 12, arbitrary: fc.constant(type) }, { weight: 1, arbitrary: fc.constantFrom('Microsoft.Compute/disks', 'microsoft.compute/VIRTUALMACHINES', 'Microsoft.Network/virtualNetworks') });
  return fc
    .tuple(subscription, resourceGroup, providerType, name, tail)
    .map(([sub, rg, pt, n, t]) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/${pt}/${n}${t}`);
}

const DURATIONS = ['0s', '1ms', '59s', '361h', '99999999999999h', '1.5m', '-1m', '5', 'm', '1d', '', '1m1m1m', '0.0000001h', '2562047h47m16.854775807s', '2562048h'];
const duration = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('1m', '5m', '90s', '1h', '1h30m', '24h', '360h', '60m', '15m') },
  { weight: 1, arbitrary: fc.constantFrom(...DURATIONS) },
  { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 100_000 }), fc.constantFrom('ms', 's', 'm', 'h')).map(([n, u]) => `${n}${u}`) },
);
const location = mostly(fc.constantFrom('northeurope', 'westeurope', 'eastus', 'mars', 'x1', 'a'.repeat(64)), fc.constantFrom('NorthEurope', 'x', 'a'.repeat(65), 'north europe'));
const objectName = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/), segment);

const DROP = Symbol('drop');

/**
 * The spec from `fields` (undefined values left out), with up to two fields dropped or replaced by
 * arbitrary JSON, and now and then no spec or a spec that is not an object.
 */
function mutatedSpec(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const keys = Object.keys(fields);
  const mutation = fc.record({ key: fc.constantFrom(...keys), value: fc.oneof(fc.constant(DROP as unknown), anyJson) });
  const mutations = fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 2 }) });
  const spec = fc.tuple(fc.record(fields), mutations).map(([base, mutations]) => {
    const out: Record<string, unknown> = { ...base };
    for (const m of mutations) out[m.key] = m.value;
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined && v !== DROP));
  });
  return fc.oneof({ weight: 30, arbitrary: spec }, { weight: 1, arbitrary: fc.constantFrom(undefined, null, 'spec', [], 42) });
}

/** Labels and annotations, sometimes hostile (the datapath's sync-now annotation, a foreign VM label). */
const metadata = fc.oneof(
  { weight: 4, arbitrary: fc.constant({}) },
  {
    weight: 1,
    arbitrary: fc.record({
      annotations: fc.dictionary(fc.constantFrom('siterecovery.io/sync-now', 'siterecovery.io/azure-scopes', 'x'), fc.oneof(anyString, fc.constant('true')), { maxKeys: 2 }),
      labels: fc.dictionary(fc.constantFrom('siterecovery.io/replicated-vm'), fc.stringMatching(/^[a-z0-9]{1,10}$/), { maxKeys: 1 }),
    }),
  },
);

function kindObject(kind: FuzzObject['kind'], fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<FuzzObject> {
  return fc.tuple(metadata, mutatedSpec(fields)).map(([m, spec]) => ({ kind, body: { metadata: m, ...(spec === undefined ? {} : { spec }) } }));
}

export function policyObjects(): fc.Arbitrary<FuzzObject> {
  return kindObject('ReplicationPolicy', {
    recoveryPointInterval: optional(duration),
    retention: optional(duration),
    appConsistentInterval: optional(duration),
    rpoWarningThreshold: optional(duration),
    rpoCriticalThreshold: optional(duration),
  });
}

export function mappingObjects(fixture: FuzzFixture): fc.Arbitrary<FuzzObject> {
  const vnet = armId(fixture, 'Microsoft.Network/virtualNetworks');
  // The fixture's network, named in another subscription: that network does not exist.
  const foreign = fc.uuid().map((sub) => `/subscriptions/${sub}/resourceGroups/${fixture.network.group}/providers/Microsoft.Network/virtualNetworks/${fixture.network.name}`);
  const subnet = fc.oneof(fc.stringMatching(/^[a-z]{1,8}$/), segment);
  return kindObject('NetworkMapping', {
    sourceVirtualNetworkId: fc.oneof({ weight: 4, arbitrary: vnet }, { weight: 1, arbitrary: foreign }),
    targetLocation: location,
    targetResourceGroup: resourceGroup,
    targetVirtualNetworkId: optional(vnet),
    subnetMappings: optional(fc.array(fc.record({ source: subnet, target: subnet }), { maxLength: 3 })),
    testVirtualNetworkId: optional(vnet),
  });
}

export function replicatedVmObjects(fixture: FuzzFixture): fc.Arbitrary<FuzzObject> {
  const zone = mostly(fc.constantFrom('1', '2', '3'), anyString);
  const size = fc.oneof(fc.constantFrom('Standard_D2s_v3', 'Standard_D4s_v5'), fc.stringMatching(/^[A-Za-z0-9_]{1,64}$/));
  const account = mostly(fc.stringMatching(/^[a-z0-9]{3,24}$/), segment);
  return kindObject('ReplicatedVM', {
    sourceVirtualMachineId: armId(fixture, 'Microsoft.Compute/virtualMachines'),
    targetLocation: location,
    targetResourceGroup: optional(resourceGroup),
    policyRef: fc.oneof({ weight: 4, arbitrary: fc.constant({ name: fixture.policy }) }, { weight: 1, arbitrary: fc.record({ name: objectName }) }),
    networkMappingRef: fc.oneof({ weight: 4, arbitrary: fc.constant({ name: fixture.mapping }) }, { weight: 1, arbitrary: fc.record({ name: objectName }) }),
    cacheStorageAccountId: optional(armId(fixture, 'Microsoft.Storage/storageAccounts', account)),
    targetStorageAccountId: optional(armId(fixture, 'Microsoft.Storage/storageAccounts', account)),
    targetAvailabilitySetId: optional(armId(fixture, 'Microsoft.Compute/availabilitySets')),
    targetZone: optional(zone),
    targetVmSize: optional(size),
    targetVmSizeFallbacks: optional(fc.uniqueArray(size, { maxLength: 3 })),
    zoneMappings: optional(fc.uniqueArray(fc.record({ sourceZone: zone, targetZone: zone }), { maxLength: 3, selector: (m) => m.sourceZone })),
    targetDiskTypes: optional(fc.array(fc.record({ disk: fc.constantFrom('os', 'lun0', 'lun63', 'lun64', 'disk'), diskType: mostly(fc.constantFrom('Premium_LRS', 'Premium_ZRS'), fc.constant('Ultra')) }), { maxLength: 2 })),
    excludedDiskLuns: optional(fc.uniqueArray(mostly(fc.integer({ min: 0, max: 63 }), fc.constantFrom(-1, 64, 2 ** 40)), { maxLength: 3 })),
    networkInterfaces: optional(fc.uniqueArray(fc.record({ sourceName: objectName, targetPrivateIpAddress: optional(mostly(fc.ipV4(), anyString)) }), { maxLength: 2, selector: (n) => n.sourceName })),
    seedVirtualMachineId: optional(armId(fixture, 'Microsoft.Compute/virtualMachines')),
    deletionPolicy: optional(mostly(fc.constantFrom('Delete', 'Retain'), fc.constantFrom('delete', 'Orphan'))),
  });
}

export function failoverObjects(fixture: FuzzFixture): fc.Arbitrary<FuzzObject> {
  return kindObject('FailoverRequest', {
    replicatedVMName: fc.oneof({ weight: 2, arbitrary: fc.constant(fixture.replicatedVm) }, { weight: 1, arbitrary: objectName }),
    type: mostly(fc.constantFrom('Test', 'Planned', 'Unplanned'), fc.constantFrom('test', 'Failback', '')),
    recoveryPoint: optional(fc.oneof(fc.constantFrom('Latest', 'LatestProcessed', 'LatestAppConsistent', 'LatestClean'), objectName)),
    finalSyncTimeout: optional(duration),
    testVirtualNetworkId: optional(armId(fixture, 'Microsoft.Network/virtualNetworks')),
    shutdownSource: optional(fc.boolean()),
    commit: optional(fc.boolean()),
    reprotect: optional(fc.boolean()),
    cleanup: optional(fc.boolean()),
  });
}

export function recoveryPointObjects(fixture: FuzzFixture): fc.Arbitrary<FuzzObject> {
  const blobUrl = fc.oneof(
    fc.constantFrom('file:///etc/passwd', 'http://169.254.169.254/metadata/identity', 'https://fzacct.blob.core.windows.net/c/os.vhd?sv=2024&sig=x', ''),
    fc.webUrl(),
  );
  const disk = fc.record({
    name: mostly(fc.constantFrom('os', 'lun0', 'lun63', '..', 'ü', ''), anyString),
    role: mostly(fc.constantFrom('OS', 'Data'), fc.constant('Swap')),
    lun: optional(mostly(fc.integer({ min: 0, max: 63 }), fc.constantFrom(-1, 64))),
    sizeBytes: mostly(fc.constantFrom(512, 1024 ** 3, 2 ** 53), fc.integer({ max: 511 })),
    blobUrl,
    snapshot: mostly(fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.constantFrom('..', '?a=b', '%2F')), anyString),
    sourceDiskId: optional(armId(fixture, 'Microsoft.Compute/disks')),
  });
  return kindObject('RecoveryPoint', {
    replicatedVMName: fc.oneof(fc.constant(fixture.replicatedVm), objectName),
    time: mostly(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date('9999-12-31') }).map((d) => d.toISOString()), anyString),
    consistency: mostly(fc.constantFrom('CrashConsistent', 'AppConsistent'), fc.constant('Consistent')),
    cycle: optional(mostly(fc.nat(), fc.integer({ min: -5, max: -1 }))),
    disks: fc.uniqueArray(disk, { minLength: 1, maxLength: 3, selector: (d) => d.name }),
  });
}
