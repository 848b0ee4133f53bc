import { fc, test } from "@fast-check/vitest";
import { Device, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { describe, expect } from "vitest";
import { BfState, cmaAlloc, cmaFree, cmaRegionRegister, cmaSetMap } from "../src/index.js";
import { expectRegionConsistent } from "../src/testing.js";
import { board2010 } from "./helpers.js";

const op = fc.tuple(
  fc.constantFrom("alloc", "alloc", "free"),
  fc.integer({ min: 1, max: 1100 }), // pages
  fc.constantFrom(0, SZ_4K, SZ_64K, SZ_1M),
  fc.nat(),
  fc.constantFrom("cam", "mfc", "fimd"),
);

describe("2010 framework properties over both built-in allocators", () => {
  for (const alloc of ["bf", "bitmap"]) {
    test.prop([fc.array(op, { maxLength: 120 })], { numRuns: 30 })(
      `${alloc}: chunks never overlap and stay in their region; free == size − Σ chunks; all freed → whole`,
      (ops) => {
        const { kernel, mm } = board2010([
          [0x42000000, 4 * SZ_1M, "a"],
          [0x42400000, 2 * SZ_1M, "b"],
        ]);
        const a = cmaRegionRegister(kernel, {
          name: "a",
          start: 0x42000000,
          size: 4 * SZ_1M,
          allocName: alloc,
        });
        const b = cmaRegionRegister(kernel, {
          name: "b",
          start: 0x42400000,
          size: 2 * SZ_1M,
          allocName: alloc,
        });
        cmaSetMap(kernel, "cam=a,b;mfc=b,a;*=b");
        const devs = new Map(["cam", "mfc", "fimd"].map((n) => [n, new Device(kernel, { name: n })]));
        const live: number[] = [];
        for (const [kind, pages, align, pick, dev] of ops) {
          if (kind === "free" && live.length) {
            cmaFree(kernel, live.splice(pick % live.length, 1)[0]!);
          } else if (kind === "alloc") {
            try {
              const s = cmaAlloc(devs.get(dev)!, null, pages * PAGE_SIZE - (pick % PAGE_SIZE), align);
              expect(s % Math.max(align, SZ_4K)).toBe(0);
              expect(mm.frames.ownerOf(s / PAGE_SIZE)).toMatch(new RegExp(`^cma:[ab]:${dev}$`));
              live.push(s);
            } catch (e) {
              expect((e as Error).message).toMatch(/^ENOMEM/);
            }
          }
          expectRegionConsistent(a);
          expectRegionConsistent(b);
          const all = [...a.chunks(), ...b.chunks()].sort((x, y) => x.start - y.start);
          for (let i = 1; i < all.length; i++)
            expect(all[i - 1]!.start + all[i - 1]!.size).toBeLessThanOrEqual(all[i]!.start);
        }
        for (const s of live) cmaFree(kernel, s);
        for (const r of [a, b]) {
          expect(r.free).toBe(r.size);
          if (r.priv instanceof BfState)
            expect(r.priv.byStart.map((h) => [h.start, h.size])).toEqual([[r.base, r.size]]);
        }
      },
    );
  }
});
