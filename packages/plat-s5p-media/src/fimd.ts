/**
 * The FIMD display controller (drm/exynos/exynos_drm_fimd.c) as a DRM device: the hardware
 * model is drm-gem's `DrmDisplayHw` — at each vblank the core hands it the scanout frame and it
 * reads every line by DMA through its bus-master port (its SysMMU), XRGB8888 / ARGB8888 as one
 * plane, NV12 as a Y and a CbCr plane, keeping the last frame it read (`fimdLastFrame`; a DMA
 * fault ends a fetch, and what was not fetched goes out black). The
 * driver registers the DRM device ("exynos", one 1920×1080@60 mode) at probe after the DMA
 * setup exynos_drm_register_dma does (32-bit mask, segments up to 4 GiB − 1 behind the SysMMU,
 * so imported buffers map as one D.V range).
 *
 * @module
 */
import {
  DRM_FORMAT_ARGB8888,
  DRM_FORMAT_NV12,
  DRM_FORMAT_XRGB8888,
  DRM_MODE_1080P60,
  type DrmDevice,
  type DrmDisplayHw,
  type DrmModeModeinfo,
  type DrmScanout,
  drmDevRegister,
  drmDevUnregister,
} from "@umm/drm-gem";
import {
  type Device,
  type DeviceDriver,
  devGetDrvdata,
  devSetDrvdata,
  KernelError,
  type Tracepoint,
} from "@umm/kernel-core";
import { type DmaPort, devDmaPort } from "@umm/mm-core";
import { mediaDmaSetup } from "./common.js";
import "./trace.js";

/** The compatible strings the FIMD driver binds. */
export const FIMD_COMPATIBLE: readonly string[] = Object.freeze([
  "samsung,exynos4210-fimd",
  "samsung,s5pv210-fimd",
]);

/** The formats the FIMD model scans out. */
export const FIMD_FORMATS: readonly number[] = Object.freeze([
  DRM_FORMAT_XRGB8888,
  DRM_FORMAT_ARGB8888,
  DRM_FORMAT_NV12,
]);

/** A frame the FIMD read. */
export interface FimdFrame {
  /** the fourcc (`DRM_FORMAT_*`) */
  readonly format: number;
  /** pixels and lines */
  readonly width: number;
  readonly height: number;
  /**
   * the pixels, tightly packed: width × 4 bytes a line for XRGB8888/ARGB8888; for NV12 the Y
   * plane (width bytes a line) then the CbCr plane (width bytes a line, height / 2 lines)
   */
  readonly data: Uint8Array;
  /** the vblank count of the frame and its virtual time (ns) */
  readonly seq: number;
  readonly time: number;
  /** the framebuffer id shown */
  readonly fb: number;
}

/** The FIMD hardware model: a `DrmDisplayHw` that reads each frame by DMA. */
export class FimdHw implements DrmDisplayHw {
  /** the FIMD's device */
  readonly dev: Device;
  /** its bus-master port */
  readonly port: DmaPort;
  /** frames read since probe */
  frames = 0;
  /** the CRTC is on */
  enabled = false;
  #buf: Uint8Array = new Uint8Array(0);
  #last: Omit<FimdFrame, "data"> | null = null;
  #lastBytes = 0;

  readonly #tp: Tracepoint<"fimd_scanout">;

  /** The model of `dev`'s FIMD, mastering through `port`. */
  constructor(dev: Device, port: DmaPort) {
    this.dev = dev;
    this.port = port;
    this.#tp = dev.kernel.trace.tracepoint("fimd_scanout");
  }

  /** `mode_valid`: the FIMD drives at most 4096 × 4096 (no interlace). */
  readonly modeValid = (mode: Readonly<DrmModeModeinfo>): string | null =>
    mode.hdisplay > 4096 || mode.vdisplay > 4096
      ? `${mode.hdisplay}x${mode.vdisplay} is beyond 4096x4096`
      : null;

  /** `atomic_enable`. */
  readonly enable = (): void => {
    this.enabled = true;
  };

  /** `atomic_disable`. */
  readonly disable = (): void => {
    this.enabled = false;
  };

  /** One refresh: reads `frame` by DMA (null: the plane is off, nothing is read). */
  readonly scanout = (frame: DrmScanout | null): void => {
    if (!frame) return;
    let bytes = 0;
    for (const p of frame.planes) bytes += p.rowBytes * p.rows;
    if (this.#buf.length < bytes) this.#buf = new Uint8Array(bytes);
    const buf = this.#buf;
    // the line buffer is overwritten: until this frame is fetched there is no last frame
    this.#last = null;
    let o = 0;
    try {
      for (const p of frame.planes) {
        if (p.pitch === p.rowBytes) {
          this.port.read(p.daddr, buf, o, p.rowBytes * p.rows);
          o += p.rowBytes * p.rows;
        } else {
          for (let r = 0; r < p.rows; r++, o += p.rowBytes)
            this.port.read(p.daddr + r * p.pitch, buf, o, p.rowBytes);
        }
      }
    } catch (e) {
      // a DMA fault ends the fetch: what was not fetched goes out black (zero), and that frame
      // is what the panel shows; the fault goes on to the DRM core, which WARNs
      buf.fill(0, o, bytes);
      this.#keep(frame, bytes);
      throw e;
    }
    this.#keep(frame, bytes);
  };

  #keep(frame: DrmScanout, bytes: number): void {
    this.#lastBytes = bytes;
    this.#last = {
      format: frame.format,
      width: frame.width,
      height: frame.height,
      seq: frame.seq,
      time: frame.time,
      fb: frame.fb,
    };
    this.frames++;
    const tp = this.#tp;
    if (tp.enabled) tp.emit({ device: this.dev.name, seq: frame.seq, bytes });
  }

  /** The last frame shown (a copy; black from where a DMA fault ended its fetch), or null before the first. */
  lastFrame(): FimdFrame | null {
    const l = this.#last;
    return l ? { ...l, data: this.#buf.slice(0, this.#lastBytes) } : null;
  }
}

/** A probed FIMD: its hardware model and DRM device. */
export interface FimdDevice {
  /** the FIMD's device */
  readonly dev: Device;
  /** the display model */
  readonly hw: FimdHw;
  /** the DRM device (`/dev/dri/cardN`) */
  readonly drm: DrmDevice;
}

/** The FIMD bound to `dev`, or null. */
export function fimdOf(dev: Device): FimdDevice | null {
  const d = devGetDrvdata<unknown>(dev);
  return d && typeof d === "object" && (d as { hw?: unknown }).hw instanceof FimdHw
    ? (d as FimdDevice)
    : null;
}

/**
 * The last frame `dev`'s FIMD scanned out (pixels, size, format), for writing it as an image;
 * null before the first vblank with a framebuffer. ENODEV when no FIMD driver is bound to `dev`.
 */
export function fimdLastFrame(dev: Device): FimdFrame | null {
  const f = fimdOf(dev);
  if (!f) throw new KernelError("ENODEV", `${dev.name}: no FIMD driver is bound`);
  return f.hw.lastFrame();
}

/**
 * The FIMD platform driver: DMA setup, the display model on port 0, the DRM device "exynos"
 * with a 1920×1080@60 mode and the formats of `FIMD_FORMATS`. ENODEV when the board wired no
 * DMA port; EIO when the mask is refused.
 */
export const FIMD_DRIVER: DeviceDriver = Object.freeze({
  name: "exynos4-fb",
  compatible: FIMD_COMPATIBLE,
  probe(dev: Device): void {
    const port = devDmaPort(dev, 0);
    mediaDmaSetup(dev, "iommu");
    const hw = new FimdHw(dev, port);
    const drm = drmDevRegister(dev.kernel, {
      name: "exynos",
      dev,
      driver: {
        desc: "Samsung SoC DRM",
        date: "20180330",
        version: [1, 1, 0],
        modes: [DRM_MODE_1080P60],
        planeFormats: FIMD_FORMATS,
        maxWidth: 4096,
        maxHeight: 4096,
        display: hw,
      },
    });
    devSetDrvdata(dev, { dev, hw, drm } satisfies FimdDevice);
  },
  remove(dev: Device): void {
    const f = fimdOf(dev);
    if (f) drmDevUnregister(f.drm);
  },
});
