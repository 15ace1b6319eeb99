import { describe, expect, test } from "vitest";
import { Tape } from "./autograd.ts";
import { cpu, cpu32 } from "./cpu/index.ts";
import { indices, tensor } from "./tensor.ts";

const t = (shape: number[], values: number[]) => tensor("float64", shape, values);

describe("Tape", () => {
  test("a linear layer with cross-entropy gets (softmax − one_hot)/N through matmul and the bias add", async () => {
    const tape = new Tape(cpu);
    const x = tape.constant(t([2, 2], [1, 2, -1, 0.5]));
    const w = tape.leaf(t([2, 3], [0.1, -0.2, 0.3, 0.0, 0.5, -0.4]));
    const b = tape.leaf(t([3], [0, 0.1, -0.1]));
    const logits = await tape.op("add", { a: await tape.op("matmul", { a: x, b: w }, {}), b }, {});
    const target = indices([2], [2, 0]);
    const loss = await tape.op("cross_entropy", { logits, target }, { reduction: "mean" });
    await tape.backward(loss);
    // Expected by hand: dz = (softmax(z) − onehot)/2, dW = xᵀ·dz, db = Σ_rows dz.
    const z = logits.value.data;
    const dz: number[] = [];
    for (let r = 0; r < 2; r++) {
      const row = [z[3 * r], z[3 * r + 1], z[3 * r + 2]];
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((p, q) => p + q, 0);
      for (let c = 0; c < 3; c++) dz.push((e[c] / s - (c === target.data[r] ? 1 : 0)) / 2);
    }
    const xs = x.value.data;
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        expect(w.grad?.data[i * 3 + j]).toBeCloseTo(xs[i] * dz[j] + xs[2 + i] * dz[3 + j], 14);
    for (let j = 0; j < 3; j++) expect(b.grad?.data[j]).toBeCloseTo(dz[j] + dz[3 + j], 14);
    expect(x.grad).toBeUndefined();
  });

  test("a value used twice accumulates both gradients: d(x·x)/dx = 2x", async () => {
    const tape = new Tape(cpu);
    const x = tape.leaf(t([3], [1, -2, 3]));
    const y = await tape.op("sum", { x: await tape.op("mul", { a: x, b: x }, {}) }, { axis: 0 });
    await tape.backward(y);
    expect([...(x.grad?.data ?? [])]).toEqual([2, -4, 6]);
  });

  test("training saves the vjp inputs once each; inference and a consumed tape save nothing", async () => {
    const tape = new Tape(cpu32);
    const x = tape.leaf(tensor("float32", [4, 3], 1));
    const y = await tape.op("relu", { x }, {});
    await tape.op("mul", { a: y, b: y }, {});
    // relu saves x (12 floats), mul saves y once although it is both operands.
    expect(tape.savedBytes).toBe(2 * 12 * 4);
    expect(tape.size).toBe(2);
    const loss = await tape.op(
      "sum",
      { x: await tape.op("sum", { x: y }, { axis: 0 }) },
      { axis: 0 },
    );
    await tape.backward(loss);
    expect(tape.savedBytes).toBe(0);
    await expect(tape.backward(loss)).rejects.toThrow(/consumed/);

    const inference = new Tape(cpu32, { grad: false });
    const xi = inference.leaf(tensor("float32", [4, 3], 1));
    await inference.op("relu", { x: xi }, {});
    expect(inference.savedBytes).toBe(0);
    expect(inference.size).toBe(0);
  });

  test("inference mode runs the same kernels: the output is bit for bit the training output", async () => {
    const run = async (grad: boolean) => {
      const tape = new Tape(cpu32, { grad });
      const x = tape.leaf(tensor("float32", [2, 3], [0.1, -0.2, 0.3, 1.5, -2, 0.25]));
      const w = tape.leaf(tensor("float32", [3, 2], [0.5, -1, 0.25, 2, -0.75, 1]));
      const h = await tape.op("tanh", { x: await tape.op("matmul", { a: x, b: w }, {}) }, {});
      return { out: [...h.value.data], saved: tape.savedBytes };
    };
    const [train, infer] = [await run(true), await run(false)];
    expect(infer.out).toEqual(train.out);
    expect(train.saved).toBeGreaterThan(0);
    expect(infer.saved).toBe(0);
  });

  test("noGrad records nothing inside, and leaves are cast to the backend dtype", async () => {
    const tape = new Tape(cpu32);
    const x = tape.leaf(t([2], [0.1, 0.2]));
    expect(x.value.data).toBeInstanceOf(Float32Array);
    const y = await tape.noGrad(() => tape.op("exp", { x }, {}));
    expect(y.requiresGrad).toBe(false);
    expect(tape.size).toBe(0);
  });

  test("batch-norm's Var holds y, with the running statistics in aux, and backpropagates to γ and β", async () => {
    const tape = new Tape(cpu);
    const x = tape.leaf(t([3, 2], [1, 2, 3, 5, 6, 9]));
    const gamma = tape.leaf(t([2], [1, 2]));
    const beta = tape.leaf(t([2], [0, 1]));
    const runningMean = tape.constant(t([2], [0, 0]));
    const runningVar = tape.constant(t([2], [1, 1]));
    const y = await tape.op(
      "batch_norm",
      { x, gamma, beta, runningMean, runningVar },
      { training: true, eps: 1e-5, momentum: 0.1 },
    );
    expect(y.shape).toEqual([3, 2]);
    expect(y.aux?.runningMean.shape).toEqual([2]);
    await tape.backward(y, t([3, 2], [1, 1, 1, 1, 1, 1]));
    expect([...(beta.grad?.data ?? [])]).toEqual([3, 3]);
    expect(gamma.grad?.data[0]).toBeCloseTo(0, 12);
    expect(runningMean.grad).toBeUndefined();
  });

  test("a non-scalar loss needs a seed; a Var from another tape is rejected", async () => {
    const a = new Tape(cpu);
    const b = new Tape(cpu);
    const x = a.leaf(t([2], [1, 2]));
    await expect(b.op("neg", { x }, {})).rejects.toThrow(/another tape/);
    const y = await a.op("neg", { x }, {});
    await expect(a.backward(y)).rejects.toThrow(/seed/);
  });
});
