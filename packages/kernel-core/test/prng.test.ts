import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Prng } from "../src/index.js";

describe("Prng", () => {
  it("the same seed gives the same stream; another seed another", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(sa);
  });

  it("fork(label) depends on the seed and label, not on draws made before", () => {
    const a = new Prng("s");
    const b = new Prng("s");
    b.nextU32();
    b.nextU32();
    expect(a.fork("cma").nextU32()).toBe(b.fork("cma").nextU32());
    expect(a.fork("cma").nextU32()).not.toBe(a.fork("iommu").nextU32());
  });

  test.prop([fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 5000 }), fc.integer()])(
    "int(lo, hi) stays in range",
    (lo, span, seed) => {
      const r = new Prng(seed);
      for (let i = 0; i < 20; i++) {
        const x = r.int(lo, lo + span);
        expect(x).toBeGreaterThanOrEqual(lo);
        expect(x).toBeLessThanOrEqual(lo + span);
        expect(Number.isInteger(x)).toBe(true);
      }
    },
  );

  it("int covers its range roughly uniformly", () => {
    const r = new Prng(7);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) counts[r.int(0, 9)]++;
    for (const c of counts) expect(c).toBeGreaterThan(1700);
  });

  it("shuffle permutes and pick chooses members; bad ranges are rejected", () => {
    const r = new Prng(1);
    const xs = [1, 2, 3, 4, 5, 6];
    expect([...r.shuffle([...xs])].sort()).toEqual(xs);
    expect(xs).toContain(r.pick(xs));
    expect(() => r.int(5, 4)).toThrow(RangeError);
    expect(() => r.pick([])).toThrow(RangeError);
  });
});
