export { type UmpDedicatedBackend, umpDedicatedBackend } from "./backend-dedicated.js";
export { UMP_OS_PAGE_TAG, type UmpOsBackend, umpOsBackend } from "./backend-os.js";
export { type UmpVcmBackend, umpVcmBackend, umpVcmConstraints, umpVcmDeviceId } from "./backend-vcm.js";
export {
  UMP_DMA_BUF_EXP_NAME,
  umpDdDmaBufExport,
  umpDdHandleCreateFromDmaBuf,
} from "./dmabuf.js";
export {
  type UmpCarveout,
  type UmpDriver,
  type UmpInitOpts,
  type UmpReserveOpts,
  umpExit,
  umpInit,
  umpReserve,
} from "./init.js";
export {
  UMP_DD_HANDLE_INVALID,
  type UmpDdHandle,
  type UmpPhysBlocksOpts,
  umpBackendInfo,
  umpDdGrant,
  umpDdHandleCreateFromPhysBlocks,
  umpDdHandleCreateFromSecureId,
  umpDdHandleGet,
  umpDdPhysBlockCountGet,
  umpDdPhysBlockGet,
  umpDdPhysBlocksGet,
  umpDdReferenceAdd,
  umpDdReferenceRelease,
  umpDdRevoke,
  umpDdSecureIdGet,
  umpDdSizeGet,
  umpLiveHandles,
  umpMemoryUsage,
} from "./kernel-api.js";
export {
  UMP_DEVICE_NAME,
  UMP_INVALID_MEMORY_HANDLE,
  type UmpHandle,
  UmpMem,
  umpCacheOperationsControl,
  umpClose,
  umpCpuMsyncNow,
  umpDeviceFd,
  umpDmaBufExport,
  umpDmaBufImport,
  umpGrant,
  umpHandleCreateFromSecureId,
  umpLock,
  umpLockSecureId,
  umpMappedPointerGet,
  umpMappedPointerRelease,
  umpOpen,
  umpOpenCount,
  umpRead,
  umpRefDrvAllocate,
  umpReferenceAdd,
  umpReferenceRelease,
  umpRevoke,
  umpSecureIdGet,
  umpSizeGet,
  umpSwitchHwUsage,
  umpSwitchHwUsageSecureId,
  umpUnlock,
  umpUnlockSecureId,
  umpWrite,
} from "./lib.js";
export type { UmpAllocRequest, UmpBackendAllocation, UmpMemoryBackend } from "./ops.js";
export { UmpDdMem } from "./state.js";
export type { UmpTraceEvent } from "./trace.js";
export * from "./types.js";
