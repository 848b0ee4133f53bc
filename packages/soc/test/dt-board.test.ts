import { SZ_1M, SZ_4M, SZ_32M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  type BoardDescription,
  boardCmaMap,
  boardCmdline,
  boardFromDt,
  compileDts,
  DT_DEFAULT_CACHE,
  EXYNOS4210_BOARD,
  fdtSpecOf,
  parseFdt,
  S5PV210_BOARD,
} from "../src/index.js";
import { at, blob, fixture, HAVE_DTC, mini, type N, NO_DTC, n } from "./helpers.js";

/** The fields that make a machine's shape, by device name, without provenance. */
function shape(b: BoardDescription) {
  return {
    banks: b.banks.map(({ start, size }) => ({ start, size })),
    lowmemSize: b.lowmemSize,
    cmdline: boardCmdline(b),
    cmaMap: boardCmaMap(b),
    reservedMemory: b.reservedMemory,
    sysmmus: Object.fromEntries(b.sysmmus.map(({ dtPath: _, ...s }) => [s.name, s])),
    devices: Object.fromEntries(b.devices.map(({ dtPath: _, cmaRegionKinds: __, ...d }) => [d.name, d])),
    ump: b.ump,
    cache: b.cache,
  };
}

describe("boardFromDt on the committed fixtures", () => {
  it("exynos4210.dtb gives the machine of EXYNOS4210_BOARD", () => {
    const dt = boardFromDt(fixture("exynos4210.dtb"), { name: "exynos4210", ump: EXYNOS4210_BOARD.ump });
    expect(shape(dt)).toEqual(shape(EXYNOS4210_BOARD));
    // and in particular:
    const mfc = dt.devices.find((d) => d.name === "mfc")!;
    expect(mfc.iommus).toEqual(["MFC_L", "MFC_R"]);
    expect(mfc.memoryRegions).toEqual(["mfc-left@4a000000", "mfc-right@6a000000"]);
    expect(mfc.dtPath).toBe("/soc/mfc@13400000");
    expect(dt.devices.find((d) => d.name === "fimc0")!.properties).toEqual({
      "samsung,cam-if": true,
      "umm,sensor": "sensor0",
    });
    expect(dt.sysmmus).toHaveLength(16);
    expect(dt.banks.map((b) => b.dtPath)).toEqual(["/memory@40000000", "/memory@60000000"]);
    expect(dt.cmdline.dtPath).toBe("/chosen");
  });

  it("s5pv210.dtb gives the machine of S5PV210_BOARD: dma-ranges → dmaPfnOffset and a 24-bit mask", () => {
    const dt = boardFromDt(fixture("s5pv210.dtb"), {
      name: "s5pv210",
      ump: S5PV210_BOARD.ump,
      cache: S5PV210_BOARD.cache,
    });
    expect(shape(dt)).toEqual(shape(S5PV210_BOARD));
    const dma24 = dt.devices.find((d) => d.name === "dma24")!;
    expect([dma24.dmaMaskBits, dma24.coherentDmaMaskBits, dma24.dmaPfnOffset]).toEqual([24, 24, 0x20000]);
    expect(dt.devices.map((d) => d.name)).not.toContain("fb600000.jpeg"); // disabled
    expect(dt.banks.map((b) => [b.name, b.dtPath])).toEqual([
      ["bank0", "/memory@20000000"],
      ["bank1", "/memory@20000000"],
    ]);
  });

  it("takes a parsed tree too, and is pure: same result, tree untouched", () => {
    const tree = parseFdt(fixture("exynos4210.dtb"));
    const before = fdtSpecOf(tree);
    const a = boardFromDt(tree, { name: "x" });
    const b = boardFromDt(fixture("exynos4210.dtb"), { name: "x" });
    expect(a).toEqual(b);
    expect(fdtSpecOf(tree)).toEqual(before);
  });

  it("fills what a device tree does not say from the options or the defaults", () => {
    const d = boardFromDt(blob(mini()), { name: "mini" });
    expect([d.name, d.lowmemSize, d.ump, d.cache]).toEqual(["mini", 760 * SZ_1M, null, DT_DEFAULT_CACHE]);
    const e = boardFromDt(blob(mini()), {
      name: "mini",
      lowmemSize: 128 * SZ_1M,
      ump: { base: 0x4c000000, size: SZ_4M },
      cache: { mode: "sized", lineSize: 64, l1Size: 32768, l2Size: 0 },
    });
    expect([e.lowmemSize, e.ump, e.cache.mode]).toEqual([
      128 * SZ_1M,
      { base: 0x4c000000, size: SZ_4M },
      "sized",
    ]);
    expect(() => boardFromDt(blob(mini()), { name: "" })).toThrow(kerr("EINVAL", /opts.name is required/));
  });
});

describe("boardFromDt: translation rules", () => {
  it("reads the mini board: banks, reserved nodes, the SysMMU, devices, bootargs", () => {
    const d = boardFromDt(blob(mini()), { name: "mini" });
    expect(d.banks).toEqual([
      { name: "bank0", start: 0x40000000, size: 0x10000000, dtPath: "/memory@40000000" },
    ]);
    expect(d.reservedMemory).toEqual([
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
    ]);
    expect(d.sysmmus).toEqual([
      { name: "FIMC0", base: 0x11a20000, version: "1.0", dtPath: "/soc/sysmmu@11a20000" },
    ]);
    expect(d.devices.map((x) => [x.name, x.iommus, x.memoryRegions])).toEqual([
      ["fimc0", ["FIMC0"], ["pool@48000000", "fw@4a000000"]],
      ["sensor0", [], []],
    ]);
    expect(d.cmdline).toEqual({ dtPath: "/chosen", extra: ["console=ttyS0"], cmaMap: "*=pool@48000000" });
  });

  it("names devices without an alias as Linux does (<address>.<name>), else by node name", () => {
    const root = mini();
    at(root, "/aliases").props = {};
    const d = boardFromDt(blob(root), { name: "mini" });
    expect(d.devices.map((x) => x.name)).toEqual(["11800000.fimc", "sensor"]);
    expect(d.devices[0]!.properties["umm,sensor"]).toBe("sensor");
  });

  it("translates reg through nested buses' ranges", () => {
    const root = mini();
    at(root, "/soc").children.push(
      n(
        "camera@11800000",
        {
          compatible: "simple-bus",
          "#address-cells": [1],
          "#size-cells": [1],
          ranges: [0, 0x11800000, 0xa0000],
        },
        [n("fimc@10000", { compatible: "samsung,exynos4210-fimc", reg: [0x10000, 0x1000] })],
      ),
    );
    const d = boardFromDt(blob(root), { name: "mini" });
    const fimc1 = d.devices.find((x) => x.dtPath === "/soc/camera@11800000/fimc@10000")!;
    expect(fimc1.name).toBe("11810000.fimc");
    expect(fimc1.reg).toEqual([{ base: 0x11810000, size: 0x1000 }]);
  });

  it("dma-ranges on the device itself, on a bus, empty (identity) or absent", () => {
    const root = mini();
    at(root, "/").children.push(
      n("own@0", { compatible: "umm,legacy-dma24", "dma-ranges": [0, 0x40000000, 0x1000000] }),
      n(
        "bus",
        {
          compatible: "simple-bus",
          "#address-cells": [1],
          "#size-cells": [1],
          ranges: true,
          "dma-ranges": true,
        },
        [n("plain", { compatible: "umm,plain" })],
      ),
    );
    const d = boardFromDt(blob(root), { name: "mini" });
    const own = d.devices.find((x) => x.name === "own@0")!;
    expect([own.dmaMaskBits, own.dmaPfnOffset]).toEqual([24, 0x40000]);
    const plain = d.devices.find((x) => x.name === "plain")!;
    expect([plain.dmaMaskBits, plain.dmaPfnOffset]).toEqual([32, undefined]);
  });

  it("reads SysMMU versions from samsung,sysmmu-vN compatibles, and tlb-entries / secure-window", () => {
    const root = mini();
    Object.assign(at(root, "/soc/sysmmu@11a20000").props, {
      compatible: ["samsung,sysmmu-v3.1", "samsung,exynos-sysmmu"],
      "tlb-entries": [32],
      "secure-window": [0x4f000000, 0x100000],
    });
    at(root, "/soc").children.push(
      n("sysmmu@14650000", {
        compatible: "samsung,sysmmu-v2",
        reg: [0x14650000, 0x1000],
        "#iommu-cells": [0],
      }),
    );
    const d = boardFromDt(blob(root), { name: "mini" });
    expect(d.sysmmus.map(({ dtPath: _, ...s }) => s)).toEqual([
      {
        name: "FIMC0",
        base: 0x11a20000,
        version: "3.1",
        tlbEntries: 32,
        secureWindow: { base: 0x4f000000, size: 0x100000 },
      },
      { name: "sysmmu@14650000", base: 0x14650000, version: "2.0" },
    ]);
  });

  it("decodes other properties as dtc guesses their type", () => {
    const root = mini();
    Object.assign(at(root, "/sensor").props, {
      flag: true,
      label: "cam",
      names: ["a", "b"],
      one: [7],
      cells: [1, 2, 3],
      bytes: new Uint8Array([1, 2, 3]),
    });
    const d = boardFromDt(blob(root), { name: "mini" });
    expect(d.devices.find((x) => x.name === "sensor0")!.properties).toEqual({
      flag: true,
      label: "cam",
      names: ["a", "b"],
      one: 7,
      cells: [1, 2, 3],
      bytes: { bytes: [1, 2, 3] },
    });
  });

  it("ignores disabled and unknown nodes", () => {
    const root = mini();
    at(root, "/").children.push(
      n("cpus", { "#address-cells": [1], "#size-cells": [0] }, [
        n("cpu@0", { device_type: "cpu", reg: [0] }),
      ]),
    );
    at(root, "/soc").children.push(
      n("off@12000000", { compatible: "x,y", reg: [0x12000000, 0x1000], status: "disabled" }),
      n("nocompat@13000000", { reg: [0x13000000, 0x1000] }),
    );
    at(root, "/reserved-memory").children.push(
      n("gone@4c000000", {
        compatible: "shared-dma-pool",
        reg: [0x90000000, 0x100000],
        "no-map": true,
        status: "disabled",
      }),
    );
    const d = boardFromDt(blob(root), { name: "mini" });
    expect(d.devices.map((x) => x.name)).toEqual(["fimc0", "sensor0"]);
    expect(d.reservedMemory).toHaveLength(2);
  });

  it("reads cma_map= (the v1–v3 spelling) and pmm=; no /chosen gives an empty command line", () => {
    const root = mini();
    at(root, "/chosen").props.bootargs = "cma=4M cma_map=*=reserved pmm=16M quiet";
    const d = boardFromDt(blob(root), { name: "mini" });
    expect(d.cmdline).toEqual({
      dtPath: "/chosen",
      cma: "4M",
      cmaMap: "*=reserved",
      pmm: "16M",
      extra: ["quiet"],
    });
    const r2 = mini();
    r2.children = r2.children.filter((c) => c.name !== "chosen");
    expect(boardFromDt(blob(r2), { name: "mini" }).cmdline).toEqual({});
  });
});

/** [what, edit of the mini tree, message] — every one EINVAL naming the node and property. */
const BROKEN: [string, (t: N) => void, string | RegExp][] = [
  [
    "an iommus phandle no node has",
    (t) => (at(t, "/soc/fimc@11800000").props.iommus = [0x17]),
    '/soc/fimc@11800000: property "iommus" references phandle 0x17, which no node has',
  ],
  [
    "a memory-region phandle no node has",
    (t) => (at(t, "/soc/fimc@11800000").props["memory-region"] = [1, 0x99]),
    '/soc/fimc@11800000: property "memory-region" references phandle 0x99, which no node has',
  ],
  [
    "iommus referencing a node without #iommu-cells",
    (t) => (at(t, "/soc/fimc@11800000").props.iommus = [1]),
    '/soc/fimc@11800000: property "iommus" references /reserved-memory/pool@48000000, which has no "#iommu-cells"',
  ],
  [
    "iommus referencing something that is not a SysMMU",
    (t) => {
      Object.assign(at(t, "/sensor").props, { "#iommu-cells": [0] });
      at(t, "/soc/fimc@11800000").props.iommus = [4];
    },
    '/soc/fimc@11800000: property "iommus" references /sensor (phandle 0x4), which is not a samsung,exynos-sysmmu',
  ],
  [
    "iommus referencing a disabled SysMMU",
    (t) => (at(t, "/soc/sysmmu@11a20000").props.status = "disabled"),
    '/soc/fimc@11800000: property "iommus" references /soc/sysmmu@11a20000 (phandle 0x3), which is disabled',
  ],
  [
    "memory-region referencing a node outside /reserved-memory",
    (t) => (at(t, "/soc/fimc@11800000").props["memory-region"] = [3]),
    '/soc/fimc@11800000: property "memory-region" references /soc/sysmmu@11a20000 (phandle 0x3), which is not an available /reserved-memory node',
  ],
  [
    "umm,sensor referencing a node that is not a device",
    (t) => (at(t, "/soc/fimc@11800000").props["umm,sensor"] = [3]),
    '/soc/fimc@11800000: property "umm,sensor" references /soc/sysmmu@11a20000, which is not a device',
  ],
  [
    "a SysMMU with #iommu-cells = 1",
    (t) => (at(t, "/soc/sysmmu@11a20000").props["#iommu-cells"] = [1]),
    '/soc/sysmmu@11a20000: property "#iommu-cells" is 1; a samsung,exynos-sysmmu takes 0',
  ],
  [
    "a SysMMU without #iommu-cells",
    (t) => delete at(t, "/soc/sysmmu@11a20000").props["#iommu-cells"],
    '/soc/sysmmu@11a20000: no property "#iommu-cells"',
  ],
  [
    "a SysMMU without reg",
    (t) => delete at(t, "/soc/sysmmu@11a20000").props.reg,
    '/soc/sysmmu@11a20000: no property "reg"',
  ],
  [
    "overlapping reserved regions",
    (t) =>
      at(t, "/reserved-memory").children.push(
        n("other@48400000", { compatible: "shared-dma-pool", reg: [0x48400000, 0x100000], "no-map": true }),
      ),
    '/reserved-memory/other@48400000: property "reg": [0x48400000, 0x48500000) overlaps /reserved-memory/pool@48000000 [0x48000000, 0x48800000)',
  ],
  [
    "a reserved region outside DRAM",
    (t) => (at(t, "/reserved-memory/fw@4a000000").props.reg = [0x80000000, 0x100000]),
    '/reserved-memory/fw@4a000000: property "reg": [0x80000000, 0x80100000) is outside DRAM',
  ],
  [
    "a size of the wrong length",
    (t) =>
      at(t, "/reserved-memory").children.push(
        n("dyn", { compatible: "shared-dma-pool", size: [0, 0x400000], "no-map": true }),
      ),
    '/reserved-memory/dyn: property "size" is 8 bytes, expected 1 cell',
  ],
  [
    "an alignment of the wrong length",
    (t) =>
      at(t, "/reserved-memory").children.push(
        n("dyn", { compatible: "shared-dma-pool", size: [0x400000], alignment: [0, 0x1000], "no-map": true }),
      ),
    '/reserved-memory/dyn: property "alignment" is 8 bytes, expected 1 cell',
  ],
  [
    "alloc-ranges not a whole number of pairs",
    (t) =>
      at(t, "/reserved-memory").children.push(
        n("dyn", {
          compatible: "shared-dma-pool",
          size: [0x400000],
          "alloc-ranges": [0x40000000],
          "no-map": true,
        }),
      ),
    '/reserved-memory/dyn: property "alloc-ranges" has 1 cells, not a multiple of 2',
  ],
  [
    "a reserved node with neither reg nor size",
    (t) =>
      at(t, "/reserved-memory").children.push(n("empty", { compatible: "shared-dma-pool", "no-map": true })),
    '/reserved-memory/empty: property "reg": neither "reg" nor "size" is given',
  ],
  [
    "a reserved node with two reg ranges",
    (t) => (at(t, "/reserved-memory/fw@4a000000").props.reg = [0x4a000000, 0x1000, 0x4b000000, 0x1000]),
    '/reserved-memory/fw@4a000000: property "reg" has 2 entries',
  ],
  [
    "reusable with no-map",
    (t) => (at(t, "/reserved-memory/pool@48000000").props["no-map"] = true),
    '/reserved-memory/pool@48000000: property "reusable": "reusable" and "no-map" are mutually exclusive',
  ],
  [
    "a CMA pool not 4 MiB-aligned",
    (t) => (at(t, "/reserved-memory/pool@48000000").props.reg = [0x48100000, 0x400000]),
    '/reserved-memory/pool@48000000: property "reg": a reusable (CMA) pool must be 4 MiB-aligned',
  ],
  [
    "/reserved-memory with cells unlike the root's",
    (t) => (at(t, "/reserved-memory").props["#size-cells"] = [2]),
    '/reserved-memory: property "#size-cells" is 2, the root\'s is 1',
  ],
  [
    "/reserved-memory without ranges",
    (t) => delete at(t, "/reserved-memory").props.ranges,
    '/reserved-memory: no property "ranges"',
  ],
  [
    "no memory node",
    (t) => (t.children = t.children.filter((c) => c.name !== "memory@40000000")),
    '/: no memory node (a child of the root with device_type = "memory" and a "reg")',
  ],
  [
    "a memory reg of the wrong length",
    (t) => (at(t, "/memory@40000000").props.reg = [0x40000000]),
    '/memory@40000000: property "reg" has 1 cells, not a multiple of 2',
  ],
  [
    "a dma-ranges of the wrong length",
    (t) => (at(t, "/sensor").props["dma-ranges"] = [0, 0x40000000]),
    '/sensor: property "dma-ranges" has 2 cells, not a multiple of 3',
  ],
  [
    "a dma-ranges whose mask reaches no DRAM",
    (t) => (at(t, "/sensor").props["dma-ranges"] = [0, 0, 0x1000000]),
    '/sensor: property "dma-ranges": a 24-bit DMA mask with offset 0x0 reaches no DRAM',
  ],
  [
    "a SysMMU shared by two masters",
    (t) =>
      at(t, "/soc").children.push(
        n("fimc@11810000", { compatible: "samsung,exynos4210-fimc", reg: [0x11810000, 0x1000], iommus: [3] }),
      ),
    '/soc/fimc@11810000: property "iommus": SysMMU "FIMC0" already serves device "fimc0"',
  ],
  [
    "a bad cma= in bootargs",
    (t) => (at(t, "/chosen").props.bootargs = "cma=fw=4M@0x48000000/3"),
    '/chosen: property "bootargs": cma=: cma=: invalid alignment',
  ],
  [
    "a bootargs that is not a string",
    (t) => (at(t, "/chosen").props.bootargs = [1]),
    '/chosen: property "bootargs" is not a NUL-terminated string',
  ],
];

describe("boardFromDt: broken device trees fail naming the node and the property", () => {
  it.each(BROKEN)("%s", (_what, edit, message) => {
    const t = mini();
    expect(() => boardFromDt(blob(t), { name: "mini" })).not.toThrow();
    edit(t);
    expect(() => boardFromDt(blob(t), { name: "mini" })).toThrow(kerr("EINVAL", message));
  });

  it("a malformed blob fails with the offset", () => {
    const b = blob(mini());
    b[3] = 0;
    expect(() => boardFromDt(b, { name: "mini" })).toThrow(
      kerr("EINVAL", /fdt: bad magic 0xd00dfe00 at offset 0x0/),
    );
  });
});

const DTS_HEAD = `/dts-v1/;
/ {
	#address-cells = <1>;
	#size-cells = <1>;
	memory@40000000 { device_type = "memory"; reg = <0x40000000 0x10000000>; };
`;

describe("boardFromDt on broken DTS sources compiled by dtc", () => {
  it.skipIf(!HAVE_DTC)(`a master whose iommus names a phandle no node has ${NO_DTC}`, () => {
    const b = compileDts(`${DTS_HEAD}
	soc {
		compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges;
		mfc@13400000 { compatible = "samsung,mfc-v5"; reg = <0x13400000 0x10000>; iommus = <0x17>; };
	};
};`);
    expect(() => boardFromDt(b, { name: "broken" })).toThrow(
      kerr("EINVAL", '/soc/mfc@13400000: property "iommus" references phandle 0x17, which no node has'),
    );
  });

  it.skipIf(!HAVE_DTC)(`overlapping reserved regions ${NO_DTC}`, () => {
    const b = compileDts(`${DTS_HEAD}
	reserved-memory {
		#address-cells = <1>; #size-cells = <1>; ranges;
		a@44000000 { compatible = "shared-dma-pool"; reg = <0x44000000 0x800000>; reusable; };
		b@44400000 { compatible = "shared-dma-pool"; reg = <0x44400000 0x100000>; no-map; };
	};
};`);
    expect(() => boardFromDt(b, { name: "broken" })).toThrow(
      kerr(
        "EINVAL",
        '/reserved-memory/b@44400000: property "reg": [0x44400000, 0x44500000) overlaps /reserved-memory/a@44000000',
      ),
    );
  });

  it.skipIf(!HAVE_DTC)(`a reserved region outside DRAM ${NO_DTC}`, () => {
    const b = compileDts(`${DTS_HEAD}
	reserved-memory {
		#address-cells = <1>; #size-cells = <1>; ranges;
		mfc@70000000 { compatible = "shared-dma-pool"; reg = <0x70000000 0x800000>; no-map; };
	};
};`);
    expect(() => boardFromDt(b, { name: "broken" })).toThrow(
      kerr(
        "EINVAL",
        '/reserved-memory/mfc@70000000: property "reg": [0x70000000, 0x70800000) is outside DRAM',
      ),
    );
  });

  it("the same three cases as writer-made blobs need no dtc", () => {
    const missing = mini();
    at(missing, "/soc/fimc@11800000").props.iommus = [0x17];
    const overlap = mini();
    at(overlap, "/reserved-memory/fw@4a000000").props.reg = [0x48400000, 0x100000];
    const outside = mini();
    at(outside, "/reserved-memory/fw@4a000000").props.reg = [0x70000000, SZ_32M];
    expect(() => boardFromDt(blob(missing), { name: "m" })).toThrow(
      kerr("EINVAL", /references phandle 0x17, which no node has/),
    );
    expect(() => boardFromDt(blob(overlap), { name: "m" })).toThrow(
      kerr("EINVAL", /fw@4a000000: property "reg": .* overlaps/),
    );
    expect(() => boardFromDt(blob(outside), { name: "m" })).toThrow(
      kerr("EINVAL", /fw@4a000000: property "reg": .* is outside DRAM/),
    );
  });
});
