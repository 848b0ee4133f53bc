export { PMM_ALLOCATOR_NAME, pmmAllocator, pmmPosition } from "./allocator.js";
export { type PmmAreaDesc, pmmAlloc, pmmAreaAt, pmmGet, pmmPut } from "./core.js";
export {
  type PmmInfo,
  type PmmItem,
  type PmmTypeInfo,
  pmmDebugfsRead,
  pmmInfo,
  pmmItems,
  pmmOperationLog,
} from "./debug.js";
export { type PmmInitOpts, type PmmReserveOpts, pmmInit, pmmReserve } from "./init.js";
export { parsePmmParam } from "./params.js";
export { type PmmShmOpts, shmat, shmctl, shmdt, shmget } from "./shm.js";
export type { PmmOperation } from "./state.js";
export type { PmmTraceEvent } from "./trace.js";
export * from "./types.js";
export { Upbuf, upbufBegin, upbufEnd, upbufLive, upbufSync, upbufSyncRange } from "./upbuffer.js";
