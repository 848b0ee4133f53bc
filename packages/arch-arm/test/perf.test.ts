// ARCHITECTURE "Performance principles": bulk cache work is a few native copies per contiguous
// run, never a loop over lines. These tests count the typed-array calls a 3 MiB store and clean
// make, so a regression to per-line work fails here, not only in the benchmark.
import { afterEach, describe, expect, it, vi } from "vitest";
import { boot, buffer, pattern } from "./helpers.js";

const FRAME = 3 * 1024 * 1024;
const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as {
  set: (...a: unknown[]) => void;
  fill: (...a: unknown[]) => unknown;
};

function counting<T>(fn: () => T): { calls: number; result: T } {
  const set = vi.spyOn(TypedArrayProto, "set");
  const fill = vi.spyOn(TypedArrayProto, "fill");
  const result = fn();
  const calls = set.mock.calls.length + fill.mock.calls.length;
  set.mockRestore();
  fill.mockRestore();
  return { calls, result };
}

afterEach(() => vi.restoreAllMocks());

describe("bulk operations in ideal mode", () => {
  it("storing 3 MiB into a contiguous buffer, then cleaning it, is a handful of set/fill calls", () => {
    const { mm, cpu } = boot({ size: 32 * 1024 * 1024 });
    const b = buffer(mm, 10, "frame");
    const data = pattern(FRAME);
    const store = counting(() => cpu.write(mm.kspace, b.va, data));
    expect(store.calls).toBeLessThanOrEqual(4);
    expect(cpu.stats().dirtyLines).toBe(FRAME / 32);
    const clean = counting(() => cpu.cleanRange(mm.kspace, b.va, FRAME));
    expect(clean.calls).toBeLessThanOrEqual(4);
    expect(cpu.stats().dirtyLines).toBe(0);
    const again = counting(() => cpu.cleanRange(mm.kspace, b.va, FRAME)); // nothing dirty
    expect(again.calls).toBe(0);
    const reread = counting(() => cpu.read(mm.kspace, b.va, new Uint8Array(FRAME))); // warm
    expect(reread.calls).toBe(1);
    const flush = counting(() => cpu.flushRange(mm.kspace, b.va, FRAME));
    expect(flush.calls).toBeLessThanOrEqual(2);
    expect(cpu.stats().validLines).toBe(0);
  });

  it("a device write over an uncached 3 MiB buffer only updates the writer tags", () => {
    const { mm, cpu, kernel } = boot({ size: 32 * 1024 * 1024 });
    const b = buffer(mm, 10, "frame");
    const calls = counting(() => cpu.checker.onDmaWrite({ id: 1, name: kernel.name }, b.pa, FRAME));
    expect(calls.calls).toBe(1);
  });
});
