/**
 * The CLI as one bundle for a machine with no tsx: `node verify.mjs --builtin webgpu …`.
 * bin/tensorlaws.mjs is the same door with tsx's loader, for TypeScript backend modules.
 */
import { main } from "../../src/verify/cli.ts";

process.exit(await main(process.argv.slice(2)));
