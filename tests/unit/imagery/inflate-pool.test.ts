// The inflate workers (edge/imagery/inflate-pool.ts): the same bytes as zlib on the event loop,
// many blocks at once; a corrupt block fails alone with zlib's reason; the workers run while a
// lease is held (an open raster) and stop with the last one; a process that used them ends on
// its own.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { inflateWorkers, leaseInflatePool, type InflateLease } from '../../../edge/imagery/inflate-pool.ts';
import { RasterFile } from '../../../edge/imagery/raster-file.ts';

/** A real Sentinel-2 L2A band, a DEFLATE-compressed COG (../shared/data/sentinel2). */
const REAL_COG = new URL(
  '../../../../shared/data/sentinel2/s2-29RKH-20200219-l2a-100m/B04.tif',
  import.meta.url,
).pathname;
const own = (b: Buffer): ArrayBuffer => new Uint8Array(b).slice().buffer;
const held: InflateLease[] = [];
const lease = (): InflateLease => {
  const l = leaseInflatePool();
  held.push(l);
  return l;
};
afterEach(() => {
  for (const l of held.splice(0)) l.release();
});

describe('inflate pool', () => {
  it('inflates many blocks at once to the bytes zlib gives, each moved to a worker and back', async () => {
    const l = lease();
    const blocks = Array.from({ length: 40 }, (_, i) => {
      // half noise (barely compressible, as reflectances are), half runs
      const raw = Buffer.concat([randomBytes(4096 + i * 100), Buffer.alloc(8192 + i * 37, i)]);
      return { raw, z: deflateSync(raw) };
    });
    const sent = blocks.map((b) => own(b.z));
    const out = await Promise.all(sent.map((z, i) => l.inflate(z, blocks[i]!.raw.length)));
    for (let i = 0; i < blocks.length; i++) {
      const want = inflateSync(blocks[i]!.z);
      expect(Buffer.from(out[i]!, 0, want.length).equals(want)).toBe(true);
      expect(sent[i]!.byteLength).toBe(0); // moved, not copied
    }
  });

  it('answers a block shorter than expected at its own length', async () => {
    const raw = randomBytes(1000);
    const out = await lease().inflate(own(deflateSync(raw)), 5000);
    expect(out.byteLength).toBe(1000);
    expect(Buffer.from(out).equals(raw)).toBe(true);
  });

  it('fails a corrupt block alone, with zlib’s reason and code', async () => {
    const l = lease();
    const good = randomBytes(3000);
    const bad = Buffer.from(deflateSync(randomBytes(3000)));
    bad[0] = 0x00; // not a zlib header
    const results = await Promise.allSettled([
      l.inflate(own(deflateSync(good)), 3000),
      l.inflate(own(bad), 3000),
      l.inflate(own(deflateSync(good)), 3000),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason as Error & { code?: string };
    expect(err.message).toMatch(/incorrect header check/);
    expect(err.code).toBe('Z_DATA_ERROR');
    expect(Buffer.from((results[0] as PromiseFulfilledResult<ArrayBuffer>).value, 0, 3000).equals(good)).toBe(
      true,
    );
  });

  it('stops a block that inflates far past its size (a zip bomb) with an error, not a worker out of memory', async () => {
    const l = lease();
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024)); // 64 MB of zeros in ~64 kB
    const e = (await l.inflate(own(bomb), 512 * 512 * 2).catch((x: unknown) => x)) as Error & {
      code?: string;
    };
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ERR_BUFFER_TOO_LARGE');
    // the worker is still there and serving
    expect(Buffer.from(await l.inflate(own(deflateSync(Buffer.alloc(100, 9))), 100))[99]).toBe(9);
  });

  it('runs workers while a lease is held and stops them with the last one; a given-back lease refuses', async () => {
    const a = lease();
    const b = lease();
    expect(inflateWorkers()).toBe(0); // started by the first block, not by a lease
    await a.inflate(own(deflateSync(Buffer.alloc(500, 1))), 500);
    expect(inflateWorkers()).toBeGreaterThan(0);
    a.release();
    a.release(); // idempotent: b still holds them
    expect(inflateWorkers()).toBeGreaterThan(0);
    await expect(a.inflate(own(deflateSync(Buffer.alloc(10))), 10)).rejects.toThrow(/given back/);
    expect(Buffer.from(await b.inflate(own(deflateSync(Buffer.alloc(500, 2))), 500))[499]).toBe(2);
    b.release();
    expect(inflateWorkers()).toBe(0);
  });

  it('an open DEFLATE raster holds the workers and closing it lets them go', async () => {
    const file = await RasterFile.open(REAL_COG);
    try {
      const px = await file.readWindow(0, [500, 500, 504, 504]);
      expect(px.length).toBe(16);
      expect(px.some((v) => v > 0)).toBe(true);
      expect(inflateWorkers()).toBeGreaterThan(0);
    } finally {
      await file.close();
    }
    expect(inflateWorkers()).toBe(0);
  });

  it('lets a process that used it end as soon as its work is done, even with the lease kept', () => {
    const script = `
      import { deflateSync } from 'node:zlib';
      import { leaseInflatePool } from './edge/imagery/inflate-pool.ts';
      const raw = Buffer.alloc(100000, 7);
      const out = await leaseInflatePool().inflate(new Uint8Array(deflateSync(raw)).slice().buffer, raw.length);
      console.log('inflated', new Uint8Array(out, 0, raw.length).every((v) => v === 7));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../../..', import.meta.url).pathname,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.signal).toBeNull(); // not killed by the timeout: nothing held the process
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('inflated true');
    expect(r.status).toBe(0);
  }, 30_000);
});
