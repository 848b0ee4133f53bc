import { type ErrnoName, SZ_1M, SZ_4M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { EXYNOS4210_SYSMMUS } from "@umm/plat-s5p-sysmmu";
import { describe, expect, it } from "vitest";
import {
  BOARDS,
  type BoardDescription,
  boardByName,
  boardCmaMap,
  boardCmdline,
  boardDeviceOpts,
  boardSysmmuDeviceName,
  boardSysmmuInstance,
  boardSysmmuOpts,
  DEFAULT_BOARD,
  EXYNOS4210_BOARD,
  S5PV210_BOARD,
  validateBoard,
} from "../src/index.js";
import { clone, type Mutable } from "./helpers.js";

type B = Mutable<BoardDescription>;
const dev = (b: B, name: string) => b.devices.find((d) => d.name === name)!;
const rmem = (b: B, name: string) => b.reservedMemory.find((n) => n.name === name)!;

describe("the shipped boards", () => {
  it("both validate", () => {
    expect(() => validateBoard(EXYNOS4210_BOARD)).not.toThrow();
    expect(() => validateBoard(S5PV210_BOARD)).not.toThrow();
  });

  it("are frozen, JSON-serialisable data", () => {
    for (const b of Object.values(BOARDS)) {
      expect(Object.isFrozen(b) && Object.isFrozen(b.devices[0]) && Object.isFrozen(b.banks)).toBe(true);
      const back = JSON.parse(JSON.stringify(b)) as BoardDescription;
      expect(back).toEqual(b);
      expect(() => validateBoard(back)).not.toThrow();
    }
  });

  it("the default is the Exynos4210 board; boards are found by name", () => {
    expect(DEFAULT_BOARD).toBe(EXYNOS4210_BOARD);
    expect(boardByName("s5pv210")).toBe(S5PV210_BOARD);
    expect(() => boardByName("omap4")).toThrow(
      kerr("ENOENT", 'no board named "omap4" (boards: exynos4210, s5pv210)'),
    );
    expect(() => boardByName("toString")).toThrow(kerr("ENOENT"));
  });

  it("exynos4210: 1 GiB in two banks, the 16 SysMMUs with their masters, 32-bit masks", () => {
    const b = EXYNOS4210_BOARD;
    expect(b.banks.map((x) => [x.start, x.size])).toEqual([
      [0x40000000, 512 * SZ_1M],
      [0x60000000, 512 * SZ_1M],
    ]);
    expect(b.sysmmus.map((s) => [s.name, s.base])).toEqual(
      EXYNOS4210_SYSMMUS.map((s) => [s.name, s.sfrBase]),
    );
    const served = new Map(b.devices.flatMap((d) => d.iommus.map((s) => [s, d.name] as const)));
    expect(Object.fromEntries(served)).toEqual({
      FIMC0: "fimc0",
      FIMC1: "fimc1",
      FIMC2: "fimc2",
      FIMC3: "fimc3",
      FIMD0: "fimd0",
      G2D: "g2d",
      MFC_L: "mfc",
      MFC_R: "mfc",
      JPEG: "jpeg",
      ROTATOR: "rotator",
      TV: "mixer",
      MDMA: "mdma",
      SSS: "sss",
      PCIe: "pcie",
    });
    expect(b.devices.every((d) => d.dmaMaskBits === 32 && d.coherentDmaMaskBits === 32)).toBe(true);
    const compat = Object.fromEntries(b.devices.map((d) => [d.name, d.compatible[0]]));
    expect(compat).toMatchObject({
      fimc0: "samsung,exynos4210-fimc",
      fimc3: "samsung,exynos4210-fimc",
      sensor0: "umm,test-pattern-sensor",
      fimd0: "samsung,exynos4210-fimd",
      g2d: "samsung,exynos4210-g2d",
      mfc: "samsung,mfc-v5",
    });
    const def = b.reservedMemory.find((n) => n.cmaDefault)!;
    expect([def.name, def.size, def.reusable]).toEqual(["common", 96 * SZ_1M, true]);
    expect(b.ump).toEqual({ base: 0x5e000000, size: 32 * SZ_1M });
    expect(b.cache).toEqual({ mode: "ideal", lineSize: 32, l1Size: 32 * 1024, l2Size: SZ_1M });
  });

  it("s5pv210: banks at 0x20000000 and 0x40000000, no SysMMU, a 24-bit master at offset 0x20000", () => {
    const b = S5PV210_BOARD;
    expect(b.banks.map((x) => x.start)).toEqual([0x20000000, 0x40000000]);
    expect(b.sysmmus).toEqual([]);
    expect(b.devices.every((d) => d.iommus.length === 0)).toBe(true);
    const dma24 = b.devices.find((d) => d.name === "dma24")!;
    expect([dma24.compatible, dma24.dmaMaskBits, dma24.dmaPfnOffset]).toEqual([
      ["umm,legacy-dma24"],
      24,
      0x20000,
    ]);
    // the same drivers bind: the media devices list the Exynos compatible as fallback
    for (const name of ["fimc0", "fimd0", "g2d", "mfc"]) {
      const d = b.devices.find((x) => x.name === name)!;
      const e = EXYNOS4210_BOARD.devices.find((x) => x.name === name)!;
      expect(d.compatible).toContain(e.compatible[0]);
    }
  });
});

describe("assembly helpers", () => {
  it("boardCmdline joins the pieces; the CMA map puts device rules before the board's", () => {
    expect(boardCmaMap(EXYNOS4210_BOARD)).toBe("mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2;*=common");
    expect(boardCmdline(EXYNOS4210_BOARD)).toBe(
      "console=ttySAC2,115200 cma=mfc_fw=4M@0x4d000000;mfc_b1=32M@0x4e000000;mfc_b2=32M@0x6c000000 " +
        "cma.map=mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2;*=common pmm=32M",
    );
    expect(boardCmaMap(S5PV210_BOARD)).toBe(
      "fimc0=fimc;fimc1=fimc;fimc2=fimc;mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2;*=common",
    );
    const b = clone(EXYNOS4210_BOARD);
    b.cmdline = {};
    for (const d of b.devices) delete d.cmaRegionKinds;
    expect(boardCmdline(b)).toBe("");
  });

  it("boardDeviceOpts gives kernel-core Device options", () => {
    const mfc = EXYNOS4210_BOARD.devices.find((d) => d.name === "mfc")!;
    expect(boardDeviceOpts(mfc)).toEqual({
      name: "mfc",
      compatible: ["samsung,mfc-v5"],
      dmaMask: 0xffffffff,
      coherentDmaMask: 0xffffffff,
      dmaPfnOffset: 0,
      properties: {
        "iommu-names": ["left", "right"],
        reg: [0x13400000, 0x10000],
        iommus: ["MFC_L", "MFC_R"],
        "memory-region": ["mfc-left@4a000000", "mfc-right@6a000000"],
      },
    });
    const dma24 = S5PV210_BOARD.devices.find((d) => d.name === "dma24")!;
    expect(boardDeviceOpts(dma24)).toMatchObject({
      dmaMask: 0xffffff,
      coherentDmaMask: 0xffffff,
      dmaPfnOffset: 0x20000,
    });
  });

  it("boardSysmmuInstance / boardSysmmuOpts / boardSysmmuDeviceName feed sysmmuPlatformDevice", () => {
    const s = {
      name: "FIMC0",
      base: 0x11a20000,
      version: "1.0" as const,
      tlbEntries: 32,
      secureWindow: { base: 0x5f000000, size: SZ_1M },
    };
    expect(boardSysmmuInstance(s)).toEqual({ name: "FIMC0", sfrBase: 0x11a20000, version: "1.0" });
    expect(boardSysmmuOpts(s)).toEqual({ tlbEntries: 32, secureWindow: { base: 0x5f000000, size: SZ_1M } });
    expect(boardSysmmuOpts({ name: "X", base: 0x1000, version: "1.0" })).toEqual({});
    expect(boardSysmmuDeviceName(s)).toBe("11a20000.sysmmu");
  });
});

/** [what, board, edit, errno, message] */
const CASES: [string, BoardDescription, (b: B) => void, ErrnoName, RegExp | string][] = [
  ["no bank", EXYNOS4210_BOARD, (b) => (b.banks = []), "EINVAL", 'board "exynos4210": no DRAM bank'],
  [
    "overlapping banks",
    EXYNOS4210_BOARD,
    (b) => (b.banks[1]!.start = 0x50000000),
    "EINVAL",
    'bank "bank1": bank "bank1" [0x50000000, 0x70000000) overlaps bank "bank0" [0x40000000, 0x60000000)',
  ],
  [
    "an unaligned bank",
    EXYNOS4210_BOARD,
    (b) => (b.banks[0]!.start += 0x10),
    "EINVAL",
    /bank "bank0": start \d+ is not a page-aligned/,
  ],
  [
    "a bank of size 0",
    EXYNOS4210_BOARD,
    (b) => (b.banks[0]!.size = 0),
    "EINVAL",
    /size 0 is not a positive multiple of 4 KiB/,
  ],
  [
    "two banks with one name",
    EXYNOS4210_BOARD,
    (b) => (b.banks[1]!.name = "bank0"),
    "EINVAL",
    /a second bank is named "bank0"/,
  ],
  [
    "a bank beyond 4 GiB",
    EXYNOS4210_BOARD,
    (b) => (b.banks[1]!.start = 0xf0000000),
    "EINVAL",
    /beyond the 32-bit physical/,
  ],
  ["a bad lowmem size", EXYNOS4210_BOARD, (b) => (b.lowmemSize = 0), "EINVAL", /lowmemSize 0/],
  [
    "a bad cache mode",
    EXYNOS4210_BOARD,
    (b) => (b.cache.mode = "lru" as "ideal"),
    "EINVAL",
    /cache: mode "lru"/,
  ],
  [
    "a bad line size",
    EXYNOS4210_BOARD,
    (b) => (b.cache.lineSize = 48),
    "EINVAL",
    /lineSize 48 is not a power of two/,
  ],
  [
    "an L2 not a multiple of the line",
    EXYNOS4210_BOARD,
    (b) => (b.cache.l2Size = 1000),
    "EINVAL",
    /l2Size 1000/,
  ],
  [
    "a sized cache of no lines",
    EXYNOS4210_BOARD,
    (b) => (b.cache = { mode: "sized", lineSize: 32, l1Size: 0, l2Size: 0 }),
    "EINVAL",
    /sized cache needs/,
  ],
  [
    "a bad cma=",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.cma = "mfc_fw=0"),
    "EINVAL",
    /command line: cma=: cma=: invalid size/,
  ],
  [
    "more than 15 cma= regions",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.cma = Array.from({ length: 16 }, (_, i) => `r${i}=1M`).join(";")),
    "ENOSPC",
    /too many early regions/,
  ],
  [
    "a bad cma.map=",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.cmaMap = "=common"),
    "EINVAL",
    /command line: cma.map=/,
  ],
  ["pmm=0", EXYNOS4210_BOARD, (b) => (b.cmdline.pmm = "0"), "EINVAL", /pmm=: size must be greater than 0/],
  [
    "pmm= over 1 GiB",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.pmm = "2G"),
    "EINVAL",
    /refusing to allocate more than 1 GiB/,
  ],
  ["pmm= not a size", EXYNOS4210_BOARD, (b) => (b.cmdline.pmm = "lots"), "EINVAL", /"lots" is not a size/],
  [
    "cma= among the extra words",
    EXYNOS4210_BOARD,
    (b) => b.cmdline.extra!.push("cma=64M"),
    "EINVAL",
    /belongs in the cma piece/,
  ],
  [
    "a word with a space",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.extra = ["a b"]),
    "EINVAL",
    /"a b" is not a word/,
  ],
  [
    "a reserved region outside DRAM",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-right@6a000000").reg = { base: 0x80000000, size: 8 * SZ_1M }),
    "EINVAL",
    '/reserved-memory/mfc-right@6a000000: property "reg": [0x80000000, 0x80800000) is outside DRAM',
  ],
  [
    "a reserved region overlapping another",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-right@6a000000").reg = { base: 0x4c000000, size: 8 * SZ_1M }),
    "EINVAL",
    '/reserved-memory/mfc-right@6a000000: property "reg": [0x4c000000, 0x4c800000) overlaps /reserved-memory/mfc-left@4a000000 [0x4a000000, 0x4c400000)',
  ],
  [
    "a reserved region overlapping a placed cma= region",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-right@6a000000").reg = { base: 0x6c000000, size: 8 * SZ_1M }),
    "EINVAL",
    '/reserved-memory/mfc-right@6a000000: property "reg": [0x6c000000, 0x6c800000) overlaps cma= region "mfc_b2" [0x6c000000, 0x6e000000)',
  ],
  [
    "the UMP carve-out overlapping a region",
    EXYNOS4210_BOARD,
    (b) => (b.ump = { base: 0x4e000000, size: SZ_4M }),
    "EINVAL",
    /the UMP carve-out: \[0x4e000000, 0x4e400000\) overlaps cma= region "mfc_b1" \[0x4e000000, 0x50000000\)/,
  ],
  [
    "the UMP carve-out outside DRAM",
    EXYNOS4210_BOARD,
    (b) => (b.ump = { base: 0x10000000, size: SZ_4M }),
    "EINVAL",
    /ump: the carve-out .* is outside DRAM/,
  ],
  [
    "a placed cma= region outside DRAM",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.cma = "mfc_fw=4M@0x90000000"),
    "EINVAL",
    /cma=: region "mfc_fw" \[0x90000000, 0x90400000\) is outside DRAM/,
  ],
  [
    "neither reg nor size",
    EXYNOS4210_BOARD,
    (b) => {
      delete rmem(b, "common").size;
    },
    "EINVAL",
    '/reserved-memory/common: property "reg": neither "reg" nor "size" is given',
  ],
  [
    "reusable with no-map",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "common").noMap = true),
    "EINVAL",
    /\/reserved-memory\/common: property "reusable": "reusable" and "no-map" are mutually exclusive/,
  ],
  [
    "a shared-dma-pool neither reusable nor no-map",
    EXYNOS4210_BOARD,
    (b) => delete rmem(b, "mfc-left@4a000000").noMap,
    "EINVAL",
    /regions without no-map are not yet supported/,
  ],
  [
    "a CMA pool not 4 MiB-aligned",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-right@6a000000").reg = { base: 0x6a100000, size: 8 * SZ_1M }),
    "EINVAL",
    /mfc-right@6a000000: property "reg": a reusable \(CMA\) pool must be 4 MiB-aligned/,
  ],
  [
    "a CMA pool across the lowmem boundary",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-right@6a000000").reg = { base: 0x6f400000, size: 8 * SZ_1M }),
    "EINVAL",
    /crosses the lowmem\/highmem boundary 0x6f800000/,
  ],
  [
    "an unaligned static region",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-left@4a000000").reg!.size = 0x1001),
    "EINVAL",
    /is not page-aligned/,
  ],
  [
    "a bad dynamic size",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "common").size = 123),
    "EINVAL",
    /property "size": 123 is not a positive multiple/,
  ],
  [
    "a bad alignment",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "common").alignment = 3 * SZ_1M),
    "EINVAL",
    /property "alignment": 3145728 is not a power of two/,
  ],
  [
    "alloc-ranges holding no DRAM",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "common").allocRanges = [{ base: 0x10000000, size: 0x1000000 }]),
    "EINVAL",
    /property "alloc-ranges": \[0x10000000, 0x11000000\) holds no DRAM/,
  ],
  [
    "a dynamic region that cannot fit",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "common").size = 768 * SZ_1M),
    "EINVAL",
    /property "size": 768 MiB does not fit in the DRAM it may use \(at most 512 MiB in one run\)/,
  ],
  [
    "two default CMA areas",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-right@6a000000").cmaDefault = true),
    "EINVAL",
    /\/reserved-memory\/common is already the default CMA area/,
  ],
  [
    "a default area the merged cma= bypasses",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline = { cma: "64M" }),
    "EINVAL",
    /linux,cma-default": the merged cma= on the command line would bypass this node/,
  ],
  [
    "a default area that is not CMA",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "mfc-left@4a000000").cmaDefault = true),
    "EINVAL",
    /mfc-left@4a000000: property "linux,cma-default": the node is not a reusable shared-dma-pool/,
  ],
  [
    "a DMA default that is not a no-map pool",
    EXYNOS4210_BOARD,
    (b) => (rmem(b, "common").dmaDefault = true),
    "EINVAL",
    /linux,dma-default": the node is not a no-map shared-dma-pool/,
  ],
  [
    "more CMA areas than CONFIG_CMA_AREAS",
    EXYNOS4210_BOARD,
    (b) => {
      for (let i = 0; i < 6; i++) {
        b.reservedMemory.push({
          name: `extra${i}`,
          compatible: "shared-dma-pool",
          reusable: true,
          size: SZ_4M,
        });
      }
    },
    "EINVAL",
    /8 CMA areas wanted, CONFIG_CMA_AREAS is 7/,
  ],
  [
    "two reserved nodes with one name",
    EXYNOS4210_BOARD,
    (b) => b.reservedMemory.push({ ...rmem(b, "common") }),
    "EINVAL",
    "/reserved-memory/common: a second node has this name",
  ],
  [
    "a cma= region named like a reserved node",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.cma = "common=4M"),
    "EINVAL",
    /region "common" has the name of another region/,
  ],
  [
    "more memory claimed than DRAM holds",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.cma = "a=512M;b=512M"),
    "EINVAL",
    /reserved memory \(.* placed \+ .* to place\) exceeds the 1024 MiB of DRAM/,
  ],
  [
    "an unknown sysmmu",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "mfc").iommus = ["MFC_L", "MFC_X"]),
    "EINVAL",
    'device "mfc": iommus: names SysMMU "MFC_X", which the board does not have',
  ],
  [
    "a sysmmu listed twice",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "mfc").iommus = ["MFC_L", "MFC_L"]),
    "EINVAL",
    /lists SysMMU "MFC_L" twice/,
  ],
  [
    "a sysmmu serving two masters",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "fimc1").iommus = ["FIMC0"]),
    "EINVAL",
    'device "fimc1": iommus: SysMMU "FIMC0" already serves device "fimc0"',
  ],
  [
    "an unknown memory region",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "mfc").memoryRegions = ["mfc-left@4a000000", "mfc-middle"]),
    "EINVAL",
    'device "mfc": memoryRegions: names "mfc-middle", which is not a /reserved-memory node',
  ],
  [
    "a memory region listed twice",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "mfc").memoryRegions = ["common", "common"]),
    "EINVAL",
    /lists "common" twice/,
  ],
  [
    "duplicate device names",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "fimc1").name = "fimc0"),
    "EINVAL",
    /device "fimc0" is also the name of another device/,
  ],
  [
    "a device named like a SysMMU device",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "pcie").name = "11a20000.sysmmu"),
    "EINVAL",
    /the name of a SysMMU's platform device/,
  ],
  [
    "a device without a name",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "pcie").name = ""),
    "EINVAL",
    /"" is not a device name/,
  ],
  [
    "an empty compatible list",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "g2d").compatible = []),
    "EINVAL",
    /device "g2d": compatible: \[\] is not a non-empty string list/,
  ],
  [
    "a bad reg",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "g2d").reg = [{ base: 0x12800000, size: 0 }]),
    "EINVAL",
    /device "g2d": reg: .* is not a range/,
  ],
  [
    "a DMA mask of 0 bits",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "g2d").dmaMaskBits = 0),
    "EINVAL",
    'device "g2d": dmaMaskBits: 0 is not a mask width in bits (1..64)',
  ],
  [
    "a coherent mask of 65 bits",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "g2d").coherentDmaMaskBits = 65),
    "EINVAL",
    /coherentDmaMaskBits: 65/,
  ],
  [
    "a fractional mask",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "g2d").dmaMaskBits = 31.5),
    "EINVAL",
    /dmaMaskBits: 31.5/,
  ],
  [
    "a negative DMA offset",
    S5PV210_BOARD,
    (b) => (dev(b, "dma24").dmaPfnOffset = -1),
    "EINVAL",
    /dmaPfnOffset: -1 is not a page count/,
  ],
  [
    "a mask that reaches no DRAM",
    S5PV210_BOARD,
    (b) => delete dev(b, "dma24").dmaPfnOffset,
    "EINVAL",
    'device "dma24": dmaMaskBits: a 24-bit DMA mask with offset 0x0 reaches no DRAM ([0x0, 0x1000000))',
  ],
  [
    "a pool beyond the coherent mask",
    S5PV210_BOARD,
    (b) => (dev(b, "dma24").memoryRegions = ["mfc-left@2a000000"]),
    "EINVAL",
    /"mfc-left@2a000000" \[0x2a000000, 0x2c400000\) is beyond the reach of its 24-bit coherent DMA mask/,
  ],
  [
    "a field given as a property",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "g2d").properties.reg = [1, 2]),
    "EINVAL",
    /properties\["reg"\]: is a field of the device/,
  ],
  [
    "a property that is not a value",
    EXYNOS4210_BOARD,
    (b) => ((dev(b, "g2d").properties as Record<string, unknown>).x = { a: 1 }),
    "EINVAL",
    /properties\["x"\]: \{"a":1\} is not a property value/,
  ],
  [
    "a umm,sensor naming no device",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "fimc0").properties["umm,sensor"] = "sensor9"),
    "EINVAL",
    /properties\["umm,sensor"\]: "sensor9" is not a device of the board/,
  ],
  [
    "CMA kinds matching another device",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "mfc").cmaRegionKinds = "fimc*/f=mfc_fw"),
    "EINVAL",
    /device "mfc": cmaRegionKinds: rule "fimc\*\/f=mfc_fw" has pattern "fimc\*", which does not match device "mfc"/,
  ],
  [
    "CMA kinds naming an unknown region",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "mfc").cmaRegionKinds = "mfc/f=mfc_firmware"),
    "EINVAL",
    /names region "mfc_firmware", which the board does not declare/,
  ],
  [
    "CMA kinds that do not parse",
    EXYNOS4210_BOARD,
    (b) => (dev(b, "mfc").cmaRegionKinds = "mfc"),
    "EINVAL",
    /device "mfc": cmaRegionKinds: /,
  ],
  [
    "a board map naming an unknown region",
    EXYNOS4210_BOARD,
    (b) => (b.cmdline.cmaMap = "*=cmmon"),
    "EINVAL",
    /cma.map=: rule "\*=cmmon" names region "cmmon"/,
  ],
  [
    "a SysMMU named twice",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[1]!.name = "MDMA"),
    "EINVAL",
    /a second SysMMU is named "MDMA"/,
  ],
  [
    "a SysMMU window shared",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[1]!.base = b.sysmmus[0]!.base),
    "EINVAL",
    /0x10a40000 is also the register window of SysMMU "MDMA"/,
  ],
  [
    "an unaligned SysMMU window",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[0]!.base += 4),
    "EINVAL",
    /is not a 4 KiB-aligned register window address/,
  ],
  [
    "a SysMMU window in DRAM",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[0]!.base = 0x40000000),
    "EINVAL",
    /register window 0x40000000 is in DRAM/,
  ],
  [
    "an unknown SysMMU version",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[0]!.version = "4.0" as "1.0"),
    "EINVAL",
    /"4.0" is not a System MMU version/,
  ],
  [
    "a bad TLB size",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[0]!.tlbEntries = 0),
    "EINVAL",
    /tlbEntries: 0 is not an entry count/,
  ],
  [
    "a bad secure window",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[0]!.secureWindow = { base: 0, size: 0 }),
    "EINVAL",
    /secureWindow: .* is not a range/,
  ],
  [
    "v5 mixed with v1",
    EXYNOS4210_BOARD,
    (b) => (b.sysmmus[3]!.version = "5.0"),
    "EINVAL",
    /a v5 System MMU \("FIMC1"\) and a v1–v3 one \("MDMA"\)/,
  ],
];

describe("validateBoard catches what a boot would trip over", () => {
  it.each(CASES)("%s", (_what, base, edit, errno, message) => {
    const b = clone(base);
    edit(b);
    expect(() => validateBoard(b)).toThrow(kerr(errno, message));
  });

  it("refuses what is not a description", () => {
    expect(() => validateBoard(null as unknown as BoardDescription)).toThrow(kerr("EINVAL", /not an object/));
    expect(() => validateBoard({ ...EXYNOS4210_BOARD, name: "" })).toThrow(kerr("EINVAL", /has no name/));
  });

  it("names device-tree nodes and properties when the parts came from one", () => {
    const b = clone(EXYNOS4210_BOARD);
    dev(b, "fimc1").dtPath = "/soc/fimc@11810000";
    dev(b, "fimc1").iommus = ["FIMC0"];
    expect(() => validateBoard(b)).toThrow(
      kerr("EINVAL", '/soc/fimc@11810000: property "iommus": SysMMU "FIMC0" already serves device "fimc0"'),
    );
    const c = clone(EXYNOS4210_BOARD);
    c.banks[1]!.dtPath = "/memory@50000000";
    c.banks[1]!.start = 0x50000000;
    expect(() => validateBoard(c)).toThrow(
      kerr("EINVAL", /\/memory@50000000: property "reg": bank "bank1" .* overlaps bank "bank0"/),
    );
    const d = clone(EXYNOS4210_BOARD);
    d.cmdline.dtPath = "/chosen";
    d.cmdline.pmm = "0";
    expect(() => validateBoard(d)).toThrow(
      kerr("EINVAL", '/chosen: property "bootargs": pmm=: size must be greater than 0'),
    );
  });

  it("accepts a merged cma= default area without a linux,cma-default node", () => {
    const b = clone(EXYNOS4210_BOARD);
    b.cmdline = { cma: "64M@0x50000000", cmaMap: "*=reserved" };
    for (const d of b.devices) delete d.cmaRegionKinds;
    delete rmem(b, "common").cmaDefault;
    expect(() => validateBoard(b)).not.toThrow();
  });
});
