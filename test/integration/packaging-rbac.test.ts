// The Helm chart's RBAC is exactly what the code needs: applied to the real test API server, the chart's
// operator and datapath service accounts (impersonated) make every call their process makes — through the
// project's own clients where they exist — and are refused what the code never does.
import fs from 'node:fs';
import path from 'node:path';
import { BatchV1Api, CoordinationV1Api, CoreV1Api, PatchStrategy, V1MicroTime, Watch, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RESOURCES, type KindName } from '../../src/api/types.ts';
import { LeaderElector } from '../../src/runtime/leader-election.ts';
import { statusCodeOf } from '../../src/kube/errors.ts';
import { CustomResourceClient, refOf, type CustomObject } from '../../src/kube/custom-resources.ts';
import { DATAPATH_FIELD_MANAGER, OPERATOR_FIELD_MANAGER, VERIFIER_FIELD_MANAGER } from '../../src/api/contract.ts';
import { addFinalizer, removeFinalizer } from '../../src/runtime/finalizers.ts';
import { KubeJobClient } from '../../src/kube/jobs.ts';
import { PACKAGING_TOOLS_TIMEOUT_MS, REPO_ROOT } from '../support/helm.ts';
import { applyObjects, chartServiceAccountKubeConfig, installChartRbac, renderChartRbac, type ChartComponent, type ChartRbac } from '../support/helm-rbac.ts';
import { impersonate, serviceAccountUsername } from '../../sandbox/src/kube/identity.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';

const example = (file: string) => parse(fs.readFileSync(path.join(REPO_ROOT, 'deploy/examples', file), 'utf8')) as CustomObject;

/** The HTTP status of a request: 200 when it succeeds, else the API server's code. */
async function statusOf(request: Promise<unknown>): Promise<number> {
  try {
    await request;
    return 200;
  } catch (error) {
    const code = statusCodeOf(error);
    if (code === undefined) throw error;
    return code;
  }
}

/** Opens a watch on `apiPath` and closes it again: 200 when the API server accepts it, else its code. */
async function watchStatus(kc: KubeConfig, apiPath: string): Promise<number> {
  let failure: unknown;
  const controller = await new Watch(kc).watch(apiPath, { timeoutSeconds: 5 }, () => {}, (error) => {
    failure ??= error ?? 'closed';
  });
  const code = failure === undefined ? 200 : (statusCodeOf(failure) ?? 0);
  controller.abort();
  return code;
}

/** A coordination/v1 MicroTime: the API server refuses a Date's millisecond precision. */
const microTime = () => new V1MicroTime();

const kinds = Object.keys(RESOURCES) as KindName[];
const userKinds: KindName[] = ['ReplicationPolicy', 'NetworkMapping', 'ReplicatedVM', 'FailoverRequest', 'DrillSchedule', 'RecoveryPlan'];

describe('chart RBAC (least privilege, proven against the API server)', () => {
  const admin = testKubeConfig();
  let home: string; // the release namespace: service accounts and leases
  let apps: string; // where users keep their objects
  let rbac: ChartRbac;
  let asOperator: KubeConfig;
  let asDatapath: KubeConfig;
  const objects = new Map<KindName, CustomObject>();

  beforeAll(async () => {
    [home, apps] = await Promise.all([createTestNamespace(admin, 'pkg-rbac-home'), createTestNamespace(admin, 'pkg-rbac-apps')]);
    rbac = await installChartRbac(admin, home);
    asOperator = await chartServiceAccountKubeConfig(admin, 'operator', home);
    asDatapath = await chartServiceAccountKubeConfig(admin, 'datapath', home);
    const files: Record<KindName, string> = {
      ReplicationPolicy: 'replicationpolicy.yaml',
      NetworkMapping: 'networkmapping.yaml',
      ReplicatedVM: 'replicatedvm.yaml',
      FailoverRequest: 'failoverrequest-test.yaml',
      RecoveryPoint: 'recoverypoint.yaml',
      DrillSchedule: 'drillschedule.yaml',
      RecoveryPlan: 'recoveryplan.yaml',
    };
    for (const kind of kinds) {
      const body = example(files[kind]);
      objects.set(kind, await new CustomResourceClient(admin, kind).create(apps, { ...body, metadata: { ...body.metadata, namespace: apps } } as never));
    }
  }, PACKAGING_TOOLS_TIMEOUT_MS);

  it('applies one ServiceAccount per component and binds them cluster-wide (CRs) and in the release namespace (leases)', () => {
    const kindsApplied = rbac.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kindsApplied).toEqual(
      [
        `ServiceAccount/${rbac.serviceAccounts.operator}`,
        `ServiceAccount/${rbac.serviceAccounts.datapath}`,
        `ClusterRole/${rbac.fullname}`,
        `ClusterRole/${rbac.fullname}-edit`, // bound by no one: for people who run DR
        `ClusterRoleBinding/${rbac.fullname}`,
        `Role/${rbac.fullname}-leader-election`,
        `RoleBinding/${rbac.fullname}-leader-election`,
        `ClusterRole/${rbac.fullname}-datapath`,
        `ClusterRoleBinding/${rbac.fullname}-datapath`,
        `Role/${rbac.fullname}-datapath-membership`,
        `RoleBinding/${rbac.fullname}-datapath-membership`,
      ].sort(),
    );
  });

  describe('operator', () => {
    it('lists, watches and gets every kind in all namespaces', async () => {
      for (const kind of kinds) {
        const client = new CustomResourceClient(asOperator, kind);
        const list = await client.list();
        expect(list.items.some((o) => o.metadata.namespace === apps), kind).toBe(true);
        expect(await client.get(refOf(objects.get(kind) as CustomObject)), kind).toBeDefined();
        expect(await watchStatus(asOperator, client.path()), `watch ${kind}`).toBe(200);
      }
    });

    it('reads Namespaces (namespaced tenancy: their siterecovery.io/azure-scopes annotation) and may not change them', async () => {
      const core = asOperator.makeApiClient(CoreV1Api);
      expect((await core.readNamespace({ name: apps })).metadata?.name).toBe(apps);
      expect((await core.listNamespace()).items.some((n) => n.metadata?.name === apps)).toBe(true);
      expect(await watchStatus(asOperator, '/api/v1/namespaces')).toBe(200);
      expect(await statusOf(core.patchNamespace({ name: apps, body: { metadata: { annotations: { 'siterecovery.io/azure-scopes': '/subscriptions/x' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)))).toBe(403);
    });

    it('adds and removes finalizers (merge patch) on the kinds it reconciles', async () => {
      for (const kind of userKinds) {
        const client = new CustomResourceClient(asOperator, kind);
        const withFinalizer = await addFinalizer(client, (await client.get(refOf(objects.get(kind) as CustomObject))) as CustomObject);
        expect(withFinalizer.metadata.finalizers, kind).toContain('siterecovery.io/finalizer');
        await removeFinalizer(client, withFinalizer);
      }
    });

    it('writes status (server-side apply on /status) of the kinds it reconciles', async () => {
      for (const kind of userKinds) {
        const client = new CustomResourceClient(asOperator, kind);
        const object = objects.get(kind) as CustomObject;
        const updated = await client.applyStatus(refOf(object), { observedGeneration: object.metadata.generation }, OPERATOR_FIELD_MANAGER);
        expect((updated.status as { observedGeneration?: number }).observedGeneration, kind).toBe(object.metadata.generation);
      }
    });

    it('creates a ReplicatedVM (re-protect) and deletes RecoveryPoints (pruning)', async () => {
      const vms = new CustomResourceClient(asOperator, 'ReplicatedVM');
      const body = example('replicatedvm.yaml');
      const created = await vms.create(apps, { ...body, metadata: { name: 'app-vm-1-reverse', namespace: apps } } as never, OPERATOR_FIELD_MANAGER);
      expect(created.metadata.uid).toBeDefined();
      const points = new CustomResourceClient(admin, 'RecoveryPoint');
      const rp = example('recoverypoint.yaml');
      await points.create(apps, { ...rp, metadata: { ...rp.metadata, name: 'to-prune', namespace: apps } } as never);
      await new CustomResourceClient(asOperator, 'RecoveryPoint').delete({ namespace: apps, name: 'to-prune' });
      expect(await points.get({ namespace: apps, name: 'to-prune' })).toBeUndefined();
    });

    it('records the background verification of a RecoveryPoint in its status (its own field manager)', async () => {
      const point = objects.get('RecoveryPoint') as CustomObject;
      const verified = { time: new Date().toISOString(), method: 'CycleChecksums', result: 'Passed' };
      const updated = await new CustomResourceClient(asOperator, 'RecoveryPoint').applyStatus(refOf(point), { verified }, VERIFIER_FIELD_MANAGER);
      expect((updated.status as { verified?: unknown }).verified).toEqual(verified);
    });

    it('runs drills: creates and deletes a Test FailoverRequest; creates, gets and deletes the probe Job', async () => {
      const failovers = new CustomResourceClient(asOperator, 'FailoverRequest');
      const body = example('failoverrequest-test.yaml');
      await failovers.create(apps, { ...body, metadata: { name: 'drill-run-1', namespace: apps } } as never, OPERATOR_FIELD_MANAGER);
      await failovers.delete({ namespace: apps, name: 'drill-run-1' });
      const jobs = asOperator.makeApiClient(BatchV1Api);
      const job = { metadata: { name: 'drill-run-1-probe' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'probe', image: 'busybox' }] } } } };
      await jobs.createNamespacedJob({ namespace: apps, body: job });
      expect((await jobs.readNamespacedJob({ namespace: apps, name: 'drill-run-1-probe' })).metadata?.name).toBe('drill-run-1-probe');
      await jobs.deleteNamespacedJob({ namespace: apps, name: 'drill-run-1-probe', propagationPolicy: 'Background' });
    });

    it('creates and deletes FailoverRequests (a plan failover\'s members) and creates, lists and deletes Jobs (a plan\'s actions)', async () => {
      const failovers = new CustomResourceClient(asOperator, 'FailoverRequest');
      const body = example('failoverrequest-test.yaml');
      await failovers.create(apps, { ...body, metadata: { name: 'plan-member', namespace: apps } } as never, OPERATOR_FIELD_MANAGER);
      await failovers.delete({ namespace: apps, name: 'plan-member' });
      const jobs = new KubeJobClient(asOperator);
      const container = { name: 'c', image: 'busybox' };
      await jobs.create(apps, { metadata: { name: 'plan-action', labels: { 'siterecovery.io/plan-failover': 'x' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [container] } } } });
      expect((await jobs.list(apps, 'siterecovery.io/plan-failover=x')).map((j) => j.metadata?.name)).toEqual(['plan-action']);
      await jobs.delete(apps, 'plan-action');
      expect(await jobs.list(apps, 'siterecovery.io/plan-failover=x')).toEqual([]);
    });

    it('holds the leader-election Lease in its namespace (the real LeaderElector: get, create, update, release)', async () => {
      const stop = new AbortController();
      const elector = new LeaderElector(asOperator, { namespace: home, name: 'site-recovery-operator', identity: 'operator-0', retryPeriodMs: 200 });
      let started!: () => void;
      const leading = new Promise<void>((resolve) => (started = resolve));
      const done = elector.run({ onStartedLeading: () => started() }, stop.signal);
      await leading;
      const leases = admin.makeApiClient(CoordinationV1Api);
      const lease = await leases.readNamespacedLease({ namespace: home, name: 'site-recovery-operator' });
      expect(lease.spec?.holderIdentity).toBe('operator-0');
      // It renews (get + update) ...
      await expect
        .poll(async () => (await leases.readNamespacedLease({ namespace: home, name: 'site-recovery-operator' })).metadata?.resourceVersion, { timeout: 10_000, interval: 100 })
        .not.toBe(lease.metadata?.resourceVersion);
      // ... and releases on stop (update), which it could not do without the grant.
      stop.abort();
      await done;
      expect((await leases.readNamespacedLease({ namespace: home, name: 'site-recovery-operator' })).spec?.holderIdentity).toBeFalsy();
    });

    it('records Events (create, then patch the count)', async () => {
      const events = asOperator.makeApiClient(CoreV1Api);
      const vm = objects.get('ReplicatedVM') as CustomObject;
      const name = `${vm.metadata.name}.rbac-test-operator`;
      await events.createNamespacedEvent({
        namespace: apps,
        body: { metadata: { name, namespace: apps }, involvedObject: { apiVersion: vm.apiVersion, kind: vm.kind, name: vm.metadata.name, namespace: apps, uid: vm.metadata.uid }, type: 'Normal', reason: 'RbacTest', message: 'created', count: 1 },
      });
      await events.patchNamespacedEvent({ name, namespace: apps, body: { count: 2 } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    });

    it('is refused what the code never does', async () => {
      const core = asOperator.makeApiClient(CoreV1Api);
      const leases = asOperator.makeApiClient(CoordinationV1Api);
      const vm = objects.get('ReplicatedVM') as CustomObject;
      const refused: [string, () => Promise<unknown>][] = [
        ['delete replicatedvms', () => new CustomResourceClient(asOperator, 'ReplicatedVM').delete(refOf(vm))],
        ['delete replicationpolicies', () => new CustomResourceClient(asOperator, 'ReplicationPolicy').delete(refOf(objects.get('ReplicationPolicy') as CustomObject))],
        ['create recoverypoints', () => new CustomResourceClient(asOperator, 'RecoveryPoint').create(apps, { ...example('recoverypoint.yaml'), metadata: { name: 'forged', namespace: apps } } as never)],
        ['get secrets', () => core.readNamespacedSecret({ namespace: home, name: 'anything' })],
        ['list secrets', () => core.listSecretForAllNamespaces()],
        ['create secrets', () => core.createNamespacedSecret({ namespace: home, body: { metadata: { name: 'x' } } })],
        ['list configmaps', () => core.listNamespacedConfigMap({ namespace: home })],
        ['list pods', () => core.listPodForAllNamespaces()],
        ['create leases elsewhere', () => leases.createNamespacedLease({ namespace: apps, body: { metadata: { name: 'x' } } })],
        ['delete leases', () => leases.deleteNamespacedLease({ namespace: home, name: 'site-recovery-operator' })],
        ['list leases', () => leases.listNamespacedLease({ namespace: home })],
        ['list events', () => core.listNamespacedEvent({ namespace: apps })],
        ['create cronjobs', () => asOperator.makeApiClient(BatchV1Api).createNamespacedCronJob({ namespace: apps, body: { metadata: { name: 'x' }, spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { containers: [] } } } } } } })],
        ['update jobs', () => asOperator.makeApiClient(BatchV1Api).patchNamespacedJobStatus({ namespace: apps, name: 'x', body: {} }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))],
        ['create drillschedules', () => new CustomResourceClient(asOperator, 'DrillSchedule').create(apps, { ...example('drillschedule.yaml'), metadata: { name: 'forged', namespace: apps } } as never)],
      ];
      for (const [what, request] of refused) expect(await statusOf(request()), what).toBe(403);
      expect(await watchStatus(asOperator, '/api/v1/secrets'), 'watch secrets').toBe(403);
    });
  });

  describe('datapath', () => {
    it('lists, watches and gets ReplicatedVMs and ReplicationPolicies in all namespaces', async () => {
      for (const kind of ['ReplicatedVM', 'ReplicationPolicy', 'RecoveryPoint'] as KindName[]) {
        const client = new CustomResourceClient(asDatapath, kind);
        expect((await client.list()).items.length, kind).toBeGreaterThan(0);
        expect(await client.get(refOf(objects.get(kind) as CustomObject)), kind).toBeDefined();
        expect(await watchStatus(asDatapath, client.path()), `watch ${kind}`).toBe(200);
      }
    });

    it('writes ReplicatedVM status under its own field manager', async () => {
      const vm = objects.get('ReplicatedVM') as CustomObject;
      const updated = await new CustomResourceClient(asDatapath, 'ReplicatedVM').applyStatus(refOf(vm), { health: 'Warning' }, DATAPATH_FIELD_MANAGER);
      expect((updated.status as { health?: string }).health).toBe('Warning');
    });

    it('creates, lists and deletes RecoveryPoints, and stamps a group cycle into their status', async () => {
      const points = new CustomResourceClient(asDatapath, 'RecoveryPoint');
      const rp = example('recoverypoint.yaml');
      await points.create(apps, { ...rp, metadata: { ...rp.metadata, name: 'sealed-by-datapath', namespace: apps } } as never, DATAPATH_FIELD_MANAGER);
      expect((await points.list(apps, 'siterecovery.io/replicated-vm=app-vm-1')).items.map((p) => p.metadata.name)).toContain('sealed-by-datapath');
      const stamped = await points.applyStatus({ namespace: apps, name: 'sealed-by-datapath' }, { groupCycle: 3, groupSkewMilliseconds: 12, groupMembers: 2 }, DATAPATH_FIELD_MANAGER);
      expect((stamped as { status?: { groupCycle?: number } }).status?.groupCycle).toBe(3);
      await points.delete({ namespace: apps, name: 'sealed-by-datapath' });
      expect(await new CustomResourceClient(admin, 'RecoveryPoint').get({ namespace: apps, name: 'sealed-by-datapath' })).toBeUndefined();
    });

    it('keeps a membership Lease in its namespace (create, get, update, list, watch, delete)', async () => {
      const leases = asDatapath.makeApiClient(CoordinationV1Api);
      const name = 'site-recovery-datapath-rbac-test';
      await leases.createNamespacedLease({ namespace: home, body: { metadata: { name, labels: { 'siterecovery.io/datapath-member': 'true' } }, spec: { holderIdentity: 'datapath-0', leaseDurationSeconds: 15, renewTime: microTime() } } });
      const lease = await leases.readNamespacedLease({ namespace: home, name });
      await leases.replaceNamespacedLease({ namespace: home, name, body: { ...lease, spec: { ...lease.spec, renewTime: microTime() } } });
      const members = await leases.listNamespacedLease({ namespace: home, labelSelector: 'siterecovery.io/datapath-member=true' });
      expect(members.items.map((l) => l.metadata?.name)).toContain(name);
      expect(await watchStatus(asDatapath, `/apis/coordination.k8s.io/v1/namespaces/${home}/leases`)).toBe(200);
      await leases.deleteNamespacedLease({ namespace: home, name });
    });

    it('records Events', async () => {
      const events = asDatapath.makeApiClient(CoreV1Api);
      const vm = objects.get('ReplicatedVM') as CustomObject;
      const name = `${vm.metadata.name}.rbac-test-datapath`;
      await events.createNamespacedEvent({
        namespace: apps,
        body: { metadata: { name, namespace: apps }, involvedObject: { apiVersion: vm.apiVersion, kind: vm.kind, name: vm.metadata.name, namespace: apps, uid: vm.metadata.uid }, type: 'Normal', reason: 'RbacTest', message: 'created', count: 1 },
      });
      await events.patchNamespacedEvent({ name, namespace: apps, body: { count: 2 } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    });

    it('is refused what the code never does', async () => {
      const core = asDatapath.makeApiClient(CoreV1Api);
      const vm = objects.get('ReplicatedVM') as CustomObject;
      const vms = new CustomResourceClient(asDatapath, 'ReplicatedVM');
      const refused: [string, () => Promise<unknown>][] = [
        ['patch replicatedvms (spec, finalizers)', () => vms.mergePatch(refOf(vm), { metadata: { finalizers: ['x/y'] } })],
        ['delete replicatedvms', () => vms.delete(refOf(vm))],
        ['create replicatedvms', () => vms.create(apps, { ...example('replicatedvm.yaml'), metadata: { name: 'forged', namespace: apps } } as never)],
        ['patch replicationpolicies/status', () => new CustomResourceClient(asDatapath, 'ReplicationPolicy').applyStatus(refOf(objects.get('ReplicationPolicy') as CustomObject), {}, DATAPATH_FIELD_MANAGER)],
        ['get networkmappings', () => new CustomResourceClient(asDatapath, 'NetworkMapping').get(refOf(objects.get('NetworkMapping') as CustomObject))],
        ['list failoverrequests', () => new CustomResourceClient(asDatapath, 'FailoverRequest').list()],
        ['patch recoverypoints', () => new CustomResourceClient(asDatapath, 'RecoveryPoint').mergePatch(refOf(objects.get('RecoveryPoint') as CustomObject), { metadata: { labels: { x: 'y' } } })],
        ['get secrets', () => core.readNamespacedSecret({ namespace: home, name: 'anything' })],
        ['list secrets', () => core.listSecretForAllNamespaces()],
        ['list pods', () => core.listPodForAllNamespaces()],
        ['create leases elsewhere', () => asDatapath.makeApiClient(CoordinationV1Api).createNamespacedLease({ namespace: apps, body: { metadata: { name: 'x' } } })],
      ];
      for (const [what, request] of refused) expect(await statusOf(request()), what).toBe(403);
    });
  });

  describe('watching one namespace (operator.watchNamespace)', () => {
    let scoped: ChartRbac;
    const as = (component: ChartComponent) => impersonate(admin, serviceAccountUsername(scoped.namespace, scoped.serviceAccounts[component]));

    beforeAll(async () => {
      const scopedHome = await createTestNamespace(admin, 'pkg-rbac-scoped');
      scoped = await renderChartRbac(scopedHome, { operator: { watchNamespace: apps } });
      await applyObjects(admin, scoped.objects);
    }, PACKAGING_TOOLS_TIMEOUT_MS);

    it('binds Roles in that namespace only; cluster-wide only the reading of Namespaces (cluster-scoped)', () => {
      expect(scoped.objects.filter((o) => o.kind.startsWith('Cluster')).map((o) => o.metadata.name).sort()).toEqual([`${scoped.fullname}-edit`, `${scoped.fullname}-namespaces`, `${scoped.fullname}-namespaces`].sort());
      expect(scoped.objects.filter((o) => o.kind === 'RoleBinding').map((o) => o.metadata.namespace).sort()).toEqual([apps, apps, scoped.namespace, scoped.namespace].sort());
    });

    it('lets both processes read, watch and write their kinds in that namespace, and nowhere else', async () => {
      const cases: [ChartComponent, KindName[]][] = [['operator', kinds], ['datapath', ['ReplicatedVM', 'ReplicationPolicy', 'RecoveryPoint']]];
      for (const [component, readable] of cases) {
        const kc = as(component);
        for (const kind of readable) {
          const client = new CustomResourceClient(kc, kind);
          expect((await client.list(apps)).items.length, `${component} list ${kind} in ${apps}`).toBeGreaterThan(0);
          expect(await watchStatus(kc, client.path(apps)), `${component} watch ${kind} in ${apps}`).toBe(200);
          expect(await statusOf(client.list()), `${component} list ${kind} in all namespaces`).toBe(403);
          expect(await statusOf(client.list(home)), `${component} list ${kind} in ${home}`).toBe(403);
        }
      }
      const vm = objects.get('ReplicatedVM') as CustomObject;
      const updated = await new CustomResourceClient(as('datapath'), 'ReplicatedVM').applyStatus(refOf(vm), { health: 'Critical' }, DATAPATH_FIELD_MANAGER);
      expect((updated.status as { health?: string }).health).toBe('Critical');
      const policy = objects.get('ReplicationPolicy') as CustomObject;
      const observed = await new CustomResourceClient(as('operator'), 'ReplicationPolicy').applyStatus(refOf(policy), { observedGeneration: policy.metadata.generation }, OPERATOR_FIELD_MANAGER);
      expect((observed.status as { observedGeneration?: number }).observedGeneration).toBe(policy.metadata.generation);
      // Leases stay in the release namespace.
      const leases = as('operator').makeApiClient(CoordinationV1Api);
      expect(await statusOf(leases.readNamespacedLease({ namespace: scoped.namespace, name: 'absent' }))).toBe(404);
      expect(await statusOf(leases.readNamespacedLease({ namespace: apps, name: 'absent' }))).toBe(403);
    });
  });
});
