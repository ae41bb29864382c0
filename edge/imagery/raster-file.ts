// Reading GeoTIFF and Cloud-Optimized GeoTIFF files with geotiff.js: the grid (size, geotransform,
// CRS from the GeoKeys), the sample type, no-data, and windows of one band at a time, in bounded
// memory. geotiff.js decodes the blocks (any compression, predictors, odd bit depths); we copy
// them into the window with typed-array row copies, which is several times faster than
// geotiff.js's per-pixel DataView loop in readRasters. Truncated or corrupt files are refused
// with an error naming the file: the file source zero-fills a short read (as geotiff.js's does),
// so without the size check a truncated file would silently read as no-data.
import { close, open, read, statSync } from 'node:fs';
import { GeoTIFF, BaseDecoder, type GeoTIFFImage } from 'geotiff';
import { checkTiffHeader } from './tiff-header.ts';
import { leaseInflatePool, type InflateLease } from './inflate-pool.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { crsOf, type Crs } from './crs.ts';

// DEFLATE through Node's zlib instead of pako: the same bytes out, several times faster, and off
// the event loop — blocks inflate on worker threads (inflate-pool.ts), on every core, while the
// event loop copies the ones already done. Each open file with DEFLATE blocks holds a lease on
// the workers until it is closed. geotiff.js applies the TIFF predictor after decodeBlock.
class ZlibDeflateDecoder extends BaseDecoder {
  private readonly lease: InflateLease;
  private readonly expected: number;

  constructor(params: DecoderParams, lease: InflateLease) {
    super(params as never);
    this.lease = lease;
    const bits =
      typeof params.bitsPerSample === 'number' ? [params.bitsPerSample] : Array.from(params.bitsPerSample);
    const bytesPerPixel =
      params.planarConfiguration === 2 ? (bits[0] ?? 16) / 8 : bits.reduce((x, y) => x + y, 0) / 8;
    this.expected = Math.ceil(params.tileWidth * params.tileHeight * bytesPerPixel);
  }

  override async decodeBlock(buffer: ArrayBufferLike): Promise<ArrayBufferLike> {
    // The file source reads each block into a buffer of its own, which moves to the worker;
    // anything else is copied first.
    const own = buffer instanceof ArrayBuffer ? buffer : new Uint8Array(buffer).slice().buffer;
    return this.lease.inflate(own, this.expected);
  }

  close(): void {
    this.lease.release();
  }
}

interface DecoderParams {
  tileWidth: number;
  tileHeight: number;
  planarConfiguration: number;
  bitsPerSample: number | ArrayLike<number>;
  predictor: number;
}

/**
 * geotiff.js's file source (`fromFile`), reading into uninitialised buffers: geotiff's zero-fills
 * each block's buffer on the event loop before reading over it. Bytes past the end of the file
 * still read as zeros.
 */
class FileSource {
  private readonly fd: Promise<number>;

  constructor(path: string) {
    this.fd = new Promise((resolve, reject) => open(path, 'r', (e, fd) => (e ? reject(e) : resolve(fd))));
    this.fd.catch(() => undefined); // reported by the first fetch
  }

  async fetch(slices: readonly { offset: number; length: number }[]): Promise<ArrayBuffer[]> {
    const fd = await this.fd;
    return Promise.all(slices.map(({ offset, length }) => readAt(fd, offset, length)));
  }

  async close(): Promise<void> {
    const fd = await this.fd;
    await new Promise<void>((resolve, reject) => close(fd, (e) => (e ? reject(e) : resolve())));
  }
}

function readAt(fd: number, offset: number, length: number): Promise<ArrayBuffer> {
  const buf = Buffer.allocUnsafeSlow(length); // its own ArrayBuffer, exactly `length` bytes
  return new Promise((resolve, reject) => {
    const more = (got: number): void => {
      if (got >= length) return resolve(buf.buffer as ArrayBuffer);
      read(fd, buf, got, length - got, offset + got, (e, n) => {
        if (e) return reject(e);
        if (n === 0) {
          buf.fill(0, got);
          return resolve(buf.buffer as ArrayBuffer);
        }
        more(got + n);
      });
    };
    more(0);
  });
}

/**
 * Decoded blocks shared by the reads of one pass — say, the windows of one strip: a block that
 * several windows (or the bands of a pixel-interleaved file) need is decoded once, and the
 * blocks go when the pass lets go of the cache, so memory holds one pass's blocks at most.
 */
export class BlockCache {
  private readonly files = new Map<RasterFile, Map<number, Promise<ArrayBufferLike>>>();

  get(file: RasterFile, key: number, load: () => Promise<ArrayBufferLike>): Promise<ArrayBufferLike> {
    let blocks = this.files.get(file);
    if (!blocks) this.files.set(file, (blocks = new Map()));
    let p = blocks.get(key);
    if (!p) {
      blocks.set(key, (p = load()));
      p.catch(() => undefined); // the readers that asked for it see the error
    }
    return p;
  }
}

export type Samples =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** A north-up grid: pixel (col, row) covers [x0 + col·dx, x0 + (col+1)·dx] × [y0 − (row+1)·dy, y0 − row·dy]. */
export interface Grid {
  width: number;
  height: number;
  /** Top-left corner of the top-left pixel, in CRS units. */
  x0: number;
  y0: number;
  /** Pixel size (positive) in CRS units. */
  dx: number;
  dy: number;
  crs: Crs;
}

/** A pixel window [col0, row0, col1, row1) (end exclusive). */
export type Window = readonly [number, number, number, number];

interface Decoder {
  decode(buffer: ArrayBufferLike): Promise<ArrayBufferLike>;
  close?(): void;
}

/** One opened GeoTIFF file (its first, full-resolution image). */
export class RasterFile {
  readonly path: string;
  readonly grid: Grid;
  readonly bandCount: number;
  readonly nodata: number | null;
  /** geotiff SampleFormat (1 uint, 2 int, 3 float) and bits of the first sample. */
  readonly sampleFormat: number;
  readonly bitsPerSample: number;
  /** Description of the sample type, e.g. "uint16". */
  readonly dtype: string;
  private readonly tiff: GeoTIFF;
  private readonly image: GeoTIFFImage;
  private readonly decoder: Decoder;
  private readonly blockWidth: number;
  /** Rows per tile or strip: windows aligned to it decode each block once. */
  readonly blockHeight: number;
  private readonly blocksAcross: number;
  private readonly blocksDown: number;
  /** Blocks of the latest window read without a cache of the caller's. */
  private lastWindow = { key: '', cache: new BlockCache() };

  private constructor(
    path: string,
    tiff: GeoTIFF,
    image: GeoTIFFImage,
    decoder: Decoder,
    grid: Grid,
    sampleFormat: number,
    bits: number,
  ) {
    this.path = path;
    this.tiff = tiff;
    this.image = image;
    this.decoder = decoder;
    this.grid = grid;
    this.bandCount = image.getSamplesPerPixel();
    this.nodata = image.getGDALNoData();
    this.sampleFormat = sampleFormat;
    this.bitsPerSample = bits;
    this.dtype = `${sampleFormat === 3 ? 'float' : sampleFormat === 2 ? 'int' : 'uint'}${bits}`;
    this.blockWidth = image.getTileWidth();
    this.blockHeight = image.getTileHeight();
    this.blocksAcross = Math.ceil(grid.width / this.blockWidth);
    this.blocksDown = Math.ceil(grid.height / this.blockHeight);
  }

  /** Opens and checks a GeoTIFF; throws HATAKE_E_IMAGERY_FILE / _CRS naming the file. */
  static async open(path: string): Promise<RasterFile> {
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (e) {
      throw fileError(path, `cannot read the file: ${(e as Error).message}`);
    }
    if (size < 8) throw fileError(path, `the file is ${size} bytes, too short to be a TIFF`);
    const broken = checkTiffHeader(path, size);
    if (broken) throw fileError(path, `not a readable TIFF: ${broken}`);
    let tiff: GeoTIFF;
    let image: GeoTIFFImage;
    const source = new FileSource(path);
    try {
      tiff = await GeoTIFF.fromSource(source as never);
      image = await tiff.getImage(0);
    } catch (e) {
      await source.close().catch(() => undefined);
      throw fileError(path, `not a readable TIFF: ${(e as Error).message}`);
    }
    try {
      const fd = image.fileDirectory;
      const width = image.getWidth();
      const height = image.getHeight();
      if (!(width > 0 && height > 0)) throw fileError(path, `image size ${width}×${height} is empty`);
      // Every block must lie inside the file.
      const tiled = image.isTiled;
      const offsets = (await fd.loadValue(tiled ? 'TileOffsets' : 'StripOffsets')) as
        ArrayLike<number> | undefined;
      const counts = (await fd.loadValue(tiled ? 'TileByteCounts' : 'StripByteCounts')) as
        ArrayLike<number> | undefined;
      if (!offsets || !counts || offsets.length !== counts.length || offsets.length === 0) {
        throw fileError(path, 'the TIFF has no (or inconsistent) strip/tile offsets');
      }
      let end = 0;
      for (let i = 0; i < offsets.length; i++) {
        const e = Number(offsets[i]) + Number(counts[i]);
        if (e > end) end = e;
      }
      if (end > size) {
        throw fileError(
          path,
          `truncated: image data runs to byte ${end} but the file has ${size} bytes`,
          'the complete file',
        );
      }
      const bitsAll = (await fd.loadValue('BitsPerSample')) as ArrayLike<number> | number | undefined;
      const bitsList = typeof bitsAll === 'number' ? [bitsAll] : Array.from(bitsAll ?? [8]);
      const bits = bitsList[0] ?? 8;
      const bands = image.getSamplesPerPixel();
      // BitsPerSample (and SampleFormat, when present) hold one value per band; fewer would leave
      // a band with no format, which geotiff only finds out when the band is read.
      if (bitsList.length < bands)
        throw fileError(
          path,
          `SamplesPerPixel is ${bands} but BitsPerSample has ${bitsList.length} value(s)`,
          'one BitsPerSample value per band',
        );
      if (bitsList.some((b) => b !== bits))
        throw fileError(path, 'bands of different bit depths in one file');
      const sampleFormat = image.getSampleFormat(0);
      if (![1, 2, 3].includes(sampleFormat))
        throw fileError(path, `unsupported sample format ${sampleFormat}`);
      for (let b = 1; b < bands; b++)
        if (image.getSampleFormat(b) !== sampleFormat)
          throw fileError(
            path,
            `band ${b + 1} has sample format ${String(image.getSampleFormat(b))}, band 1 has ${sampleFormat}`,
            'one sample format for every band',
          );

      let origin: number[];
      let res: number[];
      try {
        origin = image.getOrigin();
        res = image.getResolution();
      } catch {
        throw fileError(path, 'no georeferencing (no tie point / pixel scale / transformation)', 'a GeoTIFF');
      }
      const mt = fd.getValue('ModelTransformation') as ArrayLike<number> | undefined;
      if (mt && (mt[1] !== 0 || mt[4] !== 0)) {
        throw new HatakeError('HATAKE_E_IMAGERY_GRID', 'the raster is rotated or sheared', {
          place: { file: path },
          expected: 'a north-up grid',
        });
      }
      const dx = res[0]!;
      const dy = -res[1]!;
      if (!(dx > 0 && dy > 0 && Number.isFinite(origin[0]) && Number.isFinite(origin[1]))) {
        throw new HatakeError('HATAKE_E_IMAGERY_GRID', `unusable pixel size ${dx}×${dy}`, {
          place: { file: path },
          expected: 'a north-up grid with positive pixel size',
        });
      }
      const keys = image.getGeoKeys() ?? {};
      const code = (keys.ProjectedCSTypeGeoKey ?? keys.GeographicTypeGeoKey) as number | undefined;
      const crs = crsOf(code === 32767 ? undefined : code, path);
      let x0 = origin[0]!;
      let y0 = origin[1]!;
      // PixelIsPoint: the tie point is a pixel centre; GDAL shifts by half a pixel, so do we.
      if (keys.GTRasterTypeGeoKey === 2) {
        x0 -= dx / 2;
        y0 += dy / 2;
      }
      const compression = (fd.getValue('Compression') as number | undefined) ?? 1;
      const { getDecoder } = await import('geotiff');
      const params: DecoderParams = {
        tileWidth: image.getTileWidth(),
        tileHeight: image.getTileHeight(),
        planarConfiguration: image.planarConfiguration,
        bitsPerSample: bitsAll ?? bitsList,
        predictor: ((await fd.loadValue('Predictor')) as number | undefined) ?? 1,
      };
      let decoder: Decoder;
      try {
        decoder =
          compression === 8 || compression === 32946
            ? new ZlibDeflateDecoder(params, leaseInflatePool())
            : ((await getDecoder(compression, params as never)) as unknown as Decoder);
      } catch (e) {
        throw fileError(path, `unsupported compression: ${(e as Error).message}`);
      }
      return new RasterFile(
        path,
        tiff,
        image,
        decoder,
        { width, height, x0, y0, dx, dy, crs },
        sampleFormat,
        bits,
      );
    } catch (e) {
      await Promise.resolve(tiff.close()).catch(() => undefined);
      if (e instanceof HatakeError) throw e;
      throw fileError(path, `unreadable TIFF structure: ${(e as Error).message}`);
    }
  }

  /**
   * Reads one band (0-based) over a window into a new typed array of the band's type. Blocks come
   * from `cache` when given; otherwise the blocks of the latest window are kept, so reading its
   * other bands from a pixel-interleaved file does not decode them again.
   */
  async readWindow(band: number, win: Window, cache?: BlockCache): Promise<Samples> {
    const [c0, r0, c1, r1] = win;
    const { width, height } = this.grid;
    if (!(band >= 0 && band < this.bandCount)) {
      throw new HatakeError('HATAKE_E_IMAGERY_BANDS', `band ${band + 1} does not exist`, {
        place: { file: this.path },
        expected: `a band 1–${this.bandCount}`,
      });
    }
    if (c0 < 0 || r0 < 0 || c1 > width || r1 > height || c1 <= c0 || r1 <= r0) {
      throw new RangeError(`window ${win.join(',')} outside ${width}×${height}`);
    }
    const w = c1 - c0;
    let out: Samples;
    try {
      out = this.image.getArrayForSample(band, w * (r1 - r0)) as Samples;
    } catch (e) {
      throw fileError(this.path, `band ${band + 1}: ${(e as Error).message}`);
    }
    const bw = this.blockWidth;
    const bh = this.blockHeight;
    const planar = this.image.planarConfiguration;
    const spp = planar === 1 ? this.bandCount : 1;
    if (!cache) {
      const key = win.join(',');
      if (key !== this.lastWindow.key) this.lastWindow = { key, cache: new BlockCache() };
      cache = this.lastWindow.cache;
    }
    const sample = planar === 2 ? band : 0;
    const jobs: Promise<void>[] = [];
    for (let by = Math.floor(r0 / bh); by * bh < r1; by++) {
      for (let bx = Math.floor(c0 / bw); bx * bw < c1; bx++) {
        const key = (sample * this.blocksDown + by) * this.blocksAcross + bx;
        jobs.push(
          cache
            .get(this, key, () => this.block(bx, by, sample))
            .then((data) => {
              const src = this.samplesOf(data, band, spp);
              const y0 = Math.max(r0, by * bh);
              const y1 = Math.min(r1, by * bh + bh, height);
              const x0 = Math.max(c0, bx * bw);
              const x1 = Math.min(c1, bx * bw + bw);
              const n = x1 - x0;
              for (let y = y0; y < y1; y++) {
                const s = (y - by * bh) * bw + (x0 - bx * bw);
                const o = (y - r0) * w + (x0 - c0);
                if (spp === 1) {
                  out.set(src.subarray(s, s + n) as never, o);
                } else {
                  for (let i = 0, si = s * spp + band; i < n; i++, si += spp) out[o + i] = src[si]!;
                }
              }
            }),
        );
      }
    }
    await Promise.all(jobs);
    return out;
  }

  private async block(bx: number, by: number, sample: number): Promise<ArrayBufferLike> {
    let data: ArrayBufferLike;
    try {
      data = (await this.image.getTileOrStrip(bx, by, sample, this.decoder as never)).data;
    } catch (e) {
      throw fileError(this.path, `corrupt data in block (${bx}, ${by}): ${(e as Error).message}`);
    }
    // Host byte order, once per block.
    const bytes = this.bitsPerSample / 8;
    if (!this.image.littleEndian && bytes > 1) {
      const u8 = new Uint8Array(data.slice(0));
      for (let i = 0; i + bytes <= u8.length; i += bytes) u8.subarray(i, i + bytes).reverse();
      data = u8.buffer;
    }
    return data;
  }

  /** A typed view of a decoded block (no copy); decoders may hand back a buffer with spare bytes at its end. */
  private samplesOf(data: ArrayBufferLike, band: number, spp: number): Samples {
    const Ctor = this.image.getArrayForSample(band, 0).constructor as {
      new (b: ArrayBufferLike, o: number, n: number): Samples;
      BYTES_PER_ELEMENT: number;
    };
    const n = Math.min(
      Math.floor(data.byteLength / Ctor.BYTES_PER_ELEMENT),
      this.blockWidth * this.blockHeight * spp,
    );
    return new Ctor(data, 0, n);
  }

  async close(): Promise<void> {
    this.decoder.close?.();
    await Promise.resolve(this.tiff.close());
  }
}

function fileError(file: string, message: string, expected = 'a valid GeoTIFF'): HatakeError {
  return new HatakeError('HATAKE_E_IMAGERY_FILE', message, { place: { file }, expected });
}
