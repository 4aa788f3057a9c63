// Child-process entry that runs Azurite's blob service (same as `azurite-blob`, node_modules/azurite/dist/
// src/blob/main.js) with one addition: the parent can change the set of storage accounts at runtime.
//
// Why a wrapper: Azurite reads its accounts from the environment variable AZURITE_ACCOUNTS
// (AccountDataStore.refresh(), called at start and then every 60 s from a timer). A parent cannot change a
// running child's environment, and 60 s is too slow for accounts the ARM emulator creates on demand. This
// wrapper starts the very same BlobServer that main.js starts and, on an IPC message from the parent, sets
// process.env.AZURITE_ACCOUNTS and calls the server's AccountDataStore.refresh() - Azurite's own code path
// for reloading accounts, only triggered immediately. Telemetry is not initialised (main.js would; we also
// pass --disableTelemetry). The other changes: a fix for a copy bug, a faster CRC-64, server-side copies, and
// garbage collection that is race-free, batched and more frequent (below).
//
// Messages parent -> child: {type:'accounts', id, value:'name:key;name2:key2'} | {type:'shutdown'}
// Messages child -> parent: {type:'ready', address} | {type:'ack', id} | {type:'error', message}
// The child exits when the IPC channel closes (parent gone, even after SIGKILL).
import { createRequire } from 'node:module';
import { computeTransactionalChecksums } from './azurite-checksums.ts';
import { guardExtentDeletes, sweepEveryMinute, type SweptExtentStore } from './azurite-extent-gc.ts';
import { installServerSideCopies } from './azurite-from-url.ts';

const require = createRequire(import.meta.url);

interface AzuriteBlobServer {
  config: { enableDebugLog: boolean; debugLogFilePath?: string };
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
  accountDataStore?: { refresh(): void };
  extentStore?: SweptExtentStore;
}

type ParentMessage = { type: 'accounts'; id: number; value: string } | { type: 'shutdown' };

const { BlobServerFactory } = require('azurite/dist/src/blob/BlobServerFactory.js') as {
  BlobServerFactory: new () => { createServer(): Promise<AzuriteBlobServer> };
};
const Logger = require('azurite/dist/src/common/Logger.js') as {
  configLogger(enable: boolean, file?: string): void;
};
const BlobEnvironment = (require('azurite/dist/src/blob/BlobEnvironment.js') as { default: new () => unknown }).default;
const { setExtentMemoryLimit } = require('azurite/dist/src/common/ConfigurationBase.js') as {
  setExtentMemoryLimit(env: unknown, logToConsole: boolean): void;
};

// Azurite bug fix (3.37.0, LokiBlobMetadataStore.startCopyFromURL/copyFromURL): the copied blob document
// gets the *same* `pageRangesInOrder` array as its source ("Deep clone a copied blob" - but it is not), and
// Put Page / Clear Page / resize splice that array in place. Writing to a copy of a page blob snapshot then
// silently changes the snapshot (and writing to a copied-from blob changes the copy). Real Azure copies are
// independent. Fix: give every newly inserted blob document its own arrays (snapshot creation already
// does exactly that with slice(); the range objects themselves are never mutated, only the arrays).
interface LokiCollection {
  insert(doc: unknown): unknown;
}
const LokiBlobMetadataStore = (require('azurite/dist/src/blob/persistence/LokiBlobMetadataStore.js') as {
  default: { prototype: { init(): Promise<void>; db?: { getCollection(name: string): LokiCollection | null }; BLOBS_COLLECTION?: string } };
}).default;
const originalInit = LokiBlobMetadataStore.prototype.init;
LokiBlobMetadataStore.prototype.init = async function patchedInit(this: typeof LokiBlobMetadataStore.prototype): Promise<void> {
  await originalInit.call(this);
  const coll = this.db?.getCollection(this.BLOBS_COLLECTION ?? '$BLOBS_COLLECTION$');
  if (!coll) throw new Error('Azurite blob collection not found: cannot apply the copy fix');
  const insert = coll.insert.bind(coll);
  coll.insert = (doc: unknown): unknown => {
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
      const d = doc as { pageRangesInOrder?: unknown[]; committedBlocksInOrder?: unknown[] };
      if (Array.isArray(d.pageRangesInOrder)) d.pageRangesInOrder = d.pageRangesInOrder.slice();
      if (Array.isArray(d.committedBlocksInOrder)) d.committedBlocksInOrder = d.committedBlocksInOrder.slice();
    }
    return insert(doc);
  };
};

// Performance fix: Azurite's byte-at-a-time CRC-64 dominated its CPU on every Put Page; the same
// checksums, computed faster (azurite-checksums.ts). Azurite calls it through the module's exports.
const AzuriteUtils = require('azurite/dist/src/common/utils/utils.js') as { computeTransactionalChecksums?: unknown };
if (typeof AzuriteUtils.computeTransactionalChecksums !== 'function') {
  throw new Error('this Azurite version has no common/utils computeTransactionalChecksums(); cannot install the faster CRC-64');
}
AzuriteUtils.computeTransactionalChecksums = computeTransactionalChecksums;

// Put Page From URL (missing in Azurite) and Put Block From URL as copies within Azurite's own stores
// (azurite-from-url.ts).
installServerSideCopies();

function send(msg: unknown): void {
  if (process.connected) process.send?.(msg);
}

async function main(): Promise<void> {
  // Garbage collection every minute, in batches, never of an extent a write still has to record
  // (azurite-extent-gc.ts).
  sweepEveryMinute();
  const server = await new BlobServerFactory().createServer();
  if (!server.extentStore) throw new Error('this Azurite version has no BlobServer.extentStore; cannot guard its garbage collection');
  guardExtentDeletes(server.extentStore);
  Logger.configLogger(server.config.enableDebugLog, server.config.debugLogFilePath);
  setExtentMemoryLimit(new BlobEnvironment(), false);
  const store = server.accountDataStore;
  if (!store || typeof store.refresh !== 'function') {
    throw new Error('this Azurite version has no BlobServer.accountDataStore.refresh(); cannot add accounts at runtime');
  }
  await server.start();

  let closing = false;
  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    try {
      await server.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (raw) => {
    const msg = raw as ParentMessage;
    if (msg.type === 'accounts') {
      process.env.AZURITE_ACCOUNTS = msg.value;
      store.refresh();
      send({ type: 'ack', id: msg.id });
    } else if (msg.type === 'shutdown') {
      void shutdown();
    }
  });
  process.on('disconnect', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  send({ type: 'ready', address: server.getHttpServerAddress() });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  console.error(`azurite child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
