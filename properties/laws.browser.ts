/**
 * Every law on cpu32 inside a real browser (vitest.browser.config.ts), in a file of its own so
 * that it runs beside the WebGPU laws (laws.webgpu.browser.ts), as in Node.
 */
import { cpu32 } from "../src/engine/cpu/index.ts";
import { describeLawsInBrowser } from "./browser-laws.ts";

describeLawsInBrowser([cpu32]);
