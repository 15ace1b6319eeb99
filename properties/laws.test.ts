/** Every law on the CPU backends (and on a module named by TENSORLAWS_BACKEND). */
import { backendsUnderTest } from "../src/verify/backends.ts";
import { describeLaws } from "./describe-laws.ts";

describeLaws(await backendsUnderTest(process.env, "cpu"));
