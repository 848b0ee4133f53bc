/**
 * The mem2mem framework (drivers/media/v4l2-core/v4l2-mem2mem.c): devices that read a source
 * buffer and write a destination buffer (scalers, rotators, codecs). Each open file is a context
 * with its own OUTPUT (source) and CAPTURE (destination) queue; a context is ready for a job
 * when both queues stream and each has a buffer ready (and the driver's `jobReady` agrees).
 * The device runs one job at a time, taking contexts in the order they became ready:
 * `deviceRun` starts it, the driver ends it with `v4l2M2mJobFinish` (usually from its DMA
 * completion), and the next job starts from a work item (a 0 ns timer on the virtual clock).
 *
 * MMAP offsets of the CAPTURE queue carry bit 30 (`DST_QUEUE_OFF_BASE`) so that one mmap()
 * of the file can tell the two queues apart.
 *
 * @module
 */
import { type Kernel, KernelError, PAGE_SIZE, WaitQueue } from "@umm/kernel-core";
import type { File, MmapContext, PollTable } from "@umm/kernel-process";
import { O_NONBLOCK, POLLERR, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM } from "@umm/kernel-process";
import {
  type Vb2Buffer,
  type Vb2Queue,
  vb2BufferDone,
  vb2CoreQueueRelease,
  vb2CoreRemoveBufs,
  vb2Mmap,
  vb2MmapContextAt,
  vb2SetPlanePayload,
} from "./core.js";
import { type Vb2State, vb2State, vb2Warn } from "./state.js";
import { Vb2BufferState, type Vb2BufferStateValue } from "./types.js";
import {
  V4L2_BUF_FLAG_BFRAME,
  V4L2_BUF_FLAG_IN_REQUEST,
  V4L2_BUF_FLAG_KEYFRAME,
  V4L2_BUF_FLAG_LAST,
  V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF,
  V4L2_BUF_FLAG_PFRAME,
  V4L2_BUF_FLAG_REQUEST_FD,
  V4L2_BUF_FLAG_TIMECODE,
  V4L2_BUF_FLAG_TSTAMP_SRC_MASK,
  V4L2_FIELD_NONE,
  V4L2_MEMORY_MMAP,
  V4L2_TYPE_IS_CAPTURE,
  V4L2_TYPE_IS_MULTIPLANAR,
  V4L2_TYPE_IS_OUTPUT,
  type V4l2Buffer,
  type V4l2CreateBuffers,
  type V4l2ExportBuffer,
  type V4l2RemoveBuffers,
  type V4l2RequestBuffers,
} from "./uapi.js";
import {
  vb2CreateBufs,
  vb2Dqbuf,
  vb2PrepareBuf,
  vb2Qbuf,
  vb2Querybuf,
  vb2Reqbufs,
  vb2Streamoff,
  vb2Streamon,
} from "./v4l2.js";

/** `DST_QUEUE_OFF_BASE`: the mmap offset bit of CAPTURE queue buffers. */
export const DST_QUEUE_OFF_BASE = 1 << 30;

/** Context flags: on the job queue. */
const TRANS_QUEUED = 1 << 0;
/** Context flags: its job runs. */
const TRANS_RUNNING = 1 << 1;
/** Context flags: being cancelled (STREAMOFF / release). */
const TRANS_ABORT = 1 << 2;

/** `struct v4l2_m2m_ops`: what a mem2mem driver provides. */
export interface V4l2M2mOps {
  /**
   * `device_run`: start the job of the context whose driver data is `priv`: take the next source
   * and destination buffers (`v4l2M2mNextSrcBuf` / `v4l2M2mNextDstBuf`), program the hardware,
   * and when it completes give the buffers back and call `v4l2M2mJobFinish`. Required.
   */
  readonly deviceRun: (priv: unknown) => void;
  /**
   * `job_ready`: whether the context can run a job now (beyond having a buffer on each queue).
   * Optional: absent means ready.
   */
  readonly jobReady?: (priv: unknown) => boolean;
  /**
   * `job_abort`: the running job of this context must end soon (STREAMOFF or close): stop the
   * hardware and call `v4l2M2mJobFinish`, now or later.
   */
  readonly jobAbort?: (priv: unknown) => void;
}

/** `struct v4l2_m2m_dev`: one mem2mem device and its job queue. */
export class V4l2M2mDev {
  /** the kernel */
  readonly kernel: Kernel;
  /** shown in traces */
  readonly name: string;
  /** the driver's ops */
  readonly ops: V4l2M2mOps;
  /** the context whose job runs (`curr_ctx`), or null */
  currCtx: V4l2M2mCtx | null = null;
  /** contexts waiting to run, in order (`job_queue`) */
  readonly jobQueue: V4l2M2mCtx[] = [];
  /** new jobs are not started (`QUEUE_PAUSED`) */
  paused = false;
  /** @internal */
  readonly st: Vb2State;
  /** @internal a pending job_work */
  workPending = false;

  /** @internal use `v4l2M2mInit` */
  constructor(kernel: Kernel, ops: V4l2M2mOps, name: string) {
    this.kernel = kernel;
    this.ops = ops;
    this.name = name;
    this.st = vb2State(kernel);
  }
}

/** `struct v4l2_m2m_queue_ctx`: one queue of a context and its ready buffers. */
export class V4l2M2mQueueCtx {
  /** the vb2 queue */
  readonly q: Vb2Queue;
  /** buffers the driver got through `buf_queue` and has not taken yet (`rdy_queue`) */
  readonly rdyQueue: Vb2Buffer[] = [];
  /** the driver buffers data itself: jobs may run without a buffer on this queue */
  buffered = false;

  /** @internal */
  constructor(q: Vb2Queue) {
    this.q = q;
  }
}

/** `struct v4l2_m2m_ctx`: one file's mem2mem context. */
export class V4l2M2mCtx {
  /** a number for traces */
  readonly id: number;
  /** the device */
  readonly m2mDev: V4l2M2mDev;
  /** the driver's context data, handed to the ops */
  readonly priv: unknown;
  /** the OUTPUT (source) queue */
  readonly outQCtx: V4l2M2mQueueCtx;
  /** the CAPTURE (destination) queue */
  readonly capQCtx: V4l2M2mQueueCtx;
  /** TRANS_QUEUED | TRANS_RUNNING | TRANS_ABORT */
  jobFlags = 0;
  /** woken when the context's job finishes (`finished`) */
  readonly finished: WaitQueue;
  /** jobs may run while the CAPTURE queue is not streaming */
  ignoreCapStreaming = false;
  /** a LAST buffer was returned: no more jobs until `v4l2M2mClearState` */
  hasStopped = false;
  /** the next CAPTURE buffer queued gets the LAST flag */
  nextBufLast = false;
  /** `v4l2M2mCtxRelease` waits for the running job to finish */
  releasing = false;
  /** released */
  released = false;

  /** @internal use `v4l2M2mCtxInit` */
  constructor(id: number, dev: V4l2M2mDev, priv: unknown, src: Vb2Queue, dst: Vb2Queue) {
    this.id = id;
    this.m2mDev = dev;
    this.priv = priv;
    this.outQCtx = new V4l2M2mQueueCtx(src);
    this.capQCtx = new V4l2M2mQueueCtx(dst);
    this.finished = new WaitQueue(dev.kernel.clock);
  }
}

function traceJob(dev: V4l2M2mDev, ctx: V4l2M2mCtx, event: "run" | "finish" | "abort"): void {
  const tp = dev.st.tp.m2mJob;
  if (tp.enabled) tp.emit({ device: dev.name, ctx: ctx.id, event });
}

/** `v4l2_m2m_init`: a mem2mem device. EINVAL without `deviceRun`. */
export function v4l2M2mInit(kernel: Kernel, ops: V4l2M2mOps, name = "m2m"): V4l2M2mDev {
  if (!ops || typeof ops.deviceRun !== "function") {
    throw new KernelError("EINVAL", "v4l2_m2m_init: ops.deviceRun is required");
  }
  return new V4l2M2mDev(kernel, ops, name);
}

/** `v4l2_m2m_release`: the device goes. EBUSY while a job runs or waits. */
export function v4l2M2mRelease(dev: V4l2M2mDev): void {
  if (dev.currCtx || dev.jobQueue.length) {
    throw new KernelError("EBUSY", `v4l2_m2m_release(${dev.name}): jobs are still queued or running`);
  }
}

/**
 * `v4l2_m2m_ctx_init`: a context with the two queues `queueInit` makes (`vb2QueueInit` with an
 * OUTPUT type for `src` and a CAPTURE type for `dst`). EINVAL when the types are not an output
 * and a capture type; `queueInit`'s errors.
 */
export function v4l2M2mCtxInit(
  dev: V4l2M2mDev,
  drvPriv: unknown,
  queueInit: (priv: unknown) => { src: Vb2Queue; dst: Vb2Queue },
): V4l2M2mCtx {
  const { src, dst } = queueInit(drvPriv);
  if (!V4L2_TYPE_IS_OUTPUT(src.type) || !V4L2_TYPE_IS_CAPTURE(dst.type)) {
    vb2CoreQueueRelease(src);
    vb2CoreQueueRelease(dst);
    throw new KernelError(
      "EINVAL",
      `v4l2_m2m_ctx_init(${dev.name}): src must be an OUTPUT queue, dst a CAPTURE queue`,
    );
  }
  return new V4l2M2mCtx(dev.st.nextCtxId++, dev, drvPriv, src, dst);
}

function finishRelease(ctx: V4l2M2mCtx): void {
  vb2CoreQueueRelease(ctx.capQCtx.q);
  vb2CoreQueueRelease(ctx.outQCtx.q);
  ctx.capQCtx.q.st.queues.delete(ctx.capQCtx.q);
  ctx.outQCtx.q.st.queues.delete(ctx.outQCtx.q);
  ctx.released = true;
}

/**
 * `v4l2_m2m_ctx_release`: cancels the context's job and releases both queues. The kernel sleeps
 * until a running job finishes; here the queues are released when the driver calls
 * `v4l2M2mJobFinish` for it (at once when it does so from `jobAbort`).
 */
export function v4l2M2mCtxRelease(ctx: V4l2M2mCtx): void {
  const w = cancelJob(ctx);
  if (!w) {
    finishRelease(ctx);
    return;
  }
  ctx.releasing = true;
  void w.then(() => finishRelease(ctx));
}

/** `v4l2_m2m_get_vq`: the queue of `type` (OUTPUT types: source; others: destination). */
export function v4l2M2mGetVq(ctx: V4l2M2mCtx, type: number): Vb2Queue {
  return V4L2_TYPE_IS_OUTPUT(type) ? ctx.outQCtx.q : ctx.capQCtx.q;
}

/** `v4l2_m2m_get_src_vq`. */
export function v4l2M2mGetSrcVq(ctx: V4l2M2mCtx): Vb2Queue {
  return ctx.outQCtx.q;
}

/** `v4l2_m2m_get_dst_vq`. */
export function v4l2M2mGetDstVq(ctx: V4l2M2mCtx): Vb2Queue {
  return ctx.capQCtx.q;
}

function qCtxOf(ctx: V4l2M2mCtx, type: number): V4l2M2mQueueCtx {
  return V4L2_TYPE_IS_OUTPUT(type) ? ctx.outQCtx : ctx.capQCtx;
}

/** `v4l2_m2m_buf_queue`: the driver's `bufQueue` puts `vb` on its context's ready list. */
export function v4l2M2mBufQueue(ctx: V4l2M2mCtx, vb: Vb2Buffer): void {
  qCtxOf(ctx, vb.queue.type).rdyQueue.push(vb);
}

/** `v4l2_m2m_next_src_buf`: the first ready source buffer, or null. */
export function v4l2M2mNextSrcBuf(ctx: V4l2M2mCtx): Vb2Buffer | null {
  return ctx.outQCtx.rdyQueue[0] ?? null;
}

/** `v4l2_m2m_next_dst_buf`: the first ready destination buffer, or null. */
export function v4l2M2mNextDstBuf(ctx: V4l2M2mCtx): Vb2Buffer | null {
  return ctx.capQCtx.rdyQueue[0] ?? null;
}

/** `v4l2_m2m_last_src_buf`. */
export function v4l2M2mLastSrcBuf(ctx: V4l2M2mCtx): Vb2Buffer | null {
  return ctx.outQCtx.rdyQueue.at(-1) ?? null;
}

/** `v4l2_m2m_last_dst_buf`. */
export function v4l2M2mLastDstBuf(ctx: V4l2M2mCtx): Vb2Buffer | null {
  return ctx.capQCtx.rdyQueue.at(-1) ?? null;
}

/** `v4l2_m2m_src_buf_remove`: takes the first ready source buffer off the list. */
export function v4l2M2mSrcBufRemove(ctx: V4l2M2mCtx): Vb2Buffer | null {
  return ctx.outQCtx.rdyQueue.shift() ?? null;
}

/** `v4l2_m2m_dst_buf_remove`: takes the first ready destination buffer off the list. */
export function v4l2M2mDstBufRemove(ctx: V4l2M2mCtx): Vb2Buffer | null {
  return ctx.capQCtx.rdyQueue.shift() ?? null;
}

/** `v4l2_m2m_buf_remove_by_buf`: takes `vb` off its ready list. */
export function v4l2M2mBufRemoveByBuf(ctx: V4l2M2mCtx, vb: Vb2Buffer): void {
  const list = qCtxOf(ctx, vb.queue.type).rdyQueue;
  const i = list.indexOf(vb);
  if (i >= 0) list.splice(i, 1);
}

/** `v4l2_m2m_num_src_bufs_ready`. */
export function v4l2M2mNumSrcBufsReady(ctx: V4l2M2mCtx): number {
  return ctx.outQCtx.rdyQueue.length;
}

/** `v4l2_m2m_num_dst_bufs_ready`. */
export function v4l2M2mNumDstBufsReady(ctx: V4l2M2mCtx): number {
  return ctx.capQCtx.rdyQueue.length;
}

/** `v4l2_m2m_get_curr_priv`: the driver data of the context whose job runs, or null. */
export function v4l2M2mGetCurrPriv(dev: V4l2M2mDev): unknown {
  return dev.currCtx?.priv ?? null;
}

/** `v4l2_m2m_buf_done`: `vb2BufferDone`. */
export function v4l2M2mBufDone(vb: Vb2Buffer, state: Vb2BufferStateValue): void {
  vb2BufferDone(vb, state);
}

/** `v4l2_m2m_try_run`: starts the first queued job unless one runs or the queue is paused. */
function tryRun(dev: V4l2M2mDev): void {
  if (dev.currCtx || dev.jobQueue.length === 0 || dev.paused) return;
  const ctx = dev.jobQueue[0]!;
  dev.currCtx = ctx;
  ctx.jobFlags |= TRANS_RUNNING;
  traceJob(dev, ctx, "run");
  dev.ops.deviceRun(ctx.priv);
}

/** `__v4l2_m2m_try_queue`: puts the context on the job queue if it can run a job. */
function tryQueue(dev: V4l2M2mDev, ctx: V4l2M2mCtx): void {
  if (!ctx.outQCtx.q.streaming || (!ctx.capQCtx.q.streaming && !ctx.ignoreCapStreaming)) return;
  if (ctx.jobFlags & (TRANS_ABORT | TRANS_QUEUED)) return;
  const src = v4l2M2mNextSrcBuf(ctx);
  const dst = v4l2M2mNextDstBuf(ctx);
  if (!src && !ctx.outQCtx.buffered) return;
  if (!dst && !ctx.capQCtx.buffered) return;
  if (ctx.hasStopped) return;
  if (dev.ops.jobReady && !dev.ops.jobReady(ctx.priv)) return;
  dev.jobQueue.push(ctx);
  ctx.jobFlags |= TRANS_QUEUED;
}

/**
 * `v4l2_m2m_try_schedule`: queues a job for `ctx` if it is ready, then runs the next job if the
 * device is idle (possibly another context's).
 */
export function v4l2M2mTrySchedule(ctx: V4l2M2mCtx): void {
  tryQueue(ctx.m2mDev, ctx);
  tryRun(ctx.m2mDev);
}

function scheduleNextJob(dev: V4l2M2mDev, ctx: V4l2M2mCtx): void {
  tryQueue(dev, ctx);
  scheduleWork(dev);
}

/** `schedule_work(&m2m_dev->job_work)`: `tryRun` from a 0 ns timer. */
function scheduleWork(dev: V4l2M2mDev): void {
  if (dev.workPending) return;
  dev.workPending = true;
  dev.kernel.clock.after(
    0,
    () => {
      dev.workPending = false;
      tryRun(dev);
    },
    `m2m ${dev.name} job_work`,
  );
}

function jobFinishInner(dev: V4l2M2mDev, ctx: V4l2M2mCtx): boolean {
  if (!dev.currCtx || dev.currCtx !== ctx) return false;
  const i = dev.jobQueue.indexOf(ctx);
  if (i >= 0) dev.jobQueue.splice(i, 1);
  ctx.jobFlags &= ~(TRANS_QUEUED | TRANS_RUNNING);
  traceJob(dev, ctx, "finish");
  ctx.finished.wakeUp();
  dev.currCtx = null;
  return true;
}

/**
 * `v4l2_m2m_job_finish`: the driver finished the job of `ctx` (its buffers already given back);
 * the next job starts from the work item. Ignored when `ctx` is not the running context.
 */
export function v4l2M2mJobFinish(dev: V4l2M2mDev, ctx: V4l2M2mCtx): void {
  if (jobFinishInner(dev, ctx)) scheduleNextJob(dev, ctx);
}

/**
 * `v4l2_m2m_buf_done_and_job_finish`: returns the first source buffer and (unless held) the first
 * destination buffer with `state`, then finishes the job.
 */
export function v4l2M2mBufDoneAndJobFinish(
  dev: V4l2M2mDev,
  ctx: V4l2M2mCtx,
  state: Vb2BufferStateValue,
): void {
  const src = v4l2M2mSrcBufRemove(ctx);
  const dst = v4l2M2mNextDstBuf(ctx);
  if (!src || !dst) {
    vb2Warn(
      dev.st,
      ctx.capQCtx.q.name,
      "v4l2_m2m_buf_done_and_job_finish without a source and a destination buffer",
    );
    if (src) ctx.outQCtx.rdyQueue.unshift(src);
    return;
  }
  dst.isHeld = (src.flags & V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF) !== 0;
  if (!dst.isHeld) {
    v4l2M2mDstBufRemove(ctx);
    vb2BufferDone(dst, state);
  }
  vb2BufferDone(src, state);
  v4l2M2mJobFinish(dev, ctx);
}

/**
 * `v4l2_m2m_cancel_job`: marks the context aborting; a queued job leaves the queue; a running
 * job gets `jobAbort` and the result is a promise that settles when it finishes (undefined when
 * nothing runs by then).
 */
function cancelJob(ctx: V4l2M2mCtx): Promise<void> | undefined {
  const dev = ctx.m2mDev;
  ctx.jobFlags |= TRANS_ABORT;
  if (ctx.jobFlags & TRANS_RUNNING) {
    traceJob(dev, ctx, "abort");
    dev.ops.jobAbort?.(ctx.priv);
    if (!(ctx.jobFlags & TRANS_RUNNING)) return undefined;
    return ctx.finished.wait(() => !(ctx.jobFlags & TRANS_RUNNING)).then(() => undefined);
  }
  if (ctx.jobFlags & TRANS_QUEUED) {
    const i = dev.jobQueue.indexOf(ctx);
    if (i >= 0) dev.jobQueue.splice(i, 1);
    ctx.jobFlags &= ~(TRANS_QUEUED | TRANS_RUNNING);
  }
  return undefined;
}

/** `v4l2_m2m_suspend`: no new job starts; resolves when the running one (if any) finished. */
export function v4l2M2mSuspend(dev: V4l2M2mDev): Promise<void> {
  dev.paused = true;
  const ctx = dev.currCtx;
  if (!ctx) return Promise.resolve();
  return ctx.finished.wait(() => !(ctx.jobFlags & TRANS_RUNNING)).then(() => undefined);
}

/** `v4l2_m2m_resume`: jobs start again. */
export function v4l2M2mResume(dev: V4l2M2mDev): void {
  dev.paused = false;
  tryRun(dev);
}

/** `v4l2_m2m_mark_stopped`: no more jobs until `v4l2M2mClearState`. */
export function v4l2M2mMarkStopped(ctx: V4l2M2mCtx): void {
  ctx.hasStopped = true;
  ctx.nextBufLast = false;
}

/** `v4l2_m2m_clear_state`: jobs may run again after a LAST buffer. */
export function v4l2M2mClearState(ctx: V4l2M2mCtx): void {
  ctx.hasStopped = false;
  ctx.nextBufLast = false;
}

/**
 * `v4l2_m2m_last_buffer_done`: returns a CAPTURE buffer DONE with V4L2_BUF_FLAG_LAST (the next
 * DQBUF of the queue fails EPIPE) and marks the context stopped.
 */
export function v4l2M2mLastBufferDone(ctx: V4l2M2mCtx, vb: Vb2Buffer): void {
  vb.flags |= V4L2_BUF_FLAG_LAST;
  vb2BufferDone(vb, Vb2BufferState.DONE);
  v4l2M2mMarkStopped(ctx);
}

/**
 * `v4l2_m2m_buf_copy_metadata`: the destination buffer takes the source's timestamp, timecode,
 * field and (with `copyFrameFlags`) key/P/B-frame flags.
 */
export function v4l2M2mBufCopyMetadata(out: Vb2Buffer, cap: Vb2Buffer, copyFrameFlags: boolean): void {
  let mask = V4L2_BUF_FLAG_TIMECODE | V4L2_BUF_FLAG_TSTAMP_SRC_MASK;
  if (copyFrameFlags) mask |= V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_PFRAME | V4L2_BUF_FLAG_BFRAME;
  cap.timestamp = out.timestamp;
  if (out.flags & V4L2_BUF_FLAG_TIMECODE) cap.timecode = { ...out.timecode };
  cap.field = out.field;
  cap.flags = (cap.flags & ~mask) | (out.flags & mask);
  cap.copiedTimestamp = true;
}

// ---- the file-level helpers (v4l2_m2m_<ioctl>) ------------------------------------------------

function adjustMemOffset(q: Vb2Queue, b: V4l2Buffer): void {
  if (b.memory !== V4L2_MEMORY_MMAP || !V4L2_TYPE_IS_CAPTURE(q.type)) return;
  if (V4L2_TYPE_IS_MULTIPLANAR(q.type)) {
    for (let i = 0; i < b.length; i++) {
      const p = b.m.planes?.[i];
      if (p) p.m.mem_offset = (p.m.mem_offset ?? 0) + DST_QUEUE_OFF_BASE;
    }
  } else {
    b.m.offset = (b.m.offset ?? 0) + DST_QUEUE_OFF_BASE;
  }
}

/** `v4l2_m2m_reqbufs`: REQBUFS on the queue of `rb.type`; the file owns it while it has buffers. */
export function v4l2M2mReqbufs(file: File, ctx: V4l2M2mCtx, rb: V4l2RequestBuffers): void {
  const q = v4l2M2mGetVq(ctx, rb.type);
  vb2Reqbufs(q, rb);
  q.owner = rb.count ? file.privateData : null;
}

/** `v4l2_m2m_querybuf`: QUERYBUF; CAPTURE MMAP offsets carry DST_QUEUE_OFF_BASE. */
export function v4l2M2mQuerybuf(_file: File, ctx: V4l2M2mCtx, b: V4l2Buffer): void {
  const q = v4l2M2mGetVq(ctx, b.type);
  vb2Querybuf(q, b);
  adjustMemOffset(q, b);
}

/**
 * `v4l2_m2m_qbuf`: QBUF, then schedules a job. EPERM for a request on a CAPTURE buffer. A
 * CAPTURE buffer queued while the context is stopped comes straight back LAST.
 */
export function v4l2M2mQbuf(_file: File, ctx: V4l2M2mCtx, b: V4l2Buffer): void {
  const q = v4l2M2mGetVq(ctx, b.type);
  if (V4L2_TYPE_IS_CAPTURE(q.type) && b.flags & V4L2_BUF_FLAG_REQUEST_FD) {
    throw new KernelError("EPERM", `${q.name}: requests cannot be used with capture buffers`);
  }
  vb2Qbuf(q, b);
  adjustMemOffset(q, b);
  if (
    V4L2_TYPE_IS_CAPTURE(q.type) &&
    q.streaming &&
    !q.startStreamingCalled &&
    (ctx.hasStopped || ctx.nextBufLast)
  ) {
    forceLastBufDone(ctx, q);
  } else if (!(b.flags & V4L2_BUF_FLAG_IN_REQUEST)) {
    v4l2M2mTrySchedule(ctx);
  }
}

function forceLastBufDone(ctx: V4l2M2mCtx, q: Vb2Queue): void {
  const vb = q.queuedList[0];
  if (!vb) return;
  for (let i = 0; i < vb.numPlanes; i++) vb2SetPlanePayload(vb, i, 0);
  vb.state = Vb2BufferState.ACTIVE;
  q.ownedByDrvCount++;
  vb.field = V4L2_FIELD_NONE;
  v4l2M2mLastBufferDone(ctx, vb);
}

/** `v4l2_m2m_dqbuf`: DQBUF (blocking unless the file is O_NONBLOCK). */
export function v4l2M2mDqbuf(file: File, ctx: V4l2M2mCtx, b: V4l2Buffer): undefined | Promise<void> {
  const q = v4l2M2mGetVq(ctx, b.type);
  const r = vb2Dqbuf(q, b, (file.flags & O_NONBLOCK) !== 0);
  if (r) return r.then(() => adjustMemOffset(q, b));
  adjustMemOffset(q, b);
  return undefined;
}

/** `v4l2_m2m_prepare_buf`. */
export function v4l2M2mPrepareBuf(_file: File, ctx: V4l2M2mCtx, b: V4l2Buffer): void {
  const q = v4l2M2mGetVq(ctx, b.type);
  vb2PrepareBuf(q, b);
  adjustMemOffset(q, b);
}

/** `v4l2_m2m_create_bufs`. */
export function v4l2M2mCreateBufs(_file: File, ctx: V4l2M2mCtx, create: V4l2CreateBuffers): void {
  vb2CreateBufs(v4l2M2mGetVq(ctx, create.format.type), create);
}

/** `v4l2_m2m_streamon`: STREAMON, then schedules a job. */
export function v4l2M2mStreamon(_file: File, ctx: V4l2M2mCtx, type: number): void {
  vb2Streamon(v4l2M2mGetVq(ctx, type), type);
  v4l2M2mTrySchedule(ctx);
}

/**
 * `v4l2_m2m_streamoff`: cancels the context's job (waiting for a running one: then the result
 * is a promise), STREAMOFF of the queue, and empties its ready list.
 */
export function v4l2M2mStreamoff(_file: File, ctx: V4l2M2mCtx, type: number): undefined | Promise<void> {
  const q = v4l2M2mGetVq(ctx, type);
  if (type !== q.type) throw new KernelError("EINVAL", `${q.name}: STREAMOFF: type ${type} is not ${q.type}`);
  const rest = (): void => {
    vb2Streamoff(q, type);
    const dev = ctx.m2mDev;
    if (ctx.jobFlags & TRANS_QUEUED) {
      const i = dev.jobQueue.indexOf(ctx);
      if (i >= 0) dev.jobQueue.splice(i, 1);
    }
    ctx.jobFlags = 0;
    qCtxOf(ctx, type).rdyQueue.length = 0;
    if (dev.currCtx === ctx) {
      dev.currCtx = null;
      ctx.finished.wakeUp();
    }
  };
  const w = cancelJob(ctx);
  if (w) return w.then(rest);
  rest();
  return undefined;
}

/**
 * `v4l2_m2m_poll`: POLLOUT when a source buffer is done, POLLIN when a destination buffer is
 * done (or the LAST one was dequeued), POLLERR when neither queue has anything to wait for.
 */
export function v4l2M2mPoll(_file: File, ctx: V4l2M2mCtx, pt: PollTable | null): number {
  const src = ctx.outQCtx.q;
  const dst = ctx.capQCtx.q;
  pt?.wait(src.doneWq);
  pt?.wait(dst.doneWq);
  if (
    (!src.streaming || src.error || src.queuedList.length === 0) &&
    (!dst.streaming || dst.error || (dst.queuedList.length === 0 && !dst.lastBufferDequeued))
  ) {
    return POLLERR;
  }
  let rc = 0;
  if (src.doneList.length) rc |= POLLOUT | POLLWRNORM;
  if (dst.doneList.length || dst.lastBufferDequeued) rc |= POLLIN | POLLRDNORM;
  return rc;
}

/** `v4l2_m2m_mmap`: offsets from DST_QUEUE_OFF_BASE map CAPTURE buffers, lower ones OUTPUT. */
export function v4l2M2mMmap(_file: File, ctx: V4l2M2mCtx, vma: MmapContext): void {
  const offset = vma.pgoff * PAGE_SIZE;
  if (offset < DST_QUEUE_OFF_BASE) {
    vb2Mmap(ctx.outQCtx.q, vma);
  } else {
    vb2Mmap(ctx.capQCtx.q, vb2MmapContextAt(vma, vma.pgoff - DST_QUEUE_OFF_BASE / PAGE_SIZE));
  }
}

/** `v4l2_m2m_ioctl_remove_bufs`: REMOVE_BUFS on the queue of `d.type`. */
export function v4l2M2mRemoveBufs(_file: File, ctx: V4l2M2mCtx, d: V4l2RemoveBuffers): void {
  const q = v4l2M2mGetVq(ctx, d.type);
  if (q.type !== d.type)
    throw new KernelError("EINVAL", `${q.name}: REMOVE_BUFS: type ${d.type} is not ${q.type}`);
  vb2CoreRemoveBufs(q, d.index, d.count);
}

/** The queue of an EXPBUF request (`v4l2_m2m_expbuf` then exports from it). */
export function v4l2M2mExpbufQueue(ctx: V4l2M2mCtx, eb: V4l2ExportBuffer): Vb2Queue {
  return v4l2M2mGetVq(ctx, eb.type);
}
