/**
 * dispose() while kernel calls are in flight, many times over (teardown.test.ts runs this in a
 * process of its own: a crash must not take the test runner with it). Prints one JSON line.
 */
import { call } from "../call.ts";
import { tensor } from "../tensor.ts";
import { createWebGpuBackend } from "./index.ts";

const rounds = Number(process.argv[2] ?? 10);
const counts = { rounds: 0, completed: 0, failed: 0, refused: 0, other: [] as string[] };
for (let i = 0; i < rounds; i++) {
  const b = await createWebGpuBackend();
  if (!b) {
    console.log(JSON.stringify({ noAdapter: true }));
    process.exit(0);
  }
  const x = tensor("float32", [64, 512], 0.5);
  const pending = [
    call(b, "softmax", { x }, {}),
    call(b, "matmul", { a: x, b: tensor("float32", [512, 32], 1) }, {}),
    call(b, "sum", { x }, { axis: 1 }),
  ];
  // Disposed while the readbacks are pending, and asked for more work after.
  const disposed = b.dispose();
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
    const x = tensor("float32", [64, 512], 0.5);
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
