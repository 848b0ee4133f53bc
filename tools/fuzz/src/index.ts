/**
 * @umm/fuzz: the stack-wide robustness suites — the model-based fuzzer, the bad-input catalogue,
 * fault injection (over the pipeline and per operation), reclamation and isolation. `pnpm fuzz`
 * (bin/fuzz.mjs → src/cli.ts) runs them outside vitest; the tests in test/ run fixed-seed slices.
 *
 * @module
 */
export { type BadClass, type BadInput, CATALOGUE, type CatalogueResult, runCatalogue } from "./catalogue.js";
export {
  coverageGaps,
  ENTRY_POINTS,
  INTERFACES,
  NOT_APPLICABLE,
  REQUIRED_CLASSES,
} from "./catalogue-coverage.js";
export { IOCTLS } from "./catalogue-ioctls.js";
export { type FaultCampaignResult, runFaultCampaign } from "./faults.js";
export { type FuzzOpts, type FuzzResult, fuzzSequences } from "./fuzz.js";
export { checkPageOwnership, checkStep, InvariantError } from "./invariants.js";
export { type IsolationResult, runIsolation } from "./isolation.js";
export { FAULT_OPS, type OpFaultReport, runOpFaults } from "./op-faults.js";
export { type PipelineOutcome, runPipeline } from "./pipeline.js";
export { type Held, held, type ReclaimResult, runReclamation } from "./reclaim.js";
export { captureState, diffStates, formatDiffs, type StateSnapshot } from "./snapshot.js";
export { bootTestbed, type Testbed } from "./testbed.js";
