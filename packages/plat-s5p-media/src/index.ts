/**
 * `@umm/plat-s5p-media`: the S5P/Exynos media blocks (sensor, FIMC capture and scaler, MFC,
 * FIMD) as hardware models and their drivers. Re-exports only.
 *
 * @module
 */
export {
  fnv1a32,
  type RawFrame,
  UMMV_FRAME_I,
  UMMV_FRAME_P,
  UMMV_HEADER_SIZE,
  UMMV_MAGIC,
  UMMV_VERSION,
  type UmmvHeader,
  UmmvScratch,
  ummvDecode,
  ummvEncode,
  ummvMaxFrameSize,
  ummvParseHeader,
} from "./codec.js";
export { mediaDmaSetup } from "./common.js";
export {
  FIMC_MAX_DOWNSCALE,
  FIMC_MAX_UPSCALE,
  fimcScalerRatioError,
  type Nv12Image,
  nv12ToXrgb,
  type XrgbImage,
  ycbcrToXrgb,
} from "./convert.js";
export { S5P_MEDIA_DRIVERS } from "./drivers.js";
export { FIMC_CAPTURE_FORMATS, FimcCapture } from "./fimc-capture.js";
export { FIMC_COMPATIBLE, FIMC_DRIVER, type FimcDevice, fimcOf } from "./fimc-core.js";
export {
  FIMC_NS_PER_PIXEL,
  type FimcCaptureIrq,
  type FimcCaptureOutput,
  FimcHw,
  type FimcM2mJob,
} from "./fimc-hw.js";
export { FimcM2m } from "./fimc-m2m.js";
export {
  FIMD_COMPATIBLE,
  FIMD_DRIVER,
  FIMD_FORMATS,
  type FimdDevice,
  type FimdFrame,
  FimdHw,
  fimdLastFrame,
  fimdOf,
} from "./fimd.js";
export {
  MFC_COMPATIBLE,
  MFC_DRIVER,
  MFC_FW_BUF_ALIGN,
  MFC_FW_BUF_SIZE,
  Mfc,
  type MfcBuf,
  type MfcKind,
  mfcOf,
} from "./mfc.js";
export {
  MFC_CTX_BUF_ALIGN,
  MFC_CTX_BUF_SIZE,
  MFC_CTX_RECORD_SIZE,
  MFC_DPB_ALIGN,
  MFC_FW_HEADER_SIZE,
  MFC_FW_SIZE,
  MFC_NS_PER_PIXEL,
  type MfcDecodeJob,
  type MfcEncodeJob,
  MfcHw,
  type MfcPlanes,
  type MfcResult,
  mfcFirmwareImage,
} from "./mfc-hw.js";
export {
  MFC_CODED_BUF_SIZE,
  MFC_ENC_GOP_SIZE,
  MFC_MAX_HEIGHT,
  MFC_MAX_WIDTH,
  MfcCtx,
  MfcDecoder,
  MfcEncoder,
  V4L2_PIX_FMT_UMMV,
} from "./mfc-v4l2.js";
export {
  BOX_COLOUR,
  COLOUR_BARS,
  checkPatternSize,
  PATTERN_DIGITS,
  patternBox,
  patternFontScale,
  TestPatternGenerator,
  testPatternFrame,
  type YCbCr,
} from "./pattern.js";
export {
  type SensorFrameSink,
  sensorOf,
  TEST_PATTERN_SENSOR_COMPATIBLE,
  TEST_PATTERN_SENSOR_DRIVER,
  TestPatternSensor,
} from "./sensor.js";
export type { S5pMediaTraceEventName } from "./trace.js";
