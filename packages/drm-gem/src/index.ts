export {
  DrmDevice,
  type DrmDevRegisterOpts,
  DrmFile,
  type DrmModeObject,
  drmDevices,
  drmDevRegister,
  drmDevUnregister,
  drmFileOf,
} from "./device.js";
export { drmDumbSize } from "./dumb.js";
export { DRM_EVENT_SPACE, drmParseEvents } from "./event.js";
export * from "./fourcc.js";
export { DrmFramebuffer, drmFramebufferLookup } from "./framebuffer.js";
export {
  DRM_FILE_PAGE_OFFSET_SIZE,
  DRM_FILE_PAGE_OFFSET_START,
  DrmGemObject,
  type DrmVmaNode,
  drmGemDmaCreate,
  drmGemHandleCreate,
  drmGemHandleDelete,
  drmGemObjectLookup,
} from "./gem.js";
export { drmIoctlName } from "./ioctl.js";
export {
  DrmConnector,
  DrmCrtc,
  type DrmCrtcState,
  DrmEncoder,
  DrmPlane,
  drmDebugRmfbKeepsScanout,
  drmScanoutOf,
} from "./kms.js";
export type { DrmDisplayHw, DrmDriverDesc, DrmScanout, DrmScanoutPlane } from "./ops.js";
export {
  drmGemPrimeExport,
  drmGemPrimeImport,
  drmPrimeGetContiguousSize,
  isDrmPrimeBuf,
} from "./prime.js";
export * from "./types.js";
export { DRM_WAIT_VBLANK_TIMEOUT_NS, drmModeFramePeriod, vblankPassed } from "./vblank.js";
