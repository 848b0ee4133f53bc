/**
 * `umm demo` and `umm trace`: the camera-to-display pipeline, its summary, report folder and
 * traces. Re-exports only.
 *
 * @module
 */
export { DEMO_HELP, type DemoIo, demoCommand, TRACE_HELP, traceCommand } from "./command.js";
export { HUD_SCALE, type HudBox, hudBox, hudRow } from "./hud.js";
export {
  BufferLedger,
  type BufferNamer,
  DEMO_BUFFER_NAMER,
  type LedgerBuffer,
  type LedgerMapping,
  type PhysRange,
} from "./ledger.js";
export {
  DEMO_BUGS,
  DEMO_DEFAULT_FRAMES,
  DEMO_DEFAULT_OUT,
  DEMO_DEFAULT_SEED,
  DEMO_DEFAULT_SIZE,
  DEMO_MAX_DIMENSION,
  DEMO_MAX_FRAMES,
  type DemoBug,
  type DemoCommandLine,
  type DemoOptions,
  DemoUsageError,
  loadDemoBoard,
  parseBug,
  parseCache,
  parseDemoArgs,
  parseFrames,
  parseSeed,
  parseSize,
} from "./options.js";
export {
  COMPOSITOR_SOCKET,
  cameraProgram,
  compositorProgram,
  hudText,
  type PipelineConfig,
  type PipelineHooks,
  type ShownFrame,
} from "./pipeline.js";
export {
  type DemoMemoryMapOpts,
  demoChromeTrace,
  demoDvMapSvgs,
  demoFramePng,
  demoFtraceText,
  demoMemoryMapSvg,
  demoTrack,
  writeDemoReport,
} from "./report.js";
export {
  checkBugFits,
  DEMO_SCANOUT_BUFFERS,
  DEMO_TRACE_CAPACITY,
  type DemoCounts,
  type DemoRun,
  type DemoRunHooks,
  displayDeviceOf,
  runDemo,
} from "./run.js";
export {
  DEMO_SUMMARY_FIELDS,
  type DemoCmaRegion,
  type DemoFaults,
  type DemoHazard,
  type DemoSummary,
  demoHazards,
  demoSummary,
  formatBytesShort,
  formatDemoSummary,
} from "./summary.js";
export { FIMC_DRIVER_NAME, findVideoNode, packU32, unpackU32 } from "./uapi.js";
