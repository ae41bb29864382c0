// An inflate worker (edge/imagery/inflate-pool.ts): DEFLATE blocks in, inflated blocks out, both
// moved (transferred), never copied. Plain JavaScript with no imports of ours, so a worker starts
// in a few milliseconds without the TypeScript loader.
import { parentPort } from 'node:worker_threads';
import { inflateSync } from 'node:zlib';

parentPort.on('message', ({ id, data, expected }) => {
  try {
    // One output chunk a little larger than the block: zlib inflates into it in one go (an
    // exactly-sized chunk would make it allocate a second one to find the end of the stream), and
    // the block is that chunk with spare bytes at its end (readers take the block's length). A
    // block of another length is cut to it, so the reader sees what the stream held.
    // A stream that inflates past its block is corrupt or hostile (a "zip bomb"): stopped at the
    // chunk's end rather than allowed to take the worker's memory.
    const size = Math.max(64 * 1024, expected + 64);
    const out = inflateSync(new Uint8Array(data), { chunkSize: size, maxOutputLength: size });
    const buffer =
      out.byteOffset === 0 && (out.byteLength === expected || out.byteLength === out.buffer.byteLength)
        ? out.buffer
        : out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    parentPort.postMessage({ id, buffer }, [buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: { message: String(e?.message ?? e), code: e?.code } });
  }
});
