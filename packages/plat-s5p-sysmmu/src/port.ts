/**
 * Wiring for boards and tests: the platform device of a SysMMU instance, and the DMA ports
 * through which a master reaches memory behind its SysMMU(s).
 *
 * A master with several SysMMUs (the MFC's left and right AXI ports) has one port per SysMMU:
 * each bus-master port has its own System MMU, sharing the master's domain.
 *
 * @module
 */
import { Device, hex, type Kernel, KernelError } from "@umm/kernel-core";
import { DmaPort } from "@umm/mm-core";
import { EXYNOS_SYSMMU_COMPATIBLE, exynosSysmmusOfMaster } from "./driver.js";
import type { SysMmuInstance } from "./instances.js";
import { SYSMMU_SFR_SIZE } from "./regs.js";
import type { SysMmuSecureWindow } from "./sysmmu.js";

/** Options of `sysmmuPlatformDevice`. */
export interface SysmmuDeviceOpts {
  /** TLB entries of the instance (default 64) */
  readonly tlbEntries?: number;
  /** a physical window the master may not reach */
  readonly secureWindow?: SysMmuSecureWindow;
  /** the device's parent */
  readonly parent?: Device | null;
}

/**
 * The platform device of one SysMMU instance as a DT would describe it: name
 * "<sfr base>.sysmmu" (e.g. "11a20000.sysmmu"), compatible "samsung,exynos-sysmmu", properties
 * `reg` = [sfrBase, 0x1000] and the silicon's `version`. Register it on a bus that has
 * `EXYNOS_SYSMMU_DRIVER` to probe it.
 */
export function sysmmuPlatformDevice(
  kernel: Kernel,
  inst: SysMmuInstance,
  opts: SysmmuDeviceOpts = {},
): Device {
  const properties: Record<string, unknown> = { reg: [inst.sfrBase, SYSMMU_SFR_SIZE], version: inst.version };
  if (opts.tlbEntries !== undefined) properties["tlb-entries"] = opts.tlbEntries;
  if (opts.secureWindow) properties["secure-window"] = [opts.secureWindow.base, opts.secureWindow.size];
  return new Device(kernel, {
    name: `${hex(inst.sfrBase).slice(2)}.sysmmu`,
    parent: opts.parent ?? null,
    compatible: [EXYNOS_SYSMMU_COMPATIBLE],
    properties,
  });
}

/**
 * The DMA ports of `master`, one per SysMMU in front of it (firmware order), each translating
 * through its SysMMU. ENODEV when the master was not probed through a System MMU.
 */
export function sysmmuDmaPorts(master: Device): DmaPort[] {
  const list = exynosSysmmusOfMaster(master);
  if (list.length === 0) {
    throw new KernelError(
      "ENODEV",
      `${master.name} has no System MMU (probe it with iommuProbeDevice first)`,
    );
  }
  return list.map((data) => new DmaPort(data.mmu.mm, master, data.mmu));
}

/**
 * The DMA port of `master` through its `index`-th SysMMU (default the first). ENODEV when the
 * master has no System MMU; EINVAL for an index it does not have.
 */
export function sysmmuDmaPort(master: Device, index = 0): DmaPort {
  const list = exynosSysmmusOfMaster(master);
  if (list.length === 0) {
    throw new KernelError(
      "ENODEV",
      `${master.name} has no System MMU (probe it with iommuProbeDevice first)`,
    );
  }
  const data = list[index];
  if (!data) {
    throw new KernelError("EINVAL", `index ${index}: ${master.name} has ${list.length} System MMU(s)`);
  }
  return new DmaPort(data.mmu.mm, master, data.mmu);
}
