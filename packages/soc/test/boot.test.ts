// The descriptions are meant to boot: these tests feed them to the layers below as the board
// assembly will (mm-core, mm-cma, plat-s5p-sysmmu over iommu-core), with no stub in between.
import {
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevice,
  iommuDomainAlloc,
  iommuFwspecInit,
  iommuMap,
  iommuProbeDevice,
} from "@umm/iommu-core";
import {
  busRegister,
  createKernel,
  Device,
  deviceRegister,
  driverRegister,
  PAGE_SIZE,
} from "@umm/kernel-core";
import {
  cmaAreas,
  cmaEarlyRegionsReserve,
  cmaInit,
  cmaInitReservedAreas,
  cmaRegions,
  dmaContiguousDefaultArea,
  ofReservedMemSetup,
} from "@umm/mm-cma";
import { GFP_KERNEL, mmInit } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  exynosSysmmuOf,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { describe, expect, it } from "vitest";
import {
  type BoardDescription,
  boardCmdline,
  boardDeviceOpts,
  boardFromDt,
  boardSysmmuInstance,
  boardSysmmuOpts,
  EXYNOS4210_BOARD,
  S5PV210_BOARD,
} from "../src/index.js";
import { fixture } from "./helpers.js";

/** Memory as the assembly sets it up: fixed ranges first, then 2010 regions, then dynamic nodes. */
function bootMemory(b: BoardDescription) {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, {
    banks: b.banks.map(({ name, start, size }) => ({ name, start, size })),
    lowmemSize: b.lowmemSize,
  });
  cmaInit(kernel, { cmdline: boardCmdline(b) });
  if (b.ump) mm.memblockRemove(b.ump.base, b.ump.size, "ump");
  const rmem = b.reservedMemory.filter((n) => n.reg).map((n) => ofReservedMemSetup(kernel, n));
  cmaEarlyRegionsReserve(kernel);
  rmem.push(...b.reservedMemory.filter((n) => !n.reg).map((n) => ofReservedMemSetup(kernel, n)));
  mm.memblockFreeAll();
  cmaInitReservedAreas(kernel);
  return { kernel, mm, rmem };
}

describe("the boards reserve their memory through mm-core and mm-cma", () => {
  const boards: [string, BoardDescription][] = [
    ["exynos4210 (data)", EXYNOS4210_BOARD],
    ["s5pv210 (data)", S5PV210_BOARD],
    [
      "exynos4210 (device tree)",
      boardFromDt(fixture("exynos4210.dtb"), { name: "exynos4210", ump: EXYNOS4210_BOARD.ump }),
    ],
    [
      "s5pv210 (device tree)",
      boardFromDt(fixture("s5pv210.dtb"), { name: "s5pv210", ump: S5PV210_BOARD.ump }),
    ],
  ];
  it.each(boards)("%s", (_what, b) => {
    const { kernel, rmem } = bootMemory(b);
    const names = cmaRegions(kernel).map((r) => r.name);
    for (const r of ["mfc_fw", "mfc_b1", "mfc_b2", "common"]) expect(names).toContain(r);
    expect(dmaContiguousDefaultArea(kernel)?.name).toBe("common");
    expect(cmaAreas(kernel).every((a) => a.activated)).toBe(true);
    expect(rmem.map((r) => r.kind).sort()).toEqual(
      b.reservedMemory.map((n) => (n.reusable ? "cma" : "dma-pool")).sort(),
    );
    for (const r of rmem) {
      const n = b.reservedMemory.find((x) => x.name === r.name)!;
      if (n.reg) expect([r.base, r.size]).toEqual([n.reg.base, n.reg.size]);
    }
  });
});

describe("the Exynos4210 board's SysMMUs and masters probe through plat-s5p-sysmmu", () => {
  it("every master reaches memory through its SysMMU(s); the MFC through both", () => {
    const b = EXYNOS4210_BOARD;
    const { kernel, mm } = bootMemory(b);
    const platform = busRegister(kernel, "platform");
    driverRegister(platform, EXYNOS_SYSMMU_DRIVER);
    const sysmmu = new Map(
      b.sysmmus.map((s) => {
        const d = sysmmuPlatformDevice(kernel, boardSysmmuInstance(s), boardSysmmuOpts(s));
        deviceRegister(d, platform);
        return [s.name, d] as const;
      }),
    );
    expect([...sysmmu.values()].every((d) => exynosSysmmuOf(d) !== null)).toBe(true);
    const devices = b.devices.map((d) => {
      const dev = new Device(kernel, boardDeviceOpts(d));
      deviceRegister(dev, platform);
      for (const s of d.iommus) iommuFwspecInit(dev, sysmmu.get(s)!);
      if (d.iommus.length) iommuProbeDevice(dev);
      return dev;
    });
    const mfc = devices.find((d) => d.name === "mfc")!;
    const domain = iommuDomainAlloc(mfc);
    iommuAttachDevice(domain, mfc);
    const page = mm.buddy.allocPages(0, GFP_KERNEL)! * PAGE_SIZE;
    iommuMap(domain, 0x10000000, page, PAGE_SIZE, IOMMU_READ | IOMMU_WRITE);
    sysmmuDmaPort(mfc, 1).write(0x10000010, new Uint8Array([0xab])); // the right port, MFC_R
    expect(mm.phys.read8(page + 0x10)).toBe(0xab);
    expect(exynosSysmmuOf(sysmmu.get("MFC_R")!)!.mmu.stats.walks).toBeGreaterThan(0);
  });
});
