import { describe, expect, it } from "vitest";
import { KernelBug, Kref } from "../src/index.js";

describe("Kref", () => {
  it("starts at 1 and releases exactly once on the last put", () => {
    let released = 0;
    const k = new Kref(() => released++, "buf");
    expect(k.count).toBe(1);
    k.get();
    expect(k.put()).toBe(false);
    expect(released).toBe(0);
    expect(k.put()).toBe(true);
    expect(released).toBe(1);
    expect(k.released).toBe(true);
  });

  it("a put after release is a KernelBug naming the object", () => {
    const k = new Kref(() => {}, "dma-buf 3");
    k.put();
    expect(() => k.put()).toThrow(KernelBug);
    expect(() => k.put()).toThrow(/dma-buf 3: put after release/);
    expect(() => k.get()).toThrow(/dma-buf 3: get after release/);
  });

  it("getUnlessZero refuses a released object", () => {
    const k = new Kref(() => {});
    expect(k.getUnlessZero()).toBe(true);
    expect(k.count).toBe(2);
    k.put();
    k.put();
    expect(k.getUnlessZero()).toBe(false);
  });
});
