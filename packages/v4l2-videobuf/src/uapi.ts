/**
 * The buffer parts of `include/uapi/linux/videodev2.h`: buffer types, memory types, buffer and
 * capability flags, pixel formats, the structs the buffer ioctls take (as plain JS objects with
 * the uapi field names) and the ioctl numbers as a 64-bit kernel encodes them
 * (`VIDIOC_QBUF = _IOWR('V', 15, struct v4l2_buffer)` = 0xc058560f).
 *
 * A `struct v4l2_buffer` whose `m` is a union becomes an object whose `m` holds the member that
 * applies: `{ offset }` (MMAP), `{ userptr }` (USERPTR), `{ fd }` (DMABUF) or `{ planes }`
 * (multi-planar types). Timestamps are `{ tv_sec, tv_usec }` as `struct timeval`.
 *
 * @module
 */
import { _IOR, _IOW, _IOWR } from "@umm/kernel-process";

// ---- enum v4l2_buf_type ---------------------------------------------------------------------

/** `V4L2_BUF_TYPE_VIDEO_CAPTURE`: single-planar video capture. */
export const V4L2_BUF_TYPE_VIDEO_CAPTURE = 1;
/** `V4L2_BUF_TYPE_VIDEO_OUTPUT`: single-planar video output. */
export const V4L2_BUF_TYPE_VIDEO_OUTPUT = 2;
/** `V4L2_BUF_TYPE_VIDEO_OVERLAY` (not a streaming type; rejected by vb2). */
export const V4L2_BUF_TYPE_VIDEO_OVERLAY = 3;
/** `V4L2_BUF_TYPE_VBI_CAPTURE`. */
export const V4L2_BUF_TYPE_VBI_CAPTURE = 4;
/** `V4L2_BUF_TYPE_VBI_OUTPUT`. */
export const V4L2_BUF_TYPE_VBI_OUTPUT = 5;
/** `V4L2_BUF_TYPE_SLICED_VBI_CAPTURE`. */
export const V4L2_BUF_TYPE_SLICED_VBI_CAPTURE = 6;
/** `V4L2_BUF_TYPE_SLICED_VBI_OUTPUT`. */
export const V4L2_BUF_TYPE_SLICED_VBI_OUTPUT = 7;
/** `V4L2_BUF_TYPE_VIDEO_OUTPUT_OVERLAY`. */
export const V4L2_BUF_TYPE_VIDEO_OUTPUT_OVERLAY = 8;
/** `V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`: multi-planar video capture. */
export const V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE = 9;
/** `V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE`: multi-planar video output. */
export const V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE = 10;
/** `V4L2_BUF_TYPE_SDR_CAPTURE`. */
export const V4L2_BUF_TYPE_SDR_CAPTURE = 11;
/** `V4L2_BUF_TYPE_SDR_OUTPUT`. */
export const V4L2_BUF_TYPE_SDR_OUTPUT = 12;
/** `V4L2_BUF_TYPE_META_CAPTURE`. */
export const V4L2_BUF_TYPE_META_CAPTURE = 13;
/** `V4L2_BUF_TYPE_META_OUTPUT`. */
export const V4L2_BUF_TYPE_META_OUTPUT = 14;

/** `V4L2_TYPE_IS_MULTIPLANAR(type)`. */
export function V4L2_TYPE_IS_MULTIPLANAR(type: number): boolean {
  return type === V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE || type === V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
}

/** `V4L2_TYPE_IS_OUTPUT(type)`. */
export function V4L2_TYPE_IS_OUTPUT(type: number): boolean {
  return (
    type === V4L2_BUF_TYPE_VIDEO_OUTPUT ||
    type === V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE ||
    type === V4L2_BUF_TYPE_VIDEO_OVERLAY ||
    type === V4L2_BUF_TYPE_VIDEO_OUTPUT_OVERLAY ||
    type === V4L2_BUF_TYPE_VBI_OUTPUT ||
    type === V4L2_BUF_TYPE_SLICED_VBI_OUTPUT ||
    type === V4L2_BUF_TYPE_SDR_OUTPUT ||
    type === V4L2_BUF_TYPE_META_OUTPUT
  );
}

/** `V4L2_TYPE_IS_VALID(type)`: a known buffer type. */
export function V4L2_TYPE_IS_VALID(type: number): boolean {
  return Number.isInteger(type) && type >= V4L2_BUF_TYPE_VIDEO_CAPTURE && type <= V4L2_BUF_TYPE_META_OUTPUT;
}

/** `V4L2_TYPE_IS_CAPTURE(type)`: a valid type that is not an output type. */
export function V4L2_TYPE_IS_CAPTURE(type: number): boolean {
  return V4L2_TYPE_IS_VALID(type) && !V4L2_TYPE_IS_OUTPUT(type);
}

// ---- enum v4l2_memory -----------------------------------------------------------------------

/** `V4L2_MEMORY_MMAP`: driver-allocated buffers mapped with mmap() by offset cookie. */
export const V4L2_MEMORY_MMAP = 1;
/** `V4L2_MEMORY_USERPTR`: buffers in the process's own memory. */
export const V4L2_MEMORY_USERPTR = 2;
/** `V4L2_MEMORY_OVERLAY` (not supported by vb2). */
export const V4L2_MEMORY_OVERLAY = 3;
/** `V4L2_MEMORY_DMABUF`: buffers imported as dma-buf fds. */
export const V4L2_MEMORY_DMABUF = 4;

/** `V4L2_MEMORY_FLAG_NON_COHERENT` (REQBUFS / CREATE_BUFS `flags`): cacheable MMAP buffers. */
export const V4L2_MEMORY_FLAG_NON_COHERENT = 1 << 0;

// ---- enum v4l2_field ------------------------------------------------------------------------

/** `V4L2_FIELD_ANY`: the driver picks. */
export const V4L2_FIELD_ANY = 0;
/** `V4L2_FIELD_NONE`: progressive. */
export const V4L2_FIELD_NONE = 1;
/** `V4L2_FIELD_TOP`. */
export const V4L2_FIELD_TOP = 2;
/** `V4L2_FIELD_BOTTOM`. */
export const V4L2_FIELD_BOTTOM = 3;
/** `V4L2_FIELD_INTERLACED`. */
export const V4L2_FIELD_INTERLACED = 4;
/** `V4L2_FIELD_ALTERNATE`: fields in separate buffers (invalid in an output buffer). */
export const V4L2_FIELD_ALTERNATE = 7;

// ---- buffer flags ---------------------------------------------------------------------------

/** The buffer is mapped (mmapped or exported): `mem_ops->num_users > 1`. */
export const V4L2_BUF_FLAG_MAPPED = 0x00000001;
/** The buffer is queued (QUEUED or ACTIVE). */
export const V4L2_BUF_FLAG_QUEUED = 0x00000002;
/** The buffer is done (on the done list); never visible after DQBUF. */
export const V4L2_BUF_FLAG_DONE = 0x00000004;
/** Keyframe (output flags passed on to the driver). */
export const V4L2_BUF_FLAG_KEYFRAME = 0x00000008;
/** P-frame. */
export const V4L2_BUF_FLAG_PFRAME = 0x00000010;
/** B-frame. */
export const V4L2_BUF_FLAG_BFRAME = 0x00000020;
/** The buffer completed with an error (still a successful DQBUF). */
export const V4L2_BUF_FLAG_ERROR = 0x00000040;
/** The buffer is bound to a request. */
export const V4L2_BUF_FLAG_IN_REQUEST = 0x00000080;
/** `timecode` is valid. */
export const V4L2_BUF_FLAG_TIMECODE = 0x00000100;
/** m2m: hold the capture buffer (stateless decoders). */
export const V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF = 0x00000200;
/** The buffer has been prepared (PREPARE_BUF) and not yet queued. */
export const V4L2_BUF_FLAG_PREPARED = 0x00000400;
/** Cache hint: skip the invalidate at DQBUF (finish). */
export const V4L2_BUF_FLAG_NO_CACHE_INVALIDATE = 0x00000800;
/** Cache hint: skip the clean at QBUF (prepare). */
export const V4L2_BUF_FLAG_NO_CACHE_CLEAN = 0x00001000;
/** Mask of the timestamp type. */
export const V4L2_BUF_FLAG_TIMESTAMP_MASK = 0x0000e000;
/** Timestamp type unknown. */
export const V4L2_BUF_FLAG_TIMESTAMP_UNKNOWN = 0x00000000;
/** Timestamps from the monotonic clock (the virtual clock here). */
export const V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC = 0x00002000;
/** Timestamps copied from the output buffer (m2m). */
export const V4L2_BUF_FLAG_TIMESTAMP_COPY = 0x00004000;
/** Mask of the timestamp source. */
export const V4L2_BUF_FLAG_TSTAMP_SRC_MASK = 0x00070000;
/** Timestamp taken at the end of the frame. */
export const V4L2_BUF_FLAG_TSTAMP_SRC_EOF = 0x00000000;
/** Timestamp taken at the start of the exposure. */
export const V4L2_BUF_FLAG_TSTAMP_SRC_SOE = 0x00010000;
/** The last buffer of a stream: the next DQBUF of a capture queue fails with EPIPE. */
export const V4L2_BUF_FLAG_LAST = 0x00100000;
/** `request_fd` is valid. */
export const V4L2_BUF_FLAG_REQUEST_FD = 0x00800000;

// ---- capabilities of struct v4l2_requestbuffers / v4l2_create_buffers ------------------------

/** REQBUFS/CREATE_BUFS capability: MMAP supported. */
export const V4L2_BUF_CAP_SUPPORTS_MMAP = 1 << 0;
/** USERPTR supported. */
export const V4L2_BUF_CAP_SUPPORTS_USERPTR = 1 << 1;
/** DMABUF supported. */
export const V4L2_BUF_CAP_SUPPORTS_DMABUF = 1 << 2;
/** The Request API is supported. */
export const V4L2_BUF_CAP_SUPPORTS_REQUESTS = 1 << 3;
/** REQBUFS(0) with buffers still mapped or exported orphans them instead of failing EBUSY. */
export const V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS = 1 << 4;
/** m2m: `V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF` supported. */
export const V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF = 1 << 5;
/** The cache hints and `V4L2_MEMORY_FLAG_NON_COHERENT` are honoured (MMAP only). */
export const V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS = 1 << 6;
/** CREATE_BUFS reports `max_num_buffers`. */
export const V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS = 1 << 7;
/** VIDIOC_REMOVE_BUFS is supported. */
export const V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS = 1 << 8;

// ---- device capabilities (struct v4l2_capability) --------------------------------------------

/** `V4L2_CAP_VIDEO_CAPTURE`. */
export const V4L2_CAP_VIDEO_CAPTURE = 0x00000001;
/** `V4L2_CAP_VIDEO_OUTPUT`. */
export const V4L2_CAP_VIDEO_OUTPUT = 0x00000002;
/** `V4L2_CAP_VIDEO_CAPTURE_MPLANE`. */
export const V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000;
/** `V4L2_CAP_VIDEO_OUTPUT_MPLANE`. */
export const V4L2_CAP_VIDEO_OUTPUT_MPLANE = 0x00002000;
/** `V4L2_CAP_VIDEO_M2M_MPLANE`. */
export const V4L2_CAP_VIDEO_M2M_MPLANE = 0x00004000;
/** `V4L2_CAP_VIDEO_M2M`. */
export const V4L2_CAP_VIDEO_M2M = 0x00008000;
/** `V4L2_CAP_EXT_PIX_FORMAT`. */
export const V4L2_CAP_EXT_PIX_FORMAT = 0x00200000;
/** `V4L2_CAP_READWRITE`. */
export const V4L2_CAP_READWRITE = 0x01000000;
/** `V4L2_CAP_STREAMING`: the streaming I/O ioctls. */
export const V4L2_CAP_STREAMING = 0x04000000;
/** `V4L2_CAP_DEVICE_CAPS`: `device_caps` is valid. */
export const V4L2_CAP_DEVICE_CAPS = 0x80000000;

// ---- pixel formats --------------------------------------------------------------------------

/** `v4l2_fourcc(a, b, c, d)`: a four-character code as a little-endian 32-bit number. */
export function v4l2Fourcc(code: string): number {
  if (code.length !== 4) throw new RangeError(`v4l2Fourcc: "${code}" is not four characters`);
  return (
    (code.charCodeAt(0) |
      (code.charCodeAt(1) << 8) |
      (code.charCodeAt(2) << 16) |
      (code.charCodeAt(3) << 24)) >>>
    0
  );
}

/** The four characters of a fourcc (`"NV12"`). */
export function fourccToString(fourcc: number): string {
  return String.fromCharCode(
    fourcc & 0xff,
    (fourcc >>> 8) & 0xff,
    (fourcc >>> 16) & 0xff,
    (fourcc >>> 24) & 0xff,
  );
}

/** `V4L2_PIX_FMT_NV12`: Y plane then interleaved CbCr at half height, one memory plane. */
export const V4L2_PIX_FMT_NV12 = v4l2Fourcc("NV12");
/** `V4L2_PIX_FMT_NV21`: as NV12 with CrCb. */
export const V4L2_PIX_FMT_NV21 = v4l2Fourcc("NV21");
/** `V4L2_PIX_FMT_NV12M`: NV12 with Y and CbCr in two memory planes. */
export const V4L2_PIX_FMT_NV12M = v4l2Fourcc("NM12");
/** `V4L2_PIX_FMT_NV21M`: NV21 in two memory planes. */
export const V4L2_PIX_FMT_NV21M = v4l2Fourcc("NM21");
/** `V4L2_PIX_FMT_YUYV`: packed 4:2:2, 2 bytes per pixel. */
export const V4L2_PIX_FMT_YUYV = v4l2Fourcc("YUYV");
/** `V4L2_PIX_FMT_GREY`: 8-bit luma. */
export const V4L2_PIX_FMT_GREY = v4l2Fourcc("GREY");
/** `V4L2_PIX_FMT_RGB565`: 2 bytes per pixel. */
export const V4L2_PIX_FMT_RGB565 = v4l2Fourcc("RGBP");
/** `V4L2_PIX_FMT_RGB24`: 3 bytes per pixel. */
export const V4L2_PIX_FMT_RGB24 = v4l2Fourcc("RGB3");
/** `V4L2_PIX_FMT_XRGB32`: 4 bytes per pixel. */
export const V4L2_PIX_FMT_XRGB32 = v4l2Fourcc("BX24");

/** `VIDEO_MAX_PLANES`: the most memory planes a buffer has. */
export const VIDEO_MAX_PLANES = 8;
/** `VIDEO_MAX_FRAME`: the default (and smallest allowed) maximum number of buffers of a queue. */
export const VIDEO_MAX_FRAME = 32;

// ---- structs --------------------------------------------------------------------------------

/** `struct timeval` as `struct v4l2_buffer` carries it. */
export interface V4l2Timeval {
  tv_sec: number;
  tv_usec: number;
}

/** `struct v4l2_timecode` (kept as plain numbers). */
export interface V4l2Timecode {
  type: number;
  flags: number;
  frames: number;
  seconds: number;
  minutes: number;
  hours: number;
}

/** `struct v4l2_plane`: one memory plane of a multi-planar buffer. */
export interface V4l2Plane {
  /** bytes of data in the plane (in for output, out for capture) */
  bytesused: number;
  /** size of the plane in bytes (USERPTR/DMABUF: in; MMAP: out) */
  length: number;
  /** `mem_offset` (MMAP), `userptr` (USERPTR) or `fd` (DMABUF) */
  m: { mem_offset?: number; userptr?: number; fd?: number };
  /** offset of the data from the start of the plane */
  data_offset: number;
}

/** `struct v4l2_buffer`: argument of QUERYBUF, QBUF, DQBUF and PREPARE_BUF. */
export interface V4l2Buffer {
  index: number;
  type: number;
  bytesused: number;
  flags: number;
  field: number;
  timestamp: V4l2Timeval;
  timecode: V4l2Timecode;
  sequence: number;
  memory: number;
  /** `offset` (MMAP), `userptr` (USERPTR), `fd` (DMABUF) or `planes` (multi-planar types) */
  m: { offset?: number; userptr?: number; fd?: number; planes?: V4l2Plane[] };
  /** single-planar: buffer size in bytes; multi-planar: elements in `m.planes` */
  length: number;
  reserved2: number;
  request_fd: number;
}

/** `struct v4l2_requestbuffers`: argument of REQBUFS. */
export interface V4l2RequestBuffers {
  count: number;
  type: number;
  memory: number;
  capabilities: number;
  flags: number;
}

/** `struct v4l2_pix_format`: the single-planar image format. */
export interface V4l2PixFormat {
  width: number;
  height: number;
  pixelformat: number;
  field: number;
  bytesperline: number;
  sizeimage: number;
  colorspace: number;
  priv: number;
  flags: number;
  ycbcr_enc: number;
  quantization: number;
  xfer_func: number;
}

/** `struct v4l2_plane_pix_format`. */
export interface V4l2PlanePixFormat {
  sizeimage: number;
  bytesperline: number;
}

/** `struct v4l2_pix_format_mplane`: the multi-planar image format. */
export interface V4l2PixFormatMplane {
  width: number;
  height: number;
  pixelformat: number;
  field: number;
  colorspace: number;
  plane_fmt: V4l2PlanePixFormat[];
  num_planes: number;
  flags: number;
  ycbcr_enc: number;
  quantization: number;
  xfer_func: number;
}

/** `struct v4l2_format`: argument of G/S/TRY_FMT; `fmt.pix` or `fmt.pix_mp` per `type`. */
export interface V4l2Format {
  type: number;
  fmt: { pix?: V4l2PixFormat; pix_mp?: V4l2PixFormatMplane };
}

/** `struct v4l2_create_buffers`: argument of CREATE_BUFS. */
export interface V4l2CreateBuffers {
  /** out: the index of the first buffer created */
  index: number;
  count: number;
  memory: number;
  format: V4l2Format;
  capabilities: number;
  flags: number;
  max_num_buffers: number;
}

/** `struct v4l2_exportbuffer`: argument of EXPBUF. */
export interface V4l2ExportBuffer {
  type: number;
  index: number;
  plane: number;
  /** O_CLOEXEC and the access mode of the new file */
  flags: number;
  /** out: the dma-buf fd */
  fd: number;
}

/** `struct v4l2_remove_buffers`: argument of REMOVE_BUFS. */
export interface V4l2RemoveBuffers {
  index: number;
  count: number;
  type: number;
}

/** `struct v4l2_capability`: result of QUERYCAP. */
export interface V4l2Capability {
  driver: string;
  card: string;
  bus_info: string;
  version: number;
  capabilities: number;
  device_caps: number;
}

/** `struct v4l2_fmtdesc`: argument of ENUM_FMT. */
export interface V4l2Fmtdesc {
  index: number;
  type: number;
  flags: number;
  description: string;
  pixelformat: number;
  mbus_code: number;
}

// ---- struct sizes on a 64-bit kernel, and the ioctl numbers ----------------------------------

/** `sizeof(struct v4l2_capability)`. */
export const V4L2_CAPABILITY_SIZE = 104;
/** `sizeof(struct v4l2_fmtdesc)`. */
export const V4L2_FMTDESC_SIZE = 64;
/** `sizeof(struct v4l2_format)` (the union holds pointers: 8-byte aligned, 200 bytes). */
export const V4L2_FORMAT_SIZE = 208;
/** `sizeof(struct v4l2_requestbuffers)`. */
export const V4L2_REQUESTBUFFERS_SIZE = 20;
/** `sizeof(struct v4l2_buffer)` on a 64-bit kernel. */
export const V4L2_BUFFER_SIZE = 88;
/** `sizeof(struct v4l2_exportbuffer)`. */
export const V4L2_EXPORTBUFFER_SIZE = 64;
/** `sizeof(struct v4l2_create_buffers)`. */
export const V4L2_CREATE_BUFFERS_SIZE = 256;
/** `sizeof(struct v4l2_remove_buffers)`. */
export const V4L2_REMOVE_BUFFERS_SIZE = 64;

/** `VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability)`. */
export const VIDIOC_QUERYCAP = _IOR("V", 0, V4L2_CAPABILITY_SIZE);
/** `VIDIOC_ENUM_FMT = _IOWR('V', 2, struct v4l2_fmtdesc)`. */
export const VIDIOC_ENUM_FMT = _IOWR("V", 2, V4L2_FMTDESC_SIZE);
/** `VIDIOC_G_FMT = _IOWR('V', 4, struct v4l2_format)`. */
export const VIDIOC_G_FMT = _IOWR("V", 4, V4L2_FORMAT_SIZE);
/** `VIDIOC_S_FMT = _IOWR('V', 5, struct v4l2_format)`. */
export const VIDIOC_S_FMT = _IOWR("V", 5, V4L2_FORMAT_SIZE);
/** `VIDIOC_REQBUFS = _IOWR('V', 8, struct v4l2_requestbuffers)`. */
export const VIDIOC_REQBUFS = _IOWR("V", 8, V4L2_REQUESTBUFFERS_SIZE);
/** `VIDIOC_QUERYBUF = _IOWR('V', 9, struct v4l2_buffer)`. */
export const VIDIOC_QUERYBUF = _IOWR("V", 9, V4L2_BUFFER_SIZE);
/** `VIDIOC_QBUF = _IOWR('V', 15, struct v4l2_buffer)`. */
export const VIDIOC_QBUF = _IOWR("V", 15, V4L2_BUFFER_SIZE);
/** `VIDIOC_EXPBUF = _IOWR('V', 16, struct v4l2_exportbuffer)`. */
export const VIDIOC_EXPBUF = _IOWR("V", 16, V4L2_EXPORTBUFFER_SIZE);
/** `VIDIOC_DQBUF = _IOWR('V', 17, struct v4l2_buffer)`. */
export const VIDIOC_DQBUF = _IOWR("V", 17, V4L2_BUFFER_SIZE);
/** `VIDIOC_STREAMON = _IOW('V', 18, int)`; the argument is the buffer type. */
export const VIDIOC_STREAMON = _IOW("V", 18, 4);
/** `VIDIOC_STREAMOFF = _IOW('V', 19, int)`; the argument is the buffer type. */
export const VIDIOC_STREAMOFF = _IOW("V", 19, 4);
/** `VIDIOC_TRY_FMT = _IOWR('V', 64, struct v4l2_format)`. */
export const VIDIOC_TRY_FMT = _IOWR("V", 64, V4L2_FORMAT_SIZE);
/** `VIDIOC_CREATE_BUFS = _IOWR('V', 92, struct v4l2_create_buffers)`. */
export const VIDIOC_CREATE_BUFS = _IOWR("V", 92, V4L2_CREATE_BUFFERS_SIZE);
/** `VIDIOC_PREPARE_BUF = _IOWR('V', 93, struct v4l2_buffer)`. */
export const VIDIOC_PREPARE_BUF = _IOWR("V", 93, V4L2_BUFFER_SIZE);
/** `VIDIOC_REMOVE_BUFS = _IOWR('V', 104, struct v4l2_remove_buffers)`. */
export const VIDIOC_REMOVE_BUFS = _IOWR("V", 104, V4L2_REMOVE_BUFFERS_SIZE);

// ---- the 32-bit ABI (ARM32 user space; drivers/media/v4l2-core/v4l2-compat-ioctl32.c) ------

/** `sizeof(struct v4l2_buffer)` with 32-bit pointers and `time_t` (an ARM32 program). */
export const V4L2_BUFFER32_SIZE = 68;
/** `sizeof(struct v4l2_format)` with 32-bit pointers (the union is 4-byte aligned). */
export const V4L2_FORMAT32_SIZE = 204;
/** `sizeof(struct v4l2_create_buffers)` with 32-bit pointers. */
export const V4L2_CREATE_BUFFERS32_SIZE = 248;

/** `VIDIOC_G_FMT32`: G_FMT as an ARM32 program encodes it. */
export const VIDIOC_G_FMT32 = _IOWR("V", 4, V4L2_FORMAT32_SIZE);
/** `VIDIOC_S_FMT32`. */
export const VIDIOC_S_FMT32 = _IOWR("V", 5, V4L2_FORMAT32_SIZE);
/** `VIDIOC_QUERYBUF32`. */
export const VIDIOC_QUERYBUF32 = _IOWR("V", 9, V4L2_BUFFER32_SIZE);
/** `VIDIOC_QBUF32` (0xc044560f). */
export const VIDIOC_QBUF32 = _IOWR("V", 15, V4L2_BUFFER32_SIZE);
/** `VIDIOC_DQBUF32`. */
export const VIDIOC_DQBUF32 = _IOWR("V", 17, V4L2_BUFFER32_SIZE);
/** `VIDIOC_TRY_FMT32`. */
export const VIDIOC_TRY_FMT32 = _IOWR("V", 64, V4L2_FORMAT32_SIZE);
/** `VIDIOC_CREATE_BUFS32`. */
export const VIDIOC_CREATE_BUFS32 = _IOWR("V", 92, V4L2_CREATE_BUFFERS32_SIZE);
/** `VIDIOC_PREPARE_BUF32`. */
export const VIDIOC_PREPARE_BUF32 = _IOWR("V", 93, V4L2_BUFFER32_SIZE);

/**
 * The native command of a 32-bit one (`v4l2_compat_translate_cmd`): the kernel accepts both
 * encodings, as a 64-bit kernel serves ARM32 programs. Other commands come back unchanged.
 */
export function v4l2CompatTranslateCmd(cmd: number): number {
  switch (cmd) {
    case VIDIOC_G_FMT32:
      return VIDIOC_G_FMT;
    case VIDIOC_S_FMT32:
      return VIDIOC_S_FMT;
    case VIDIOC_QUERYBUF32:
      return VIDIOC_QUERYBUF;
    case VIDIOC_QBUF32:
      return VIDIOC_QBUF;
    case VIDIOC_DQBUF32:
      return VIDIOC_DQBUF;
    case VIDIOC_TRY_FMT32:
      return VIDIOC_TRY_FMT;
    case VIDIOC_CREATE_BUFS32:
      return VIDIOC_CREATE_BUFS;
    case VIDIOC_PREPARE_BUF32:
      return VIDIOC_PREPARE_BUF;
    default:
      return cmd;
  }
}

// ---- constructors for user space -------------------------------------------------------------

/** A zeroed `struct v4l2_buffer` of `type` and `memory` (what a program memsets before QBUF). */
export function v4l2Buffer(init: Partial<V4l2Buffer> & { type: number; memory: number }): V4l2Buffer {
  return {
    index: 0,
    bytesused: 0,
    flags: 0,
    field: 0,
    timestamp: { tv_sec: 0, tv_usec: 0 },
    timecode: { type: 0, flags: 0, frames: 0, seconds: 0, minutes: 0, hours: 0 },
    sequence: 0,
    m: {},
    length: 0,
    reserved2: 0,
    request_fd: 0,
    ...init,
  };
}

/** A zeroed array of `n` `struct v4l2_plane` (the planes array of a multi-planar buffer). */
export function v4l2Planes(n: number): V4l2Plane[] {
  return Array.from({ length: n }, () => ({ bytesused: 0, length: 0, m: {}, data_offset: 0 }));
}
