/**
 * The FIMC mem-to-mem driver (exynos4-is/fimc-m2m.c): a multi-planar V4L2 mem2mem node whose
 * every open file is a context with an OUTPUT queue of NV12 / NV12M frames and a CAPTURE queue
 * of XRGB8888 (`V4L2_PIX_FMT_XRGB32`) frames, each in MMAP, USERPTR or DMABUF memory (a camera's
 * exported buffers on OUTPUT, DRM dumb buffers exported by PRIME on CAPTURE). A job scales and
 * converts one source frame into one destination frame on the FIMC (`fimc-hw.ts`); the
 * destination takes the source's timestamp. STREAMON fails with EINVAL when the two formats'
 * sizes are beyond the scaler's ratios.
 *
 * @module
 */
import { type Device, type Kernel, KernelError } from "@umm/kernel-core";
import {
  V4L2_BUF_FLAG_TIMESTAMP_COPY,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_M2M_MPLANE,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  V4L2_PIX_FMT_XRGB32,
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
  v4l2DeviceUnregister,
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
} from "@umm/v4l2-videobuf";
import { mediaWarn } from "./common.js";
import { fimcScalerRatioError } from "./convert.js";
import type { FimcHw } from "./fimc-hw.js";

const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

/** The FIMC mem-to-mem driver of one FIMC instance. */
export class FimcM2m {
  /** the kernel */
  readonly kernel: Kernel;
  /** the FIMC's device */
  readonly dev: Device;
  /** the hardware */
  readonly hw: FimcHw;
  /** the mem2mem device (job queue) */
  readonly m2m: V4l2M2mDev;
  /** the video node */
  readonly vdev: VideoDevice;
  #running: V4l2M2mCtx | null = null;
  #removed = false;
  readonly #seq = new WeakMap<V4l2M2mCtx, number>();

  /** Registers the node (probe). */
  constructor(dev: Device, hw: FimcHw) {
    this.kernel = dev.kernel;
    this.dev = dev;
    this.hw = hw;
    this.m2m = v4l2M2mInit(
      this.kernel,
      {
        deviceRun: (priv) => this.#run(priv as V4l2Fh),
        jobAbort: (priv) => this.#abort(priv as V4l2Fh),
      },
      `${dev.name}-m2m`,
    );
    this.vdev = v4l2DeviceRegister(this.kernel, {
      name: `${dev.name}.m2m`,
      driver: "exynos4-fimc",
      busInfo: `platform:${dev.name}`,
      deviceCaps: V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING,
      m2m: { dev: this.m2m, queueInit: (fh) => this.#queueInit(fh) },
      formats: {
        output: {
          pixelformats: [V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_NV12],
          defaultWidth: 640,
          defaultHeight: 480,
          maxWidth: 4096,
          maxHeight: 4096,
        },
        capture: {
          pixelformats: [V4L2_PIX_FMT_XRGB32],
          defaultWidth: 640,
          defaultHeight: 480,
          maxWidth: 4096,
          maxHeight: 4096,
        },
      },
    });
  }

  #queueInit(fh: V4l2Fh): { src: Vb2Queue; dst: Vb2Queue } {
    const self = this;
    const dev = this.dev;
    const ops: Vb2Ops = {
      queueSetup(q, s) {
        const sizes = v4l2FormatPlaneSizes(fh.formats.get(q.type));
        if (s.numPlanes) {
          if (s.numPlanes !== sizes.length || sizes.some((n, i) => s.sizes[i]! < n)) {
            throw new KernelError("EINVAL", `${dev.name}: CREATE_BUFS sizes below the format's`);
          }
          return;
        }
        s.numPlanes = sizes.length;
        sizes.forEach((n, i) => {
          s.sizes[i] = n;
        });
      },
      bufPrepare(vb) {
        const sizes = v4l2FormatPlaneSizes(fh.formats.get(vb.queue.type));
        if (vb.numPlanes !== sizes.length) {
          throw new KernelError(
            "EINVAL",
            `${dev.name}: buffer of ${vb.numPlanes} planes, format of ${sizes.length}`,
          );
        }
        for (let p = 0; p < sizes.length; p++) {
          if (vb2PlaneSize(vb, p) < sizes[p]!) {
            throw new KernelError(
              "EINVAL",
              `${dev.name}: plane ${p} of ${vb2PlaneSize(vb, p)} bytes is smaller than ${sizes[p]}`,
            );
          }
          if (!vb.queue.isOutput) vb2SetPlanePayload(vb, p, sizes[p]!);
        }
      },
      bufQueue(vb) {
        v4l2M2mBufQueue(fh.m2mCtx!, vb);
      },
      startStreaming(q) {
        const why = self.#ratioError(fh);
        if (why) {
          const ctx = fh.m2mCtx!;
          for (;;) {
            const vb = q.isOutput ? v4l2M2mSrcBufRemove(ctx) : v4l2M2mDstBufRemove(ctx);
            if (!vb) break;
            vb2BufferDone(vb, Vb2BufferState.QUEUED);
          }
          throw new KernelError("EINVAL", `${dev.name}: ${why}`);
        }
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
    const src = vb2QueueInit(this.kernel, { ...common, type: OUT, name: `${dev.name}-m2m-src` });
    const dst = vb2QueueInit(this.kernel, { ...common, type: CAP, name: `${dev.name}-m2m-dst` });
    return { src, dst };
  }

  #ratioError(fh: V4l2Fh): string | null {
    const s = fh.formats.get(OUT).fmt.pix_mp!;
    const d = fh.formats.get(CAP).fmt.pix_mp!;
    return fimcScalerRatioError(s.width, s.height, d.width, d.height);
  }

  #run(fh: V4l2Fh): void {
    const ctx = fh.m2mCtx!;
    const src = v4l2M2mNextSrcBuf(ctx)!;
    const dst = v4l2M2mNextDstBuf(ctx)!;
    const s = fh.formats.get(OUT).fmt.pix_mp!;
    const d = fh.formats.get(CAP).fmt.pix_mp!;
    const why = this.#removed ? "the device was removed" : this.#ratioError(fh);
    if (why) {
      mediaWarn(this.kernel, this.dev.name, `m2m job not run: ${why}`);
      this.#finish(ctx, false);
      return;
    }
    const srcY = vb2DmaContigPlaneDmaAddr(src, 0);
    const yPitch = s.plane_fmt[0]!.bytesperline;
    const srcUv = src.numPlanes > 1 ? vb2DmaContigPlaneDmaAddr(src, 1) : srcY + yPitch * s.height;
    const uvPitch = src.numPlanes > 1 ? s.plane_fmt[1]!.bytesperline : yPitch;
    this.#running = ctx;
    this.hw.m2mRun(
      {
        srcY,
        srcUv,
        srcYPitch: yPitch,
        srcUvPitch: uvPitch,
        srcWidth: s.width,
        srcHeight: s.height,
        dst: vb2DmaContigPlaneDmaAddr(dst, 0),
        dstPitch: d.plane_fmt[0]!.bytesperline,
        dstWidth: d.width,
        dstHeight: d.height,
      },
      (ok) => {
        if (!ok) mediaWarn(this.kernel, this.dev.name, "m2m job: DMA fault, buffers returned with ERROR");
        this.#finish(ctx, ok);
      },
    );
  }

  #finish(ctx: V4l2M2mCtx, ok: boolean): void {
    this.#running = null;
    const src = v4l2M2mSrcBufRemove(ctx)!;
    const dst = v4l2M2mDstBufRemove(ctx)!;
    v4l2M2mBufCopyMetadata(src, dst, true);
    const seq = this.#seq.get(ctx) ?? 0;
    this.#seq.set(ctx, seq + 1);
    src.sequence = seq;
    dst.sequence = seq;
    const state = ok ? Vb2BufferState.DONE : Vb2BufferState.ERROR;
    vb2BufferDone(src, state);
    vb2BufferDone(dst, state);
    v4l2M2mJobFinish(this.m2m, ctx);
  }

  #abort(fh: V4l2Fh): void {
    const ctx = fh.m2mCtx!;
    if (this.#running !== ctx) return;
    this.hw.m2mCancel();
    this.#finish(ctx, false);
  }

  /**
   * Unregisters the node (remove): a running job ends with ERROR; open files keep their contexts
   * until closed, and jobs they still have queued end with ERROR.
   */
  remove(): void {
    this.#removed = true;
    const ctx = this.#running;
    if (ctx) {
      this.hw.m2mCancel();
      this.#finish(ctx, false);
    }
    v4l2DeviceUnregister(this.vdev);
  }
}
