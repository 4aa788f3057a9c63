// In-memory ARM state with optional JSON persistence. Every mutation is followed by save(), which (when
// persistence is on) writes the whole state atomically (write temp file, fsync, rename) before the
// response leaves, so a restart — even after SIGKILL — loses nothing that a client was told succeeded.
import fs from 'node:fs';
import path from 'node:path';
import { idKey } from './paths.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- ARM bodies are free-form JSON */
export type Json = any;

export interface StoredResource {
  /** Canonical id (casing as created). */
  id: string;
  /** ARM type, canonical casing: `Microsoft.Compute/virtualMachines`. */
  type: string;
  /** Canonical resource group name ('' for none). */
  resourceGroup: string;
  /** Stored ARM representation (computed fields are added when rendering). */
  body: Json;
  /** State that ARM does not show directly (power state, SAS grants, ...). */
  internal: Json;
}

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';

export interface StoredOperation {
  id: string;
  /** What to run when the operation completes (a key of the completer registry; also the latency key). */
  kind: string;
  /** Provider namespace the status URL lives under (`Microsoft.Compute`, ...) or `Microsoft.Resources`. */
  ns: string;
  location: string;
  resourceId: string;
  params: Json;
  status: OperationStatus;
  startTime: string;
  endTime?: string;
  /** Epoch ms when the operation may complete (start + configured latency). */
  dueAt: number;
  /** Result of a POST action (`{ accessSAS }`), returned by the Location monitor URL. */
  result?: Json;
  error?: { code: string; message: string };
}

interface PersistedState {
  version: 1;
  subscriptionId: string;
  /** More subscriptions served beside the first (absent in a state saved before there could be more). */
  moreSubscriptionIds?: string[];
  resources: StoredResource[];
  operations: StoredOperation[];
  counters: Record<string, number>;
}

export class ArmStore {
  readonly subscriptionId: string;
  /** Subscriptions served beside `subscriptionId` (a target subscription other than the source's). */
  readonly moreSubscriptionIds: string[];
  private readonly resources = new Map<string, StoredResource>();
  readonly operations = new Map<string, StoredOperation>();
  private readonly counters: Record<string, number> = {};
  private readonly file: string | undefined;

  constructor(subscriptionId: string, file?: string, moreSubscriptionIds: readonly string[] = []) {
    this.file = file;
    let sub = subscriptionId;
    const more = new Set(moreSubscriptionIds.map((s) => s.toLowerCase()));
    if (file && fs.existsSync(file)) {
      const state = JSON.parse(fs.readFileSync(file, 'utf8')) as PersistedState;
      sub = state.subscriptionId;
      for (const s of state.moreSubscriptionIds ?? []) more.add(s.toLowerCase());
      for (const r of state.resources) this.resources.set(idKey(r.id), r);
      for (const o of state.operations) this.operations.set(o.id, o);
      Object.assign(this.counters, state.counters);
    }
    this.subscriptionId = sub;
    more.delete(sub.toLowerCase());
    this.moreSubscriptionIds = [...more];
  }

  /** Whether subscription `sub` is served (ARM answers 404 SubscriptionNotFound for any other). */
  serves(sub: string): boolean {
    const s = sub.toLowerCase();
    return s === this.subscriptionId.toLowerCase() || this.moreSubscriptionIds.includes(s);
  }

  get(id: string): StoredResource | undefined {
    return this.resources.get(idKey(id));
  }

  has(id: string): boolean {
    return this.resources.has(idKey(id));
  }

  put(r: StoredResource): void {
    this.resources.set(idKey(r.id), r);
  }

  delete(id: string): boolean {
    return this.resources.delete(idKey(id));
  }

  /** All resources, in creation order. */
  all(): StoredResource[] {
    return [...this.resources.values()];
  }

  ofType(type: string): StoredResource[] {
    const t = type.toLowerCase();
    return this.all().filter((r) => r.type.toLowerCase() === t);
  }

  /** Direct children of `parent` of the given type (child id = parent id + /type/name). */
  children(parentIdValue: string, type: string): StoredResource[] {
    const prefix = `${idKey(parentIdValue)}/`;
    return this.ofType(type).filter((r) => {
      const k = idKey(r.id);
      return k.startsWith(prefix) && k.slice(prefix.length).split('/').length === 2;
    });
  }

  /** Next value of a named counter (persisted): MAC addresses, generated names. */
  next(counter: string): number {
    const v = (this.counters[counter] ?? 0) + 1;
    this.counters[counter] = v;
    return v;
  }

  save(): void {
    if (!this.file) return;
    const state: PersistedState = {
      version: 1,
      subscriptionId: this.subscriptionId,
      ...(this.moreSubscriptionIds.length ? { moreSubscriptionIds: this.moreSubscriptionIds } : {}),
      resources: this.all(),
      operations: [...this.operations.values()],
      counters: this.counters,
    };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(state));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
  }
}
