// How much of a field its management zones cover, and the zones clipped to the field. Zones come
// from a scene's valid pixels: a cloud or its shadow leaves part of the field in no zone, and a
// pixel whose centre lies in the field reaches up to half a pixel past its boundary. A
// prescription made from the zones alone would give the masked part nothing and spread past the
// boundary; with the field's boundary (the farm manifest's) every zone is cut to the field and the
// rest of the field — the field minus the zones — is named, so the exports can give it a default
// rate. Clipping is `polygon-clipping`'s (a Martinez–Rueda–Feito sweep line in lon/lat); areas are
// exact on the same authalic sphere as the imagery's pixel areas (edge/imagery/fields.ts,
// pixelAreaM2) for edges straight in lon/lat, so a lon/lat cell measures what the imagery measured
// for it and the pieces of a field add up to the field.
import polygonClipping from 'polygon-clipping';
import type { MultiPolygon as ClipMultiPolygon, Polygon as ClipPolygon } from 'polygon-clipping';
import { HatakeError } from '../../protocol/errors.ts';
import type { Coverage, MultiPolygonGeometry, PolygonGeometry } from '../../protocol/recommendation.ts';

/** The radius of the sphere with the WGS84 ellipsoid's area, in metres (as pixelAreaM2 uses). */
export const AUTHALIC_RADIUS_M = 6371007.2;

type Ring = number[][];

/**
 * The signed area of a lon/lat ring on the unit sphere, its edges taken as straight lines in
 * lon/lat — as polygon-clipping cuts them, so the pieces of a cut field add up to the field
 * exactly. Green's theorem with area element cos φ dφ dλ: A = −∮ sin φ dλ, and along a straight
 * edge ∫ sin φ dλ = Δλ · sin φₘ · sinc(Δφ/2) (φₘ the edge's mean latitude). A lon/lat rectangle
 * gets Δλ · (sin φ₁ − sin φ₀): the imagery's pixel area. (Per-vertex approximations such as
 * Chamberlain & Duquette's, @turf/area's, are not additive when an edge is split: the pieces of a
 * clipped field would miss it by ~10⁻⁶.) Positive for counter-clockwise rings.
 */
function ringArea(ring: Ring): number {
  const rad = Math.PI / 180;
  let s = 0;
  for (let i = 0; i + 1 < ring.length; i++) {
    const [l1, p1] = [ring[i]![0]! * rad, ring[i]![1]! * rad];
    const [l2, p2] = [ring[i + 1]![0]! * rad, ring[i + 1]![1]! * rad];
    const h = (p2 - p1) / 2;
    s -= (l2 - l1) * Math.sin((p1 + p2) / 2) * (h === 0 ? 1 : Math.sin(h) / h);
  }
  return s;
}

/** The area of a Polygon's or MultiPolygon's coordinates in m²: outer rings less their holes. */
export function areaM2(geometry: PolygonGeometry | MultiPolygonGeometry): number {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  let a = 0;
  for (const [outer, ...holes] of polys) {
    a += Math.abs(ringArea(outer!));
    for (const h of holes) a -= Math.abs(ringArea(h));
  }
  return a * AUTHALIC_RADIUS_M * AUTHALIC_RADIUS_M;
}

/** m² in ha to 7 decimals (10 cm²), as the imagery writes zone areas. */
const ha7 = (m2: number) => Math.round(m2 * 1e3) / 1e7 || 0;

const asClip = (g: PolygonGeometry | MultiPolygonGeometry): ClipMultiPolygon =>
  (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as ClipMultiPolygon;

/** Coordinates rounded to 1/perDegree of a degree. */
const snapTo = (mp: ClipMultiPolygon, perDegree: number): ClipMultiPolygon =>
  mp.map((poly) =>
    poly.map((ring) =>
      ring.map(([x, y]) => [Math.round(x * perDegree) / perDegree, Math.round(y * perDegree) / perDegree]),
    ),
  ) as ClipMultiPolygon;

/**
 * Runs polygon-clipping operations with every input passed through `snap`: exact first, then
 * snapped to 1e-9° (0.1 mm) and 1e-8° (1 mm, the imagery writes 8 decimals). polygon-clipping has
 * open robustness bugs on nearly coincident edges ("Unable to complete output ring",
 * mfogel/polygon-clipping#91, #139) that coordinates snapped to a grid avoid. Throws the last
 * failure when none succeeds.
 */
export function clipRobustly<T>(run: (snap: (mp: ClipMultiPolygon) => ClipMultiPolygon) => T): T {
  let failure: unknown;
  for (const perDegree of [0, 1e9, 1e8]) {
    try {
      return run(perDegree ? (mp) => snapTo(mp, perDegree) : (mp) => mp);
    } catch (e) {
      failure = e;
    }
  }
  throw failure;
}

const asGeometry = (mp: ClipMultiPolygon): MultiPolygonGeometry | null =>
  mp.length === 0 ? null : { type: 'MultiPolygon', coordinates: mp as ClipPolygon[] };

export interface ClippedZones {
  /** Each zone's geometry cut to the field, in the zones' order. */
  geometry: MultiPolygonGeometry[];
  /** Each clipped zone's area in ha (7 decimals). */
  areaHa: number[];
  coverage: Coverage;
}

function checkBoundary(boundary: PolygonGeometry | MultiPolygonGeometry, field: string): void {
  const polys = boundary.type === 'Polygon' ? [boundary.coordinates] : boundary.coordinates;
  for (const poly of polys)
    for (const ring of poly) {
      const bad = ring.some(
        (p) =>
          p.length !== 2 ||
          !Number.isFinite(p[0]) ||
          !Number.isFinite(p[1]) ||
          Math.abs(p[0]!) > 180 ||
          Math.abs(p[1]!) > 90,
      );
      const a = ring[0]!;
      const b = ring[ring.length - 1]!;
      if (bad || ring.length < 4 || a[0] !== b[0] || a[1] !== b[1])
        throw new HatakeError(
          'HATAKE_E_FIELDS',
          `field ${field.slice(0, 200)}: the boundary is not a closed WGS84 polygon`,
          { expected: 'closed rings of [longitude, latitude]' },
        );
    }
}

/**
 * Cuts every zone to the field's boundary and says what of the field no zone covers. A zone that
 * lies wholly outside the boundary means the zones and the boundary are not of the same field (or
 * one of them moved): refused with HATAKE_E_FIELDS rather than prescribing for the wrong ground.
 */
export function clipZonesToField(
  field: string,
  boundary: PolygonGeometry | MultiPolygonGeometry,
  zones: { id: string; geometry: MultiPolygonGeometry }[],
): ClippedZones {
  checkBoundary(boundary, field);
  const cut = (snap: (mp: ClipMultiPolygon) => ClipMultiPolygon) => {
    // union() of the boundary with itself normalises it (orientation, closing, self-touching rings)
    const f = polygonClipping.union(snap(asClip(boundary)));
    const zs = zones.map((z) => snap(asClip(z.geometry)));
    return {
      fieldClean: f,
      clipped: zs.map((z) => polygonClipping.intersection(f, z)),
      uncovered: zs.length ? polygonClipping.difference(f, ...zs) : f,
    };
  };
  let result: ReturnType<typeof cut>;
  try {
    result = clipRobustly(cut);
  } catch (failure) {
    throw new HatakeError(
      'HATAKE_E_FIELDS',
      `field ${field.slice(0, 200)}: cannot cut the zones to the boundary: ${String((failure as Error)?.message).slice(0, 200)}`,
    );
  }
  const { fieldClean, clipped, uncovered } = result;
  const fieldGeometry = asGeometry(fieldClean);
  if (!fieldGeometry)
    throw new HatakeError('HATAKE_E_FIELDS', `field ${field.slice(0, 200)}: the boundary encloses no area`);
  const geometry: MultiPolygonGeometry[] = [];
  const areaHa: number[] = [];
  clipped.forEach((mp, k) => {
    const g = asGeometry(mp);
    const a = g ? ha7(areaM2(g)) : 0;
    if (!g || a <= 0)
      throw new HatakeError(
        'HATAKE_E_FIELDS',
        `zone ${zones[k]!.id.slice(0, 100)} lies outside the boundary of field ${field.slice(0, 200)}`,
        { expected: "zones of the field's own scene, inside its boundary" },
      );
    geometry.push(g);
    areaHa.push(a);
  });
  const rest = asGeometry(uncovered);
  return {
    geometry,
    areaHa,
    coverage: {
      field: fieldGeometry,
      fieldAreaHa: ha7(areaM2(fieldGeometry)),
      uncovered: rest,
      uncoveredAreaHa: rest ? ha7(areaM2(rest)) : 0,
    },
  };
}
