// Ported from the ideas of drivers/dma-buf/st-dma-fence.c (sanitycheck, test_signaling,
// test_add_callback, test_late_add_callback, test_rm_callback, test_status, test_error,
// test_wait, test_wait_timeout, test_stub).
import { createKernel, ERRNO } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  DmaFence,
  dmaFenceAddCallback,
  dmaFenceContextAlloc,
  dmaFenceGetStatus,
  dmaFenceGetStub,
  dmaFenceIsLater,
  dmaFenceIsSignaled,
  dmaFenceRemoveCallback,
  dmaFenceSetError,
  dmaFenceSignal,
  dmaFenceWait,
  dmaFenceWaitTimeout,
  mockFenceOps,
} from "../src/index.js";

const mk = () => {
  const kernel = createKernel();
  const ctx = dmaFenceContextAlloc(kernel);
  return { kernel, fence: (seqno = 1) => new DmaFence(kernel, mockFenceOps(), ctx, seqno) };
};

describe("dma-fence", () => {
  it("signals once: 0 the first time, -EINVAL after, stamped with virtual time", async () => {
    const { kernel, fence } = mk();
    const f = fence();
    expect(dmaFenceIsSignaled(f)).toBe(false);
    await kernel.clock.runFor(5000);
    expect(dmaFenceSignal(f)).toBe(0);
    expect(dmaFenceIsSignaled(f)).toBe(true);
    expect(f.timestamp).toBe(5000);
    expect(dmaFenceSignal(f)).toBe(-ERRNO.EINVAL);
  });

  it("callbacks run at signal; a late add returns -ENOENT and never runs; remove reports pending", () => {
    const { fence } = mk();
    const f = fence();
    let ran = 0;
    const cb = () => ran++;
    expect(dmaFenceAddCallback(f, cb)).toBe(0);
    const removed = () => (ran += 100);
    dmaFenceAddCallback(f, removed);
    expect(dmaFenceRemoveCallback(f, removed)).toBe(true);
    dmaFenceSignal(f);
    expect(ran).toBe(1);
    expect(dmaFenceAddCallback(f, cb)).toBe(-ERRNO.ENOENT);
    expect(ran).toBe(1);
    expect(dmaFenceRemoveCallback(f, cb)).toBe(false);
  });

  it("status: 0 pending, 1 signalled, the error once signalled with one", () => {
    const { fence } = mk();
    const a = fence();
    expect(dmaFenceGetStatus(a)).toBe(0);
    dmaFenceSignal(a);
    expect(dmaFenceGetStatus(a)).toBe(1);
    const b = fence(2);
    dmaFenceSetError(b, -ERRNO.EIO);
    expect(dmaFenceGetStatus(b)).toBe(0);
    dmaFenceSignal(b);
    expect(dmaFenceGetStatus(b)).toBe(-ERRNO.EIO);
    expect(() => dmaFenceSetError(b, -ERRNO.EIO)).toThrow(/after it signaled/);
    expect(() => dmaFenceSetError(fence(3), 5)).toThrow(/not a negative errno/);
  });

  it("waits on virtual time: time left when signalled, 0 on timeout, ETIME from dmaFenceWait", async () => {
    const { kernel, fence } = mk();
    const f = fence();
    kernel.clock.after(300, () => dmaFenceSignal(f));
    expect(await kernel.clock.runUntil(dmaFenceWaitTimeout(f, 1000))).toBe(700);
    const g = fence(2);
    expect(await dmaFenceWaitTimeout(g, 0)).toBe(0);
    expect(await kernel.clock.runUntil(dmaFenceWaitTimeout(g, 50))).toBe(0);
    await expect(kernel.clock.runUntil(dmaFenceWait(g, 10))).rejects.toThrow(kerr("ETIME"));
    dmaFenceSignal(g);
    expect(await dmaFenceWaitTimeout(g, 0)).toBe(1);
  });

  it("the driver's signaled op is polled and signals the fence", () => {
    const kernel = createKernel();
    let hwDone = false;
    const f = new DmaFence(
      kernel,
      { ...mockFenceOps(), signaled: () => hwDone },
      dmaFenceContextAlloc(kernel),
      1,
    );
    expect(dmaFenceIsSignaled(f)).toBe(false);
    hwDone = true;
    expect(dmaFenceIsSignaled(f)).toBe(true);
    expect(f.signaledFlag).toBe(true);
  });

  it("enable_signaling returning false signals at once", () => {
    const kernel = createKernel();
    const f = new DmaFence(
      kernel,
      { ...mockFenceOps(), enableSignaling: () => false },
      dmaFenceContextAlloc(kernel),
      1,
    );
    expect(dmaFenceAddCallback(f, () => {})).toBe(-ERRNO.ENOENT);
    expect(dmaFenceIsSignaled(f)).toBe(true);
  });

  it("the stub is signalled and shared; later compares seqnos on one context", () => {
    const { kernel, fence } = mk();
    expect(dmaFenceIsSignaled(dmaFenceGetStub(kernel))).toBe(true);
    expect(dmaFenceGetStub(kernel)).toBe(dmaFenceGetStub(kernel));
    expect(dmaFenceIsLater(fence(5), fence(4))).toBe(true);
    const other = new DmaFence(kernel, mockFenceOps(), dmaFenceContextAlloc(kernel), 1);
    expect(() => dmaFenceIsLater(other, fence(1))).toThrow(/different contexts/);
  });

  it("contexts are unique per allocation", () => {
    const kernel = createKernel();
    const a = dmaFenceContextAlloc(kernel, 4);
    expect(dmaFenceContextAlloc(kernel)).toBe(a + 4);
    expect(() => dmaFenceContextAlloc(kernel, 0)).toThrow(kerr("EINVAL"));
  });
});
