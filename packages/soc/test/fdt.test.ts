import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  DeviceTree,
  DtNode,
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_MAGIC,
  FDT_NOP,
  FDT_PROP,
  fdtCells,
  fdtSpecOf,
  parseFdt,
  writeFdt,
} from "../src/index.js";
import { at, blob, fixture, mini, n } from "./helpers.js";

const u32 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getUint32(off);
const setU32 = (b: Uint8Array, off: number, v: number) =>
  new DataView(b.buffer, b.byteOffset).setUint32(off, v);

/** Offsets (in the blob) of every token of the structure block, walked as the reader does. */
function tokens(b: Uint8Array): { tok: number; at: number }[] {
  const out: { tok: number; at: number }[] = [];
  let p = u32(b, 8);
  for (;;) {
    const tok = u32(b, p);
    out.push({ tok, at: p });
    p += 4;
    if (tok === FDT_BEGIN_NODE) p = (b.indexOf(0, p) + 4) & ~3;
    else if (tok === FDT_PROP) p = (p + 8 + u32(b, p) + 3) & ~3;
    else if (tok === FDT_END) return out;
  }
}

describe("FDT reader on the dtc-compiled fixture (fixtures/exynos4210.dtb)", () => {
  const tree = parseFdt(fixture("exynos4210.dtb"));

  it("reads the header: version 17, last compatible 16, no reservations", () => {
    expect(tree.version).toBe(17);
    expect(tree.lastCompVersion).toBe(16);
    expect(tree.bootCpuidPhys).toBe(0);
    expect(tree.memReserve).toEqual([]);
  });

  it("builds the node tree with full paths", () => {
    expect(tree.root.path).toBe("/");
    expect(tree.root.name).toBe("");
    const mfc = tree.node("/soc/mfc@13400000")!;
    expect(mfc.path).toBe("/soc/mfc@13400000");
    expect(mfc.nodeName).toBe("mfc");
    expect(mfc.unitAddress).toBe("13400000");
    expect(mfc.parent!.path).toBe("/soc");
    expect(tree.node("/soc/mfc")).toBe(mfc); // a unique name without its unit address
    expect(tree.node("/soc/sysmmu")).toBeNull(); // ambiguous: 16 of them
    expect(tree.node("/nope")).toBeNull();
    const paths = [...tree.nodes()].map((x) => x.path);
    expect(paths).toContain("/reserved-memory/mfc-left@4a000000");
    expect(paths.filter((p) => p.startsWith("/soc/sysmmu@"))).toHaveLength(16);
    expect(mfc.offset).toBeGreaterThan(0);
  });

  it("reads strings, string lists, cells and booleans", () => {
    expect(tree.root.string("model")).toBe("umm Exynos4210 board");
    expect(tree.root.compatible).toEqual(["umm,exynos4210-board", "samsung,exynos4210", "samsung,exynos4"]);
    const mfc = tree.node("/soc/mfc@13400000")!;
    expect(mfc.strings("iommu-names")).toEqual(["left", "right"]);
    expect(mfc.isCompatible("samsung,mfc-v5")).toBe(true);
    const common = tree.node("/reserved-memory/common")!;
    expect(common.u32("size")).toBe(0x6000000);
    expect(common.number("alignment", 1)).toBe(0x400000);
    expect(common.bool("reusable")).toBe(true);
    expect(common.bool("no-map")).toBe(false);
    expect(common.prop("linux,cma-default")).toEqual(new Uint8Array(0));
    expect(tree.node("/soc/sysmmu@11a20000")!.u32("#iommu-cells")).toBe(0);
    expect(tree.root.u32s("#address-cells")).toEqual([1]);
  });

  it("decodes reg with the parent's #address-cells and #size-cells", () => {
    expect(tree.node("/memory@40000000")!.reg()).toEqual([{ base: 0x40000000, size: 0x20000000 }]);
    expect(tree.node("/soc/fimd@11c00000")!.reg()).toEqual([{ base: 0x11c00000, size: 0x20000 }]);
    expect(tree.node("/reserved-memory/common")!.pairs("alloc-ranges", 1, 1)).toEqual([
      { base: 0x40000000, size: 0x20000000 },
    ]);
    const mfc = tree.node("/soc/mfc@13400000")!;
    expect([mfc.addressCells(), mfc.sizeCells()]).toEqual([1, 1]);
  });

  it("resolves phandles: iommus with #iommu-cells, memory-region, umm,sensor", () => {
    const mfc = tree.node("/soc/mfc@13400000")!;
    const iommus = tree.phandleList(mfc, "iommus", "#iommu-cells");
    expect(iommus.map((r) => r.node.path)).toEqual(["/soc/sysmmu@13620000", "/soc/sysmmu@13630000"]);
    expect(iommus.every((r) => r.args.length === 0)).toBe(true);
    const regions = tree.phandleList(mfc, "memory-region");
    expect(regions.map((r) => r.node.path)).toEqual([
      "/reserved-memory/mfc-left@4a000000",
      "/reserved-memory/mfc-right@6a000000",
    ]);
    expect(tree.byPhandle(regions[0]!.phandle)).toBe(regions[0]!.node);
    expect(regions[0]!.node.phandle).toBe(regions[0]!.phandle);
    const [sensor] = tree.phandleList(tree.node("fimc0")!, "umm,sensor");
    expect(sensor!.node.path).toBe("/sensor");
    expect(tree.byPhandle(0x7777)).toBeNull();
  });

  it("reads /aliases and finds nodes by alias", () => {
    expect(tree.aliases.get("fimc0")).toBe("/soc/fimc@11800000");
    expect(tree.aliases.size).toBe(14);
    expect(tree.node("mfc")).toBe(tree.node("/soc/mfc@13400000"));
    expect(tree.aliasOf(tree.node("/soc/jpeg-codec@11840000")!)).toBe("jpeg");
    expect(tree.aliasOf(tree.node("/soc/sysmmu@11a20000")!)).toBeNull();
    expect(tree.node("nosuchalias")).toBeNull();
  });

  it("names the node and property when an accessor does not fit", () => {
    const mfc = tree.node("/soc/mfc@13400000")!;
    expect(() => mfc.u32("reg")).toThrow(
      kerr("EINVAL", '/soc/mfc@13400000: property "reg" is 8 bytes, not one 32-bit cell'),
    );
    expect(() => mfc.u32("clocks")).toThrow(kerr("EINVAL", '/soc/mfc@13400000: no property "clocks"'));
    expect(() => mfc.number("reg", 1)).toThrow(kerr("EINVAL", /property "reg" is 8 bytes, expected 1 cell/));
    expect(() => mfc.u64("compatible")).toThrow(kerr("EINVAL", /not a 64-bit value/));
    expect(() => mfc.u32s("iommu-names")).toThrow(kerr("EINVAL", /not a whole number of 32-bit cells/));
    expect(() => mfc.strings("iommus")).toThrow(kerr("EINVAL", /not a NUL-terminated string/));
    expect(() => mfc.pairs("reg", 2, 1)).toThrow(kerr("EINVAL", /has 2 cells, not a multiple of 3/));
  });

  it("round-trips through the writer byte for byte (the writer lays blobs out as dtc does)", () => {
    for (const f of ["exynos4210.dtb", "s5pv210.dtb"]) {
      const b = fixture(f);
      expect(Buffer.from(writeFdt(fdtSpecOf(parseFdt(b)))).equals(Buffer.from(b))).toBe(true);
    }
  });
});

describe("FDT reader on writer-made blobs", () => {
  it("reads what the writer wrote: props of every kind, nested nodes", () => {
    const b = writeFdt({
      name: "",
      props: { "#address-cells": [2], "#size-cells": [2], flag: true, s: "x", l: ["a", "bc"] },
      children: [
        {
          name: "memory@100000000",
          props: { device_type: "memory", reg: [...fdtCells(0x100000000, 2), ...fdtCells(0x80000000, 2)] },
        },
        { name: "raw", props: { bytes: new Uint8Array([1, 2, 3]), big: [0x00000001, 0x00000002] } },
      ],
    });
    const t = parseFdt(b);
    expect(t.root.bool("flag")).toBe(true);
    expect(t.root.string("s")).toBe("x");
    expect(t.root.strings("l")).toEqual(["a", "bc"]);
    expect(t.node("/memory@100000000")!.reg()).toEqual([{ base: 0x100000000, size: 0x80000000 }]);
    expect(t.node("/raw")!.prop("bytes")).toEqual(new Uint8Array([1, 2, 3]));
    expect(t.node("/raw")!.u64("big")).toBe(0x100000002);
  });

  it("writes and reads version 16 (no size_dt_struct) and the reservation map", () => {
    const b = writeFdt(
      { name: "", children: [{ name: "a" }] },
      { version: 16, memReserve: [{ base: 0x40000000, size: 0x100000 }], bootCpuidPhys: 1 },
    );
    expect(u32(b, 0)).toBe(FDT_MAGIC);
    expect(u32(b, 20)).toBe(16);
    const t = parseFdt(b);
    expect(t.version).toBe(16);
    expect(t.bootCpuidPhys).toBe(1);
    expect(t.memReserve).toEqual([{ base: 0x40000000, size: 0x100000 }]);
    expect(t.node("/a")).not.toBeNull();
  });

  it("skips NOP tokens anywhere in the structure block", () => {
    const b = blob(mini());
    const sensorProp = tokens(b).find((t) => t.tok === FDT_PROP)!;
    // a one-cell property becomes NOPs: header, length, name offset, value
    const len = u32(b, sensorProp.at + 4);
    for (let i = 0; i < 3 + ((len + 3) >> 2); i++) setU32(b, sensorProp.at + 4 * i, FDT_NOP);
    expect(() => parseFdt(b)).not.toThrow();
  });

  it("defaults #address-cells / #size-cells to 1 / 1 and inherits them as Linux does", () => {
    const t = parseFdt(writeFdt({ name: "", children: [{ name: "a@1", props: { reg: [1, 2] } }] }));
    expect(t.node("/a@1")!.reg()).toEqual([{ base: 1, size: 2 }]);
    const t2 = parseFdt(
      writeFdt({
        name: "",
        props: { "#address-cells": [2], "#size-cells": [1] },
        children: [{ name: "bus", children: [{ name: "x@0", props: { reg: [0, 0x1000, 0x10] } }] }],
      }),
    );
    expect(t2.node("/bus/x@0")!.reg()).toEqual([{ base: 0x1000, size: 0x10 }]);
  });

  it("translates addresses through the buses' ranges", () => {
    const root = n("", { "#address-cells": [1], "#size-cells": [1] }, [
      n("soc", { compatible: "simple-bus", "#address-cells": [1], "#size-cells": [1], ranges: true }, [
        n(
          "camera@11800000",
          { "#address-cells": [1], "#size-cells": [1], ranges: [0, 0x11800000, 0xa0000] },
          [n("fimc@10000", { reg: [0x10000, 0x1000] })],
        ),
        n("closed", { "#address-cells": [1], "#size-cells": [1] }, [n("x@0", { reg: [0, 4] })]),
      ]),
    ]);
    const t = parseFdt(blob(root));
    const fimc = t.node("/soc/camera@11800000/fimc@10000")!;
    expect(t.translateAddress(fimc, 0x10000)).toBe(0x11810000);
    expect(() => t.translateAddress(fimc, 0xb0000)).toThrow(
      kerr("EINVAL", '/soc/camera@11800000: property "ranges" has no window for 0xb0000'),
    );
    expect(() => t.translateAddress(t.node("/soc/closed/x@0")!, 0)).toThrow(
      kerr("EINVAL", '/soc/closed: no property "ranges"'),
    );
  });

  it("phandle lists: a missing phandle, a missing #cells, a list cut short", () => {
    const root = mini();
    at(root, "/soc/fimc@11800000").props.iommus = [0x17];
    const t = parseFdt(blob(root));
    const fimc = t.node("fimc0")!;
    expect(() => t.phandleList(fimc, "iommus", "#iommu-cells")).toThrow(
      kerr("EINVAL", '/soc/fimc@11800000: property "iommus" references phandle 0x17, which no node has'),
    );
    expect(() => t.phandleList(fimc, "memory-region", "#foo-cells")).toThrow(
      kerr("EINVAL", /references \/reserved-memory\/pool@48000000, which has no "#foo-cells"/),
    );
    const root2 = mini();
    at(root2, "/soc/sysmmu@11a20000").props["#iommu-cells"] = [1];
    const t2 = parseFdt(blob(root2));
    expect(() => t2.phandleList(t2.node("fimc0")!, "iommus", "#iommu-cells")).toThrow(
      kerr("EINVAL", /ends inside the arguments of \/soc\/sysmmu@11a20000/),
    );
  });

  it("rejects two nodes with one phandle, and phandles 0 and 0xffffffff", () => {
    const dup = mini();
    at(dup, "/sensor").props.phandle = [1];
    expect(() => parseFdt(blob(dup))).toThrow(
      kerr(
        "EINVAL",
        /\/sensor: property "phandle" 0x1 is also the phandle of \/reserved-memory\/pool@48000000/,
      ),
    );
    for (const v of [0, 0xffffffff]) {
      const r = mini();
      at(r, "/sensor").props.phandle = [v];
      expect(() => parseFdt(blob(r))).toThrow(
        kerr("EINVAL", /\/sensor: property "phandle" has the invalid value/),
      );
    }
  });

  it("rejects two siblings with one name", () => {
    expect(() => parseFdt(writeFdt({ name: "", children: [{ name: "a" }, { name: "a" }] }))).toThrow(
      kerr("EINVAL", /node \/a at offset 0x[0-9a-f]+ duplicates a sibling's name/),
    );
  });

  it("builds trees by hand too (DtNode + DeviceTree)", () => {
    const root = new DtNode("", null);
    const child = new DtNode("x@10", root);
    root.children.push(child);
    child.props.set("phandle", new Uint8Array([0, 0, 0, 5]));
    const t = new DeviceTree(root);
    expect(t.byPhandle(5)).toBe(child);
    expect(t.version).toBe(17);
  });

  it("fdtCells splits numbers into cells and refuses what does not fit", () => {
    expect(fdtCells(0x123456789, 2)).toEqual([0x1, 0x23456789]);
    expect(fdtCells(7, 1)).toEqual([7]);
    expect(() => fdtCells(0x100000000, 1)).toThrow(kerr("EINVAL", /does not fit in 1 cell/));
    expect(() => fdtCells(-1, 1)).toThrow(kerr("EINVAL"));
  });

  it("the writer refuses values it cannot encode", () => {
    expect(() => writeFdt({ name: "", props: { x: [2 ** 32] } })).toThrow(
      kerr("EINVAL", /not a 32-bit cell/),
    );
    expect(() => writeFdt({ name: "", props: { x: [1.5] } })).toThrow(kerr("EINVAL", /not a 32-bit cell/));
  });

  it("rejects numbers beyond 2^53", () => {
    const t = parseFdt(writeFdt({ name: "", props: { big: [0xffffffff, 0xffffffff] } }));
    expect(() => t.root.u64("big")).toThrow(kerr("EINVAL", /does not fit in 53 bits/));
  });
});

describe("FDT reader: malformed blobs are EINVAL with the offset", () => {
  const good = () => blob(mini());

  it("a bad magic", () => {
    const b = good();
    b[0] = 0;
    expect(() => parseFdt(b)).toThrow(
      kerr("EINVAL", "fdt: bad magic 0xdfeed at offset 0x0 (expected 0xd00dfeed)"),
    );
  });

  it("a blob shorter than its header or its totalsize", () => {
    expect(() => parseFdt(new Uint8Array(2))).toThrow(kerr("EINVAL", /truncated at offset 0x2/));
    expect(() => parseFdt(good().slice(0, 20))).toThrow(
      kerr("EINVAL", /truncated at offset 0x14: a header is 36/),
    );
    const b = good();
    expect(() => parseFdt(b.slice(0, 100))).toThrow(
      kerr("EINVAL", `truncated at offset 0x64: totalsize says 0x${b.length.toString(16)} bytes`),
    );
  });

  it("an unsupported version", () => {
    const b = good();
    setU32(b, 20, 15);
    expect(() => parseFdt(b)).toThrow(
      kerr("EINVAL", /version 15 \(last compatible 16\) at offset 0x14 is not supported/),
    );
    const c = good();
    setU32(c, 24, 18);
    expect(() => parseFdt(c)).toThrow(kerr("EINVAL", /last compatible 18/));
  });

  it("a block outside the blob", () => {
    const b = good();
    setU32(b, 8, b.length + 8);
    expect(() => parseFdt(b)).toThrow(
      kerr("EINVAL", /structure block \[0x[0-9a-f]+, 0x[0-9a-f]+\) \(header offset 0x8\)/),
    );
    const c = good();
    setU32(c, 32, c.length);
    expect(() => parseFdt(c)).toThrow(kerr("EINVAL", /strings block/));
  });

  it("an unknown token", () => {
    const b = good();
    const t = tokens(b)[2]!;
    setU32(b, t.at, 0x7);
    expect(() => parseFdt(b)).toThrow(kerr("EINVAL", `unknown token 0x7 at offset 0x${t.at.toString(16)}`));
  });

  it("a property name offset outside the strings block", () => {
    const b = good();
    const t = tokens(b).find((x) => x.tok === FDT_PROP)!;
    setU32(b, t.at + 8, 0x10000);
    expect(() => parseFdt(b)).toThrow(
      kerr("EINVAL", `property at offset 0x${t.at.toString(16)} names string offset 0x10000, outside`),
    );
  });

  it("a property value running past the structure block", () => {
    const b = good();
    const t = tokens(b).find((x) => x.tok === FDT_PROP)!;
    setU32(b, t.at + 4, 0x100000);
    expect(() => parseFdt(b)).toThrow(
      kerr("EINVAL", /property value at offset 0x[0-9a-f]+ \(1048576 bytes\) runs past/),
    );
  });

  it("an END_NODE that closes no node, and nodes left open at FDT_END", () => {
    const b = good();
    setU32(b, tokens(b)[0]!.at, FDT_END_NODE);
    expect(() => parseFdt(b)).toThrow(kerr("EINVAL", /FDT_END_NODE at offset 0x[0-9a-f]+ closes no node/));
    const c = good();
    const ends = tokens(c).filter((t) => t.tok === FDT_END_NODE);
    setU32(c, ends.at(-1)!.at, FDT_NOP);
    expect(() => parseFdt(c)).toThrow(
      kerr("EINVAL", /FDT_END at offset 0x[0-9a-f]+ with 1 node\(s\) still open \(\/\)/),
    );
  });

  it("a structure block without FDT_END", () => {
    const b = good();
    setU32(b, tokens(b).at(-1)!.at, FDT_NOP);
    expect(() => parseFdt(b)).toThrow(
      kerr("EINVAL", /structure block ends at offset 0x[0-9a-f]+ without FDT_END/),
    );
  });

  it("a property outside any node", () => {
    const b = good();
    // the root's BEGIN_NODE becomes a PROP whose length is the root name's (empty) padding
    setU32(b, tokens(b)[0]!.at, FDT_PROP);
    expect(() => parseFdt(b)).toThrow(kerr("EINVAL", /property at offset 0x[0-9a-f]+ is outside any node/));
  });

  it("a node name that is not NUL-terminated", () => {
    const b = writeFdt({ name: "", children: [{ name: "abcdefghijk" }] });
    const child = tokens(b)[1]!;
    setU32(b, 36, child.at + 8 - u32(b, 8)); // size_dt_struct ends inside the name
    expect(() => parseFdt(b)).toThrow(
      kerr("EINVAL", /node name at offset 0x[0-9a-f]+ is not NUL-terminated/),
    );
  });

  it("a second root node", () => {
    const b = writeFdt({ name: "", children: [{ name: "a" }] });
    const t = tokens(b);
    // BEGIN(root) BEGIN(a) END END FDT_END: close the root before "a", which becomes a second root
    setU32(b, t[1]!.at, FDT_END_NODE);
    setU32(b, t[1]!.at + 4, FDT_BEGIN_NODE);
    expect(() => parseFdt(b)).toThrow(kerr("EINVAL", /second root node at offset/));
  });

  it("refuses what is not a Uint8Array", () => {
    expect(() => parseFdt("dtb" as unknown as Uint8Array)).toThrow(kerr("EINVAL", /not a Uint8Array/));
  });
});
