import { createKernel, SZ_1M, SZ_4M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import { Memblock, mmInit, PG_reserved } from "../src/index.js";

describe("memblock", () => {
  const mb = () => {
    const m = new Memblock();
    m.addMemory(0x40000000, 64 * SZ_1M);
    return m;
  };

  it("reserves fixed ranges and refuses overlaps with EBUSY naming both", () => {
    const m = mb();
    m.reserve(0x40000000, SZ_1M, "kernel");
    expect(() => m.reserve(0x400ff000, 0x2000, "cma")).toThrow(kerr("EBUSY", /cma overlaps kernel/));
    expect(() => m.reserve(0x50000000, SZ_1M, "far")).toThrow(kerr("EINVAL", /is not memory/));
    expect(() => m.reserve(0x40000800, SZ_1M)).toThrow(kerr("EINVAL", /not page-aligned/));
    expect(m.reserved).toHaveLength(1);
  });

  it("allocates top-down by default, bottom-up on request, aligned and inside limits", () => {
    const m = mb();
    expect(m.alloc(SZ_1M, SZ_4M)).toBe(0x43c00000);
    expect(m.alloc(SZ_1M, SZ_1M, { bottomUp: true })).toBe(0x40000000);
    expect(m.alloc(SZ_1M, SZ_1M, { start: 0x41000000, end: 0x41800000 })).toBe(0x41700000);
    expect(m.alloc(128 * SZ_1M, SZ_1M)).toBeNull();
    expect(() => m.alloc(SZ_1M, 3000)).toThrow(kerr("EINVAL", /not a power of two/));
  });

  it("free needs the exact range (ENOENT otherwise)", () => {
    const m = mb();
    m.reserve(0x40100000, SZ_1M, "x");
    expect(() => m.free(0x40100000, 0x1000)).toThrow(kerr("ENOENT"));
    m.free(0x40100000, SZ_1M);
    expect(m.reserved).toEqual([]);
  });

  it("remove takes a no-map range out of memory and the linear map; refuses reserved ranges", () => {
    const k = createKernel();
    const mm = mmInit(k, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
    mm.memblock.reserve(0x40000000, SZ_1M, "kernel");
    expect(() => mm.memblockRemove(0x40000000, SZ_1M)).toThrow(kerr("EBUSY"));
    mm.memblockRemove(0x42000000, 8 * SZ_1M, "mfc no-map");
    expect(mm.memblock.isMemory(0x42000000, 4096)).toBe(false);
    expect(mm.kspace.linearMemtype(0x42000)).toBeUndefined();
    expect(mm.kspace.linearMemtype(0x41000)).toBe("cacheable");
    mm.memblockFreeAll();
    const i = 0x42000 - mm.frames.basePfn;
    expect(mm.frames.flags[i]! & PG_reserved).toBe(PG_reserved);
    expect(mm.memblock.retired).toBe(true);
    expect(() => mm.memblock.reserve(0x43000000, SZ_1M)).toThrow(kerr("EBUSY", /retired/));
    expect(() => mm.memblockFreeAll()).toThrow(kerr("EBUSY"));
  });

  it("reserved pages never reach the buddy allocator; free ones all do", () => {
    const k = createKernel();
    const mm = mmInit(k, { banks: [{ start: 0x40000000, size: 16 * SZ_1M }] });
    mm.memblock.reserve(0x40000000, SZ_1M, "kernel text");
    mm.memblockFreeAll();
    expect(mm.buddy.nrFreePages).toBe(15 * 256);
    expect(mm.frames.ownerOf(0x40000)).toBe("kernel text");
    expect(mm.meminfo()).toMatchObject({ totalPages: 4096, freePages: 3840, reservedPages: 256 });
  });
});
