// Refuses oversized MQTT packets before they are buffered. aedes's parser (mqtt-packet) would
// collect a packet of any declared length in memory; this guard reads each packet's fixed header
// as bytes arrive and closes the connection as soon as a packet declares more than the limit.
import type { Duplex } from 'node:stream';

/**
 * Watches the bytes a connection delivers (a 'data' listener sees exactly the chunks aedes reads)
 * and destroys the connection when a packet's declared length exceeds `maxBytes`.
 */
export function guardPacketSize(
  conn: Duplex,
  maxBytes: number,
  onOversize: (declared: number) => void,
): void {
  let skip = 0; // bytes of the current packet's body still to pass
  let header: number[] = []; // type byte + remaining-length varint, as collected so far
  conn.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++]!;
      header.push(byte);
      if (header.length === 1) continue;
      if (byte & 0x80) {
        if (header.length === 5) {
          // A remaining length longer than four bytes is malformed MQTT.
          onOversize(Infinity);
          conn.destroy();
          return;
        }
        continue;
      }
      let length = 0;
      for (let k = header.length - 1; k >= 1; k--) length = length * 128 + (header[k]! & 0x7f);
      const total = length + header.length;
      header = [];
      if (total > maxBytes) {
        onOversize(total);
        conn.destroy();
        return;
      }
      skip = length;
    }
  });
}
