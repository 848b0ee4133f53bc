export { type BfHole, BfState, bestFitAllocator } from "./allocators/best-fit.js";
export { bitmapAllocator, CmaBitmap } from "./allocators/bitmap.js";
export { cmaAlloc } from "./api.js";
export {
  bitmapClear,
  bitmapFindNextZeroArea,
  bitmapFindNextZeroAreaOff,
  bitmapLongestZeroRun,
  bitmapSet,
  bitmapWeight,
  findNextBit,
  findNextZeroBit,
} from "./bitmap.js";
export {
  cmaAllocatorRegister,
  cmaAllocators,
  cmaAllocFrom,
  cmaAllocFromRegion,
  cmaEarlyRegionRegister,
  cmaEarlyRegionReserve,
  cmaEarlyRegions,
  cmaEarlyRegionsReserve,
  cmaFree,
  cmaGetMap,
  cmaGetMapRules,
  cmaInfo,
  cmaInfoAbout,
  cmaRegionFind,
  cmaRegionRegister,
  cmaRegionSetAlloc,
  cmaRegions,
  cmaRegionUnregister,
  cmaSetDefaults,
  cmaSetMap,
} from "./cma2010.js";
export {
  devGetCmaArea,
  devSetCmaArea,
  dmaAllocContiguous,
  dmaAllocFromContiguous,
  dmaContiguousDefaultArea,
  dmaContiguousReserve,
  dmaContiguousSetDefault,
  dmaFreeContiguous,
  dmaReleaseFromContiguous,
} from "./contiguous.js";
export {
  type CmaMap,
  type CmaMapPattern,
  type CmaMapRule,
  cmaMapLookup,
  cmaMatchDevice,
  parseCmaMap,
} from "./map.js";
export {
  type CmaDeclareOpts,
  cmaAreas,
  cmaDeclareContiguous,
  cmaGetBase,
  cmaGetName,
  cmaGetSize,
  cmaInitReservedAreas,
  cmaInitReservedMem,
  cmaPagesValid,
  cmaRelease,
  cmaShowAreas,
} from "./merged.js";
export {
  ofReservedMemDeviceInit,
  ofReservedMemInit,
  ofReservedMemSetup,
  type ReservedMem,
  type ReservedMemResult,
} from "./of-reserved-mem.js";
export type { CmaAllocator, CmaAllocCtx, CmaBusyCandidate, CmaChunk, CmaExtent } from "./ops.js";
export {
  type CmaCmdline,
  type CmaMergedParam,
  type Memparse,
  memparse,
  parseCmaCmdline,
  parseCmaMerged,
  parseCmaRegions,
} from "./params.js";
export { type CmaLiveChunk, CmaRegion, type CmaRegionOrigin } from "./region.js";
export { type CmaOpts, cmaInit } from "./state.js";
export {
  type CmaDebugfs,
  type CmaSysfs,
  cmaBitmap,
  cmaDebugfs,
  cmaDebugfsAlloc,
  cmaDebugfsFree,
  cmaDebugfsRead,
  cmaRegionDirName,
  cmaSysfs,
  cmaSysfsRead,
  cmaSysfsWrite,
} from "./stats.js";
export type { CmaTraceEvent } from "./trace.js";
export * from "./types.js";
