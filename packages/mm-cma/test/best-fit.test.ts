import { fc, test } from "@fast-check/vitest";
import { SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import { type BfState, cmaAllocFromRegion, cmaFree, cmaRegionRegister } from "../src/index.js";
import { expectRegionConsistent } from "../src/testing.js";
import { board2010, recordAll } from "./helpers.js";

const BASE = 0x42000000;

function bfRegion(size = 16 * SZ_1M) {
  const { kernel } = board2010([[BASE, size, "carve-out"]]);
  const region = cmaRegionRegister(kernel, { name: "r", start: BASE, size, allocName: "bf" });
  const holes = () => (region.priv as BfState).byStart.map((h) => [h.start - BASE, h.size]);
  const bySize = () => (region.priv as BfState).bySize.map((h) => [h.start - BASE, h.size]);
  return {
    kernel,
    region,
    holes,
    bySize,
    alloc: (s: number, a = 0) => cmaAllocFromRegion(region, s, a) - BASE,
  };
}

describe('best-fit allocator "bf"', () => {
  it("attaches lazily as the default allocator; one hole covers a fresh region", () => {
    const { region, holes } = bfRegion();
    expect(region.allocator).toBeNull();
    cmaAllocFromRegion(region, SZ_4K, 0);
    expect(region.allocator?.name).toBe("bf");
    expect(holes()).toEqual([[SZ_4K, 16 * SZ_1M - SZ_4K]]);
  });

  it("takes from the start of the smallest hole that fits, and merges holes on free", () => {
    const { kernel, holes, alloc } = bfRegion();
    const a = alloc(SZ_1M);
    const b = alloc(SZ_1M);
    const c = alloc(2 * SZ_1M);
    expect([a, b, c]).toEqual([0, SZ_1M, 2 * SZ_1M]);
    cmaFree(kernel, BASE + b);
    expect(holes()).toEqual([
      [SZ_1M, SZ_1M],
      [4 * SZ_1M, 12 * SZ_1M],
    ]);
    // the smallest hole that fits is the 1 MiB one
    expect(alloc(SZ_64K)).toBe(SZ_1M);
    cmaFree(kernel, BASE + a);
    cmaFree(kernel, BASE + SZ_1M);
    cmaFree(kernel, BASE + c);
    expect(holes()).toEqual([[0, 16 * SZ_1M]]);
  });

  it("an exact fit takes the whole hole", () => {
    const { kernel, holes, alloc } = bfRegion();
    alloc(SZ_1M);
    const b = alloc(SZ_1M);
    alloc(SZ_1M);
    cmaFree(kernel, BASE + b);
    expect(alloc(SZ_1M)).toBe(b);
    expect(holes()).toEqual([[3 * SZ_1M, 13 * SZ_1M]]);
  });

  it("slides the chunk to the end of the hole when the tail gap is a multiple of the alignment", () => {
    const { holes, alloc } = bfRegion(4 * SZ_1M);
    expect(alloc(SZ_4K)).toBe(0);
    // aligned start 1 MiB leaves [4K,1M) before and [2M,4M) after: 2 MiB % 1 MiB == 0 → slide
    expect(alloc(SZ_1M, SZ_1M)).toBe(3 * SZ_1M);
    expect(holes()).toEqual([[SZ_4K, 3 * SZ_1M - SZ_4K]]);
  });

  it("splits the hole into head + chunk + tail when the tail gap is not a multiple", () => {
    const { holes, alloc } = bfRegion(4 * SZ_1M);
    expect(alloc(SZ_4K)).toBe(0);
    expect(alloc(SZ_1M - SZ_4K)).toBe(SZ_4K); // hole now [1M, 4M)
    expect(alloc(SZ_4K)).toBe(SZ_1M); // hole [1M+4K, 4M)
    // aligned 2M, chunk [2M, 2M+64K), tail 2M-64K is not a multiple of 1M → split
    expect(alloc(SZ_64K, SZ_1M)).toBe(2 * SZ_1M);
    expect(holes()).toEqual([
      [SZ_1M + SZ_4K, SZ_1M - SZ_4K],
      [2 * SZ_1M + SZ_64K, 2 * SZ_1M - SZ_64K],
    ]);
  });

  it("walks holes in ascending size until one satisfies the alignment", () => {
    const { kernel, alloc } = bfRegion();
    const x = alloc(SZ_4K); // [0, 4K)
    const y = alloc(SZ_1M); // [4K, 1M+4K)
    alloc(SZ_4K); // [1M+4K, 1M+8K)
    cmaFree(kernel, BASE + y); // hole [4K, 1M+4K): 1 MiB but holds no 64K-aligned 1 MiB
    expect(x).toBe(0);
    expect(alloc(SZ_1M, SZ_64K) % SZ_64K).toBe(0);
    expect(alloc(SZ_1M - SZ_64K, SZ_64K)).toBe(SZ_64K); // fits the small hole at 64K
  });

  it("keeps equal-size holes with the most recently inserted first", () => {
    const { kernel, bySize, alloc } = bfRegion();
    const c = [0, 1, 2, 3, 4].map(() => alloc(SZ_1M));
    cmaFree(kernel, BASE + c[1]!);
    cmaFree(kernel, BASE + c[3]!);
    expect(bySize().slice(0, 2)).toEqual([
      [3 * SZ_1M, SZ_1M],
      [SZ_1M, SZ_1M],
    ]);
    expect(alloc(SZ_1M)).toBe(3 * SZ_1M);
  });

  it("detaching (cleanup) with chunks left is refused; with one hole it is clean", () => {
    const { kernel, region } = bfRegion();
    const rec = recordAll(kernel);
    const a = cmaAllocFromRegion(region, SZ_1M, 0);
    cmaFree(kernel, a);
    region.allocator!.cleanup!(region);
    expect(rec.of("cma_warn")).toEqual([]);
  });

  test.prop(
    [
      fc.array(
        fc.tuple(
          fc.boolean(),
          fc.integer({ min: 1, max: 96 }),
          fc.constantFrom(0, SZ_4K, SZ_64K, SZ_1M, 2 * SZ_1M),
          fc.nat(),
        ),
        { maxLength: 200 },
      ),
    ],
    { numRuns: 60 },
  )(
    "chunks stay disjoint inside the region, free == size − Σ chunks, holes never touch; all freed → one hole",
    (ops) => {
      const { kernel, region } = bfRegion(8 * SZ_1M);
      const live: number[] = [];
      for (const [alloc, pages, align, pick] of ops) {
        if (!alloc && live.length) {
          cmaFree(kernel, live.splice(pick % live.length, 1)[0]!);
        } else {
          try {
            const a = cmaAllocFromRegion(region, pages * SZ_4K, align);
            expect(a % Math.max(align, SZ_4K)).toBe(0);
            live.push(a);
          } catch (e) {
            expect((e as Error).message).toMatch(/^ENOMEM/);
          }
        }
        expectRegionConsistent(region);
        const st = region.priv as BfState | null;
        if (st) {
          let holesBytes = 0;
          for (let i = 0; i < st.byStart.length; i++) {
            const h = st.byStart[i]!;
            holesBytes += h.size;
            const n = st.byStart[i + 1];
            if (n) expect(h.start + h.size).toBeLessThan(n.start); // merged: never adjacent
          }
          expect(holesBytes).toBe(region.free); // holes ∪ chunks tile the region
          for (let i = 1; i < st.bySize.length; i++)
            expect(st.bySize[i - 1]!.size).toBeLessThanOrEqual(st.bySize[i]!.size);
        }
      }
      for (const a of live) cmaFree(kernel, a);
      const st = region.priv as BfState | null;
      if (st) expect(st.byStart.map((h) => [h.start, h.size])).toEqual([[BASE, 8 * SZ_1M]]);
    },
  );
});
