/**
 * `npm run laws [-- ./my-backend.ts]`: runs every law against the built-in backends (and a
 * backend module, if named) and prints one line per law with a verdict per backend.
 */

import { allLaws } from "../properties/index.ts";
import {
  allBuiltinBackends,
  describeBackend,
  disposeAll,
  loadBackend,
  reference,
} from "./backends.ts";
import { allMutants } from "./buggy/index.ts";
import type { Backend } from "./contract.ts";
import { envOptions, type LawResult, runLaw } from "./law.ts";

const mark: Record<LawResult["status"], string> = {
  passed: "✓",
  failed: "✗",
  "not implemented": "–",
  "not applicable": "·",
};

/** `--list`: the catalogue of laws as a Markdown table (id, claim, the note it encodes). */
function listLaws(): void {
  console.log("| id | law | why (note) |\n|---|---|---|");
  for (const law of allLaws) console.log(`| ${law.id} | ${law.title} | ${law.note} |`);
}

/** `--mutants`: the known-bad kernels and the laws that must reject each. */
function listMutants(): void {
  console.log("| known-bad backend | bug | rejected by |\n|---|---|---|");
  for (const m of allMutants)
    console.log(`| ${m.backend.name} | ${m.bug} | ${m.caughtBy.join(", ")} |`);
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--list") || argv.includes("--mutants")) {
    if (argv.includes("--list")) listLaws();
    else listMutants();
    return 0;
  }
  const builtin = await allBuiltinBackends();
  if (builtin.noAdapter) {
    if (process.env.TENSORLAWS_REQUIRE_GPU === "1") throw new Error(builtin.noAdapter);
    console.warn(`NO WEBGPU ADAPTER: the WebGPU laws did not run (${builtin.noAdapter})\n`);
  }
  const backends: Backend[] = [...builtin.backends];
  try {
    for (const path of argv) backends.push(await loadBackend(path));
    return await runAll(backends);
  } finally {
    // A live WebGPU device keeps Node running.
    await disposeAll(backends);
  }
}

async function runAll(backends: readonly Backend[]): Promise<number> {
  const options = envOptions(reference);
  const start = performance.now();
  console.log(
    `tensorlaws: ${allLaws.length} laws × ${backends.length} backends (${backends.map(describeBackend).join(", ")}); seed ${options.seed ?? 20261122}\n`,
  );
  const failures: LawResult[] = [];
  const counts = new Map<string, Record<LawResult["status"], number>>(
    backends.map((b) => [
      b.name,
      { passed: 0, failed: 0, "not implemented": 0, "not applicable": 0 },
    ]),
  );
  let topic = "";
  for (const law of allLaws) {
    if (law.topic !== topic) {
      topic = law.topic;
      console.log(`\n${topic}`);
    }
    const verdicts: string[] = [];
    for (const backend of backends) {
      const result = await runLaw(law, backend, options);
      const c = counts.get(backend.name);
      if (c) c[result.status]++;
      if (result.status === "failed") failures.push(result);
      verdicts.push(`${mark[result.status]} ${backend.name}`);
    }
    console.log(`  ${law.id.padEnd(5)} ${verdicts.join("  ")}  ${law.title}`);
  }
  for (const f of failures) {
    console.log(`\n✗ ${f.law.id} on ${f.backend}: ${f.law.title}\n${f.message}`);
  }
  console.log(`\n✓ passed  ✗ failed  – not implemented  · not applicable`);
  for (const [name, c] of counts) {
    console.log(
      `${name}: ${c.passed} passed, ${c.failed} failed, ${c["not implemented"]} not implemented, ${c["not applicable"]} not applicable`,
    );
  }
  console.log(`time: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
