/** The float64 reference as a module: a helper process of `verify --jobs` loads it. */
export { cpu as default } from "../../engine/cpu/index.ts";
