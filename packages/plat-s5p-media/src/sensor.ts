/**
 * The test-pattern sensor: a camera sensor model (an I²C sensor in the kernel, a v4l2 subdev)
 * that, while streaming, produces frame N of the test pattern (`pattern.ts`) every frame
 * interval of virtual time and hands it to the capture interface it streams to (the FIMC). It
 * does no DMA itself: the FIMC writes what it receives into memory.
 *
 * Properties (all optional): `umm,max-width` and `umm,max-height` (default 1920 × 1080),
 * `umm,frame-rate` (frames per second, default 30).
 *
 * @module
 */
import {
  type Device,
  type DeviceDriver,
  devGetDrvdata,
  devSetDrvdata,
  KernelError,
  NSEC_PER_SEC,
  type TimerHandle,
} from "@umm/kernel-core";
import { propU32 } from "./common.js";
import { checkPatternSize, TestPatternGenerator } from "./pattern.js";

/** The sensor's compatible string. */
export const TEST_PATTERN_SENSOR_COMPATIBLE = "umm,test-pattern-sensor";

/** Receives each frame: its number (from 0 at stream on) and the NV12 bytes (valid during the call). */
export type SensorFrameSink = (n: number, frame: Uint8Array) => void;

/** A test-pattern sensor bound to its device. */
export class TestPatternSensor {
  /** the sensor's device */
  readonly dev: Device;
  /** the widest frame it produces */
  readonly maxWidth: number;
  /** the tallest frame it produces */
  readonly maxHeight: number;
  /** nanoseconds between frames */
  readonly frameIntervalNs: number;
  /** frames produced since probe */
  framesProduced = 0;
  #gen: TestPatternGenerator | null = null;
  #timer: TimerHandle | null = null;
  #sink: SensorFrameSink | null = null;
  #t0 = 0;
  #n = 0;
  #removed = false;

  /** @internal the driver's probe makes it */
  constructor(dev: Device, maxWidth: number, maxHeight: number, fps: number) {
    this.dev = dev;
    this.maxWidth = maxWidth;
    this.maxHeight = maxHeight;
    this.frameIntervalNs = NSEC_PER_SEC / fps;
  }

  /** True while streaming. */
  get streaming(): boolean {
    return this.#sink !== null;
  }

  /** The frame size while streaming (else the last one), or null before the first stream. */
  get size(): { width: number; height: number } | null {
    return this.#gen ? { width: this.#gen.width, height: this.#gen.height } : null;
  }

  /**
   * `s_stream(1)`: frames of `width` × `height` go to `sink`, frame 0 one interval from now.
   * EINVAL for a size the sensor cannot produce; EBUSY while already streaming; ENODEV after
   * the driver was unbound.
   */
  streamOn(width: number, height: number, sink: SensorFrameSink): void {
    if (this.#removed) throw new KernelError("ENODEV", `${this.dev.name}: the sensor driver was unbound`);
    if (this.#sink) throw new KernelError("EBUSY", `${this.dev.name}: already streaming`);
    checkPatternSize(width, height);
    if (width > this.maxWidth || height > this.maxHeight) {
      throw new KernelError(
        "EINVAL",
        `${this.dev.name}: ${width}x${height} is larger than the sensor's ${this.maxWidth}x${this.maxHeight}`,
      );
    }
    if (!this.#gen || this.#gen.width !== width || this.#gen.height !== height) {
      this.#gen = new TestPatternGenerator(width, height);
    }
    this.#sink = sink;
    this.#n = 0;
    this.#t0 = this.dev.kernel.clock.now();
    this.#schedule();
  }

  /** `s_stream(0)`: no more frames. Nothing when not streaming. */
  streamOff(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#sink = null;
  }

  /** Frame `n` at the current size, rendered by the sensor's generator (valid until the next frame). */
  frame(n: number): Uint8Array {
    if (!this.#gen) throw new KernelError("EINVAL", `${this.dev.name}: no frame size set (never streamed)`);
    return this.#gen.render(n);
  }

  #schedule(): void {
    const at = this.#t0 + Math.round((this.#n + 1) * this.frameIntervalNs);
    this.#timer = this.dev.kernel.clock.at(at, () => this.#tick(), `${this.dev.name} frame`);
  }

  #tick(): void {
    const sink = this.#sink;
    if (!sink || !this.#gen) return;
    const n = this.#n++;
    this.framesProduced++;
    this.#schedule();
    sink(n, this.#gen.render(n));
  }

  /** @internal remove */
  _remove(): void {
    this.streamOff();
    this.#removed = true;
  }
}

/** The sensor bound to `dev`, or null. */
export function sensorOf(dev: Device): TestPatternSensor | null {
  const d = devGetDrvdata<unknown>(dev);
  return d instanceof TestPatternSensor ? d : null;
}

/**
 * The test-pattern sensor's platform driver (compatible "umm,test-pattern-sensor"). Probe reads
 * `umm,max-width`, `umm,max-height` (16..8192, even) and `umm,frame-rate` (1..240); EINVAL
 * names a bad one.
 */
export const TEST_PATTERN_SENSOR_DRIVER: DeviceDriver = Object.freeze({
  name: "umm-test-pattern-sensor",
  compatible: Object.freeze([TEST_PATTERN_SENSOR_COMPATIBLE]),
  probe(dev: Device): void {
    const w = propU32(dev, "umm,max-width", 1920, 16, 8192);
    const h = propU32(dev, "umm,max-height", 1080, 16, 8192);
    if (w % 2 || h % 2) {
      throw new KernelError("EINVAL", `${dev.name}: umm,max-width/height ${w}x${h} must be even`);
    }
    const fps = propU32(dev, "umm,frame-rate", 30, 1, 240);
    devSetDrvdata(dev, new TestPatternSensor(dev, w, h, fps));
  },
  remove(dev: Device): void {
    sensorOf(dev)?._remove();
  },
});
