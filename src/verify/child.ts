/**
 * The child side of isolation (src/verify/isolate.ts is the supervisor): loads one backend
 * module and runs the laws the supervisor sends it, one at a time, each with the same code the
 * in-process runner uses. Nothing here decides the verdict on its own: the supervisor owns the
 * clock, and a child that exits, crashes or stops answering fails the law it was running.
 *
 * So that the supervisor can see a kernel stuck in a loop without a message per call, the
 * kernels write what they are doing (phase, op, a counter) into shared memory, and a watchdog
 * thread reports it on a pipe (fd 4) every few milliseconds whatever the main thread does, with
 * the process's CPU time (so that the supervisor can tell a load that computes from one that
 * only waits).
 */
import { writeSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { Backend, Kernels } from "../engine/contract.ts";
import { describeThrown, KernelContractError } from "../engine/errors.ts";
import type { Law, RunOptions } from "../harness/law.ts";
import { describeBackend, loadBackend, prepareToLoad, reference } from "./backends.ts";
import {
  type ChildMessage,
  type Descriptor,
  OP_NAMES,
  type ParentMessage,
  Phase,
  STATE_FD,
} from "./isolate.ts";
import { runOneLaw, StrayErrors } from "./run-one.ts";

/**
 * The law files a law id most likely lives in, by the catalogue's letters: importing one file
 * instead of every law makes a child start (and every restart after a crash) much cheaper.
 */
const FILES: Record<string, readonly string[]> = {
  A: ["likelihood"],
  B: ["softmax"],
  C: ["activations"],
  D: ["init"],
  E: ["dropout"],
  F: ["normalization"],
  G: ["backprop"],
  H: ["regularization"],
  I: ["golden", "sizes", "engine"],
};

const found = new Map<string, Law>();
async function findLaw(id: string): Promise<Law | undefined> {
  const cached = found.get(id);
  if (cached) return cached;
  const search = async (specifier: string) => {
    const mod = (await import(specifier)) as Record<string, unknown>;
    for (const value of Object.values(mod)) {
      if (!Array.isArray(value)) continue;
      for (const law of value as Law[])
        if (law && typeof law.id === "string") found.set(law.id, law);
    }
    return found.get(id);
  };
  for (const file of FILES[id[0]] ?? []) {
    const law = await search(`../../properties/${file}.laws.ts`).catch(() => undefined);
    if (law) return law;
  }
  // Not where its letter says (a new file): every law, as the supervisor has them.
  return search("../../properties/index.ts");
}

const state = new Int32Array(new SharedArrayBuffer(12));
/** Records what the main thread does now (and the op it runs, or ran last); every change bumps
 * the counter the watchdog watches. */
function enter(phase: Phase, op = 0): void {
  Atomics.store(state, 1, phase);
  Atomics.store(state, 2, op);
  Atomics.add(state, 0, 1);
}

const watchdog = new Worker(
  `const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const s = new Int32Array(workerData.sab);
setInterval(() => {
  try {
    const cpu = process.cpuUsage();
    writeSync(workerData.fd, Atomics.load(s, 0) + " " + Atomics.load(s, 1) + " " + Atomics.load(s, 2) + " " + (cpu.user + cpu.system) + "\\n");
  } catch {}
}, 40);`,
  { eval: true, workerData: { sab: state.buffer, fd: STATE_FD } },
);
watchdog.unref();

// On the way out (process.exit in a kernel, above all), say once more where the main thread
// was: the watchdog's last line may be older than the exit.
process.on("exit", () => {
  try {
    // No CPU time: the module may have broken process.cpuUsage in this thread, and the
    // supervisor only needs it while the process lives.
    writeSync(
      STATE_FD,
      `${Atomics.load(state, 0)} ${Atomics.load(state, 1)} ${Atomics.load(state, 2)}\n`,
    );
  } catch {}
});

const send = (m: ChildMessage) => process.send?.(m);
// The channel is the child's reason to live: without the supervisor there is nothing to do.
process.on("disconnect", () => process.exit(0));

let backend: Backend | undefined;
let wrapped: Backend | undefined;
let stray: StrayErrors | undefined;

/** The module's kernels, marking the shared state around each call. */
function marked(b: Backend, timeoutMs: number): Backend {
  const kernels: Record<string, unknown> = {};
  for (const [op, kernel] of Object.entries(b.kernels)) {
    const index = OP_NAMES.indexOf(op) + 1;
    if (typeof kernel !== "function" || index === 0) {
      kernels[op] = kernel;
      continue;
    }
    const k = kernel as (inputs: unknown, attrs: unknown) => unknown;
    kernels[op] = (inputs: unknown, attrs: unknown) => {
      enter(Phase.Kernel, index);
      let r: unknown;
      try {
        r = k(inputs, attrs);
      } catch (e) {
        enter(Phase.Law, index);
        throw e;
      }
      let then: unknown;
      try {
        then =
          typeof r === "object" || typeof r === "function"
            ? (r as { then?: unknown })?.then
            : undefined;
      } catch (e) {
        enter(Phase.Law, index);
        throw e;
      }
      if (typeof then !== "function") {
        enter(Phase.Law, index);
        return r;
      }
      // Asynchronous: the kernel is running until it settles or its time is up (call.ts gives
      // up at the same moment); a loop after an await keeps the phase, and the supervisor sees it.
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          enter(Phase.Law, index);
          reject(new KernelContractError(op, b.name, `did not return within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (settle: (v: unknown) => void) => (v: unknown) => {
          clearTimeout(timer);
          enter(Phase.Law, index);
          settle(v);
        };
        try {
          then.call(r, done(resolve), done(reject));
        } catch (e) {
          done(reject)(e);
        }
      });
    };
  }
  return Object.create(b, { kernels: { value: kernels as Kernels, enumerable: true } }) as Backend;
}

/** The reference's calls are ours: marked apart, so that their time is never blamed on a kernel. */
function markedReference(): Backend {
  const kernels: Record<string, unknown> = {};
  for (const [op, kernel] of Object.entries(reference.kernels)) {
    const k = kernel as (inputs: unknown, attrs: unknown) => unknown;
    kernels[op] = (inputs: unknown, attrs: unknown) => {
      enter(Phase.Reference);
      try {
        return k(inputs, attrs);
      } finally {
        enter(Phase.Law);
      }
    };
  }
  return { ...reference, kernels: kernels as Kernels };
}

/** What the supervisor needs of the backend to report it: plain data only. */
function describe(b: Backend): Descriptor {
  const kernelTypes: Record<string, string> = {};
  for (const [op, k] of Object.entries(b.kernels)) kernelTypes[op] = typeof k;
  const info = (b as { adapterInfo?: unknown }).adapterInfo;
  return {
    name: String(b.name),
    dtype: b.dtype,
    rng: b.rng === "philox4x32-10" ? b.rng : undefined,
    tolerances: b.tolerances ? JSON.parse(JSON.stringify(b.tolerances)) : undefined,
    kernelTypes,
    description: describeBackend(b),
    adapterInfo: info ? JSON.parse(JSON.stringify(info)) : undefined,
  };
}

async function handle(m: ParentMessage): Promise<void> {
  switch (m.t) {
    case "load": {
      // Before the load's clock starts: tsx's own start-up is the harness's, not the module's.
      await prepareToLoad();
      enter(Phase.Load);
      try {
        backend = await loadBackend(m.path);
        wrapped = marked(backend, m.timeoutMs);
        const descriptor = describe(backend);
        enter(Phase.Idle);
        send({ t: "loaded", descriptor });
      } catch (e) {
        enter(Phase.Idle);
        const usage = e instanceof Error && e.name === "BackendModuleError";
        send({ t: "load-error", usage, message: usage ? (e as Error).message : describeThrown(e) });
      }
      stray ??= new StrayErrors();
      return;
    }
    case "law": {
      const law = await findLaw(m.id);
      if (!law || !wrapped || !stray) {
        send({ t: "law-error", message: `no law '${m.id}' or no backend in the child` });
        return;
      }
      const run: RunOptions = { ...m.run, reference: markedReference() };
      enter(Phase.Law);
      const result = await runOneLaw(law, wrapped, run, stray);
      enter(Phase.Idle);
      const { law: _law, ...rest } = result;
      try {
        send({ t: "result", result: rest });
      } catch (e) {
        // A result that cannot be sent (a kernel's exotic error in it) still reports the verdict.
        send({
          t: "result",
          result: {
            backend: rest.backend,
            status: rest.status,
            ms: rest.ms,
            message: rest.message,
            missing: rest.missing,
          },
        });
        void e;
      }
      return;
    }
    case "dispose": {
      enter(Phase.Dispose);
      try {
        await backend?.dispose?.();
        enter(Phase.Idle);
        send({ t: "disposed" });
      } catch (e) {
        enter(Phase.Idle);
        send({ t: "disposed", error: describeThrown(e) });
      }
      return;
    }
  }
}

// One message at a time, in order.
let queue: Promise<void> = Promise.resolve();
process.on("message", (m: ParentMessage) => {
  queue = queue.then(() => handle(m));
});
enter(Phase.Idle);
// Only once the watchdog runs may the module's code: a loop at import must not keep it from
// starting.
watchdog.once("online", () => send({ t: "ready" }));
