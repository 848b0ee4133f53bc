/**
 * The embedded default board: an Exynos4210-class machine, Origen-like (arch/arm/mach-exynos4/
 * mach-origen.c, arch/arm/boot/dts/samsung/exynos4210-origen.dts), as data.
 *
 * - DRAM: 1 GiB at 0x40000000 in two 512 MiB banks; 760 MiB of lowmem.
 * - The 16 System MMUs of `sysmmu_ips` (seed-systems §5.6), each in front of its master.
 * - Merged CMA: a reusable default area of 96 MiB (exynos_defconfig's CONFIG_CMA_SIZE_MBYTES),
 *   named "common" so that the 2010 map — whose region lists are comma-separated and cannot name
 *   "linux,cma" — reaches it too; and the MFC's two `memory-region` pools of mainline
 *   (exynos-mfc-reserved-memory.dtsi): the left port's 36 MiB no-map pool in bank 0, the right
 *   port's 8 MiB reusable pool in bank 1.
 * - 2010 CMA: `cma=mfc_fw=4M@0x4d000000;mfc_b1=32M@0x4e000000;mfc_b2=32M@0x6c000000` — the MFC's
 *   firmware and bank-A buffers in DRAM bank 0, bank-B buffers in DRAM bank 1 — and the map
 *   `mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2;*=common`.
 * - `pmm=32M`; a 32 MiB UMP dedicated carve-out at the top of bank 0; an ideal cache with the
 *   Cortex-A9's 32-byte lines, 32 KiB L1D and the PL310's 1 MiB L2.
 * - Devices: fimc0…fimc3 (fimc0 the camera capture path fed by sensor0, fimc1 the mem-to-mem
 *   scaler), sensor0, fimd0, g2d, mfc, and the other SysMMU masters without drivers (jpeg,
 *   rotator, mixer, mdma, sss, pcie). All DMA masks 32-bit. Register addresses follow mainline's
 *   exynos4.dtsi / exynos4210.dtsi where it has them.
 *
 * `fixtures/exynos4210.dts` describes the same machine as a device tree.
 *
 * @module
 */
import { SZ_1M, SZ_4M, SZ_8M, SZ_32K, SZ_32M, SZ_512M } from "@umm/kernel-core";
import { DEFAULT_LOWMEM_SIZE } from "@umm/mm-core";
import { EXYNOS4210_SYSMMUS } from "@umm/plat-s5p-sysmmu";
import { type BoardDescription, type BoardDevice, type BoardPropValue, deepFreeze } from "../board.js";

/** The MFC left port's `memory-region` pool: 36 MiB, no-map, in DRAM bank 0. */
export const EXYNOS4210_MFC_LEFT = "mfc-left@4a000000";
/** The MFC right port's `memory-region` pool: 8 MiB, reusable (CMA), in DRAM bank 1. */
export const EXYNOS4210_MFC_RIGHT = "mfc-right@6a000000";

function dev(
  name: string,
  compatible: string[],
  opts: {
    reg?: [number, number];
    iommus?: string[];
    memoryRegions?: string[];
    cmaRegionKinds?: string;
    properties?: Record<string, BoardPropValue>;
  } = {},
): BoardDevice {
  return {
    name,
    compatible,
    ...(opts.reg ? { reg: [{ base: opts.reg[0], size: opts.reg[1] }] } : {}),
    dmaMaskBits: 32,
    coherentDmaMaskBits: 32,
    iommus: opts.iommus ?? [],
    memoryRegions: opts.memoryRegions ?? [],
    ...(opts.cmaRegionKinds ? { cmaRegionKinds: opts.cmaRegionKinds } : {}),
    properties: opts.properties ?? {},
  };
}

const FIMC = "samsung,exynos4210-fimc";

/** The Exynos4210-class board (the embedded default). Frozen; validated by the tests. */
export const EXYNOS4210_BOARD: BoardDescription = deepFreeze({
  name: "exynos4210",
  banks: [
    { name: "bank0", start: 0x40000000, size: SZ_512M },
    { name: "bank1", start: 0x60000000, size: SZ_512M },
  ],
  lowmemSize: DEFAULT_LOWMEM_SIZE,
  cmdline: {
    extra: ["console=ttySAC2,115200"],
    cma: "mfc_fw=4M@0x4d000000;mfc_b1=32M@0x4e000000;mfc_b2=32M@0x6c000000",
    cmaMap: "*=common",
    pmm: "32M",
  },
  reservedMemory: [
    {
      name: "common",
      compatible: "shared-dma-pool",
      reusable: true,
      size: 96 * SZ_1M,
      alignment: SZ_4M,
      allocRanges: [{ base: 0x40000000, size: SZ_512M }],
      cmaDefault: true,
    },
    {
      name: EXYNOS4210_MFC_LEFT,
      compatible: "shared-dma-pool",
      noMap: true,
      reg: { base: 0x4a000000, size: 36 * SZ_1M },
    },
    {
      name: EXYNOS4210_MFC_RIGHT,
      compatible: "shared-dma-pool",
      reusable: true,
      reg: { base: 0x6a000000, size: SZ_8M },
    },
  ],
  ump: { base: 0x5e000000, size: SZ_32M },
  cache: { mode: "ideal", lineSize: 32, l1Size: SZ_32K, l2Size: SZ_1M },
  sysmmus: EXYNOS4210_SYSMMUS.map((s) => ({ name: s.name, base: s.sfrBase, version: s.version })),
  devices: [
    dev("fimc0", [FIMC], {
      reg: [0x11800000, 0x1000],
      iommus: ["FIMC0"],
      properties: { "samsung,cam-if": true, "umm,sensor": "sensor0" },
    }),
    dev("fimc1", [FIMC], { reg: [0x11810000, 0x1000], iommus: ["FIMC1"] }),
    dev("fimc2", [FIMC], { reg: [0x11820000, 0x1000], iommus: ["FIMC2"] }),
    dev("fimc3", [FIMC], { reg: [0x11830000, 0x1000], iommus: ["FIMC3"] }),
    dev("sensor0", ["umm,test-pattern-sensor"]),
    dev("fimd0", ["samsung,exynos4210-fimd"], { reg: [0x11c00000, 0x20000], iommus: ["FIMD0"] }),
    dev("g2d", ["samsung,exynos4210-g2d"], { reg: [0x12800000, 0x1000], iommus: ["G2D"] }),
    dev("mfc", ["samsung,mfc-v5"], {
      reg: [0x13400000, 0x10000],
      iommus: ["MFC_L", "MFC_R"],
      memoryRegions: [EXYNOS4210_MFC_LEFT, EXYNOS4210_MFC_RIGHT],
      cmaRegionKinds: "mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2",
      properties: { "iommu-names": ["left", "right"] },
    }),
    dev("jpeg", ["samsung,exynos4210-jpeg"], { reg: [0x11840000, 0x1000], iommus: ["JPEG"] }),
    dev("rotator", ["samsung,exynos4210-rotator"], { reg: [0x12810000, 0x1000], iommus: ["ROTATOR"] }),
    dev("mixer", ["samsung,exynos4210-mixer"], { reg: [0x12c10000, 0x2100], iommus: ["TV"] }),
    dev("mdma", ["arm,pl330", "arm,primecell"], { reg: [0x12850000, 0x1000], iommus: ["MDMA"] }),
    dev("sss", ["samsung,exynos4210-secss"], { reg: [0x10830000, 0x300], iommus: ["SSS"] }),
    dev("pcie", ["samsung,exynos4210-pcie"], { iommus: ["PCIe"] }),
  ],
});
