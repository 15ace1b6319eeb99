/**
 * The bad-input fuzzer: every op, every argument, broken one way at a time (wrong ranks,
 * shapes, dtypes, containers, attributes, unknown and missing names, hostile objects: throwing
 * getters, proxies, revoked proxies, look-alike arrays) must get an InvalidArgumentError naming
 * the op and the argument, on every backend, without any kernel running; afterwards the backend
 * still answers valid calls correctly.
 */
import fc from "fast-check";
import { afterAll, describe, expect, test } from "vitest";
import { call } from "../src/engine/call.ts";
import type { Backend, OpName } from "../src/engine/contract.ts";
import { cpu } from "../src/engine/cpu/index.ts";
import { InvalidArgumentError } from "../src/engine/errors.ts";
import {
  type AnyTensor,
  cast,
  type FloatDType,
  indices,
  type Tensor,
  tensor,
} from "../src/engine/tensor.ts";
import { forwardOf, signatures, validate } from "../src/engine/validate.ts";
import { backendsUnderTest, disposeAll } from "../src/verify/backends.ts";

const backends = await backendsUnderTest();
afterAll(() => disposeAll(backends));

const RUNS = Number(process.env.TENSORLAWS_FUZZ_RUNS ?? 1000);
const allOps = Object.keys(signatures) as OpName[];

type Args = { inputs: Record<string, unknown>; attrs: Record<string, unknown> };

const seq = (dtype: FloatDType, shape: number[], scale = 0.25) => {
  const n = shape.reduce((p, d) => p * d, 1);
  return tensor(
    dtype,
    shape,
    Array.from({ length: n }, (_, i) => ((i % 7) - 3) * scale),
  );
};

/** A small valid call of each forward op; a `_vjp` op adds `dy` of the forward output's shape. */
function validForward(op: OpName, d: FloatDType): Args {
  const x = seq(d, [2, 3]);
  const per = (v: number) => tensor(d, [3], v);
  switch (op) {
    case "leaky_relu":
      return { inputs: { x }, attrs: { alpha: 0.1 } };
    case "add":
    case "sub":
    case "mul":
    case "div":
      return { inputs: { a: x, b: tensor(d, [3], [1, 2, 4]) }, attrs: {} };
    case "matmul":
      return { inputs: { a: x, b: seq(d, [3, 4]) }, attrs: {} };
    case "sum":
    case "mean":
    case "max":
      return { inputs: { x }, attrs: { axis: 1 } };
    case "variance":
      return { inputs: { x }, attrs: { axis: 1, unbiased: true } };
    case "cross_entropy":
    case "cross_entropy_fused":
      return { inputs: { logits: x, target: indices([2], [0, 2]) }, attrs: { reduction: "mean" } };
    case "nll":
      return { inputs: { logp: x, target: indices([2], [1, 2]) }, attrs: { reduction: "sum" } };
    case "mse":
      return { inputs: { pred: x, target: seq(d, [2, 3], 0.5) }, attrs: { reduction: "mean" } };
    case "batch_norm":
      return {
        inputs: {
          x: seq(d, [4, 3]),
          gamma: per(1.5),
          beta: per(0.5),
          runningMean: per(0),
          runningVar: per(1),
        },
        attrs: { training: true, eps: 1e-5, momentum: 0.1 },
      };
    case "batch_norm_vjp":
      return {
        inputs: { x: seq(d, [4, 3]), gamma: per(1.5), dy: seq(d, [4, 3], 0.5) },
        attrs: { eps: 1e-5 },
      };
    case "layer_norm":
      return { inputs: { x, gamma: per(1.5), beta: per(0.5) }, attrs: { eps: 1e-5 } };
    case "dropout":
      return { inputs: { x }, attrs: { p: 0.25, seed: 7, training: true } };
    case "xavier_normal":
    case "xavier_uniform":
      return { inputs: {}, attrs: { shape: [3, 4], gain: 1, seed: 11 } };
    case "kaiming_normal":
    case "kaiming_uniform":
      return { inputs: {}, attrs: { shape: [3, 4], gain: 1, seed: 11, mode: "fan_in" } };
    case "log":
      return { inputs: { x: tensor(d, [2, 3], [0.5, 1, 2, 3, 4, 5]) }, attrs: {} };
    default:
      return { inputs: { x }, attrs: {} };
  }
}

function valid(op: OpName, d: FloatDType): Args {
  const fwd = forwardOf(op);
  if (fwd === undefined || op === "batch_norm_vjp") return validForward(op, d);
  const base = validForward(fwd, d);
  const y = validate(fwd, base.inputs as never, base.attrs as never, d);
  return { inputs: { ...base.inputs, dy: seq(d, [...y.y], 0.5) }, attrs: base.attrs };
}

/** A mutation breaks one argument; `arg` is the name the error must give. */
interface Broken {
  op: string;
  arg: string;
  what: string;
  inputs: unknown;
  attrs: unknown;
}

const other = (d: FloatDType): FloatDType => (d === "float32" ? "float64" : "float32");
const throwing = (what: string) => {
  throw new Error(`${what} getter attacked`);
};

/** Values no tensor argument accepts, each with a label. */
function badTensors(t: AnyTensor, d: FloatDType, allowsInt: boolean): [string, unknown][] {
  const data = t.data;
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const bad: [string, unknown][] = [
    ["null", null],
    ["a number", 3],
    ["a string", "tensor"],
    ["a bare array", [1, 2, 3]],
    ["an empty object", {}],
    ["shape only", { shape: t.shape }],
    ["data only", { data }],
    ["a plain-array data", { shape: t.shape, data: Array.from(data) }],
    ["a DataView", { shape: t.shape, data: new DataView(new ArrayBuffer(data.byteLength)) }],
    ["Uint8 data", { shape: t.shape, data: new Uint8Array(data.length) }],
    [
      "the other float dtype",
      { shape: t.shape, data: cast(tensor(d, [data.length], 0), other(d)).data },
    ],
    ["one element short", { shape: t.shape, data: data.slice(0, Math.max(0, data.length - 1)) }],
    [
      "one element too many",
      { shape: t.shape, data: new (data.constructor as Float32ArrayConstructor)(data.length + 1) },
    ],
    ["a negative dimension", { shape: [-1, ...t.shape], data }],
    ["a fractional dimension", { shape: [0.5, ...t.shape], data }],
    ["a NaN dimension", { shape: [Number.NaN], data }],
    ["a null dimension", { shape: [null], data }],
    ["a string dimension", { shape: ["2"], data }],
    ["a shape that is a string", { shape: "2,3", data }],
    ["a shape of [2^53, 2]", { shape: [2 ** 53, 2], data }],
    ["a shape of [2^31, 2^31]", { shape: [2 ** 31, 2 ** 31], data }],
    ["a shape of rank 65", { shape: new Array(65).fill(1), data }],
    ["a shape array of length 2^32 − 1", { shape: new Array(2 ** 32 - 1), data }],
    [
      "a throwing data getter",
      {
        shape: t.shape,
        get data() {
          return throwing("data");
        },
      },
    ],
    [
      "a throwing shape getter",
      {
        get shape() {
          return throwing("shape");
        },
        data,
      },
    ],
    [
      "a shape proxy that throws",
      { shape: new Proxy([...t.shape], { get: () => throwing("shape[i]") }), data },
    ],
    [
      "a tensor proxy that throws",
      new Proxy({ shape: t.shape, data }, { getOwnPropertyDescriptor: () => throwing("proxy") }),
    ],
    ["a proxy around the data", { shape: t.shape, data: new Proxy(data, {}) }],
    ["a revoked proxy", revoked.proxy],
    [
      "a look-alike of a typed array",
      {
        shape: t.shape,
        data: Object.defineProperty(Object.create(Float32Array.prototype), "length", {
          value: data.length,
        }),
      },
    ],
    ["a function", () => t],
    ["a symbol", Symbol("x")],
  ];
  if (!allowsInt) bad.push(["int32 data", { shape: t.shape, data: new Int32Array(data.length) }]);
  return bad;
}

/** Values no attribute accepts. */
function badAttrValues(): [string, unknown][] {
  return [
    ["null", null],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["an object", {}],
    ["an array of three", [1, 2, 3]],
    ["a symbol", Symbol("a")],
    ["a bigint", 1n],
    ["a function", () => 1],
    [
      "an object whose valueOf throws",
      { valueOf: () => throwing("valueOf"), toString: () => throwing("toString") },
    ],
    ["a boxed number", Object(1)],
    ["a string of a number", "1e300"],
  ];
}

/** Values of the right type but outside what the attribute allows, per attribute name. */
const outOfRange: Record<string, unknown[]> = {
  axis: [-1, 2, 0.5, 2 ** 53],
  unbiased: [0, 1, "true"],
  alpha: [Number.NEGATIVE_INFINITY],
  reduction: ["average", "MEAN", ""],
  training: [1, "yes"],
  eps: [0, -1e-5, -0],
  momentum: [-0.1, 1.5],
  p: [1, -0.1, 2],
  seed: [-1, 0.5, 2 ** 53],
  gain: [0, -1],
  mode: ["fan_avg", "in"],
  shape: [[0, 4], [3], [3, 4, 5], [2 ** 53, 2], [3, -4], "3x4", [3.5, 4]],
};

/** Inputs whose shape is fixed by another argument: reshaping them must be an error. */
function constrained(op: OpName): string[] {
  const fwd = forwardOf(op) ?? op;
  const names = [...signatures[op].inputs];
  const byOp: Record<string, string[]> = {
    matmul: ["b"],
    cross_entropy: ["target"],
    cross_entropy_fused: ["target"],
    nll: ["target"],
    mse: ["target"],
    batch_norm: ["x", "gamma", "beta", "runningMean", "runningVar"],
    batch_norm_vjp: ["x", "gamma"],
    layer_norm: ["gamma", "beta"],
  };
  const out = [...(byOp[fwd] ?? [])];
  if (op !== fwd || op === "batch_norm_vjp") out.push("dy");
  return out.filter((n) => names.includes(n));
}

const BAD_NAMES = [
  "hasOwnProperty",
  "constructor",
  "__proto__",
  "valueOf",
  "toString",
  "softmax_vjp_vjp",
  "",
  "SOFTMAX",
  "keepdims",
];

/** Every way to break one argument of one op, as a list the fuzzer draws from. */
function breakages(op: OpName, d: FloatDType): (() => Broken)[] {
  const s = signatures[op];
  const fresh = () => valid(op, d);
  const out: (() => Broken)[] = [];
  const with_ = (what: string, arg: string, f: (a: Args) => Partial<Broken>) =>
    out.push(() => {
      const a = fresh();
      return { op, arg, what, inputs: a.inputs, attrs: a.attrs, ...f(a) };
    });
  for (const name of s.inputs) {
    with_(`missing input ${name}`, name, (a) => {
      delete a.inputs[name];
      return {};
    });
    with_(`input ${name} undefined`, name, (a) => {
      a.inputs[name] = undefined;
      return {};
    });
    const t = fresh().inputs[name] as AnyTensor;
    const allowsInt = name === "target" && (op.startsWith("cross_entropy") || op.startsWith("nll"));
    for (const [label, value] of badTensors(t, d, allowsInt)) {
      with_(`input ${name}: ${label}`, name, (a) => {
        a.inputs[name] = value;
        return {};
      });
    }
  }
  for (const name of constrained(op)) {
    with_(`input ${name} with an extra dimension`, name, (a) => {
      const t = a.inputs[name] as Tensor;
      a.inputs[name] = {
        shape: [...t.shape, 1, 2],
        data: new (t.data.constructor as Float32ArrayConstructor)(t.data.length * 2),
      };
      return {};
    });
  }
  for (const name of s.attrs) {
    with_(`missing attribute ${name}`, name, (a) => {
      delete a.attrs[name];
      return {};
    });
    for (const [label, value] of badAttrValues()) {
      with_(`attribute ${name}: ${label}`, name, (a) => {
        a.attrs[name] = value;
        return {};
      });
    }
    for (const value of outOfRange[name] ?? []) {
      with_(`attribute ${name}: ${String(value)}`, name, (a) => {
        a.attrs[name] = value;
        return {};
      });
    }
    with_(`attribute ${name} behind a throwing getter`, name, (a) => {
      Object.defineProperty(a.attrs, name, { get: () => throwing(name), enumerable: true });
      return {};
    });
  }
  for (const name of BAD_NAMES.filter((n) => n !== "")) {
    with_(`unknown input ${name}`, name, (a) => {
      Object.defineProperty(a.inputs, name, { value: seq(d, [2, 3]), enumerable: true });
      return {};
    });
    with_(`unknown attribute ${name}`, name, (a) => {
      Object.defineProperty(a.attrs, name, { value: true, enumerable: true });
      return {};
    });
  }
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const containers: [string, unknown][] = [
    ["null", null],
    ["a number", 1],
    ["an array", []],
    ["a string", "x"],
    ["a function", () => ({})],
    ["a revoked proxy", revoked.proxy],
    ["a proxy whose keys throw", new Proxy({}, { ownKeys: () => throwing("ownKeys") })],
  ];
  for (const [label, value] of containers) {
    with_(`inputs ${label}`, "inputs", () => ({ inputs: value }));
    with_(`attrs ${label}`, "attrs", () => ({ attrs: value }));
  }
  return out;
}

/** Calls that name no op of the contract. */
function badOps(d: FloatDType): (() => Broken)[] {
  return BAD_NAMES.filter((n) => n !== "keepdims").map((name) => () => ({
    op: name,
    arg: "op",
    what: `op name ${JSON.stringify(name)}`,
    ...valid("softmax", d),
  }));
}

/** A backend that records every kernel call, to prove no rejected call reached a kernel. */
function spied(backend: Backend): { backend: Backend; calls: string[] } {
  const calls: string[] = [];
  const kernels: Record<string, unknown> = {};
  for (const [op, k] of Object.entries(backend.kernels)) {
    kernels[op] = (i: unknown, a: unknown) => {
      calls.push(op);
      return (k as (i: unknown, a: unknown) => unknown)(i, a);
    };
  }
  return { backend: { name: backend.name, dtype: backend.dtype, kernels }, calls };
}

for (const backend of backends) {
  describe(`${backend.name}: the bad-input fuzzer`, () => {
    test(`every broken argument of every op gets an InvalidArgumentError naming the op and the argument, and no kernel runs`, async () => {
      const d = backend.dtype;
      const pool = [...allOps.flatMap((op) => breakages(op, d)), ...badOps(d)];
      const spy = spied(backend);
      const outcomes = { cases: 0, typed: 0, other: [] as string[] };
      /** Calls the broken case; counts a typed error naming its op and argument, notes the rest. */
      const attempt = async (b: Broken) => {
        outcomes.cases++;
        try {
          await call(spy.backend, b.op as OpName, b.inputs as never, b.attrs as never);
          outcomes.other.push(`${b.op} ${b.what}: accepted`);
        } catch (e) {
          if (e instanceof InvalidArgumentError && e.op === b.op && e.arg === b.arg)
            outcomes.typed++;
          else
            outcomes.other.push(
              `${b.op} ${b.what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
            );
        }
      };
      await fc.assert(
        fc.asyncProperty(fc.nat(pool.length - 1), (k) => attempt(pool[k]())),
        { numRuns: RUNS, seed: 20261202 },
      );
      // Every breakage once as well, so that none is left to chance.
      for (const make of pool) await attempt(make());
      console.info(
        `fuzz ${backend.name}: ${outcomes.cases} cases (${pool.length} distinct breakages of ${allOps.length} ops), ${outcomes.typed} InvalidArgumentErrors naming op and argument, ${outcomes.other.length} other outcomes, ${spy.calls.length} kernel calls`,
      );
      expect(outcomes.other.slice(0, 20)).toEqual([]);
      expect(outcomes.typed).toBe(outcomes.cases);
      expect(spy.calls).toEqual([]);
    });

    // On a GPU each op's first call builds its pipelines (seconds on SwiftShader): a sample of
    // the op families there, every op on the CPU.
    const sample: OpName[] = [
      "softmax",
      "matmul",
      "cross_entropy",
      "batch_norm",
      "layer_norm_vjp",
      "sum",
    ];
    const after = backend.name.startsWith("cpu") ? allOps : sample;
    test(`afterwards ${after === allOps ? "every op" : `a sample of ops (${sample.join(", ")})`} still answers a valid call like the float64 reference`, async () => {
      for (const op of after) {
        const { inputs, attrs } = valid(op, backend.dtype);
        const got = await call(backend, op, inputs as never, attrs as never);
        const wide: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(inputs)) {
          const t = v as AnyTensor;
          wide[k] = t.data instanceof Int32Array ? t : cast(t as Tensor, "float64");
        }
        const want = await call(cpu, op, wide as never, attrs as never);
        const pairs: [Tensor, Tensor][] =
          "shape" in (want as object)
            ? [[got as Tensor, want as Tensor]]
            : Object.keys(want as object).map((k) => [
                (got as Record<string, Tensor>)[k],
                (want as Record<string, Tensor>)[k],
              ]);
        for (const [g, w] of pairs) {
          expect(g.shape, op).toEqual(w.shape);
          for (let i = 0; i < w.data.length; i++) {
            if (Number.isNaN(w.data[i])) {
              expect(g.data[i], `${op}[${i}]`).toBeNaN();
              continue;
            }
            expect(Math.abs(g.data[i] - w.data[i]), `${op}[${i}]`).toBeLessThanOrEqual(
              1e-4 * (1 + Math.abs(w.data[i])),
            );
          }
        }
      }
    });
  });
}
