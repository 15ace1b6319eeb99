#!/usr/bin/env node
// The package's command. The sources (and a user's backend module) are TypeScript: tsx's loader
// runs them without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/verify/cli.ts");
const code = await main(process.argv.slice(2));
// A backend may leave timers or handles behind (a hung kernel's, above all): do not wait for them.
process.exit(code);
