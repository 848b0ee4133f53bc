/**
 * Test helpers for users of the DMA mapping API (dma-buf, videobuf2, DRM and their drivers'
 * tests): one test board instead of a copy in every package.
 *
 * - `bootDma(opts)`: a booted kernel with DRAM, the default CMA area, optionally a swiotlb pool,
 *   the CPU cache model and a platform bus carrying the drivers the test brings (an IOMMU's);
 * - `dmaDirectDevice(rig, name)`: a device without an IOMMU and its DMA port;
 * - `dmaIommuMaster(rig, name, iommu, size)`: a device behind the IOMMU platform device
 *   `iommu`, attached to an arm_iommu mapping at `DMA_RIG_IOVA_BASE`.
 *
 * The IOMMU itself comes from the test, from a plat-* package it declares as a devDependency:
 * no package but soc may name a platform.
 *
 * ```ts
 * const rig = bootDma({ platformDrivers: [EXYNOS_SYSMMU_DRIVER] });
 * const { dev } = dmaIommuMaster(rig, "fimc0", sysmmuPlatformDevice(rig.kernel, inst), SZ_256M);
 * const port = sysmmuDmaPort(dev);
 * ```
 * @module
 */
import { type Cpu, cpuInit } from "@umm/arch-arm";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  type Bus,
  busRegister,
  Device,
  type DeviceDriver,
  type DeviceOpts,
  DMA_BIT_MASK,
  deviceRegister,
  driverRegister,
  type Kernel,
  SZ_1M,
} from "@umm/kernel-core";
import { dmaContiguousReserve } from "@umm/mm-cma";
import { bootCma } from "@umm/mm-cma/testing";
import { DmaPort, type Mm } from "@umm/mm-core";
import { armIommuAttachDevice, armIommuCreateMapping, type DmaIommuMapping } from "./iommu.js";
import { type SwiotlbOpts, swiotlbInit } from "./swiotlb.js";

/** Where `bootDma` puts DRAM. */
export const DMA_RIG_DRAM = 0x40000000;
/** Where `dmaIommuMaster` puts a new arm_iommu mapping (the IOVA window of the masters). */
export const DMA_RIG_IOVA_BASE = 0x20000000;

/** A booted test board. */
export interface DmaRig {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly cpu: Cpu;
  /** the platform bus, with `BootDmaOpts.platformDrivers` registered */
  readonly platform: Bus;
}

/** Options of `bootDma`. */
export interface BootDmaOpts {
  /** DRAM bytes at `DMA_RIG_DRAM` (default 64 MiB) */
  readonly size?: number;
  /** default CMA area in MiB (default 16; 0: none) */
  readonly cmaMiB?: number;
  /** bytes of ZONE_DMA from the start of RAM (default: none) */
  readonly dmaZoneSize?: number;
  /** bytes of lowmem (default: mm-core's) */
  readonly lowmemSize?: number;
  /** reserve a swiotlb pool with these options (default: none) */
  readonly swiotlb?: SwiotlbOpts;
  /** the coherency checker throws EIO at a hazard (default false) */
  readonly strict?: boolean;
  /** drivers to register on the platform bus, in order (an IOMMU's driver) */
  readonly platformDrivers?: readonly DeviceDriver[];
  /** more boot-time reservations, after the CMA area and before swiotlb and memblockFreeAll */
  readonly setup?: (kernel: Kernel, mm: Mm) => void;
}

/**
 * A booted board (seed 1): mmInit → cmaInit and the default CMA area → `setup` → swiotlb →
 * memblockFreeAll → CMA activation → CPU → platform bus with `platformDrivers`.
 */
export function bootDma(opts: BootDmaOpts = {}): DmaRig {
  const cma = opts.cmaMiB ?? 16;
  const { kernel, mm } = bootCma({
    size: opts.size ?? 64 * SZ_1M,
    cmdline: `cma=${cma}M`,
    ...(opts.lowmemSize !== undefined ? { lowmemSize: opts.lowmemSize } : {}),
    ...(opts.dmaZoneSize !== undefined ? { dmaZoneSize: opts.dmaZoneSize } : {}),
    setup: (k, m) => {
      if (cma) dmaContiguousReserve(k);
      opts.setup?.(k, m);
      if (opts.swiotlb) swiotlbInit(k, opts.swiotlb);
    },
  });
  const cpu = cpuInit(kernel, { strict: opts.strict ?? false });
  const platform = busRegister(kernel, "platform");
  for (const drv of opts.platformDrivers ?? []) driverRegister(platform, drv);
  return { kernel, mm, cpu, platform };
}

/**
 * A registered device without an IOMMU (32-bit DMA mask unless `opts` says otherwise) and its
 * DMA port: it sees P.A under its mask, shifted by its `dmaPfnOffset`.
 */
export function dmaDirectDevice(
  rig: DmaRig,
  name: string,
  opts: Partial<DeviceOpts> = {},
): { dev: Device; port: DmaPort } {
  const dev = new Device(rig.kernel, { dmaMask: DMA_BIT_MASK(32), ...opts, name });
  deviceRegister(dev);
  return { dev, port: new DmaPort(rig.mm, dev) };
}

/**
 * A registered master behind the IOMMU platform device `iommu` (registered here on the platform
 * bus, where its driver binds), probed into an IOMMU group and attached to `mapping`, or to a new
 * arm_iommu mapping of `size` bytes at `DMA_RIG_IOVA_BASE`. Its DMA port is the platform's to
 * make.
 */
export function dmaIommuMaster(
  rig: DmaRig,
  name: string,
  iommu: Device,
  size: number,
  mapping?: DmaIommuMapping,
): { dev: Device; mapping: DmaIommuMapping } {
  deviceRegister(iommu, rig.platform);
  const dev = new Device(rig.kernel, { name });
  deviceRegister(dev);
  iommuFwspecInit(dev, iommu);
  iommuProbeDevice(dev);
  const m = mapping ?? armIommuCreateMapping(dev, DMA_RIG_IOVA_BASE, size);
  armIommuAttachDevice(dev, m);
  return { dev, mapping: m };
}
