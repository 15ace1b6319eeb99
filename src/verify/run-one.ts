/**
 * One law on one backend, in whichever process runs it (verify.ts in this one, child.ts in a
 * module's own): anything a kernel throws outside its returned value fails that law. Imports no
 * laws, so that a module's child process loads only the law files it runs.
 */
import type { Backend } from "../engine/contract.ts";
import { describeThrown } from "../engine/errors.ts";
import { type Law, type LawResult, type RunOptions, runLaw } from "../harness/law.ts";

const DEFAULT_SEED = 20261122;

/**
 * One law on one backend in this process, blaming the law for anything its kernels threw
 * outside their returned values (from a timer or callback). Never throws.
 */
export async function runOneLaw(
  law: Law,
  backend: Backend,
  run: RunOptions,
  stray: StrayErrors,
): Promise<LawResult> {
  stray.take();
  let result = await runLaw(law, backend, run);
  // An error thrown from a kernel's zero-delay timer surfaces after this one fires
  // (timers of equal delay run in the order they were set).
  await new Promise((resolve) => setTimeout(resolve, 0));
  const escaped = stray.take();
  if (escaped.length > 0) result = blame(result, escaped, run.seed ?? DEFAULT_SEED);
  return result;
}

/**
 * Catches what a kernel throws outside its promise (from a timer or a callback), which would
 * otherwise kill the process, so that the law running at the time fails instead.
 */
export class StrayErrors {
  private errors: unknown[] = [];
  private readonly onError = (e: unknown) => {
    this.errors.push(e);
  };
  constructor() {
    process.on("uncaughtException", this.onError);
    process.on("unhandledRejection", this.onError);
  }
  take(): unknown[] {
    const taken = this.errors;
    this.errors = [];
    return taken;
  }
  dispose(): void {
    process.off("uncaughtException", this.onError);
    process.off("unhandledRejection", this.onError);
  }
}

function blame(result: LawResult, escaped: unknown[], seed: number): LawResult {
  const times = new Map<string, number>();
  for (const e of escaped) {
    const what = describeThrown(e);
    times.set(what, (times.get(what) ?? 0) + 1);
  }
  const what = [...times].map(([w, n]) => (n > 1 ? `${w} (${n} times)` : w));
  const detail = `a kernel threw outside its returned value (uncaught, from a timer or callback) while this law ran: ${what.join("; ")}`;
  const message = result.message ? `${detail}\n${result.message}` : detail;
  return {
    ...result,
    status: "failed",
    message,
    failure: result.failure
      ? { ...result.failure, detail: `${detail}\n${result.failure.detail}` }
      : { kind: "contract", detail, replay: { seed } },
  };
}
