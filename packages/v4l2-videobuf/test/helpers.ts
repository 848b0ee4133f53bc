// The test board: DRAM, a CMA area, the CPU cache model, a platform bus with the Exynos SysMMU
// driver, and devices with or without a SysMMU in front.
import { armIommuDetachDevice, armIommuReleaseMapping, toDmaIommuMapping } from "@umm/dma-mapping-arm";
import { bootDma, type DmaRig, dmaIommuMaster } from "@umm/dma-mapping-arm/testing";
import {
  type Device,
  type Kernel,
  SZ_1M,
  SZ_256M,
  type TraceEventName,
  TraceRecorder,
} from "@umm/kernel-core";
import { cmaAreas } from "@umm/mm-cma";
import { type DmaPort, GFP_HIGHUSER_MOVABLE } from "@umm/mm-core";

export { GFP_KERNEL } from "@umm/mm-core";

import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { vb2DmaContigSetMaxSegSize } from "../src/index.js";

export {
  DMA_RIG_DRAM as DRAM,
  DMA_RIG_IOVA_BASE as IOVA_BASE,
  dmaDirectDevice as directDevice,
} from "@umm/dma-mapping-arm/testing";

/** A booted board. */
export type Rig = DmaRig;

/** Options of `boot`. */
export interface BootOpts {
  /** DRAM in MiB (default 128) */
  readonly dramMiB?: number;
  /** CMA in MiB (default 48; 0: none) */
  readonly cmaMiB?: number;
  /** the coherency checker throws at the faulty access */
  readonly strict?: boolean;
}

/** `bootDma` (128 MiB, 48 MiB of CMA by default) with the SysMMU driver. */
export function boot(opts: BootOpts = {}): Rig {
  return bootDma({
    size: (opts.dramMiB ?? 128) * SZ_1M,
    cmaMiB: opts.cmaMiB ?? 48,
    strict: opts.strict ?? false,
    platformDrivers: [EXYNOS_SYSMMU_DRIVER],
  });
}

let nextSysmmu = 0;

/**
 * A master behind its own Exynos4210 SysMMU, attached to a 256 MiB arm_iommu window at
 * IOVA_BASE, with a max segment large enough for one D.V range per buffer (as drivers call
 * `vb2_dma_contig_set_max_seg_size`).
 */
export function sysmmuDevice(r: Rig, name: string): { dev: Device; port: DmaPort } {
  const inst = EXYNOS4210_SYSMMUS[nextSysmmu++ % EXYNOS4210_SYSMMUS.length]!;
  const { dev } = dmaIommuMaster(r, name, sysmmuPlatformDevice(r.kernel, inst), SZ_256M);
  vb2DmaContigSetMaxSegSize(dev, 0xffffffff);
  return { dev, port: sysmmuDmaPort(dev) };
}

/** Detaches a `sysmmuDevice` from its IOMMU window and releases the window (driver removal). */
export function sysmmuDetach(dev: Device): void {
  const m = toDmaIommuMapping(dev);
  armIommuDetachDevice(dev);
  if (m) armIommuReleaseMapping(m);
}

/** Free pages of the buddy allocator and of every CMA area. */
export function freeCounts(r: Rig): { buddy: number; cma: number[] } {
  return { buddy: r.mm.buddy.nrFreePages, cma: cmaAreas(r.kernel).map((a) => a.free) };
}

/** Records of `names` from now on. */
export function record(kernel: Kernel, names?: TraceEventName[]): TraceRecorder {
  return new TraceRecorder(kernel.trace, names ? { events: names } : {});
}

/**
 * Scatters the buddy allocator's pages of `gfp`'s kind (default movable, where anonymous memory
 * comes from): takes `pages` single pages and frees every other one, so that the next single-page
 * allocations land in holes that are not physically adjacent. Returns the pages kept (free them
 * with `unscatter`).
 */
export function scatter(r: Rig, pages = 256, gfp = GFP_HIGHUSER_MOVABLE): number[] {
  const taken: number[] = [];
  for (let i = 0; i < pages; i++) taken.push(r.mm.buddy.allocPages(0, gfp)!);
  const kept: number[] = [];
  taken.forEach((pfn, i) => {
    if (i % 2) r.mm.buddy.putPage(pfn);
    else kept.push(pfn);
  });
  return kept;
}

/** Frees what `scatter` kept. */
export function unscatter(r: Rig, kept: number[]): void {
  for (const pfn of kept) r.mm.buddy.putPage(pfn);
}

/** The byte the test drivers write at offset ≥ 8 of `plane` of frame `frame`. */
export function frameByte(frame: number, plane: number): number {
  return (frame * 7 + plane * 3 + 1) & 0xff;
}

/** The 8-byte header the test drivers write: frame number and plane, little-endian u32s. */
export function frameHeader(frame: number, plane: number): Uint8Array {
  const h = new Uint8Array(8);
  const v = new DataView(h.buffer);
  v.setUint32(0, frame, true);
  v.setUint32(4, plane, true);
  return h;
}

/** The whole content of `plane` of frame `frame`, `size` bytes. */
export function framePattern(frame: number, plane: number, size: number): Uint8Array {
  const a = new Uint8Array(size).fill(frameByte(frame, plane));
  a.set(frameHeader(frame, plane).subarray(0, Math.min(8, size)));
  return a;
}
