/**
 * A second board that differs from the default only in data: an S5PV210-class machine
 * (arch/arm/mach-s5pv210/mach-goni.c, arch/arm/boot/dts/samsung/s5pv210.dtsi), the SoC the 2010
 * CMA patches were written on.
 *
 * - DRAM: two 512 MiB banks at 0x20000000 and 0x40000000 (a hole between them); 760 MiB lowmem.
 * - **No System MMU**: the FIMCs and the MFC reach physical memory directly, so every buffer they
 *   use must be physically contiguous — which is why CMA exists. 2010 regions: the MFC's
 *   firmware and bank-A buffers in DRAM bank 0, bank-B buffers in bank 1, a "fimc" region for the
 *   three camera interfaces; the merged default area "common" (64 MiB); the MFC's two
 *   `memory-region` pools as on the Exynos board.
 * - A 24-bit DMA master `dma24` ("umm,legacy-dma24") whose `dma-ranges` put bus address 0 at the
 *   start of RAM (dmaPfnOffset 0x20000), with its own 4 MiB no-map pool inside the 16 MiB it
 *   reaches.
 * - `pmm=32M`, a 32 MiB UMP carve-out at the top of bank 1, an ideal cache with the Cortex-A8's
 *   64-byte lines, 32 KiB L1D and 512 KiB L2.
 * - Media devices list the S5PV210 compatible first and the Exynos4210 one as fallback, so the
 *   same drivers bind.
 *
 * `fixtures/s5pv210.dts` describes the same machine as a device tree.
 *
 * @module
 */
import { SZ_1M, SZ_4M, SZ_8M, SZ_32K, SZ_32M, SZ_512K, SZ_512M } from "@umm/kernel-core";
import { DEFAULT_LOWMEM_SIZE } from "@umm/mm-core";
import { type BoardDescription, type BoardDevice, deepFreeze } from "../board.js";

/** The MFC left port's pool: 36 MiB, no-map, in DRAM bank 0. */
export const S5PV210_MFC_LEFT = "mfc-left@2a000000";
/** The MFC right port's pool: 8 MiB, reusable (CMA), in DRAM bank 1. */
export const S5PV210_MFC_RIGHT = "mfc-right@4a000000";
/** The 24-bit master's pool: 4 MiB, no-map, inside the first 16 MiB of RAM. */
export const S5PV210_DMA24_POOL = "dma24-pool@20c00000";

function dev(
  name: string,
  compatible: string[],
  reg: [number, number] | null,
  more: Partial<BoardDevice> = {},
): BoardDevice {
  return {
    name,
    compatible,
    ...(reg ? { reg: [{ base: reg[0], size: reg[1] }] } : {}),
    dmaMaskBits: 32,
    coherentDmaMaskBits: 32,
    iommus: [],
    memoryRegions: [],
    properties: {},
    ...more,
  };
}

const FIMC = ["samsung,s5pv210-fimc", "samsung,exynos4210-fimc"];

/** The S5PV210-class board. Frozen; validated by the tests. */
export const S5PV210_BOARD: BoardDescription = deepFreeze({
  name: "s5pv210",
  banks: [
    { name: "bank0", start: 0x20000000, size: SZ_512M },
    { name: "bank1", start: 0x40000000, size: SZ_512M },
  ],
  lowmemSize: DEFAULT_LOWMEM_SIZE,
  cmdline: {
    extra: ["console=ttySAC0,115200"],
    cma: "mfc_fw=4M@0x2d000000;mfc_b1=32M@0x2e000000;mfc_b2=32M@0x4c000000;fimc=24M",
    cmaMap: "*=common",
    pmm: "32M",
  },
  reservedMemory: [
    {
      name: "common",
      compatible: "shared-dma-pool",
      reusable: true,
      size: 64 * SZ_1M,
      alignment: SZ_4M,
      allocRanges: [{ base: 0x20000000, size: SZ_512M }],
      cmaDefault: true,
    },
    {
      name: S5PV210_MFC_LEFT,
      compatible: "shared-dma-pool",
      noMap: true,
      reg: { base: 0x2a000000, size: 36 * SZ_1M },
    },
    {
      name: S5PV210_MFC_RIGHT,
      compatible: "shared-dma-pool",
      reusable: true,
      reg: { base: 0x4a000000, size: SZ_8M },
    },
    {
      name: S5PV210_DMA24_POOL,
      compatible: "shared-dma-pool",
      noMap: true,
      reg: { base: 0x20c00000, size: SZ_4M },
    },
  ],
  ump: { base: 0x5e000000, size: SZ_32M },
  cache: { mode: "ideal", lineSize: 64, l1Size: SZ_32K, l2Size: SZ_512K },
  sysmmus: [],
  devices: [
    dev("fimc0", FIMC, [0xfb200000, 0x1000], {
      cmaRegionKinds: "fimc0=fimc",
      properties: { "samsung,cam-if": true, "umm,sensor": "sensor0" },
    }),
    dev("fimc1", FIMC, [0xfb300000, 0x1000], { cmaRegionKinds: "fimc1=fimc" }),
    dev("fimc2", FIMC, [0xfb400000, 0x1000], { cmaRegionKinds: "fimc2=fimc" }),
    dev("sensor0", ["umm,test-pattern-sensor"], null),
    dev("fimd0", ["samsung,s5pv210-fimd", "samsung,exynos4210-fimd"], [0xf8000000, 0x20000]),
    dev("g2d", ["samsung,s5pv210-g2d", "samsung,exynos4210-g2d"], [0xfa000000, 0x1000]),
    dev("mfc", ["samsung,mfc-v5"], [0xf1700000, 0x4000], {
      memoryRegions: [S5PV210_MFC_LEFT, S5PV210_MFC_RIGHT],
      cmaRegionKinds: "mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2",
    }),
    dev("dma24", ["umm,legacy-dma24"], [0xe0a00000, 0x1000], {
      dmaMaskBits: 24,
      coherentDmaMaskBits: 24,
      dmaPfnOffset: 0x20000,
      memoryRegions: [S5PV210_DMA24_POOL],
    }),
  ],
});
