export { CoherencyChecker, CPU_DIRECT_WRITER } from "./checker.js";
export { Cpu, cpuExit, cpuInit, cpuOf, tryCpuOf } from "./cpu.js";
export {
  type CacheMode,
  type CacheStats,
  type CoherencyReport,
  type CpuOpts,
  HAZARD_KINDS,
  HAZARD_MISSING,
  type HazardKind,
  type LineState,
  type LineWriter,
} from "./types.js";
