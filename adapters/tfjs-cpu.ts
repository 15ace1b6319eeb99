/** TensorFlow.js on its CPU backend, for `TENSORLAWS_BACKEND=adapters/tfjs-cpu.ts` or the CLI. */
import { createTfjsBackend } from "./tfjs.ts";

export default createTfjsBackend("cpu");
