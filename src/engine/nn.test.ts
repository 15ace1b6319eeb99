import { describe, expect, test } from "vitest";
import { Tape } from "./autograd.ts";
import { cpu, cpu32 } from "./cpu/index.ts";
import {
  earlyStopping,
  forwardMlp,
  inputNoise,
  kFold,
  maxNorm,
  mlp,
  sgdStep,
  transpose,
} from "./nn.ts";
import { tensor } from "./tensor.ts";

describe("mlp", () => {
  test("layers are [in, out] with zero biases, drawn transposed from the [fan_out, fan_in] initialiser", async () => {
    const model = await mlp(cpu32, [3, 5, 2], { op: "relu" }, { op: "kaiming_normal", seed: 7 });
    expect(model.layers.map((l) => l.weight.shape)).toEqual([
      [3, 5],
      [5, 2],
    ]);
    expect([...model.layers[0].bias.data]).toEqual([0, 0, 0, 0, 0]);
    const direct = cpu32.kernels.kaiming_normal?.(
      {},
      { shape: [5, 3], gain: 1, seed: 7, mode: "fan_in" },
    );
    expect(direct && [...transpose(direct as never).data]).toEqual([
      ...model.layers[0].weight.data,
    ]);
  });

  test("the forward pass gives logits [N, out] and a gradient for every parameter", async () => {
    const model = await mlp(cpu, [3, 4, 2], { op: "tanh" }, { op: "xavier_normal", seed: 1 });
    const tape = new Tape(cpu);
    const trace = await forwardMlp(tape, model, tape.constant(tensor("float64", [5, 3], 0.5)));
    expect(trace.output.shape).toEqual([5, 2]);
    expect(trace.pre.length).toBe(2);
    const loss = await tape.op(
      "sum",
      { x: await tape.op("sum", { x: trace.output }, { axis: 0 }) },
      { axis: 0 },
    );
    await tape.backward(loss);
    for (const p of trace.params) {
      expect(p.weight.grad?.shape).toEqual(p.weight.shape);
      expect(p.bias.grad?.shape).toEqual(p.bias.shape);
    }
  });
});

describe("host utilities", () => {
  test("sgdStep: w − lr·(g + λw)", () => {
    const [w] = sgdStep([tensor("float64", [2], [1, -2])], [tensor("float64", [2], [0.5, 0.5])], {
      lr: 0.1,
      weightDecay: 0.01,
    });
    expect(w.data[0]).toBeCloseTo(1 - 0.1 * (0.5 + 0.01), 15);
    expect(w.data[1]).toBeCloseTo(-2 - 0.1 * (0.5 - 0.02), 15);
  });

  test("maxNorm rescales only rows above c, and is idempotent", () => {
    const W = tensor("float32", [2, 2], [3, 4, 0.3, 0.4]);
    const once = maxNorm(W, 1);
    expect(Math.hypot(once.data[0], once.data[1])).toBeLessThanOrEqual(1);
    expect(once.data[0]).toBeCloseTo(0.6, 6);
    expect([once.data[2], once.data[3]]).toEqual([W.data[2], W.data[3]]);
    expect([...maxNorm(once, 1).data]).toEqual([...once.data]);
    // Columns [3, 0.3] and [4, 0.4] both exceed 1 and are scaled to norm ≤ 1.
    const cols = maxNorm(W, 1, "columns");
    expect(Math.hypot(cols.data[0], cols.data[2])).toBeLessThanOrEqual(1);
    expect(cols.data[2] / cols.data[0]).toBeCloseTo(0.1, 6);
  });

  test("earlyStopping stops after `patience` epochs without an improvement larger than minDelta", () => {
    expect(earlyStopping([5, 4, 3, 2, 1], { patience: 1 })).toEqual({
      stopEpoch: null,
      bestEpoch: 4,
      bestLoss: 1,
    });
    expect(earlyStopping([5, 4, 4, 4.5, 3], { patience: 2 })).toEqual({
      stopEpoch: 3,
      bestEpoch: 1,
      bestLoss: 4,
    });
    // 3.95 beats 4 by less than minDelta = 0.1: not an improvement.
    expect(earlyStopping([5, 4, 3.95, 3.9, 3], { patience: 2, minDelta: 0.1 })).toEqual({
      stopEpoch: 3,
      bestEpoch: 1,
      bestLoss: 4,
    });
    expect(earlyStopping([Number.NaN, 3, 4], { patience: 1 })).toEqual({
      stopEpoch: 2,
      bestEpoch: 1,
      bestLoss: 3,
    });
    expect(() => earlyStopping([1], { patience: 0 })).toThrow(/patience/);
  });

  test("kFold partitions the indices into k folds whose sizes differ by at most one", () => {
    const folds = kFold(10, 3, 42);
    expect(folds.map((f) => f.validation.length)).toEqual([4, 3, 3]);
    expect(folds.flatMap((f) => f.validation).sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    for (const f of folds) expect(f.train.length + f.validation.length).toBe(10);
    expect(kFold(4, 2)).toEqual([
      { validation: [0, 1], train: [2, 3] },
      { validation: [2, 3], train: [0, 1] },
    ]);
    expect(() => kFold(3, 4)).toThrow(/k/);
  });

  test("inputNoise adds σ-scaled normal noise drawn by the backend", async () => {
    const x = tensor("float64", [200, 5], 1);
    const noisy = await inputNoise(cpu, x, { sigma: 0.5, seed: 3 });
    expect(noisy.shape).toEqual([200, 5]);
    let s = 0;
    let s2 = 0;
    for (const v of noisy.data) {
      s += v - 1;
      s2 += (v - 1) ** 2;
    }
    expect(Math.abs(s / 1000)).toBeLessThan(0.1);
    expect(Math.sqrt(s2 / 1000)).toBeCloseTo(0.5, 1);
  });
});
