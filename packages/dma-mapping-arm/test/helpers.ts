import { cpuOf } from "@umm/arch-arm";
import { type Device, type Kernel, SZ_256M } from "@umm/kernel-core";
import type { DmaPort } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { expect } from "vitest";
import type { DmaIommuMapping } from "../src/index.js";
import { type BootDmaOpts, bootDma, type DmaRig, dmaIommuMaster } from "../src/testing.js";

export { pattern } from "@umm/kernel-core/testing";

export {
  DMA_RIG_DRAM as DRAM,
  DMA_RIG_IOVA_BASE as IOVA_BASE,
  dmaDirectDevice as directDevice,
} from "../src/testing.js";

/** A booted test kernel. */
export type Rig = DmaRig;

/** Options of `boot`. */
export type BootOpts = Omit<BootDmaOpts, "platformDrivers" | "strict">;

const booted: Kernel[] = [];

/** `bootDma` with the SysMMU driver (64 MiB, 16 MiB of CMA unless `opts` says otherwise). */
export function boot(opts: BootOpts = {}): Rig {
  const r = bootDma({ ...opts, platformDrivers: [EXYNOS_SYSMMU_DRIVER] });
  booted.push(r.kernel);
  return r;
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
  const m = dmaIommuMaster(r, name, sysmmuPlatformDevice(r.kernel, inst), size, mapping);
  return { dev: m.dev, port: sysmmuDmaPort(m.dev), mapping: m.mapping };
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
