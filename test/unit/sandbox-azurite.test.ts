import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { computeTransactionalChecksums } from '../../sandbox/src/storage/azurite-checksums.ts';

// Azurite's own implementation, the reference the replacement must equal byte for byte.
const require = createRequire(import.meta.url);
const azurite = require('azurite/dist/src/common/utils/utils.js') as {
  computeTransactionalChecksums: typeof computeTransactionalChecksums;
  getCRC64FromString(text: string): Uint8Array;
};

/** A stream of `data` cut into pieces of the given sizes (repeating). */
const pieces = (data: Buffer, sizes: number[]): Readable =>
  Readable.from(
    (function* () {
      for (let o = 0, i = 0; o < data.length; i += 1) {
        const n = sizes[i % sizes.length]!;
        yield data.subarray(o, o + n);
        o += n;
      }
    })(),
  );

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);

describe("the sandbox's CRC-64/NVME for Azurite", () => {
  it('equals Azurite\'s checksums for any data and any cut into chunks', async () => {
    for (const [length, sizes] of [
      [0, [1]],
      [1, [1]],
      [7, [3, 1]],
      [4096, [4096]],
      [65_537, [1, 511, 4093, 65_536]],
      [1024 * 1024, [16_384, 65_536, 7]],
    ] as Array<[number, number[]]>) {
      const data = randomBytes(length);
      for (const force of [{ crc64: true }, { md5: true }, { md5: true, crc64: true }, undefined]) {
        const mine = await computeTransactionalChecksums(pieces(data, sizes), {}, force);
        const theirs = await azurite.computeTransactionalChecksums(pieces(data, [length || 1]), {}, force);
        expect({ length, force, md5: hex(mine.md5), crc64: hex(mine.crc64) }).toEqual({ length, force, md5: hex(theirs.md5), crc64: hex(theirs.crc64) });
      }
    }
  });

  it('computes what the caller expects to compare (an expected value asks for that checksum)', async () => {
    const data = Buffer.from('123456789');
    const result = await computeTransactionalChecksums(Readable.from([data]), { crc64: 'x', md5: undefined }, undefined);
    // The CRC-64/NVME check value of "123456789" is 0xAE8B14860A799888, serialised little-endian.
    expect(hex(result.crc64)).toBe('8898790a86148bae');
    expect(hex(result.crc64)).toBe(hex(azurite.getCRC64FromString('123456789')));
    expect(result.md5).toBeUndefined();
  });
});

describe('extent slicing for server-side copies', () => {
  it('takes the parts of chunks laid end to end that cover a range', async () => {
    const { slice } = await import('../../sandbox/src/storage/azurite-from-url.ts');
    const chunks = [
      { id: 'a', offset: 100, count: 10 },
      { id: 'b', offset: 0, count: 5 },
      { id: 'c', offset: 50, count: 20 },
    ];
    expect(slice(chunks, 0, 35)).toEqual(chunks);
    expect(slice(chunks, 8, 10)).toEqual([
      { id: 'a', offset: 108, count: 2 },
      { id: 'b', offset: 0, count: 5 },
      { id: 'c', offset: 50, count: 3 },
    ]);
    expect(slice(chunks, 10, 5)).toEqual([{ id: 'b', offset: 0, count: 5 }]);
    expect(slice(chunks, 34, 1)).toEqual([{ id: 'c', offset: 69, count: 1 }]);
    expect(slice(chunks, 0, 0)).toEqual([]);
  });
});

describe("Azurite's extent garbage collection in the sandbox", () => {
  it('deletes an extent only when two sweeps in a row found it unreferenced', async () => {
    const { guardExtentDeletes } = await import('../../sandbox/src/storage/azurite-extent-gc.ts');
    const deleted: string[][] = [];
    const store = { deleteExtents: async (ids: Iterable<string>) => deleted.push([...ids]) && [...ids].length };
    guardExtentDeletes(store);
    expect(await store.deleteExtents(['a', 'b'])).toBe(0); // first sighting: 'b' may be a write in flight
    expect(await store.deleteExtents(['a', 'c'])).toBe(1); // 'b' was recorded meanwhile; 'a' is garbage
    expect(await store.deleteExtents(['c', 'd'])).toBe(1);
    expect(await store.deleteExtents([])).toBe(0);
    expect(await store.deleteExtents(['d'])).toBe(0); // 'd' was forgotten by the empty sweep: seen once again
    expect(deleted).toEqual([['a'], ['c']]);
  });

  it("removes a sweep's extent metadata from Azurite's LokiJS collection in one batch", async () => {
    const { guardExtentDeletes } = await import('../../sandbox/src/storage/azurite-extent-gc.ts');
    const Loki = createRequire(import.meta.url)('lokijs') as new (name: string) => { addCollection(name: string, o: object): { insert(d: object): void; find(): Array<{ id: string }>; removeWhere(f: (d: { id: string }) => boolean): void } };
    const collection = new Loki('extents').addCollection('X', { indices: ['id'] });
    for (let i = 0; i < 1000; i++) collection.insert({ id: `e${i}` });
    let removals = 0;
    const removeWhere = collection.removeWhere.bind(collection);
    collection.removeWhere = (f) => {
      removals += 1;
      removeWhere(f);
    };
    const meta = {
      db: { getCollection: () => collection },
      EXTENTS_COLLECTION: 'X',
      deleteExtent: async (id: string) => collection.removeWhere((d) => d.id === id), // Azurite's: one at a time
    };
    const store = {
      getMetadataStore: () => meta,
      deleteExtents: async (ids: Iterable<string>) => {
        let n = 0;
        for (const id of ids) {
          await meta.deleteExtent(id);
          n += 1;
        }
        return n;
      },
    };
    guardExtentDeletes(store);
    const odd = Array.from({ length: 500 }, (_, i) => `e${2 * i + 1}`);
    await store.deleteExtents(odd);
    expect(await store.deleteExtents(odd)).toBe(500);
    expect(removals).toBe(1);
    expect(collection.find().map((d) => d.id)).toEqual(Array.from({ length: 500 }, (_, i) => `e${2 * i}`));
    await expect(meta.deleteExtent('e0')).resolves.toBeUndefined(); // the original is back in place
    expect(collection.find()).toHaveLength(499);
  });
});
