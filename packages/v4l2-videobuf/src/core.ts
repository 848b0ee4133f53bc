/**
 * The videobuf2 core (drivers/media/common/videobuf2/videobuf2-core.c): queues of buffers,
 * the buffer state machine, memory allocation through a `Vb2MemOps` back end, streaming, the
 * done list and the blocking wait for it, mmap by offset cookie, export as dma-buf, poll.
 *
 * The core knows nothing of V4L2's uapi structs: it reaches them through `Vb2BufOps`, which
 * videobuf2-v4l2 (`./v4l2.ts`) supplies. Blocking DQBUF is a promise settled on virtual time:
 * `vb2BufferDone` (a driver's DMA completion), STREAMOFF, `vb2QueueError` and queue release wake
 * it.
 *
 * @module
 */
import { type DmaBuf, dmaBufGet, dmaBufPut } from "@umm/dma-buf";
import { type Device, hex, type Kernel, KernelError, PAGE_SIZE, WaitQueue } from "@umm/kernel-core";
import type { MmapContext, PollTable } from "@umm/kernel-process";
import { O_ACCMODE, O_CLOEXEC, POLLERR, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM } from "@umm/kernel-process";
import { PROT_READ, PROT_WRITE } from "@umm/mm-core";
import type { Vb2MemOps, Vb2MemPriv, Vb2Ops, Vb2QueueSetup } from "./ops.js";
import { type Vb2State, vb2State, vb2Warn } from "./state.js";
import {
  BUFFER_INDEX_MASK,
  MAX_BUFFER_INDEX,
  PLANE_INDEX_MASK,
  PLANE_INDEX_SHIFT,
  VB2_DMABUF,
  VB2_MAX_FRAME,
  VB2_MAX_PLANES,
  VB2_MEMORY_DMABUF,
  VB2_MEMORY_MMAP,
  VB2_MEMORY_UNKNOWN,
  VB2_MEMORY_USERPTR,
  VB2_MMAP,
  VB2_USERPTR,
  Vb2BufferState,
  type Vb2BufferStateValue,
  vb2MmapOffset,
  vb2StateName,
} from "./types.js";
import {
  V4L2_MEMORY_FLAG_NON_COHERENT,
  V4L2_TYPE_IS_MULTIPLANAR,
  V4L2_TYPE_IS_OUTPUT,
  V4L2_TYPE_IS_VALID,
} from "./uapi.js";

const { DEQUEUED, IN_REQUEST, PREPARING, QUEUED, ACTIVE, DONE, ERROR } = Vb2BufferState;

// DMA directions (include/linux/dma-direction.h), kept local so the core needs no DMA layer.
const DMA_BIDIRECTIONAL = 0;
const DMA_TO_DEVICE = 1;
const DMA_FROM_DEVICE = 2;

/** `struct vb2_plane`: one memory plane of a buffer. */
export interface Vb2Plane {
  /** the memory back end's data, or null when the plane has no memory */
  memPriv: Vb2MemPriv | null;
  /** DMABUF: the imported dma-buf (a reference held) */
  dbuf: DmaBuf | null;
  /** DMABUF: `mapDmabuf` succeeded */
  dbufMapped: boolean;
  /** DMABUF: the plane shares the attachment of a lower plane with the same dma-buf */
  dbufDuplicated: boolean;
  /** bytes of data in the plane */
  bytesused: number;
  /** size of the plane's memory in bytes */
  length: number;
  /** the size `queueSetup` asked for (USERPTR/DMABUF memory must be at least this) */
  minLength: number;
  /** MMAP: offset cookie; USERPTR: user address; DMABUF: fd */
  m: { offset: number; userptr: number; fd: number };
  /** offset of the data from the start of the plane */
  dataOffset: number;
}

function newPlane(): Vb2Plane {
  return {
    memPriv: null,
    dbuf: null,
    dbufMapped: false,
    dbufDuplicated: false,
    bytesused: 0,
    length: 0,
    minLength: 0,
    m: { offset: 0, userptr: 0, fd: 0 },
    dataOffset: 0,
  };
}

/** Copies the user-visible fields of a plane (`bytesused`, `length`, `m`, `dataOffset`). */
function copyPlaneInfo(dst: Vb2Plane, src: Vb2Plane): void {
  dst.bytesused = src.bytesused;
  dst.length = src.length;
  dst.m = { ...src.m };
  dst.dataOffset = src.dataOffset;
}

/**
 * `struct vb2_buffer` with `struct vb2_v4l2_buffer`: one buffer of a queue. Drivers read it and
 * set `timestamp`, `sequence`, `field`, the LAST flag and plane payloads before
 * `vb2BufferDone`; `drvPriv` is theirs.
 */
export class Vb2Buffer {
  /** the queue (`vb2_queue`) */
  readonly queue: Vb2Queue;
  /** index in the queue (the REQBUFS/CREATE_BUFS slot) */
  readonly index: number;
  /** buffer type (V4L2_BUF_TYPE_*) */
  readonly type: number;
  /** memory type (VB2_MEMORY_*) */
  readonly memory: number;
  /** memory planes (1..8) */
  readonly numPlanes: number;
  /** the planes */
  readonly planes: Vb2Plane[];
  /** timestamp in ns (the driver sets it for capture; copied from user space for COPY queues) */
  timestamp = 0;
  /** the state (see `Vb2BufferState`) */
  state: Vb2BufferStateValue = DEQUEUED;
  /** the cache was synced for the device (`mem_ops->prepare` ran) and not yet back */
  synced = false;
  /** `buf_prepare` succeeded and the buffer was not dequeued since */
  prepared = false;
  /** the timestamp was copied from an output buffer (m2m) */
  copiedTimestamp = false;
  /** skip the cache maintenance at prepare (DMABUF, or the NO_CACHE_CLEAN hint) */
  skipCacheSyncOnPrepare = false;
  /** skip the cache maintenance at finish (DMABUF, TO_DEVICE queues, or NO_CACHE_INVALIDATE) */
  skipCacheSyncOnFinish = false;
  /** V4L2 buffer flags the driver and user space carry (LAST, KEYFRAME, TIMECODE, ...) */
  flags = 0;
  /** V4L2 field */
  field = 0;
  /** V4L2 timecode */
  timecode = { type: 0, flags: 0, frames: 0, seconds: 0, minutes: 0, hours: 0 };
  /** frame sequence number (the driver sets it) */
  sequence = 0;
  /** request fd, -1 without a request */
  requestFd = -1;
  /** m2m: a held capture buffer */
  isHeld = false;
  /** the plane information user space gave at the last QBUF / PREPARE_BUF (`vbuf->planes`) */
  readonly userPlanes: Vb2Plane[];
  /** the driver's per-buffer data */
  drvPriv: unknown = null;

  /** @internal made by the core when buffers are allocated */
  constructor(q: Vb2Queue, index: number, memory: number, numPlanes: number, sizes: readonly number[]) {
    this.queue = q;
    this.index = index;
    this.type = q.type;
    this.memory = memory;
    this.numPlanes = numPlanes;
    this.planes = Array.from({ length: numPlanes }, (_, i) => {
      const p = newPlane();
      p.length = sizes[i]!;
      p.minLength = sizes[i]!;
      return p;
    });
    this.userPlanes = Array.from({ length: numPlanes }, newPlane);
  }

  /** "queue:index" for messages. */
  toString(): string {
    return `${this.queue.name}:${this.index}`;
  }
}

/**
 * `struct vb2_buf_ops`: how the core reaches the uapi buffer struct of its subsystem (V4L2).
 * Supplied by `vb2QueueInit`; not for drivers.
 */
export interface Vb2BufOps {
  /** checks that `pb` can describe `vb` (planes array); throws EINVAL */
  readonly verifyPlanesArray: (vb: Vb2Buffer, pb: unknown) => void;
  /** resets per-dequeue fields (`init_buffer`) */
  readonly initBuffer: (vb: Vb2Buffer) => void;
  /** writes the buffer's state into `pb` (`fill_user_buffer`) */
  readonly fillUserBuffer: (vb: Vb2Buffer, pb: unknown) => void;
  /** copies the staged user plane information into `planes` (`fill_vb2_buffer`) */
  readonly fillVb2Buffer: (vb: Vb2Buffer, planes: Vb2Plane[]) => void;
  /** output queues: takes the timestamp (and timecode) from `pb` (`copy_timestamp`) */
  readonly copyTimestamp: (vb: Vb2Buffer, pb: unknown) => void;
}

/** Options of `vb2QueueInit`: the fields a driver sets in `struct vb2_queue` before init. */
export interface Vb2QueueOpts {
  /** buffer type (V4L2_BUF_TYPE_VIDEO_CAPTURE, ..._OUTPUT, ..._MPLANE) */
  readonly type: number;
  /** VB2_MMAP | VB2_USERPTR | VB2_DMABUF */
  readonly ioModes: number;
  /** the driver's ops */
  readonly ops: Vb2Ops;
  /** the memory back end */
  readonly memOps: Vb2MemOps;
  /** the device buffers are allocated for and mapped to (null for vmalloc) */
  readonly dev?: Device | null;
  /** the driver's queue data */
  readonly drvPriv?: unknown;
  /** shown in traces and messages (default "cap-N" / "out-N") */
  readonly name?: string;
  /** buffers that must be queued before `startStreaming` runs (`min_queued_buffers`) */
  readonly minQueuedBuffers?: number;
  /** the least REQBUFS allocates (raised to `minQueuedBuffers + 1`) */
  readonly minReqbufsAllocation?: number;
  /** the most buffers (default and minimum 32, at most 32768) */
  readonly maxNumBuffers?: number;
  /** V4L2_BUF_FLAG_TIMESTAMP_* | V4L2_BUF_FLAG_TSTAMP_SRC_* */
  readonly timestampFlags?: number;
  /** honour V4L2_MEMORY_FLAG_NON_COHERENT and the per-buffer cache hints (MMAP only) */
  readonly allowCacheHints?: boolean;
  /** output: a bytesused of 0 stays 0 instead of meaning "the whole plane" */
  readonly allowZeroBytesused?: boolean;
  /** DMA in both directions (DMA_BIDIRECTIONAL) whatever the type */
  readonly bidirectional?: boolean;
  /** DMA_ATTR_* for dma-contig allocations */
  readonly dmaAttrs?: number;
  /** extra GFP flags for allocations */
  readonly gfpFlags?: number;
  /**
   * REQBUFS(0) or a reallocation with MMAP buffers still mapped or exported orphans them (true,
   * the default, as since Linux 5.0); false gives the old EBUSY
   */
  readonly supportsOrphanedBufs?: boolean;
  /** m2m: V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF is supported (VB2_V4L2_FL_SUPPORTS_M2M_HOLD_CAPTURE_BUF) */
  readonly supportsM2mHoldCaptureBuf?: boolean;
}

let anonQueues = 0;

/** `struct vb2_queue`. Created by `vb2QueueInit`; the fields are the kernel's. */
export class Vb2Queue {
  /** the kernel */
  readonly kernel: Kernel;
  /** buffer type */
  readonly type: number;
  /** io modes (VB2_MMAP | VB2_USERPTR | VB2_DMABUF) */
  readonly ioModes: number;
  /** the driver's ops */
  readonly ops: Vb2Ops;
  /** the memory back end */
  readonly memOps: Vb2MemOps;
  /** default allocation device */
  readonly dev: Device | null;
  /** the driver's queue data */
  readonly drvPriv: unknown;
  /** name */
  readonly name: string;
  /** `min_queued_buffers` */
  readonly minQueuedBuffers: number;
  /** `min_reqbufs_allocation` */
  readonly minReqbufsAllocation: number;
  /** `max_num_buffers` */
  readonly maxNumBuffers: number;
  /** `timestamp_flags` */
  readonly timestampFlags: number;
  /** `allow_cache_hints` */
  readonly allowCacheHints: boolean;
  /** `allow_zero_bytesused` */
  readonly allowZeroBytesused: boolean;
  /** `dma_attrs` */
  readonly dmaAttrs: number;
  /** `gfp_flags` */
  readonly gfpFlags: number;
  /** `dma_dir`: DMA_FROM_DEVICE (capture), DMA_TO_DEVICE (output) or DMA_BIDIRECTIONAL */
  readonly dmaDir: number;
  /** multi-planar type */
  readonly isMultiplanar: boolean;
  /** output type */
  readonly isOutput: boolean;
  /** timestamps are copied from output buffers (V4L2_BUF_FLAG_TIMESTAMP_COPY) */
  readonly copyTimestamp: boolean;
  /** see `Vb2QueueOpts.supportsOrphanedBufs` */
  readonly supportsOrphanedBufs: boolean;
  /** see `Vb2QueueOpts.supportsM2mHoldCaptureBuf` */
  readonly supportsM2mHoldCaptureBuf: boolean;
  /** @internal the subsystem's buffer ops */
  readonly bufOps: Vb2BufOps;
  /** @internal */
  readonly st: Vb2State;

  /** memory type of the allocated buffers (VB2_MEMORY_UNKNOWN when none) */
  memory = VB2_MEMORY_UNKNOWN;
  /** `alloc_devs` as the last `queueSetup` left them */
  readonly allocDevs: (Device | null)[] = Array.from({ length: VB2_MAX_PLANES }, () => null);
  /** the buffers by index (holes after REMOVE_BUFS) */
  readonly bufs: (Vb2Buffer | null)[];
  /** buffers queued by user space, in QBUF order, until DQBUF */
  readonly queuedList: Vb2Buffer[] = [];
  /** buffers the driver finished, waiting for DQBUF */
  readonly doneList: Vb2Buffer[] = [];
  /** woken by `vb2BufferDone`, STREAMOFF, errors and release (`done_wq`) */
  readonly doneWq: WaitQueue;
  /** `queued_count` */
  queuedCount = 0;
  /** `owned_by_drv_count`: buffers in state ACTIVE */
  ownedByDrvCount = 0;
  /** STREAMON succeeded */
  streaming = false;
  /** `start_streaming` ran */
  startStreamingCalled = false;
  /** `vb2QueueError` was called (until STREAMOFF) */
  error = false;
  /** capture: no QBUF since REQBUFS/STREAMOFF (poll reports POLLERR) */
  waitingForBuffers = false;
  /** a DQBUF sleeps on this queue */
  waitingInDqbuf = false;
  /** a capture buffer with V4L2_BUF_FLAG_LAST was dequeued (DQBUF fails EPIPE) */
  lastBufferDequeued = false;
  /** the buffers use non-coherent (cacheable) memory */
  nonCoherentMem = false;
  /** the file handle that owns the queue (REQBUFS/CREATE_BUFS), or null */
  owner: unknown = null;
  /** buffers were allocated (`is_busy`) */
  isBusy = false;
  /** QBUF was used (not requests) */
  usesQbuf = false;
  /** `vb2QueueRelease` ran: the queue is gone */
  released = false;

  /** @internal use `vb2QueueInit` */
  constructor(kernel: Kernel, opts: Vb2QueueOpts, bufOps: Vb2BufOps) {
    this.kernel = kernel;
    this.st = vb2State(kernel);
    this.type = opts.type;
    this.ioModes = opts.ioModes;
    this.ops = opts.ops;
    this.memOps = opts.memOps;
    this.dev = opts.dev ?? null;
    this.drvPriv = opts.drvPriv;
    this.isMultiplanar = V4L2_TYPE_IS_MULTIPLANAR(opts.type);
    this.isOutput = V4L2_TYPE_IS_OUTPUT(opts.type);
    this.name = opts.name ?? `${this.isOutput ? "out" : "cap"}-${anonQueues++}`;
    this.minQueuedBuffers = opts.minQueuedBuffers ?? 0;
    this.maxNumBuffers = Math.min(opts.maxNumBuffers || VB2_MAX_FRAME, MAX_BUFFER_INDEX);
    this.minReqbufsAllocation = Math.max(opts.minReqbufsAllocation ?? 0, this.minQueuedBuffers + 1);
    this.timestampFlags = opts.timestampFlags ?? 0;
    this.allowCacheHints = opts.allowCacheHints ?? false;
    this.allowZeroBytesused = opts.allowZeroBytesused ?? false;
    this.dmaAttrs = opts.dmaAttrs ?? 0;
    this.gfpFlags = opts.gfpFlags ?? 0;
    this.dmaDir = opts.bidirectional ? DMA_BIDIRECTIONAL : this.isOutput ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
    this.copyTimestamp = (this.timestampFlags & 0xe000) === 0x4000;
    this.supportsOrphanedBufs = opts.supportsOrphanedBufs ?? true;
    this.supportsM2mHoldCaptureBuf = opts.supportsM2mHoldCaptureBuf ?? false;
    this.bufOps = bufOps;
    this.bufs = new Array<Vb2Buffer | null>(this.maxNumBuffers).fill(null);
    this.doneWq = new WaitQueue(kernel.clock);
  }

  /** Number of buffers allocated (`vb2_get_num_buffers`). */
  get numBuffers(): number {
    let n = 0;
    for (const b of this.bufs) if (b) n++;
    return n;
  }
}

// ---- small accessors ------------------------------------------------------------------------

/** `vb2_get_buffer`: the buffer at `index`, or null (no such slot, or a hole). */
export function vb2GetBuffer(q: Vb2Queue, index: number): Vb2Buffer | null {
  if (!Number.isInteger(index) || index < 0 || index >= q.maxNumBuffers) return null;
  return q.bufs[index] ?? null;
}

/** `vb2_get_num_buffers`. */
export function vb2GetNumBuffers(q: Vb2Queue): number {
  return q.numBuffers;
}

/** `vb2_is_streaming`: STREAMON succeeded and no STREAMOFF since. */
export function vb2IsStreaming(q: Vb2Queue): boolean {
  return q.streaming;
}

/** `vb2_start_streaming_called`. */
export function vb2StartStreamingCalled(q: Vb2Queue): boolean {
  return q.startStreamingCalled;
}

/** `vb2_is_busy`: buffers are allocated (S_FMT must fail with EBUSY). */
export function vb2IsBusy(q: Vb2Queue): boolean {
  return q.numBuffers > 0;
}

/** `vb2_plane_size`: the plane's length in bytes (0 for a plane the buffer does not have). */
export function vb2PlaneSize(vb: Vb2Buffer, plane: number): number {
  return plane < vb.numPlanes ? vb.planes[plane]!.length : 0;
}

/** `vb2_set_plane_payload`: sets `bytesused` of a plane (ignored for a plane the buffer lacks). */
export function vb2SetPlanePayload(vb: Vb2Buffer, plane: number, size: number): void {
  if (plane < vb.numPlanes) vb.planes[plane]!.bytesused = size;
}

/** `vb2_get_plane_payload`. */
export function vb2GetPlanePayload(vb: Vb2Buffer, plane: number): number {
  return plane < vb.numPlanes ? vb.planes[plane]!.bytesused : 0;
}

/** `vb2_plane_vaddr`: the plane's kernel virtual address, or null (no plane, memory or mapping). */
export function vb2PlaneVaddr(vb: Vb2Buffer, plane: number): number | null {
  const p = vb.planes[plane];
  if (plane >= vb.numPlanes || !p?.memPriv) return null;
  return vb.queue.memOps.vaddr?.(vb, p.memPriv) ?? null;
}

/** `vb2_plane_cookie`: the memory back end's handle of the plane, or null. */
export function vb2PlaneCookie(vb: Vb2Buffer, plane: number): unknown {
  const p = vb.planes[plane];
  if (plane >= vb.numPlanes || !p?.memPriv) return null;
  return vb.queue.memOps.cookie?.(vb, p.memPriv) ?? null;
}

/** `vb2_buffer_in_use`: some plane has another user than the allocation (mapped, exported). */
export function vb2BufferInUse(q: Vb2Queue, vb: Vb2Buffer): boolean {
  for (const p of vb.planes) {
    if (p.memPriv && (q.memOps.numUsers?.(p.memPriv) ?? 0) > 1) return true;
  }
  return false;
}

function buffersInUse(q: Vb2Queue): boolean {
  for (const vb of q.bufs) if (vb && vb2BufferInUse(q, vb)) return true;
  return false;
}

/** `vb2_queue_allows_cache_hints`: hints apply to MMAP queues that allow them. */
export function vb2QueueAllowsCacheHints(q: Vb2Queue): boolean {
  return q.allowCacheHints && q.memory === VB2_MEMORY_MMAP;
}

// ---- tracing --------------------------------------------------------------------------------

type Tp = Vb2State["tp"]["qbuf" | "dqbuf" | "bufQueue" | "bufDone"];

function trace(tp: Tp, q: Vb2Queue, vb: Vb2Buffer): void {
  if (!tp.enabled) return;
  tp.emit({
    queue: q.name,
    device: q.dev?.name ?? "",
    index: vb.index,
    type: vb.type,
    state: vb2StateName(vb.state),
    bytesused: vb.planes[0]?.bytesused ?? 0,
    timestamp: vb.timestamp,
    queued_count: q.queuedCount,
    owned_by_drv_count: q.ownedByDrvCount,
  });
}

// ---- queue init and release -----------------------------------------------------------------

/**
 * `vb2_core_queue_init`: a queue from the driver's settings, with the subsystem's buffer ops.
 * EINVAL (the kernel's WARN + -EINVAL) for a missing type, io mode, ops, `queueSetup` or
 * `bufQueue`, `maxNumBuffers` below 32, `minQueuedBuffers` or `minReqbufsAllocation` above the
 * maximum, or only one of `waitPrepare` / `waitFinish`. Most callers want `vb2QueueInit`.
 */
export function vb2CoreQueueInit(kernel: Kernel, opts: Vb2QueueOpts, bufOps: Vb2BufOps): Vb2Queue {
  const bad = (why: string): never => {
    throw new KernelError("EINVAL", `vb2_queue_init${opts?.name ? ` (${opts.name})` : ""}: ${why}`);
  };
  if (!opts || typeof opts !== "object") bad("no queue settings");
  if (!opts.ops) bad("ops is missing");
  if (!opts.memOps) bad("memOps is missing");
  if (!V4L2_TYPE_IS_VALID(opts.type)) bad(`type ${String(opts.type)} is not a buffer type`);
  if (!opts.ioModes || (opts.ioModes & ~(VB2_MMAP | VB2_USERPTR | VB2_DMABUF)) !== 0)
    bad(`ioModes ${hex(opts.ioModes ?? 0)} is empty or has unknown bits`);
  if (typeof opts.ops.queueSetup !== "function") bad("ops.queueSetup is missing");
  if (typeof opts.ops.bufQueue !== "function") bad("ops.bufQueue is missing");
  const max = Math.min(opts.maxNumBuffers || VB2_MAX_FRAME, MAX_BUFFER_INDEX);
  if (max < VB2_MAX_FRAME) bad(`maxNumBuffers ${opts.maxNumBuffers} is below ${VB2_MAX_FRAME}`);
  const minQ = opts.minQueuedBuffers ?? 0;
  if (!Number.isInteger(minQ) || minQ < 0 || minQ > max)
    bad(`minQueuedBuffers ${minQ} is not within 0..${max}`);
  const minAlloc = Math.max(opts.minReqbufsAllocation ?? 0, minQ + 1);
  if (minAlloc > max) bad(`minReqbufsAllocation ${minAlloc} exceeds maxNumBuffers ${max}`);
  if (!opts.ops.waitPrepare !== !opts.ops.waitFinish)
    bad("ops.waitPrepare and ops.waitFinish must be both set or both unset");
  const q = new Vb2Queue(kernel, opts, bufOps);
  q.st.queues.add(q);
  return q;
}

/**
 * `vb2_core_queue_release`: cancels streaming, frees every buffer (MMAP memory still mapped or
 * exported lives on until its last user goes) and forgets the owner. The queue can be used
 * again (REQBUFS) unless the caller drops it.
 */
export function vb2CoreQueueRelease(q: Vb2Queue): void {
  queueCancel(q);
  queueFree(q, 0, q.maxNumBuffers);
  q.isBusy = false;
  q.owner = null;
}

// ---- allocation -----------------------------------------------------------------------------

function bufMemAlloc(vb: Vb2Buffer): void {
  const q = vb.queue;
  let plane = 0;
  try {
    for (; plane < vb.numPlanes; plane++) {
      const size = Math.ceil(vb.planes[plane]!.length / PAGE_SIZE) * PAGE_SIZE;
      const dev = q.allocDevs[plane] ?? q.dev;
      vb.planes[plane]!.memPriv = q.memOps.alloc!(vb, dev, size);
    }
  } catch (e) {
    for (; plane > 0; plane--) {
      q.memOps.put?.(vb.planes[plane - 1]!.memPriv!);
      vb.planes[plane - 1]!.memPriv = null;
    }
    throw e;
  }
}

function bufMemFree(vb: Vb2Buffer): void {
  for (const p of vb.planes) {
    if (p.memPriv) vb.queue.memOps.put?.(p.memPriv);
    p.memPriv = null;
  }
}

function bufUserptrPut(vb: Vb2Buffer): void {
  for (const p of vb.planes) {
    if (p.memPriv) vb.queue.memOps.putUserptr?.(p.memPriv);
    p.memPriv = null;
  }
}

function planeDmabufPut(vb: Vb2Buffer, p: Vb2Plane): void {
  if (!p.memPriv) return;
  const m = vb.queue.memOps;
  if (!p.dbufDuplicated) {
    if (p.dbufMapped) m.unmapDmabuf?.(p.memPriv);
    m.detachDmabuf?.(p.memPriv);
  }
  if (p.dbuf) dmaBufPut(p.dbuf);
  p.memPriv = null;
  p.dbuf = null;
  p.dbufMapped = false;
  p.bytesused = 0;
  p.length = 0;
  p.m.fd = 0;
  p.dataOffset = 0;
  p.dbufDuplicated = false;
}

function bufDmabufPut(vb: Vb2Buffer): void {
  for (let plane = vb.numPlanes - 1; plane >= 0; plane--) planeDmabufPut(vb, vb.planes[plane]!);
}

function bufMemPrepare(vb: Vb2Buffer): void {
  if (vb.synced) return;
  vb.synced = true;
  for (const p of vb.planes) if (p.memPriv) vb.queue.memOps.prepare?.(p.memPriv);
}

function bufMemFinish(vb: Vb2Buffer): void {
  if (!vb.synced) return;
  vb.synced = false;
  for (const p of vb.planes) if (p.memPriv) vb.queue.memOps.finish?.(p.memPriv);
}

function setupOffsets(vb: Vb2Buffer): void {
  for (let plane = 0; plane < vb.numPlanes; plane++)
    vb.planes[plane]!.m.offset = vb2MmapOffset(vb.index, plane);
}

/** `init_buffer_cache_hints`: the cache syncs a buffer skips whatever user space says. */
function initBufferCacheHints(q: Vb2Queue, vb: Vb2Buffer): void {
  vb.skipCacheSyncOnPrepare = false;
  vb.skipCacheSyncOnFinish = false;
  if (q.memory === VB2_MEMORY_DMABUF) {
    vb.skipCacheSyncOnFinish = true;
    vb.skipCacheSyncOnPrepare = true;
    return;
  }
  if (q.dmaDir === DMA_TO_DEVICE) vb.skipCacheSyncOnFinish = true;
}

/** @internal the per-QBUF cache hints: the queue's defaults plus what user space asked. */
export function vb2SetCacheHints(vb: Vb2Buffer, noInvalidate: boolean, noClean: boolean): void {
  initBufferCacheHints(vb.queue, vb);
  if (noInvalidate) vb.skipCacheSyncOnFinish = true;
  if (noClean) vb.skipCacheSyncOnPrepare = true;
}

function findZeroArea(q: Vb2Queue, n: number): number {
  let run = 0;
  for (let i = 0; i < q.maxNumBuffers; i++) {
    run = q.bufs[i] ? 0 : run + 1;
    if (run === n) return i - n + 1;
  }
  return -1;
}

/**
 * `__vb2_queue_alloc`: up to `numBuffers` buffers in the first free run of indices; MMAP
 * memory allocated and `bufInit` called for each. Stops at the first failure. Returns how many
 * were made and the first index.
 */
function queueAlloc(
  q: Vb2Queue,
  memory: number,
  numBuffers: number,
  numPlanes: number,
  sizes: readonly number[],
): { allocated: number; firstIndex: number } {
  numBuffers = Math.min(numBuffers, q.maxNumBuffers - q.numBuffers);
  let index = -1;
  while (numBuffers > 0) {
    index = findZeroArea(q, numBuffers);
    if (index >= 0) break;
    numBuffers--;
  }
  if (numBuffers <= 0) return { allocated: 0, firstIndex: 0 };
  const firstIndex = index;
  let made = 0;
  for (; made < numBuffers; made++) {
    const vb = new Vb2Buffer(q, index, memory, numPlanes, sizes);
    initBufferCacheHints(q, vb);
    q.bufs[index] = vb;
    q.bufOps.initBuffer(vb);
    if (memory === VB2_MEMORY_MMAP) {
      try {
        bufMemAlloc(vb);
      } catch (e) {
        q.bufs[index] = null;
        vb2Warn(q.st, q.name, `failed allocating memory for buffer ${made}: ${(e as Error).message}`);
        break;
      }
      setupOffsets(vb);
      try {
        q.ops.bufInit?.(vb);
      } catch (e) {
        vb2Warn(q.st, q.name, `buffer ${made} initialization failed: ${(e as Error).message}`);
        bufMemFree(vb);
        q.bufs[index] = null;
        break;
      }
    }
    index++;
  }
  return { allocated: made, firstIndex };
}

/** `__vb2_queue_free`: `bufCleanup`, memory release and removal of `count` slots from `start`. */
function queueFree(q: Vb2Queue, start: number, count: number): void {
  const end = Math.min(start + count, q.maxNumBuffers);
  for (let i = start; i < end; i++) {
    const vb = q.bufs[i];
    if (vb?.planes[0]?.memPriv) q.ops.bufCleanup?.(vb);
  }
  for (let i = start; i < end; i++) {
    const vb = q.bufs[i];
    if (!vb) continue;
    if (q.memory === VB2_MEMORY_MMAP) bufMemFree(vb);
    else if (q.memory === VB2_MEMORY_DMABUF) bufDmabufPut(vb);
    else bufUserptrPut(vb);
  }
  for (let i = start; i < end; i++) q.bufs[i] = null;
  if (q.numBuffers === 0) {
    q.memory = VB2_MEMORY_UNKNOWN;
    q.queuedList.length = 0;
  }
}

function memoryName(memory: number): string {
  return memory === VB2_MEMORY_MMAP
    ? "MMAP"
    : memory === VB2_MEMORY_USERPTR
      ? "USERPTR"
      : memory === VB2_MEMORY_DMABUF
        ? "DMABUF"
        : String(memory);
}

/**
 * `vb2_verify_memory_type`: EINVAL unless `memory` is MMAP, USERPTR or DMABUF, `type` is the
 * queue's, and the queue's io modes and memory ops support that memory.
 */
export function vb2VerifyMemoryType(q: Vb2Queue, memory: number, type: number): void {
  if (memory !== VB2_MEMORY_MMAP && memory !== VB2_MEMORY_USERPTR && memory !== VB2_MEMORY_DMABUF) {
    throw new KernelError("EINVAL", `${q.name}: memory ${String(memory)} is not MMAP, USERPTR or DMABUF`);
  }
  if (type !== q.type) {
    throw new KernelError("EINVAL", `${q.name}: type ${String(type)} is not the queue's type ${q.type}`);
  }
  const m = q.memOps;
  const ok =
    memory === VB2_MEMORY_MMAP
      ? (q.ioModes & VB2_MMAP) !== 0 && !!m.alloc && !!m.put && !!m.mmap
      : memory === VB2_MEMORY_USERPTR
        ? (q.ioModes & VB2_USERPTR) !== 0 && !!m.getUserptr && !!m.putUserptr
        : (q.ioModes & VB2_DMABUF) !== 0 &&
          !!m.attachDmabuf &&
          !!m.detachDmabuf &&
          !!m.mapDmabuf &&
          !!m.unmapDmabuf;
  if (!ok) {
    throw new KernelError("EINVAL", `${q.name}: memory ${memoryName(memory)} is not supported by this queue`);
  }
}

function callQueueSetup(q: Vb2Queue, setup: Vb2QueueSetup): void {
  q.ops.queueSetup(q, setup);
  if (!Number.isInteger(setup.numBuffers) || setup.numBuffers < 0) {
    throw new KernelError("EINVAL", `${q.name}: queue_setup returned ${setup.numBuffers} buffers`);
  }
}

/**
 * `vb2_core_reqbufs`: frees the queue's buffers (when `count` is 0, buffers exist, or the
 * memory type or coherency changes) and allocates `count` new ones of `memory`: at least
 * `minReqbufsAllocation`, at most `maxNumBuffers`. Returns how many were allocated (0 after
 * REQBUFS(0)). EBUSY while streaming or while another caller waits in DQBUF; EBUSY with mapped
 * MMAP buffers on a queue without `supportsOrphanedBufs`; EINVAL when `queueSetup` answers no
 * planes or a zero size; ENOMEM when nothing (or fewer than the minimum) could be allocated; the
 * driver's `queueSetup` error. As in the kernel, once the old buffers are freed a later failure
 * leaves the queue empty.
 */
export function vb2CoreReqbufs(q: Vb2Queue, memory: number, flags: number, count: number): number {
  const nonCoherent = (flags & V4L2_MEMORY_FLAG_NON_COHERENT) !== 0;
  if (q.streaming) throw new KernelError("EBUSY", `${q.name}: REQBUFS while streaming`);
  if (q.waitingInDqbuf && count) {
    throw new KernelError("EBUSY", `${q.name}: REQBUFS while another file handle waits in DQBUF`);
  }
  const numBufs = q.numBuffers;
  if (
    count === 0 ||
    numBufs !== 0 ||
    (q.memory !== VB2_MEMORY_UNKNOWN && q.memory !== memory) ||
    nonCoherent !== q.nonCoherentMem
  ) {
    if (q.memory === VB2_MEMORY_MMAP && buffersInUse(q)) {
      if (!q.supportsOrphanedBufs) {
        throw new KernelError("EBUSY", `${q.name}: REQBUFS: memory in use (mapped or exported), cannot free`);
      }
      vb2Warn(q.st, q.name, "memory in use, orphaning buffers");
    }
    queueCancel(q);
    queueFree(q, 0, q.maxNumBuffers);
    q.isBusy = false;
    if (count === 0) return 0;
  }
  let numBuffers = Math.min(Math.max(count, q.minReqbufsAllocation), q.maxNumBuffers);
  q.allocDevs.fill(null);
  q.memory = memory;
  setQueueCoherency(q, nonCoherent);
  const setup: Vb2QueueSetup = {
    numBuffers,
    numPlanes: 0,
    sizes: new Array<number>(VB2_MAX_PLANES).fill(0),
    allocDevs: q.allocDevs,
  };
  try {
    callQueueSetup(q, setup);
    if (!setup.numPlanes || setup.numPlanes > VB2_MAX_PLANES) {
      vb2Warn(q.st, q.name, `queue_setup returned ${setup.numPlanes} planes`);
      throw new KernelError("EINVAL", `${q.name}: queue_setup returned ${setup.numPlanes} planes`);
    }
    for (let i = 0; i < setup.numPlanes; i++) {
      if (!(setup.sizes[i]! > 0)) {
        vb2Warn(q.st, q.name, `queue_setup returned size 0 for plane ${i}`);
        throw new KernelError(
          "EINVAL",
          `${q.name}: queue_setup returned size ${setup.sizes[i]} for plane ${i}`,
        );
      }
    }
  } catch (e) {
    q.memory = VB2_MEMORY_UNKNOWN;
    throw e;
  }
  numBuffers = setup.numBuffers;
  const { allocated, firstIndex } = queueAlloc(q, memory, numBuffers, setup.numPlanes, setup.sizes);
  if (allocated === 0) {
    q.memory = VB2_MEMORY_UNKNOWN;
    throw new KernelError("ENOMEM", `${q.name}: REQBUFS: could not allocate any of ${numBuffers} buffers`);
  }
  let err: unknown = null;
  if (allocated < q.minReqbufsAllocation) {
    err = new KernelError(
      "ENOMEM",
      `${q.name}: REQBUFS: ${allocated} buffers allocated, fewer than the minimum ${q.minReqbufsAllocation}`,
    );
  }
  if (!err && allocated < numBuffers) {
    setup.numBuffers = allocated;
    setup.numPlanes = 0;
    try {
      callQueueSetup(q, setup);
      if (allocated < setup.numBuffers) {
        err = new KernelError(
          "ENOMEM",
          `${q.name}: REQBUFS: the driver needs ${setup.numBuffers} buffers, ${allocated} allocated`,
        );
      }
    } catch (e) {
      err = e;
    }
  }
  if (err) {
    queueFree(q, firstIndex, allocated);
    throw err;
  }
  q.waitingForBuffers = !q.isOutput;
  q.isBusy = true;
  return allocated;
}

function setQueueCoherency(q: Vb2Queue, nonCoherent: boolean): void {
  q.nonCoherentMem = false;
  if (!vb2QueueAllowsCacheHints(q)) return;
  q.nonCoherentMem = nonCoherent;
}

/**
 * `vb2_core_create_bufs`: adds up to `count` buffers of `memory` with the planes and sizes user
 * space asked for (checked by `queueSetup`), in the first free run of indices. Returns the
 * number made and the first index. ENOBUFS when the queue already has `maxNumBuffers`; EBUSY
 * (no buffers yet) while another caller waits in DQBUF; EINVAL when memory or coherency differ
 * from the existing buffers; ENOMEM when nothing could be allocated or the driver refuses the
 * smaller number; the driver's `queueSetup` error.
 */
export function vb2CoreCreateBufs(
  q: Vb2Queue,
  memory: number,
  flags: number,
  count: number,
  requestedPlanes: number,
  requestedSizes: readonly number[],
): { count: number; firstIndex: number } {
  const nonCoherent = (flags & V4L2_MEMORY_FLAG_NON_COHERENT) !== 0;
  const numBufs = q.numBuffers;
  const noPrevious = numBufs === 0;
  if (numBufs === q.maxNumBuffers) {
    throw new KernelError("ENOBUFS", `${q.name}: CREATE_BUFS: all ${q.maxNumBuffers} buffers are allocated`);
  }
  if (noPrevious) {
    if (q.waitingInDqbuf && count) {
      throw new KernelError("EBUSY", `${q.name}: CREATE_BUFS while another file handle waits in DQBUF`);
    }
  } else {
    if (q.memory !== memory) {
      throw new KernelError(
        "EINVAL",
        `${q.name}: CREATE_BUFS: memory ${memoryName(memory)} differs from the queue's ${memoryName(q.memory)}`,
      );
    }
    if (nonCoherent !== q.nonCoherentMem) {
      throw new KernelError(
        "EINVAL",
        `${q.name}: CREATE_BUFS: memory coherency differs from the queue's buffers`,
      );
    }
  }
  const prev = { memory: q.memory, nonCoherent: q.nonCoherentMem, waiting: q.waitingForBuffers };
  const prevDevs = [...q.allocDevs];
  if (noPrevious) {
    q.allocDevs.fill(null);
    q.memory = memory;
    q.waitingForBuffers = !q.isOutput;
    setQueueCoherency(q, nonCoherent);
  }
  const restore = (): void => {
    if (!noPrevious) return;
    q.memory = prev.memory;
    q.nonCoherentMem = prev.nonCoherent;
    q.waitingForBuffers = prev.waiting;
    for (let i = 0; i < VB2_MAX_PLANES; i++) q.allocDevs[i] = prevDevs[i]!;
  };
  const numBuffers = Math.min(count, q.maxNumBuffers - numBufs);
  const setup: Vb2QueueSetup = {
    numBuffers,
    numPlanes: requestedPlanes,
    sizes: Array.from({ length: VB2_MAX_PLANES }, (_, i) => requestedSizes[i] ?? 0),
    allocDevs: q.allocDevs,
  };
  try {
    callQueueSetup(q, setup);
    if (!setup.numPlanes || setup.numPlanes > VB2_MAX_PLANES) {
      throw new KernelError("EINVAL", `${q.name}: queue_setup returned ${setup.numPlanes} planes`);
    }
  } catch (e) {
    restore();
    throw e;
  }
  const wanted = setup.numBuffers;
  const { allocated, firstIndex } = queueAlloc(q, memory, wanted, setup.numPlanes, setup.sizes);
  if (allocated === 0) {
    restore();
    throw new KernelError("ENOMEM", `${q.name}: CREATE_BUFS: could not allocate any of ${wanted} buffers`);
  }
  if (allocated < wanted) {
    setup.numBuffers = allocated;
    let fail = false;
    try {
      callQueueSetup(q, setup);
      fail = allocated < setup.numBuffers;
    } catch {
      fail = true;
    }
    if (fail) {
      queueFree(q, firstIndex, allocated);
      restore();
      throw new KernelError(
        "ENOMEM",
        `${q.name}: CREATE_BUFS: ${allocated} of ${wanted} buffers allocated, the driver refused`,
      );
    }
  }
  q.isBusy = true;
  return { count: allocated, firstIndex };
}

// ---- prepare --------------------------------------------------------------------------------

function prepareMmap(vb: Vb2Buffer): void {
  vb.queue.bufOps.fillVb2Buffer(vb, vb.planes);
  vb.queue.ops.bufPrepare?.(vb);
}

function prepareUserptr(vb: Vb2Buffer): void {
  const q = vb.queue;
  const planes = Array.from({ length: vb.numPlanes }, newPlane);
  q.bufOps.fillVb2Buffer(vb, planes);
  const changed: number[] = [];
  for (let plane = 0; plane < vb.numPlanes; plane++) {
    const cur = vb.planes[plane]!;
    const want = planes[plane]!;
    if (cur.memPriv && cur.m.userptr && cur.m.userptr === want.m.userptr && cur.length === want.length)
      continue;
    if (want.length < cur.minLength) {
      throw new KernelError(
        "EINVAL",
        `${vb}: USERPTR plane ${plane}: length ${want.length} is less than the setup size ${cur.minLength}`,
      );
    }
    changed.push(plane);
  }
  let reacquired = vb.planes[0]!.memPriv === null;
  if (changed.length > 0) {
    // acquire the new memory first, so that a failure leaves the old planes as they were
    const got: Vb2MemPriv[] = [];
    try {
      for (const plane of changed) {
        const dev = q.allocDevs[plane] ?? q.dev;
        got.push(q.memOps.getUserptr!(vb, dev, planes[plane]!.m.userptr, planes[plane]!.length));
      }
    } catch (e) {
      for (const p of got) q.memOps.putUserptr!(p);
      throw e;
    }
    const hadMemory = vb.planes.some((p) => p.memPriv !== null);
    if (hadMemory && !reacquired) {
      reacquired = true;
      vb.copiedTimestamp = false;
      q.ops.bufCleanup?.(vb);
    }
    changed.forEach((plane, k) => {
      const p = vb.planes[plane]!;
      if (p.memPriv) q.memOps.putUserptr!(p.memPriv);
      p.memPriv = got[k]!;
    });
    reacquired = true;
  }
  for (let plane = 0; plane < vb.numPlanes; plane++) {
    const p = vb.planes[plane]!;
    const w = planes[plane]!;
    p.bytesused = w.bytesused;
    p.length = w.length;
    p.m.userptr = w.m.userptr;
    p.dataOffset = w.dataOffset;
  }
  initAndPrepare(vb, reacquired, () => {
    for (const p of vb.planes) {
      if (p.memPriv) q.memOps.putUserptr!(p.memPriv);
      p.memPriv = null;
      p.m.userptr = 0;
      p.length = 0;
    }
  });
}

function prepareDmabuf(vb: Vb2Buffer): void {
  const q = vb.queue;
  const planes = Array.from({ length: vb.numPlanes }, newPlane);
  q.bufOps.fillVb2Buffer(vb, planes);
  const got: (DmaBuf | null)[] = [];
  const putGot = (): void => {
    for (const d of got) if (d) dmaBufPut(d);
  };
  let reacquired = vb.planes[0]!.memPriv === null;
  for (let plane = 0; plane < vb.numPlanes; plane++) {
    let dbuf: DmaBuf;
    try {
      dbuf = dmaBufGet(q.kernel, planes[plane]!.m.fd);
    } catch (e) {
      putGot();
      throw new KernelError("EINVAL", `${vb}: invalid dmabuf fd ${planes[plane]!.m.fd} for plane ${plane}`, {
        cause: e,
      });
    }
    got.push(dbuf);
    const want = planes[plane]!;
    if (want.length === 0) want.length = dbuf.size;
    if (want.length < vb.planes[plane]!.minLength) {
      putGot();
      throw new KernelError(
        "EINVAL",
        `${vb}: DMABUF plane ${plane}: length ${want.length} is less than the setup size ${vb.planes[plane]!.minLength}`,
      );
    }
    if (dbuf === vb.planes[plane]!.dbuf && vb.planes[plane]!.length === want.length) continue;
    reacquired = true;
  }
  if (!reacquired) {
    putGot();
  } else {
    // attach and map the new dma-bufs before letting the old ones go
    const fresh: Vb2Plane[] = Array.from({ length: vb.numPlanes }, newPlane);
    const undo = (): void => {
      for (let plane = vb.numPlanes - 1; plane >= 0; plane--) {
        const p = fresh[plane]!;
        if (p.memPriv && !p.dbufDuplicated) {
          if (p.dbufMapped) q.memOps.unmapDmabuf!(p.memPriv);
          q.memOps.detachDmabuf!(p.memPriv);
        }
      }
      putGot();
    };
    try {
      for (let plane = 0; plane < vb.numPlanes; plane++) {
        const p = fresh[plane]!;
        const dbuf = got[plane]!;
        const dev = q.allocDevs[plane] ?? q.dev;
        for (let i = 0; i < plane; i++) {
          if (fresh[i]!.dbuf === dbuf && (q.allocDevs[plane] ?? null) === (q.allocDevs[i] ?? null)) {
            p.dbufDuplicated = true;
            p.dbuf = dbuf;
            p.memPriv = fresh[i]!.memPriv;
            break;
          }
        }
        if (p.dbufDuplicated) continue;
        p.memPriv = q.memOps.attachDmabuf!(vb, dev, dbuf, planes[plane]!.length);
        p.dbuf = dbuf;
        q.memOps.mapDmabuf!(p.memPriv);
        p.dbufMapped = true;
      }
    } catch (e) {
      undo();
      throw e;
    }
    if (vb.planes[0]!.memPriv) {
      vb.copiedTimestamp = false;
      q.ops.bufCleanup?.(vb);
      bufDmabufPut(vb);
    }
    for (let plane = 0; plane < vb.numPlanes; plane++) {
      const p = vb.planes[plane]!;
      const f = fresh[plane]!;
      p.memPriv = f.memPriv;
      p.dbuf = f.dbuf;
      p.dbufMapped = f.dbufMapped;
      p.dbufDuplicated = f.dbufDuplicated;
    }
  }
  for (let plane = 0; plane < vb.numPlanes; plane++) {
    const p = vb.planes[plane]!;
    const w = planes[plane]!;
    p.bytesused = w.bytesused;
    p.length = w.length;
    p.m.fd = w.m.fd;
    p.dataOffset = w.dataOffset;
  }
  initAndPrepare(vb, reacquired, () => bufDmabufPut(vb));
}

/**
 * The end of `__prepare_userptr` and `__prepare_dmabuf`: `bufInit` when the memory changed, then
 * `bufPrepare` (`bufCleanup` when it fails). When either fails, `release` lets the memory go
 * before the error is rethrown.
 */
function initAndPrepare(vb: Vb2Buffer, reacquired: boolean, release: () => void): void {
  const q = vb.queue;
  try {
    if (reacquired) q.ops.bufInit?.(vb);
    try {
      q.ops.bufPrepare?.(vb);
    } catch (e) {
      q.ops.bufCleanup?.(vb);
      throw e;
    }
  } catch (e) {
    release();
    throw e;
  }
}

/** `__buf_prepare`: EIO on a queue in error; `bufOutValidate`, memory acquisition, `bufPrepare`, cache sync. */
function bufPrepare(vb: Vb2Buffer): void {
  const q = vb.queue;
  if (q.error) throw new KernelError("EIO", `${q.name}: fatal error occurred on queue`);
  if (vb.prepared) return;
  if (q.isOutput) q.ops.bufOutValidate?.(vb);
  const orig = vb.state;
  vb.state = PREPARING;
  try {
    if (q.memory === VB2_MEMORY_MMAP) prepareMmap(vb);
    else if (q.memory === VB2_MEMORY_USERPTR) prepareUserptr(vb);
    else if (q.memory === VB2_MEMORY_DMABUF) prepareDmabuf(vb);
    else throw new KernelError("EINVAL", `${q.name}: invalid queue memory ${q.memory}`);
  } catch (e) {
    vb.state = orig;
    throw e;
  }
  bufMemPrepare(vb);
  vb.prepared = true;
  vb.state = orig;
}

/**
 * `vb2_core_prepare_buf`: prepares a DEQUEUED buffer (memory acquired, `bufPrepare`, cache
 * synced for the device) without queueing it, then fills `pb`. EINVAL when the buffer is not
 * DEQUEUED or already prepared; EIO on a queue in error; what the memory ops or driver throw.
 */
export function vb2CorePrepareBuf(q: Vb2Queue, vb: Vb2Buffer, pb: unknown): void {
  if (vb.state !== DEQUEUED) {
    throw new KernelError("EINVAL", `${vb}: PREPARE_BUF: invalid buffer state ${vb2StateName(vb.state)}`);
  }
  if (vb.prepared) throw new KernelError("EINVAL", `${vb}: PREPARE_BUF: buffer already prepared`);
  bufPrepare(vb);
  q.bufOps.fillUserBuffer(vb, pb);
}

// ---- streaming ------------------------------------------------------------------------------

function enqueueInDriver(vb: Vb2Buffer): void {
  const q = vb.queue;
  vb.state = ACTIVE;
  q.ownedByDrvCount++;
  trace(q.st.tp.bufQueue, q, vb);
  q.ops.bufQueue(vb);
}

function startStreaming(q: Vb2Queue): void {
  for (const vb of [...q.queuedList]) enqueueInDriver(vb);
  q.startStreamingCalled = true;
  try {
    q.ops.startStreaming?.(q, q.ownedByDrvCount);
    return;
  } catch (e) {
    q.startStreamingCalled = false;
    if (q.ownedByDrvCount) {
      vb2Warn(q.st, q.name, "driver bug: start_streaming failed without returning its buffers as QUEUED");
      for (const vb of q.bufs) if (vb && vb.state === ACTIVE) vb2BufferDone(vb, QUEUED);
    }
    if (q.doneList.length) {
      vb2Warn(q.st, q.name, "driver bug: start_streaming returned buffers as DONE/ERROR instead of QUEUED");
    }
    throw e;
  }
}

/**
 * `vb2_core_qbuf`: queues a DEQUEUED (or IN_REQUEST) buffer, preparing it first unless
 * PREPARE_BUF did; hands it to the driver if `startStreaming` ran, and runs `startStreaming`
 * when STREAMON is pending and enough buffers are queued. Fills `pb`. EIO on a queue in error;
 * EINVAL for a buffer being prepared or already queued; preparation errors; a deferred
 * `startStreaming` error (the buffer goes back to its previous state).
 */
export function vb2CoreQbuf(q: Vb2Queue, vb: Vb2Buffer, pb: unknown): void {
  if (q.error) throw new KernelError("EIO", `${q.name}: fatal error occurred on queue`);
  switch (vb.state) {
    case DEQUEUED:
    case IN_REQUEST:
      if (!vb.prepared) bufPrepare(vb);
      break;
    case PREPARING:
      throw new KernelError("EINVAL", `${vb}: QBUF: buffer still being prepared`);
    default:
      throw new KernelError("EINVAL", `${vb}: QBUF: invalid buffer state ${vb2StateName(vb.state)}`);
  }
  if (vb.state !== IN_REQUEST) q.usesQbuf = true;
  const orig = vb.state;
  q.queuedList.push(vb);
  q.queuedCount++;
  const wasWaiting = q.waitingForBuffers;
  q.waitingForBuffers = false;
  vb.state = QUEUED;
  if (pb) q.bufOps.copyTimestamp(vb, pb);
  trace(q.st.tp.qbuf, q, vb);
  if (q.startStreamingCalled) enqueueInDriver(vb);
  if (pb) q.bufOps.fillUserBuffer(vb, pb);
  if (q.streaming && !q.startStreamingCalled && q.queuedCount >= q.minQueuedBuffers) {
    try {
      startStreaming(q);
    } catch (e) {
      q.queuedList.splice(q.queuedList.indexOf(vb), 1);
      q.queuedCount--;
      vb.state = orig;
      q.waitingForBuffers = wasWaiting;
      throw e;
    }
  }
}

/**
 * `__vb2_wait_for_done_vb`: returns when the done list has a buffer; throws EBUSY (another
 * caller waits), EINVAL (not streaming), EIO (queue error), EPIPE (the LAST buffer was
 * dequeued) or EAGAIN (nonblocking and nothing done). Blocking: a promise that STREAMOFF,
 * `vb2BufferDone` or `vb2QueueError` settles.
 */
function waitForDoneVb(q: Vb2Queue, nonblocking: boolean): undefined | Promise<void> {
  if (q.waitingInDqbuf) {
    throw new KernelError("EBUSY", `${q.name}: DQBUF: another file handle is waiting for a buffer`);
  }
  if (!q.streaming)
    throw new KernelError("EINVAL", `${q.name}: DQBUF: streaming off, will not wait for buffers`);
  if (q.error) throw new KernelError("EIO", `${q.name}: DQBUF: queue in error state`);
  if (q.lastBufferDequeued) {
    throw new KernelError("EPIPE", `${q.name}: DQBUF: the last buffer was dequeued already`);
  }
  if (q.doneList.length > 0) return undefined;
  if (nonblocking) throw new KernelError("EAGAIN", `${q.name}: DQBUF: no buffer done (O_NONBLOCK)`);
  q.waitingInDqbuf = true;
  q.ops.waitPrepare?.(q);
  return q.doneWq
    .wait(() => q.doneList.length > 0 || !q.streaming || q.error)
    .then(() => {
      q.ops.waitFinish?.(q);
      q.waitingInDqbuf = false;
      return waitForDoneVb(q, nonblocking);
    });
}

function dqbufDone(q: Vb2Queue, pb: unknown): Vb2Buffer {
  const vb = q.doneList[0]!;
  if (pb) q.bufOps.verifyPlanesArray(vb, pb);
  q.doneList.shift();
  if (vb.state !== DONE && vb.state !== ERROR) {
    throw new KernelError("EINVAL", `${vb}: DQBUF: invalid buffer state ${vb2StateName(vb.state)}`);
  }
  q.ops.bufFinish?.(vb);
  vb.prepared = false;
  if (pb) q.bufOps.fillUserBuffer(vb, pb);
  const i = q.queuedList.indexOf(vb);
  if (i >= 0) q.queuedList.splice(i, 1);
  q.queuedCount--;
  vb.state = DEQUEUED;
  trace(q.st.tp.dqbuf, q, vb);
  q.bufOps.initBuffer(vb);
  return vb;
}

/**
 * `vb2_core_dqbuf`: takes the first buffer of the done list (DONE or ERROR), runs
 * `bufFinish`, fills `pb` and returns the buffer to DEQUEUED. Without `nonblocking` it waits:
 * the result is then a promise. Errors as `waitForDoneVb`, and EINVAL when `pb`'s planes array
 * cannot hold the buffer (it stays on the done list).
 */
export function vb2CoreDqbuf(q: Vb2Queue, pb: unknown, nonblocking: boolean): Vb2Buffer | Promise<Vb2Buffer> {
  const w = waitForDoneVb(q, nonblocking);
  if (w) return w.then(() => dqbufDone(q, pb));
  return dqbufDone(q, pb);
}

/**
 * `vb2_buffer_done`: the driver gives an ACTIVE buffer back: DONE or ERROR (onto the done list,
 * cache synced for the CPU, waiters woken), or QUEUED (only from a failing `startStreaming`).
 * A buffer that is not ACTIVE is a driver bug: a `vb2_warn` event and nothing else; another
 * state than those three is forced to ERROR with a warning.
 */
export function vb2BufferDone(vb: Vb2Buffer, state: Vb2BufferStateValue): void {
  const q = vb.queue;
  if (vb.state !== ACTIVE) {
    vb2Warn(q.st, q.name, `vb2_buffer_done on buffer ${vb.index} in state ${vb2StateName(vb.state)}`);
    return;
  }
  if (state !== DONE && state !== ERROR && state !== QUEUED) {
    vb2Warn(q.st, q.name, `vb2_buffer_done with state ${vb2StateName(state)}: forced to error`);
    state = ERROR;
  }
  if (state !== QUEUED) bufMemFinish(vb);
  if (state === QUEUED) {
    vb.state = QUEUED;
  } else {
    q.doneList.push(vb);
    vb.state = state;
  }
  q.ownedByDrvCount--;
  trace(q.st.tp.bufDone, q, vb);
  if (state !== QUEUED) q.doneWq.wakeUp();
}

/** `vb2_discard_done`: marks every buffer on the done list ERROR. */
export function vb2DiscardDone(q: Vb2Queue): void {
  for (const vb of q.doneList) vb.state = ERROR;
}

/** `vb2_queue_error`: the hardware failed; QBUF, PREPARE_BUF and DQBUF fail EIO until STREAMOFF. */
export function vb2QueueError(q: Vb2Queue): void {
  q.error = true;
  q.doneWq.wakeUp();
}

/**
 * `__vb2_queue_cancel`: `stopStreaming` (if started) and `unprepareStreaming`; buffers the
 * driver kept are forced to ERROR with a warning; queued and done lists emptied (undequeued
 * buffers are discarded); every buffer finished and back to DEQUEUED; waiters woken.
 */
function queueCancel(q: Vb2Queue): void {
  if (q.startStreamingCalled) q.ops.stopStreaming?.(q);
  if (q.streaming) q.ops.unprepareStreaming?.(q);
  if (q.ownedByDrvCount) {
    for (const vb of q.bufs) {
      if (vb && vb.state === ACTIVE) {
        vb2Warn(
          q.st,
          q.name,
          `driver bug: stop_streaming operation is leaving buffer ${vb.index} in active state`,
        );
        vb2BufferDone(vb, ERROR);
      }
    }
  }
  q.streaming = false;
  q.startStreamingCalled = false;
  q.queuedCount = 0;
  q.error = false;
  q.usesQbuf = false;
  q.queuedList.length = 0;
  q.doneList.length = 0;
  q.ownedByDrvCount = 0;
  q.doneWq.wakeUp();
  for (const vb of q.bufs) {
    if (!vb) continue;
    bufMemFinish(vb);
    if (vb.prepared) {
      q.ops.bufFinish?.(vb);
      vb.prepared = false;
    }
    if (vb.state !== DEQUEUED) {
      vb.state = DEQUEUED;
      q.bufOps.initBuffer(vb);
    }
    vb.copiedTimestamp = false;
  }
}

/**
 * `vb2_core_streamon`: starts streaming. Returns at once when already streaming. EINVAL for a
 * type that is not the queue's, no buffers, or fewer buffers than `minQueuedBuffers`; the
 * driver's `prepareStreaming` / `startStreaming` error (the buffers stay QUEUED). With fewer
 * than `minQueuedBuffers` queued, `startStreaming` waits for the QBUF that reaches the number.
 */
export function vb2CoreStreamon(q: Vb2Queue, type: number): void {
  if (type !== q.type) throw new KernelError("EINVAL", `${q.name}: STREAMON: type ${type} is not ${q.type}`);
  if (q.streaming) return;
  const n = q.numBuffers;
  if (!n) throw new KernelError("EINVAL", `${q.name}: STREAMON: no buffers have been allocated`);
  if (n < q.minQueuedBuffers) {
    throw new KernelError(
      "EINVAL",
      `${q.name}: STREAMON: need at least ${q.minQueuedBuffers} allocated buffers`,
    );
  }
  q.ops.prepareStreaming?.(q);
  if (q.queuedCount >= q.minQueuedBuffers) {
    try {
      startStreaming(q);
    } catch (e) {
      q.ops.unprepareStreaming?.(q);
      throw e;
    }
  }
  q.streaming = true;
}

/**
 * `vb2_core_streamoff`: stops streaming and returns every buffer to DEQUEUED (undequeued done
 * buffers are discarded; a blocked DQBUF wakes and fails EINVAL). Works when not streaming too.
 * EINVAL for a type that is not the queue's.
 */
export function vb2CoreStreamoff(q: Vb2Queue, type: number): void {
  if (type !== q.type) throw new KernelError("EINVAL", `${q.name}: STREAMOFF: type ${type} is not ${q.type}`);
  queueCancel(q);
  q.waitingForBuffers = !q.isOutput;
  q.lastBufferDequeued = false;
}

/**
 * `vb2_core_remove_bufs`: frees `count` buffers from index `start` (their slots become holes
 * CREATE_BUFS reuses). 0 for a count of 0. EINVAL when `count` exceeds the buffers allocated,
 * the range leaves the queue, or a slot in it has no buffer; EBUSY when one is not DEQUEUED.
 */
export function vb2CoreRemoveBufs(q: Vb2Queue, start: number, count: number): void {
  if (count === 0) return;
  if (count > q.numBuffers) {
    throw new KernelError(
      "EINVAL",
      `${q.name}: REMOVE_BUFS: count ${count} exceeds the ${q.numBuffers} buffers`,
    );
  }
  if (start > q.maxNumBuffers - count) {
    throw new KernelError(
      "EINVAL",
      `${q.name}: REMOVE_BUFS: index ${start} + count ${count} is out of range`,
    );
  }
  for (let i = start; i < start + count; i++) {
    const vb = q.bufs[i];
    if (!vb) throw new KernelError("EINVAL", `${q.name}: REMOVE_BUFS: no buffer at index ${i}`);
    if (vb.state !== DEQUEUED) {
      throw new KernelError("EBUSY", `${q.name}: REMOVE_BUFS: buffer ${i} is ${vb2StateName(vb.state)}`);
    }
  }
  queueFree(q, start, count);
}

// ---- mmap, export, poll ---------------------------------------------------------------------

/**
 * The same mapping seen with another `pgoff` (vb2 treats the offset as a cookie and maps from
 * the buffer's start; mem2mem strips its capture-queue bit). The setters act on `ctx`.
 */
export function vb2MmapContextAt(ctx: MmapContext, pgoff: number): MmapContext {
  return {
    file: ctx.file,
    length: ctx.length,
    prot: ctx.prot,
    flags: ctx.flags,
    pgoff,
    shared: ctx.shared,
    setPages: (pfns, opts) => ctx.setPages(pfns, opts),
    setPfnRange: (pfn) => ctx.setPfnRange(pfn),
    setMemtype: (t) => ctx.setMemtype(t),
    setOps: (ops) => ctx.setOps(ops),
    setPrivate: (d) => ctx.setPrivate(d),
    setName: (n) => ctx.setName(n),
  };
}

/** `__find_plane_by_offset`. */
function findPlaneByOffset(q: Vb2Queue, offset: number): { vb: Vb2Buffer; plane: number } {
  if (q.memory !== VB2_MEMORY_MMAP) {
    throw new KernelError("EINVAL", `${q.name}: mmap: queue is not set up for MMAP`);
  }
  const index = Math.floor(offset / (1 << PLANE_INDEX_SHIFT)) & BUFFER_INDEX_MASK;
  const plane = Math.floor(offset / PAGE_SIZE) & PLANE_INDEX_MASK;
  const vb = vb2GetBuffer(q, index);
  if (!vb) throw new KernelError("EINVAL", `${q.name}: mmap: offset ${hex(offset)} names no buffer`);
  if (plane >= vb.numPlanes) {
    throw new KernelError(
      "EINVAL",
      `${q.name}: mmap: offset ${hex(offset)} names plane ${plane} of ${vb.numPlanes}`,
    );
  }
  return { vb, plane };
}

/**
 * `vb2_mmap`: maps the MMAP plane the offset cookie (`ctx.pgoff` pages) names, from its start.
 * EINVAL for a private mapping, a capture queue mapped without PROT_READ or an output queue
 * without PROT_WRITE, a queue not set up for MMAP, a cookie naming no buffer or plane, or a
 * mapping longer than the plane.
 */
export function vb2Mmap(q: Vb2Queue, ctx: MmapContext): void {
  if (!ctx.shared) throw new KernelError("EINVAL", `${q.name}: mmap: MAP_SHARED is needed`);
  if (q.isOutput ? (ctx.prot & PROT_WRITE) === 0 : (ctx.prot & PROT_READ) === 0) {
    throw new KernelError("EINVAL", `${q.name}: mmap: ${q.isOutput ? "PROT_WRITE" : "PROT_READ"} is needed`);
  }
  const { vb, plane } = findPlaneByOffset(q, ctx.pgoff * PAGE_SIZE);
  const length = Math.ceil(vb.planes[plane]!.length / PAGE_SIZE) * PAGE_SIZE;
  if (length < ctx.length) {
    throw new KernelError(
      "EINVAL",
      `${vb}: mmap of ${hex(ctx.length)} bytes would overflow plane ${plane} of ${hex(length)} bytes`,
    );
  }
  q.memOps.mmap!(vb.planes[plane]!.memPriv!, vb2MmapContextAt(ctx, 0));
}

/**
 * `vb2_core_expbuf`: exports `plane` of `vb` as a dma-buf and returns it (the caller installs
 * the fd). EINVAL when the queue is not MMAP, the back end cannot export, `flags` has bits other
 * than O_CLOEXEC and the access mode, the type is not the queue's, the plane does not exist, or
 * the export fails.
 */
export function vb2CoreExpbuf(
  q: Vb2Queue,
  type: number,
  vb: Vb2Buffer,
  plane: number,
  flags: number,
): DmaBuf {
  if (q.memory !== VB2_MEMORY_MMAP)
    throw new KernelError("EINVAL", `${q.name}: EXPBUF: queue is not set up for MMAP`);
  if (!q.memOps.getDmabuf) {
    throw new KernelError("EINVAL", `${q.name}: EXPBUF: the ${q.memOps.name} back end cannot export`);
  }
  if ((flags & ~(O_CLOEXEC | O_ACCMODE)) !== 0) {
    throw new KernelError(
      "EINVAL",
      `${q.name}: EXPBUF: flags ${hex(flags)}: only O_CLOEXEC and the access mode`,
    );
  }
  if (type !== q.type) throw new KernelError("EINVAL", `${q.name}: EXPBUF: type ${type} is not ${q.type}`);
  if (!Number.isInteger(plane) || plane < 0 || plane >= vb.numPlanes) {
    throw new KernelError("EINVAL", `${vb}: EXPBUF: plane ${plane} out of range (${vb.numPlanes} planes)`);
  }
  try {
    return q.memOps.getDmabuf(vb, vb.planes[plane]!.memPriv!, flags & O_ACCMODE);
  } catch (e) {
    throw new KernelError("EINVAL", `${vb}: EXPBUF: failed to export plane ${plane}`, { cause: e });
  }
}

/**
 * `vb2_core_poll`: POLLIN|POLLRDNORM (capture) or POLLOUT|POLLWRNORM (output) when a buffer is
 * done, POLLERR when not streaming, in error, or a capture queue has had no QBUF since
 * REQBUFS/STREAMOFF; POLLIN after the LAST buffer was dequeued. Registers the done wait queue.
 */
export function vb2CorePoll(q: Vb2Queue, pt: PollTable | null): number {
  pt?.wait(q.doneWq);
  if (!q.streaming || q.error) return POLLERR;
  if (q.waitingForBuffers && !q.isOutput) return POLLERR;
  if (q.doneList.length === 0 && q.lastBufferDequeued) return POLLIN | POLLRDNORM;
  const vb = q.doneList[0];
  if (vb && (vb.state === DONE || vb.state === ERROR))
    return q.isOutput ? POLLOUT | POLLWRNORM : POLLIN | POLLRDNORM;
  return 0;
}

/** @internal copies a plane's user-visible fields */
export const vb2CopyPlaneInfo = copyPlaneInfo;
