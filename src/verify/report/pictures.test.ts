import { describe, expect, it } from "vitest";
import { cpu32 } from "../../engine/cpu/index.ts";
import { computePictures, type Point } from "./pictures.ts";

const p = await computePictures(cpu32, { width: 64, depth: 8, batch: 64 });
const at = (points: Point[], config: string, x: number) =>
  points.find((q) => q.config.startsWith(config) && q.x === x)?.y ?? Number.NaN;

describe("the notes' pictures, computed on cpu32", () => {
  it("show a sigmoid stack's gradient vanishing towards the first layer, and ReLU with He weights keeping it", () => {
    expect(at(p.gradientNorms, "sigmoid", 1)).toBeLessThan(
      1e-3 * at(p.gradientNorms, "sigmoid", 8),
    );
    expect(at(p.gradientNorms, "ReLU", 1)).toBeGreaterThan(0.1 * at(p.gradientNorms, "ReLU", 8));
  });

  it("show ReLU activations keeping their scale under He weights, vanishing at std 0.01 and exploding at std 1", () => {
    expect(at(p.reluScale, "ReLU, He", 8)).toBeGreaterThan(0.3);
    expect(at(p.reluScale, "ReLU, He", 8)).toBeLessThan(3);
    expect(at(p.reluScale, "ReLU, std 0.01", 8)).toBeLessThan(1e-6);
    expect(at(p.reluScale, "ReLU, std 1", 8)).toBeGreaterThan(1e4);
  });

  it("show more dead ReLU units with a negative bias, and tanh's 5/3 gain saturating more units than gain 1", () => {
    expect(at(p.deadUnits, "He weights, bias -1", 8)).toBeGreaterThan(
      at(p.deadUnits, "He weights, bias 0", 8),
    );
    expect(at(p.tanhSaturation, "tanh, Xavier gain 5/3", 8)).toBeGreaterThan(
      at(p.tanhSaturation, "tanh, Xavier gain 1", 8),
    );
  });

  it("show batch-norm's running mean reaching the true mean faster with a larger momentum", () => {
    const err = (config: string) => Math.abs(at(p.runningMean, config, 50) - p.trueMean);
    expect(err("momentum 0.1")).toBeLessThan(0.5);
    expect(err("momentum 0.01")).toBeGreaterThan(err("momentum 0.1"));
  });

  it("show the mean of k dropout passes within 20 % of the predicted √(p/((1−p)k)) spread", () => {
    for (const q of p.dropoutError) {
      const predicted = p.dropoutPredicted.find((r) => r.config === q.config && r.x === q.x)!;
      expect(q.y / predicted.y).toBeGreaterThan(0.8);
      expect(q.y / predicted.y).toBeLessThan(1.2);
    }
  });
});
