/**
 * `umm cma-plan`: replay a CMA allocation workload against a board's regions and report failures,
 * peak use, the smallest region sizes that would have succeeded and a fragmentation picture.
 * Re-exports only: the command and the pure functions behind it.
 *
 * @module
 */
export {
  boardRegionDecl,
  type CmaPlanRegionDecl,
  cmdlineSize,
  loadBoard,
  regionSizeStep,
  resizeBoardRegion,
} from "./board.js";
export {
  BUILTIN_WORKLOADS,
  builtinWorkload,
  type ChurnWorkloadOpts,
  type CmaPlanResolution,
  churnWorkload,
  demoWorkload,
  MFC_BITSTREAM_SIZE,
  MFC_BUF_ALIGN,
  MFC_CTX_SIZE,
  MFC_FW_ALIGN,
  MFC_FW_SIZE,
  mfcDpbSize,
  nv12Size,
  RES_4K,
  RES_720P,
  RES_1080P,
  xrgbSize,
} from "./builtin.js";
export { CMA_PLAN_HELP, cmaPlanCommand, loadWorkload } from "./command.js";
export {
  type CmaPlan,
  type CmaPlanPicture,
  type CmaPlanRegionReport,
  type CmaPlanReport,
  cmaPlanPictures,
  cmaPlanTable,
  formatCmaPlan,
  formatDuration,
  type PlanCmaOpts,
  planCma,
  regionSlug,
  writeCmaPlan,
} from "./plan.js";
export {
  bootForPlan,
  type CmaPlanElsewhere,
  type CmaPlanFailure,
  type CmaPlanMoment,
  type CmaPlanRegionState,
  type CmaPlanRegionStats,
  type CmaPlanReplay,
  type ReplayOpts,
  replayOn,
  replayWorkload,
} from "./replay.js";
export {
  type CmaPlanProbe,
  type CmaPlanSizing,
  type SmallestRegionSizeOpts,
  smallestRegionSize,
} from "./sizing.js";
export {
  CmaPlanError,
  type CmaPlanStep,
  type CmaPlanVia,
  type CmaPlanWorkload,
  checkWorkloadSteps,
  parseWorkload,
  parseWorkloadJson,
} from "./workload.js";
