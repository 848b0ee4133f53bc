// Ideas from drivers/dma-buf/st-dma-resv.c.
import { createKernel, type Kernel } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  DMA_RESV_USAGE_BOOKKEEP,
  DMA_RESV_USAGE_KERNEL,
  DMA_RESV_USAGE_READ,
  DMA_RESV_USAGE_WRITE,
  DmaFence,
  dmaFenceContextAlloc,
  dmaFenceSignal,
  dmaResvAddFence,
  dmaResvGetFences,
  dmaResvGetSingleton,
  dmaResvInit,
  dmaResvLock,
  dmaResvReserveFences,
  dmaResvTestSignaled,
  dmaResvUnlock,
  dmaResvUsageRw,
  dmaResvWaitTimeout,
  mockFenceOps,
} from "../src/index.js";

const fence = (kernel: Kernel, seqno = 1, ctx = dmaFenceContextAlloc(kernel)) =>
  new DmaFence(kernel, mockFenceOps(), ctx, seqno);

describe("dma-resv", () => {
  it("a query for usage U sees every fence with usage ≤ U", () => {
    const kernel = createKernel();
    const r = dmaResvInit(kernel);
    const fk = fence(kernel);
    const fw = fence(kernel);
    const fr = fence(kernel);
    const fb = fence(kernel);
    dmaResvLock(r);
    dmaResvReserveFences(r, 4);
    dmaResvAddFence(r, fk, DMA_RESV_USAGE_KERNEL);
    dmaResvAddFence(r, fw, DMA_RESV_USAGE_WRITE);
    dmaResvAddFence(r, fr, DMA_RESV_USAGE_READ);
    dmaResvAddFence(r, fb, DMA_RESV_USAGE_BOOKKEEP);
    dmaResvUnlock(r);
    expect(dmaResvGetFences(r, DMA_RESV_USAGE_KERNEL)).toEqual([fk]);
    expect(dmaResvGetFences(r, DMA_RESV_USAGE_WRITE)).toEqual([fk, fw]);
    expect(dmaResvGetFences(r, DMA_RESV_USAGE_READ)).toEqual([fk, fw, fr]);
    expect(dmaResvGetFences(r, DMA_RESV_USAGE_BOOKKEEP)).toHaveLength(4);
    expect(dmaResvUsageRw(true)).toBe(DMA_RESV_USAGE_READ);
    expect(dmaResvUsageRw(false)).toBe(DMA_RESV_USAGE_WRITE);
  });

  it("adding needs the lock and a reserved slot; same-context and signalled fences are replaced", () => {
    const kernel = createKernel();
    const r = dmaResvInit(kernel);
    const ctx = dmaFenceContextAlloc(kernel);
    expect(() => dmaResvAddFence(r, fence(kernel), DMA_RESV_USAGE_WRITE)).toThrow(/lock is not held/);
    dmaResvLock(r);
    expect(() => dmaResvLock(r)).toThrow(kerr("EALREADY"));
    expect(() => dmaResvAddFence(r, fence(kernel), DMA_RESV_USAGE_WRITE)).toThrow(/no slot reserved/);
    dmaResvReserveFences(r, 1);
    dmaResvAddFence(r, fence(kernel, 1, ctx), DMA_RESV_USAGE_WRITE);
    const later = fence(kernel, 2, ctx);
    dmaResvAddFence(r, later, DMA_RESV_USAGE_WRITE); // replaces, needs no slot
    expect(dmaResvGetFences(r, DMA_RESV_USAGE_BOOKKEEP)).toEqual([later]);
    dmaFenceSignal(later);
    const next = fence(kernel);
    dmaResvAddFence(r, next, DMA_RESV_USAGE_READ);
    expect(dmaResvGetFences(r, DMA_RESV_USAGE_BOOKKEEP)).toEqual([next]);
    dmaResvUnlock(r);
    expect(() => dmaResvUnlock(r)).toThrow(/not locked/);
  });

  it("test_signaled and wait follow the usage; the singleton merges", async () => {
    const kernel = createKernel();
    const r = dmaResvInit(kernel);
    const w = fence(kernel);
    const rd = fence(kernel);
    dmaResvLock(r);
    dmaResvReserveFences(r, 2);
    dmaResvAddFence(r, w, DMA_RESV_USAGE_WRITE);
    dmaResvAddFence(r, rd, DMA_RESV_USAGE_READ);
    dmaResvUnlock(r);
    expect(dmaResvTestSignaled(r, DMA_RESV_USAGE_WRITE)).toBe(false);
    kernel.clock.after(100, () => dmaFenceSignal(w));
    expect(await kernel.clock.runUntil(dmaResvWaitTimeout(r, DMA_RESV_USAGE_WRITE, 1000))).toBe(900);
    expect(dmaResvTestSignaled(r, DMA_RESV_USAGE_WRITE)).toBe(true);
    expect(dmaResvTestSignaled(r, DMA_RESV_USAGE_READ)).toBe(false);
    expect(await kernel.clock.runUntil(dmaResvWaitTimeout(r, DMA_RESV_USAGE_READ, 50))).toBe(0);
    expect(dmaResvGetSingleton(r, DMA_RESV_USAGE_READ)).toBe(rd);
    expect(dmaResvGetSingleton(dmaResvInit(kernel), DMA_RESV_USAGE_READ)).toBeNull();
  });
});
