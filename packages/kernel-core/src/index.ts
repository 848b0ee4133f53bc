export {
  Bus,
  busRegister,
  Device,
  type DeviceDriver,
  type DeviceOpts,
  type DmaParms,
  defaultMatch,
  devGetDrvdata,
  deviceRegister,
  deviceUnregister,
  devSetDrvdata,
  driverRegister,
  driverUnregister,
} from "./device.js";
export {
  ERRNO,
  ERRNO_ALIASES,
  ERRNO_TABLE,
  type ErrnoName,
  errnoName,
  isErrnoName,
  lookupErrno,
  strerror,
} from "./errno.js";
export { hex, isKernelError, KernelBug, KernelError, type KernelErrorOpts, kassert, kfail } from "./error.js";
export {
  FAULT_SITE_OFF,
  FAULT_SITES,
  type FaultAttrs,
  FaultSite,
  type FaultSiteStats,
  faultInjectClear,
  faultInjectFailNth,
  faultInjectPendingNth,
  faultInjectSet,
  faultInjectStats,
  faultSite,
} from "./fault-inject.js";
export {
  createKernel,
  type DeviceEvent,
  type DeviceNotifier,
  defineSlot,
  Kernel,
  type KernelOpts,
  type SlotKey,
  SWAPPER,
  type Task,
} from "./kernel.js";
export { Kref } from "./kref.js";
export { Prng, type Seed } from "./prng.js";
export * from "./sizes.js";
export {
  Clock,
  NSEC_PER_MSEC,
  NSEC_PER_SEC,
  NSEC_PER_USEC,
  settle,
  type TimerHandle,
  WaitQueue,
} from "./time.js";
export {
  formatFtrace,
  TraceBus,
  type TraceContext,
  type TraceEventMap,
  type TraceEventName,
  type TraceListener,
  Tracepoint,
  type TraceRecord,
  TraceRecorder,
  type TraceRecorderOpts,
} from "./trace.js";
