/**
 * A small reverse-mode automatic-differentiation tape over a backend's kernels, in the spirit of
 * micrograd: every forward op is one kernel call, recorded with the tensors its `<op>_vjp`
 * kernel will need; `backward` walks the record in reverse and asks each `<op>_vjp` for the
 * gradient of its inputs, adding up (on the host) the gradients of values used more than once.
 *
 *   const tape = new Tape(backend);
 *   const w = tape.leaf(weights, "w");
 *   const x = tape.constant(inputs, "x");
 *   const logits = await tape.op("matmul", { a: x, b: w }, {});
 *   const loss = await tape.op("cross_entropy", { logits, target }, { reduction: "mean" });
 *   await tape.backward(loss); // w.grad now holds ∂loss/∂w
 *
 * Kernel calls go through `call` (validated, contract-checked) unless a `call` hook is given,
 * e.g. one that checks every kernel against a reference. `Tape.onDevice(backend)` records the
 * same graph on a backend's device tensors (`backend.device`): forward, backward and gradient
 * sums all run there, through `callDevice`, and nothing comes back until the caller reads it.
 * A tape is used once: like PyTorch's graph, `backward` consumes it and frees what it saved. With `{ grad: false }` (inference) the
 * tape records nothing and saves nothing: the memory difference between training and inference.
 */
import { type CallOptions, call } from "./call.ts";
import type { Attrs, Backend, DeviceTensor, Inputs, OpName, Output } from "./contract.ts";
import { callDevice } from "./device.ts";
import {
  arrayFor,
  cast,
  dtypeOf,
  type FloatDType,
  type IndexTensor,
  sizeOf,
  type Tensor,
} from "./tensor.ts";

/** How to run a kernel: `call` on a backend by default; `ctx.call` or a checking hook in laws. */
export type Caller = <O extends OpName>(
  op: O,
  inputs: Inputs<O>,
  attrs: Attrs<O>,
) => Promise<Output<O>>;

/** A caller that runs `op` on `backend` through the validated, contract-checked door. */
export function callerOf(backend: Backend, options: CallOptions = {}): Caller {
  return (op, inputs, attrs) => call(backend, op, inputs, attrs, options);
}

/** Forward ops the contract pairs with an `<op>_vjp` kernel. */
export type DifferentiableOp =
  | "neg"
  | "exp"
  | "log"
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "relu"
  | "leaky_relu"
  | "sigmoid"
  | "tanh"
  | "gelu"
  | "silu"
  | "sum"
  | "mean"
  | "max"
  | "variance"
  | "matmul"
  | "softmax"
  | "log_softmax"
  | "logsumexp"
  | "cross_entropy"
  | "nll"
  | "mse"
  | "batch_norm"
  | "layer_norm"
  | "dropout";

/** How the backward kernel of a forward op is called and what it returns. */
export interface GradRule {
  /** The forward inputs the `_vjp` kernel receives (besides `dy`): what training must keep. */
  readonly saved: readonly string[];
  /** For each input that gets a gradient, the key of that gradient in the `_vjp` output
   * ("y" for a single-tensor output). Inputs not listed (targets, running statistics) are
   * constants to the contract and get no gradient. */
  readonly grads: Readonly<Record<string, string>>;
  /** The `_vjp` attributes from the forward ones, where they differ. */
  readonly attrs?: (forward: Record<string, unknown>) => Record<string, unknown>;
}

const unary: GradRule = { saved: ["x"], grads: { x: "y" } };
const binary: GradRule = { saved: ["a", "b"], grads: { a: "da", b: "db" } };

/** The contract's backward kernels, as data: shared by the tape and the gradient laws. */
export const gradRules: { readonly [O in DifferentiableOp]: GradRule } = {
  neg: unary,
  exp: unary,
  log: unary,
  add: binary,
  sub: binary,
  mul: binary,
  div: binary,
  relu: unary,
  leaky_relu: unary,
  sigmoid: unary,
  tanh: unary,
  gelu: unary,
  silu: unary,
  sum: unary,
  mean: unary,
  max: unary,
  variance: unary,
  matmul: binary,
  softmax: unary,
  log_softmax: unary,
  logsumexp: unary,
  cross_entropy: { saved: ["logits", "target"], grads: { logits: "y" } },
  nll: { saved: ["logp", "target"], grads: { logp: "y" } },
  mse: { saved: ["pred", "target"], grads: { pred: "y" } },
  // The contract's batch-norm gradient is the training-mode one (batch statistics depend on x).
  batch_norm: {
    saved: ["x", "gamma"],
    grads: { x: "dx", gamma: "dgamma", beta: "dbeta" },
    attrs: (a) => ({ eps: a.eps }),
  },
  layer_norm: { saved: ["x", "gamma", "beta"], grads: { x: "dx", gamma: "dgamma", beta: "dbeta" } },
  // The mask is a function of (seed, index), so the same attributes replay it exactly.
  dropout: unary,
};

/** Runs an op whose name is only known at run time (the tape's generic path). */
export async function callDynamic<V = Tensor>(
  caller: Caller,
  op: OpName,
  inputs: Readonly<Record<string, unknown>>,
  attrs: Readonly<Record<string, unknown>>,
): Promise<V | Record<string, V>> {
  const out = await caller(op, inputs as never, attrs as never);
  return out as unknown as V | Record<string, V>;
}

/** A kernel's outputs by name ("y" for a single-tensor output). */
function named<V>(out: V | Record<string, V>): Record<string, V> {
  const o = out as { shape?: unknown };
  return Array.isArray(o.shape) ? { y: out as V } : (out as Record<string, V>);
}

/** The tensor under `key` of a kernel's output ("y" names a single-tensor output). */
export function outputOf<V extends { shape: readonly number[] } = Tensor>(
  out: V | Record<string, V>,
  key: string,
): V {
  if ("shape" in out && Array.isArray(out.shape)) return out as V;
  return (out as Record<string, V>)[key];
}

/**
 * Where a tape's values live, and the three things the tape does to them itself: take one in,
 * start the backward pass with ones, add up the gradients of a value used more than once.
 */
interface Values<V> {
  own(t: V): V;
  bytes(t: V): number;
  ones(shape: readonly number[]): Promise<V>;
  add(into: V, g: V): Promise<V>;
  /** Frees a value the tape made (device tensors; host ones are left to the collector). */
  free?(t: V): void;
}

/** Host tensors: cast to the backend's dtype, sums on the host (each rounded once). */
const hostValues = (dtype: FloatDType): Values<Tensor> => ({
  own: (t) => (dtypeOf(t) === dtype ? t : cast(t, dtype)),
  bytes: (t) => t.data.byteLength,
  ones: async (shape) => ({ shape: [...shape], data: arrayFor(dtype, sizeOf(shape)).fill(1) }),
  add: async (into, g) => accumulate(into, g),
});

/** Device tensors: the seed uploaded, the sums by the backend's own `add` (through `caller`). */
function deviceValues(backend: Backend, caller: Caller): Values<DeviceTensor> {
  const device = backend.device;
  if (!device) throw new Error(`Tape.onDevice: backend ${backend.name} has no device tensors`);
  const width = backend.dtype === "float64" ? 8 : 4;
  return {
    own: (t) => t,
    bytes: (t) => sizeOf(t.shape) * width,
    ones: async (shape) =>
      device.upload({ shape: [...shape], data: arrayFor(backend.dtype, sizeOf(shape)).fill(1) }),
    add: (into, g) =>
      caller("add", { a: into, b: g } as never, {}) as unknown as Promise<DeviceTensor>,
    free: (t) => device.free(t),
  };
}

let nextId = 0;

/**
 * A value on a tape: a tensor (a host Tensor, or a DeviceTensor on a device tape), whether
 * gradients flow to it, and its gradient after backward.
 */
export class Var<V extends Tensor | DeviceTensor = Tensor> {
  readonly id = nextId++;
  /** ∂loss/∂value after `backward`, in the backend's dtype; undefined where no path leads. */
  grad: V | undefined = undefined;
  constructor(
    readonly tape: Tape<V>,
    readonly value: V,
    readonly requiresGrad: boolean,
    readonly name?: string,
    /** Extra outputs of the op (batch-norm's updated running statistics). */
    readonly aux?: Readonly<Record<string, V>>,
  ) {}

  get shape(): readonly number[] {
    return this.value.shape;
  }
}

/** An op input on the tape: tensors become Vars, class indices stay as they are (a device
 * tensor of dtype int32 on a device tape). */
type TapeInput<T, V extends Tensor | DeviceTensor> = T extends IndexTensor
  ? V extends Tensor
    ? IndexTensor
    : DeviceTensor
  : T extends Tensor
    ? Var<V>
    : never;
export type TapeInputs<O extends DifferentiableOp, V extends Tensor | DeviceTensor = Tensor> = {
  [K in keyof Inputs<O>]: TapeInput<Inputs<O>[K], V>;
};

interface Node<V extends Tensor | DeviceTensor> {
  op: DifferentiableOp;
  inputs: Record<string, Var<V> | IndexTensor | DeviceTensor>;
  attrs: Record<string, unknown>;
  output: Var<V>;
}

export interface TapeOptions {
  /** false: inference mode, nothing is recorded or saved and no Var requires a gradient. */
  grad?: boolean;
  /** Runs each kernel (default: `call` on the backend, with `timeoutMs`). */
  call?: Caller;
  timeoutMs?: number;
}

export class Tape<V extends Tensor | DeviceTensor = Tensor> {
  readonly dtype: FloatDType;
  private readonly caller: Caller;
  private readonly values: Values<V>;
  private recording: boolean;
  private nodes: Node<V>[] = [];
  /** Every tensor kept for the backward pass, counted once however many ops keep it. */
  private saved = new Map<unknown, number>();
  private consumed = false;
  /** Every value the tape's kernels made: op outputs, gradients, partial sums (see `free`). */
  private made = new Set<V>();

  constructor(
    readonly backend: Backend,
    opts: TapeOptions = {},
    values?: Values<V>,
  ) {
    this.dtype = backend.dtype;
    this.caller = opts.call ?? callerOf(backend, { timeoutMs: opts.timeoutMs });
    this.values = values ?? (hostValues(backend.dtype) as unknown as Values<V>);
    this.recording = opts.grad !== false;
  }

  /**
   * A tape whose values are `backend`'s device tensors: every op, vjp and gradient sum runs as a
   * device kernel (through `callDevice`, validated, unless a `call` hook taking and returning
   * device tensors is given), so a training step reads nothing back.
   */
  static onDevice(backend: Backend, opts: TapeOptions = {}): Tape<DeviceTensor> {
    const options = { timeoutMs: opts.timeoutMs };
    const caller =
      opts.call ??
      (((op, inputs, attrs) =>
        callDevice(backend, op, inputs as never, attrs as never, options)) as Caller);
    return new Tape<DeviceTensor>(
      backend,
      { ...opts, call: caller },
      deviceValues(backend, caller),
    );
  }

  /** Bytes of the tensors kept for backward: activations grow with batch size and depth. */
  get savedBytes(): number {
    let total = 0;
    for (const bytes of this.saved.values()) total += bytes;
    return total;
  }

  /**
   * Frees every device tensor this tape's kernels made (outputs, gradients and their partial
   * sums): read what you need first. Leaves and constants stay the caller's. Host tapes do
   * nothing (the garbage collector frees host tensors).
   */
  free(): void {
    const free = this.values.free;
    if (free) for (const t of this.made) free(t);
    this.made.clear();
  }

  /** Number of ops recorded for backward. */
  get size(): number {
    return this.nodes.length;
  }

  /** A parameter or input whose gradient `backward` computes (cast to the backend dtype). */
  leaf(t: V, name?: string): Var<V> {
    return new Var(this, this.values.own(t), this.recording, name);
  }

  /** A value that gets no gradient (data, targets, running statistics). */
  constant(t: V, name?: string): Var<V> {
    return new Var(this, this.values.own(t), false, name);
  }

  /** Runs `fn` with recording off (PyTorch's `no_grad`): its ops save nothing. */
  async noGrad<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.recording;
    this.recording = false;
    try {
      return await fn();
    } finally {
      this.recording = before;
    }
  }

  /**
   * Runs a forward op on the backend and, if any input needs a gradient, records it with the
   * inputs its `_vjp` kernel will need. Batch-norm's Var holds `y`; its running statistics are
   * in `aux`.
   */
  async op<O extends DifferentiableOp>(
    op: O,
    inputs: TapeInputs<O, V>,
    attrs: Attrs<O>,
  ): Promise<Var<V>> {
    if (this.consumed)
      throw new Error(`Tape.op(${op}): this tape was consumed by backward; start a new one`);
    const rule = gradRules[op];
    const raw: Record<string, V | IndexTensor | DeviceTensor> = {};
    let needsGrad = false;
    for (const [key, v] of Object.entries(inputs as Record<string, Var<V> | IndexTensor>)) {
      if (v instanceof Var) {
        if (v.tape !== this)
          throw new Error(`Tape.op(${op}): input '${key}' belongs to another tape`);
        raw[key] = v.value;
        if (v.requiresGrad && key in rule.grads) needsGrad = true;
      } else raw[key] = v;
    }
    const out = await callDynamic<V>(this.caller, op, raw, attrs as Record<string, unknown>);
    const value = outputOf<V>(out, "y");
    for (const t of Object.values(named(out))) this.track(t);
    let aux: Record<string, V> | undefined;
    if (value !== out) aux = Object.fromEntries(Object.entries(out).filter(([k]) => k !== "y"));
    const record = this.recording && needsGrad;
    const output = new Var(this, value, record, undefined, aux);
    if (record) {
      this.nodes.push({
        op,
        inputs: { ...(inputs as Record<string, Var<V> | IndexTensor>) },
        attrs: { ...attrs },
        output,
      });
      for (const key of rule.saved) this.saved.set(raw[key], this.values.bytes(raw[key] as V));
    }
    return output;
  }

  /**
   * Computes ∂loss/∂v for every Var v that requires a gradient, into `v.grad`. `seed` is the
   * upstream gradient (default 1, for a one-element loss). Consumes the tape.
   */
  async backward(loss: Var<V>, seed?: V): Promise<void> {
    if (loss.tape !== this) throw new Error("Tape.backward: the loss belongs to another tape");
    if (this.consumed) throw new Error("Tape.backward: this tape was already consumed by backward");
    const count = sizeOf(loss.shape);
    if (!seed && count !== 1) {
      throw new Error(
        `Tape.backward: the loss has shape [${loss.shape.join(", ")}]; pass a seed gradient of that shape`,
      );
    }
    const dy = seed ? this.values.own(seed) : await this.values.ones(loss.shape);
    if (!seed) this.track(dy);
    if (sizeOf(dy.shape) !== count)
      throw new Error("Tape.backward: the seed's shape differs from the loss's");
    loss.grad = loss.grad ? await this.sum(loss.grad, dy) : dy;
    for (let n = this.nodes.length - 1; n >= 0; n--) {
      const node = this.nodes[n];
      const g = node.output.grad;
      if (!g) continue;
      if (node.op === "batch_norm" && node.attrs.training === false) {
        throw new Error(
          "Tape.backward: the contract has no eval-mode batch_norm gradient; run eval mode under noGrad",
        );
      }
      const rule = gradRules[node.op];
      const vjpInputs: Record<string, unknown> = { dy: g };
      for (const key of rule.saved) vjpInputs[key] = tensorOfInput(node.inputs[key]);
      const vjpAttrs = rule.attrs ? rule.attrs(node.attrs) : node.attrs;
      const grads = await callDynamic<V>(
        this.caller,
        `${node.op}_vjp` as OpName,
        vjpInputs,
        vjpAttrs,
      );
      for (const t of Object.values(named(grads))) this.track(t);
      for (const [input, key] of Object.entries(rule.grads)) {
        const v = node.inputs[input];
        if (!(v instanceof Var) || !v.requiresGrad) continue;
        const part = outputOf<V>(grads, key);
        v.grad = v.grad ? await this.sum(v.grad, part) : part;
      }
    }
    this.nodes = [];
    this.saved.clear();
    this.consumed = true;
  }

  private async sum(into: V, g: V): Promise<V> {
    const s = await this.values.add(into, g);
    this.track(s);
    return s;
  }

  /** Remembers a value the tape made, where `free` will free it (device tapes only). */
  private track(t: V): void {
    if (this.values.free) this.made.add(t);
  }
}

function tensorOfInput<V extends Tensor | DeviceTensor>(
  v: Var<V> | IndexTensor | DeviceTensor,
): unknown {
  return v instanceof Var ? v.value : v;
}

/** Host-side gradient accumulation: each sum rounded once to the dtype; never in place. */
function accumulate(into: Tensor, g: Tensor): Tensor {
  const data = arrayFor(dtypeOf(into) === "float64" ? "float64" : "float32", g.data.length);
  for (let i = 0; i < data.length; i++) data[i] = into.data[i] + g.data[i];
  return { shape: [...into.shape], data };
}
