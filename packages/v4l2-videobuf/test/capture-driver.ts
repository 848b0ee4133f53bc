// A test capture driver: a kernel-core Device with a DMA port (direct or behind a SysMMU) that,
// on a virtual-time frame timer, writes a known pattern (frame number in the bytes) by DMA into
// the next queued buffer's device address and calls vb2BufferDone.
import { tryCpuOf } from "@umm/arch-arm";
import type { Device, Kernel, TimerHandle } from "@umm/kernel-core";
import { KernelError } from "@umm/kernel-core";
import { type DmaPort, mmOf } from "@umm/mm-core";
import {
  V4L2_BUF_FLAG_LAST,
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_CAPTURE_MPLANE,
  V4L2_PIX_FMT_GREY,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  VB2_DMABUF,
  VB2_MMAP,
  VB2_USERPTR,
  type Vb2Buffer,
  Vb2BufferState,
  type Vb2MemOps,
  type Vb2Ops,
  type Vb2Queue,
  type Vb2QueueOpts,
  type VideoDevice,
  v4l2DeviceRegister,
  v4l2FormatPlaneSizes,
  vb2BufferDone,
  vb2DmaContigMemops,
  vb2DmaContigPlaneDmaAddr,
  vb2DmaSgMemops,
  vb2DmaSgPlaneDesc,
  vb2PlaneSize,
  vb2PlaneVaddr,
  vb2QueueInit,
  vb2SetPlanePayload,
  vb2VmallocMemops,
} from "../src/index.js";
import { frameByte, frameHeader } from "./helpers.js";

/** Options of `TestCapture`. */
export interface TestCaptureOpts {
  readonly name?: string;
  /** the memory back end (default dma-contig) */
  readonly memops?: "dma-contig" | "dma-sg" | "vmalloc";
  /** multi-planar API (default false) */
  readonly mplane?: boolean;
  /** ns between frames (default 33.3 ms) */
  readonly frameIntervalNs?: number;
  /** `min_queued_buffers` (default 0) */
  readonly minQueuedBuffers?: number;
  /** io modes (default MMAP | USERPTR | DMABUF) */
  readonly ioModes?: number;
  /** honour cache hints and NON_COHERENT */
  readonly allowCacheHints?: boolean;
  /** the REQBUFS(0)-while-mapped behaviour (default true: orphan) */
  readonly supportsOrphanedBufs?: boolean;
  /** pixel formats (default NV12 / NV12M, GREY) */
  readonly pixelformats?: readonly number[];
  /** default size (default 320 × 240) */
  readonly width?: number;
  readonly height?: number;
  /** extra Vb2QueueOpts */
  readonly queue?: Partial<Vb2QueueOpts>;
  /** the node has VIDIOC_REMOVE_BUFS (default true) */
  readonly removeBufs?: boolean;
  /** DMA these bytes into each plane instead of the test pattern (dma-contig; benchmarks) */
  readonly payload?: readonly Uint8Array[];
  /** `startStreaming` throws this errno */
  readonly failStart?: "EIO" | "ENOMEM";
}

/** The capture device model and its driver. */
export class TestCapture {
  readonly kernel: Kernel;
  readonly dev: Device;
  readonly port: DmaPort;
  readonly queue: Vb2Queue;
  readonly vdev: VideoDevice;
  readonly memops: NonNullable<TestCaptureOpts["memops"]>;
  /** buffers the driver owns, in DMA order */
  readonly active: Vb2Buffer[] = [];
  /** the next frame number */
  frame = 0;
  /** frames whose buffer gets V4L2_BUF_FLAG_LAST */
  lastFrame = -1;
  /** the next completion is an error */
  failNext = false;
  /** calls the driver saw, for ordering checks */
  readonly log: string[] = [];
  readonly frameIntervalNs: number;
  #timer: TimerHandle | null = null;
  #failStart: TestCaptureOpts["failStart"];
  #payload: TestCaptureOpts["payload"];

  constructor(kernel: Kernel, dev: Device, port: DmaPort, opts: TestCaptureOpts = {}) {
    this.kernel = kernel;
    this.dev = dev;
    this.port = port;
    this.memops = opts.memops ?? "dma-contig";
    this.frameIntervalNs = opts.frameIntervalNs ?? 33_333_333;
    this.#failStart = opts.failStart;
    this.#payload = opts.payload;
    const mplane = opts.mplane ?? false;
    const type = mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE;
    const memOps: Vb2MemOps =
      this.memops === "dma-sg"
        ? vb2DmaSgMemops
        : this.memops === "vmalloc"
          ? vb2VmallocMemops
          : vb2DmaContigMemops;
    const self = this;
    const ops: Vb2Ops = {
      queueSetup(q, s) {
        self.log.push(`queue_setup(${s.numBuffers},${s.numPlanes})`);
        const sizes = v4l2FormatPlaneSizes(self.vdev.formats.get(q.type));
        if (s.numPlanes) {
          if (s.numPlanes !== sizes.length) {
            throw new KernelError(
              "EINVAL",
              `queue_setup: ${s.numPlanes} planes, the format has ${sizes.length}`,
            );
          }
          for (let i = 0; i < sizes.length; i++) {
            if (s.sizes[i]! < sizes[i]!) throw new KernelError("EINVAL", `queue_setup: plane ${i} too small`);
          }
          return;
        }
        s.numPlanes = sizes.length;
        sizes.forEach((n, i) => {
          s.sizes[i] = n;
        });
      },
      bufInit(vb) {
        self.log.push(`buf_init(${vb.index})`);
      },
      bufCleanup(vb) {
        self.log.push(`buf_cleanup(${vb.index})`);
      },
      bufPrepare(vb) {
        const sizes = v4l2FormatPlaneSizes(self.vdev.formats.get(vb.queue.type));
        for (let p = 0; p < vb.numPlanes; p++) {
          if (vb2PlaneSize(vb, p) < sizes[p]!) {
            throw new KernelError(
              "EINVAL",
              `buf_prepare: plane ${p} of ${vb2PlaneSize(vb, p)} < ${sizes[p]}`,
            );
          }
          vb2SetPlanePayload(vb, p, sizes[p]!);
        }
      },
      bufFinish(vb) {
        self.log.push(`buf_finish(${vb.index})`);
      },
      bufQueue(vb) {
        self.log.push(`buf_queue(${vb.index})`);
        self.active.push(vb);
      },
      startStreaming(q, count) {
        self.log.push(`start_streaming(${count})`);
        if (self.#failStart) {
          for (const vb of self.active.splice(0)) vb2BufferDone(vb, Vb2BufferState.QUEUED);
          throw new KernelError(self.#failStart, "start_streaming: sensor does not answer");
        }
        void q;
        self.#schedule();
      },
      stopStreaming() {
        self.log.push("stop_streaming");
        self.#timer?.cancel();
        self.#timer = null;
        for (const vb of self.active.splice(0)) vb2BufferDone(vb, Vb2BufferState.ERROR);
      },
    };
    this.queue = vb2QueueInit(kernel, {
      type,
      ioModes: opts.ioModes ?? VB2_MMAP | VB2_USERPTR | VB2_DMABUF,
      ops,
      memOps,
      dev: this.memops === "vmalloc" ? null : dev,
      name: `${opts.name ?? dev.name}-cap`,
      minQueuedBuffers: opts.minQueuedBuffers ?? 0,
      timestampFlags: V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
      allowCacheHints: opts.allowCacheHints ?? false,
      supportsOrphanedBufs: opts.supportsOrphanedBufs ?? true,
      ...opts.queue,
    });
    const pix =
      opts.pixelformats ??
      (mplane ? [V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_NV12] : [V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_GREY]);
    this.vdev = v4l2DeviceRegister(kernel, {
      name: opts.name ?? dev.name,
      driver: "vb2-test-cap",
      deviceCaps: (mplane ? V4L2_CAP_VIDEO_CAPTURE_MPLANE : V4L2_CAP_VIDEO_CAPTURE) | V4L2_CAP_STREAMING,
      queue: this.queue,
      removeBufs: opts.removeBufs ?? true,
      formats: {
        capture: {
          pixelformats: pix,
          defaultWidth: opts.width ?? 320,
          defaultHeight: opts.height ?? 240,
          maxWidth: 4096,
          maxHeight: 4096,
        },
      },
    });
  }

  #schedule(): void {
    this.#timer = this.kernel.clock.after(this.frameIntervalNs, () => this.#tick(), `${this.dev.name} frame`);
  }

  #tick(): void {
    if (this.active.length) this.completeNext();
    this.#schedule();
  }

  /** The DMA of one frame into the first active buffer, then `vb2BufferDone`. False when none. */
  completeNext(): boolean {
    const vb = this.active.shift();
    if (!vb) return false;
    const frame = this.frame++;
    for (let p = 0; p < vb.numPlanes; p++) this.#writePlane(vb, p, frame);
    vb.timestamp = this.kernel.clock.now();
    vb.sequence = frame;
    if (frame === this.lastFrame) vb.flags |= V4L2_BUF_FLAG_LAST;
    const fail = this.failNext;
    this.failNext = false;
    vb2BufferDone(vb, fail ? Vb2BufferState.ERROR : Vb2BufferState.DONE);
    return true;
  }

  #writePlane(vb: Vb2Buffer, plane: number, frame: number): void {
    const size = vb.planes[plane]!.bytesused || vb2PlaneSize(vb, plane);
    const payload = this.#payload?.[plane];
    if (payload && this.memops === "dma-contig") {
      this.port.write(vb2DmaContigPlaneDmaAddr(vb, plane), payload, 0, Math.min(size, payload.length));
      return;
    }
    const value = frameByte(frame, plane);
    const header = frameHeader(frame, plane);
    if (this.memops === "dma-contig") {
      const daddr = vb2DmaContigPlaneDmaAddr(vb, plane);
      this.port.fill(daddr, value, size);
      this.port.write(daddr, header);
    } else if (this.memops === "dma-sg") {
      const segs = vb2DmaSgPlaneDesc(vb, plane).dmaSegments();
      let left = size;
      for (const s of segs) {
        const n = Math.min(left, s.dmaLength);
        if (n <= 0) break;
        this.port.fill(s.dmaAddress, value, n);
        left -= n;
      }
      this.port.write(segs[0]!.dmaAddress, header);
    } else {
      // a CPU-copy driver: memset + header through the kernel mapping (vmalloc)
      const kaddr = vb2PlaneVaddr(vb, plane)!;
      const cpu = tryCpuOf(this.kernel)!;
      const ks = mmOf(this.kernel).kspace;
      cpu.fill(ks, kaddr, value, size);
      cpu.write(ks, kaddr, header);
    }
  }
}
