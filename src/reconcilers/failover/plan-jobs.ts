/**
 * The Job a recovery plan's action runs as: the action's JobTemplateSpec, named deterministically, labelled
 * with the plan failover (so cleanup finds it), owned by the plan FailoverRequest (so a cluster's garbage
 * collector removes it with the request), and with the group's context as environment variables in every
 * container (init containers too):
 *
 *   SITE_RECOVERY_PLAN, SITE_RECOVERY_FAILOVER, SITE_RECOVERY_FAILOVER_TYPE, SITE_RECOVERY_GROUP,
 *   SITE_RECOVERY_ACTION, SITE_RECOVERY_STAGE (Pre | Post), SITE_RECOVERY_VMS (the group's ReplicatedVMs),
 *   SITE_RECOVERY_VM_IDS and SITE_RECOVERY_VM_IPS (the group's failed-over VMs' ARM ids and private IPs,
 *   in the order of SITE_RECOVERY_VMS; empty before the group's VMs fail over) — lists space-separated.
 */
import type { V1Container, V1EnvVar, V1Job, V1JobSpec, V1ObjectMeta } from '@kubernetes/client-node';
import type { FailoverRequest, PlanMemberStatus, RecoveryPlanAction } from '../../api/types.ts';
import { actionJobName, PLAN_FAILOVER_LABEL, planFailoverLabelValue } from './plan-members.ts';

export interface ActionContext {
  planFailover: FailoverRequest;
  group: string;
  stage: 'Pre' | 'Post';
  action: RecoveryPlanAction;
  /** The group's members as recorded in status (ids and IPs once failed over). */
  members: readonly PlanMemberStatus[];
}

export function actionEnv(c: ActionContext): V1EnvVar[] {
  const failedOver = c.members.filter((m) => m.targetVirtualMachineId);
  return [
    { name: 'SITE_RECOVERY_PLAN', value: c.planFailover.spec.recoveryPlanName ?? '' },
    { name: 'SITE_RECOVERY_FAILOVER', value: c.planFailover.metadata.name ?? '' },
    { name: 'SITE_RECOVERY_FAILOVER_TYPE', value: c.planFailover.spec.type },
    { name: 'SITE_RECOVERY_GROUP', value: c.group },
    { name: 'SITE_RECOVERY_ACTION', value: c.action.name },
    { name: 'SITE_RECOVERY_STAGE', value: c.stage },
    { name: 'SITE_RECOVERY_VMS', value: failedOver.map((m) => m.replicatedVMName).join(' ') },
    { name: 'SITE_RECOVERY_VM_IDS', value: failedOver.map((m) => m.targetVirtualMachineId).join(' ') },
    { name: 'SITE_RECOVERY_VM_IPS', value: failedOver.map((m) => m.privateIpAddress ?? '').join(' ') },
  ];
}

function withEnv(containers: V1Container[] | undefined, env: V1EnvVar[]): V1Container[] | undefined {
  const names = new Set(env.map((e) => e.name));
  return containers?.map((c) => ({ ...c, env: [...(c.env ?? []).filter((e) => !names.has(e.name)), ...env] }));
}

/** The Job for an action of a plan failover. */
export function actionJob(c: ActionContext): V1Job {
  const template = (c.action.job ?? {}) as { metadata?: V1ObjectMeta; spec?: V1JobSpec };
  const fo = c.planFailover;
  const spec = structuredClone(template.spec ?? ({} as V1JobSpec));
  const env = actionEnv(c);
  if (spec.template?.spec) {
    spec.template.spec.containers = withEnv(spec.template.spec.containers, env) ?? [];
    spec.template.spec.initContainers = withEnv(spec.template.spec.initContainers, env);
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: actionJobName(fo.metadata.name ?? '', c.group, c.action.name),
      namespace: fo.metadata.namespace,
      labels: { ...template.metadata?.labels, [PLAN_FAILOVER_LABEL]: planFailoverLabelValue(fo.metadata.name ?? '') },
      annotations: { ...template.metadata?.annotations, 'siterecovery.io/plan-group': c.group, 'siterecovery.io/plan-action': c.action.name },
      ownerReferences: [{ apiVersion: fo.apiVersion, kind: fo.kind, name: fo.metadata.name ?? '', uid: fo.metadata.uid ?? '', controller: true }],
    },
    spec,
  };
}
