// The classic N-response baseline: a quadratic-plateau fit of yield on N rate alone,
//   y = a + b·x + c·x² for x < x0, and a + b·x0 + c·x0² beyond, with the join smooth (c = −b/(2·x0)).
// For a fixed join x0 the model is linear in (a, b), so the least-squares fit profiles x0 over a
// fine grid and solves (a, b) in closed form at each point: no starting values, no local minima.

export interface QuadraticPlateau {
  a: number;
  b: number;
  c: number;
  /** The N rate where the plateau begins. */
  x0: number;
  plateau: number;
  predict(x: number): number;
}

/** Fits a quadratic-plateau curve; throws if x has fewer than three distinct values. */
export function fitQuadraticPlateau(x: number[], y: number[], gridSteps = 400): QuadraticPlateau {
  const distinct = new Set(x).size;
  if (distinct < 3 || x.length !== y.length) throw new RangeError('need at least three distinct N rates');
  const xMin = Math.min(...x);
  const xMax = Math.max(...x);
  let best: { sse: number; a: number; b: number; x0: number } | undefined;
  // x0 beyond xMax means "no plateau within the data": allow up to 2·xMax.
  const lo = xMin + (xMax - xMin) / gridSteps;
  const hi = xMax * 2;
  for (let k = 0; k <= gridSteps; k++) {
    const x0 = lo + ((hi - lo) * k) / gridSteps;
    // g(x) = x − x²/(2·x0) below x0, x0/2 above: y = a + b·g(x)
    let n = 0,
      sg = 0,
      sy = 0,
      sgg = 0,
      sgy = 0;
    for (let i = 0; i < x.length; i++) {
      const xi = x[i]!;
      const g = xi < x0 ? xi - (xi * xi) / (2 * x0) : x0 / 2;
      n++;
      sg += g;
      sy += y[i]!;
      sgg += g * g;
      sgy += g * y[i]!;
    }
    const den = n * sgg - sg * sg;
    if (Math.abs(den) < 1e-12) continue;
    const b = (n * sgy - sg * sy) / den;
    if (b < 0) continue; // a falling response has no plateau worth the name
    const a = (sy - b * sg) / n;
    let sse = 0;
    for (let i = 0; i < x.length; i++) {
      const xi = x[i]!;
      const g = xi < x0 ? xi - (xi * xi) / (2 * x0) : x0 / 2;
      sse += (y[i]! - a - b * g) ** 2;
    }
    if (!best || sse < best.sse) best = { sse, a, b, x0 };
  }
  if (!best) throw new RangeError('no quadratic-plateau fit with a rising response');
  const { a, b, x0 } = best;
  const c = -b / (2 * x0);
  const plateau = a + b * x0 + c * x0 * x0;
  return { a, b, c, x0, plateau, predict: (v) => (v < x0 ? a + b * v + c * v * v : plateau) };
}
