/**
 * Test helpers for CMA users and allocator authors:
 *
 * - `bootCma(opts)`: a booted kernel with DRAM, CMA declared by `setup` before
 *   `memblockFreeAll` and activated after it;
 * - `describeCmaAllocator(name, allocator)`: the conformance suite a `CmaAllocator` must pass
 *   (register it, allocate a random mix, check placement, accounting and full recovery).
 *
 * ```ts
 * describeCmaAllocator("first-fit list", myAllocator);
 * ```
 * @module
 */
import { createKernel, type Kernel, PAGE_SIZE, Prng, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { type Mm, mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  cmaAllocatorRegister,
  cmaAllocFromRegion,
  cmaFree,
  cmaRegionRegister,
  cmaRegionSetAlloc,
} from "./cma2010.js";
import { cmaInitReservedAreas } from "./merged.js";
import type { CmaAllocator } from "./ops.js";
import type { CmaRegion } from "./region.js";
import { type CmaOpts, cmaInit } from "./state.js";

/** Options of `bootCma`. */
export interface BootCmaOpts extends CmaOpts {
  /** DRAM bytes at 0x40000000 (default 64 MiB) */
  readonly size?: number;
  /** kernel seed (default 1) */
  readonly seed?: number;
  /** bytes of lowmem (default: mm-core's 760 MiB) */
  readonly lowmemSize?: number;
  /** bytes of ZONE_DMA from the start of RAM (default: none) */
  readonly dmaZoneSize?: number;
  /** declares regions and areas between `cmaInit` and `memblockFreeAll` */
  readonly setup?: (kernel: Kernel, mm: Mm) => void;
}

/** A booted kernel with CMA: mmInit, cmaInit, `setup`, memblockFreeAll, cmaInitReservedAreas. */
export function bootCma(opts: BootCmaOpts = {}): { kernel: Kernel; mm: Mm } {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, {
    banks: [{ start: 0x40000000, size: opts.size ?? 64 * SZ_1M }],
    ...(opts.lowmemSize !== undefined ? { lowmemSize: opts.lowmemSize } : {}),
    ...(opts.dmaZoneSize !== undefined ? { dmaZoneSize: opts.dmaZoneSize } : {}),
  });
  cmaInit(kernel, opts);
  opts.setup?.(kernel, mm);
  mm.memblockFreeAll();
  cmaInitReservedAreas(kernel);
  return { kernel, mm };
}

/** Checks the 2010 invariants of `region`: chunks inside, disjoint, free = size − Σ chunks. */
export function expectRegionConsistent(region: CmaRegion): void {
  const chunks = region.chunks();
  let used = 0;
  let prevEnd = region.base;
  for (const c of chunks) {
    expect(c.start).toBeGreaterThanOrEqual(prevEnd);
    expect(c.start + c.size).toBeLessThanOrEqual(region.end);
    expect(c.size % PAGE_SIZE).toBe(0);
    prevEnd = c.start + c.size;
    used += c.size;
  }
  expect(region.free).toBe(region.size - used);
  expect(region.users).toBe(chunks.length);
}

/**
 * The conformance suite of a `CmaAllocator`: registered (as the only one) on a fresh kernel and
 * attached to a 16 MiB carve-out region, it must place chunks inside the region, aligned as asked, never
 * overlapping, return null only when asked for more than fits, take frees of any chunk, and give
 * the whole region back once everything is freed.
 */
export function describeCmaAllocator(name: string, allocator: CmaAllocator): void {
  describe(`CmaAllocator conformance: ${name}`, () => {
    const setup = () => {
      const { kernel, mm } = bootCma({
        size: 64 * SZ_1M,
        builtinAllocators: false,
        setup: (_k, m) => m.memblock.reserve(0x42000000, 16 * SZ_1M, "carve-out"),
      });
      cmaAllocatorRegister(kernel, allocator);
      const region = cmaRegionRegister(kernel, { name: "conf", start: 0x42000000, size: 16 * SZ_1M });
      cmaRegionSetAlloc(region, allocator.name ?? "");
      return { kernel, mm, region };
    };

    it("places chunks inside the region, aligned, disjoint, and accounts for them", () => {
      const { kernel, region } = setup();
      const rng = new Prng(`conformance/${name}`);
      const live: number[] = [];
      for (let i = 0; i < 400; i++) {
        if (live.length > 0 && rng.chance(0.45)) {
          const k = rng.int(0, live.length - 1);
          cmaFree(kernel, live[k]!);
          live.splice(k, 1);
        } else {
          const size = rng.int(1, 64) * SZ_4K;
          const align = rng.pick([0, SZ_4K, SZ_64K, SZ_1M]);
          try {
            const a = cmaAllocFromRegion(region, size, align);
            expect(a % Math.max(align, SZ_4K)).toBe(0);
            live.push(a);
          } catch (e) {
            expect((e as Error).message).toMatch(/^ENOMEM: /);
          }
        }
        expectRegionConsistent(region);
      }
      for (const a of live) cmaFree(kernel, a);
      expect(region.free).toBe(region.size);
      expect(region.allocator).toBe(allocator);
    });

    it("gives the whole region back once everything is freed", () => {
      const { kernel, region } = setup();
      const a = cmaAllocFromRegion(region, SZ_1M, 0);
      const b = cmaAllocFromRegion(region, 3 * SZ_1M, SZ_1M);
      cmaFree(kernel, a);
      cmaFree(kernel, b);
      const all = cmaAllocFromRegion(region, region.size, 0);
      expect(all).toBe(region.base);
      expect(() => cmaAllocFromRegion(region, SZ_4K, 0)).toThrow(/^ENOMEM: /);
      cmaFree(kernel, all);
    });
  });
}
