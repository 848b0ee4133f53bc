import { describe, expect, it } from "vitest";
import { createKernel, defineSlot, KernelBug } from "../src/index.js";

describe("Kernel", () => {
  it("slots hold typed subsystem state, set once", () => {
    const k = createKernel({ seed: 1 });
    const key = defineSlot<{ regions: number }>("cma");
    expect(() => k.slot(key)).toThrow(KernelBug);
    expect(k.trySlot(key)).toBeUndefined();
    k.setSlot(key, { regions: 3 });
    expect(k.slot(key).regions).toBe(3);
    expect(() => k.setSlot(key, { regions: 4 })).toThrow(/already initialised/);
    k.clearSlot(key);
    expect(k.trySlot(key)).toBeUndefined();
  });

  it("two kernels are independent; the same seed gives the same random stream", () => {
    const a = createKernel({ seed: "x" });
    const b = createKernel({ seed: "x" });
    expect(a.rng.nextU32()).toBe(b.rng.nextU32());
    a.clock.after(5, () => {});
    expect(b.clock.pending).toBe(0);
  });

  it("shutdown runs teardown steps in reverse order, once, and reports failures together", () => {
    const k = createKernel();
    const log: string[] = [];
    k.onShutdown("a", () => log.push("a"));
    k.onShutdown("b", () => {
      log.push("b");
      throw new Error("b failed");
    });
    k.onShutdown("c", () => log.push("c"));
    expect(() => k.shutdown()).toThrow("b failed");
    expect(log).toEqual(["c", "b", "a"]);
    expect(k.isDown).toBe(true);
    k.shutdown();
    expect(log).toHaveLength(3);
  });

  it("withCurrent sets the current task for the call and restores it after, even on throw", () => {
    const k = createKernel();
    expect(k.current.comm).toBe("swapper");
    expect(() =>
      k.withCurrent({ pid: 5, comm: "app" }, () => {
        expect(k.current.pid).toBe(5);
        throw new Error("x");
      }),
    ).toThrow("x");
    expect(k.current.pid).toBe(0);
  });
});
