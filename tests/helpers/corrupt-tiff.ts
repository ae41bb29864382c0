// A GeoTIFF whose header, grid and bands are sound but whose pixel data cannot be decoded: the
// Compression tag of its first image directory is changed to DEFLATE over data stored raw. It
// passes every check made without reading pixels (the server's upload checks, Scene.open) and
// fails only when the blocks are decoded — as a scene corrupted at its source would.
export function undecodableTiff(tiff: ArrayBuffer | Uint8Array): Buffer {
  const b = Buffer.from(new Uint8Array(tiff)); // a copy: the original stays sound
  const le = b.toString('latin1', 0, 2) === 'II';
  if (!le && b.toString('latin1', 0, 2) !== 'MM') throw new Error('not a TIFF');
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const ifd = le ? b.readUInt32LE(4) : b.readUInt32BE(4);
  for (let i = 0; i < u16(ifd); i++) {
    const entry = ifd + 2 + i * 12;
    if (u16(entry) !== 259) continue; // Compression, a SHORT held in the entry
    if (u16(entry + 8) !== 1) throw new Error('the TIFF is compressed already');
    if (le) b.writeUInt16LE(8, entry + 8);
    else b.writeUInt16BE(8, entry + 8);
    return b;
  }
  throw new Error('the TIFF has no Compression tag');
}
