/**
 * The journal: the durable state of one VM's replication, a small JSON block blob (`journal.json`) in the
 * VM's cache container. Only the owner writes it, with its blob lease (see fence.ts), so a replica that
 * lost ownership cannot commit anything: a captured cycle exists only once the journal lists it.
 *
 * Cycle life: capture commits a cycle (pending) → apply replays it onto every disk → seal snapshots the
 * replica blobs and records the RecoveryPoint → the cycle leaves `pending` and its cache data is deleted.
 * Apply progress lives on the replica blobs themselves (metadata, see target.ts), sealing progress here.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { BlockBlobClient } from '@azure/storage-blob';
import type { ConsistencyType } from '../api/types.ts';
import type { GroupStamp } from './consistency-group.ts';
import { fenced } from './fence.ts';
import type { ChurnState } from './churn-baseline.ts';
import { storageError } from './storage.ts';

export const JOURNAL_BLOB = 'journal.json';

export interface DiskCycle {
  /** A full copy of the disk (initial sync or resync) rather than the changes since the previous cycle. */
  full: boolean;
  /** The differences from the seed the replica blob was given (seed.ts): applied onto the seed, never cleared first. */
  seeded?: boolean;
  /** Size of the disk restore point (the replica blob grows to it). */
  sizeBytes: number;
  /** Bytes of changed data (chunks) and how many chunks and cleared ranges the manifest lists. */
  bytes: number;
  chunks: number;
  clears: number;
  /** MD5 (base64) of the disk's manifest blob, checked before the manifest is trusted. */
  manifestMd5: string;
}

export interface CycleRecord {
  cycle: number;
  /** Unique per capture attempt: the cache prefix of this cycle's data (cycles/<cycle>/<attempt>/...). */
  attempt: string;
  /** The source VM restore point captured. */
  restorePoint: string;
  /** The instant all disks were captured. */
  time: string;
  consistency: ConsistencyType;
  disks: Record<string, DiskCycle>;
  /** The sync-now token this cycle answers, if it was captured on request. */
  syncToken?: string;
  /** The consistency group cycle this cycle belongs to (consistency-group.ts). */
  group?: GroupStamp;
}

interface PointSummary {
  name: string;
  time: string;
  consistency: ConsistencyType;
  cycle: number;
}

interface SyncNowRecord {
  token: string;
  state: 'Running' | 'Succeeded' | 'Failed';
  cycle?: number;
  recoveryPointName?: string;
  recoveryPointTime?: string;
  message?: string;
}

export interface JournalState {
  version: 1;
  /** Random per journal: replica blobs record it, so progress written under another journal is ignored. */
  epoch: string;
  vmUid: string;
  /** Newest committed cycle (0: none yet). */
  captured: number;
  /** The diff base of the next capture: the newest committed cycle's restore point and disk restore points. */
  base?: { cycle: number; restorePoint: string; time: string; disks: Record<string, string> };
  /** Committed cycles not yet applied everywhere, oldest first. */
  pending: CycleRecord[];
  /** Newest sealed cycle, and a seal in progress (snapshots taken, RecoveryPoint not yet recorded). */
  sealed: number;
  sealing?: { cycle: number; snapshots: Record<string, string> };
  lastPoint?: PointSummary;
  lastAppConsistentPoint?: PointSummary;
  /** Capture time of the newest application-consistent restore point (the app cadence runs from it). */
  lastAppConsistentCapture?: string;
  /** Disks whose next capture must be a full copy (corrupted or missing cache data, lost replica blob). */
  resync: string[];
  initialSync?: { startTime: string; completionTime?: string; bytesTotal: number; bytesMatched?: number };
  bytesReplicated: number;
  syncNow?: SyncNowRecord;
  /** The newest consistency group cycle captured (group cycle numbers continue from it after a handover). */
  groupCycle?: number;
  /** The churn baseline and the anomaly in force, if any (worker-churn.ts). */
  churn?: ChurnState;
}

export function freshJournal(vmUid: string, firstCycleAfter: number): JournalState {
  return { version: 1, epoch: randomUUID().slice(0, 8), vmUid, captured: firstCycleAfter, pending: [], sealed: firstCycleAfter, resync: [], bytesReplicated: 0 };
}

/**
 * The journal of one VM as its owner sees it. Updates are serialized and applied to a copy first: the
 * in-memory state changes only once storage accepted the write under our lease.
 */
export class Journal {
  private current: JournalState;
  private readonly blob: BlockBlobClient;
  private readonly leaseId: string;
  private readonly metadata: Record<string, string>;
  private queue: Promise<unknown> = Promise.resolve();
  /** The uid of the VM incarnation whose journal this one continues, when it was another's. */
  takenOverFrom: string | undefined;

  private constructor(blob: BlockBlobClient, leaseId: string, state: JournalState, metadata: Record<string, string>) {
    this.blob = blob;
    this.leaseId = leaseId;
    this.current = state;
    this.metadata = metadata;
  }

  /** Creates the journal blob if it does not exist (so that it can be leased). */
  static async ensureExists(blob: BlockBlobClient): Promise<void> {
    try {
      await blob.upload('{}', 2, { conditions: { ifNoneMatch: '*' }, blobHTTPHeaders: { blobContentType: 'application/json' } });
    } catch (error) {
      const { status } = storageError(error);
      if (status !== 409 && status !== 412) throw error;
    }
  }

  /**
   * Reads the journal under our lease; `fresh` makes the first state when it is empty. A journal another
   * incarnation of the VM wrote (same namespace, name and source VM, so the same container: a new cluster
   * with the same manifests, or the object re-created with deletionPolicy Retain) is taken over as it is,
   * so replication resumes where it stopped instead of starting over with an initial sync.
   */
  static async open(blob: BlockBlobClient, leaseId: string, vmUid: string, fresh: () => Promise<JournalState>): Promise<Journal> {
    const response = await fenced('reading the journal', () => blob.download(0, undefined, { conditions: { leaseId } }));
    const chunks: Buffer[] = [];
    for await (const chunk of response.readableStreamBody ?? []) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const metadata = response.metadata ?? {};
    const parsed = JSON.parse(body.toString('utf8') || '{}') as Partial<JournalState>;
    const journal = new Journal(blob, leaseId, parsed as JournalState, metadata);
    if (parsed.version !== 1) {
      const state = await fresh();
      await journal.update((s) => Object.assign(s, state));
    } else if (parsed.vmUid !== vmUid) {
      journal.takenOverFrom = parsed.vmUid;
      await journal.update((s) => (s.vmUid = vmUid));
    }
    return journal;
  }

  get state(): Readonly<JournalState> {
    return this.current;
  }

  /** Applies `mutate` to a copy, writes it under our lease, then makes it current. */
  update(mutate: (state: JournalState) => void): Promise<void> {
    const run = this.queue.then(async () => {
      const next = structuredClone(this.current);
      mutate(next);
      if (isDeepStrictEqual(next, this.current)) return;
      const text = JSON.stringify(next);
      await fenced('writing the journal', () =>
        this.blob.upload(text, Buffer.byteLength(text), {
          conditions: { leaseId: this.leaseId },
          metadata: this.metadata,
          blobHTTPHeaders: { blobContentType: 'application/json' },
        }),
      );
      this.current = next;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Bytes of changed data a cycle carries, all disks together. */
export function cycleBytes(record: CycleRecord): number {
  return Object.values(record.disks).reduce((n, d) => n + d.bytes, 0);
}
