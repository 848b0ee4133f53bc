export { type AllocPagesOpts, Buddy, gfpMigratetype, Zone, type ZoneName, type ZoneSpec } from "./buddy.js";
export {
  DmaPort,
  type DmaPortOwner,
  devDmaPort,
  devDmaPortSet,
  devDmaPorts,
  devDmaPortsClear,
} from "./dma-port.js";
export { PageFrames, TagTable } from "./frames.js";
export { followPfn, getUserPages, pinUserPages, type UserPages } from "./gup.js";
export { DEFAULT_LOWMEM_SIZE, KernelSpace, PAGE_OFFSET, VMALLOC_END, VMALLOC_START } from "./kspace.js";
export { Memblock, type MemblockAllocOpts, type MemblockRegion } from "./memblock.js";
export {
  allocContigRange,
  type ContigResult,
  freeContigRange,
  migratePage,
  whyUnmovable,
} from "./migrate.js";
export { Mm, type MmHooks, type MmOpts, mmInit, mmOf, TASK_SIZE, USER_LO } from "./mm.js";
export type { CpuCacheOps, DmaObserver, MappingObserver, MappingSite, Translator } from "./ops.js";
export { PhysBank, PhysMem } from "./phys.js";
export { RunList } from "./runs.js";
export {
  AddressSpace,
  type MmapRequest,
  type RmapEntry,
  Vma,
  type VmaBacking,
  type VmaFileRef,
  type VmaOps,
} from "./space.js";
export * from "./types.js";
