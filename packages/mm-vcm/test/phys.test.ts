// vcm_phys_alloc and vcm_phys_walk (CONFIG_VCM_PHYS).
import { fc, test } from "@fast-check/vitest";
import { KernelError, PAGE_SIZE, SZ_1M, SZ_4K, SZ_8K, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { type VcmPhys, vcmFree, vcmPhysAlloc, vcmPhysAllocRaw, vcmPhysWalk } from "../src/index.js";
import { boot, expectNoLeaks, fakePhys } from "./helpers.js";

const orderOf = (size: number): number => Math.log2(size / PAGE_SIZE);

/** The ideal greedy decomposition of `pages` into `orders` (every block available). */
function greedy(pages: number, orders: readonly number[]): number[] {
  const out: number[] = [];
  for (const o of orders) {
    while (pages >= 2 ** o) {
      out.push(o);
      pages -= 2 ** o;
    }
  }
  return out;
}

describe("vcmPhysAlloc", () => {
  it("takes the largest orders first: 2 MiB + 64 KiB + 12 KiB with {8, 4, 0}", () => {
    const { kernel, mm } = boot();
    const free0 = mm.buddy.nrFreePages;
    const p = vcmPhysAlloc(kernel, 2 * SZ_1M + SZ_64K + 3 * SZ_4K, 0, [8, 4, 0]);
    expect(p.parts.map((x) => orderOf(x.size))).toEqual([8, 8, 4, 0, 0, 0]);
    expect(p.size).toBe(2 * SZ_1M + SZ_64K + 3 * SZ_4K);
    for (const part of p.parts) {
      expect(part.start % part.size).toBe(0); // buddy blocks are naturally aligned
      expect(part.pfn).toBe(part.start / PAGE_SIZE);
      expect(mm.frames.ownerOf(part.pfn as number)).toBe("vcm");
    }
    expect(mm.buddy.nrFreePages).toBe(free0 - p.size / PAGE_SIZE);
    vcmFree(p);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expectNoLeaks(kernel);
  });

  it("skips orders larger than what is left: 12 KiB with {8, 4, 0} is three 4 KiB pages", () => {
    const { kernel } = boot();
    const p = vcmPhysAllocRaw(kernel, 3 * SZ_4K, 0, [8, 4, 0]);
    expect(p.parts.map((x) => x.size)).toEqual([SZ_4K, SZ_4K, SZ_4K]);
    vcmFree(p);
  });

  it("falls through to smaller orders when a large order runs out", () => {
    const { kernel, mm } = boot({ size: 8 * SZ_1M });
    // keep every 1 MiB block broken: hold one 4 KiB page in each MiB
    const held: number[] = [];
    const pinned: number[] = [];
    for (;;) {
      const pfn = mm.buddy.allocPages(0, GFP_KERNEL);
      if (pfn === null) break;
      held.push(pfn);
    }
    for (const pfn of held) {
      if (pfn % 256 === 7) pinned.push(pfn);
      else mm.buddy.freePages(pfn, 0);
    }
    const free0 = mm.buddy.nrFreePages;
    const p = vcmPhysAlloc(kernel, SZ_1M + SZ_64K, 0, [8, 4, 0]);
    const orders = p.parts.map((x) => orderOf(x.size));
    expect(orders).not.toContain(8);
    expect(orders.every((o, i) => i === 0 || o <= (orders[i - 1] as number))).toBe(true);
    expect(orders.reduce((s, o) => s + 2 ** o, 0)).toBe((SZ_1M + SZ_64K) / PAGE_SIZE);
    vcmFree(p);
    expect(mm.buddy.nrFreePages).toBe(free0);
    for (const pfn of pinned) mm.buddy.freePages(pfn, 0);
  });

  it("frees everything and throws ENOMEM when the memory is not there", () => {
    const { kernel, mm } = boot({ size: 4 * SZ_1M });
    const free0 = mm.buddy.nrFreePages;
    expect(() => vcmPhysAlloc(kernel, 8 * SZ_1M, 0, [8, 4, 0])).toThrow(
      kerr("ENOMEM", /could not be allocated/),
    );
    expect(mm.buddy.nrFreePages).toBe(free0);
    expectNoLeaks(kernel);
  });

  it.each([
    ["size 0", 0, [0]],
    ["a size that is not a page multiple", 5000, [0]],
    ["empty orders", SZ_4K, []],
    ["null orders", SZ_4K, null],
    ["ascending orders", SZ_4K, [0, 4]],
    ["orders not ending with 0", SZ_64K, [8, 4]],
    ["an order above MAX_PAGE_ORDER", SZ_4K, [11, 0]],
  ])("rejects %s with EINVAL", (_w, size, orders) => {
    const { kernel, mm } = boot();
    const free0 = mm.buddy.nrFreePages;
    expect(() => vcmPhysAlloc(kernel, size, 0, orders as number[])).toThrow(kerr("EINVAL"));
    expect(mm.buddy.nrFreePages).toBe(free0);
  });

  it("the coherent variant makes the CPU cache drop every part; the raw one does not", () => {
    const { kernel, mm } = boot();
    const seen: [number, number][] = [];
    mm.setCacheOps({ prepareKernelWrite: (pa, len) => seen.push([pa, len]), prepareMove: () => {} });
    const raw = vcmPhysAllocRaw(kernel, SZ_64K + SZ_4K, 0, [4, 0]);
    expect(seen).toEqual([]);
    const p = vcmPhysAlloc(kernel, SZ_64K + SZ_4K, 0, [4, 0]);
    expect(seen).toEqual(p.parts.map((x) => [x.start, x.size]));
    vcmFree(p);
    vcmFree(raw);
  });

  test.prop(
    [fc.integer({ min: 1, max: 700 }), fc.subarray([8, 6, 4, 2, 1], { minLength: 0 }).map((o) => [...o, 0])],
    { numRuns: 60 },
  )("parts are 2^order pages of the given orders, sum to size, greedy (ample memory)", (pages, orders) => {
    const { kernel, mm } = boot({ size: 16 * SZ_1M });
    const free0 = mm.buddy.nrFreePages;
    const p = vcmPhysAlloc(kernel, pages * PAGE_SIZE, 0, orders);
    const got = p.parts.map((x) => orderOf(x.size));
    for (const o of got) expect(orders).toContain(o);
    expect(p.parts.reduce((s, x) => s + x.size, 0)).toBe(pages * PAGE_SIZE);
    expect(got).toEqual(greedy(pages, orders));
    vcmFree(p);
    expect(mm.buddy.nrFreePages).toBe(free0);
  });
});

describe("vcmPhysWalk", () => {
  const calls = (phys: VcmPhys, vaddr: number, orders: number[]) => {
    const out: [number, number, number][] = [];
    vcmPhysWalk(vaddr, phys, orders, (va, pa, o) => {
      out.push([va, pa, o]);
      return 0;
    });
    return out;
  };

  it("1 MiB + 8 KiB with orders {8, 0}: one order-8 call, two order-0 calls (vcm-drv.h)", () => {
    const { kernel } = boot();
    const p = fakePhys(kernel, [
      { start: 0x4010_0000, size: SZ_1M },
      { start: 0x4030_0000, size: SZ_8K },
    ]);
    expect(calls(p, 0x1000_0000, [8, 0])).toEqual([
      [0x1000_0000, 0x4010_0000, 8],
      [0x1010_0000, 0x4030_0000, 0],
      [0x1010_1000, 0x4030_1000, 0],
    ]);
  });

  it("starts a part at the largest order both addresses are aligned to", () => {
    const { kernel } = boot();
    const p = fakePhys(kernel, [{ start: 0x4010_0000, size: SZ_1M }]);
    // bus address only 64 KiB aligned: 16 large pages
    expect(calls(p, 0x1001_0000, [8, 4, 0]).map((c) => c[2])).toEqual(new Array(16).fill(4));
    // physical address only 4 KiB aligned: 256 small pages
    const q = fakePhys(kernel, [{ start: 0x4010_1000, size: SZ_1M }]);
    expect(calls(q, 0x1000_0000, [8, 4, 0]).map((c) => c[2])).toEqual(new Array(256).fill(0));
  });

  it("steps down when what is left of a part is smaller, and never back up inside a part", () => {
    const { kernel } = boot();
    // 1 MiB + 64 KiB + 4 KiB contiguous at an aligned address: 8, 4, 0
    const p = fakePhys(kernel, [{ start: 0x4010_0000, size: SZ_1M + SZ_64K + SZ_4K }]);
    expect(calls(p, 0x1000_0000, [8, 4, 0]).map((c) => c[2])).toEqual([8, 4, 0]);
    // starts at 64 KiB alignment, becomes 1 MiB aligned after 15 pages: stays at order 4 (mm/vcm.c)
    const q = fakePhys(kernel, [{ start: 0x4001_0000, size: 2 * SZ_1M - SZ_64K }]);
    expect(calls(q, 0x1001_0000, [8, 4, 0]).map((c) => c[2])).toEqual(new Array(31).fill(4));
  });

  it("on a negative return, recovery runs on exactly the pages already processed, then the error is thrown", () => {
    const { kernel } = boot();
    const p = fakePhys(kernel, [
      { start: 0x4010_0000, size: SZ_1M },
      { start: 0x4030_0000, size: 3 * SZ_4K },
    ]);
    const done: number[] = [];
    const undone: number[] = [];
    let n = 0;
    expect(() =>
      vcmPhysWalk(
        0x1000_0000,
        p,
        [8, 0],
        (va) => {
          if (++n === 3) return -16; // EBUSY on the third page
          done.push(va);
          return 0;
        },
        (va) => {
          undone.push(va);
          return 0;
        },
      ),
    ).toThrow(kerr("EBUSY"));
    expect(done).toEqual([0x1000_0000, 0x1010_0000]);
    expect(undone).toEqual(done);
  });

  it("a thrown KernelError counts as failure; without recovery it is simply rethrown", () => {
    const { kernel } = boot();
    const p = fakePhys(kernel, [{ start: 0x4000_0000, size: 4 * SZ_4K }]);
    const undone: number[] = [];
    let n = 0;
    const cb = (va: number): number => {
      if (++n === 2) throw new KernelError("EADDRINUSE", `busy at ${va}`);
      return 0;
    };
    expect(() => vcmPhysWalk(0, p, [0], cb, (va) => void undone.push(va))).toThrow(kerr("EADDRINUSE"));
    expect(undone).toEqual([0]);
    n = 0;
    expect(() => vcmPhysWalk(0, p, [0], cb)).toThrow(kerr("EADDRINUSE"));
    // failure on the very first page: recovery is not called
    const first: number[] = [];
    expect(() =>
      vcmPhysWalk(
        0,
        p,
        [0],
        () => -12,
        (va) => void first.push(va),
      ),
    ).toThrow(kerr("ENOMEM"));
    expect(first).toEqual([]);
  });

  it.each([
    ["an unaligned vaddr", 0x1001, [0]],
    ["bad orders", 0x1000, [4]],
  ])("rejects %s with EINVAL", (_w, vaddr, orders) => {
    const { kernel } = boot();
    const p = fakePhys(kernel, [{ start: 0x4000_0000, size: SZ_64K }]);
    expect(() => vcmPhysWalk(vaddr, p, orders, () => 0)).toThrow(kerr("EINVAL"));
  });

  it("rejects a null phys or callback, an empty or unaligned phys with EINVAL", () => {
    const { kernel } = boot();
    const p = fakePhys(kernel, [{ start: 0x4000_0000, size: SZ_4K }]);
    expect(() => vcmPhysWalk(0, null as unknown as VcmPhys, [0], () => 0)).toThrow(kerr("EINVAL"));
    expect(() => vcmPhysWalk(0, p, [0], null as unknown as () => number)).toThrow(kerr("EINVAL"));
    expect(() => vcmPhysWalk(0, fakePhys(kernel, [{ start: 0x4000_0000, size: 0 }]), [0], () => 0)).toThrow(
      kerr("EINVAL"),
    );
    expect(() =>
      vcmPhysWalk(0, fakePhys(kernel, [{ start: 0x4000_0800, size: SZ_4K }]), [0], () => 0),
    ).toThrow(kerr("EINVAL", /part/));
  });

  test.prop(
    [
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 200 }),
      fc.constantFrom(0, 0x10000, 0x100000, 0x1000),
    ],
    { numRuns: 80 },
  )("covers every page once, in order; recovery mirrors exactly what succeeded", (sizes, failAt, vbase) => {
    const { kernel } = boot();
    let pa = 0x4000_0000;
    const parts = sizes.map((n) => {
      const part = { start: pa, size: n * SZ_4K };
      pa += n * SZ_4K + SZ_64K;
      return part;
    });
    const p = fakePhys(kernel, parts);
    const ok: string[] = [];
    const undo: string[] = [];
    let n = 0;
    let covered = 0;
    let thrown = false;
    try {
      vcmPhysWalk(
        vbase,
        p,
        [8, 4, 0],
        (va, ppa, o) => {
          if (n++ === failAt) return -5;
          expect(va % (SZ_4K * 2 ** o)).toBe(0);
          expect(ppa % (SZ_4K * 2 ** o)).toBe(0);
          ok.push(`${va}:${ppa}:${o}`);
          covered += SZ_4K * 2 ** o;
          return 0;
        },
        (va, ppa, o) => void undo.push(`${va}:${ppa}:${o}`),
      );
    } catch (e) {
      thrown = true;
      expect((e as Error).message).toMatch(/^EIO: /);
    }
    if (thrown) expect(undo).toEqual(ok);
    else {
      expect(covered).toBe(p.size);
      expect(undo).toEqual([]);
    }
  });
});
