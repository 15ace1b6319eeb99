/**
 * What `import … from "tensorlaws"` gives: the contract types for writing a backend, tensor
 * helpers for building outputs, the reference backends, and the verify runner and reports for
 * calling tensorlaws from code instead of the command line.
 *
 *   import type { Backend } from "tensorlaws";
 *   const backend: Backend = { name: "mine", dtype: "float32", kernels: { softmax: mySoftmax } };
 *   export default backend;
 */

export { allLaws } from "../properties/index.ts";
export type {
  Attrs,
  Backend,
  BatchNormAttrs,
  BatchNormInputs,
  BatchNormOutput,
  DropoutAttrs,
  FanMode,
  InitAttrs,
  Inputs,
  KaimingAttrs,
  Kernel,
  Kernels,
  LeakyAttrs,
  LossAttrs,
  NormAttrs,
  NormGrads,
  OpName,
  OpTable,
  Output,
  ReduceAttrs,
  Reduction,
  Targets,
  ToleranceOverrides,
  VarianceAttrs,
} from "./contract.ts";
export { cpu, cpu32 } from "./cpu/index.ts";
export {
  InvalidArgumentError,
  KernelContractError,
  NotImplementedError,
  TensorLawsError,
} from "./errors.ts";
export type { Law, LawResult, LawStatus } from "./law.ts";
export { runLaw } from "./law.ts";
export { jsonReport, parseReport } from "./report/json.ts";
export { junitReport } from "./report/junit.ts";
export { markdownReport } from "./report/markdown.ts";
export type {
  BackendReport,
  BudgetReport,
  FailureReport,
  LawReport,
  Report,
  WorstReport,
} from "./report/schema.ts";
export { reportProblems, SCHEMA_VERSION } from "./report/schema.ts";
export { terminalReport } from "./report/terminal.ts";
export type {
  AnyTensor,
  FloatArray,
  FloatDType,
  IndexTensor,
  Tensor,
} from "./tensor.ts";
export { cast, indices, scalar, sizeOf, tensor } from "./tensor.ts";
export type { Selection, Target, VerifyOptions } from "./verify.ts";
export { selectLaws, verify } from "./verify.ts";
