/**
 * dispose() while kernel calls are in flight, many times over (teardown.test.ts runs this in a
 * process of its own: a crash must not take the test runner with it). Prints one JSON line.
 *
 * The kernels are ones whose pipelines compile fast on SwiftShader (softmax on rows of 8 is one
 * thread per row; a 256-thread-per-row softmax or a matmul takes a second or more, per round,
 * since every round is a new device): what is under test is the teardown with readbacks
 * pending, which `pendingAtDispose` counts, not the kernels.
 */
import { call } from "../call.ts";
import { tensor } from "../tensor.ts";
import { createWebGpuBackend } from "./index.ts";

const rounds = Number(process.argv[2] ?? 10);
const counts = {
  rounds: 0,
  /** Calls not yet settled when dispose() was called: all of them, or the test proves nothing. */
  pendingAtDispose: 0,
  completed: 0,
  failed: 0,
  refused: 0,
  other: [] as string[],
};
/** 32768 floats, as rows of 8. */
const x = tensor("float32", [4096, 8], 0.5);
for (let i = 0; i < rounds; i++) {
  const b = await createWebGpuBackend();
  if (!b) {
    console.log(JSON.stringify({ noAdapter: true }));
    process.exit(0);
  }
  const pending = [
    call(b, "softmax", { x }, {}),
    call(b, "add", { a: x, b: x }, {}),
    call(b, "sum", { x }, { axis: 1 }),
  ];
  let settled = 0;
  for (const p of pending) p.finally(() => settled++).catch(() => undefined);
  // Disposed while the readbacks are pending, and asked for more work after.
  const disposed = b.dispose();
  counts.pendingAtDispose += pending.length - settled;
  const late = call(b, "exp", { x }, {}).then(
    () => counts.other.push("a call after dispose() ran"),
    (e: unknown) => {
      if (String(e).includes("disposed")) counts.refused++;
      else counts.other.push(String(e));
    },
  );
  for (const r of await Promise.allSettled(pending)) {
    if (r.status === "fulfilled") counts.completed++;
    else counts.failed++;
  }
  await late;
  await disposed;
  counts.rounds++;
}
console.log(JSON.stringify(counts));

// A device lost mid-run (destroyed under a pending call, as a driver reset would): the call
// fails saying so, and the backend still disposes cleanly.
{
  const b = await createWebGpuBackend();
  if (b) {
    const pending = call(b, "softmax", { x }, {});
    b.runtime.device.destroy();
    const said = await pending.then(
      () => "completed",
      (e: unknown) => String(e),
    );
    console.log(JSON.stringify({ lost: said }));
    await b.dispose();
  }
}
