/**
 * The supervisor: each backend module under test runs in a child process of its own
 * (src/verify/child.ts), never in the process that keeps the verdict. The supervisor owns the
 * clock: a kernel that exits, crashes, hangs (synchronously or after an await), never settles
 * or loops at import fails the law it was running (or the module load) with what happened,
 * and the next law runs in a fresh child. Globals a module overwrites live and die with its
 * child, so they cannot touch another backend.
 *
 * What it does not defend against: a module that deliberately forges the child's messages
 * (it shares the child's process, so it could send a fake verdict). That would need the laws
 * in this process and a round trip per kernel call, several times slower.
 */
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { Backend, Kernels, ToleranceOverrides } from "../engine/contract.ts";
import type { FloatDType } from "../engine/tensor.ts";
import { signatures } from "../engine/validate.ts";
import type { Law, LawResult, RunOptions } from "../harness/law.ts";

/** The child's watchdog thread writes "counter phase op cpu" lines on this descriptor (cpu: the
 * process's CPU time so far, in microseconds). */
export const STATE_FD = 4;
/** Op numbers in the shared state: index + 1 (0: none). */
export const OP_NAMES: readonly string[] = Object.keys(signatures);

export enum Phase {
  Idle = 0,
  Load = 1,
  Law = 2,
  Kernel = 3,
  Reference = 4,
  Dispose = 5,
}

/** The backend as the report needs it: plain data the child sends once it loaded the module. */
export interface Descriptor {
  name: string;
  dtype: FloatDType;
  rng?: "philox4x32-10";
  tolerances?: ToleranceOverrides;
  /** typeof each kernel entry ("function" for a kernel). */
  kernelTypes: Record<string, string>;
  description: string;
  adapterInfo?: unknown;
}

export type ChildResult = Omit<LawResult, "law">;

export type ParentMessage =
  | { t: "load"; path: string; timeoutMs: number }
  | { t: "law"; id: string; run: Omit<RunOptions, "reference"> }
  | { t: "dispose" };

export type ChildMessage =
  | { t: "ready" }
  | { t: "loaded"; descriptor: Descriptor }
  | { t: "load-error"; usage: boolean; message: string }
  | { t: "result"; result: ChildResult }
  | { t: "law-error"; message: string }
  | { t: "disposed"; error?: string };

export interface IsolationOptions {
  /** A kernel call slower than this counts as hung. */
  timeoutMs: number;
  /** A module load slower than this counts as hung (default: the larger of LOAD_MS and the
   * kernel's deadline). */
  loadTimeoutMs?: number;
  /**
   * Called once, while the module loads, when its process is only waiting (hardly on the CPU
   * for a while: a promise that has not settled yet): whoever limits how many children start
   * at once may start another meanwhile.
   */
  onWaiting?: () => void;
}

/** The module could not be loaded: missing, failed to import, or not exporting a backend. */
export class ModuleLoadError extends Error {
  constructor(
    message: string,
    /** true: the user's mistake (exit 2); false: the module misbehaved (hung, crashed). */
    readonly usage: boolean,
  ) {
    super(message);
    this.name = "ModuleLoadError";
  }
}

const CHILD = fileURLToPath(new URL("./child.mjs", import.meta.url));
/** The least time a module gets to load in its child, whatever --timeout says (unless
 * --load-timeout says otherwise). */
export const LOAD_MS = 10_000;
/** How long a child may take to start (tsx and the laws), before it counts as broken. */
const START_MS = 60_000;
/** While loading, a child on the CPU less than this share of the time over WAITING_MS is waiting. */
const WAITING_SHARE = 0.1;
const WAITING_MS = 300;

/** A placeholder of the same `typeof` as a kernel entry that is not a function (for warnings). */
function placeholder(type: string): unknown {
  switch (type) {
    case "object":
      return {};
    case "number":
      return 0;
    case "string":
      return "";
    case "boolean":
      return false;
    case "bigint":
      return 0n;
    case "symbol":
      return Symbol("kernel");
    default:
      return undefined;
  }
}

/** What the child was doing when it died or was stopped, in words. */
function doing(phase: Phase, op: number, law: string | undefined): string {
  const name = OP_NAMES[op - 1];
  switch (phase) {
    case Phase.Kernel:
      return `in the kernel of ${name}`;
    case Phase.Load:
      return "while loading the module";
    case Phase.Dispose:
      return "in dispose()";
    case Phase.Reference:
      return "in the float64 reference";
    default:
      return law ? "between kernel calls" : "between laws";
  }
}

interface Live {
  child: ChildProcess;
  /** Settled when the child exits, with what happened. */
  exited: Promise<string>;
  /** The reason the supervisor stopped it, when it did. */
  stopped?: string;
}

/** One backend module in its child process, restarted after a crash. */
export class ModuleSession {
  readonly backend: Backend;
  private live: Live | undefined;
  /** After a restart failed: the reason every later law fails. */
  private broken: string | undefined;

  private constructor(
    readonly path: string,
    readonly options: IsolationOptions,
    readonly descriptor: Descriptor,
    live: Live | undefined,
    private readonly spawnFresh: () => Promise<{ live: Live; descriptor: Descriptor }>,
  ) {
    this.live = live;
    const kernels: Record<string, unknown> = {};
    for (const [op, type] of Object.entries(descriptor.kernelTypes)) {
      // Never called: the laws run in the child. Present so that reports see what it implements.
      kernels[op] =
        type === "function"
          ? () => {
              throw new Error("an isolated backend's kernels run in its child process");
            }
          : placeholder(type);
    }
    const b: Backend & { adapterInfo?: unknown } = {
      name: descriptor.name,
      dtype: descriptor.dtype,
      kernels: kernels as Kernels,
      ...(descriptor.rng ? { rng: descriptor.rng } : {}),
      ...(descriptor.tolerances ? { tolerances: descriptor.tolerances } : {}),
      ...(descriptor.adapterInfo ? { adapterInfo: descriptor.adapterInfo } : {}),
    };
    this.backend = b;
  }

  /** Starts a child and loads the module in it. Throws ModuleLoadError when it cannot. */
  static async open(path: string, options: IsolationOptions): Promise<ModuleSession> {
    // Not worth a process.
    if (!existsSync(resolve(path))) {
      throw new ModuleLoadError(`${path}: no such file (${resolve(path)})`, true);
    }
    const start = async (): Promise<{ live: Live; descriptor: Descriptor }> => {
      const probe = new Probe(options);
      const live = probe.spawn();
      const descriptor = await probe.load(live, path);
      return { live, descriptor };
    };
    const first = await start().catch((e: unknown) => {
      if (e instanceof ModuleLoadError && !e.usage) return e;
      throw e;
    });
    if (first instanceof ModuleLoadError) {
      // The module misbehaved while loading (hung, crashed, exited): every law fails with it.
      const descriptor: Descriptor = {
        name: path,
        dtype: "float32",
        kernelTypes: Object.fromEntries(OP_NAMES.map((op) => [op, "function"])),
        description: `${path} (did not load)`,
      };
      const session = new ModuleSession(path, options, descriptor, undefined, start);
      session.broken = `the module did not load: ${first.message}`;
      return session;
    }
    return new ModuleSession(path, options, first.descriptor, first.live, start);
  }

  /** Runs one law in the child; never throws. */
  async runLaw(law: Law, run: Omit<RunOptions, "reference">): Promise<LawResult> {
    const started = performance.now();
    const failed = (detail: string): LawResult => ({
      law,
      backend: this.descriptor.name,
      status: "failed",
      message: detail,
      failure: { kind: "contract", detail, replay: { seed: run.seed ?? 0 } },
      ms: performance.now() - started,
    });
    if (this.broken) return failed(this.broken);
    if (!this.live) {
      try {
        this.live = (await this.spawnFresh()).live;
      } catch (e) {
        this.broken = `the module could not be loaded again after its process ended: ${e instanceof Error ? e.message : String(e)}`;
        return failed(this.broken);
      }
    }
    const live = this.live;
    const probe = probes.get(live) as Probe;
    const reply = await probe.request(live, { t: "law", id: law.id, run }, law.id);
    if (reply.t === "result") return { ...reply.result, law };
    if (reply.t === "law-error") return failed(reply.message);
    // The child is gone: the next law gets a fresh one.
    this.live = undefined;
    return failed(reply.t === "gone" ? reply.message : `unexpected answer '${reply.t}'`);
  }

  /** Calls the backend's dispose() in the child and ends the child; returns a note when it misbehaved. */
  async close(): Promise<string | undefined> {
    const live = this.live;
    this.live = undefined;
    if (!live) return undefined;
    const probe = probes.get(live) as Probe;
    const reply = await probe.request(live, { t: "dispose" }, undefined);
    probe.end(live);
    if (reply.t === "disposed")
      return reply.error ? `${this.descriptor.name}: dispose() threw ${reply.error}` : undefined;
    if (reply.t === "gone") return `${this.descriptor.name}: ${reply.message}`;
    return undefined;
  }

  /** Ends the child at once (a cut-short run). */
  kill(): void {
    const live = this.live;
    this.live = undefined;
    if (live) probes.get(live)?.end(live);
  }
}

const probes = new WeakMap<Live, Probe>();

type Reply = ChildMessage | { t: "gone"; message: string };

/** One child process: spawns it, watches its state lines, answers requests or says how it died. */
class Probe {
  private seq = -1;
  private phase = Phase.Idle;
  private op = 0;
  private lastChange = performance.now();
  private lastLine = performance.now();
  /** The child's CPU time (µs) when it entered its current phase, and when. */
  private cpu = 0;
  private cpuMark: { at: number; cpu: number } | undefined;
  private saidWaiting = false;
  private law: string | undefined;
  private waiting: ((m: Reply) => void) | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly grace: number;

  constructor(readonly options: IsolationOptions) {
    this.grace = Math.max(500, options.timeoutMs / 2);
  }

  spawn(): Live {
    const child = fork(CHILD, [], {
      stdio: ["ignore", 2, 2, "ipc", "pipe"],
      serialization: "advanced",
      execArgv: [],
    });
    let buffered = "";
    const pipe = child.stdio[STATE_FD] as Readable | null;
    pipe?.setEncoding("utf8");
    pipe?.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      const last = lines.at(-1);
      if (!last) return;
      const [seq, phase, op, cpu] = last.split(" ").map(Number);
      const now = performance.now();
      this.lastLine = now;
      if (Number.isFinite(cpu)) this.cpu = cpu;
      if (seq !== this.seq) {
        this.seq = seq;
        this.lastChange = now;
        this.cpuMark = { at: now, cpu: this.cpu };
      }
      this.phase = phase as Phase;
      this.op = op;
    });
    const live: Live = {
      child,
      exited: new Promise((resolve) => {
        // "close", not "exit": the state lines the child wrote last (on its way out) are read by then.
        child.on("close", (code, signal) => {
          resolve(
            signal ? `was killed by signal ${signal}` : `exited with code ${code ?? "unknown"}`,
          );
        });
        child.on("error", (e) => resolve(`could not run: ${e.message}`));
      }),
    };
    probes.set(live, this);
    child.on("message", (m: ChildMessage) => {
      const w = this.waiting;
      if (w) {
        this.waiting = undefined;
        w(m);
      }
    });
    void live.exited.then((how) => {
      const w = this.waiting;
      this.waiting = undefined;
      clearInterval(this.timer);
      if (w) {
        const where = doing(this.phase, this.op, this.law);
        w({
          t: "gone",
          message:
            live.stopped ??
            `the backend's process ${how} ${where}${this.law ? ` while law ${this.law} ran` : ""} (the run went on in a fresh process)`,
        });
      }
    });
    this.timer = setInterval(() => this.watch(live), 25);
    this.timer.unref();
    return live;
  }

  /** The supervisor's clock: stops a child stuck past its deadline, saying where. */
  private watch(live: Live): void {
    if (!this.waiting || live.stopped) return;
    const now = performance.now();
    this.noticeWaiting(now);
    const t = this.options.timeoutMs;
    const stuck = now - this.lastChange;
    const silent = now - this.lastLine;
    let reason: string | undefined;
    if (this.seq < 0) {
      if (silent > START_MS) reason = `the backend's process did not start within ${START_MS} ms`;
    } else if (silent > 2000 + t + this.grace) {
      reason = `the backend's process stopped answering altogether for ${Math.round(silent)} ms`;
    } else {
      // Between kernel calls the law's own work runs (generating cases, comparing): a busy
      // machine may slow it, so the margin is wider than a kernel's.
      // Loading is the harness's work as much as the module's (tsx compiles it, the engine
      // loads): on a busy machine that alone can take seconds, so a load gets at least LOAD_MS
      // unless the user said how long (--load-timeout).
      const deadline =
        this.phase === Phase.Load
          ? (this.options.loadTimeoutMs ?? Math.max(LOAD_MS, t + this.grace))
          : this.phase === Phase.Kernel || this.phase === Phase.Dispose
            ? t + this.grace
            : this.phase === Phase.Reference
              ? Math.max(60_000, 2 * t)
              : this.phase === Phase.Idle
                ? Number.POSITIVE_INFINITY
                : t + Math.max(3000, t);
      if (stuck > deadline) {
        const name = OP_NAMES[this.op - 1];
        reason =
          this.phase === Phase.Kernel
            ? `the kernel of ${name} did not return within ${t} ms and blocked its process (a synchronous loop, or a loop after an await); the supervisor stopped it after ${Math.round(stuck)} ms`
            : this.phase === Phase.Load
              ? `loading the module did not finish within ${Math.round(deadline)} ms (a loop at import, or a default export that never settles); the supervisor stopped it`
              : this.phase === Phase.Dispose
                ? `dispose() did not finish within ${Math.round(deadline)} ms; the supervisor stopped it`
                : `the backend's process stopped responding for ${Math.round(stuck)} ms ${doing(this.phase, this.op, this.law)}${name ? ` (last kernel called: ${name})` : ""}: a kernel left work behind that blocks it (a timer or callback that loops); the supervisor stopped it`;
      }
    }
    if (reason) {
      live.stopped = `${reason}${this.law ? `, while law ${this.law} ran (the run went on in a fresh process)` : ""}`;
      live.child.kill("SIGKILL");
    }
  }

  /**
   * A load that has sat WAITING_MS or more with its process hardly on the CPU (a default export
   * that has not settled: waiting on a file, a device, a promise that never settles) is only
   * waiting: `onWaiting` says so, once. A loop at import stays on the CPU and never is.
   */
  private noticeWaiting(now: number): void {
    const mark = this.cpuMark;
    if (this.saidWaiting || !this.options.onWaiting || this.phase !== Phase.Load || !mark) return;
    const wall = now - mark.at;
    if (wall < WAITING_MS) return;
    if ((this.cpu - mark.cpu) / 1000 < WAITING_SHARE * wall) {
      this.saidWaiting = true;
      this.options.onWaiting();
    } else {
      // Busy so far: judge the next stretch on its own.
      this.cpuMark = { at: now, cpu: this.cpu };
    }
  }

  /** Loads the module (once the child says it is ready); the descriptor, or a ModuleLoadError. */
  async load(live: Live, path: string): Promise<Descriptor> {
    const ready = await new Promise<Reply>((resolve) => {
      this.waiting = resolve;
    });
    const reply =
      ready.t === "ready"
        ? await this.request(
            live,
            { t: "load", path, timeoutMs: this.options.timeoutMs },
            undefined,
          )
        : ready;
    if (reply.t === "loaded") return reply.descriptor;
    this.end(live);
    if (reply.t === "load-error") throw new ModuleLoadError(reply.message, reply.usage);
    if (reply.t === "gone") {
      throw new ModuleLoadError(
        `${path}: ${reply.message.replace(" (the run went on in a fresh process)", "")}`,
        false,
      );
    }
    throw new ModuleLoadError(`${path}: unexpected answer ${reply.t}`, false);
  }

  request(live: Live, m: ParentMessage, law: string | undefined): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      if (live.child.exitCode !== null || live.child.signalCode !== null || !live.child.connected) {
        resolve({ t: "gone", message: live.stopped ?? "the backend's process had ended" });
        return;
      }
      this.law = law;
      this.lastChange = performance.now();
      this.waiting = (reply) => {
        this.law = undefined;
        resolve(reply);
      };
      try {
        live.child.send(m);
      } catch (e) {
        this.waiting = undefined;
        resolve({
          t: "gone",
          message: `could not reach the backend's process: ${e instanceof Error ? e.message : String(e)}`,
        });
      }
    });
  }

  end(live: Live): void {
    clearInterval(this.timer);
    if (live.child.exitCode === null && live.child.signalCode === null) {
      live.stopped ??= "ended by the supervisor";
      live.child.kill("SIGKILL");
    }
  }
}
