#!/usr/bin/env node
// The package's command. Its sources are TypeScript, run without a build step by our own module
// hooks (src/loader/). A user's backend module is loaded apart from them, by tsx's scoped import
// (loadBackend in src/verify/backends.ts), in whatever module system its own package gives it.
import "../src/loader/register.mjs";

const { main } = await import("../src/verify/cli.ts");
const code = await main(process.argv.slice(2));
// A backend may leave timers or handles behind (a hung kernel's, above all): do not wait for them.
process.exit(code);
