// Local Azure Storage for the sandbox: Azurite (child process) behind the storage front (front.ts).
//
// Endpoints. Every storage account is reached through the front, path-style:
// blobEndpoint(account) = https://127.0.0.1:<frontPort>/<account>/. Fronting all accounts (not only the
// managed-disk one) is what lets the front offer Put Page From URL and page-range diffs on any page blob,
// and keeps copy sources and destinations on one host (Azurite only copies within the host a request
// came in on). Azurite's own port is internal (azuriteEndpoint: benchmarks only).
//
// Accounts. Azurite knows accounts only from AZURITE_ACCOUNTS; the child wrapper (azurite-child.ts) lets
// createAccount() add one at runtime through Azurite's own refresh. Keys are 64 random bytes (base64), as
// Azure's; with persist they are kept in <dir>/accounts.json (and Azurite's data in <dir>/azurite).
//
// Authentication, as in Azure: account key (SharedKey, and SAS made from it: accountKey()), or a bearer
// token for https://storage.azure.com (see token.ts: sandboxAccessToken()). An account created through ARM
// with allowSharedKeyAccess false refuses the key (front-shared-key.ts). When the ARM emulator enforces role
// assignments, a bearer token's roles must allow the blob operation (DataActions, front-rbac.ts).
//
// Managed disks live as page blobs in a hidden account (`diskAccount`), container `disks`, blob name =
// sha256 of the lowercased ARM resource id (diskBlobUrl()).
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../../../src/util/logger.ts';
import type { RegionOutages } from '../outages.ts';
import type { SandboxCa } from '../tls.ts';
import { issueServerCert } from '../tls.ts';
import { startAzurite, type AzuriteProcess } from './azurite.ts';
import { StorageFront } from './front.ts';
import type { StorageRbac } from './front-rbac.ts';
import { ChangeTracker, type TrackerState } from './tracker.ts';

export { sandboxAccessToken, sandboxStorageCredential, SANDBOX_PRINCIPALS, STORAGE_AUDIENCE } from './token.ts';
export type { SandboxPrincipal } from './token.ts';

const log = createLogger('sandbox-storage');

/** Hidden storage account holding managed disks and disk snapshots as page blobs. */
export const DISK_ACCOUNT = 'sandboxmanageddisks';
export const DISK_CONTAINER = 'disks';

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

export interface LocalStorageOptions {
  /** State dir: TLS files; with persist also Azurite data, account keys and change tracking. */
  dir: string;
  /** Keep data across restarts (default: in memory). */
  persist?: boolean;
  ca: Pick<SandboxCa, 'caCertPem' | 'caKeyPem' | 'caCertPath'>;
  /** Front port (default: the previous run's port when persisted and free, else any free port). */
  port?: number;
}

export interface LocalStorage {
  /** Hidden account for managed-disk page blobs. */
  readonly diskAccount: string;
  /** The front's base URL, ending with '/' (disk SAS URLs point here). */
  readonly diskEndpoint: string;
  /** Azurite itself, ending with '/': bypasses the front (benchmarks only; writes here are not tracked). */
  readonly azuriteEndpoint: string;
  /** CA file clients must trust (NODE_EXTRA_CA_CERTS). */
  readonly caCertPath: string;
  /** https://127.0.0.1:PORT/<account>/ */
  blobEndpoint(account: string): string;
  /** Makes a storage account usable (idempotent). Name: 3-24 lowercase letters and digits. */
  createAccount(name: string): Promise<void>;
  /** Removes an account and everything in it (idempotent). */
  deleteAccount(name: string): Promise<void>;
  hasAccount(name: string): boolean;
  /** Whether requests signed with the account's key (SharedKey, service and account SAS) are accepted (default true). */
  setSharedKeyAccess(account: string, allowed: boolean): void;
  /** Primary key (base64) of an existing account. */
  accountKey(account: string): string;
  /** Page blob URL (no SAS) of a managed disk or disk snapshot, from its ARM resource id. */
  diskBlobUrl(diskResourceId: string): string;
  /** Holds writes to the given blobs (queued at the front) while fn runs. */
  freezeWrites<T>(blobUrls: string[], fn: () => Promise<T>): Promise<T>;
  /** Refuses the accounts and disks of the regions down in `outages` (the ARM emulator knows where they are). */
  useOutages(outages: RegionOutages): void;
  /** Checks Entra ID requests against the ARM emulator's role assignments (front-rbac.ts). */
  useRbac(rbac: StorageRbac): void;
  stop(): Promise<void>;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function writeJsonAtomic(file: string, value: unknown, mode = 0o600): Promise<void> {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(value), { mode });
  await fs.rename(tmp, file);
}

export async function startLocalStorage(opts: LocalStorageOptions): Promise<LocalStorage> {
  const dir = path.resolve(opts.dir);
  const persist = opts.persist ?? false;
  await fs.mkdir(path.join(dir, 'tls'), { recursive: true });
  const files = { accounts: path.join(dir, 'accounts.json'), tracking: path.join(dir, 'disk-tracking.json'), front: path.join(dir, 'front.json') };

  const accounts: Record<string, string> = (persist ? await readJson<Record<string, string>>(files.accounts) : undefined) ?? {};
  if (!accounts[DISK_ACCOUNT]) accounts[DISK_ACCOUNT] = newAccountKey();
  const tracker = await restoreTracker(persist, files.tracking);
  const tls = await writeServerCert(dir, opts.ca);
  const azurite: AzuriteProcess = await startAzurite({
    dir,
    persist,
    certPath: tls.certPath,
    keyPath: tls.keyPath,
    caCertPath: opts.ca.caCertPath,
    accounts,
  });
  const front = await startFront(opts, azurite, tls, tracker, persist ? files.front : undefined);
  await ensureDiskContainer(front, azurite);
  const accountTable = new AccountTable(azurite, accounts, persist ? files.accounts : undefined);
  if (persist) await writeJsonAtomic(files.accounts, accounts);

  log.info('local storage started', { endpoint: `${front.origin}/`, persist, accounts: Object.keys(accounts).length });
  return localStorage(opts, azurite, front, accountTable, persist ? files.tracking : undefined);
}

/** Keys are 64 random bytes (base64), as Azure's. */
const newAccountKey = (): string => crypto.randomBytes(64).toString('base64');

/**
 * Change tracking survives a restart only after a clean stop (the file is consumed on start, so a crash
 * later cannot resurrect stale state; without it diffs fall back to comparing contents).
 */
async function restoreTracker(persist: boolean, trackingFile: string): Promise<ChangeTracker> {
  let tracker = new ChangeTracker();
  if (persist) {
    const state = await readJson<TrackerState & { clean?: boolean }>(trackingFile);
    if (state?.clean) tracker = ChangeTracker.fromJSON(state);
    await fs.rm(trackingFile, { force: true });
  }
  return tracker;
}

interface ServerTls {
  certPem: string;
  keyPem: string;
  certPath: string;
  keyPath: string;
}

/** A server certificate for 127.0.0.1 and localhost from the sandbox CA, in <dir>/tls/ (Azurite reads it from there). */
async function writeServerCert(dir: string, ca: LocalStorageOptions['ca']): Promise<ServerTls> {
  const cert = issueServerCert(ca, ['127.0.0.1', 'localhost']);
  const certPath = path.join(dir, 'tls', 'storage.crt');
  const keyPath = path.join(dir, 'tls', 'storage.key');
  await fs.writeFile(certPath, cert.certPem, { mode: 0o644 });
  await fs.writeFile(keyPath, cert.keyPem, { mode: 0o600 });
  return { certPem: cert.certPem, keyPem: cert.keyPem, certPath, keyPath };
}

/**
 * The front on the given port, else the previous run's (`frontFile`, with persist) when it is free, else
 * any; the port it got is kept in `frontFile`. Azurite is stopped when the front cannot start.
 */
async function startFront(opts: LocalStorageOptions, azurite: AzuriteProcess, tls: ServerTls, tracker: ChangeTracker, frontFile: string | undefined): Promise<StorageFront> {
  try {
    const previousPort = frontFile ? (await readJson<{ port: number }>(frontFile))?.port : undefined;
    const makeFront = (port: number | undefined): StorageFront =>
      new StorageFront({
        azuriteOrigin: azurite.origin,
        caCertPem: opts.ca.caCertPem,
        certPem: tls.certPem,
        keyPem: tls.keyPem,
        ...(port !== undefined ? { port } : {}),
        tracker,
      });
    let front = makeFront(opts.port ?? previousPort);
    try {
      await front.start();
    } catch (err) {
      if (opts.port !== undefined || previousPort === undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      log.warn('previous storage port is taken, using another', { port: previousPort });
      front = makeFront(undefined);
      await front.start();
    }
    if (frontFile) await writeJsonAtomic(frontFile, { port: Number(new URL(front.origin).port) }, 0o644);
    return front;
  } catch (err) {
    await azurite.stop();
    throw err;
  }
}

/** The managed-disk container; the front and Azurite are stopped when it cannot be created. */
async function ensureDiskContainer(front: StorageFront, azurite: AzuriteProcess): Promise<void> {
  const r = await front.internalRequest('PUT', `/${DISK_ACCOUNT}/${DISK_CONTAINER}?restype=container`);
  if (r.status !== 201 && r.status !== 409) {
    await front.stop();
    await azurite.stop();
    throw new Error(`creating the managed-disk container failed: ${r.status} ${r.body.toString().slice(0, 300)}`);
  }
}

/** The accounts and their keys; a change reaches Azurite (and, with persist, the accounts file) one at a time, in order. */
class AccountTable {
  private changes: Promise<void> = Promise.resolve();
  readonly keys: Record<string, string>;
  private readonly azurite: AzuriteProcess;
  private readonly file: string | undefined;

  constructor(azurite: AzuriteProcess, keys: Record<string, string>, file: string | undefined) {
    this.azurite = azurite;
    this.keys = keys;
    this.file = file;
  }

  apply(): Promise<void> {
    const next = this.changes.then(async () => {
      await this.azurite.setAccounts({ ...this.keys });
      if (this.file) await writeJsonAtomic(this.file, this.keys);
    });
    this.changes = next.catch(() => undefined);
    return next;
  }

  /** Resolves when no change is under way. */
  settled(): Promise<void> {
    return this.changes;
  }
}

/** Real Azure deletes the data with the account: every container of `account`, page by page of the list. */
async function deleteAllContainers(front: StorageFront, account: string): Promise<void> {
  let marker = '';
  do {
    const r = await front.internalRequest('GET', `/${account}?comp=list${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`);
    if (r.status !== 200) throw new Error(`listing containers of ${account} failed: ${r.status}`);
    const xml = r.body.toString('utf8');
    const names = [...xml.matchAll(/<Container>\s*<Name>([^<]+)<\/Name>/g)].map((m) => m[1]!);
    for (const c of names) {
      const d = await front.internalRequest('DELETE', `/${account}/${encodeURIComponent(c)}?restype=container`);
      if (d.status !== 202 && d.status !== 404) throw new Error(`deleting container ${c} of ${account} failed: ${d.status}`);
    }
    marker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)?.[1] ?? '';
  } while (marker);
}

/** The running local storage; `trackingFile` (with persist) receives the change tracking at a clean stop. */
function localStorage(opts: LocalStorageOptions, azurite: AzuriteProcess, front: StorageFront, table: AccountTable, trackingFile: string | undefined): LocalStorage {
  const origin = front.origin;
  const accounts = table.keys;
  let stopped = false;
  return {
    diskAccount: DISK_ACCOUNT,
    diskEndpoint: `${origin}/`,
    azuriteEndpoint: `${azurite.origin}/`,
    caCertPath: opts.ca.caCertPath,
    blobEndpoint(account) {
      return `${origin}/${account}/`;
    },
    async createAccount(name) {
      if (!ACCOUNT_NAME.test(name)) throw new Error(`invalid storage account name ${JSON.stringify(name)}: 3-24 lowercase letters and digits`);
      if (accounts[name]) return;
      accounts[name] = newAccountKey();
      await table.apply();
    },
    async deleteAccount(name) {
      if (!accounts[name]) return;
      if (name === DISK_ACCOUNT) throw new Error('the managed-disk account cannot be deleted');
      await deleteAllContainers(front, name);
      front.tracker.accountDeleted(name);
      front.sharedKey.set(name, true);
      delete accounts[name];
      await table.apply();
    },
    hasAccount(name) {
      return accounts[name] !== undefined;
    },
    setSharedKeyAccess(account, allowed) {
      front.sharedKey.set(account, allowed);
    },
    accountKey(account) {
      const key = accounts[account];
      if (!key) throw new Error(`unknown storage account ${account}`);
      return key;
    },
    diskBlobUrl(diskResourceId) {
      const name = crypto.createHash('sha256').update(diskResourceId.toLowerCase()).digest('hex');
      return `${origin}/${DISK_ACCOUNT}/${DISK_CONTAINER}/${name}`;
    },
    freezeWrites(blobUrls, fn) {
      return front.freezeWrites(blobUrls, fn);
    },
    useOutages(outages) {
      front.outages = { state: outages, diskAccount: DISK_ACCOUNT };
    },
    useRbac(rbac) {
      front.rbac = rbac;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await table.settled();
      await front.stop();
      await azurite.stop();
      if (trackingFile) await writeJsonAtomic(trackingFile, { ...front.tracker.toJSON(), clean: true });
      log.info('local storage stopped');
    },
  };
}
