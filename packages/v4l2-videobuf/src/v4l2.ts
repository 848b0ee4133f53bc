/**
 * videobuf2-v4l2 (drivers/media/common/videobuf2/videobuf2-v4l2.c): the V4L2 side of a vb2
 * queue — `struct v4l2_buffer` in and out of the core, the uapi checks (planes arrays, plane
 * lengths, fields, flags, cache hints), REQBUFS/CREATE_BUFS capabilities, and the DQBUF rules
 * for V4L2_BUF_FLAG_LAST and V4L2_BUF_FLAG_DONE.
 *
 * These functions take kernel copies of the uapi structs; the ioctl layer (`./dev.ts`) copies
 * user space's struct in and, on success only, back out.
 *
 * @module
 */
import { hex, type Kernel, KernelError } from "@umm/kernel-core";
import {
  type Vb2Buffer,
  type Vb2BufOps,
  type Vb2Plane,
  type Vb2Queue,
  type Vb2QueueOpts,
  vb2BufferInUse,
  vb2CoreCreateBufs,
  vb2CoreDqbuf,
  vb2CorePrepareBuf,
  vb2CoreQbuf,
  vb2CoreQueueInit,
  vb2CoreQueueRelease,
  vb2CoreReqbufs,
  vb2CoreStreamoff,
  vb2CoreStreamon,
  vb2GetBuffer,
  vb2QueueAllowsCacheHints,
  vb2SetCacheHints,
  vb2VerifyMemoryType,
} from "./core.js";
import {
  VB2_DMABUF,
  VB2_MAX_PLANES,
  VB2_MEMORY_DMABUF,
  VB2_MEMORY_MMAP,
  VB2_MEMORY_USERPTR,
  VB2_MMAP,
  VB2_USERPTR,
  Vb2BufferState,
} from "./types.js";
import {
  V4L2_BUF_CAP_SUPPORTS_DMABUF,
  V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF,
  V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS,
  V4L2_BUF_CAP_SUPPORTS_MMAP,
  V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS,
  V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS,
  V4L2_BUF_CAP_SUPPORTS_USERPTR,
  V4L2_BUF_FLAG_BFRAME,
  V4L2_BUF_FLAG_DONE,
  V4L2_BUF_FLAG_ERROR,
  V4L2_BUF_FLAG_IN_REQUEST,
  V4L2_BUF_FLAG_KEYFRAME,
  V4L2_BUF_FLAG_LAST,
  V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF,
  V4L2_BUF_FLAG_MAPPED,
  V4L2_BUF_FLAG_NO_CACHE_CLEAN,
  V4L2_BUF_FLAG_NO_CACHE_INVALIDATE,
  V4L2_BUF_FLAG_PFRAME,
  V4L2_BUF_FLAG_PREPARED,
  V4L2_BUF_FLAG_QUEUED,
  V4L2_BUF_FLAG_REQUEST_FD,
  V4L2_BUF_FLAG_TIMECODE,
  V4L2_BUF_FLAG_TIMESTAMP_MASK,
  V4L2_BUF_FLAG_TIMESTAMP_UNKNOWN,
  V4L2_BUF_FLAG_TSTAMP_SRC_MASK,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_FIELD_ALTERNATE,
  V4L2_MEMORY_FLAG_NON_COHERENT,
  V4L2_TYPE_IS_CAPTURE,
  V4L2_TYPE_IS_MULTIPLANAR,
  V4L2_TYPE_IS_OUTPUT,
  type V4l2Buffer,
  type V4l2CreateBuffers,
  type V4l2RequestBuffers,
  type V4l2Timeval,
} from "./uapi.js";

/** Flags vb2 sets itself (`V4L2_BUFFER_MASK_FLAGS`). */
export const V4L2_BUFFER_MASK_FLAGS =
  V4L2_BUF_FLAG_MAPPED |
  V4L2_BUF_FLAG_QUEUED |
  V4L2_BUF_FLAG_DONE |
  V4L2_BUF_FLAG_ERROR |
  V4L2_BUF_FLAG_PREPARED |
  V4L2_BUF_FLAG_IN_REQUEST |
  V4L2_BUF_FLAG_REQUEST_FD |
  V4L2_BUF_FLAG_TIMESTAMP_MASK;

/** Output buffer flags passed on to the driver (`V4L2_BUFFER_OUT_FLAGS`). */
export const V4L2_BUFFER_OUT_FLAGS =
  V4L2_BUF_FLAG_PFRAME |
  V4L2_BUF_FLAG_BFRAME |
  V4L2_BUF_FLAG_KEYFRAME |
  V4L2_BUF_FLAG_TIMECODE |
  V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF;

/** `v4l2_buffer_get_timestamp`: ns. */
export function v4l2TimevalToNs(tv: V4l2Timeval): number {
  return (tv?.tv_sec ?? 0) * 1e9 + (tv?.tv_usec ?? 0) * 1000;
}

/** `v4l2_buffer_set_timestamp`: `struct timeval` of a time in ns. */
export function nsToV4l2Timeval(ns: number): V4l2Timeval {
  return { tv_sec: Math.floor(ns / 1e9), tv_usec: Math.floor((ns % 1e9) / 1000) };
}

// ---- the buffer ops -------------------------------------------------------------------------

/** `__verify_planes_array`: EINVAL when a multi-planar `b` has no planes array or a bad length. */
function verifyPlanesArray(vb: Vb2Buffer, b: V4l2Buffer): void {
  if (!V4L2_TYPE_IS_MULTIPLANAR(b.type)) return;
  if (!Array.isArray(b.m?.planes)) {
    throw new KernelError(
      "EINVAL",
      `${vb}: multi-planar buffer passed but planes array (m.planes) not provided`,
    );
  }
  if (b.length < vb.numPlanes || b.length > VB2_MAX_PLANES) {
    throw new KernelError(
      "EINVAL",
      `${vb}: incorrect planes array length ${b.length}, expected ${vb.numPlanes} (at most ${VB2_MAX_PLANES})`,
    );
  }
  if (b.m.planes.length < b.length) {
    throw new KernelError(
      "EFAULT",
      `${vb}: m.planes has ${b.m.planes.length} entries, length says ${b.length}`,
    );
  }
}

/** `__verify_length`: output buffers' bytesused and data_offset must fit their planes. */
function verifyLength(vb: Vb2Buffer, b: V4l2Buffer): void {
  if (V4L2_TYPE_IS_CAPTURE(b.type)) return;
  if (V4L2_TYPE_IS_MULTIPLANAR(b.type)) {
    for (let plane = 0; plane < vb.numPlanes; plane++) {
      const p = b.m.planes![plane]!;
      const length =
        b.memory === VB2_MEMORY_USERPTR || b.memory === VB2_MEMORY_DMABUF
          ? p.length
          : vb.planes[plane]!.length;
      const bytesused = p.bytesused ? p.bytesused : length;
      if (p.bytesused > length) {
        throw new KernelError(
          "EINVAL",
          `${vb}: plane ${plane}: bytesused ${p.bytesused} exceeds the length ${length}`,
        );
      }
      if (p.data_offset > 0 && p.data_offset >= bytesused) {
        throw new KernelError(
          "EINVAL",
          `${vb}: plane ${plane}: data_offset ${p.data_offset} is not below bytesused ${bytesused}`,
        );
      }
    }
  } else {
    const length = b.memory === VB2_MEMORY_USERPTR ? b.length : vb.planes[0]!.length;
    if (b.bytesused > length) {
      throw new KernelError("EINVAL", `${vb}: bytesused ${b.bytesused} exceeds the length ${length}`);
    }
  }
}

/**
 * `vb2_fill_vb2_v4l2_buffer`: stages what user space says about the buffer (planes, flags,
 * field) in `vb`. Validates first: EINVAL for lengths (`verifyLength`) or an output field of
 * ALTERNATE; then changes the buffer.
 */
function fillVb2V4l2Buffer(vb: Vb2Buffer, b: V4l2Buffer): void {
  const q = vb.queue;
  verifyLength(vb, b);
  if (b.field === V4L2_FIELD_ALTERNATE && q.isOutput) {
    throw new KernelError("EINVAL", `${vb}: the field of an output buffer must not be ALTERNATE`);
  }
  vb.sequence = 0;
  vb.requestFd = -1;
  vb.isHeld = false;
  const planes = vb.userPlanes;
  for (const p of planes) {
    p.bytesused = 0;
    p.length = 0;
    p.m = { offset: 0, userptr: 0, fd: 0 };
    p.dataOffset = 0;
  }
  if (V4L2_TYPE_IS_MULTIPLANAR(b.type)) {
    for (let plane = 0; plane < vb.numPlanes; plane++) {
      const src = b.m.planes![plane]!;
      const dst = planes[plane]!;
      if (b.memory === VB2_MEMORY_USERPTR) {
        dst.m.userptr = src.m?.userptr ?? 0;
        dst.length = src.length;
      } else if (b.memory === VB2_MEMORY_DMABUF) {
        dst.m.fd = src.m?.fd ?? 0;
        dst.length = src.length;
      } else {
        dst.m.offset = vb.planes[plane]!.m.offset;
        dst.length = vb.planes[plane]!.length;
      }
      if (V4L2_TYPE_IS_OUTPUT(b.type)) {
        dst.bytesused = q.allowZeroBytesused ? src.bytesused : src.bytesused ? src.bytesused : dst.length;
        dst.dataOffset = src.data_offset;
      }
    }
  } else {
    const dst = planes[0]!;
    if (b.memory === VB2_MEMORY_USERPTR) {
      dst.m.userptr = b.m.userptr ?? 0;
      dst.length = b.length;
    } else if (b.memory === VB2_MEMORY_DMABUF) {
      dst.m.fd = b.m.fd ?? 0;
      dst.length = b.length;
    } else {
      dst.m.offset = vb.planes[0]!.m.offset;
      dst.length = vb.planes[0]!.length;
    }
    dst.dataOffset = 0;
    if (V4L2_TYPE_IS_OUTPUT(b.type)) {
      dst.bytesused = q.allowZeroBytesused ? b.bytesused : b.bytesused ? b.bytesused : dst.length;
    } else {
      dst.bytesused = 0;
    }
  }
  let flags = b.flags & ~V4L2_BUFFER_MASK_FLAGS;
  if (!q.copyTimestamp || V4L2_TYPE_IS_CAPTURE(b.type)) flags &= ~V4L2_BUF_FLAG_TSTAMP_SRC_MASK;
  if (V4L2_TYPE_IS_OUTPUT(b.type)) {
    flags &= ~V4L2_BUF_FLAG_TIMECODE;
    vb.field = b.field;
    if (!q.supportsM2mHoldCaptureBuf) flags &= ~V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF;
  } else {
    flags &= ~V4L2_BUFFER_OUT_FLAGS;
    flags &= ~V4L2_BUF_FLAG_LAST;
  }
  vb.flags = flags;
}

/** `__fill_v4l2_buffer`: the buffer as user space sees it. */
function fillV4l2Buffer(vb: Vb2Buffer, b: V4l2Buffer): void {
  const q = vb.queue;
  b.index = vb.index;
  b.type = vb.type;
  b.memory = vb.memory;
  b.bytesused = 0;
  b.flags = vb.flags;
  b.field = vb.field;
  b.timestamp = nsToV4l2Timeval(vb.timestamp);
  b.timecode = { ...vb.timecode };
  b.sequence = vb.sequence;
  b.reserved2 = 0;
  b.request_fd = 0;
  if (q.isMultiplanar) {
    b.length = vb.numPlanes;
    const planes = b.m.planes!;
    for (let plane = 0; plane < vb.numPlanes; plane++) {
      const src = vb.planes[plane]!;
      const m: { mem_offset?: number; userptr?: number; fd?: number } = {};
      if (q.memory === VB2_MEMORY_MMAP) m.mem_offset = src.m.offset;
      else if (q.memory === VB2_MEMORY_USERPTR) m.userptr = src.m.userptr;
      else if (q.memory === VB2_MEMORY_DMABUF) m.fd = src.m.fd;
      planes[plane] = { bytesused: src.bytesused, length: src.length, m, data_offset: src.dataOffset };
    }
  } else {
    const p = vb.planes[0]!;
    b.length = p.length;
    b.bytesused = p.bytesused;
    if (q.memory === VB2_MEMORY_MMAP) b.m = { offset: p.m.offset };
    else if (q.memory === VB2_MEMORY_USERPTR) b.m = { userptr: p.m.userptr };
    else if (q.memory === VB2_MEMORY_DMABUF) b.m = { fd: p.m.fd };
  }
  b.flags &= ~V4L2_BUFFER_MASK_FLAGS;
  b.flags |= q.timestampFlags & V4L2_BUF_FLAG_TIMESTAMP_MASK;
  if (!q.copyTimestamp) {
    b.flags &= ~V4L2_BUF_FLAG_TSTAMP_SRC_MASK;
    b.flags |= q.timestampFlags & V4L2_BUF_FLAG_TSTAMP_SRC_MASK;
  }
  switch (vb.state) {
    case Vb2BufferState.QUEUED:
    case Vb2BufferState.ACTIVE:
      b.flags |= V4L2_BUF_FLAG_QUEUED;
      break;
    case Vb2BufferState.IN_REQUEST:
      b.flags |= V4L2_BUF_FLAG_IN_REQUEST;
      break;
    case Vb2BufferState.ERROR:
      b.flags |= V4L2_BUF_FLAG_ERROR | V4L2_BUF_FLAG_DONE;
      break;
    case Vb2BufferState.DONE:
      b.flags |= V4L2_BUF_FLAG_DONE;
      break;
  }
  if (
    (vb.state === Vb2BufferState.DEQUEUED || vb.state === Vb2BufferState.IN_REQUEST) &&
    vb.synced &&
    vb.prepared
  ) {
    b.flags |= V4L2_BUF_FLAG_PREPARED;
  }
  if (vb2BufferInUse(q, vb)) b.flags |= V4L2_BUF_FLAG_MAPPED;
  if (vb.requestFd >= 0) {
    b.flags |= V4L2_BUF_FLAG_REQUEST_FD;
    b.request_fd = vb.requestFd;
  }
}

/** `__fill_vb2_buffer`: staged user planes → `planes`. */
function fillVb2Buffer(vb: Vb2Buffer, planes: Vb2Plane[]): void {
  if (!vb.queue.copyTimestamp) vb.timestamp = 0;
  for (let plane = 0; plane < vb.numPlanes; plane++) {
    const src = vb.userPlanes[plane]!;
    const dst = planes[plane]!;
    if (vb.queue.memory !== VB2_MEMORY_MMAP) {
      dst.m = { ...src.m };
      dst.length = src.length;
    }
    dst.bytesused = src.bytesused;
    dst.dataOffset = src.dataOffset;
  }
}

/** `__copy_timestamp`: output buffers take timestamp and timecode from user space. */
function copyTimestamp(vb: Vb2Buffer, b: V4l2Buffer): void {
  const q = vb.queue;
  if (!q.isOutput) return;
  if (q.copyTimestamp) vb.timestamp = v4l2TimevalToNs(b.timestamp);
  vb.flags |= b.flags & V4L2_BUF_FLAG_TIMECODE;
  if (b.flags & V4L2_BUF_FLAG_TIMECODE) vb.timecode = { ...b.timecode };
}

const V4L2_BUF_OPS: Vb2BufOps = {
  verifyPlanesArray: (vb, pb) => verifyPlanesArray(vb, pb as V4l2Buffer),
  initBuffer: (vb) => {
    vb.requestFd = -1;
  },
  fillUserBuffer: (vb, pb) => fillV4l2Buffer(vb, pb as V4l2Buffer),
  fillVb2Buffer,
  copyTimestamp: (vb, pb) => copyTimestamp(vb, pb as V4l2Buffer),
};
Object.freeze(V4L2_BUF_OPS);

// ---- queue init -----------------------------------------------------------------------------

/**
 * `vb2_queue_init`: a V4L2 queue. EINVAL for timestamp flags outside the timestamp type and
 * source masks, and everything `vb2CoreQueueInit` rejects. A timestamp type of UNKNOWN is
 * accepted with a `vb2_warn` (the kernel WARNs).
 */
export function vb2QueueInit(kernel: Kernel, opts: Vb2QueueOpts): Vb2Queue {
  const ts = opts?.timestampFlags ?? 0;
  if (ts & ~(V4L2_BUF_FLAG_TIMESTAMP_MASK | V4L2_BUF_FLAG_TSTAMP_SRC_MASK)) {
    throw new KernelError(
      "EINVAL",
      `vb2_queue_init: timestampFlags ${hex(ts)} has bits outside the timestamp masks`,
    );
  }
  const q = vb2CoreQueueInit(kernel, opts, V4L2_BUF_OPS);
  if ((ts & V4L2_BUF_FLAG_TIMESTAMP_MASK) === V4L2_BUF_FLAG_TIMESTAMP_UNKNOWN) {
    const st = q.st;
    if (st.tp.warn.enabled) st.tp.warn.emit({ queue: q.name, message: "timestamp type is UNKNOWN" });
  }
  return q;
}

/** `vb2_queue_release`: see `vb2CoreQueueRelease`. */
export function vb2QueueRelease(q: Vb2Queue): void {
  vb2CoreQueueRelease(q);
}

// ---- the V4L2 entry points ------------------------------------------------------------------

/**
 * `vb2_set_flags_and_caps`: the capabilities REQBUFS/CREATE_BUFS report, and `flags` reduced to
 * what applies (`V4L2_MEMORY_FLAG_NON_COHERENT` only for MMAP on queues allowing cache hints).
 */
export function vb2SetFlagsAndCaps(
  q: Vb2Queue,
  memory: number,
  flags: number,
  withMaxNumBuffers: boolean,
): { flags: number; caps: number } {
  const f = !q.allowCacheHints || memory !== VB2_MEMORY_MMAP ? 0 : flags & V4L2_MEMORY_FLAG_NON_COHERENT;
  let caps = 0;
  if (q.supportsOrphanedBufs) caps |= V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS;
  if (q.ioModes & VB2_MMAP) caps |= V4L2_BUF_CAP_SUPPORTS_MMAP;
  if (q.ioModes & VB2_USERPTR) caps |= V4L2_BUF_CAP_SUPPORTS_USERPTR;
  if (q.ioModes & VB2_DMABUF) caps |= V4L2_BUF_CAP_SUPPORTS_DMABUF;
  if (q.supportsM2mHoldCaptureBuf) caps |= V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF;
  if (q.allowCacheHints && q.ioModes & VB2_MMAP) caps |= V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS;
  if (withMaxNumBuffers) caps |= V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS;
  return { flags: f, caps };
}

/**
 * `vb2_querybuf`: the state of buffer `b.index`. EINVAL for another type, no buffer at the
 * index, or a multi-planar `b` whose planes array cannot hold the buffer.
 */
export function vb2Querybuf(q: Vb2Queue, b: V4l2Buffer): void {
  if (b.type !== q.type)
    throw new KernelError("EINVAL", `${q.name}: QUERYBUF: type ${b.type} is not ${q.type}`);
  const vb = vb2GetBuffer(q, b.index);
  if (!vb) throw new KernelError("EINVAL", `${q.name}: QUERYBUF: no buffer at index ${b.index}`);
  verifyPlanesArray(vb, b);
  fillV4l2Buffer(vb, b);
}

/**
 * `vb2_reqbufs`: REQBUFS without the owner check (see `vb2IoctlReqbufs`). Fills
 * `req.capabilities` and reduces `req.flags` even when it fails; `req.count` becomes the number
 * allocated. Errors of `vb2VerifyMemoryType` and `vb2CoreReqbufs`.
 */
export function vb2Reqbufs(q: Vb2Queue, req: V4l2RequestBuffers): void {
  let err: unknown = null;
  try {
    vb2VerifyMemoryType(q, req.memory, req.type);
  } catch (e) {
    err = e;
  }
  const { flags, caps } = vb2SetFlagsAndCaps(q, req.memory, req.flags, false);
  req.capabilities |= caps;
  req.flags = flags;
  if (err) throw err;
  req.count = vb2CoreReqbufs(q, req.memory, req.flags, req.count);
}

/**
 * `vb2_create_bufs`: CREATE_BUFS without the owner check. `create.index` is set to the number of
 * buffers first; count 0 only validates (an EBUSY from the memory check becomes success).
 * EINVAL for a multi-planar format with 0 or more than 8 planes, a size of 0, a buffer type vb2
 * cannot take, or the errors of `vb2CoreCreateBufs`.
 */
export function vb2CreateBufs(q: Vb2Queue, create: V4l2CreateBuffers): void {
  let err: unknown = null;
  try {
    vb2VerifyMemoryType(q, create.memory, create.format?.type);
  } catch (e) {
    err = e;
  }
  create.index = q.numBuffers;
  const { flags, caps } = vb2SetFlagsAndCaps(q, create.memory, create.flags, true);
  create.flags = flags;
  create.capabilities |= caps;
  create.max_num_buffers = q.maxNumBuffers;
  if (create.count === 0) {
    if (err && !(err instanceof KernelError && err.errno === "EBUSY")) throw err;
    return;
  }
  const f = create.format;
  let planes = 1;
  const sizes: number[] = [];
  switch (f?.type) {
    case V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE:
    case V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE: {
      const mp = f.fmt.pix_mp;
      planes = mp?.num_planes ?? 0;
      if (planes === 0 || planes > VB2_MAX_PLANES) {
        throw new KernelError("EINVAL", `${q.name}: CREATE_BUFS: num_planes ${planes} is not within 1..8`);
      }
      for (let i = 0; i < planes; i++) sizes.push(mp!.plane_fmt[i]?.sizeimage ?? 0);
      break;
    }
    case V4L2_BUF_TYPE_VIDEO_CAPTURE:
    case V4L2_BUF_TYPE_VIDEO_OUTPUT:
      sizes.push(f.fmt.pix?.sizeimage ?? 0);
      break;
    default:
      throw new KernelError("EINVAL", `${q.name}: CREATE_BUFS: buffer type ${f?.type} is not supported`);
  }
  for (let i = 0; i < planes; i++) {
    if (!sizes[i]) throw new KernelError("EINVAL", `${q.name}: CREATE_BUFS: plane ${i} has sizeimage 0`);
  }
  if (err) throw err;
  const r = vb2CoreCreateBufs(q, create.memory, create.flags, create.count, planes, sizes);
  create.count = r.count;
  create.index = r.firstIndex;
}

interface Staged {
  flags: number;
  field: number;
  sequence: number;
  requestFd: number;
  isHeld: boolean;
  timestamp: number;
  timecode: Vb2Buffer["timecode"];
  hints: [boolean, boolean];
  planes: { bytesused: number; length: number; m: Vb2Plane["m"]; dataOffset: number }[];
}

function snapshot(vb: Vb2Buffer): Staged {
  return {
    flags: vb.flags,
    field: vb.field,
    sequence: vb.sequence,
    requestFd: vb.requestFd,
    isHeld: vb.isHeld,
    timestamp: vb.timestamp,
    timecode: { ...vb.timecode },
    hints: [vb.skipCacheSyncOnPrepare, vb.skipCacheSyncOnFinish],
    planes: vb.userPlanes.map((p) => ({
      bytesused: p.bytesused,
      length: p.length,
      m: { ...p.m },
      dataOffset: p.dataOffset,
    })),
  };
}

function restore(vb: Vb2Buffer, s: Staged): void {
  vb.flags = s.flags;
  vb.field = s.field;
  vb.sequence = s.sequence;
  vb.requestFd = s.requestFd;
  vb.isHeld = s.isHeld;
  vb.timestamp = s.timestamp;
  vb.timecode = s.timecode;
  [vb.skipCacheSyncOnPrepare, vb.skipCacheSyncOnFinish] = s.hints;
  s.planes.forEach((p, i) => {
    const d = vb.userPlanes[i]!;
    d.bytesused = p.bytesused;
    d.length = p.length;
    d.m = p.m;
    d.dataOffset = p.dataOffset;
  });
}

/**
 * `vb2_queue_or_prepare_buf`: the uapi checks of QBUF/PREPARE_BUF and the staging of user
 * space's buffer description. EINVAL for another type or memory, a bad planes array, a
 * REQUEST_FD QBUF of a buffer not DEQUEUED, or bad lengths; EBADR for a request on a queue
 * without request support.
 */
function queueOrPrepareBuf(q: Vb2Queue, vb: Vb2Buffer, b: V4l2Buffer, isPrepare: boolean): void {
  const op = isPrepare ? "PREPARE_BUF" : "QBUF";
  if (b.type !== q.type) throw new KernelError("EINVAL", `${q.name}: ${op}: type ${b.type} is not ${q.type}`);
  if (b.memory !== q.memory) {
    throw new KernelError("EINVAL", `${q.name}: ${op}: memory ${b.memory} is not the queue's ${q.memory}`);
  }
  verifyPlanesArray(vb, b);
  if (!isPrepare && b.flags & V4L2_BUF_FLAG_REQUEST_FD && vb.state !== Vb2BufferState.DEQUEUED) {
    throw new KernelError("EINVAL", `${vb}: ${op}: buffer is not in dequeued state`);
  }
  if (!vb.prepared) {
    if (!vb2QueueAllowsCacheHints(q)) {
      b.flags &= ~(V4L2_BUF_FLAG_NO_CACHE_INVALIDATE | V4L2_BUF_FLAG_NO_CACHE_CLEAN);
    }
    fillVb2V4l2Buffer(vb, b);
    vb2SetCacheHints(
      vb,
      (b.flags & V4L2_BUF_FLAG_NO_CACHE_INVALIDATE) !== 0,
      (b.flags & V4L2_BUF_FLAG_NO_CACHE_CLEAN) !== 0,
    );
  }
  if (isPrepare) return;
  if (b.flags & V4L2_BUF_FLAG_REQUEST_FD) {
    throw new KernelError("EBADR", `${q.name}: ${op}: queue does not support requests`);
  }
}

/**
 * `vb2_prepare_buf`: PREPARE_BUF without the owner check. EINVAL for a REQUEST_FD flag, no
 * buffer at the index, the uapi checks, or a buffer not DEQUEUED / already prepared; EIO on a
 * queue in error; memory and driver errors. A failure leaves the buffer as it was.
 */
export function vb2PrepareBuf(q: Vb2Queue, b: V4l2Buffer): void {
  if (b.flags & V4L2_BUF_FLAG_REQUEST_FD) {
    throw new KernelError("EINVAL", `${q.name}: PREPARE_BUF: requests are not allowed`);
  }
  const vb = vb2GetBuffer(q, b.index);
  if (!vb) throw new KernelError("EINVAL", `${q.name}: PREPARE_BUF: no buffer at index ${b.index}`);
  const saved = snapshot(vb);
  try {
    queueOrPrepareBuf(q, vb, b, true);
    vb2CorePrepareBuf(q, vb, b);
  } catch (e) {
    if (!vb.prepared) restore(vb, saved);
    throw e;
  }
}

/**
 * `vb2_qbuf`: QBUF without the owner check: the uapi checks, then `vb2CoreQbuf`; `b` is filled
 * with the buffer's new state. A failure leaves the buffer as it was.
 */
export function vb2Qbuf(q: Vb2Queue, b: V4l2Buffer): void {
  const vb = vb2GetBuffer(q, b.index);
  if (!vb) throw new KernelError("EINVAL", `${q.name}: QBUF: no buffer at index ${b.index}`);
  const wasPrepared = vb.prepared;
  const saved = snapshot(vb);
  try {
    queueOrPrepareBuf(q, vb, b, false);
    vb2CoreQbuf(q, vb, b);
  } catch (e) {
    if (!wasPrepared && !vb.prepared) restore(vb, saved);
    throw e;
  }
}

function dqbufPost(q: Vb2Queue, b: V4l2Buffer): void {
  if (!q.isOutput && b.flags & V4L2_BUF_FLAG_DONE && b.flags & V4L2_BUF_FLAG_LAST)
    q.lastBufferDequeued = true;
  b.flags &= ~V4L2_BUF_FLAG_DONE;
}

/**
 * `vb2_dqbuf`: DQBUF without the owner check. EINVAL for another type; the errors of
 * `vb2CoreDqbuf` (EAGAIN, EPIPE, EINVAL, EIO, EBUSY). Blocking (not `nonblocking`): a promise.
 * The DONE flag is cleared in `b`; a LAST capture buffer makes later DQBUFs fail EPIPE.
 */
export function vb2Dqbuf(q: Vb2Queue, b: V4l2Buffer, nonblocking: boolean): undefined | Promise<void> {
  if (b.type !== q.type) throw new KernelError("EINVAL", `${q.name}: DQBUF: type ${b.type} is not ${q.type}`);
  const r = vb2CoreDqbuf(q, b, nonblocking);
  if (r instanceof Promise) return r.then(() => dqbufPost(q, b));
  dqbufPost(q, b);
  return undefined;
}

/** `vb2_streamon`: see `vb2CoreStreamon`. */
export function vb2Streamon(q: Vb2Queue, type: number): void {
  vb2CoreStreamon(q, type);
}

/** `vb2_streamoff`: see `vb2CoreStreamoff`. */
export function vb2Streamoff(q: Vb2Queue, type: number): void {
  vb2CoreStreamoff(q, type);
}

/** The buffer types vb2's V4L2 layer handles. */
export function vb2V4l2TypeSupported(type: number): boolean {
  return (
    type === V4L2_BUF_TYPE_VIDEO_CAPTURE ||
    type === V4L2_BUF_TYPE_VIDEO_OUTPUT ||
    type === V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE ||
    type === V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
  );
}
