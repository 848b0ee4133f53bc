// A device tree boots the same machine as the equivalent data board.
import { SZ_1M } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import {
  type BoardDescription,
  boardFromDt,
  bootBoard,
  compileDts,
  DT_DEFAULT_CACHE,
  EXYNOS4210_BOARD,
  S5PV210_BOARD,
} from "../src/index.js";
import { blob, fixture, fixtureText, HAVE_DTC, mini, NO_DTC } from "./helpers.js";

/** Boots `b`, returns its shape and its leak report. */
function shapeOf(b: BoardDescription) {
  const m = bootBoard(b, { seed: 1 });
  const shape = m.describe();
  const leaks = m.shutdown().leaks;
  return { shape, leaks };
}

describe("the DTS fixtures boot the same machines as the data boards", () => {
  for (const [file, data] of [
    ["exynos4210", EXYNOS4210_BOARD],
    ["s5pv210", S5PV210_BOARD],
  ] as const) {
    it(`${file}.dtb`, () => {
      const fromDt = boardFromDt(fixture(`${file}.dtb`), { name: file, ump: data.ump });
      const a = shapeOf(data);
      const b = shapeOf(fromDt);
      expect(b.shape).toEqual(a.shape);
      expect([a.leaks, b.leaks]).toEqual([[], []]);
      // the shape is what the board says: devices, their SysMMUs, pools, CMA regions, /dev
      expect(a.shape.devices.map((d) => [d.name, d.sysmmus])).toEqual(
        data.devices.map((d) => [d.name, d.iommus]).sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
      );
      expect(a.shape.cma.length).toBeGreaterThanOrEqual(data.reservedMemory.length);
      expect(a.shape.devPaths).toContain("/dev/ump");
    });
  }

  it.skipIf(!HAVE_DTC)(`exynos4210.dts compiled by dtc now ${NO_DTC}`, () => {
    const b = boardFromDt(compileDts(fixtureText("exynos4210.dts")), {
      name: "exynos4210",
      ump: EXYNOS4210_BOARD.ump,
    });
    expect(shapeOf(b).shape).toEqual(shapeOf(EXYNOS4210_BOARD).shape);
  });
});

/** The data board the mainline-style fragment below describes. */
const MINI: BoardDescription = {
  name: "mini",
  banks: [{ name: "bank0", start: 0x40000000, size: 0x10000000 }],
  lowmemSize: 760 * SZ_1M,
  cmdline: { extra: ["console=ttyS0"], cmaMap: "*=pool@48000000" },
  reservedMemory: [
    {
      name: "pool@48000000",
      compatible: "shared-dma-pool",
      reg: { base: 0x48000000, size: 0x800000 },
      reusable: true,
    },
    {
      name: "fw@4a000000",
      compatible: "shared-dma-pool",
      reg: { base: 0x4a000000, size: 0x100000 },
      noMap: true,
    },
  ],
  ump: null,
  cache: DT_DEFAULT_CACHE,
  sysmmus: [{ name: "FIMC0", base: 0x11a20000, version: "1.0" }],
  devices: [
    {
      name: "fimc0",
      compatible: ["samsung,exynos4210-fimc"],
      reg: [{ base: 0x11800000, size: 0x1000 }],
      dmaMaskBits: 32,
      coherentDmaMaskBits: 32,
      iommus: ["FIMC0"],
      memoryRegions: ["pool@48000000", "fw@4a000000"],
      properties: { "umm,sensor": "sensor0" },
    },
    {
      name: "sensor0",
      compatible: ["umm,test-pattern-sensor"],
      dmaMaskBits: 32,
      coherentDmaMaskBits: 32,
      iommus: [],
      memoryRegions: [],
      properties: {},
    },
  ],
};

/** The same machine as mainline Exynos4 device trees write it: reserved-memory, a sysmmu, a master. */
const MINI_DTS = `/dts-v1/;
/ {
	#address-cells = <1>;
	#size-cells = <1>;
	compatible = "umm,mini";
	aliases { fimc0 = &fimc_0; sensor0 = &sensor; };
	chosen { bootargs = "console=ttyS0 cma.map=*=pool@48000000"; };
	memory@40000000 { device_type = "memory"; reg = <0x40000000 0x10000000>; };
	reserved-memory {
		#address-cells = <1>;
		#size-cells = <1>;
		ranges;
		pool: pool@48000000 { compatible = "shared-dma-pool"; reg = <0x48000000 0x800000>; reusable; };
		fw: fw@4a000000 { compatible = "shared-dma-pool"; reg = <0x4a000000 0x100000>; no-map; };
	};
	soc: soc {
		compatible = "simple-bus";
		#address-cells = <1>;
		#size-cells = <1>;
		ranges;
		sysmmu_fimc0: sysmmu@11a20000 {
			compatible = "samsung,exynos-sysmmu";
			reg = <0x11a20000 0x1000>;
			#iommu-cells = <0>;
		};
		fimc_0: fimc@11800000 {
			compatible = "samsung,exynos4210-fimc";
			reg = <0x11800000 0x1000>;
			iommus = <&sysmmu_fimc0>;
			memory-region = <&pool>, <&fw>;
			umm,sensor = <&sensor>;
		};
	};
	sensor: sensor { compatible = "umm,test-pattern-sensor"; };
};
`;

describe("a DTS fragment in the style of mainline Exynos4 device trees", () => {
  it("boots the same machine shape as the equivalent data board (writer-made blob)", () => {
    const a = shapeOf(MINI);
    const b = shapeOf(boardFromDt(blob(mini()), { name: "mini" }));
    expect(b).toEqual(a);
    expect(a.leaks).toEqual([]);
    expect(a.shape.devices[0]).toMatchObject({
      name: "fimc0",
      sysmmus: ["FIMC0"],
      ports: 1,
      cmaArea: "pool@48000000",
      coherentPool: null, // a SysMMU master's bus addresses are IOVAs: no physical pool
    });
    expect(a.shape.cma.map((r) => [r.name, r.base, r.size])).toEqual([
      ["pool@48000000", 0x48000000, 0x800000],
      ["fw@4a000000", 0x4a000000, 0x100000],
    ]);
  });

  it.skipIf(!HAVE_DTC)(`boots the same machine shape when dtc compiles it ${NO_DTC}`, () => {
    const b = shapeOf(boardFromDt(compileDts(MINI_DTS), { name: "mini" }));
    expect(b).toEqual(shapeOf(MINI));
  });
});
