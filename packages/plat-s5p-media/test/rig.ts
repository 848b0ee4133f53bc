// A small board for the media tests: DRAM in two banks, the 2010 CMA regions and map of the
// Exynos board (scaled down), a default CMA area, the CPU cache, a platform bus with the SysMMU
// driver, and media masters each behind its own SysMMU(s) with an ARM IOMMU mapping and the DMA
// ports wired as a board wires them (`devDmaPortSet`). The media drivers are registered last,
// as bootBoard does. `teardown` unbinds them, detaches the masters and releases their domains,
// so tests can check that every page came back.
import { type Cpu, cpuInit } from "@umm/arch-arm";
import {
  armIommuAttachDevice,
  armIommuCreateMapping,
  armIommuDetachDevice,
  armIommuReleaseMapping,
  type DmaIommuMapping,
} from "@umm/dma-mapping-arm";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  type Bus,
  busRegister,
  createKernel,
  Device,
  type DeviceDriver,
  deviceRegister,
  driverRegister,
  driverUnregister,
  type Kernel,
  SZ_1M,
  SZ_256M,
} from "@umm/kernel-core";
import { type Process, spawn } from "@umm/kernel-process";
import {
  cmaEarlyRegionsReserve,
  cmaInit,
  cmaInitReservedAreas,
  cmaRegions,
  cmaSetDefaults,
  dmaContiguousReserve,
} from "@umm/mm-cma";
import { DmaPort, devDmaPortSet, devDmaPortsClear, type Mm, mmInit } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPorts,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { S5P_MEDIA_DRIVERS } from "../src/index.js";

/** A master of the rig. */
export interface Master {
  readonly dev: Device;
  readonly ports: readonly DmaPort[];
  readonly mapping: DmaIommuMapping | null;
}

/** A booted media rig. */
export interface MediaRig {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly cpu: Cpu;
  readonly platform: Bus;
  readonly masters: Map<string, Master>;
  /** buddy free pages right after boot (before any master or driver) */
  readonly freePages0: number;
  /** free bytes of every CMA region right after boot, by name */
  readonly cmaFree0: Map<string, number>;
  dev(name: string): Device;
  /** a process */
  spawn(comm?: string): Process;
  /** unbinds the drivers, detaches the masters and frees their domains */
  teardown(): Promise<void>;
}

/** Options of `bootMedia`. */
export interface MediaRigOpts {
  /** which masters to create (default all: sensor0, fimc0, fimc1, fimd0, mfc) */
  readonly devices?: readonly string[];
  /** sensor properties */
  readonly sensor?: Record<string, unknown>;
  /** extra properties per device */
  readonly properties?: Record<string, Record<string, unknown>>;
  /** masters that get no SysMMU (direct DMA ports) */
  readonly direct?: readonly string[];
  /** masters whose DMA ports the board does not wire */
  readonly noPorts?: readonly string[];
  /** the drivers (default S5P_MEDIA_DRIVERS); registered after the masters */
  readonly drivers?: readonly DeviceDriver[];
  /** the 2010 map (default "mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2") */
  readonly cmaMap?: string;
  /** strict coherency: a hazard throws at the faulty access */
  readonly strict?: boolean;
}

const DEVICE_SPECS: Record<
  string,
  { compatible: string[]; sysmmus: string[]; properties?: Record<string, unknown> }
> = {
  sensor0: { compatible: ["umm,test-pattern-sensor"], sysmmus: [] },
  fimc0: {
    compatible: ["samsung,exynos4210-fimc"],
    sysmmus: ["FIMC0"],
    properties: { "samsung,cam-if": true, "umm,sensor": "sensor0" },
  },
  fimc1: { compatible: ["samsung,exynos4210-fimc"], sysmmus: ["FIMC1"] },
  fimd0: { compatible: ["samsung,exynos4210-fimd"], sysmmus: ["FIMD0"] },
  mfc: { compatible: ["samsung,mfc-v5"], sysmmus: ["MFC_L", "MFC_R"] },
};

/** Kernels booted since the last `takeBooted`. */
const booted: Kernel[] = [];

/** The kernels booted since the last call (for afterEach checks). */
export function takeBooted(): Kernel[] {
  return booted.splice(0);
}

/** Boots the rig. */
export function bootMedia(opts: MediaRigOpts = {}): MediaRig {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, {
    banks: [
      { start: 0x40000000, size: SZ_256M },
      { start: 0x60000000, size: 64 * SZ_1M },
    ],
  });
  cmaInit(kernel, { cmdline: "cma=16M" });
  cmaSetDefaults(
    kernel,
    [
      { name: "mfc_fw", size: SZ_1M, alignment: SZ_1M },
      { name: "mfc_b1", size: 8 * SZ_1M, alignment: SZ_1M },
      { name: "mfc_b2", size: 16 * SZ_1M, start: 0x62000000 },
    ],
    opts.cmaMap ?? "mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2",
  );
  cmaEarlyRegionsReserve(kernel);
  dmaContiguousReserve(kernel);
  mm.memblockFreeAll();
  cmaInitReservedAreas(kernel);
  const cpu = cpuInit(kernel, { strict: opts.strict ?? false });
  const platform = busRegister(kernel, "platform");
  driverRegister(platform, EXYNOS_SYSMMU_DRIVER);
  // the SysMMUs first: the first probe allocates exynos-iommu's zero lv2 table for good
  const names = opts.devices ?? Object.keys(DEVICE_SPECS);
  const sysmmuDevs = new Map<string, Device>();
  for (const name of names) {
    if (opts.direct?.includes(name)) continue;
    for (const s of DEVICE_SPECS[name]!.sysmmus) {
      const sd = sysmmuPlatformDevice(kernel, EXYNOS4210_SYSMMUS.find((i) => i.name === s)!);
      deviceRegister(sd, platform);
      sysmmuDevs.set(s, sd);
    }
  }
  const freePages0 = mm.buddy.nrFreePages;
  const cmaFree0 = new Map(cmaRegions(kernel).map((r) => [r.name ?? String(r.base), r.free]));
  const masters = new Map<string, Master>();
  for (const name of names) {
    const spec = DEVICE_SPECS[name]!;
    const properties = {
      ...(spec.properties ?? {}),
      ...(name === "sensor0" ? (opts.sensor ?? {}) : {}),
      ...(opts.properties?.[name] ?? {}),
    };
    const dev = new Device(kernel, { name, compatible: spec.compatible, properties });
    deviceRegister(dev, platform);
    if (spec.sysmmus.length === 0) {
      masters.set(name, { dev, ports: [], mapping: null });
      continue;
    }
    if (opts.direct?.includes(name)) {
      const port = new DmaPort(mm, dev);
      if (!opts.noPorts?.includes(name)) devDmaPortSet(dev, port, 0);
      masters.set(name, { dev, ports: [port], mapping: null });
      continue;
    }
    for (const s of spec.sysmmus) iommuFwspecInit(dev, sysmmuDevs.get(s)!);
    iommuProbeDevice(dev);
    const mapping = armIommuCreateMapping(dev, 0x20000000, SZ_256M);
    armIommuAttachDevice(dev, mapping);
    const ports = sysmmuDmaPorts(dev);
    if (!opts.noPorts?.includes(name)) {
      for (const [i, p] of ports.entries()) devDmaPortSet(dev, p, i);
    }
    masters.set(name, { dev, ports, mapping });
  }
  const drivers = opts.drivers ?? S5P_MEDIA_DRIVERS;
  for (const d of drivers) driverRegister(platform, d);
  const procs: Process[] = [];
  booted.push(kernel);
  let down = false;
  return {
    kernel,
    mm,
    cpu,
    platform,
    masters,
    freePages0,
    cmaFree0,
    dev(name) {
      const m = masters.get(name);
      if (!m) throw new Error(`no master ${name}`);
      return m.dev;
    },
    spawn(comm = "app") {
      const p = spawn(kernel, { comm });
      procs.push(p);
      return p;
    },
    async teardown() {
      if (down) return;
      down = true;
      for (const p of procs) if (p.state === "running") p.exit(0);
      await kernel.clock.runUntilIdle();
      for (const d of [...drivers].reverse()) if (platform.drivers.includes(d)) driverUnregister(platform, d);
      await kernel.clock.runUntilIdle();
      for (const m of masters.values()) {
        devDmaPortsClear(m.dev);
        if (!m.mapping) continue;
        armIommuDetachDevice(m.dev);
        armIommuReleaseMapping(m.mapping);
      }
    },
  };
}
