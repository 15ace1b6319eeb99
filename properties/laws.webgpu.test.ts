/**
 * Every law on the WebGPU backend, in a file of its own so that it runs beside the CPU laws.
 * With no adapter it prints a loud banner (an error under TENSORLAWS_REQUIRE_GPU=1).
 */
import { test } from "vitest";
import type { WebGpuBackend } from "../src/engine/webgpu/index.ts";
import { shareOneCoreWithSwiftShader } from "../src/engine/webgpu/test-support.ts";
import { backendsUnderTest } from "../src/verify/backends.ts";
import { describeLaws } from "./describe-laws.ts";
import { describeDeviceTensors } from "./webgpu-device.tests.ts";

const backends = await backendsUnderTest(process.env, "webgpu");
if (backends.length === 0) {
  test("no WebGPU adapter: the WebGPU laws did not run (see the banner above)", (ctx) => {
    ctx.skip("no WebGPU adapter");
  });
}
shareOneCoreWithSwiftShader((backends[0] as WebGpuBackend | undefined)?.adapterInfo);
describeLaws(backends);
if (backends[0]) describeDeviceTensors(backends[0] as WebGpuBackend);
