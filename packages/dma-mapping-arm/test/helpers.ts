import { type Cpu, cpuInit, cpuOf } from "@umm/arch-arm";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  type Bus,
  busRegister,
  createKernel,
  Device,
  type DeviceOpts,
  DMA_BIT_MASK,
  deviceRegister,
  driverRegister,
  type Kernel,
  SZ_1M,
  SZ_256M,
} from "@umm/kernel-core";
import { cmaInit, cmaInitReservedAreas, dmaContiguousReserve } from "@umm/mm-cma";
import { DmaPort, type Mm, mmInit } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { expect } from "vitest";
import {
  armIommuAttachDevice,
  armIommuCreateMapping,
  type DmaIommuMapping,
  type SwiotlbOpts,
  swiotlbInit,
} from "../src/index.js";

/** Start of DRAM in every test. */
export const DRAM = 0x40000000;
/** Start of the IOVA window the tests give SysMMU masters. */
export const IOVA_BASE = 0x20000000;

/** A booted test kernel. */
export interface Rig {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly cpu: Cpu;
  readonly platform: Bus;
}

/** Options of `boot`. */
export interface BootOpts {
  /** DRAM bytes (default 64 MiB) */
  readonly size?: number;
  /** default CMA area in MiB (default 16; 0: none) */
  readonly cmaMiB?: number;
  /** bytes of ZONE_DMA from the start of RAM */
  readonly dmaZoneSize?: number;
  /** bytes of lowmem (default all of a small board) */
  readonly lowmemSize?: number;
  /** reserve a swiotlb pool */
  readonly swiotlb?: SwiotlbOpts;
  /** more boot-time reservations, before memblockFreeAll */
  readonly setup?: (kernel: Kernel, mm: Mm) => void;
}

const booted: Kernel[] = [];

/** mmInit → cmaInit → (CMA default area, setup, swiotlb) → memblockFreeAll → CMA activation → CPU. */
export function boot(opts: BootOpts = {}): Rig {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, {
    banks: [{ start: DRAM, size: opts.size ?? 64 * SZ_1M }],
    ...(opts.dmaZoneSize !== undefined ? { dmaZoneSize: opts.dmaZoneSize } : {}),
    ...(opts.lowmemSize !== undefined ? { lowmemSize: opts.lowmemSize } : {}),
  });
  const cma = opts.cmaMiB ?? 16;
  cmaInit(kernel, { cmdline: `cma=${cma}M` });
  if (cma) dmaContiguousReserve(kernel);
  opts.setup?.(kernel, mm);
  if (opts.swiotlb) swiotlbInit(kernel, opts.swiotlb);
  mm.memblockFreeAll();
  cmaInitReservedAreas(kernel);
  const cpu = cpuInit(kernel);
  const platform = busRegister(kernel, "platform");
  driverRegister(platform, EXYNOS_SYSMMU_DRIVER);
  booted.push(kernel);
  return { kernel, mm, cpu, platform };
}

/** afterEach: no kernel booted by this file's tests ever had a cacheable + non-cacheable alias. */
export function expectNoAliases(): void {
  for (const k of booted.splice(0)) {
    const counts = cpuOf(k).checker.counts();
    const aliases = cpuOf(k)
      .checker.reports.filter((r) => r.kind === "alias")
      .map((r) => r.detail);
    expect(aliases).toEqual([]);
    expect(counts.alias).toBe(0);
  }
}

/** A device without an IOMMU and its DMA port (P.A under its mask, shifted by its dmaPfnOffset). */
export function directDevice(
  r: Rig,
  name: string,
  opts: Partial<DeviceOpts> = {},
): { dev: Device; port: DmaPort } {
  const dev = new Device(r.kernel, { dmaMask: DMA_BIT_MASK(32), ...opts, name });
  deviceRegister(dev);
  return { dev, port: new DmaPort(r.mm, dev) };
}

let nextSysmmu = 2;

/**
 * A master behind its own Exynos4210 SysMMU (FIMC0, FIMC1, ... in turn), attached to a new
 * arm_iommu mapping of `size` bytes at `IOVA_BASE`; its DMA port goes through the SysMMU.
 */
export function sysmmuDevice(
  r: Rig,
  name: string,
  size = SZ_256M,
  mapping?: DmaIommuMapping,
): { dev: Device; port: DmaPort; mapping: DmaIommuMapping } {
  const inst = EXYNOS4210_SYSMMUS[nextSysmmu++ % EXYNOS4210_SYSMMUS.length]!;
  const sysmmu = sysmmuPlatformDevice(r.kernel, inst);
  deviceRegister(sysmmu, r.platform);
  const dev = new Device(r.kernel, { name });
  deviceRegister(dev);
  iommuFwspecInit(dev, sysmmu);
  iommuProbeDevice(dev);
  const m = mapping ?? armIommuCreateMapping(dev, IOVA_BASE, size);
  armIommuAttachDevice(dev, m);
  return { dev, port: sysmmuDmaPort(dev), mapping: m };
}

/** Deterministic bytes. */
export function pattern(len: number, seed = 1): Uint8Array {
  const a = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

/** What the device reads at `daddr`. */
export function devRead(port: DmaPort, daddr: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  port.read(daddr, out);
  return out;
}

/** What the CPU reads at kernel address `kaddr`. */
export function cpuRead(r: Rig, kaddr: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  r.cpu.read(r.mm.kspace, kaddr, out);
  return out;
}

/** `len` bytes of memory at `pa`, behind the cache. */
export function mem(r: Rig, pa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  r.mm.phys.read(pa, out);
  return out;
}
