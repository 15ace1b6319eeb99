/**
 * `tensorlaws --grids`: how far the laws reach into the built-in WebGPU backend's kernels. Runs
 * the selected laws on webgpu and reports, per pipeline (one compiled variant of a kernel: an op,
 * a vector width, a tile, a threads-per-row choice), how often the laws launched it and the most
 * workgroups one launch used. A variant launched only ever as one workgroup has never had its
 * workgroup index tested, whatever sizes the laws hand the op: the variant a size selects is the
 * backend's choice, and differs between adapters, so the table is this adapter's.
 */
import { cpu } from "../engine/cpu/index.ts";
import { describeAdapter, type WebGpuBackend } from "../engine/webgpu/index.ts";
import { type Law, runLaw } from "../harness/law.ts";

export interface GridRow {
  /** The runtime's pipeline key, e.g. `norm:ln:16:5` (layer-norm, 16 threads a row). */
  pipeline: string;
  launches: number;
  /** The most workgroups (x · y · z) in one launch. */
  widest: number;
  /** The laws that launched it, in run order. */
  laws: string[];
}

/** Runs each law on `backend` and attributes the pipelines it launched to it (the runtime's
 * record starts afresh). */
export async function gridReach(
  laws: readonly Law[],
  backend: WebGpuBackend,
  options: { seed?: number; numRuns?: number } = {},
): Promise<{ rows: GridRow[]; failed: string[] }> {
  const grids = backend.runtime.grids;
  grids.clear();
  const rows = new Map<string, GridRow>();
  const failed: string[] = [];
  for (const law of laws) {
    const before = new Map([...grids].map(([k, g]) => [k, g.launches]));
    const result = await runLaw(law, backend, { reference: cpu, ...options });
    if (result.status === "failed") failed.push(law.id);
    for (const [pipeline, g] of grids) {
      if (g.launches === before.get(pipeline)) continue;
      const row = rows.get(pipeline) ?? { pipeline, launches: 0, widest: 0, laws: [] };
      row.launches = g.launches;
      row.widest = g.widest;
      row.laws.push(law.id);
      rows.set(pipeline, row);
    }
  }
  const sorted = [...rows.values()].sort((a, b) => a.pipeline.localeCompare(b.pipeline));
  return { rows: sorted, failed };
}

export function gridsTable(
  { rows, failed }: { rows: readonly GridRow[]; failed: readonly string[] },
  backend: Pick<WebGpuBackend, "adapterInfo">,
): string {
  const narrow = rows.filter((r) => r.widest <= 1);
  const laws = (ids: readonly string[]) =>
    ids.length <= 6 ? ids.join(", ") : `${ids.slice(0, 6).join(", ")} and ${ids.length - 6} more`;
  return [
    `The built-in WebGPU backend on ${describeAdapter(backend.adapterInfo)}: per pipeline, the launches the selected laws made and the most workgroups one launch used.`,
    "",
    narrow.length === 0
      ? `All ${rows.length} pipelines the laws launched ran past one workgroup.`
      : `${narrow.length} of ${rows.length} pipelines never ran past one workgroup (marked ⚠): a bug in their workgroup indexing would pass these laws.`,
    ...(failed.length ? ["", `Failed on this adapter: ${failed.join(", ")}.`] : []),
    "",
    "| pipeline | launches | widest launch (workgroups) | laws |",
    "|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.pipeline} | ${r.launches} | ${r.widest}${r.widest <= 1 ? " ⚠" : ""} | ${laws(r.laws)} |`,
    ),
    "",
  ].join("\n");
}
