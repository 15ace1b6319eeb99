/**
 * I4. Every op on every backend matches the golden high-precision values within its stated ULP
 * budget, on ordinary values and on the named edge cases (huge, tiny, subnormal, ±∞, NaN where
 * defined). One law per golden file, so a failure names the op.
 */
import { checkGoldenCase } from "../golden/check.ts";
import { loadGoldens } from "../golden/load.ts";
import type { OpName } from "../src/engine/contract.ts";
import { cpu } from "../src/engine/cpu/index.ts";
import type { Law } from "../src/harness/law.ts";
import { formatMismatch } from "../src/harness/tolerance.ts";

const kernelOps = Object.keys(cpu.kernels);

export const goldenLaws: Law[] = [...loadGoldens().values()]
  .filter((file) => kernelOps.includes(file.op))
  .map((file) => {
    const op = file.op as OpName;
    return {
      id: `I4.${op}`,
      topic: "engine",
      title: `${op} matches the exact value of every golden case within its ULP budget`,
      note: `Notes 000 and 003 (overflow, underflow, saturation): ${file.cases.length} named cases from golden/${op}.json, exact to 40 digits (mathjs BigNumber), edge cases included.`,
      ops: [op],
      async check(ctx) {
        for (const c of file.cases) {
          const { mismatches } = await checkGoldenCase(ctx.backend, op, c, ctx.options);
          if (mismatches.length > 0)
            ctx.fail(mismatches.map(formatMismatch).join("\n"), mismatches[0]);
        }
      },
    } satisfies Law;
  });
