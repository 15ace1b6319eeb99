/**
 * `tensorlaws verify --sizes`: where each law reaches. Runs the selected laws on cpu32 and
 * reports, per law and op, the largest input the law handed the kernel, the ranks it used and
 * whether it tried an empty tensor: measured from the calls, not declared, so a law that stops
 * short of the sizes where kernels break shows it.
 */
import { cpu, cpu32 } from "../engine/cpu/index.ts";
import { formatShape } from "../engine/tensor.ts";
import { type Law, type Reach, runLaw } from "../harness/law.ts";

export interface SizeRow {
  law: string;
  op: string;
  reach: Reach;
  runs: number;
}

/** Each law's reach per op, on cpu32 with the given seed and property runs. */
export async function lawReach(
  laws: readonly Law[],
  options: { seed?: number; numRuns?: number } = {},
): Promise<SizeRow[]> {
  const rows: SizeRow[] = [];
  for (const law of laws) {
    const result = await runLaw(law, cpu32, { reference: cpu, ...options });
    const runs = Math.min(options.numRuns ?? 100, law.runs ?? Number.POSITIVE_INFINITY);
    for (const [op, reach] of Object.entries(result.reach ?? {})) {
      rows.push({ law: law.id, op, reach, runs });
    }
  }
  return rows;
}

/** The per-op summary (largest size and ranks over all laws) and the per-law detail. */
export function sizesTable(rows: readonly SizeRow[]): string {
  const byOp = new Map<
    string,
    { max: number; shape: number[]; ranks: Set<number>; empty: boolean; laws: Set<string> }
  >();
  for (const { law, op, reach } of rows) {
    const o = byOp.get(op) ?? {
      max: 0,
      shape: [],
      ranks: new Set(),
      empty: false,
      laws: new Set(),
    };
    if (reach.maxElements > o.max) {
      o.max = reach.maxElements;
      o.shape = reach.maxShape;
    }
    for (const r of reach.ranks) o.ranks.add(r);
    o.empty ||= reach.empty;
    o.laws.add(law);
    byOp.set(op, o);
  }
  const ranks = (s: Iterable<number>) => [...s].sort((a, b) => a - b).join(", ");
  const ops = [...byOp.entries()].sort(([a], [b]) => a.localeCompare(b));
  const summary = ops.map(
    ([op, o]) =>
      `| ${op} | ${o.max} | ${formatShape(o.shape)} | ${ranks(o.ranks)} | ${o.empty ? "yes" : "no"} | ${o.laws.size} |`,
  );
  const detail = rows.map(
    ({ law, op, reach, runs }) =>
      `| ${law} | ${op} | ${reach.calls} | ${runs} | ${reach.maxElements} | ${formatShape(reach.maxShape)} | ${ranks(reach.ranks)} | ${reach.empty ? "yes" : "no"} |`,
  );
  return [
    "Per op: the largest input any law hands it, the ranks and whether an empty tensor is tried.",
    "",
    "| op | largest input (elements) | its shape | ranks | empty | laws |",
    "|---|---|---|---|---|---|",
    ...summary,
    "",
    "Per law: calls made on cpu32, property runs (large laws run fewer), and the same measures.",
    "",
    "| law | op | calls | runs | largest | shape | ranks | empty |",
    "|---|---|---|---|---|---|---|---|",
    ...detail,
    "",
  ].join("\n");
}
