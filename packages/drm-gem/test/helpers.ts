// Test rig: a booted kernel with CMA and the CPU cache, display devices (direct or behind an
// Exynos SysMMU), a test display that reads every byte of each frame through its DMA port, and
// small user-space helpers for the card's ioctls.
import { cpuOf } from "@umm/arch-arm";
import type { DmaIommuMapping } from "@umm/dma-mapping-arm";
import { bootDma, type DmaRig, dmaDirectDevice, dmaIommuMaster } from "@umm/dma-mapping-arm/testing";
import { type Device, type Kernel, SZ_1M, SZ_256M } from "@umm/kernel-core";
import { O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { cmaDebugfs, dmaContiguousDefaultArea } from "@umm/mm-cma";
import { type DmaPort, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { expect } from "vitest";
import {
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_SETCRTC,
  type DrmDevice,
  type DrmDisplayHw,
  type DrmDriverDesc,
  type DrmFile,
  type DrmModeCreateDumb,
  type DrmModeCrtcPageFlip,
  type DrmModeModeinfo,
  type DrmScanout,
  drmDevRegister,
  drmFileOf,
  drmSimpleMode,
} from "../src/index.js";

export {
  DMA_RIG_DRAM as DRAM,
  DMA_RIG_IOVA_BASE as IOVA_BASE,
  dmaDirectDevice as directDevice,
} from "@umm/dma-mapping-arm/testing";
export { pattern } from "@umm/kernel-core/testing";

/** A booted kernel. */
export type Rig = DmaRig;

const booted: Kernel[] = [];

/** 64 MiB of DRAM (default), a 16 MiB CMA area, the CPU cache, the exynos-sysmmu driver. */
export function boot(opts: { sizeMiB?: number; cmaMiB?: number } = {}): Rig {
  const r = bootDma({
    size: (opts.sizeMiB ?? 64) * SZ_1M,
    cmaMiB: opts.cmaMiB ?? 16,
    platformDrivers: [EXYNOS_SYSMMU_DRIVER],
  });
  booted.push(r.kernel);
  return r;
}

/** afterEach: no kernel of the file saw a cacheable + non-cacheable alias or a coherency hazard. */
export function expectClean(): void {
  for (const k of booted.splice(0)) {
    const reports = cpuOf(k).checker.reports.map((r) => `${r.kind}: ${r.detail}`);
    expect(reports).toEqual([]);
  }
}

/** Pages of the default CMA area in use. */
export function cmaUsed(r: Rig): number {
  return cmaDebugfs(dmaContiguousDefaultArea(r.kernel)!).used;
}

let nextSysmmu = 0;
const SYSMMU_ORDER = ["FIMD0", "FIMD1", "TV", "FIMC0", "FIMC1", "FIMC2", "FIMC3", "MFC_L", "G2D", "ROTATOR"];

/** A device behind its own Exynos4210 SysMMU with a 256 MiB arm_iommu window at IOVA_BASE. */
export function sysmmuDevice(r: Rig, name: string): { dev: Device; port: DmaPort; mapping: DmaIommuMapping } {
  const instName = SYSMMU_ORDER[nextSysmmu++ % SYSMMU_ORDER.length]!;
  const inst = EXYNOS4210_SYSMMUS.find((s) => s.name === instName)!;
  const { dev, mapping } = dmaIommuMaster(r, name, sysmmuPlatformDevice(r.kernel, inst), SZ_256M);
  return { dev, port: sysmmuDmaPort(dev), mapping };
}

/** One frame the test display read. */
export interface Frame {
  readonly fb: number;
  readonly seq: number;
  readonly time: number;
  /** the bytes of each plane, rows packed (rowBytes each) */
  readonly planes: Uint8Array[];
}

/**
 * A display controller for tests: at each vblank it reads every byte of the frame it is handed
 * through its DMA port (row by row when the pitch is larger than a row) and keeps it.
 */
export class TestDisplay implements DrmDisplayHw {
  readonly port: DmaPort;
  mode: Readonly<DrmModeModeinfo> | null = null;
  /** the last frame read (null: the plane is off / nothing read yet) */
  last: Frame | null = null;
  /** frames read */
  frames = 0;
  /** vblanks with the plane off */
  blanks = 0;
  /** (fb, seq) of every frame read */
  readonly history: { fb: number; seq: number }[] = [];
  readonly events: string[] = [];
  /** when false, frames are counted but not copied out (faster) */
  keep = true;

  constructor(port: DmaPort) {
    this.port = port;
  }

  readonly enable = (mode: Readonly<DrmModeModeinfo>): void => {
    this.mode = mode;
    this.events.push(`enable ${mode.name}`);
  };

  readonly disable = (): void => {
    this.mode = null;
    this.events.push("disable");
  };

  readonly scanout = (frame: DrmScanout | null): void => {
    if (!frame) {
      this.blanks++;
      this.last = null;
      return;
    }
    const planes: Uint8Array[] = [];
    for (let i = 0; i < frame.planes.length; i++) {
      const p = frame.planes[i]!;
      const out = new Uint8Array(p.rowBytes * p.rows);
      if (p.pitch === p.rowBytes) this.port.read(p.daddr, out);
      else
        for (let row = 0; row < p.rows; row++)
          this.port.read(p.daddr + row * p.pitch, out, row * p.rowBytes, p.rowBytes);
      planes.push(out);
    }
    this.frames++;
    this.history.push({ fb: frame.fb, seq: frame.seq });
    this.last = { fb: frame.fb, seq: frame.seq, time: frame.time, planes };
  };
}

/** A 64×32 at 60 Hz mode: small frames, a 16.67 ms frame period. */
export const SMALL_MODE = drmSimpleMode(64, 32, 60);

/** A DRM device on a direct or SysMMU display device, with a test display. */
export function card(
  r: Rig,
  kind: "direct" | "sysmmu",
  driver: DrmDriverDesc = {},
  opts: { vblankOffdelayMs?: number } = {},
): { ddev: DrmDevice; display: TestDisplay; dev: Device; port: DmaPort } {
  const { dev, port } =
    kind === "direct" ? dmaDirectDevice(r, `fimd-${nextSysmmu++}`) : sysmmuDevice(r, `fimd-${nextSysmmu++}`);
  const display = new TestDisplay(port);
  const ddev = drmDevRegister(r.kernel, {
    name: "exynos",
    dev,
    driver: { modes: [SMALL_MODE], display, ...driver },
    vblankOffdelayMs: opts.vblankOffdelayMs ?? 0,
  });
  return { ddev, display, dev, port };
}

/** A process with the card open read-write. */
export function openCard(r: Rig, ddev: DrmDevice, comm = "app", uid = 0): { proc: Process; fd: number } {
  const proc = spawn(r.kernel, { comm, uid });
  const fd = proc.open(ddev.path, O_RDWR);
  return { proc, fd };
}

/** CREATE_DUMB. */
export function createDumb(
  proc: Process,
  fd: number,
  width: number,
  height: number,
  bpp = 32,
): DrmModeCreateDumb {
  const a: DrmModeCreateDumb = { width, height, bpp, handle: 0, pitch: 0, size: 0 };
  proc.ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, a);
  return a;
}

/** MAP_DUMB + mmap of the card fd: the user address. */
export function mapDumb(proc: Process, fd: number, handle: number, size: number): number {
  const m = { handle, offset: 0 };
  proc.ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, m);
  return proc.mmap({ fd, length: size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, offset: m.offset });
}

/** ADDFB2 of a one-plane XRGB8888 (or any) framebuffer; returns the fb id. */
export function addFb(
  proc: Process,
  fd: number,
  width: number,
  height: number,
  handles: number[],
  pitches: number[],
  offsets: number[] = [],
  pixelFormat = DRM_FORMAT_XRGB8888,
): number {
  const a = { fb_id: 0, width, height, pixel_format: pixelFormat, handles, pitches, offsets };
  proc.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, a);
  return a.fb_id;
}

/** SETCRTC of `fbId` in `mode` on the card's connector (returns what the ioctl returns). */
export function setCrtc(
  proc: Process,
  fd: number,
  ddev: DrmDevice,
  fbId: number,
  mode: DrmModeModeinfo = SMALL_MODE,
): number | Promise<number> {
  return proc.ioctl(fd, DRM_IOCTL_MODE_SETCRTC, {
    crtc_id: ddev.crtc.id,
    fb_id: fbId,
    x: 0,
    y: 0,
    mode_valid: 1,
    mode,
    set_connectors_ptr: [ddev.connector.id],
    count_connectors: 1,
  });
}

/** PAGE_FLIP; returns the arg (out_fence_fd filled). */
export function flip(
  proc: Process,
  fd: number,
  ddev: DrmDevice,
  fbId: number,
  flags = 0,
  userData = 0,
): DrmModeCrtcPageFlip {
  const a: DrmModeCrtcPageFlip = { crtc_id: ddev.crtc.id, fb_id: fbId, flags, user_data: userData };
  proc.ioctl(fd, DRM_IOCTL_MODE_PAGE_FLIP, a);
  return a;
}

/** `rows` rows of `rowBytes` taken from `src` laid out with `pitch`. */
export function packRows(
  src: Uint8Array,
  pitch: number,
  rowBytes: number,
  rows: number,
  offset = 0,
): Uint8Array {
  const out = new Uint8Array(rowBytes * rows);
  for (let r = 0; r < rows; r++)
    out.set(src.subarray(offset + r * pitch, offset + r * pitch + rowBytes), r * rowBytes);
  return out;
}

/** The DrmFile behind `fd` of `proc` (no reference kept). */
export function drmFileAt(proc: Process, fd: number): DrmFile {
  const f = proc.fget(fd);
  f.put();
  return drmFileOf(f);
}
