import { fc, test } from "@fast-check/vitest";
import { KernelBug, PAGE_SIZE, SZ_1M, SZ_4M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  __GFP_DMA,
  __GFP_ZERO,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  MAX_PAGE_ORDER,
  MIGRATE_CMA,
  PAGEBLOCK_NR_PAGES,
} from "../src/index.js";
import { bootMm } from "./helpers.js";

describe("buddy allocator", () => {
  it("hands out naturally aligned blocks of each order and takes them back", () => {
    const { mm } = bootMm({ size: 16 * SZ_1M });
    const b = mm.buddy;
    const start = b.nrFreePages;
    const got: [number, number][] = [];
    for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
      const pfn = b.allocPages(order, GFP_KERNEL);
      expect(pfn).not.toBeNull();
      expect(pfn! % (1 << order)).toBe(0);
      got.push([pfn!, order]);
    }
    expect(b.nrFreePages).toBe(start - (2 ** (MAX_PAGE_ORDER + 1) - 1));
    for (const [pfn, order] of got) b.freePages(pfn, order);
    expect(b.nrFreePages).toBe(start);
    expect(b.buddyinfo().find((z) => z.zone === "Normal")!.free[MAX_PAGE_ORDER]).toBe(4); // 16 MiB = 4 × 4 MiB blocks again
  });

  it("rejects an order out of range with EINVAL and returns null when memory is exhausted", () => {
    const { mm } = bootMm({ size: 8 * SZ_1M });
    expect(() => mm.buddy.allocPages(11, GFP_KERNEL)).toThrow(kerr("EINVAL", /order 11/));
    expect(mm.buddy.allocPages(10, GFP_KERNEL)).not.toBeNull();
    expect(mm.buddy.allocPages(10, GFP_KERNEL)).not.toBeNull();
    expect(mm.buddy.allocPages(10, GFP_KERNEL)).toBeNull();
    expect(mm.buddy.allocPages(0, GFP_KERNEL)).toBeNull();
  });

  it("__GFP_ZERO zeroes the block", () => {
    const { mm } = bootMm({ size: 8 * SZ_1M });
    const p = mm.buddy.allocPages(2, GFP_KERNEL)!;
    mm.phys.fill(p * PAGE_SIZE, 0x5a, 4 * PAGE_SIZE);
    mm.buddy.freePages(p, 2);
    const q = mm.buddy.allocPages(2, GFP_KERNEL | __GFP_ZERO)!;
    expect(q).toBe(p);
    expect(mm.phys.view(q * PAGE_SIZE, 4 * PAGE_SIZE).every((x) => x === 0)).toBe(true);
  });

  it("GFP_DMA takes only ZONE_DMA; maxPfn keeps a block below a DMA mask", () => {
    const { mm } = bootMm({ size: 32 * SZ_1M, dmaZoneSize: 8 * SZ_1M });
    const dmaEnd = 0x40000 + (8 * SZ_1M) / PAGE_SIZE;
    for (let i = 0; i < 8; i++) {
      const p = mm.buddy.allocPages(8, __GFP_DMA);
      expect(p).not.toBeNull();
      expect(p! + 256).toBeLessThanOrEqual(dmaEnd);
    }
    expect(mm.buddy.allocPages(0, __GFP_DMA)).toBeNull();
    const limit = 0x40000 + (12 * SZ_1M) / PAGE_SIZE;
    const q = mm.buddy.allocPages(8, GFP_KERNEL, { maxPfn: limit });
    expect(q! + 256).toBeLessThanOrEqual(limit);
  });

  it("freeing a block whose page is still referenced keeps that page until its last put", () => {
    const { mm } = bootMm({ size: 8 * SZ_1M });
    const b = mm.buddy;
    const start = b.nrFreePages;
    const p = b.allocPages(1, GFP_KERNEL)!;
    b.getPage(p + 1); // e.g. a user mapping of the second page
    b.freePages(p, 1);
    expect(b.nrFreePages).toBe(start - 1);
    expect(b.isFree(p)).toBe(true);
    expect(b.isFree(p + 1)).toBe(false);
    expect(b.putPage(p + 1)).toBe(true);
    expect(b.nrFreePages).toBe(start);
  });

  it("split_page: an order-2 block becomes four pages freed one by one", () => {
    const { mm } = bootMm({ size: 8 * SZ_1M });
    const b = mm.buddy;
    const start = b.nrFreePages;
    const p = b.allocPages(2, GFP_KERNEL)!;
    expect(() => b.splitPage(p, 1)).toThrow(KernelBug);
    b.splitPage(p, 2);
    b.freePages(p + 3, 0);
    b.freePages(p + 1, 0);
    expect(b.nrFreePages).toBe(start - 2);
    b.putPage(p);
    b.putPage(p + 2);
    expect(b.nrFreePages).toBe(start);
    expect(b.buddyinfo().find((z) => z.zone === "Normal")!.free[MAX_PAGE_ORDER]).toBe(2);
  });

  it("a double free or a put on a free page is a KernelBug", () => {
    const { mm } = bootMm({ size: 8 * SZ_1M });
    const p = mm.buddy.allocPages(0, GFP_KERNEL)!;
    mm.buddy.freePages(p, 0);
    expect(() => mm.buddy.freePages(p, 0)).toThrow(KernelBug);
    expect(() => mm.buddy.putPage(p)).toThrow(KernelBug);
    const q = mm.buddy.allocPages(2, GFP_KERNEL)!;
    expect(() => mm.buddy.freePages(q, 1)).toThrow(/not the head of an order-1 block/);
  });

  it("CMA pageblocks serve movable allocations only", () => {
    const { mm } = bootMm({ size: 16 * SZ_1M });
    // make the last 4 MiB a CMA area: take it out, give it back as MIGRATE_CMA
    const cmaPfn = 0x40000 + (12 * SZ_1M) / PAGE_SIZE;
    mm.buddy.takeFreeRange(cmaPfn, cmaPfn + PAGEBLOCK_NR_PAGES);
    for (let k = 0; k < PAGEBLOCK_NR_PAGES; k++) mm.buddy.putPage(cmaPfn + k);
    mm.buddy.setPageblockMigratetype(cmaPfn, MIGRATE_CMA);
    expect(mm.buddy.freePagesOfType(MIGRATE_CMA)).toBe(PAGEBLOCK_NR_PAGES);
    // unmovable allocations exhaust the rest and never touch CMA
    const un: number[] = [];
    for (;;) {
      const p = mm.buddy.allocPages(0, GFP_KERNEL);
      if (p === null) break;
      expect(p).toBeLessThan(cmaPfn);
      un.push(p);
    }
    expect(un).toHaveLength(3 * PAGEBLOCK_NR_PAGES);
    const m = mm.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE);
    expect(m).toBeGreaterThanOrEqual(cmaPfn);
  });

  test.prop(
    [
      fc.array(fc.record({ order: fc.integer({ min: 0, max: 6 }), free: fc.nat(), movable: fc.boolean() }), {
        maxLength: 120,
      }),
    ],
    { numRuns: 60 },
  )("random alloc/free: blocks never overlap, and freeing all restores the free lists", (ops) => {
    const { mm } = bootMm({ size: SZ_4M * 2, dmaZoneSize: SZ_1M });
    const b = mm.buddy;
    const initial = JSON.stringify(b.buddyinfo());
    const owner = new Map<number, number>(); // pfn -> block id
    const live: { pfn: number; order: number; id: number }[] = [];
    let id = 0;
    for (const op of ops) {
      if (op.free % 3 === 0 && live.length > 0) {
        const [blk] = live.splice(op.free % live.length, 1);
        b.freePages(blk!.pfn, blk!.order);
        for (let k = 0; k < 1 << blk!.order; k++) owner.delete(blk!.pfn + k);
        continue;
      }
      const pfn = b.allocPages(op.order, op.movable ? GFP_HIGHUSER_MOVABLE : GFP_KERNEL);
      if (pfn === null) continue;
      id++;
      for (let k = 0; k < 1 << op.order; k++) {
        expect(owner.has(pfn + k)).toBe(false);
        owner.set(pfn + k, id);
      }
      live.push({ pfn, order: op.order, id });
    }
    for (const blk of live) b.freePages(blk.pfn, blk.order);
    expect(JSON.stringify(b.buddyinfo())).toBe(initial);
  });
});
