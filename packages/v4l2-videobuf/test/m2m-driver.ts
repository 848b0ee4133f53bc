// A test mem2mem driver: per job it reads the source buffer by DMA, inverts every byte and writes
// the result into the destination buffer by DMA, taking `jobNs` of virtual time per job.
import type { Device, Kernel, TimerHandle } from "@umm/kernel-core";
import { KernelError } from "@umm/kernel-core";
import type { DmaPort } from "@umm/mm-core";
import {
  V4L2_BUF_FLAG_TIMESTAMP_COPY,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_M2M,
  V4L2_PIX_FMT_GREY,
  V4L2_PIX_FMT_NV12,
  type V4l2Fh,
  type V4l2M2mCtx,
  type V4l2M2mDev,
  VB2_DMABUF,
  VB2_MMAP,
  VB2_USERPTR,
  Vb2BufferState,
  type Vb2Ops,
  type Vb2Queue,
  type VideoDevice,
  v4l2DeviceRegister,
  v4l2FormatPlaneSizes,
  v4l2M2mBufCopyMetadata,
  v4l2M2mBufQueue,
  v4l2M2mDstBufRemove,
  v4l2M2mInit,
  v4l2M2mJobFinish,
  v4l2M2mNextDstBuf,
  v4l2M2mNextSrcBuf,
  v4l2M2mSrcBufRemove,
  vb2BufferDone,
  vb2DmaContigMemops,
  vb2DmaContigPlaneDmaAddr,
  vb2PlaneSize,
  vb2QueueInit,
  vb2SetPlanePayload,
} from "../src/index.js";

/** The test m2m device: an inverter. */
export class TestInverter {
  readonly kernel: Kernel;
  readonly dev: Device;
  readonly port: DmaPort;
  readonly m2m: V4l2M2mDev;
  readonly vdev: VideoDevice;
  /** ns of virtual time per job */
  jobNs: number;
  /** ctx ids of the jobs run, in order */
  readonly jobs: number[] = [];
  /** jobs aborted */
  aborts = 0;
  /** jobAbort finishes the job later (after jobNs) instead of at once */
  lazyAbort = false;
  #timer: TimerHandle | null = null;
  #running: V4l2M2mCtx | null = null;

  constructor(kernel: Kernel, dev: Device, port: DmaPort, opts: { jobNs?: number } = {}) {
    this.kernel = kernel;
    this.dev = dev;
    this.port = port;
    this.jobNs = opts.jobNs ?? 1_000_000;
    this.m2m = v4l2M2mInit(
      kernel,
      {
        deviceRun: (priv) => this.#run(priv as V4l2Fh),
        jobAbort: (priv) => this.#abort(priv as V4l2Fh),
      },
      "inverter",
    );
    this.vdev = v4l2DeviceRegister(kernel, {
      name: "inverter",
      driver: "vb2-test-m2m",
      deviceCaps: V4L2_CAP_VIDEO_M2M | V4L2_CAP_STREAMING,
      m2m: { dev: this.m2m, queueInit: (fh) => this.#queueInit(fh) },
      formats: {
        capture: {
          pixelformats: [V4L2_PIX_FMT_GREY, V4L2_PIX_FMT_NV12],
          defaultWidth: 64,
          defaultHeight: 32,
        },
        output: { pixelformats: [V4L2_PIX_FMT_GREY, V4L2_PIX_FMT_NV12], defaultWidth: 64, defaultHeight: 32 },
      },
    });
  }

  #queueInit(fh: V4l2Fh): { src: Vb2Queue; dst: Vb2Queue } {
    const ops: Vb2Ops = {
      queueSetup(q, s) {
        const sizes = v4l2FormatPlaneSizes(fh.formats.get(q.type));
        if (s.numPlanes) {
          if (s.numPlanes !== sizes.length || s.sizes[0]! < sizes[0]!) {
            throw new KernelError("EINVAL", "queue_setup: sizes below the format");
          }
          return;
        }
        s.numPlanes = 1;
        s.sizes[0] = sizes[0]!;
      },
      bufPrepare(vb) {
        const size = v4l2FormatPlaneSizes(fh.formats.get(vb.queue.type))[0]!;
        if (vb2PlaneSize(vb, 0) < size) throw new KernelError("EINVAL", "buf_prepare: plane too small");
        if (!vb.queue.isOutput) vb2SetPlanePayload(vb, 0, size);
      },
      bufQueue(vb) {
        v4l2M2mBufQueue(fh.m2mCtx!, vb);
      },
      stopStreaming(q) {
        const ctx = fh.m2mCtx!;
        for (;;) {
          const vb = q.isOutput ? v4l2M2mSrcBufRemove(ctx) : v4l2M2mDstBufRemove(ctx);
          if (!vb) break;
          vb2BufferDone(vb, Vb2BufferState.ERROR);
        }
      },
    };
    const common = {
      ioModes: VB2_MMAP | VB2_USERPTR | VB2_DMABUF,
      ops,
      memOps: vb2DmaContigMemops,
      dev: this.dev,
      timestampFlags: V4L2_BUF_FLAG_TIMESTAMP_COPY,
    };
    const src = vb2QueueInit(this.kernel, { ...common, type: V4L2_BUF_TYPE_VIDEO_OUTPUT, name: "inv-src" });
    const dst = vb2QueueInit(this.kernel, { ...common, type: V4L2_BUF_TYPE_VIDEO_CAPTURE, name: "inv-dst" });
    return { src, dst };
  }

  #run(fh: V4l2Fh): void {
    const ctx = fh.m2mCtx!;
    this.jobs.push(ctx.id);
    this.#running = ctx;
    this.#timer = this.kernel.clock.after(
      this.jobNs,
      () => this.#complete(ctx, Vb2BufferState.DONE),
      "inverter job",
    );
  }

  #complete(ctx: V4l2M2mCtx, state: typeof Vb2BufferState.DONE | typeof Vb2BufferState.ERROR): void {
    this.#timer = null;
    this.#running = null;
    const src = v4l2M2mNextSrcBuf(ctx)!;
    const dst = v4l2M2mNextDstBuf(ctx)!;
    if (state === Vb2BufferState.DONE) {
      const n = Math.min(src.planes[0]!.bytesused, vb2PlaneSize(dst, 0));
      const data = new Uint8Array(n);
      this.port.read(vb2DmaContigPlaneDmaAddr(src, 0), data);
      for (let i = 0; i < n; i++) data[i] = 255 - data[i]!;
      this.port.write(vb2DmaContigPlaneDmaAddr(dst, 0), data);
      vb2SetPlanePayload(dst, 0, n);
    }
    v4l2M2mBufCopyMetadata(src, dst, true);
    v4l2M2mSrcBufRemove(ctx);
    v4l2M2mDstBufRemove(ctx);
    vb2BufferDone(dst, state); // capture first, as v4l2_m2m_buf_done_and_job_finish does
    vb2BufferDone(src, state);
    v4l2M2mJobFinish(this.m2m, ctx);
  }

  #abort(fh: V4l2Fh): void {
    this.aborts++;
    const ctx = fh.m2mCtx!;
    if (this.#running !== ctx) return;
    if (this.lazyAbort) return;
    this.#timer?.cancel();
    this.#complete(ctx, Vb2BufferState.ERROR);
  }
}
