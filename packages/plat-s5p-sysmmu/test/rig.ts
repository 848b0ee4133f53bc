import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  type Bus,
  busRegister,
  Device,
  deviceRegister,
  driverRegister,
  type Kernel,
  SZ_1M,
} from "@umm/kernel-core";
import type { DmaPort, Mm } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  exynosSysmmuOf,
  type S5pSysmmu,
  type SysMmuVersion,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "../src/index.js";
import { boot } from "./helpers.js";

/** A kernel with DRAM, a platform bus with the exynos-sysmmu driver, and SysMMU-backed masters. */
export interface SysmmuRig {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly bus: Bus;
  /** adds a SysMMU platform device at `sfrBase` (probed at once) */
  sysmmu(sfrBase: number, opts?: { version?: SysMmuVersion; tlbEntries?: number }): Device;
  /** adds a master behind the given SysMMU devices and probes it through iommu-core */
  master(name: string, sysmmus: readonly Device[]): Device;
  /** the driver data of a SysMMU device */
  data(sysmmu: Device): S5pSysmmu;
  /** the master's DMA port through its first (or `index`-th) SysMMU */
  port(master: Device, index?: number): DmaPort;
}

export function bootRig(opts: { size?: number; banks?: { start: number; size: number }[] } = {}): SysmmuRig {
  const { kernel, mm } = boot({
    banks: opts.banks ?? [{ start: 0x40000000, size: opts.size ?? 64 * SZ_1M }],
  });
  const bus = busRegister(kernel, "platform");
  driverRegister(bus, EXYNOS_SYSMMU_DRIVER);
  return {
    kernel,
    mm,
    bus,
    sysmmu(sfrBase, o = {}) {
      const dev = sysmmuPlatformDevice(
        kernel,
        { name: `sysmmu@${sfrBase.toString(16)}`, sfrBase, version: o.version ?? "1.0" },
        o.tlbEntries !== undefined ? { tlbEntries: o.tlbEntries } : {},
      );
      deviceRegister(dev, bus);
      return dev;
    },
    master(name, sysmmus) {
      const dev = new Device(kernel, { name });
      deviceRegister(dev);
      for (const s of sysmmus) iommuFwspecInit(dev, s);
      iommuProbeDevice(dev);
      return dev;
    },
    data(sysmmu) {
      const d = exynosSysmmuOf(sysmmu);
      if (!d) throw new Error(`${sysmmu.name} is not a probed SysMMU`);
      return d;
    },
    port(master, index = 0) {
      return sysmmuDmaPort(master, index);
    },
  };
}
