import { createKernel, SZ_1M, SZ_4K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  cmaEarlyRegions,
  cmaGetMap,
  cmaInit,
  memparse,
  parseCmaCmdline,
  parseCmaMerged,
  parseCmaRegions,
} from "../src/index.js";

describe("memparse", () => {
  it("reads C base prefixes and K/M/G suffixes", () => {
    expect(memparse("64M")).toEqual({ value: 64 * SZ_1M, end: 3 });
    expect(memparse("0x100000")).toEqual({ value: SZ_1M, end: 8 });
    expect(memparse("4k")).toEqual({ value: SZ_4K, end: 2 });
    expect(memparse("1G;")).toEqual({ value: 2 ** 30, end: 2 });
    expect(memparse("010")).toEqual({ value: 8, end: 3 });
    expect(memparse("0")).toEqual({ value: 0, end: 1 });
    expect(memparse("x", 0)).toEqual({ value: 0, end: 0 });
    expect(memparse("a=16M", 2)).toEqual({ value: 16 * SZ_1M, end: 5 });
  });
});

describe("2010 cma= grammar", () => {
  it("parses the documented example", () => {
    expect(parseCmaRegions("reg1=64M:bf;reg2=32M@0x100000:bf;reg3=64M/1M:bf")).toEqual([
      { name: "reg1", start: 0, size: 64 * SZ_1M, alignment: SZ_4K, allocName: "bf" },
      { name: "reg2", start: SZ_1M, size: 32 * SZ_1M, alignment: SZ_4K, allocName: "bf" },
      { name: "reg3", start: 0, size: 64 * SZ_1M, alignment: SZ_1M, allocName: "bf" },
    ]);
  });

  it("rounds size to a page, alignment to ≥ 4K, start up to the alignment; empty ':' is the default", () => {
    expect(parseCmaRegions("a=5000@0x1234/0x10000:;")).toEqual([
      { name: "a", start: 0x10000, size: 2 * SZ_4K, alignment: 0x10000, allocName: null },
    ]);
    expect(parseCmaRegions("")).toEqual([]);
    expect(parseCmaRegions("a=1M;")).toHaveLength(1);
  });

  it("accepts 15 regions and refuses the 16th with ENOSPC", () => {
    const r = (n: number) => Array.from({ length: n }, (_, i) => `r${i}=1M`).join(";");
    expect(parseCmaRegions(r(15))).toHaveLength(15);
    expect(() => parseCmaRegions(r(16))).toThrow(kerr("ENOSPC", /at most 15/));
  });

  it("refuses zero or missing numbers, bad alignments and garbage, naming the position", () => {
    expect(() => parseCmaRegions("=64M")).toThrow(kerr("EINVAL", /expected "<name>=" at position 0/));
    expect(() => parseCmaRegions("a64M")).toThrow(kerr("EINVAL", /position 0/));
    expect(() => parseCmaRegions("a=0")).toThrow(kerr("EINVAL", /invalid size at position 2/));
    expect(() => parseCmaRegions("a=M")).toThrow(kerr("EINVAL", /invalid size/));
    expect(() => parseCmaRegions("a=1M@0")).toThrow(kerr("EINVAL", /invalid start at position 5/));
    expect(() => parseCmaRegions("a=1M/0")).toThrow(kerr("EINVAL", /invalid alignment/));
    expect(() => parseCmaRegions("a=1M/3M")).toThrow(kerr("EINVAL", /invalid alignment at position 5/));
    expect(() => parseCmaRegions("a=1M;b=2Mx")).toThrow(
      kerr("EINVAL", /expecting ';' or end of parameter at position 9/),
    );
    expect(() => parseCmaRegions("a=5G")).toThrow(kerr("EINVAL", /invalid size/));
    expect(() => parseCmaRegions("a=3G@0xc0000000")).toThrow(kerr("EINVAL", /overflows/));
  });
});

describe("merged cma= and the command line", () => {
  it("parses size, @start (fixed) and @start-end (a range)", () => {
    expect(parseCmaMerged("64M")).toEqual({ size: 64 * SZ_1M, base: 0, limit: 0, fixed: false });
    expect(parseCmaMerged("64M@0x50000000")).toEqual({
      size: 64 * SZ_1M,
      base: 0x50000000,
      limit: 0x54000000,
      fixed: true,
    });
    expect(parseCmaMerged("64M@1G-2G")).toEqual({
      size: 64 * SZ_1M,
      base: 2 ** 30,
      limit: 2 ** 31,
      fixed: false,
    });
    expect(parseCmaMerged("64M@1G-1088M").fixed).toBe(true);
    expect(parseCmaMerged("0").size).toBe(0);
    expect(() => parseCmaMerged("")).toThrow(kerr("EINVAL"));
    expect(() => parseCmaMerged("xyz")).toThrow(kerr("EINVAL"));
  });

  it("tells the two cma= forms apart by '=' and reads cma.map= and cma_map=", () => {
    const a = parseCmaCmdline("root=/dev/mmcblk0 cma=v=8M cma.map=*=v");
    expect(a.regions).toHaveLength(1);
    expect(a.merged).toBeNull();
    expect(a.map?.text).toBe("*=v");
    const b = parseCmaCmdline("cma=32M@0x60000000 cma_map=video=v");
    expect(b.merged?.fixed).toBe(true);
    expect(b.regions).toBeNull();
    expect(b.map?.rules[0]?.regions).toEqual(["v"]);
    expect(parseCmaCmdline("quiet").map).toBeUndefined();
    expect(() => parseCmaCmdline("cma.map=oops")).toThrow(kerr("EINVAL", /position 0/));
  });

  it("cmaInit queues cma= regions as early regions and takes cma.map=; a bad line creates nothing", () => {
    const k = createKernel();
    mmInit(k, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
    expect(() => cmaInit(k, { cmdline: "cma=a=0" })).toThrow(kerr("EINVAL"));
    expect(() => cmaInit(k, { maxAreas: 0 })).toThrow(kerr("EINVAL"));
    expect(() => cmaInit(k, { alignmentOrder: 13 })).toThrow(kerr("EINVAL"));
    cmaInit(k, { cmdline: "cma=a=8M;b=4M@0x43000000:bf cma.map=x=a" });
    expect(cmaEarlyRegions(k).map((r) => [r.name, r.base, r.size, r.allocName])).toEqual([
      ["a", 0, 8 * SZ_1M, null],
      ["b", 0x43000000, 4 * SZ_1M, "bf"],
    ]);
    expect(cmaGetMap(k)).toBe("x=a");
  });
});
