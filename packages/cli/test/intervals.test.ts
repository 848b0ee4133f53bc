import { SZ_1M, SZ_4K } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import { IntervalBuilder, intervalsFromTrace, type MemRegion } from "../src/index.js";
import { RECORDS } from "./records.js";

const cam: MemRegion = { name: "cam", base: 0x4000_0000, size: 16 * SZ_1M };

describe("intervalsFromTrace", () => {
  it("starts an interval at each successful cma_alloc_finish and ends it at cma_release", () => {
    expect(intervalsFromTrace(RECORDS, { regions: [cam] })).toEqual([
      {
        region: "cam",
        start: 0x4000_0000,
        size: SZ_1M,
        tStart: 35_000,
        tEnd: 90_000,
        owner: "camera",
        label: "cma_alloc 256 pages, align order 8",
      },
      {
        region: "cam",
        start: 0x4010_0000,
        size: 2 * SZ_1M,
        tStart: 52_000,
        tEnd: null,
        owner: "display",
        label: "cma_alloc 512 pages, align order 8",
      },
    ]);
  });

  it("takes the owner from a function", () => {
    const ivs = intervalsFromTrace(RECORDS, { regions: [cam], owner: (r) => `${r.task}[${r.pid}]` });
    expect(ivs.map((i) => i.owner)).toEqual(["camera[100]", "display[200]"]);
  });

  it("names an unknown region, or skips it when not strict", () => {
    const other: MemRegion = { name: "fb", base: 0, size: SZ_1M };
    expect(() => intervalsFromTrace(RECORDS, { regions: [other] })).toThrow(
      /unknown region "cam" \(known: fb\)/,
    );
    expect(intervalsFromTrace(RECORDS, { regions: [other], strict: false })).toEqual([]);
  });

  it("a release with no allocation in the trace throws, or is skipped when not strict", () => {
    const late = RECORDS.slice(6); // the ring dropped the first allocation
    expect(() => intervalsFromTrace(late, { regions: [cam] })).toThrow(
      /nothing live at 0x40000000\+0x100000/,
    );
    const kept = intervalsFromTrace(late, { regions: [cam], strict: false });
    expect(kept.map((i) => [i.owner, i.start, i.tEnd])).toEqual([["display", 0x4010_0000, null]]);
  });

  it("reports a record with a missing field by its seq", () => {
    const broken = [
      { seq: 7, ts: 0, name: "cma_alloc_finish", pid: 1, task: "x", cpu: 0, data: { name: "cam" } },
    ];
    expect(() => intervalsFromTrace(broken, { regions: [cam] })).toThrow(
      /record #7 \(cma_alloc_finish\): field errorno/,
    );
  });
});

describe("IntervalBuilder", () => {
  it("splits an allocation when part of it is freed", () => {
    const b = new IntervalBuilder([cam]);
    b.alloc({ region: "cam", start: cam.base, size: 4 * SZ_4K, t: 10, owner: "a", label: "buf" });
    expect(b.free({ region: "cam", start: cam.base + SZ_4K, size: SZ_4K, t: 20 })).toBe(true);
    expect(b.liveCount).toBe(2);
    b.free({ region: "cam", start: cam.base, t: 30 });
    expect(b.intervals()).toEqual([
      { region: "cam", start: cam.base, size: SZ_4K, tStart: 10, tEnd: 30, owner: "a", label: "buf" },
      { region: "cam", start: cam.base + SZ_4K, size: SZ_4K, tStart: 10, tEnd: 20, owner: "a", label: "buf" },
      {
        region: "cam",
        start: cam.base + 2 * SZ_4K,
        size: 2 * SZ_4K,
        tStart: 10,
        tEnd: null,
        owner: "a",
        label: "buf",
      },
    ]);
  });

  it("reuses an address after a free and keeps both lives", () => {
    const b = new IntervalBuilder([cam]);
    b.alloc({ region: "cam", start: cam.base, size: SZ_4K, t: 0, owner: "a" });
    b.free({ region: "cam", start: cam.base, t: 5 });
    b.alloc({ region: "cam", start: cam.base, size: SZ_4K, t: 6, owner: "b" });
    expect(b.intervals().map((i) => [i.owner, i.tStart, i.tEnd])).toEqual([
      ["a", 0, 5],
      ["b", 6, null],
    ]);
  });

  it("rejects overlapping live allocations, ranges outside the region and frees before the allocation", () => {
    const b = new IntervalBuilder([cam]);
    b.alloc({ region: "cam", start: cam.base + SZ_4K, size: 2 * SZ_4K, t: 0, owner: "a" });
    expect(() => b.alloc({ region: "cam", start: cam.base, size: 2 * SZ_4K, t: 1, owner: "b" })).toThrow(
      /overlaps 0x40001000\+0x2000 held by a/,
    );
    expect(() =>
      b.alloc({ region: "cam", start: cam.base + 2 * SZ_4K, size: SZ_4K, t: 1, owner: "b" }),
    ).toThrow(/overlaps/);
    expect(() =>
      b.alloc({ region: "cam", start: cam.base + 16 * SZ_1M, size: SZ_4K, t: 1, owner: "b" }),
    ).toThrow(/outside region cam/);
    expect(() => b.free({ region: "cam", start: cam.base + SZ_4K, t: -1 })).toThrow(/before its allocation/);
    expect(() => b.free({ region: "cam", start: cam.base + 2 * SZ_4K, size: 2 * SZ_4K, t: 3 })).toThrow(
      /nothing live/,
    );
    expect(b.liveCount).toBe(1);
  });

  it("counts unmatched frees when not strict", () => {
    const b = new IntervalBuilder([cam], { strict: false });
    expect(b.free({ region: "cam", start: cam.base, t: 1 })).toBe(false);
    expect(b.free({ region: "nope", start: 0, t: 1 })).toBe(false);
    expect(b.unmatched).toBe(2);
  });
});
