/**
 * I6. Tensors that stay on the device [notes 003, 004: the engine]. A backend may keep tensors on
 * its device between calls (`backend.device`). Where values live must not change what they
 * are: the same kernels on the same values give the same bits, whether each call reads its
 * outputs back or a chain passes device tensors along; every op keeps its budget. What breaks that is residency itself: an
 * output written into an input's buffer, a buffer handed back to a pool while a tensor still
 * holds it, a readback of the wrong length or offset. These laws apply to backends that offer
 * device tensors; every other law checks the values themselves.
 */
import fc from "fast-check";
import { Tape, type Var } from "../src/engine/autograd.ts";
import type { Backend, Device, DeviceTensor, OpName } from "../src/engine/contract.ts";
import { callDevice } from "../src/engine/device.ts";
import { type ExampleCall, exampleCalls, lcgTensor } from "../src/engine/examples.ts";
import {
  type AnyTensor,
  cast,
  dtypeOf,
  formatShape,
  indices,
  sizeOf,
  type Tensor,
} from "../src/engine/tensor.ts";
import { signatures } from "../src/engine/validate.ts";
import type { Law, LawContext } from "../src/harness/law.ts";
import { seededIndices, seededValues } from "../src/harness/seeded.ts";

const hasDevice = (b: Backend) => b.device !== undefined;

/** The first element where two tensors' values differ (NaN equals NaN), or −1. */
function firstDifference(a: AnyTensor, b: AnyTensor): number {
  if (a.data.length !== b.data.length) return 0;
  for (let i = 0; i < a.data.length; i++) {
    const [x, y] = [a.data[i], b.data[i]];
    if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) return i;
  }
  return -1;
}

/** Fails unless `now` holds `was`'s shape and bits. */
function expectSameBits(ctx: LawContext, what: string, now: AnyTensor, was: AnyTensor): void {
  if (formatShape(now.shape) !== formatShape(was.shape)) {
    ctx.fail(`${what}: shape ${formatShape(now.shape)}, was ${formatShape(was.shape)}`);
  }
  const i = firstDifference(now, was);
  if (i >= 0) {
    ctx.fail(`${what}: element ${i} is ${now.data[i]}, was ${was.data[i]} (of ${was.data.length})`);
  }
}

/** A host tensor in the backend's dtype (class indices stay int32). */
const asDtype = (ctx: LawContext, t: AnyTensor): AnyTensor =>
  dtypeOf(t) === "int32" || dtypeOf(t) === ctx.dtype ? t : cast(t as Tensor, ctx.dtype);

/** Single outputs keyed "y", as the contract names them. */
const named = (out: unknown): Record<string, unknown> =>
  Array.isArray((out as { shape?: unknown }).shape) ? { y: out } : (out as Record<string, unknown>);

/**
 * Device kernels under watch. Every device tensor's values are read when it is made (uploaded,
 * or returned by a kernel); each call first checks that its inputs still hold them, then that
 * its outputs agree with the same op on host tensors (the backend's own `call`) within twice
 * the op's budget, and finally that it left its inputs as they were. Every read is the law's
 * own: a chain that is not watched reads nothing back.
 */
class Watch {
  private readonly seen = new Map<DeviceTensor, AnyTensor>();
  private readonly made: DeviceTensor[] = [];
  private readonly device: Device;
  constructor(private readonly ctx: LawContext) {
    this.device = ctx.backend.device!;
  }

  async upload(t: AnyTensor): Promise<DeviceTensor> {
    const h = await this.device.upload(asDtype(this.ctx, t));
    this.made.push(h);
    this.seen.set(h, await this.device.read(h));
    expectSameBits(
      this.ctx,
      "a tensor uploaded and read back",
      this.seen.get(h)!,
      asDtype(this.ctx, t),
    );
    return h;
  }

  /** Runs `op` on the device (through callDevice) under watch; returns its device outputs. */
  readonly call = async (op: OpName, inputs: object, attrs: object): Promise<unknown> => {
    const { ctx, device } = this;
    const host: Record<string, AnyTensor> = {};
    for (const [k, h] of Object.entries(inputs) as [string, DeviceTensor][]) {
      host[k] = await device.read(h);
      const was = this.seen.get(h);
      if (was) expectSameBits(ctx, `${op}'s input '${k}' changed after it was made`, host[k], was);
    }
    const out = await callDevice(ctx.backend, op, inputs as never, attrs as never, {
      timeoutMs: ctx.options.timeoutMs,
    });
    const read: Record<string, AnyTensor> = {};
    for (const [k, h] of Object.entries(named(out)) as [string, DeviceTensor][]) {
      read[k] = await device.read(h);
      this.seen.set(h, read[k]);
    }
    const actual = "y" in read && Object.keys(read).length === 1 ? read.y : read;
    const onHost = await ctx.call(op, host as never, attrs as never);
    await ctx.expectAgree(
      "on device tensors vs on host tensors",
      op,
      host as never,
      attrs as never,
      actual as never,
      onHost,
    );
    for (const [k, h] of Object.entries(inputs) as [string, DeviceTensor][]) {
      expectSameBits(ctx, `${op} wrote into its input '${k}'`, await device.read(h), host[k]);
    }
    for (const h of Object.values(named(out))) this.made.push(h as DeviceTensor);
    return out;
  };

  /** Checks that every tensor the watch uploaded or saw made still holds its values. */
  async expectUnchanged(what: string): Promise<void> {
    for (const [h, was] of this.seen) {
      expectSameBits(this.ctx, what, await this.device.read(h), was);
    }
  }

  /** Frees every device tensor the watch uploaded or saw made. */
  free(): void {
    for (const h of new Set(this.made)) this.device.free(h);
  }
}

/** The ops of the residual block I6b trains. */
const NET_OPS: readonly OpName[] = ["matmul", "add", "relu", "layer_norm", "cross_entropy"].flatMap(
  (op) => [op, `${op}_vjp`] as OpName[],
);

/**
 * A training step of h = relu(x·W1 + b1), r = layer_norm(h + x), loss = cross_entropy(r·W2) on
 * `tape`: x feeds two ops, so its gradient is a sum of two.
 */
async function residualStep(
  tape: Tape<DeviceTensor>,
  leaves: Record<string, DeviceTensor>,
  target: DeviceTensor,
): Promise<Var<DeviceTensor>> {
  const v = Object.fromEntries(Object.entries(leaves).map(([k, t]) => [k, tape.leaf(t, k)]));
  const z = await tape.op("matmul", { a: v.x, b: v.w1 }, {});
  const h = await tape.op("relu", { x: await tape.op("add", { a: z, b: v.b1 }, {}) }, {});
  const r = await tape.op("add", { a: h, b: v.x }, {});
  const n = await tape.op("layer_norm", { x: r, gamma: v.gamma, beta: v.beta }, { eps: 1e-5 });
  const logits = await tape.op("matmul", { a: n, b: v.w2 }, {});
  const loss = await tape.op("cross_entropy", { logits, target }, { reduction: "mean" });
  await tape.backward(loss);
  return loss;
}

/**
 * Calls past the sizes where a device's buffers, staging and grids change: a megabyte tensor of
 * 263 425 elements (1029 workgroups of 256), rows past 1024, a product past 128 on every side.
 */
function largeCalls(): ExampleCall[] {
  const x = (shape: number[], seed: number) => lcgTensor(shape, 4, seed);
  return [
    ["relu", { x: x([257, 1025], 1) }, {}],
    ["add", { a: x([257, 1025], 2), b: x([1025], 3) }, {}],
    ["sum", { x: x([1025, 257], 4) }, { axis: 0 }],
    ["softmax", { x: x([65, 1025], 5) }, {}],
    ["matmul", { a: x([130, 129], 6), b: x([129, 131], 7) }, {}],
    [
      "layer_norm",
      { x: x([65, 1025], 8), gamma: x([1025], 9), beta: x([1025], 10) },
      { eps: 1e-5 },
    ],
  ];
}

export const deviceLaws: Law[] = [
  {
    id: "I6a",
    topic: "engine",
    title:
      "on device tensors every op gives what it gives on host tensors, within its budget, and leaves its inputs as they were",
    note: "Where a value lives is not what it is: each op (forward and backward, every loss reduction, batch-norm in both modes, dropout on and off), on small tensors and on a megabyte one, run as a device kernel on uploaded tensors must give, read back, what the backend gives on host tensors, within twice the op's budget (each may miss the exact value by it; an exact op, such as a seeded draw, must agree bit for bit), and must not write into an input. An upload read straight back must give the same bits.",
    ops: Object.keys(signatures) as OpName[],
    appliesTo: hasDevice,
    async check(ctx) {
      for (const [op, inputs, attrs] of [...exampleCalls(), ...largeCalls()]) {
        const watch = new Watch(ctx);
        try {
          const handles: Record<string, DeviceTensor> = {};
          for (const [k, t] of Object.entries(inputs)) handles[k] = await watch.upload(t);
          await watch.call(op, handles, attrs);
        } finally {
          watch.free();
        }
      }
    },
  },
  {
    id: "I6b",
    topic: "engine",
    title:
      "a training step of a residual block on device tensors keeps every tensor's values from the call that made it to the last that reads it",
    note: "A chain is where residency bugs live: an activation saved for the backward pass must still hold its values many calls later, after the device's buffer pool has served other calls. The tape runs forward, backward and the sum of the skip connection's two gradients as device kernels, each agreeing with the host path; a tensor whose values change while it lives (its buffer reused, overwritten, freed early) fails here.",
    ops: NET_OPS,
    appliesTo: hasDevice,
    runs: 10,
    async check(ctx) {
      const caseArb = fc.record({
        n: fc.constantFrom(1, 7, 33, 65),
        d: fc.constantFrom(3, 16, 17, 64, 130),
        classes: fc.constantFrom(2, 10),
        seed: fc.nat({ max: 2 ** 31 - 1 }),
      });
      await ctx.property(caseArb, async ({ n, d, classes, seed }) => {
        const t = (shape: number[], k: number, scale = 1) =>
          ctx.t(
            shape,
            seededValues(sizeOf(shape), shape[shape.length - 1], {
              seed: seed + k,
              family: "uniform",
              scale,
            }),
          );
        const watch = new Watch(ctx);
        const tape = Tape.onDevice(ctx.backend, { call: watch.call as never });
        try {
          const leaves = {
            x: await watch.upload(t([n, d], 1, 2)),
            w1: await watch.upload(t([d, d], 2, 1 / Math.sqrt(d))),
            b1: await watch.upload(t([d], 3)),
            gamma: await watch.upload(t([d], 4)),
            beta: await watch.upload(t([d], 5)),
            w2: await watch.upload(t([d, classes], 6, 1 / Math.sqrt(d))),
          };
          const target = await watch.upload(indices([n], seededIndices(n, classes, seed)));
          await residualStep(tape, leaves, target);
          await watch.expectUnchanged("after the step, a tensor of the step changed");
        } finally {
          // The watch holds every tensor of the step, the tape's own included.
          watch.free();
        }
      });
    },
  },
];
