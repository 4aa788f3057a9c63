// The Helm chart, with helm built from its Go module: lint, template (default, full and HPA values) with
// the rendered objects checked and applied with a server-side dry run against the real test API server,
// Pod Security "restricted" enforced on the pods, and helm install / upgrade / uninstall into that server.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppsV1Api, CoreV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { PACKAGING_TOOLS_TIMEOUT_MS, CHART_DIR, REPO_ROOT, REQUIRED_VALUES, ensurePackagingTools, helm, helmTemplate, helmTemplateText, parseManifests, type Manifest } from '../support/helm.ts';
import { applyObjects } from '../support/helm-rbac.ts';
import { kubeErrorMessage } from '../../src/kube/errors.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { promqlErrors, selectorsOf, selects } from '../support/promql.ts';

const FULL = path.join(CHART_DIR, 'ci/full-values.yaml');
const HPA = path.join(CHART_DIR, 'ci/hpa-values.yaml');

/** The script the image's ENTRYPOINT (Dockerfile: ["node", SCRIPT]) runs; the chart's `command` names it too. */
const ENTRYPOINT_SCRIPT = (JSON.parse(/^ENTRYPOINT (.+)$/m.exec(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? '[]') as string[]).at(-1);

type PodSpec = {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: {
    name: string;
    image: string;
    command?: string[];
    args: string[];
    env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
    envFrom: { configMapRef: { name: string } }[];
    ports: { name: string; containerPort: number }[];
    livenessProbe: { httpGet: { path: string; port: string } };
    readinessProbe: { httpGet: { path: string; port: string } };
    securityContext: Record<string, unknown>;
    volumeMounts: { name: string; mountPath: string }[];
    resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  }[];
  volumes: { name: string; emptyDir?: unknown }[];
};
type Deployment = Manifest & { spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } } };
type Rules = { apiGroups: string[]; resources: string[]; verbs: string[] }[];

const find = <T extends Manifest = Manifest>(objects: Manifest[], kind: string, component?: string): T[] =>
  objects.filter((o) => o.kind === kind && (component === undefined || o.metadata.labels?.['app.kubernetes.io/component'] === component)) as T[];
const one = <T extends Manifest = Manifest>(objects: Manifest[], kind: string, component?: string): T => {
  const found = find<T>(objects, kind, component);
  expect(found, `${kind}${component ? ` (${component})` : ''}`).toHaveLength(1);
  return found[0] as T;
};

/** Flattens RBAC rules to sorted "group/resource:verb" strings, so a table compares regardless of grouping. */
function grants(rules: Rules): string[] {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g || 'core'}/${res}:${v}`);
  return [...out].sort();
}
const table = (entries: Record<string, string[]>) => Object.entries(entries).flatMap(([res, verbs]) => verbs.map((v) => `${res}:${v}`)).sort();

// Stand-ins for the CRDs of the Prometheus Operator and KEDA, so their objects can be dry-run applied: the
// API server checks the kinds, versions and the types of the fields declared here (a subset of the real
// schemas, the fields the chart sets); the rest of spec is kept as it is.
const str = { type: 'string' };
const strMap = { type: 'object', additionalProperties: str };
const open = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties, ...(required.length ? { required } : {}) });
const STUB_SCHEMAS: Record<string, unknown> = {
  ServiceMonitor: open({
    selector: open({ matchLabels: strMap }),
    namespaceSelector: open({ matchNames: { type: 'array', items: str } }),
    endpoints: { type: 'array', items: open({ port: str, path: str, interval: str, scrapeTimeout: str, honorLabels: { type: 'boolean' } }) },
  }, ['selector', 'endpoints']),
  PrometheusRule: open({
    groups: { type: 'array', items: open({ name: str, rules: { type: 'array', items: open({ alert: str, expr: { 'x-kubernetes-int-or-string': true }, for: str, labels: strMap, annotations: strMap }, ['expr']) } }, ['name', 'rules']) },
  }, ['groups']),
  ScaledObject: open({
    scaleTargetRef: open({ apiVersion: str, kind: str, name: str }, ['name']),
    minReplicaCount: { type: 'integer' },
    maxReplicaCount: { type: 'integer' },
    pollingInterval: { type: 'integer' },
    cooldownPeriod: { type: 'integer' },
    // KEDA's trigger metadata is a map of strings: a number here would be refused by the real CRD too.
    triggers: { type: 'array', items: open({ type: str, metricType: str, metadata: strMap, authenticationRef: open({ name: str }, ['name']) }, ['type', 'metadata']) },
  }, ['scaleTargetRef', 'triggers']),
};
function stubCrd(group: string, version: string, kind: string, plural: string): KubernetesObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: version, served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: STUB_SCHEMAS[kind] } } } }],
    },
  } as KubernetesObject;
}

describe('Helm chart', () => {
  let kc: KubeConfig;
  let namespace: string;
  let defaults: Manifest[];
  let full: Manifest[];
  let hpa: Manifest[];

  beforeAll(async () => {
    await ensurePackagingTools();
    kc = testKubeConfig();
    namespace = await createTestNamespace(kc, 'pkg-helm');
    [defaults, full, hpa] = await Promise.all([
      helmTemplate({ namespace, set: REQUIRED_VALUES }),
      helmTemplate({ namespace, valuesFiles: [FULL] }),
      helmTemplate({ namespace, valuesFiles: [HPA] }),
    ]);
  }, PACKAGING_TOOLS_TIMEOUT_MS);

  it('passes helm lint --strict with default, full and HPA values', async () => {
    for (const extra of [[], ['-f', FULL], ['-f', HPA]]) {
      const r = await helm(['lint', CHART_DIR, '--strict', ...extra]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('0 chart(s) failed');
    }
  });

  it('renders the expected objects', () => {
    const kinds = (objects: Manifest[]) => objects.map((o) => o.kind).sort();
    expect(kinds(defaults)).toEqual(
      ['ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Deployment', 'NetworkPolicy', 'Pod', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'Service', 'ServiceAccount', 'ServiceAccount'].sort(),
    );
    // Watching one namespace, the operator's and the datapath's roles for the CRs are Roles in it.
    const scoped = kinds(defaults).map((k) => (k === 'ClusterRoleBinding' ? 'RoleBinding' : k));
    scoped.splice(scoped.indexOf('ClusterRole'), 2, 'Role', 'Role');
    // ... and reading Namespaces (namespaced tenancy; cluster-scoped) has a ClusterRole of its own.
    expect(kinds(full)).toEqual([...scoped, 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'PrometheusRule', 'ScaledObject', 'ServiceMonitor'].sort());
    expect(find(hpa, 'HorizontalPodAutoscaler')).toHaveLength(1);
    expect(find(hpa, 'ScaledObject')).toHaveLength(0);
  });

  it('puts the recommended labels on every object and namespaced objects in the release namespace', () => {
    for (const o of [...defaults, ...full]) {
      const labels = o.metadata.labels ?? {};
      for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
        expect(labels[key], `${o.kind}/${o.metadata.name} ${key}`).toBeTruthy();
      }
      const clusterScoped = o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding';
      const watchScoped = full.includes(o) && (o.kind === 'Role' || o.kind === 'RoleBinding') && !/-(leader-election|membership)$/.test(o.metadata.name);
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(clusterScoped ? undefined : watchScoped ? 'payments' : namespace);
    }
  });

  it('runs the operator (2 replicas, leader election) and the datapath from one image, hardened to Pod Security restricted', () => {
    const operator = one<Deployment>(defaults, 'Deployment', 'operator');
    const datapath = one<Deployment>(defaults, 'Deployment', 'datapath');
    expect(operator.spec.replicas).toBe(2);
    expect(datapath.spec.replicas).toBe(2);
    for (const [d, command] of [[operator, 'operator'], [datapath, 'datapath']] as const) {
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      if (!c) throw new Error('no container');
      expect(pod.containers).toHaveLength(1);
      expect(c.image).toBe('ghcr.io/site-recovery-operator/site-recovery-operator:0.1.0');
      expect(c.args[0]).toBe(command);
      expect(c.args).toContain('--metrics-port=8080');
      expect(c.args).not.toContain('--no-leader-election');
      expect(c.ports).toEqual([{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(c.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.value])).toEqual([['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace']]);
      // Their V8 heap options (operator.nodeOptions, datapath.nodeOptions; README "The operator at fleet scale")
      // are node's arguments before the image's entrypoint script: NODE_OPTIONS would refuse --optimize-for-size.
      const flags = command === 'operator' ? ['--max-semi-space-size=4', '--optimize-for-size'] : ['--max-semi-space-size=1', '--optimize-for-size'];
      expect(c.command).toEqual(['node', ...flags, ENTRYPOINT_SCRIPT]);
      const run = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      expect(run.stderr, `node ${flags.join(' ')}`).toBe('');
      expect(run.status).toBe(0);
      expect(c.envFrom[0]?.configMapRef.name).toBe('site-recovery-operator-config');
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
      expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
      expect(pod.volumes[0]?.emptyDir).toBeDefined();
      expect(c.resources.requests?.cpu).toBeDefined();
      expect(c.resources.limits?.memory).toBeDefined();
      expect(d.spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
      expect(d.spec.template.metadata.annotations?.['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
      expect(d.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'site-recovery-operator', 'app.kubernetes.io/instance': 'site-recovery-operator', 'app.kubernetes.io/component': command });
      const sa = one(defaults, 'ServiceAccount', command);
      expect(pod.serviceAccountName).toBe(sa.metadata.name);
    }
  });

  it('grants the operator and the datapath exactly what their code calls', () => {
    const operator = one<Manifest & { rules: Rules }>(defaults, 'ClusterRole', 'operator');
    expect(grants(operator.rules)).toEqual(
      table({
        ...Object.fromEntries(['replicationpolicies', 'drillschedules', 'recoveryplans'].map((r) => [`siterecovery.io/${r}`, ['get', 'list', 'watch', 'patch', 'update']])),
        // A DrillSchedule run creates its Test FailoverRequest, deletes it to clean up, and runs a probe Job;
        // a plan failover creates one FailoverRequest per VM and runs its actions as Jobs (listed by label).
        'siterecovery.io/failoverrequests': ['get', 'list', 'watch', 'patch', 'update', 'create', 'delete'],
        'batch/jobs': ['get', 'create', 'list', 'delete'],
        // Re-protect creates the reverse NetworkMapping and ReplicatedVM.
        ...Object.fromEntries(['networkmappings', 'replicatedvms'].map((r) => [`siterecovery.io/${r}`, ['get', 'list', 'watch', 'patch', 'update', 'create']])),
        ...Object.fromEntries(['replicationpolicies', 'networkmappings', 'replicatedvms', 'failoverrequests', 'drillschedules', 'recoveryplans'].map((r) => [`siterecovery.io/${r}/status`, ['get', 'patch', 'update']])),
        'siterecovery.io/recoverypoints': ['get', 'list', 'watch', 'delete'],
        // The background verification of points writes status.verified.
        'siterecovery.io/recoverypoints/status': ['get', 'patch'],
        'core/events': ['create', 'patch'],
        // Namespaced tenancy: each Namespace's siterecovery.io/azure-scopes annotation.
        'core/namespaces': ['get', 'list', 'watch'],
      }),
    );
    const operatorLeases = one<Manifest & { rules: Rules }>(defaults, 'Role', 'operator');
    expect(grants(operatorLeases.rules)).toEqual(table({ 'coordination.k8s.io/leases': ['get', 'create', 'update'] }));

    const datapath = one<Manifest & { rules: Rules }>(defaults, 'ClusterRole', 'datapath');
    expect(grants(datapath.rules)).toEqual(
      table({
        'siterecovery.io/replicatedvms': ['get', 'list', 'watch'],
        'siterecovery.io/replicationpolicies': ['get', 'list', 'watch'],
        'siterecovery.io/replicatedvms/status': ['get', 'patch'],
        'siterecovery.io/recoverypoints': ['get', 'list', 'watch', 'create', 'delete'],
        'siterecovery.io/recoverypoints/status': ['get', 'patch'],
        'core/events': ['create', 'patch'],
      }),
    );
    const membership = one<Manifest & { rules: Rules }>(defaults, 'Role', 'datapath');
    expect(grants(membership.rules)).toEqual(table({ 'coordination.k8s.io/leases': ['get', 'list', 'watch', 'create', 'update', 'delete'] }));

    // Bindings point at the chart's own service accounts in the release namespace.
    for (const binding of [...find(defaults, 'ClusterRoleBinding'), ...find(defaults, 'RoleBinding')] as (Manifest & { subjects: { kind: string; name: string; namespace: string }[] })[]) {
      const component = binding.metadata.labels?.['app.kubernetes.io/component'];
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: one(defaults, 'ServiceAccount', component).metadata.name, namespace }]);
    }
  });

  it('scopes the roles for the siterecovery.io kinds to operator.watchNamespace (Role and RoleBinding there; Leases as before)', () => {
    type Role = Manifest & { rules: Rules };
    type Binding = Manifest & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    expect(find(full, 'ClusterRoleBinding').map((r) => r.metadata.name)).toEqual(['site-recovery-operator-namespaces']);
    expect(find(full, 'ClusterRole').map((r) => r.metadata.name).sort()).toEqual(['site-recovery-operator-edit', 'site-recovery-operator-namespaces', 'site-recovery-operator-view']);
    expect(grants(one<Role>(full, 'ClusterRole', 'operator').rules)).toEqual(table({ 'core/namespaces': ['get', 'list', 'watch'] }));
    for (const component of ['operator', 'datapath']) {
      const roles = find<Role>(full, 'Role', component);
      const watched = roles.find((r) => r.metadata.namespace === 'payments');
      expect(watched, component).toBeDefined();
      // The same grants as the ClusterRole of a cluster-wide install (but Namespaces, cluster-scoped: above).
      expect(grants(watched?.rules ?? [])).toEqual(grants(one<Role>(defaults, 'ClusterRole', component).rules).filter((g) => !g.startsWith('core/namespaces')));
      const lease = roles.find((r) => r.metadata.namespace === namespace);
      expect(grants(lease?.rules ?? [])).toEqual(grants(one<Role>(defaults, 'Role', component).rules));
      const binding = find<Binding>(full, 'RoleBinding', component).find((b) => b.metadata.namespace === 'payments');
      expect(binding?.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: watched?.metadata.name });
      expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: one(full, 'ServiceAccount', component).metadata.name, namespace }]);
    }
    // Both processes watch only that namespace.
    expect(one<Deployment>(full, 'Deployment', 'datapath').spec.template.spec.containers[0]?.args).toEqual(['datapath', '--metrics-port=8080', '--status-heartbeat=5m', '--initial-sync-concurrency=8', '--namespace=payments']);
    expect(one<Deployment>(defaults, 'Deployment', 'datapath').spec.template.spec.containers[0]?.args).toEqual(['datapath', '--metrics-port=8080', '--status-heartbeat=10m', '--initial-sync-concurrency=8']);
  });

  it('aggregates read access to the built-in view role; write access to edit and admin only when asked (rbac.aggregateToEdit)', async () => {
    type Role = Manifest & { rules: Rules };
    const aggregated = (objects: Manifest[]) =>
      find<Role>(objects, 'ClusterRole').filter((r) => Object.keys(r.metadata.labels ?? {}).some((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')));
    const labelsOf = (r: Manifest) => Object.keys(r.metadata.labels ?? {}).filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')).sort();
    const byDefault = aggregated(defaults);
    expect(byDefault.map((r) => [r.metadata.name, labelsOf(r)])).toEqual([['site-recovery-operator-view', ['rbac.authorization.k8s.io/aggregate-to-view']]]);
    expect(grants(byDefault[0]?.rules ?? []).every((g) => /:(get|list|watch)$/.test(g))).toBe(true);
    // The edit role exists to be bound on purpose; it joins edit and admin only when asked.
    const editRole = find<Role>(defaults, 'ClusterRole').find((r) => r.metadata.name === 'site-recovery-operator-edit');
    expect(grants(editRole?.rules ?? [])).toContain('siterecovery.io/failoverrequests:create');
    const withEdit = aggregated(await helmTemplate({ namespace, set: { ...REQUIRED_VALUES, 'rbac.aggregateToEdit': true } }));
    const edit = withEdit.find((r) => r.metadata.name === 'site-recovery-operator-edit');
    expect(edit && labelsOf(edit)).toEqual(['rbac.authorization.k8s.io/aggregate-to-admin', 'rbac.authorization.k8s.io/aggregate-to-edit']);
    expect(grants(edit?.rules ?? [])).toContain('siterecovery.io/failoverrequests:create');
    expect(aggregated(await helmTemplate({ namespace, set: { ...REQUIRED_VALUES, 'rbac.aggregateToView': false } }))).toEqual([]);
  });

  it('ships a helm test hook: site-recovery check as the operator, for the served CRDs and the leader Lease', async () => {
    type HookPod = Manifest & { spec: { serviceAccountName: string; restartPolicy: string; containers: { image: string; args: string[] }[] } };
    const hook = one<HookPod>(defaults, 'Pod');
    expect(hook.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' });
    expect(hook.spec).toMatchObject({ serviceAccountName: one(defaults, 'ServiceAccount', 'operator').metadata.name, restartPolicy: 'Never' });
    expect(hook.spec.containers[0]?.image).toBe(one<Deployment>(defaults, 'Deployment', 'operator').spec.template.spec.containers[0]?.image);
    expect(hook.spec.containers[0]?.args).toEqual(['check', `--lease-namespace=${namespace}`]);
    const single = await helmTemplate({ namespace, set: { ...REQUIRED_VALUES, 'operator.leaderElection': false, 'operator.replicas': 1 } });
    expect(one<HookPod>(single, 'Pod').spec.containers[0]?.args).toEqual(['check', `--lease-namespace=${namespace}`, '--no-lease']);
  });

  it('annotates the service accounts for Azure workload identity', () => {
    const op = one(full, 'ServiceAccount', 'operator');
    const dp = one(full, 'ServiceAccount', 'datapath');
    expect(op.metadata.annotations).toMatchObject({ 'azure.workload.identity/client-id': '33333333-3333-3333-3333-333333333333', 'azure.workload.identity/tenant-id': '22222222-2222-2222-2222-222222222222' });
    expect(dp.metadata.annotations).toMatchObject({ 'azure.workload.identity/client-id': '44444444-4444-4444-4444-444444444444' });
    expect(one(defaults, 'ServiceAccount', 'operator').metadata.annotations).toBeUndefined();
    expect(one<Deployment>(full, 'Deployment', 'operator').spec.template.spec.containers[0]?.args).toEqual(['operator', '--metrics-port=8080', '--workers=8', '--drift-check-interval=30m', '--tenancy=namespaced', '--namespace=payments']);
    expect(one<Deployment>(defaults, 'Deployment', 'operator').spec.template.spec.containers[0]?.args).toContain('--drift-check-interval=10m');
    expect(one<Deployment>(defaults, 'Deployment', 'operator').spec.template.spec.containers[0]?.args).toContain('--tenancy=cluster');
    const config = find<Manifest & { data: Record<string, string> }>(full, 'ConfigMap').find((c) => !c.metadata.name.endsWith('-dashboard'));
    expect(config?.data).toMatchObject({ AZURE_SUBSCRIPTION_ID: '00000000-0000-0000-0000-000000000000', AZURE_RESOURCE_MANAGER_ENDPOINT: 'https://management.azure.com', LOG_LEVEL: 'debug', LOG_FORMAT: 'json', SITE_RECOVERY_AZURE_TIMEOUT_MS: '30000' });
  });

  it('monitors: metrics Services, a ServiceMonitor keeping per-VM labels, alerts with runbooks and per-policy RPO thresholds', async () => {
    const services = find<Manifest & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } }>(full, 'Service');
    expect(services.map((s) => s.spec.selector['app.kubernetes.io/component']).sort()).toEqual(['datapath', 'operator']);
    for (const s of services) expect(s.spec.ports[0]).toMatchObject({ port: 8080, targetPort: 'metrics' });
    const monitor = one<Manifest & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; honorLabels: boolean }[] } }>(full, 'ServiceMonitor');
    expect(monitor.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'metrics', honorLabels: true });
    for (const s of services) for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(s.metadata.labels?.[k]).toBe(v);

    const rule = one<Manifest & { spec: { groups: { rules: { alert: string; expr: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[] } }>(full, 'PrometheusRule');
    const alerts = new Map(rule.spec.groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));
    expect([...alerts.keys()].sort()).toEqual([
      'SiteRecoveryCapacityAtRisk', 'SiteRecoveryChurnAnomaly', 'SiteRecoveryDatapathDown', 'SiteRecoveryDrillOverdue', 'SiteRecoveryFailoverFailed', 'SiteRecoveryOperatorDown', 'SiteRecoveryOperatorNoLeader',
      'SiteRecoveryPointVerificationFailed', 'SiteRecoveryRPOAbsent', 'SiteRecoveryRPOCritical', 'SiteRecoveryRPOWarning', 'SiteRecoveryReconcileErrors',
    ]);
    // The RPO thresholds are each VM's policy's, exported by the operator, not chart-wide numbers.
    for (const severity of ['warning', 'critical']) {
      const rpo = alerts.get(`SiteRecoveryRPO${severity[0]?.toUpperCase()}${severity.slice(1)}`);
      expect(selectorsOf(rpo?.expr ?? '')).toEqual([
        { metric: 'site_recovery_datapath_rpo_seconds', matchers: [] },
        { metric: 'site_recovery_replicatedvm_rpo_threshold_seconds', matchers: [{ label: 'severity', op: '=', value: severity }] },
      ]);
      expect(rpo?.labels).toEqual({ severity, team: 'platform' });
    }
    expect(alerts.get('SiteRecoveryRPOWarning')?.annotations.summary).toContain('{{ $labels.namespace }}/{{ $labels.name }}');
    // A protected VM whose RPO series is gone (the datapath died, or dropped it) is an alert, not silence.
    expect(selectorsOf(alerts.get('SiteRecoveryRPOAbsent')?.expr ?? '').map((x) => x.metric)).toEqual(['site_recovery_replicatedvm_protected', 'site_recovery_datapath_rpo_seconds']);
    expect(alerts.get('SiteRecoveryRPOAbsent')?.expr).toMatch(/\bunless on \(namespace, name\)/);
    expect(alerts.get('SiteRecoveryOperatorDown')?.expr).toContain(`service="site-recovery-operator-metrics",namespace="${namespace}"`);
    expect(alerts.get('SiteRecoveryDatapathDown')?.expr).toContain(`service="site-recovery-operator-datapath-metrics",namespace="${namespace}"`);
    expect(alerts.get('SiteRecoveryFailoverFailed')?.expr).toContain('site_recovery_failover_failed');
    expect(alerts.get('SiteRecoveryReconcileErrors')?.expr).toContain('site_recovery_reconcile_errors_total');
    // No passing drill for 8 days (the default), counted from the schedule's creation until one passed.
    expect(selectorsOf(alerts.get('SiteRecoveryDrillOverdue')?.expr ?? '').map((x) => x.metric)).toEqual([
      'site_recovery_drill_last_success_timestamp_seconds', 'site_recovery_drill_schedule_created_timestamp_seconds', 'site_recovery_drill_last_success_timestamp_seconds',
    ]);
    expect(alerts.get('SiteRecoveryDrillOverdue')?.expr).toContain('> 691200');
    expect(selectorsOf(alerts.get('SiteRecoveryCapacityAtRisk')?.expr ?? '').map((x) => x.metric)).toEqual(['site_recovery_replicatedvm_capacity_at_risk']);
    expect(selectorsOf(alerts.get('SiteRecoveryChurnAnomaly')?.expr ?? '').map((x) => x.metric)).toEqual(['site_recovery_replicatedvm_churn_anomaly']);
    expect(selectorsOf(alerts.get('SiteRecoveryPointVerificationFailed')?.expr ?? '').map((x) => x.metric)).toEqual(['site_recovery_replicatedvm_point_verification_failed']);
    for (const r of alerts.values()) {
      expect(promqlErrors(r.expr), r.alert).toEqual([]);
      // Each alert says where its runbook is, and the runbook is in the repository.
      const runbook = r.annotations.runbook_url ?? '';
      expect(runbook, r.alert).toMatch(/^https:\/\/github\.com\/site-recovery-operator\/site-recovery-operator\/blob\/main\/docs\/runbooks\/SiteRecovery\w+\.md$/);
      expect(existsSync(path.join(REPO_ROOT, 'docs/runbooks', path.basename(runbook))), runbook).toBe(true);
    }
    // The fleet dashboard ships as a ConfigMap Grafana's sidecar picks up.
    const dashboards = find<Manifest & { data: Record<string, string> }>(full, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-dashboard'));
    expect(dashboards.map((c) => [c.metadata.namespace, c.metadata.labels?.grafana_dashboard, c.metadata.annotations])).toEqual([[namespace, '1', { grafana_folder: 'Site Recovery' }]]);
    expect(JSON.parse(dashboards[0]?.data['site-recovery-fleet.json'] ?? '{}')).toMatchObject({ uid: 'site-recovery-fleet', title: 'Site Recovery: fleet' });
    expect(find(defaults, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-dashboard'))).toEqual([]);
    const elsewhere = await helmTemplate({ namespace, set: { ...REQUIRED_VALUES, 'metrics.grafanaDashboard.enabled': true, 'metrics.grafanaDashboard.namespace': 'monitoring' } });
    expect(find(elsewhere, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-dashboard')).map((c) => c.metadata.namespace)).toEqual(['monitoring']);
    const withoutDatapath = await helmTemplate({ namespace, set: { ...REQUIRED_VALUES, 'metrics.prometheusRule.enabled': true, 'datapath.enabled': false } });
    const rulesWithout = one<typeof rule>(withoutDatapath, 'PrometheusRule').spec.groups.flatMap((g) => g.rules).map((r) => r.alert);
    expect(rulesWithout).not.toContain('SiteRecoveryDatapathDown');
  });

  it('scales the datapath: replicas, an optional HPA, or KEDA on the cache backlog', () => {
    const scaled = one<Manifest & { spec: Record<string, unknown> & { scaleTargetRef: { name: string }; triggers: { type: string; metricType: string; metadata: Record<string, string> }[] } }>(full, 'ScaledObject');
    const datapath = one<Deployment>(full, 'Deployment', 'datapath');
    expect(scaled.spec.scaleTargetRef.name).toBe(datapath.metadata.name);
    expect(datapath.spec.replicas).toBeUndefined(); // KEDA owns it
    expect(scaled.spec).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 30 });
    expect(scaled.spec.triggers[0]).toMatchObject({ type: 'prometheus', metricType: 'AverageValue' });
    expect(scaled.spec.triggers[0]?.metadata).toMatchObject({ serverAddress: 'http://kube-prometheus-stack-prometheus.monitoring.svc:9090', threshold: '2147483648', activationThreshold: '1048576' });
    // The query selects every VM's backlog from this release's datapath: with honorLabels the series carry
    // the VM's namespace, not the release's, so a VM in another namespace must count too.
    const query = scaled.spec.triggers[0]?.metadata.query ?? '';
    expect(promqlErrors(query)).toEqual([]);
    const [backlog] = selectorsOf(query);
    const scraped = (vmNamespace: string, service: string) => ({ namespace: vmNamespace, name: 'vm1', service, job: service, pod: 'site-recovery-operator-datapath-0' });
    expect(selects(backlog!, 'site_recovery_datapath_backlog_bytes', scraped(namespace, 'site-recovery-operator-datapath-metrics'))).toBe(true);
    expect(selects(backlog!, 'site_recovery_datapath_backlog_bytes', scraped('team-b', 'site-recovery-operator-datapath-metrics'))).toBe(true);
    expect(selects(backlog!, 'site_recovery_datapath_backlog_bytes', scraped(namespace, 'other-release-datapath-metrics'))).toBe(false);

    const autoscaler = one<Manifest & { spec: { scaleTargetRef: { name: string }; minReplicas: number; maxReplicas: number; metrics: unknown[] } }>(hpa, 'HorizontalPodAutoscaler');
    expect(autoscaler.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12 });
    expect(autoscaler.spec.metrics).toHaveLength(2);
    expect(one<Deployment>(hpa, 'Deployment', 'datapath').spec.replicas).toBeUndefined();
    const operator = one<Deployment>(hpa, 'Deployment', 'operator');
    expect(operator.spec.replicas).toBe(1);
    expect(operator.spec.template.spec.containers[0]?.args).toContain('--no-leader-election');
    expect(find(hpa, 'PodDisruptionBudget', 'operator')).toHaveLength(0);
    expect(find(hpa, 'NetworkPolicy')).toHaveLength(0);
  });

  it('spreads both components over availability zones and nodes, without blocking a single-zone cluster', () => {
    for (const component of ['operator', 'datapath']) {
      const d = one<Deployment>(defaults, 'Deployment', component);
      const spread = (d.spec.template.spec as PodSpec & { topologySpreadConstraints: { topologyKey: string; whenUnsatisfiable: string; maxSkew: number; labelSelector: unknown }[] }).topologySpreadConstraints;
      expect(spread.map((c) => [c.topologyKey, c.whenUnsatisfiable, c.maxSkew])).toEqual([
        ['topology.kubernetes.io/zone', 'ScheduleAnyway', 1],
        ['kubernetes.io/hostname', 'ScheduleAnyway', 1],
      ]);
      for (const c of spread) expect(c.labelSelector).toEqual({ matchLabels: d.spec.selector.matchLabels });
    }
  });

  it('protects availability and limits traffic: PodDisruptionBudgets and a NetworkPolicy', () => {
    for (const component of ['operator', 'datapath']) {
      const pdb = one<Manifest & { spec: Record<string, unknown> & { selector: { matchLabels: Record<string, string> } } }>(defaults, 'PodDisruptionBudget', component);
      expect(pdb.spec.maxUnavailable).toBe(1);
      expect(pdb.spec.selector.matchLabels).toEqual(one<Deployment>(defaults, 'Deployment', component).spec.selector.matchLabels);
    }
    const policy = one<Manifest & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { ports: { port: unknown }[]; from?: unknown[] }[]; egress: { ports: { port: number; protocol: string }[] }[] } }>(defaults, 'NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual([{ ports: [{ port: 'metrics', protocol: 'TCP' }] }]);
    expect(policy.spec.egress.flatMap((r) => r.ports.map((p) => `${p.protocol}/${p.port}`)).sort()).toEqual(['TCP/443', 'TCP/53', 'TCP/6443', 'UDP/53']);
    const fullPolicy = one<Manifest & { spec: { ingress: { from?: unknown[] }[]; egress: unknown[] } }>(full, 'NetworkPolicy');
    expect(fullPolicy.spec.ingress[0]?.from).toHaveLength(1);
    expect(fullPolicy.spec.egress).toHaveLength(3);
  });

  it('refuses bad values with a message (values.schema.json and template checks)', async () => {
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ datapath: { autoscaling: { enabled: true }, keda: { enabled: true, prometheus: { serverAddress: 'http://p:9090' } } } }, /autoscaling.enabled and datapath.keda.enabled are exclusive/],
      [{ operatr: { replicas: 2 } }, /additional properties 'operatr' not allowed/],
      [{ operator: { replicas: 2, leaderElection: false } }, /operator.replicas > 1 needs operator.leaderElection/],
      [{ datapath: { keda: { enabled: true } } }, /serverAddress is required/],
      [{ azure: { subscriptionId: 'my-subscription' } }, /\/azure\/subscriptionId': 'my-subscription' does not match/],
      [{ logLevel: 'verbose' }, /logLevel/],
      [{ image: { pullPolicy: 'Sometimes' } }, /pullPolicy/],
    ];
    const subscription = { subscriptionId: REQUIRED_VALUES['azure.subscriptionId'] };
    for (const [values, message] of refusals) {
      await expect(helmTemplateText({ namespace, values: { azure: subscription, ...values } }), JSON.stringify(values)).rejects.toThrow(message);
    }
  });

  it('refuses to render without azure.subscriptionId, saying which value to set (the pods could not start)', async () => {
    for (const values of [{}, { azure: { subscriptionId: '' } }]) {
      await expect(helmTemplateText({ namespace, values }), JSON.stringify(values)).rejects.toThrow(
        'azure.subscriptionId is required: the Azure subscription that holds the protected VMs and their targets (--set azure.subscriptionId=<subscription-id>)',
      );
    }
  });

  it('renders as a dependency of an umbrella chart (global values, a condition, values under its name)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sro-umbrella-'));
    try {
      const umbrella = path.join(dir, 'platform');
      await fs.cp(CHART_DIR, path.join(umbrella, 'charts/site-recovery-operator'), { recursive: true });
      await fs.writeFile(path.join(umbrella, 'Chart.yaml'), [
        'apiVersion: v2',
        'name: platform',
        'version: 1.0.0',
        'dependencies:',
        '  - name: site-recovery-operator',
        '    version: 0.1.0',
        `    repository: file://${path.join(CHART_DIR)}`,
        '    condition: site-recovery-operator.enabled',
        '',
      ].join('\n'));
      const values = {
        global: { imageRegistry: 'registry.example.com', labels: { team: 'platform' } },
        'site-recovery-operator': { enabled: true, azure: { subscriptionId: REQUIRED_VALUES['azure.subscriptionId'] }, datapath: { replicas: 3 } },
      };
      await fs.writeFile(path.join(umbrella, 'values.yaml'), JSON.stringify(values));
      await fs.mkdir(path.join(umbrella, 'templates'));
      await fs.writeFile(path.join(umbrella, 'templates/NOTES.txt'), 'The platform umbrella chart.\n');
      const rendered = await helm(['template', 'platform', umbrella, '--namespace', namespace, '--include-crds']);
      expect(rendered.code, rendered.stderr).toBe(0);
      const objects = parseManifests(rendered.stdout);
      expect(one<Deployment>(objects, 'Deployment', 'datapath').spec.replicas).toBe(3);
      expect(one<Deployment>(objects, 'Deployment', 'operator').metadata.name).toBe('platform-site-recovery-operator');
      expect(find(objects, 'CustomResourceDefinition')).toHaveLength(7);
      const lint = await helm(['lint', umbrella, '--strict', '--with-subcharts']);
      expect(lint.code, lint.stdout + lint.stderr).toBe(0);
      // Its required values are still required when it is a dependency.
      const missing = await helm(['template', 'platform', umbrella, '--namespace', namespace, '--set', 'site-recovery-operator.azure.subscriptionId=']);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('azure.subscriptionId is required');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('applies every rendered object with a server-side dry run (default, full and HPA values)', async () => {
    await applyObjects(kc, [
      stubCrd('monitoring.coreos.com', 'v1', 'ServiceMonitor', 'servicemonitors'),
      stubCrd('monitoring.coreos.com', 'v1', 'PrometheusRule', 'prometheusrules'),
      stubCrd('keda.sh', 'v1alpha1', 'ScaledObject', 'scaledobjects'),
    ]);
    // A new CRD takes a moment to be served.
    // Server-side apply of a kind whose schema preserves unknown fields is refused ("field not declared in
    // schema") by the API server's typed patch: create those with a dry run instead.
    const stubbed = new Set(['ScaledObject', 'PrometheusRule', 'ServiceMonitor']);
    await expect.poll(async () => {
      try {
        await applyObjects(kc, full.filter((o) => stubbed.has(o.kind)), { dryRun: true, create: true });
        return true;
      } catch (error) {
        return (error as Error).message;
      }
    }, { timeout: 30_000, interval: 250 }).toBe(true);
    // full-values.yaml watches namespace payments: its Roles go there.
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'payments' } } }).catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
    });
    for (const objects of [defaults, full, hpa]) await applyObjects(kc, objects.filter((o) => !stubbed.has(o.kind)), { dryRun: true });
    // The stand-in schemas have teeth: a number in KEDA's string-only trigger metadata is refused.
    const scaled = structuredClone(one(full, 'ScaledObject')) as Manifest & { spec: { triggers: { metadata: Record<string, unknown> }[] } };
    (scaled.spec.triggers[0] as { metadata: Record<string, unknown> }).metadata.threshold = 5;
    await expect(applyObjects(kc, [scaled], { dryRun: true, create: true })).rejects.toThrow(/threshold/);
    // And the CRDs of the chart's crds/ directory.
    await applyObjects(kc, await helmTemplate({ namespace, set: REQUIRED_VALUES, includeCrds: true }).then((all) => all.filter((o) => o.kind === 'CustomResourceDefinition')), { dryRun: true });
  });

  it('meets Pod Security "restricted": the API server admits the pods in an enforcing namespace', async () => {
    const restricted = await createTestNamespace(kc, 'pkg-psa');
    await kc.makeApiClient(CoreV1Api).patchNamespace(
      { name: restricted, body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const core = kc.makeApiClient(CoreV1Api);
    for (const objects of [defaults, hpa]) {
      for (const d of find<Deployment>(objects, 'Deployment')) {
        await core.createNamespacedPod({ namespace: restricted, dryRun: 'All', body: { metadata: { name: `${d.metadata.name}-psa`, labels: d.spec.template.metadata.labels }, spec: d.spec.template.spec as never } });
      }
    }
    // The check has teeth: a pod without the hardening is refused.
    const bare = { metadata: { name: 'bare' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    const refused = await core.createNamespacedPod({ namespace: restricted, dryRun: 'All', body: bare }).then(() => 'admitted', (error: unknown) => kubeErrorMessage(error));
    expect(refused).toMatch(/violates PodSecurity "restricted:latest"/);
  });

  it('installs, upgrades and uninstalls with helm into the test control plane', async () => {
    const kubeconfig = inject('kubeconfigPath');
    const ns = await createTestNamespace(kc, 'pkg-helm-install');
    const release = `sro-${ns.slice(-8)}`;
    const install = await helm(['install', release, CHART_DIR, '--namespace', ns], kubeconfig, { set: { 'azure.subscriptionId': '00000000-0000-0000-0000-000000000000', 'azure.workloadIdentity.clientId': '11111111-1111-1111-1111-111111111111' } });
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain('STATUS: deployed');
    expect(install.stdout).toContain(`site-recovery-operator 0.1.0 is installed in namespace ${ns}`); // NOTES.txt

    const apps = kc.makeApiClient(AppsV1Api);
    const fullname = `${release}-site-recovery-operator`;
    const operator = await apps.readNamespacedDeployment({ namespace: ns, name: fullname });
    expect(operator.spec?.replicas).toBe(2);
    expect((await apps.readNamespacedDeployment({ namespace: ns, name: `${fullname}-datapath` })).spec?.replicas).toBe(2);
    const sa = await kc.makeApiClient(CoreV1Api).readNamespacedServiceAccount({ namespace: ns, name: fullname });
    expect(sa.metadata?.annotations?.['azure.workload.identity/client-id']).toBe('11111111-1111-1111-1111-111111111111');
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    expect((await rbac.readClusterRoleBinding({ name: fullname })).subjects?.[0]).toMatchObject({ name: fullname, namespace: ns });
    expect((await rbac.readNamespacedRole({ namespace: ns, name: `${fullname}-leader-election` })).rules).toHaveLength(1);

    const upgrade = await helm(['upgrade', release, CHART_DIR, '--namespace', ns, '--reuse-values'], kubeconfig, { set: { 'datapath.replicas': 3 } });
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect((await apps.readNamespacedDeployment({ namespace: ns, name: `${fullname}-datapath` })).spec?.replicas).toBe(3);
    const status = await helm(['status', release, '--namespace', ns, '-o', 'json'], kubeconfig);
    expect(JSON.parse(status.stdout)).toMatchObject({ name: release, version: 2, info: { status: 'deployed' } });

    const uninstall = await helm(['uninstall', release, '--namespace', ns], kubeconfig);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    await expect(apps.readNamespacedDeployment({ namespace: ns, name: fullname })).rejects.toMatchObject({ code: 404 });
    await expect(rbac.readClusterRole({ name: fullname })).rejects.toMatchObject({ code: 404 });
    // CRDs stay (helm never deletes crds/): the users' objects survive an uninstall.
    expect((await helm(['get', 'manifest', release, '--namespace', ns], kubeconfig)).code).not.toBe(0);
  });
});
