// Imported first by every entry point of ours (bin/tensorlaws.mjs, the verify child, the test
// workers): from here on, this package's .ts sources import as they are (./hooks.mjs).
import { register } from "node:module";

register(new URL("./hooks.mjs", import.meta.url));
// Stack traces point at the .ts lines, as they did under tsx.
process.setSourceMapsEnabled(true);
