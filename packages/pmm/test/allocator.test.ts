import { fc, test } from "@fast-check/vitest";
import { isPowerOfTwo, PAGE_SIZE, SZ_1M, SZ_2M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { describeCmaAllocator } from "@umm/mm-cma/testing";
import { describe, expect, it } from "vitest";
import {
  PMM_ITEM_LAST,
  PMM_KNOWN_FLAGS,
  PMM_MEM_ANY,
  PMM_MEM_DMA24,
  PMM_MEM_GENERAL,
  PMM_NO_CACHE,
  pmmAlloc,
  pmmAllocator,
  pmmInfo,
  pmmItems,
  pmmPosition,
  pmmPut,
} from "../src/index.js";
import { bootPmm, expectPmmConsistent } from "../src/testing.js";
import { areaInfo, TYPES_24 } from "./helpers.js";

// mm-cma's conformance suite: the RFC's allocator is a CmaAllocator like any other
describeCmaAllocator("pmm (RFC best fit)", pmmAllocator);

describe("pmmPosition: where the RFC puts an area inside its hole", () => {
  const END = 0x10000000;
  it("takes an exact-size hole whole", () => {
    expect(pmmPosition({ start: 0x1000000, size: SZ_1M, seq: 0 }, SZ_1M, SZ_4K, END)).toBe(0x1000000);
  });
  it("moves to the end of the last hole of the pool when the tail is a multiple of the alignment", () => {
    expect(pmmPosition({ start: END - 8 * SZ_1M, size: 8 * SZ_1M, seq: 0 }, SZ_1M, SZ_4K, END)).toBe(
      END - SZ_1M,
    );
  });
  it("stays at the start of a hole that is not last and has no gap in front", () => {
    expect(pmmPosition({ start: 0x1000000, size: 8 * SZ_1M, seq: 0 }, SZ_1M, SZ_4K, END)).toBe(0x1000000);
  });
  it("moves to the end when the alignment leaves a gap in front and the tail is a multiple", () => {
    expect(pmmPosition({ start: 0x1100000, size: 8 * SZ_1M, seq: 0 }, SZ_1M, SZ_2M, END)).toBe(
      0x1900000 - SZ_1M,
    );
  });
  it("splits the hole when the tail is not a multiple of the alignment", () => {
    expect(pmmPosition({ start: 0x1100000, size: 8 * SZ_1M, seq: 0 }, SZ_1M + SZ_4K, SZ_2M, END)).toBe(
      0x1200000,
    );
  });
});

describe("the RFC's allocator on a 32 MiB pool", () => {
  it("first allocation from the end; next from the start of the remaining hole; merge on free", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=32M" });
    const [pool] = pmmInfo(kernel).types;
    const end = pool!.base + pool!.size;
    const a = areaInfo(SZ_1M);
    const pa = pmmAlloc(kernel, a);
    expect(pa).toBe(end - SZ_1M); // "first allocation will be usually from the end"
    expect(a.flags & PMM_ITEM_LAST).toBe(PMM_ITEM_LAST); // the raw flags leak, as in the RFC
    expect(a.flags & PMM_KNOWN_FLAGS).toBe(0);
    const b = areaInfo(SZ_1M);
    const pb = pmmAlloc(kernel, b);
    expect(pb).toBe(pool!.base);
    expect(b.flags).toBe(0);
    // an aligned request with a gap in front goes to the end of the hole
    const c = areaInfo(SZ_1M, { alignment: SZ_2M });
    const pc = pmmAlloc(kernel, c);
    expect(pc).toBe(end - 2 * SZ_1M);
    expect(pc % SZ_2M).toBe(0);
    // one that would leave an unaligned tail splits the hole
    const d = areaInfo(SZ_1M + SZ_4K, { alignment: SZ_2M });
    const pd = pmmAlloc(kernel, d);
    expect(pd).toBe(pool!.base + SZ_2M);
    expect(pmmItems(kernel).map((i) => i.kind)).toEqual(["area", "hole", "area", "hole", "area", "area"]);
    expectPmmConsistent(kernel);
    // an exact-size hole is taken whole
    pmmPut(kernel, pb);
    const e = pmmAlloc(kernel, areaInfo(SZ_1M));
    expect(e).toBe(pool!.base);
    for (const p of [pa, pc, pd, e]) pmmPut(kernel, p);
    expect(pmmItems(kernel)).toEqual([
      { kind: "hole", start: pool!.base, size: 32 * SZ_1M, type: 1, flags: 0xc0000000, refcount: 0 },
    ]);
  });

  it("tries type bits lowest first, and only types asked for", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=8M", types: TYPES_24 });
    const [gen, dma] = pmmInfo(kernel).types;
    const inGen = pmmAlloc(kernel, areaInfo(SZ_4K * 3, { type: PMM_MEM_ANY }));
    expect(inGen).toBeGreaterThanOrEqual(gen!.base);
    expect(inGen).toBeLessThan(gen!.base + gen!.size);
    const inDma = pmmAlloc(kernel, areaInfo(SZ_4K, { type: PMM_MEM_DMA24 }));
    expect(inDma).toBeGreaterThanOrEqual(dma!.base);
    // general full: ANY falls through to the next type
    const rest = pmmAlloc(kernel, areaInfo(pmmInfo(kernel).types[0]!.free));
    expect(rest).not.toBe(0);
    const info = areaInfo(SZ_4K, { type: PMM_MEM_GENERAL | PMM_MEM_DMA24 });
    const spill = pmmAlloc(kernel, info);
    expect(info.type).toBe(PMM_MEM_DMA24);
    expect(spill).toBeGreaterThanOrEqual(dma!.base);
    expect(pmmAlloc(kernel, areaInfo(SZ_4K, { type: PMM_MEM_GENERAL }))).toBe(0);
    for (const p of [inGen, inDma, rest, spill]) pmmPut(kernel, p);
    expectPmmConsistent(kernel);
  });
});

const op = fc.oneof(
  fc.record({
    kind: fc.constant("alloc" as const),
    pages: fc.integer({ min: 1, max: 1500 }),
    under: fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
    align: fc.constantFrom(0, SZ_4K, 3 * SZ_4K, SZ_64K, SZ_1M, SZ_2M),
    type: fc.constantFrom(PMM_MEM_GENERAL, PMM_MEM_DMA24, PMM_MEM_ANY, 0, 4),
    flags: fc.constantFrom(0, PMM_NO_CACHE),
  }),
  fc.record({ kind: fc.constant("put" as const), pick: fc.nat() }),
);

describe("invariants (§4.7)", () => {
  test.prop([fc.array(op, { maxLength: 80 })], { numRuns: 40 })(
    "areas + holes tile every pool; no two holes adjacent; alignment is a power of two ≥ asked, dividing the start",
    (ops) => {
      const { kernel } = bootPmm({ cmdline: "pmm=16M", types: TYPES_24 });
      const live: number[] = [];
      for (const o of ops) {
        if (o.kind === "put") {
          if (live.length) pmmPut(kernel, live.splice(o.pick % live.length, 1)[0]!);
        } else {
          const info = areaInfo(o.pages * PAGE_SIZE - o.under, {
            alignment: o.align,
            type: o.type,
            flags: o.flags,
          });
          const before = { ...info };
          const pa = pmmAlloc(kernel, info);
          if (pa === 0) {
            expect(info).toEqual(before); // a failed request changes nothing
          } else {
            live.push(pa);
            expect(info.size).toBe(o.pages * PAGE_SIZE);
            expect(isPowerOfTwo(info.alignment)).toBe(true);
            expect(info.alignment).toBeGreaterThanOrEqual(Math.max(o.align, PAGE_SIZE));
            expect(pa % info.alignment).toBe(0);
            expect(pa & info.alignment).toBe(info.alignment); // the lowest set bit
            expect(info.type & o.type).toBe(info.type);
            expect(info.flags & PMM_KNOWN_FLAGS).toBe(o.flags);
          }
        }
        expectPmmConsistent(kernel);
      }
      for (const pa of live) pmmPut(kernel, pa);
      for (const t of pmmInfo(kernel).types) expect(t.free).toBe(t.size);
      expect(pmmItems(kernel).every((i) => i.kind === "hole")).toBe(true);
    },
  );
});
