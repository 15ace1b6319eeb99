/**
 * Bad input gets a clear, typed error naming the op and the argument, before any kernel runs;
 * a kernel that breaks the contract is reported, never trusted.
 */
import { afterAll, describe, expect, test } from "vitest";
import { call } from "../src/engine/call.ts";
import type { Backend, OpName } from "../src/engine/contract.ts";
import { cpu32 } from "../src/engine/cpu/index.ts";
import {
  InvalidArgumentError,
  KernelContractError,
  NotImplementedError,
} from "../src/engine/errors.ts";
import { type FloatDType, indices, type Tensor, tensor } from "../src/engine/tensor.ts";
import { type Law, runLaw } from "../src/harness/law.ts";
import { backendsUnderTest, disposeAll } from "../src/verify/backends.ts";

const backends = await backendsUnderTest();
// The WebGPU device keeps the process alive until it is destroyed.
afterAll(() => disposeAll(backends));

interface BadCase {
  what: string;
  op: OpName;
  arg: string;
  make(dtype: FloatDType): { inputs: object; attrs: object };
}

const t = (dtype: FloatDType, shape: number[], fill = 1) => tensor(dtype, shape, fill);
const other = (dtype: FloatDType): FloatDType => (dtype === "float32" ? "float64" : "float32");

const cases: BadCase[] = [
  {
    what: "operands whose shapes do not broadcast",
    op: "add",
    arg: "b",
    make: (d) => ({ inputs: { a: t(d, [2, 3]), b: t(d, [2]) }, attrs: {} }),
  },
  {
    what: "matmul with mismatched inner dimensions",
    op: "matmul",
    arg: "b",
    make: (d) => ({ inputs: { a: t(d, [2, 3]), b: t(d, [4, 2]) }, attrs: {} }),
  },
  {
    what: "a tensor of the other float dtype",
    op: "exp",
    arg: "x",
    make: (d) => ({ inputs: { x: t(other(d), [3]) }, attrs: {} }),
  },
  {
    what: "data that does not fill the shape",
    op: "relu",
    arg: "x",
    make: (d) => ({ inputs: { x: { shape: [2, 2], data: t(d, [3]).data } }, attrs: {} }),
  },
  {
    what: "an empty tensor where a reduction needs elements",
    op: "max",
    arg: "x",
    make: (d) => ({ inputs: { x: t(d, [0]) }, attrs: { axis: 0 } }),
  },
  {
    what: "an empty row for softmax",
    op: "softmax",
    arg: "x",
    make: (d) => ({ inputs: { x: t(d, [2, 0]) }, attrs: {} }),
  },
  {
    what: "an empty batch for cross-entropy",
    op: "cross_entropy",
    arg: "logits",
    make: (d) => ({
      inputs: { logits: t(d, [0, 3]), target: indices([0], []) },
      attrs: { reduction: "mean" },
    }),
  },
  {
    what: "a class index equal to the number of classes",
    op: "cross_entropy",
    arg: "target",
    make: (d) => ({
      inputs: { logits: t(d, [2, 3]), target: indices([2], [0, 3]) },
      attrs: { reduction: "mean" },
    }),
  },
  {
    what: "a negative class index",
    op: "nll",
    arg: "target",
    make: (d) => ({
      inputs: { logp: t(d, [2, 3]), target: indices([2], [-1, 0]) },
      attrs: { reduction: "sum" },
    }),
  },
  {
    what: "non-integer (float) class indices",
    op: "nll",
    arg: "target",
    make: (d) => ({
      inputs: { logp: t(d, [2, 3]), target: tensor(d, [2], [0.5, 1]) },
      attrs: { reduction: "sum" },
    }),
  },
  {
    what: "soft targets with a negative probability",
    op: "cross_entropy",
    arg: "target",
    make: (d) => ({
      inputs: { logits: t(d, [1, 2]), target: tensor(d, [1, 2], [1.5, -0.5]) },
      attrs: { reduction: "sum" },
    }),
  },
  {
    what: "an unknown reduction",
    op: "mse",
    arg: "reduction",
    make: (d) => ({
      inputs: { pred: t(d, [2]), target: t(d, [2]) },
      attrs: { reduction: "average" },
    }),
  },
  {
    what: "dropout p = 1",
    op: "dropout",
    arg: "p",
    make: (d) => ({ inputs: { x: t(d, [4]) }, attrs: { p: 1, seed: 0, training: true } }),
  },
  {
    what: "dropout p < 0",
    op: "dropout",
    arg: "p",
    make: (d) => ({ inputs: { x: t(d, [4]) }, attrs: { p: -0.1, seed: 0, training: true } }),
  },
  {
    what: "dropout p = NaN",
    op: "dropout",
    arg: "p",
    make: (d) => ({ inputs: { x: t(d, [4]) }, attrs: { p: Number.NaN, seed: 0, training: true } }),
  },
  {
    what: "a negative dropout seed",
    op: "dropout",
    arg: "seed",
    make: (d) => ({ inputs: { x: t(d, [4]) }, attrs: { p: 0.5, seed: -3, training: true } }),
  },
  {
    what: "a negative batch-norm ε",
    op: "batch_norm",
    arg: "eps",
    make: (d) => ({
      inputs: {
        x: t(d, [4, 2]),
        gamma: t(d, [2]),
        beta: t(d, [2], 0),
        runningMean: t(d, [2], 0),
        runningVar: t(d, [2]),
      },
      attrs: { training: true, eps: -1e-5, momentum: 0.1 },
    }),
  },
  {
    what: "a batch-norm momentum above 1",
    op: "batch_norm",
    arg: "momentum",
    make: (d) => ({
      inputs: {
        x: t(d, [4, 2]),
        gamma: t(d, [2]),
        beta: t(d, [2], 0),
        runningMean: t(d, [2], 0),
        runningVar: t(d, [2]),
      },
      attrs: { training: true, eps: 1e-5, momentum: 1.5 },
    }),
  },
  {
    what: "γ of the wrong length",
    op: "layer_norm",
    arg: "gamma",
    make: (d) => ({
      inputs: { x: t(d, [2, 4]), gamma: t(d, [3]), beta: t(d, [4]) },
      attrs: { eps: 1e-5 },
    }),
  },
  {
    what: "a non-finite leaky-ReLU slope",
    op: "leaky_relu",
    arg: "alpha",
    make: (d) => ({ inputs: { x: t(d, [2]) }, attrs: { alpha: Number.POSITIVE_INFINITY } }),
  },
  {
    what: "an axis outside the tensor's rank",
    op: "sum",
    arg: "axis",
    make: (d) => ({ inputs: { x: t(d, [2, 3]) }, attrs: { axis: 2 } }),
  },
  {
    what: "an unbiased variance of a single element",
    op: "variance",
    arg: "x",
    make: (d) => ({ inputs: { x: t(d, [1, 3]) }, attrs: { axis: 0, unbiased: true } }),
  },
  {
    what: "a zero fan in an initialiser shape",
    op: "xavier_normal",
    arg: "shape",
    make: () => ({ inputs: {}, attrs: { shape: [0, 4], gain: 1, seed: 1 } }),
  },
  {
    what: "a negative initialiser gain",
    op: "kaiming_normal",
    arg: "gain",
    make: () => ({ inputs: {}, attrs: { shape: [3, 4], gain: -1, seed: 1, mode: "fan_in" } }),
  },
  {
    what: "an upstream gradient of the wrong shape",
    op: "softmax_vjp",
    arg: "dy",
    make: (d) => ({ inputs: { x: t(d, [2, 3]), dy: t(d, [3, 2]) }, attrs: {} }),
  },
];

const g = (d: FloatDType) => t(d, [3]);
const bnInputs = (d: FloatDType) => ({
  x: t(d, [4, 3]),
  gamma: g(d),
  beta: g(d),
  runningMean: g(d),
  runningVar: g(d),
});
const throwingData = (d: FloatDType) => ({
  shape: [3],
  get data(): never {
    throw new Error(`data getter ${d}`);
  },
});

// Strictness the contract asks for: nothing unknown is ignored, nothing missing is defaulted.
cases.push(
  {
    what: "an unknown attribute (keepdims would silently drop the axis)",
    op: "sum",
    arg: "keepdims",
    make: (d) => ({ inputs: { x: t(d, [2, 3]) }, attrs: { axis: 0, keepdims: true } }),
  },
  {
    what: "an unknown input",
    op: "relu",
    arg: "y",
    make: (d) => ({ inputs: { x: t(d, [2]), y: t(d, [2]) }, attrs: {} }),
  },
  {
    what: "a variance without `unbiased` (no silent default)",
    op: "variance",
    arg: "unbiased",
    make: (d) => ({ inputs: { x: t(d, [2, 3]) }, attrs: { axis: 1 } }),
  },
  {
    what: "a batch-norm without `training`",
    op: "batch_norm",
    arg: "training",
    make: (d) => ({ inputs: bnInputs(d), attrs: { eps: 1e-5, momentum: 0.1 } }),
  },
  {
    what: "a batch-norm without `momentum`",
    op: "batch_norm",
    arg: "momentum",
    make: (d) => ({ inputs: bnInputs(d), attrs: { training: false, eps: 1e-5 } }),
  },
  {
    what: "a batch-norm without runningMean, beside a runningVar of the wrong length",
    op: "batch_norm",
    arg: "runningMean",
    make: (d) => {
      const { runningMean: _, ...rest } = bnInputs(d);
      return {
        inputs: { ...rest, runningVar: t(d, [7]) },
        attrs: { training: true, eps: 1e-5, momentum: 0.1 },
      };
    },
  },
  {
    what: "a layer-norm gradient without beta",
    op: "layer_norm_vjp",
    arg: "beta",
    make: (d) => ({
      inputs: { x: t(d, [2, 3]), gamma: g(d), dy: t(d, [2, 3]) },
      attrs: { eps: 1e-5 },
    }),
  },
  {
    what: "an initialiser shape of [2^53, 2]",
    op: "xavier_uniform",
    arg: "shape",
    make: () => ({ inputs: {}, attrs: { shape: [2 ** 53, 2], gain: 1, seed: 1 } }),
  },
  {
    what: "a tensor whose data getter throws",
    op: "exp",
    arg: "x",
    make: (d) => ({ inputs: { x: throwingData(d) }, attrs: {} }),
  },
  {
    what: "a null dimension (the raw kernel would never return)",
    op: "softmax",
    arg: "x",
    make: (d) => ({ inputs: { x: { shape: [null], data: t(d, [1]).data } }, attrs: {} }),
  },
);

for (const backend of backends) {
  describe(`${backend.name}: bad input is rejected with a typed error naming the op and the argument`, () => {
    for (const name of ["hasOwnProperty", "valueOf", "constructor", "__proto__"]) {
      test(`'${name}' is no op: the contract's own ops only`, async () => {
        const run = () => call(backend, name as OpName, {} as never, {} as never);
        await expect(run()).rejects.toBeInstanceOf(InvalidArgumentError);
        await expect(run()).rejects.toMatchObject({ op: name, arg: "op" });
      });
    }
    for (const c of cases) {
      test(`${c.op} rejects ${c.what} (argument '${c.arg}')`, async () => {
        const { inputs, attrs } = c.make(backend.dtype);
        const run = () => call(backend, c.op, inputs as never, attrs as never);
        await expect(run()).rejects.toBeInstanceOf(InvalidArgumentError);
        await expect(run()).rejects.toMatchObject({ op: c.op, arg: c.arg });
      });
    }
  });
}

/** A backend whose `relu` misbehaves in the given way, the rest being cpu32. */
function hostile(name: string, relu: (x: Tensor) => unknown): Backend {
  return { ...cpu32, name, kernels: { ...cpu32.kernels, relu: ({ x }) => relu(x) as Tensor } };
}

describe("a kernel that breaks the contract is reported, not trusted", () => {
  const x = tensor("float32", [3], [-1, 0, 2]);
  const breaches: [string, Backend, RegExp][] = [
    [
      "mutates its input",
      hostile("in-place", (t) => {
        (t.data as Float32Array).fill(0);
        return { shape: [3], data: new Float32Array(3) };
      }),
      /mutated its input 'x'/,
    ],
    [
      "returns the wrong shape",
      hostile("shape", () => ({ shape: [1, 3], data: new Float32Array(3) })),
      /shape \[1, 3\], expected \[3\]/,
    ],
    [
      "returns the wrong dtype",
      hostile("dtype", () => ({ shape: [3], data: new Float64Array(3) })),
      /dtype float64/,
    ],
    [
      "returns a plain array",
      hostile("plain", () => ({ shape: [3], data: [0, 0, 2] })),
      /not a Float32Array/,
    ],
    [
      "throws",
      hostile("throws", () => {
        throw new RangeError("boom");
      }),
      /threw RangeError: boom/,
    ],
  ];
  for (const [what, backend, message] of breaches) {
    test(`a kernel that ${what} gets a KernelContractError`, async () => {
      const fresh = () => ({ x: tensor("float32", [3], [-1, 0, 2]) });
      await expect(call(backend, "relu", fresh(), {})).rejects.toBeInstanceOf(KernelContractError);
      await expect(call(backend, "relu", fresh(), {})).rejects.toThrow(message);
    });
  }

  test("a large input handed to several calls is checked for mutation on every one of them", async () => {
    // call() keeps its copy of a large input between calls; a kernel that writes into it on
    // the third call, or after its call returned, is still caught, and the next call's check
    // starts from the input's values at that time.
    let calls = 0;
    const late: Backend = {
      ...cpu32,
      name: "late",
      kernels: {
        ...cpu32.kernels,
        relu: ({ x }) => {
          calls++;
          if (calls === 2) setTimeout(() => (x.data as Float32Array).fill(7), 0);
          if (calls === 3) (x.data as Float32Array)[x.data.length - 1] = -1;
          return { shape: x.shape, data: new Float32Array(x.data.length) };
        },
      },
    };
    const big = { x: tensor("float32", [1 << 17], 1) };
    await call(late, "relu", big, {});
    await call(late, "relu", big, {});
    await new Promise((r) => setTimeout(r, 5));
    expect(big.x.data[0]).toBe(7);
    await expect(call(late, "relu", big, {})).rejects.toThrow(/mutated its input 'x'/);
    await expect(call(late, "relu", big, {})).resolves.toBeDefined();
  });

  test("a kernel that never returns is cut off by the per-call timeout", async () => {
    const hangs: Backend = {
      ...cpu32,
      name: "hangs",
      kernels: { ...cpu32.kernels, relu: () => new Promise<Tensor>(() => {}) },
    };
    await expect(call(hangs, "relu", { x }, {}, { timeoutMs: 50 })).rejects.toThrow(
      /did not return within 50 ms/,
    );
  });

  test("a law that calls an op its ops do not list fails, naming the op", async () => {
    // `ops` decides "not implemented" and which kernels a law judges (variants.test.ts relies on
    // it), so a law may not reach past it.
    const law: Law = {
      id: "X1",
      topic: "engine",
      title: "lists relu but calls exp",
      note: "",
      ops: ["relu"],
      check: async (ctx) => {
        await ctx.call("exp", { x }, {});
      },
    };
    const result = await runLaw(law, cpu32, { reference: cpu32 });
    expect(result.status).toBe("failed");
    expect(result.message).toContain("law X1 calls exp, which its ops do not list");
  });

  test("an op the backend lacks is reported as not implemented", async () => {
    const partial: Backend = { name: "partial", dtype: "float32", kernels: {} };
    await expect(call(partial, "relu", { x }, {})).rejects.toBeInstanceOf(NotImplementedError);
  });
});
