/** neg, exp, log and the broadcasting binary ops add, sub, mul, div. */
import {
  broadcastIndex,
  broadcastShapes,
  type FloatArray,
  sizeOf,
  type Tensor,
} from "../tensor.ts";
import { type CpuKernels, type Ctx, mapUnary, mapUnaryVjp, zeros } from "./common.ts";

type ElementwiseOp =
  | "neg"
  | "neg_vjp"
  | "exp"
  | "exp_vjp"
  | "log"
  | "log_vjp"
  | "add"
  | "add_vjp"
  | "sub"
  | "sub_vjp"
  | "mul"
  | "mul_vjp"
  | "div"
  | "div_vjp";

/**
 * For each element of the broadcast result, the flat index it reads in `a` and in `b`; no maps
 * when both are the result's size (then each reads its own index: nothing is broadcast).
 */
interface Broadcast {
  shape: number[];
  maps?: { ia: Int32Array; ib: Int32Array };
}

function broadcast(a: Tensor, b: Tensor): Broadcast {
  const shape = broadcastShapes(a.shape, b.shape)!;
  const n = sizeOf(shape);
  if (a.data.length === n && b.data.length === n) return { shape };
  return {
    shape,
    maps: { ia: broadcastIndex(a.shape, shape), ib: broadcastIndex(b.shape, shape) },
  };
}

function binary(ctx: Ctx, a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const { shape, maps } = broadcast(a, b);
  const out = zeros(ctx, shape);
  const [ad, bd, yd] = [a.data, b.data, out.data];
  if (!maps) for (let i = 0; i < yd.length; i++) yd[i] = f(ad[i], bd[i]);
  else for (let i = 0; i < yd.length; i++) yd[i] = f(ad[maps.ia[i]], bd[maps.ib[i]]);
  return out;
}

/**
 * A broadcast input was read once per output element, so its gradient is the sum of the
 * output gradients over every element that read it (summed in output order).
 */
function unbroadcast(ctx: Ctx, g: FloatArray, from: Int32Array, shape: readonly number[]): Tensor {
  const { r } = ctx;
  const out = zeros(ctx, shape);
  const seen = new Uint8Array(out.data.length);
  for (let i = 0; i < g.length; i++) {
    const j = from[i];
    // The first contribution is stored as is, so an unbroadcast gradient is an exact copy.
    out.data[j] = seen[j] ? r(out.data[j] + g[i]) : g[i];
    seen[j] = 1;
  }
  return out;
}

/** The gradient of a binary op, given ∂y/∂a·dy and ∂y/∂b·dy per output element. */
function binaryVjp(
  ctx: Ctx,
  a: Tensor,
  b: Tensor,
  dy: Tensor,
  grads: (x: number, y: number, g: number, out: [number, number]) => void,
): { da: Tensor; db: Tensor } {
  const { shape, maps } = broadcast(a, b);
  const n = dy.data.length;
  const ga = zeros(ctx, shape).data;
  const gb = zeros(ctx, shape).data;
  const pair: [number, number] = [0, 0];
  for (let i = 0; i < n; i++) {
    grads(a.data[maps ? maps.ia[i] : i], b.data[maps ? maps.ib[i] : i], dy.data[i], pair);
    ga[i] = pair[0];
    gb[i] = pair[1];
  }
  if (!maps)
    return { da: { shape: [...a.shape], data: ga }, db: { shape: [...b.shape], data: gb } };
  return {
    da: unbroadcast(ctx, ga, maps.ia, a.shape),
    db: unbroadcast(ctx, gb, maps.ib, b.shape),
  };
}

export function elementwiseKernels(ctx: Ctx): CpuKernels<ElementwiseOp> {
  const { r } = ctx;
  return {
    neg: ({ x }) => mapUnary(ctx, x, (v) => -v),
    neg_vjp: ({ x, dy }) => mapUnaryVjp(ctx, x, dy, (_v, g) => -g),

    exp: ({ x }) => mapUnary(ctx, x, (v) => r(Math.exp(v))),
    exp_vjp: ({ x, dy }) => mapUnaryVjp(ctx, x, dy, (v, g) => r(g * r(Math.exp(v)))),

    log: ({ x }) => mapUnary(ctx, x, (v) => r(Math.log(v))),
    log_vjp: ({ x, dy }) => mapUnaryVjp(ctx, x, dy, (v, g) => r(g / v)),

    add: ({ a, b }) => binary(ctx, a, b, (x, y) => r(x + y)),
    add_vjp: ({ a, b, dy }) =>
      binaryVjp(ctx, a, b, dy, (_x, _y, g, out) => {
        out[0] = g;
        out[1] = g;
      }),

    sub: ({ a, b }) => binary(ctx, a, b, (x, y) => r(x - y)),
    sub_vjp: ({ a, b, dy }) =>
      binaryVjp(ctx, a, b, dy, (_x, _y, g, out) => {
        out[0] = g;
        out[1] = -g;
      }),

    mul: ({ a, b }) => binary(ctx, a, b, (x, y) => r(x * y)),
    mul_vjp: ({ a, b, dy }) =>
      binaryVjp(ctx, a, b, dy, (x, y, g, out) => {
        out[0] = r(g * y);
        out[1] = r(g * x);
      }),

    div: ({ a, b }) => binary(ctx, a, b, (x, y) => r(x / y)),
    div_vjp: ({ a, b, dy }) =>
      binaryVjp(ctx, a, b, dy, (x, y, g, out) => {
        const gOverY = r(g / y);
        out[0] = gOverY;
        // −g·a/b² as −(g/b)·(a/b): b² would overflow (or underflow) long before either factor.
        out[1] = -r(gOverY * r(x / y));
      }),
  };
}
