/**
 * The folders are the architecture: each layer imports only the layers below it. This test reads
 * every source file's relative imports and fails on one that reaches up (or sideways into the
 * self-test kernels from shipped code), naming the file and the import.
 *
 *   engine      contract, tensors, validation, the one door, cpu/, webgpu/, Philox, autograd, nn
 *   selftest    known-bad kernels and correct variants: engine only (used by tests and verify)
 *   harness     law runtime: budgets, tolerances, trails, statistics, generators: engine only
 *   properties  the laws (with golden/'s loader and checker): engine and harness
 *   verify      CLI, runner, backends, WGSL adapter, reports: everything below
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");
const LAYERS = ["engine", "selftest", "harness", "properties", "verify"] as const;
type Layer = (typeof LAYERS)[number];

/** What each layer may import besides itself (external packages are not checked here). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  engine: [],
  selftest: ["engine"],
  harness: ["engine"],
  properties: ["engine", "harness"],
  verify: ["engine", "selftest", "harness", "properties"],
};

function layerOf(path: string): Layer | undefined {
  const rel = relative(root, path).split("\\").join("/");
  if (rel.startsWith("src/engine/")) return "engine";
  if (rel.startsWith("src/selftest/")) return "selftest";
  if (rel.startsWith("src/harness/")) return "harness";
  // golden/'s loader and checker ship with the laws and are read by them.
  if (rel.startsWith("properties/") || rel === "golden/load.ts" || rel === "golden/check.ts") {
    return "properties";
  }
  if (rel.startsWith("src/verify/")) return "verify";
  return undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === "fixtures" ? [] : sources(p);
    return /\.ts$/.test(e.name) && !isTestCode(e.name) ? [p] : [];
  });
}

/** Tests and their shared setup may reach anywhere: they wire the layers together. */
function isTestCode(name: string): boolean {
  return name.endsWith(".test.ts") || name === "describe-laws.ts" || name === "test-support.ts";
}

const IMPORT = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

function violations(): string[] {
  const files = [...sources(join(root, "src")), ...sources(join(root, "properties"))];
  files.push(join(root, "golden/load.ts"), join(root, "golden/check.ts"));
  const found: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    if (!from) continue;
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[1] ?? "");
      const to = layerOf(target);
      if (!to || to === from || MAY_IMPORT[from].includes(to)) continue;
      found.push(`${relative(root, file)} (${from}) imports ${m[1]} (${to})`);
    }
  }
  return found;
}

describe("the source tree is layered", () => {
  it("no file imports a layer above its own (engine ← harness ← properties ← verify)", () => {
    expect(violations()).toEqual([]);
  });

  it("every shipped source file belongs to a layer, so the check above sees all of them", () => {
    const loose = sources(join(root, "src"))
      .map((f) => relative(root, f))
      .filter((f) => f !== "src/index.ts" && !layerOf(join(root, f)));
    expect(loose).toEqual([]);
  });
});
