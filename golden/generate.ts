/**
 * Writes the golden files, one per op: `npm run golden`. The output is deterministic (fixed key
 * order, 2-space indent, trailing newline) and already laid out the way `biome format` lays out
 * JSON (an array stays on one line when the line fits in 100 columns), so formatting the
 * folder never makes the files stale. `generateAll()` builds the same text in memory for the
 * freshness test.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CASES, DESCRIPTIONS } from "./cases.ts";
import {
  type ExactOutputs,
  formatExact,
  formatInput,
  GOLDEN_OPS,
  type GoldenCase,
  type GoldenOp,
  makeOracle,
} from "./oracle.ts";

type Json = string | number | boolean | Json[] | { [key: string]: Json };

/** The line width biome formats JSON to (biome.json). */
const LINE_WIDTH = 100;

/**
 * JSON the way biome formats it: objects always expanded (empty ones as {}), arrays of scalars on
 * one line when that line (with its trailing comma) fits, otherwise numbers filled line by line
 * and strings one per line.
 */
function render(value: Json, indent: string, lead: string, comma: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}${lead}[]${comma}`];
    const scalars = value.every((x) => typeof x !== "object");
    if (scalars) {
      const items = value.map((x) => JSON.stringify(x));
      const flat = `${indent}${lead}[${items.join(", ")}]${comma}`;
      if (flat.length <= LINE_WIDTH) return [flat];
      const inner = `${indent}  `;
      const lines = [`${indent}${lead}[`];
      if (value.every((x) => typeof x === "number")) {
        let line = "";
        items.forEach((item, i) => {
          const piece = i < items.length - 1 ? `${item},` : item;
          const candidate = line === "" ? `${inner}${piece}` : `${line} ${piece}`;
          if (line !== "" && candidate.length > LINE_WIDTH) {
            lines.push(line);
            line = `${inner}${piece}`;
          } else line = candidate;
        });
        lines.push(line);
      } else {
        items.forEach((item, i) => {
          lines.push(`${inner}${item}${i < items.length - 1 ? "," : ""}`);
        });
      }
      lines.push(`${indent}]${comma}`);
      return lines;
    }
    const lines = [`${indent}${lead}[`];
    value.forEach((x, i) => {
      lines.push(...render(x, `${indent}  `, "", i < value.length - 1 ? "," : ""));
    });
    lines.push(`${indent}]${comma}`);
    return lines;
  }
  if (typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) return [`${indent}${lead}{}${comma}`];
    const lines = [`${indent}${lead}{`];
    entries.forEach(([k, x], i) => {
      lines.push(
        ...render(x, `${indent}  `, `${JSON.stringify(k)}: `, i < entries.length - 1 ? "," : ""),
      );
    });
    lines.push(`${indent}}${comma}`);
    return lines;
  }
  return [`${indent}${lead}${JSON.stringify(value)}${comma}`];
}

export function toJson(value: Json): string {
  return `${render(value, "", "", "").join("\n")}\n`;
}

const PRECISION = 60;

function description(op: GoldenOp, precision: number): string {
  return `${DESCRIPTIONS[op]}. Expected values are the exact results rounded to 40 significant digits (half to even), by mathjs BigNumber: float inputs read as exact binary fractions, sums and products exact (400 digits), exp/ln/sqrt/erf at ${precision} digits plus what cancellation needs`;
}

function caseJson(c: GoldenCase, expected: ExactOutputs): Json {
  const inputs: { [k: string]: Json } = {};
  for (const [name, t] of Object.entries(c.inputs)) {
    inputs[name] = t.int
      ? { shape: [...t.shape], int: true, data: [...t.data] }
      : { shape: [...t.shape], data: t.data.map(formatInput) };
  }
  const out: { [k: string]: Json } = {};
  for (const [name, t] of Object.entries(expected)) {
    out[name] = { shape: [...t.shape], data: t.data.map(formatExact) };
  }
  return {
    name: c.name,
    ...(c.allowNaN ? { allowNaN: true } : {}),
    inputs,
    attrs: { ...c.attrs },
    expected: out,
  };
}

/** Every golden file, by file name (`<op>.json`), as the exact text written to disk. */
export function generateAll(precision = PRECISION): Record<string, string> {
  const oracle = makeOracle(precision);
  const files: Record<string, string> = {};
  for (const op of GOLDEN_OPS) {
    const cases = CASES[op].map((c) => caseJson(c, oracle.evaluate(op, c)));
    files[`${op}.json`] = toJson({ op, description: description(op, precision), cases });
  }
  return files;
}

export const GOLDEN_DIR = dirname(fileURLToPath(import.meta.url));

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const start = performance.now();
  const files = generateAll();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(GOLDEN_DIR, name), text);
  const ms = (performance.now() - start).toFixed(0);
  console.log(`wrote ${Object.keys(files).length} golden files to ${GOLDEN_DIR} in ${ms} ms`);
}
