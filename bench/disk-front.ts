// Benchmark: 4 MiB Put Page (uploadPages) throughput through the storage front vs straight to Azurite, in
// the same run, same process, same Azurite. Also reads (4 MiB ranged downloads) for reference.
//
//   ./node_modules/.bin/node bench/disk-front.ts [--mib 256] [--concurrency 8] [--rounds 3] [--json]
//
// Prints MiB/s for both paths and the ratio front/direct (1.0 = the front costs nothing).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BlobServiceClient, type PageBlobClient } from '@azure/storage-blob';
import { sandboxStorageCredential, startLocalStorage } from '../sandbox/src/storage/index.ts';
import { ensureSandboxCa, trustSandboxCa } from '../sandbox/src/tls.ts';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const total = Number(values.mib) * MiB;
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

process.env.LOG_LEVEL ??= 'warn';

async function uploadAll(blob: PageBlobClient, data: Buffer): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const off = next;
        next += CHUNK;
        await blob.uploadPages(data, off, CHUNK);
      }
    }),
  );
  return (total / MiB) / ((performance.now() - t0) / 1000);
}

async function readAll(blob: PageBlobClient): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const off = next;
        next += CHUNK;
        const buf = await blob.downloadToBuffer(off, CHUNK, { concurrency: 1 });
        if (buf.length !== CHUNK) throw new Error('short read');
      }
    }),
  );
  return (total / MiB) / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-disk-front-'));
const ca = await ensureSandboxCa(dir);
trustSandboxCa(ca);
const storage = await startLocalStorage({ dir, ca });
try {
  await storage.createAccount('benchacct');
  const cred = sandboxStorageCredential();
  const viaFront = new BlobServiceClient(storage.blobEndpoint('benchacct'), cred).getContainerClient('bench');
  const direct = new BlobServiceClient(`${storage.azuriteEndpoint}benchacct`, cred).getContainerClient('bench');
  await viaFront.create();
  const frontBlob = viaFront.getPageBlobClient('front');
  const directBlob = direct.getPageBlobClient('direct');
  await frontBlob.create(total);
  await directBlob.create(total);
  const data = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);

  // Warm-up (connections, JIT), then alternate so that drift affects both paths alike.
  await uploadAll(directBlob, data);
  await uploadAll(frontBlob, data);
  const up = { direct: [] as number[], front: [] as number[] };
  const down = { direct: [] as number[], front: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    up.direct.push(await uploadAll(directBlob, data));
    up.front.push(await uploadAll(frontBlob, data));
    down.direct.push(await readAll(directBlob));
    down.front.push(await readAll(frontBlob));
  }
  const result = {
    bytesPerRound: total,
    chunkBytes: CHUNK,
    concurrency,
    rounds,
    uploadPagesMiBps: { direct: median(up.direct), front: median(up.front), ratio: median(up.front) / median(up.direct) },
    downloadMiBps: { direct: median(down.direct), front: median(down.front), ratio: median(down.front) / median(down.direct) },
  };
  if (values.json) {
    console.log(JSON.stringify(result));
  } else {
    const f = (x: number): string => x.toFixed(1).padStart(8);
    console.log(`disk front benchmark: ${total / MiB} MiB per round, 4 MiB requests, ${concurrency} in flight, median of ${rounds} rounds`);
    console.log(`uploadPages  Azurite direct ${f(result.uploadPagesMiBps.direct)} MiB/s   via front ${f(result.uploadPagesMiBps.front)} MiB/s   ratio ${result.uploadPagesMiBps.ratio.toFixed(3)}`);
    console.log(`download     Azurite direct ${f(result.downloadMiBps.direct)} MiB/s   via front ${f(result.downloadMiBps.front)} MiB/s   ratio ${result.downloadMiBps.ratio.toFixed(3)}`);
  }
} finally {
  await storage.stop();
  await fs.rm(dir, { recursive: true, force: true });
}
