export type { FimdFrame } from "@umm/plat-s5p-media";
export {
  BOARD_DEVICE_FIELD_PROPS,
  BOARD_DEVICE_REF_PROPS,
  type BoardBank,
  type BoardCache,
  type BoardCmdline,
  type BoardDescription,
  type BoardDevice,
  type BoardPropValue,
  type BoardRange,
  type BoardSysmmu,
  type BoardUmp,
  boardCmaMap,
  boardCmdline,
  boardDeviceOpts,
  boardSysmmuDeviceName,
  boardSysmmuInstance,
  boardSysmmuOpts,
  type CacheMode,
  deepFreeze,
  validateBoard,
} from "./board.js";
export { EXYNOS4210_BOARD, EXYNOS4210_MFC_LEFT, EXYNOS4210_MFC_RIGHT } from "./boards/exynos4210.js";
export { BOARDS, boardByName, DEFAULT_BOARD } from "./boards/index.js";
export { S5PV210_BOARD, S5PV210_DMA24_POOL, S5PV210_MFC_LEFT, S5PV210_MFC_RIGHT } from "./boards/s5pv210.js";
export {
  type BootOpts,
  bootBoard,
  SOC_IOMMU_WINDOW,
  SOC_SWIOTLB_SIZE,
  SOC_VCM_CONTEXT_SIZE,
} from "./boot.js";
export { SOC_PLATFORM_DRIVERS } from "./drivers.js";
export { type BoardFromDtOpts, boardFromDt, DT_DEFAULT_CACHE } from "./dt-board.js";
export { type CompileDtsOpts, compileDts, dtcAvailable, dtcVersion } from "./dts.js";
export {
  cellsToNumber,
  DeviceTree,
  DtNode,
  type DtPhandleArgs,
  type DtRegion,
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_MAGIC,
  FDT_NOP,
  FDT_PROP,
  FDT_V17_SIZE,
  type FdtNodeSpec,
  type FdtPropValue,
  type FdtWriteOpts,
  fdtCells,
  fdtSpecOf,
  OF_ROOT_NODE_ADDR_CELLS_DEFAULT,
  OF_ROOT_NODE_SIZE_CELLS_DEFAULT,
  parseFdt,
  writeFdt,
} from "./fdt.js";
export {
  Machine,
  type MachineDeviceSummary,
  type MachineSummary,
  type ShutdownLeak,
  type ShutdownReport,
  type SysmmuDebugOpts,
} from "./machine.js";
export type { MachineCmaStats, MachineStats } from "./stats.js";
export { socUmpBackend } from "./ump-backend.js";
