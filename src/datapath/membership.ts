/**
 * Membership of the datapath replicas: each replica holds one coordination.k8s.io/v1 Lease of its own
 * (labelled siterecovery.io/datapath-member=true, holderIdentity = the replica's identity) and renews it;
 * the live members are the leases whose record changed within their duration *as observed locally*
 * (client-go's rule: no trust in other nodes' clocks). A replica leaving gracefully deletes its lease, so
 * the others rebalance at once; a replica that dies stops renewing and drops out after the lease duration.
 * A replica that cannot renew its own lease for most of the duration considers itself out (and stops
 * working) before the others take its VMs over. Leases of members gone for long are deleted.
 */
import { createHash } from 'node:crypto';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { createLogger } from '../util/logger.ts';

const log = createLogger('datapath-membership');

const MEMBER_LABEL = 'siterecovery.io/datapath-member';

export interface MembershipOptions {
  namespace: string;
  identity: string;
  /** A member that has not renewed for this long is gone. Default 15 s. */
  leaseDurationMs?: number;
}

/** A Lease name for an identity: DNS-1123, readable, unique (hash suffix). */
export function memberLeaseName(identity: string): string {
  const clean = identity.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'replica';
  return `site-recovery-datapath-${clean}-${createHash('sha256').update(identity).digest('hex').slice(0, 8)}`;
}

export class Membership {
  readonly identity: string;
  readonly leaseDurationMs: number;
  private readonly api: CoordinationV1Api;
  private readonly namespace: string;
  private readonly leaseName: string;
  private lastRenewOk = 0;
  private readonly observed = new Map<string, { record: string; at: number; name: string; resourceVersion?: string }>();

  constructor(kubeConfig: KubeConfig, options: MembershipOptions) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.namespace = options.namespace;
    this.identity = options.identity;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.leaseName = memberLeaseName(options.identity);
  }

  /** True while our own lease is fresh enough that the others still count us in. */
  get healthy(): boolean {
    return Date.now() - this.lastRenewOk < (this.leaseDurationMs * 2) / 3;
  }

  /** Creates or renews our lease. */
  async renew(): Promise<void> {
    // Lease times are MicroTime: the API server refuses millisecond precision, hence V1MicroTime.
    const now = new V1MicroTime();
    const spec = { holderIdentity: this.identity, leaseDurationSeconds: Math.max(1, Math.ceil(this.leaseDurationMs / 1000)), renewTime: now };
    try {
      const lease = await this.api.readNamespacedLease({ name: this.leaseName, namespace: this.namespace });
      lease.spec = { ...lease.spec, ...spec };
      await this.api.replaceNamespacedLease({ name: this.leaseName, namespace: this.namespace, body: lease });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.api.createNamespacedLease({
        namespace: this.namespace,
        body: { metadata: { name: this.leaseName, namespace: this.namespace, labels: { [MEMBER_LABEL]: 'true' } }, spec: { ...spec, acquireTime: now } },
      });
    }
    this.lastRenewOk = Date.now();
  }

  /** Lists the member leases and returns the live members (ourselves included while healthy). */
  async observe(): Promise<string[]> {
    const list = await this.api.listNamespacedLease({ namespace: this.namespace, labelSelector: `${MEMBER_LABEL}=true` });
    const now = Date.now();
    const seen = new Set<string>();
    for (const lease of list.items) {
      const identity = lease.spec?.holderIdentity;
      if (!identity) continue;
      seen.add(identity);
      const record = `${renewTimeOf(lease)}`;
      const previous = this.observed.get(identity);
      if (!previous || previous.record !== record) {
        this.observed.set(identity, { record, at: now, name: lease.metadata?.name ?? '', resourceVersion: lease.metadata?.resourceVersion });
      }
    }
    for (const identity of [...this.observed.keys()]) if (!seen.has(identity)) this.observed.delete(identity);
    await this.deleteLongGone(now);
    return this.live(now);
  }

  isLive(identity: string, now = Date.now()): boolean {
    if (identity === this.identity) return this.healthy;
    const seen = this.observed.get(identity);
    return seen !== undefined && now - seen.at < this.leaseDurationMs;
  }

  live(now = Date.now()): string[] {
    const members = [...this.observed.keys()].filter((id) => id !== this.identity && this.isLive(id, now));
    if (this.healthy) members.push(this.identity);
    return members.sort();
  }

  /** Deletes our lease so the others rebalance without waiting for it to expire. */
  async leave(): Promise<void> {
    try {
      await this.api.deleteNamespacedLease({ name: this.leaseName, namespace: this.namespace });
    } catch (error) {
      if (!isNotFound(error)) log.warn('could not delete the member lease', { error: error instanceof Error ? error.message : String(error) });
    }
    this.lastRenewOk = 0;
  }

  private async deleteLongGone(now: number): Promise<void> {
    for (const [identity, seen] of this.observed) {
      if (identity === this.identity || now - seen.at < 10 * this.leaseDurationMs) continue;
      try {
        await this.api.deleteNamespacedLease({ name: seen.name, namespace: this.namespace, body: { preconditions: { resourceVersion: seen.resourceVersion } } });
        log.info('deleted the lease of a replica gone for long', { identity });
      } catch (error) {
        if (!isNotFound(error) && !isConflict(error)) log.warn('could not delete a stale member lease', { identity, error: error instanceof Error ? error.message : String(error) });
      }
      this.observed.delete(identity);
    }
  }
}

function renewTimeOf(lease: V1Lease): string {
  const t = lease.spec?.renewTime as unknown;
  if (t instanceof Date) return t.toISOString();
  return String(t ?? '');
}
