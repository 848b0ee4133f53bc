// Ideas from drivers/dma-buf/st-dma-fence-chain.c and st-dma-fence-unwrap.c.
import { createKernel, ERRNO, type Kernel } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  DmaFence,
  DmaFenceArray,
  dmaFenceArrayCreate,
  dmaFenceChainFindSeqno,
  dmaFenceChainInit,
  dmaFenceContextAlloc,
  dmaFenceGetStatus,
  dmaFenceGetStub,
  dmaFenceIsSignaled,
  dmaFenceSetError,
  dmaFenceSignal,
  dmaFenceUnwrap,
  dmaFenceUnwrapMerge,
  mockFenceOps,
} from "../src/index.js";

function timeline(kernel: Kernel) {
  const ctx = dmaFenceContextAlloc(kernel);
  return (seqno: number) => new DmaFence(kernel, mockFenceOps(), ctx, seqno);
}

describe("dma_fence_array", () => {
  it("signals after all of its fences, and carries the first error", () => {
    const kernel = createKernel();
    const t1 = timeline(kernel);
    const t2 = timeline(kernel);
    const a = t1(1);
    const b = t2(1);
    const arr = dmaFenceArrayCreate(kernel, [a, b], dmaFenceContextAlloc(kernel), 1);
    dmaFenceSetError(a, -ERRNO.EIO);
    dmaFenceSignal(a);
    expect(dmaFenceIsSignaled(arr)).toBe(false);
    dmaFenceSignal(b);
    expect(dmaFenceIsSignaled(arr)).toBe(true);
    expect(dmaFenceGetStatus(arr)).toBe(-ERRNO.EIO);
  });

  it("signal-on-any signals at the first; an empty array is signalled", () => {
    const kernel = createKernel();
    const t = timeline(kernel);
    const a = t(1);
    const arr = dmaFenceArrayCreate(kernel, [a, t(2)], dmaFenceContextAlloc(kernel), 1, true);
    dmaFenceSignal(a);
    expect(dmaFenceIsSignaled(arr)).toBe(true);
    expect(dmaFenceIsSignaled(dmaFenceArrayCreate(kernel, [], dmaFenceContextAlloc(kernel), 1))).toBe(true);
  });
});

describe("dma_fence_chain", () => {
  it("a point signals only when it and all earlier points have", () => {
    const kernel = createKernel();
    const t = timeline(kernel);
    const f1 = t(1);
    const f2 = t(2);
    const c1 = dmaFenceChainInit(kernel, null, f1, 1);
    const c2 = dmaFenceChainInit(kernel, c1, f2, 2);
    expect(c2.context).toBe(c1.context);
    dmaFenceSignal(f2);
    expect(dmaFenceIsSignaled(c2)).toBe(false);
    dmaFenceSignal(f1);
    expect(dmaFenceIsSignaled(c1)).toBe(true);
    expect(dmaFenceIsSignaled(c2)).toBe(true);
  });

  it("find_seqno returns the point that will signal seqno, null once it has; EINVAL past the head", () => {
    const kernel = createKernel();
    const t = timeline(kernel);
    const fences = [t(1), t(2), t(3)];
    let head = dmaFenceChainInit(kernel, null, fences[0]!, 1);
    head = dmaFenceChainInit(kernel, head, fences[1]!, 2);
    head = dmaFenceChainInit(kernel, head, fences[2]!, 3);
    expect(dmaFenceChainFindSeqno(head, 2)?.seqno).toBe(2);
    expect(dmaFenceChainFindSeqno(head, 0)).toBe(head);
    dmaFenceSignal(fences[0]!);
    expect(dmaFenceChainFindSeqno(head, 1)).toBeNull();
    expect(dmaFenceChainFindSeqno(head, 2)?.seqno).toBe(2);
    dmaFenceSignal(fences[1]!);
    expect(dmaFenceChainFindSeqno(head, 2)).toBeNull();
    expect(() => dmaFenceChainFindSeqno(head, 4)).toThrow(kerr("EINVAL"));
  });

  it("a point that is not later than its predecessor starts a new timeline", () => {
    const kernel = createKernel();
    const t = timeline(kernel);
    const c5 = dmaFenceChainInit(kernel, null, t(1), 5);
    const c3 = dmaFenceChainInit(kernel, c5, t(2), 3);
    expect(c3.context).not.toBe(c5.context);
    expect(c3.seqno).toBe(5);
  });
});

describe("dma_fence_unwrap_merge", () => {
  it("flattens, drops signalled fences, keeps the latest per context, sorts by context", () => {
    const kernel = createKernel();
    const tA = timeline(kernel);
    const tB = timeline(kernel);
    const a1 = tA(1);
    const a3 = tA(3);
    const b2 = tB(2);
    const done = tB(9);
    dmaFenceSignal(done);
    const arr = dmaFenceArrayCreate(kernel, [a1, b2], dmaFenceContextAlloc(kernel), 1);
    const chain = dmaFenceChainInit(kernel, null, a3, 1);
    const merged = dmaFenceUnwrapMerge(kernel, arr, chain, done);
    expect(merged).toBeInstanceOf(DmaFenceArray);
    expect((merged as DmaFenceArray).fences).toEqual([a3, b2]);
    expect(dmaFenceUnwrap(merged)).toEqual([a3, b2]);
  });

  it("nothing pending → the stub; one pending → that fence", () => {
    const kernel = createKernel();
    const t = timeline(kernel);
    const a = t(1);
    const b = t(2);
    dmaFenceSignal(a);
    expect(dmaFenceUnwrapMerge(kernel, a)).toBe(dmaFenceGetStub(kernel));
    expect(dmaFenceUnwrapMerge(kernel, a, b)).toBe(b);
  });
});
