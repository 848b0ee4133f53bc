import { createKernel, SZ_1G, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import { mmInit, PhysMem } from "../src/index.js";
import { pattern } from "./helpers.js";

describe("PhysMem", () => {
  const mem = () =>
    new PhysMem([
      { start: 0x40000000, size: 4 * SZ_1M },
      { start: 0x50000000, size: 4 * SZ_1M },
    ]);

  it("rejects bad banks with EINVAL naming the bank", () => {
    expect(() => new PhysMem([])).toThrow(kerr("EINVAL", /at least one/));
    expect(() => new PhysMem([{ start: 0x1001, size: 4096 }])).toThrow(kerr("EINVAL", /start 0x1001/));
    expect(() => new PhysMem([{ start: 0, size: 100 }])).toThrow(kerr("EINVAL", /size 0x64/));
    expect(
      () =>
        new PhysMem([
          { start: 0, size: 2 * SZ_1M },
          { start: SZ_1M, size: SZ_1M },
        ]),
    ).toThrow(kerr("EINVAL", /overlaps/));
  });

  it("reads back what was written, in each bank, and copies between banks", () => {
    const m = mem();
    const data = pattern(10000);
    m.write(0x40001003, data);
    const out = new Uint8Array(10000);
    m.read(0x40001003, out);
    expect(out).toEqual(data);
    m.copy(0x50000000, 0x40001003, 10000);
    m.read(0x50000000, out.fill(0));
    expect(out).toEqual(data);
    m.copy(0x40001004, 0x40001003, 100); // overlapping, like memmove
    m.read(0x40001004, out, 0, 100);
    expect(out.subarray(0, 100)).toEqual(data.subarray(0, 100));
    m.fill(0x50000010, 0xab, 16);
    expect(m.read8(0x50000010)).toBe(0xab);
    m.write32(0x40000000, 0xdeadbeef);
    expect(m.read32(0x40000000)).toBe(0xdeadbeef);
    expect(m.read8(0x40000000)).toBe(0xef); // little-endian
    expect(m.view(0x40000000, 4)).toEqual(new Uint8Array([0xef, 0xbe, 0xad, 0xde]));
  });

  it("an access touching a hole is EFAULT and moves nothing", () => {
    const m = mem();
    m.fill(0x403ffff0, 0x11, 16);
    const big = new Uint8Array(64).fill(0x22);
    expect(() => m.write(0x403ffff0, big)).toThrow(kerr("EFAULT", /touches 0x40400000, which is not RAM/));
    expect(m.read8(0x403ffff0)).toBe(0x11);
    expect(() => m.read(0x48000000, new Uint8Array(4))).toThrow(kerr("EFAULT"));
    expect(() => m.read32(0x403ffffe)).toThrow(kerr("EFAULT"));
    expect(m.isRam(0x40000000, 4 * SZ_1M)).toBe(true);
    expect(m.isRam(0x40000000, 4 * SZ_1M + 1)).toBe(false);
    expect(m.totalSize).toBe(8 * SZ_1M);
  });

  it("adjacent banks: a range crossing the boundary works", () => {
    const m = new PhysMem([
      { start: 0, size: SZ_1M },
      { start: SZ_1M, size: SZ_1M },
    ]);
    const d = pattern(64);
    m.write(SZ_1M - 32, d);
    const o = new Uint8Array(64);
    m.read(SZ_1M - 32, o);
    expect(o).toEqual(d);
  });

  it("a 2 GiB board costs host memory in proportion to what it touches", () => {
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    const k = createKernel();
    const mm = mmInit(k, {
      banks: [
        { start: 0x40000000, size: SZ_1G },
        { start: 0x80000000, size: SZ_1G },
      ],
    });
    mm.memblockFreeAll();
    const chunk = pattern(64 * 1024);
    for (let i = 0; i < 128; i++) mm.phys.write(0x40000000 + i * 16 * SZ_1M, chunk); // 8 MiB spread out
    const grown = process.memoryUsage().rss - before;
    expect(grown).toBeLessThan(200 * SZ_1M);
    expect(mm.phys.read8(0x40000000 + 127 * 16 * SZ_1M)).toBe(chunk[0]);
  });
});
