/**
 * Every law on TensorFlow.js, held to the verdict table of tfjs-verdicts.ts: a law not listed
 * must pass, a listed law must fail for the listed reason. tfjs-webgpu runs where an adapter
 * exists (a banner says so otherwise, an error under TENSORLAWS_REQUIRE_GPU=1).
 *
 * Runs: the published table comes from full runs (`npx tensorlaws verify adapters/tfjs-cpu.ts`,
 * 100 cases per property, the default seed). Here the laws expected to pass get fewer cases
 * (QUICK_RUNS) to keep `npm test` short: at 100 cases tfjs-cpu takes about 20 s and tfjs-webgpu
 * minutes, since it compiles a pipeline per program and shape and SwiftShader compiles slowly. A
 * listed law gets the full 100 (or TENSORLAWS_RUNS), because some failures only turn up after
 * dozens of cases. Under another TENSORLAWS_SEED a rare failure may need more cases than that.
 *
 * How many cases the table's failures took to turn up (the default seed, tfjs 4.22): B15d 16 and
 * G1b 25 on tfjs-cpu, G1b 25 on tfjs-webgpu; every other listed failure, the first case. So
 * tfjs-cpu keeps 25 for the laws expected to pass. tfjs-webgpu gets 1: its failures that tfjs-cpu
 * does not share (B15a, C2a, G1g, I4.log_softmax, I4.sigmoid, I4.softmax, I4.tanh: its kernels'
 * numerics) all turn up at the first case, and what it shares with tfjs-cpu (the op-level code
 * above the kernels, G1b's tie gradient) the 25 tfjs-cpu cases look for. Most of tfjs-webgpu's
 * time is pipeline compiles in laws whose work does not depend on the cases (D4a, D5, D6a, F4b).
 */

import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, test } from "vitest";
import { allLaws } from "../properties/index.ts";
import { call } from "../src/engine/call.ts";
import type { DeviceTensor } from "../src/engine/contract.ts";
import { callDevice } from "../src/engine/device.ts";
import { exampleCalls } from "../src/engine/examples.ts";
import type { AnyTensor } from "../src/engine/tensor.ts";
import { shareOneCoreWithSwiftShader } from "../src/engine/webgpu/test-support.ts";
import { envOptions, type RunOptions, runLaw } from "../src/harness/law.ts";
import { reference } from "../src/verify/backends.ts";
import { contractOps } from "../src/verify/verify.ts";
import { createTfjsBackend, type TfjsBackend, type TfjsKind } from "./tfjs.ts";
import { tfjsVerdicts } from "./tfjs-verdicts.ts";

const QUICK_RUNS: Record<TfjsKind, number> = { cpu: 25, webgpu: 1 };

/**
 * The size laws cost minutes on tfjs here: tfjs-webgpu compiles a pipeline per program and shape
 * (SwiftShader compiles slowly) and tfjs-cpu's kernels are slow on their large tensors (I5j
 * hands them 16.8 million elements per op). Their rows of the verdict table come from
 * `npx tensorlaws verify adapters/tfjs-<kind>.ts --laws 'I5*'` instead (tfjs-cpu about 4 min,
 * tfjs-webgpu about 15 min on the 2-core machine).
 */
function tooSlowHere(id: string): boolean {
  return id.startsWith("I5");
}

const env = envOptions(reference);

// A live GPU device keeps Node running: dispose every backend even when a filter skipped its
// tests (dispose is idempotent).
const backends: TfjsBackend[] = [];
afterAll(async () => {
  for (const b of backends) await b.dispose();
});

describe("the verdict table", () => {
  test("names each law once per kind, and only laws that exist", () => {
    const ids = new Set(allLaws.map((l) => l.id));
    for (const verdicts of Object.values(tfjsVerdicts)) {
      const listed = verdicts.map((v) => v.lawId);
      expect(listed.filter((id) => !ids.has(id))).toEqual([]);
      expect(new Set(listed).size).toBe(listed.length);
    }
  });
});

for (const kind of ["cpu", "webgpu"] as const) {
  const backend = await createTfjsBackend(kind);
  if (!backend) {
    if (process.env.TENSORLAWS_REQUIRE_GPU === "1") {
      throw new Error("TENSORLAWS_REQUIRE_GPU=1 but tfjs-webgpu found no WebGPU adapter");
    }
    console.warn("NO WEBGPU ADAPTER: the tfjs-webgpu laws did not run.");
    test("no WebGPU adapter: the tfjs-webgpu laws did not run (see the banner above)", (ctx) => {
      ctx.skip("no WebGPU adapter");
    });
    continue;
  }
  backends.push(backend);
  shareOneCoreWithSwiftShader(backend.adapterInfo);
  const expected = new Map(tfjsVerdicts[kind].map((v) => [v.lawId, v]));

  describe(`tfjs-${kind}`, () => {
    afterAll(() => backend.dispose());

    test("maps every op of the contract, forward and backward", () => {
      expect(contractOps.filter((op) => typeof backend.kernels[op] !== "function")).toEqual([]);
    });

    // On tfjs-cpu only: tfjs-webgpu compiles a pipeline per program and shape (seconds here),
    // and I6a checks its device kernels below.
    if (kind === "cpu")
      test("keeps tensors on its backend: every op gives on device tensors the bits it gives on host tensors, and frees them all", async () => {
        const dev = backend.device;
        const bits = (t: AnyTensor) =>
          Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        const live = tf.memory().numTensors;
        for (const [op, inputs, attrs] of exampleCalls()) {
          const host = await call(backend, op, inputs as never, attrs as never);
          const handles: Record<string, DeviceTensor> = {};
          for (const [k, t] of Object.entries(inputs)) handles[k] = await dev.upload(t);
          const out = await callDevice(backend, op, handles as never, attrs as never);
          const wrap = (o: object) => ("shape" in o ? { y: o } : o) as Record<string, never>;
          const [want, got] = [wrap(host), wrap(out)];
          for (const key of Object.keys(want)) {
            const read = await dev.read(got[key]);
            expect(bits(read).equals(bits(want[key])), `${op} ${key}`).toBe(true);
            dev.free(got[key]);
          }
          for (const h of Object.values(handles)) dev.free(h);
        }
        expect(tf.memory().numTensors).toBe(live);
      }, 180_000);

    for (const law of allLaws.filter((l) => !tooSlowHere(l.id))) {
      const verdict = expected.get(law.id);
      const options: RunOptions = verdict
        ? env
        : { ...env, numRuns: env.numRuns ?? QUICK_RUNS[kind] };
      const claim = verdict ? `fails (${verdict.kind})` : "passes";
      test(`${law.id} ${claim}: ${law.title}`, async () => {
        const result = await runLaw(law, backend, options);
        if (law.appliesTo && !law.appliesTo(backend)) {
          // The Philox mask law: tfjs draws its own masks and does not claim Philox.
          expect(result.status).toBe("not applicable");
          return;
        }
        if (!verdict) {
          expect(result.status, result.message).toBe("passed");
          return;
        }
        expect(result.status, `${law.id} was expected to fail: ${verdict.why}`).toBe("failed");
        expect(result.failure?.kind).toBe(verdict.failure ?? "violation");
        expect(result.message).toMatch(verdict.evidence);
      }, 180_000);
    }
  });
}
