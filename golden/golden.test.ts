import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../src/engine/errors.ts";
import { CASES } from "./cases.ts";
import { GOLDEN_DIR, generateAll } from "./generate.ts";
import {
  exactDecimal,
  formatExact,
  formatInput,
  GOLDEN_OPS,
  type GoldenCase,
  type GoldenOp,
  makeOracle,
} from "./oracle.ts";

const oracle = makeOracle();

/** The formatted outputs of one case. */
function run(op: GoldenOp, c: GoldenCase): Record<string, string[]> {
  const out = oracle.evaluate(op, c);
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data.map(formatExact)]));
}

function x(data: number[], extra: Partial<GoldenCase> = {}): GoldenCase {
  return { name: "spot", inputs: { x: { shape: [data.length], data } }, attrs: {}, ...extra };
}

describe("golden files", () => {
  it("are fresh: generateAll() reproduces every committed file byte for byte", () => {
    const files = generateAll();
    const onDisk = readdirSync(GOLDEN_DIR).filter((f) => f.endsWith(".json"));
    const unexpected = onDisk.filter((f) => !(f in files));
    expect(unexpected, "unexpected .json files in golden/ (not written by generate.ts)").toEqual(
      [],
    );
    const stale = Object.entries(files)
      .filter(([name, text]) => {
        if (!onDisk.includes(name)) return true;
        return readFileSync(join(GOLDEN_DIR, name), "utf8") !== text;
      })
      .map(([name]) => name);
    expect(stale, "stale or missing golden files: run `npm run golden`").toEqual([]);
  });

  it("cover at least 15 ops, each with named cases", () => {
    expect(GOLDEN_OPS.length).toBeGreaterThanOrEqual(15);
    for (const op of GOLDEN_OPS) {
      const names = CASES[op].map((c) => c.name);
      expect(names.length, op).toBeGreaterThan(0);
      expect(new Set(names).size, `${op}: case names are unique`).toBe(names.length);
    }
  });

  it("keep 40 significant digits that do not move when the working precision grows by 30", () => {
    const strip = (files: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(files).map(([name, text]) => [name, JSON.parse(text).cases]),
      );
    expect(strip(generateAll(90))).toEqual(strip(generateAll(60)));
  });
});

describe("the oracle refuses bad input with a typed error", () => {
  function expectInvalid(f: () => unknown, op: string, arg: string): void {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      const err = e as InvalidArgumentError;
      expect(err.op).toBe(`golden:${op}`);
      expect(err.arg).toBe(arg);
      return;
    }
    throw new Error(`expected InvalidArgumentError from golden:${op} for '${arg}'`);
  }

  it("a NaN input unless the case declares allowNaN", () => {
    expectInvalid(() => oracle.evaluate("softmax", x([1, Number.NaN])), "softmax", "x");
    expectInvalid(
      () =>
        oracle.evaluate("add", {
          name: "nan",
          inputs: { a: { shape: [1], data: [1] }, b: { shape: [1], data: [Number.NaN] } },
          attrs: {},
        }),
      "add",
      "b",
    );
    expect(run("softmax", x([1, Number.NaN], { allowNaN: true })).y).toEqual(["NaN", "NaN"]);
  });

  it("a value float32 cannot hold exactly", () => {
    expectInvalid(() => oracle.evaluate("exp", x([0.1])), "exp", "x");
    expectInvalid(
      () =>
        oracle.evaluate("leaky_relu", {
          name: "alpha",
          inputs: x([1]).inputs,
          attrs: { alpha: 0.01 },
        }),
      "leaky_relu",
      "alpha",
    );
    expectInvalid(
      () =>
        oracle.evaluate("mse", {
          name: "f64",
          inputs: { pred: { shape: [1], data: [1] }, target: { shape: [1], data: [1 + 2 ** -40] } },
          attrs: { reduction: "mean" },
        }),
      "mse",
      "target",
    );
  });

  it("shapes the op's contract rejects", () => {
    const ab = (a: number[], b: number[]): GoldenCase => ({
      name: "shapes",
      inputs: {
        a: { shape: a, data: new Array(a.reduce((n, d) => n * d, 1)).fill(1) },
        b: { shape: b, data: new Array(b.reduce((n, d) => n * d, 1)).fill(1) },
      },
      attrs: {},
    });
    expectInvalid(() => oracle.evaluate("mul", ab([2, 3], [2])), "mul", "b");
    expectInvalid(() => oracle.evaluate("matmul", ab([2, 3], [2, 3])), "matmul", "b");
    expectInvalid(
      () =>
        oracle.evaluate("softmax", {
          name: "fill",
          inputs: { x: { shape: [2, 2], data: [1] } },
          attrs: {},
        }),
      "softmax",
      "x",
    );
    expectInvalid(
      () =>
        oracle.evaluate("cross_entropy", {
          name: "targets",
          inputs: {
            logits: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
            target: { shape: [3], int: true, data: [0, 1, 2] },
          },
          attrs: { reduction: "none" },
        }),
      "cross_entropy",
      "target",
    );
  });
});

describe("the oracle agrees with known values", () => {
  it("reads floats exactly and writes -0", () => {
    expect(exactDecimal(2 ** -149)).toBe(
      "140129846432481707092372958328991613128026194187651577175706828388979108268586060148663818836212158203125e-149",
    );
    expect(formatInput(-0)).toBe("-0");
    expect(formatInput(Math.fround(0.1))).toBe("0.10000000149011612");
  });

  it("softmax([1, 2, 3])", () => {
    expect(run("softmax", x([1, 2, 3])).y).toEqual([
      "0.09003057317038045799802210148449179786793",
      "0.2447284710547976524729596183407627971993",
      "0.6652409557748218895290182801747454049328",
    ]);
  });

  it("erf(0.5) and Φ deep in the left tail", () => {
    expect(formatExact(oracle.erf(0.5))).toBe("0.5204998778130465376827466538919645287365");
    // gelu(−10) = −10·Φ(−10): 1 − erf(10/√2) cancels 23 digits; the oracle must not lose them.
    expect(run("gelu", x([-10])).y).toEqual(["-7.619853024160526065973343251599308363504e-23"]);
    expect(run("gelu", x([-40])).y).toEqual(["-1.462357416366011881499594321075313466022e-348"]);
  });

  it("the tanh gain of law C8 to 40 digits, and its quadrature converged", () => {
    const gain = "1.592537419722831427770438846018598170236";
    expect(formatExact(oracle.tanhGain())).toBe(gain);
    expect(formatExact(oracle.tanhGain(24))).toBe(gain);
    expect(
      run("activation_gain", { name: "relu", inputs: {}, attrs: { activation: "relu" } }).y,
    ).toEqual(["1.41421356237309504880168872420969807857"]);
  });

  it("special values follow the IEEE limits", () => {
    const inf = Number.POSITIVE_INFINITY;
    expect(run("exp", x([-inf, inf, Math.fround(3e38)])).y).toEqual(["0", "Infinity", "Infinity"]);
    expect(run("log", x([0, -1, inf])).y).toEqual(["-Infinity", "NaN", "Infinity"]);
    expect(run("gelu", x([-inf, inf])).y).toEqual(["-0", "Infinity"]);
    expect(run("silu", x([-inf, inf])).y).toEqual(["-0", "Infinity"]);
    expect(run("sigmoid", x([-inf, inf])).y).toEqual(["0", "1"]);
    expect(run("tanh", x([-inf, inf])).y).toEqual(["-1", "1"]);
    expect(run("logsumexp", x([-inf, -inf])).y).toEqual(["-Infinity"]);
    expect(run("softmax", x([-inf, -inf])).y).toEqual(["NaN", "NaN"]);
    expect(run("softmax", x([inf, 0])).y).toEqual(["NaN", "NaN"]);
  });
});
