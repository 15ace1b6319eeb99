// Imported first by the command's entry points (bin/tensorlaws.mjs, the verify child; the test
// workers keep tsx, see vitest.config.ts): from here on, this package's .ts sources import as
// they are (./hooks.mjs).
import { register } from "node:module";

register(new URL("./hooks.mjs", import.meta.url));
// The compiled text carries an inline source map, which Node reads with --enable-source-maps
// (NODE_OPTIONS="--enable-source-maps" for stack traces at the .ts lines). Not turned on here, as
// tsx did: with it on, `verify --builtin cpu32` took 17.2-17.8 s instead of 14.9-15.3 s.
