/** The sequential float32 backend as a module: a helper process of `verify --jobs` loads it. */
export { cpu32 as default } from "../../engine/cpu/index.ts";
