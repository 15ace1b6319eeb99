/**
 * TensorFlow.js on WebGPU (tfjs-backend-webgpu on Dawn, SwiftShader when there is no GPU), for
 * `TENSORLAWS_BACKEND=adapters/tfjs-webgpu.ts` or the CLI. With no adapter the default export is
 * undefined, which the loader rejects, saying so.
 */
import { createTfjsBackend } from "./tfjs.ts";

export default createTfjsBackend("webgpu");
