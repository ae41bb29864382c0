// Raster → polygons: the pixels of each label of a small grid become a multipolygon whose edges
// follow pixel borders exactly (so a zone's area is its pixel count times the pixel area, and
// zones tile the field without gaps or overlaps). Each pixel contributes the sides it does not
// share with a pixel of the same label, directed so the region lies on the left; the sides chain
// into rings — outer rings counter-clockwise and holes clockwise in map orientation (north up),
// as RFC 7946 asks. Where two pixels touch only at a corner the walk turns left, so regions are
// 4-connected and rings never cross. Holes go to the smallest outer ring that contains them.

/** A ring of [x, y] in pixel-corner coordinates (x = column, y = row), closed. */
export type PixelRing = [number, number][];
/** Polygons: outer ring first, then its holes. */
export type PixelPolygon = PixelRing[];

// Directions in map orientation (row grows downwards, so "up" is row − 1).
const DX = [1, 0, -1, 0]; // 0 east, 1 north, 2 west, 3 south
const DY = [0, -1, 0, 1];

/** Polygonizes every non-zero label; returns label → polygons. */
export function polygonize(
  labels: ArrayLike<number>,
  width: number,
  height: number,
): Map<number, PixelPolygon[]> {
  const byLabel = new Map<number, number[]>();
  for (let i = 0; i < width * height; i++) {
    const l = labels[i]!;
    if (l === 0) continue;
    let list = byLabel.get(l);
    if (!list) byLabel.set(l, (list = []));
    list.push(i);
  }
  const out = new Map<number, PixelPolygon[]>();
  for (const [label, pixels] of [...byLabel].sort((a, b) => a[0] - b[0])) {
    out.set(label, polygonizeLabel(labels, width, height, label, pixels));
  }
  return out;
}

function polygonizeLabel(
  labels: ArrayLike<number>,
  width: number,
  height: number,
  label: number,
  pixels: number[],
): PixelPolygon[] {
  const W = width + 1;
  // Outgoing directed edges per vertex (at most two: a corner shared diagonally).
  const out1 = new Int8Array(W * (height + 1)).fill(-1);
  const out2 = new Int8Array(W * (height + 1)).fill(-1);
  const add = (x: number, y: number, dir: number) => {
    const v = y * W + x;
    if (out1[v] === -1) out1[v] = dir;
    else out2[v] = dir;
  };
  const is = (x: number, y: number) =>
    x >= 0 && y >= 0 && x < width && y < height && labels[y * width + x] === label;
  let edges = 0;
  for (const p of pixels) {
    const x = p % width;
    const y = (p - x) / width;
    // Region on the left, map orientation: top side westwards, left side southwards,
    // bottom side eastwards, right side northwards.
    if (!is(x, y - 1)) {
      add(x + 1, y, 2);
      edges++;
    }
    if (!is(x - 1, y)) {
      add(x, y, 3);
      edges++;
    }
    if (!is(x, y + 1)) {
      add(x, y + 1, 0);
      edges++;
    }
    if (!is(x + 1, y)) {
      add(x + 1, y + 1, 1);
      edges++;
    }
  }
  const rings: PixelRing[] = [];
  // Preference at a vertex reached going `inDir`: left, then straight, then right.
  const rank = (d: number, inDir: number) => ((d - inDir + 4) % 4 === 1 ? 0 : d === inDir ? 1 : 2);
  const take = (v: number, inDir: number): number => {
    const a = out1[v]!;
    const b = out2[v]!;
    const pick = b === -1 || rank(a, inDir) <= rank(b, inDir) ? a : b;
    if (pick === a) out1[v] = b;
    out2[v] = -1;
    return pick;
  };
  let scan = 0;
  while (edges > 0) {
    // Start at the first vertex in raster order with an outgoing edge: a corner of its ring.
    while (scan < out1.length && out1[scan] === -1) scan++;
    if (scan === out1.length) break;
    const v0 = scan;
    const startDir = out1[v0]!;
    out1[v0] = out2[v0]!;
    out2[v0] = -1;
    edges--;
    const ring: PixelRing = [];
    let v = v0;
    let dir = startDir;
    let lastDir = -1;
    for (;;) {
      const x = v % W;
      const y = (v - x) / W;
      if (dir !== lastDir) ring.push([x, y]);
      lastDir = dir;
      v = (y + DY[dir]!) * W + (x + DX[dir]!);
      // Back at the start: close, unless the walk pairs with the start's other edge (a corner
      // the region touches twice, e.g. a C-shape meeting itself diagonally).
      if (v === v0 && (out1[v] === -1 || rank(startDir, dir) < rank(out1[v]!, dir))) break;
      if (out1[v] === -1) break; // cannot happen for a consistent edge set
      dir = take(v, dir);
      edges--;
    }
    if (lastDir === startDir && ring.length > 1) ring.shift();
    ring.push([ring[0]![0], ring[0]![1]]);
    rings.push(ring);
  }
  // Signed area in map orientation (y up = −row): positive → counter-clockwise → outer.
  const outers: { ring: PixelRing; area: number; holes: PixelRing[] }[] = [];
  const holes: PixelRing[] = [];
  for (const r of rings) {
    const a = signedArea(r);
    if (a > 0) outers.push({ ring: r, area: a, holes: [] });
    else holes.push(r);
  }
  for (const h of holes) {
    // A point just left of the hole's first side lies in the region, inside its outer ring.
    const [x1, y1] = h[0]!;
    const [x2, y2] = h[1]!;
    const d = dirOf(x2 - x1, y2 - y1);
    const left = (d + 1) % 4;
    const px = (x1 + x2) / 2 + DX[left]! * 0.25;
    const py = (y1 + y2) / 2 + DY[left]! * 0.25;
    let best: (typeof outers)[number] | undefined;
    for (const o of outers) {
      if ((!best || o.area < best.area) && pointInRing(px, py, o.ring)) best = o;
    }
    best?.holes.push(h);
  }
  return outers.map((o) => [o.ring, ...o.holes]);
}

function dirOf(dx: number, dy: number): number {
  if (dx > 0) return 0;
  if (dy < 0) return 1;
  if (dx < 0) return 2;
  return 3;
}

/** Shoelace area with y pointing up (= −row): positive for counter-clockwise rings. */
export function signedArea(ring: PixelRing): number {
  let s = 0;
  for (let i = 0; i + 1 < ring.length; i++) {
    const [x1, y1] = ring[i]!;
    const [x2, y2] = ring[i + 1]!;
    s += x1 * -y2 - x2 * -y1;
  }
  return s / 2;
}

function pointInRing(px: number, py: number, ring: PixelRing): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 2; i < ring.length - 1; j = i++) {
    const [xi, yi] = ring[i]!;
    const [xj, yj] = ring[j]!;
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
