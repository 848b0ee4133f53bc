// Page flip + vblank scanout of 1080p XRGB8888 frames through a SysMMU display: a process flips
// between two dumb buffers, the core latches each flip at the vblank timer and hands the frame to
// a display model that reads all 8 MB through the SysMMU's DMA port. Reported: scanouts per
// second of wall time, and the throughput against Uint8Array.set of the same bytes in the same
// run (no goal). The vblank runs on the virtual clock, whose timers settle asynchronously, so the
// samples are taken here (alternating subject and baseline, medians) and recorded with
// `b.record` in the shape `b.throughput` gives.
import { cpuInit } from "@umm/arch-arm";
import { defineBench } from "@umm/bench";
import { armIommuAttachDevice, armIommuCreateMapping } from "@umm/dma-mapping-arm";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  busRegister,
  createKernel,
  Device,
  deviceRegister,
  driverRegister,
  SZ_1M,
  SZ_256M,
} from "@umm/kernel-core";
import { O_RDWR, POLLIN, spawn } from "@umm/kernel-process";
import { type DmaPort, MAP_SHARED, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import {
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_MODE_1080P60,
  DRM_MODE_PAGE_FLIP_EVENT,
  type DrmDisplayHw,
  type DrmScanout,
  drmDevRegister,
} from "../src/index.js";

const W = 1920;
const H = 1080;
const FRAME = W * H * 4;

/** A display that reads every byte of each frame into one reused buffer. */
class ReadingDisplay implements DrmDisplayHw {
  readonly buf = new Uint8Array(FRAME);
  frames = 0;
  readonly port: DmaPort;
  constructor(port: DmaPort) {
    this.port = port;
  }
  readonly scanout = (f: DrmScanout | null): void => {
    if (!f) return;
    const p = f.planes[0]!;
    this.port.read(p.daddr, this.buf, 0, p.rowBytes * p.rows);
    this.frames++;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export default defineBench(async (b) => {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 256 * SZ_1M }] });
  mm.memblockFreeAll();
  cpuInit(kernel);
  const bus = busRegister(kernel, "platform");
  driverRegister(bus, EXYNOS_SYSMMU_DRIVER);
  const sysmmu = sysmmuPlatformDevice(kernel, EXYNOS4210_SYSMMUS.find((s) => s.name === "FIMD0")!);
  deviceRegister(sysmmu, bus);
  const fimd = new Device(kernel, { name: "fimd0" });
  deviceRegister(fimd);
  iommuFwspecInit(fimd, sysmmu);
  iommuProbeDevice(fimd);
  armIommuAttachDevice(fimd, armIommuCreateMapping(fimd, 0x20000000, SZ_256M));
  const display = new ReadingDisplay(sysmmuDmaPort(fimd));
  const ddev = drmDevRegister(kernel, {
    name: "exynos",
    dev: fimd,
    driver: { modes: [DRM_MODE_1080P60], display },
    vblankOffdelayMs: 0,
  });

  const proc = spawn(kernel, { comm: "compositor" });
  const fd = proc.open(ddev.path, O_RDWR);
  const fbs: number[] = [];
  for (let i = 0; i < 2; i++) {
    const d = { width: W, height: H, bpp: 32, handle: 0, pitch: 0, size: 0 };
    proc.ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, d);
    const m = { handle: d.handle, offset: 0 };
    proc.ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, m);
    const va = proc.mmap({
      fd,
      length: d.size,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_SHARED,
      offset: m.offset,
    });
    proc.memFill(va, 0x40 + i, d.size);
    const fb = {
      fb_id: 0,
      width: W,
      height: H,
      pixel_format: DRM_FORMAT_XRGB8888,
      handles: [d.handle],
      pitches: [d.pitch],
    };
    proc.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, fb);
    fbs.push(fb.fb_id);
  }
  proc.ioctl(fd, DRM_IOCTL_MODE_SETCRTC, {
    crtc_id: ddev.crtc.id,
    fb_id: fbs[0],
    mode_valid: 1,
    mode: DRM_MODE_1080P60,
    set_connectors_ptr: [ddev.connector.id],
  });
  await kernel.clock.runUntilIdle();
  let next = 1;

  /** One flip completed at its vblank and the new frame read by the display. */
  const flipAndScan = async (): Promise<void> => {
    proc.ioctl(fd, DRM_IOCTL_MODE_PAGE_FLIP, {
      crtc_id: ddev.crtc.id,
      fb_id: fbs[next]!,
      flags: DRM_MODE_PAGE_FLIP_EVENT,
    });
    next ^= 1;
    await kernel.clock.runUntil(proc.poll([{ fd, events: POLLIN }]));
    proc.read(fd, 4096);
  };
  const src = new Uint8Array(FRAME).fill(7);
  const dst = new Uint8Array(FRAME);
  const copy = (): void => dst.set(src);

  // warm up, then alternate samples of ~40 ms each
  for (let i = 0; i < 5; i++) await flipAndScan();
  copy();
  const perSample = async (fn: () => Promise<void> | void, n: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn();
    return ((performance.now() - t0) * 1e6) / n;
  };
  const t1 = await perSample(flipAndScan, 4);
  const nSub = Math.max(2, Math.ceil(40e6 / t1));
  const tc = await perSample(copy, 4);
  const nBase = Math.max(4, Math.ceil(40e6 / Math.max(tc, 1)));
  const sub: number[] = [];
  const base: number[] = [];
  for (let s = 0; s < 7; s++) {
    sub.push(await perSample(flipAndScan, nSub));
    base.push(await perSample(copy, nBase));
  }
  const ns = median(sub);
  const baseNs = median(base);
  if (display.frames < 7 * nSub) throw new Error(`only ${display.frames} frames were scanned out`);
  b.record({
    name: "page flip + vblank scanout of a 1080p XRGB8888 frame through the SysMMU display (scanouts per second of wall time)",
    metric: "rate",
    value: 1e9 / ns,
    unit: "scanouts/s",
    baseline: "Uint8Array.set of the frame",
    baselineValue: 1e9 / baseNs,
    goal: null,
  });
  b.record({
    name: "page flip + vblank scanout of a 1080p XRGB8888 frame through the SysMMU display",
    metric: "throughput",
    value: FRAME / ns,
    unit: "GB/s",
    baseline: "Uint8Array.set of the frame",
    baselineValue: FRAME / baseNs,
    goal: null,
  });
  proc.exit(0);
  await kernel.clock.runUntilIdle();
});
