/**
 * The FIMC hardware model: one camera interface / scaler / colour-space converter instance with
 * one bus-master port (its SysMMU, or direct). Drivers program it through these methods, which
 * stand for its registers (output addresses CIOYSA/CIOCBSA, input addresses CIIYSA/CIICBSA,
 * sizes, the start bit) and get its frame-end interrupt as a callback.
 *
 * - **Camera path.** Streaming from a sensor, at each frame the FIMC writes the frame by DMA to
 *   the programmed output addresses (Y, then CbCr at its own address: NV12 in one buffer or
 *   NV12M in two) and raises the frame-end interrupt; with no output programmed the frame is
 *   dropped (`fimc_capture_drop`).
 * - **Mem-to-mem path.** A job reads an NV12 frame by DMA from the input addresses, scales and
 *   converts it (`convert.ts`) and writes XRGB8888 by DMA to the output address. The job takes
 *   max(input, output) pixels × `FIMC_NS_PER_PIXEL` of virtual time; its bytes move when it
 *   completes, so a cancelled job moves nothing.
 *
 * @module
 */
import { type Device, KernelError, type TimerHandle, type Tracepoint } from "@umm/kernel-core";
import type { DmaPort } from "@umm/mm-core";
import { type Nv12Image, nv12ToXrgb } from "./convert.js";
import type { TestPatternSensor } from "./sensor.js";
import "./trace.js";

/** Virtual nanoseconds per pixel of a mem-to-mem job (a 160 MHz pixel clock, one pixel a cycle). */
export const FIMC_NS_PER_PIXEL = 6.25;

/** Where the camera path writes a frame: the Y and CbCr planes' device addresses. */
export interface FimcCaptureOutput {
  readonly yDaddr: number;
  readonly uvDaddr: number;
}

/** What the frame-end interrupt reports. */
export interface FimcCaptureIrq {
  /** the sensor's frame number */
  readonly seq: number;
  /** the output the frame went to */
  readonly out: FimcCaptureOutput;
  /** bytes written */
  readonly bytes: number;
}

/** One mem-to-mem job. */
export interface FimcM2mJob {
  /** input: NV12 planes' device addresses and pitches, size in pixels */
  readonly srcY: number;
  readonly srcUv: number;
  readonly srcYPitch: number;
  readonly srcUvPitch: number;
  readonly srcWidth: number;
  readonly srcHeight: number;
  /** output: XRGB8888 device address, bytes per line, size in pixels */
  readonly dst: number;
  readonly dstPitch: number;
  readonly dstWidth: number;
  readonly dstHeight: number;
}

/** A FIMC instance. */
export class FimcHw {
  /** the FIMC's device */
  readonly dev: Device;
  /** its bus-master port */
  readonly port: DmaPort;
  /** frames written by the camera path */
  capturedFrames = 0;
  /** frames dropped for want of an output */
  droppedFrames = 0;
  /** mem-to-mem jobs completed */
  m2mJobs = 0;
  #sensor: TestPatternSensor | null = null;
  #width = 0;
  #height = 0;
  #out: FimcCaptureOutput | null = null;
  #irq: ((e: FimcCaptureIrq) => void) | null = null;
  #job: { timer: TimerHandle; job: FimcM2mJob; done: (ok: boolean) => void } | null = null;
  /** two input stagings, used in turn: the other holds the previous job's input */
  #src: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)];
  #cur: 0 | 1 = 0;
  #dst = new Uint32Array(0);
  /** the previous job's input, whose conversion the output staging holds, and its geometry */
  #prev: { key: string; image: Nv12Image } | null = null;

  readonly #tpFrame: Tracepoint<"fimc_capture_frame">;
  readonly #tpJob: Tracepoint<"fimc_m2m_job">;

  /** The model of `dev`'s FIMC, mastering through `port`. */
  constructor(dev: Device, port: DmaPort) {
    this.dev = dev;
    this.port = port;
    this.#tpFrame = dev.kernel.trace.tracepoint("fimc_capture_frame");
    this.#tpJob = dev.kernel.trace.tracepoint("fimc_m2m_job");
  }

  // ---- camera path ----------------------------------------------------------------------------

  /** True while the camera path streams. */
  get capturing(): boolean {
    return this.#sensor !== null;
  }

  /**
   * Starts the camera path: `sensor` streams `width` × `height` frames into the FIMC, whose
   * frame-end interrupt calls `irq`. EBUSY while the FIMC is capturing or running a job; the
   * sensor's errors.
   */
  captureStart(
    sensor: TestPatternSensor,
    width: number,
    height: number,
    irq: (e: FimcCaptureIrq) => void,
  ): void {
    if (this.#sensor || this.#job) throw new KernelError("EBUSY", `${this.dev.name}: the FIMC is busy`);
    sensor.streamOn(width, height, (n, frame) => this.#frame(n, frame));
    this.#sensor = sensor;
    this.#width = width;
    this.#height = height;
    this.#irq = irq;
  }

  /** Programs (or clears, with null) the output addresses of the next frame. */
  captureSetOutput(out: FimcCaptureOutput | null): void {
    this.#out = out;
  }

  /** The output programmed for the next frame, or null. */
  get captureOutput(): FimcCaptureOutput | null {
    return this.#out;
  }

  /** Stops the camera path (the sensor stops streaming); the output is cleared. */
  captureStop(): void {
    this.#sensor?.streamOff();
    this.#sensor = null;
    this.#out = null;
    this.#irq = null;
  }

  #frame(n: number, frame: Uint8Array): void {
    const out = this.#out;
    const kernel = this.dev.kernel;
    if (!out) {
      this.droppedFrames++;
      kernel.trace.emit("fimc_capture_drop", { device: this.dev.name, seq: n });
      return;
    }
    const ySize = this.#width * this.#height;
    if (out.uvDaddr === out.yDaddr + ySize) {
      this.port.write(out.yDaddr, frame, 0, frame.length);
    } else {
      this.port.write(out.yDaddr, frame, 0, ySize);
      this.port.write(out.uvDaddr, frame, ySize, frame.length - ySize);
    }
    this.capturedFrames++;
    this.#out = null;
    const tp = this.#tpFrame;
    if (tp.enabled) tp.emit({ device: this.dev.name, seq: n, daddr: out.yDaddr, bytes: frame.length });
    this.#irq?.({ seq: n, out, bytes: frame.length });
  }

  // ---- mem-to-mem path ------------------------------------------------------------------------

  /** True while a mem-to-mem job runs. */
  get m2mBusy(): boolean {
    return this.#job !== null;
  }

  /**
   * Starts a mem-to-mem job; `done(true)` when it completed (its bytes written), `done(false)`
   * when its DMA faulted (nothing or part written; the fault is the SysMMU's). EBUSY while
   * another job runs or the camera path streams.
   */
  m2mRun(job: FimcM2mJob, done: (ok: boolean) => void): void {
    if (this.#sensor || this.#job) throw new KernelError("EBUSY", `${this.dev.name}: the FIMC is busy`);
    const pixels = Math.max(job.srcWidth * job.srcHeight, job.dstWidth * job.dstHeight);
    const timer = this.dev.kernel.clock.after(
      Math.round(pixels * FIMC_NS_PER_PIXEL),
      () => this.#complete(),
      `${this.dev.name} m2m job`,
    );
    this.#job = { timer, job, done };
  }

  /** Stops the running job (nothing is written); returns whether one ran. `done` is not called. */
  m2mCancel(): boolean {
    const j = this.#job;
    if (!j) return false;
    j.timer.cancel();
    this.#job = null;
    return true;
  }

  #complete(): void {
    const j = this.#job;
    if (!j) return;
    this.#job = null;
    let ok = true;
    try {
      this.#process(j.job);
      this.m2mJobs++;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      ok = false;
    }
    j.done(ok);
  }

  #process(job: FimcM2mJob): void {
    const { srcWidth: sw, srcHeight: sh } = job;
    const ySize = job.srcYPitch * (sh - 1) + sw;
    const uvRows = Math.ceil(sh / 2);
    const uvSize = job.srcUvPitch * (uvRows - 1) + Math.ceil(sw / 2) * 2;
    const contiguous = job.srcUv === job.srcY + job.srcYPitch * sh;
    const need = contiguous ? job.srcYPitch * sh + uvSize : ySize + uvSize;
    const words = job.dstPitch >> 2;
    const dstWords = words * (job.dstHeight - 1) + job.dstWidth;
    const key = `${sw}x${sh}/${job.srcYPitch}/${job.srcUvPitch}/${contiguous}>${job.dstWidth}x${job.dstHeight}/${words}`;
    // the input stagings are used in turn; the output staging keeps the last result
    const cur: 0 | 1 = this.#cur === 0 ? 1 : 0;
    if (this.#src[cur].length < need) this.#src[cur] = new Uint8Array(need);
    if (this.#dst.length < dstWords) {
      this.#dst = new Uint32Array(words * job.dstHeight);
      this.#prev = null;
    }
    const src = this.#src[cur];
    let y: Uint8Array;
    let uv: Uint8Array;
    this.#prev = this.#prev?.key === key ? this.#prev : null;
    const prev = this.#prev;
    this.#prev = null; // until this job's result is complete in the staging
    if (contiguous) {
      this.port.read(job.srcY, src, 0, need);
      y = src.subarray(0, job.srcYPitch * sh);
      uv = src.subarray(job.srcYPitch * sh, need);
    } else {
      this.port.read(job.srcY, src, 0, ySize);
      this.port.read(job.srcUv, src, ySize, uvSize);
      y = src.subarray(0, ySize);
      uv = src.subarray(ySize, ySize + uvSize);
    }
    this.#cur = cur;
    const dst = this.#dst;
    const image: Nv12Image = { y, yPitch: job.srcYPitch, uv, uvPitch: job.srcUvPitch, width: sw, height: sh };
    // lines whose input did not change since the previous job are already in the staging
    nv12ToXrgb(
      image,
      { data: dst, pitch: words, width: job.dstWidth, height: job.dstHeight },
      prev?.image ?? null,
    );
    this.#prev = { key, image };
    this.port.write(job.dst, new Uint8Array(dst.buffer, 0, dstWords * 4));
    const tp = this.#tpJob;
    if (tp.enabled) {
      tp.emit({
        device: this.dev.name,
        src: job.srcY,
        dst: job.dst,
        width: job.dstWidth,
        height: job.dstHeight,
      });
    }
  }
}
