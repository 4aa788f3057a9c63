/**
 * The list of Azure resources an object uses (status.targetResources), with the created/adopted and
 * pending marks that make deletion safe: only what the operator created is ever deleted.
 */
import type { ManagedResource } from '../api/types.ts';

/** What the operator knows of one resource it uses: created by it (only then ever deleted), or pending creation. */
export interface ResourceRecord {
  role: string;
  id: string;
  created: boolean;
  pending?: boolean;
}

/**
 * What `convergeResource` needs of a ledger: a resource's record (by role; `id` tells apart resources that
 * share a role, such as the disks of one failover) and a way to set it.
 */
export interface ResourceRecords {
  get(role: string, id: string): ResourceRecord | undefined;
  set(record: ResourceRecord): void;
}

export class ResourceLedger implements ResourceRecords {
  private readonly records = new Map<string, ManagedResource>();

  constructor(existing: readonly ManagedResource[] | undefined) {
    for (const r of existing ?? []) this.records.set(r.role, r);
  }

  get(role: string): ResourceRecord | undefined {
    return this.records.get(role);
  }

  set(record: ResourceRecord): void {
    const entry: ManagedResource = { role: record.role, id: record.id, created: record.created };
    if (record.pending) entry.pending = true;
    this.records.set(record.role, entry);
  }

  remove(role: string): void {
    this.records.delete(role);
  }

  list(): ManagedResource[] {
    return [...this.records.values()].sort((a, b) => a.role.localeCompare(b.role));
  }
}
