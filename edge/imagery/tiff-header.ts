// A guard in front of geotiff.js: walks a TIFF's image file directories and refuses any entry
// that claims more values than the file can hold. geotiff.js trusts those counts and would
// allocate for them first (a 67-million-value BitsPerSample took 1.3 GB before failing) — a
// gateway on a Pi would be killed for memory by one broken or hostile scene.
import { closeSync, openSync, readSync } from 'node:fs';
import { globals } from 'geotiff';

/** Bytes per value of each TIFF field type (TIFF 6.0 and BigTIFF), as geotiff.js knows them. */
const TYPE_SIZE = globals.fieldTypeSizes as Record<number, number>;
const MAX_IFDS = 64;

/** Returns a reason when the header cannot be right, or undefined when it is plausible. */
export function checkTiffHeader(path: string, fileSize: number): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const read = (offset: number, length: number): Buffer => {
      const b = Buffer.alloc(length);
      const n = readSync(fd, b, 0, length, offset);
      if (n < length) throw new RangeError(`header runs past the end of the file at byte ${offset + n}`);
      return b;
    };
    const head = read(0, 16 <= fileSize ? 16 : 8);
    const order = head.toString('latin1', 0, 2);
    if (order !== 'II' && order !== 'MM') return 'not a TIFF (no II/MM byte-order mark)';
    const le = order === 'II';
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u64 = (b: Buffer, o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
    const version = u16(head, 2);
    if (version !== 42 && version !== 43) return `not a TIFF (version ${version})`;
    const big = version === 43;
    if (big && head.length < 16) return 'BigTIFF header is truncated';
    let ifd = big ? u64(head, 8) : u32(head, 4);
    const seen = new Set<number>();
    for (let n = 0; ifd !== 0; n++) {
      if (n >= MAX_IFDS) return `more than ${MAX_IFDS} image directories`;
      if (seen.has(ifd)) return `image directories loop back to byte ${ifd}`;
      seen.add(ifd);
      if (ifd >= fileSize)
        return `image directory at byte ${ifd} is past the end of the file (${fileSize} bytes)`;
      const countSize = big ? 8 : 2;
      const entrySize = big ? 20 : 12;
      const entries = big ? u64(read(ifd, 8), 0) : u16(read(ifd, 2), 0);
      if (ifd + countSize + entries * entrySize > fileSize)
        return `image directory at byte ${ifd} claims ${entries} entries, more than the file holds`;
      const block = read(ifd + countSize, entries * entrySize + (big ? 8 : 4));
      for (let i = 0; i < entries; i++) {
        const o = i * entrySize;
        const tag = u16(block, o);
        const type = u16(block, o + 2);
        const count = big ? u64(block, o + 4) : u32(block, o + 4);
        const bytes = count * (TYPE_SIZE[type] ?? 1);
        if (bytes > fileSize)
          return `tag ${tag} claims ${count} values (${bytes} bytes), more than the whole file (${fileSize} bytes)`;
      }
      ifd = big ? u64(block, entries * entrySize) : u32(block, entries * entrySize);
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    closeSync(fd);
  }
}
