/**
 * The FIMC camera capture driver (exynos4-is/fimc-capture.c): a multi-planar V4L2 capture node
 * over one vb2 dma-contig queue. NV12M (Y and CbCr in two buffers) or NV12 (one buffer);
 * MMAP, USERPTR and DMABUF memory; EXPBUF. At STREAMON the sensor starts; each buffer the driver
 * owns is programmed as the FIMC's output in turn, and at the frame-end interrupt it is returned
 * with the sensor's frame number as `sequence`, the frame's virtual time as timestamp and the
 * planes' sizes as `bytesused`. Frames that arrive with no buffer queued are dropped (a gap in
 * `sequence`).
 *
 * @module
 */
import type { Device, Kernel } from "@umm/kernel-core";
import { KernelError } from "@umm/kernel-core";
import {
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_FLAG_TSTAMP_SRC_EOF,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE_MPLANE,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  VB2_DMABUF,
  VB2_MMAP,
  VB2_USERPTR,
  type Vb2Buffer,
  Vb2BufferState,
  type Vb2Queue,
  type VideoDevice,
  v4l2DeviceRegister,
  v4l2DeviceUnregister,
  v4l2FormatPlaneSizes,
  vb2BufferDone,
  vb2DmaContigMemops,
  vb2DmaContigPlaneDmaAddr,
  vb2PlaneSize,
  vb2QueueInit,
  vb2SetPlanePayload,
} from "@umm/v4l2-videobuf";
import type { FimcCaptureIrq, FimcHw } from "./fimc-hw.js";
import type { TestPatternSensor } from "./sensor.js";

/** The capture node's buffer type. */
const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

/** The FIMC camera capture driver of one FIMC instance. */
export class FimcCapture {
  /** the kernel */
  readonly kernel: Kernel;
  /** the FIMC's device */
  readonly dev: Device;
  /** the hardware */
  readonly hw: FimcHw;
  /** the sensor feeding it */
  readonly sensor: TestPatternSensor;
  /** the shared vb2 queue */
  readonly queue: Vb2Queue;
  /** the video node */
  readonly vdev: VideoDevice;
  /** buffers the driver owns, in DMA order (the first is the FIMC's programmed output) */
  readonly active: Vb2Buffer[] = [];
  #width = 0;
  #height = 0;

  /** Registers the node (probe). */
  constructor(dev: Device, hw: FimcHw, sensor: TestPatternSensor) {
    this.kernel = dev.kernel;
    this.dev = dev;
    this.hw = hw;
    this.sensor = sensor;
    const self = this;
    this.queue = vb2QueueInit(this.kernel, {
      type: CAP,
      ioModes: VB2_MMAP | VB2_USERPTR | VB2_DMABUF,
      memOps: vb2DmaContigMemops,
      dev,
      name: `${dev.name}-capture`,
      timestampFlags: V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | V4L2_BUF_FLAG_TSTAMP_SRC_EOF,
      ops: {
        queueSetup(q, s) {
          const sizes = v4l2FormatPlaneSizes(self.vdev.formats.get(q.type));
          if (s.numPlanes) {
            if (s.numPlanes !== sizes.length) {
              throw new KernelError(
                "EINVAL",
                `${dev.name}: ${s.numPlanes} planes, the format has ${sizes.length}`,
              );
            }
            sizes.forEach((n, i) => {
              if (s.sizes[i]! < n)
                throw new KernelError("EINVAL", `${dev.name}: plane ${i} smaller than ${n}`);
            });
            return;
          }
          s.numPlanes = sizes.length;
          sizes.forEach((n, i) => {
            s.sizes[i] = n;
          });
        },
        bufPrepare(vb) {
          const sizes = v4l2FormatPlaneSizes(self.vdev.formats.get(vb.queue.type));
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
            vb2SetPlanePayload(vb, p, sizes[p]!);
          }
        },
        bufQueue(vb) {
          self.active.push(vb);
          if (self.hw.capturing && !self.hw.captureOutput) self.#program();
        },
        startStreaming(q) {
          const f = self.vdev.formats.get(q.type).fmt.pix_mp!;
          try {
            self.#width = f.width;
            self.#height = f.height;
            self.hw.captureStart(self.sensor, f.width, f.height, (e) => self.#irq(e));
          } catch (e) {
            for (const vb of self.active.splice(0)) vb2BufferDone(vb, Vb2BufferState.QUEUED);
            throw e;
          }
          self.#program();
        },
        stopStreaming() {
          self.hw.captureStop();
          for (const vb of self.active.splice(0)) vb2BufferDone(vb, Vb2BufferState.ERROR);
        },
      },
    });
    this.vdev = v4l2DeviceRegister(this.kernel, {
      name: dev.name,
      driver: "exynos4-fimc",
      busInfo: `platform:${dev.name}`,
      deviceCaps: V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_STREAMING,
      queue: this.queue,
      formats: {
        capture: {
          pixelformats: [V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_NV12],
          defaultWidth: Math.min(640, sensor.maxWidth),
          defaultHeight: Math.min(480, sensor.maxHeight),
          maxWidth: sensor.maxWidth,
          maxHeight: sensor.maxHeight,
          widthAlign: 16,
          heightAlign: 2,
        },
      },
    });
  }

  /** Programs the first owned buffer as the FIMC's output. */
  #program(): void {
    const vb = this.active[0];
    if (!vb) {
      this.hw.captureSetOutput(null);
      return;
    }
    const y = vb2DmaContigPlaneDmaAddr(vb, 0);
    const uv = vb.numPlanes > 1 ? vb2DmaContigPlaneDmaAddr(vb, 1) : y + this.#width * this.#height;
    this.hw.captureSetOutput({ yDaddr: y, uvDaddr: uv });
  }

  /** The frame-end interrupt: the first owned buffer holds frame `e.seq`. */
  #irq(e: FimcCaptureIrq): void {
    const vb = this.active.shift();
    if (vb) {
      vb.sequence = e.seq;
      vb.timestamp = this.kernel.clock.now();
      vb2BufferDone(vb, Vb2BufferState.DONE);
    }
    this.#program();
  }

  /** Unregisters the node (remove): streaming stops, the queue is released. */
  remove(): void {
    this.hw.captureStop();
    v4l2DeviceUnregister(this.vdev);
  }
}

/** The pixel formats the capture node offers, default first. */
export const FIMC_CAPTURE_FORMATS: readonly number[] = Object.freeze([V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_NV12]);
