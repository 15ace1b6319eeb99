/**
 * The gain of an activation f: the factor g with Var[g·f(Z)] = 1 for Z ~ N(0, 1), that is
 * g = 1/√E[f(Z)²] (note 002). Initialisers multiply their standard deviation by it so that a
 * layer followed by f keeps unit-scale activations.
 *
 * E[f(Z)²] = ∫ f(x)² φ(x) dx is computed by composite Gauss–Legendre quadrature: 16 nodes on
 * each unit panel [k, k + 1] of [−12, 12]. Panel edges fall on the integers, so a kink at 0
 * (ReLU, leaky ReLU) is never inside a panel; on each panel the integrand is analytic and the
 * rule is exact for polynomials of degree 31, which puts the quadrature error below 1e-15
 * for tanh (poles at ±iπ/2, far from every panel) and the piecewise-linear activations. The
 * mass beyond ±12 is 2∫₁₂^∞ x²φ < 1e-30. So the result is accurate to ~1e-14 relative when f
 * is exact; an f evaluated in float32 moves it by about its own relative error.
 */

/** Gauss–Legendre nodes and weights on [−1, 1], by Newton's method on Pₙ. */
function gaussLegendre(n: number): { nodes: Float64Array; weights: Float64Array } {
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    // Tricomi's initial guess for the i-th root, then Newton on the three-term recurrence.
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let iter = 0; iter < 100; iter++) {
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= n; k++) {
        const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (n * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    nodes[i] = -x;
    nodes[n - 1 - i] = x;
    const w = 2 / ((1 - x * x) * dp * dp);
    weights[i] = w;
    weights[n - 1 - i] = w;
  }
  return { nodes, weights };
}

const PANEL_NODES = 16;
const HALF_RANGE = 12;
const INV_SQRT_2PI = 0.3989422804014327;

/** Quadrature nodes on [−12, 12] and their weights times φ(x). */
function normalRule(): { x: Float64Array; w: Float64Array } {
  const { nodes, weights } = gaussLegendre(PANEL_NODES);
  const panels = 2 * HALF_RANGE;
  const x = new Float64Array(panels * PANEL_NODES);
  const w = new Float64Array(panels * PANEL_NODES);
  for (let p = 0; p < panels; p++) {
    const centre = -HALF_RANGE + p + 0.5;
    for (let i = 0; i < PANEL_NODES; i++) {
      const xi = centre + 0.5 * nodes[i];
      x[p * PANEL_NODES + i] = xi;
      w[p * PANEL_NODES + i] = 0.5 * weights[i] * INV_SQRT_2PI * Math.exp(-0.5 * xi * xi);
    }
  }
  return { x, w };
}

let rule: { x: Float64Array; w: Float64Array } | undefined;

/** E[f(Z)²] for Z ~ N(0, 1); f is called once, on all the quadrature nodes. */
export async function secondMoment(
  f: (x: Float64Array) => Promise<Float64Array> | Float64Array,
): Promise<number> {
  rule ??= normalRule();
  const y = await f(rule.x.slice());
  if (y.length !== rule.x.length) {
    throw new RangeError(`secondMoment: f returned ${y.length} values for ${rule.x.length} nodes`);
  }
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += rule.w[i] * y[i] * y[i];
  return sum;
}

/** The gain 1/√E[f(Z)²], Z ~ N(0, 1): about 1.5927 for tanh, √2 for ReLU, 1 for the identity. */
export async function activationGain(
  f: (x: Float64Array) => Promise<Float64Array> | Float64Array,
): Promise<number> {
  return 1 / Math.sqrt(await secondMoment(f));
}
