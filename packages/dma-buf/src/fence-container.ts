/**
 * Fence containers: `dma_fence_array` (many fences as one: all of them, or any), `dma_fence_chain`
 * (a timeline of points, each waiting for its predecessors) and `dma_fence_unwrap_merge` (flatten,
 * drop signalled fences, keep the latest fence per context, sort by context).
 *
 * @module
 */
import { type Kernel, KernelError } from "@umm/kernel-core";
import {
  DmaFence,
  type DmaFenceOps,
  dmaFenceAddCallback,
  dmaFenceContextAlloc,
  dmaFenceGetStub,
  dmaFenceIsSignaled,
} from "./fence.js";

const arrayOps: DmaFenceOps = Object.freeze({
  getDriverName: () => "dma_fence_array",
  getTimelineName: () => "unbound",
});

/** `struct dma_fence_array`: signals when all (or, with `signalOnAny`, any) of `fences` signal. */
export class DmaFenceArray extends DmaFence {
  readonly fences: readonly DmaFence[];
  readonly signalOnAny: boolean;
  #pending: number;

  constructor(
    kernel: Kernel,
    fences: readonly DmaFence[],
    context: number,
    seqno: number,
    signalOnAny: boolean,
  ) {
    super(kernel, arrayOps, context, seqno);
    this.fences = Object.freeze([...fences]);
    this.signalOnAny = signalOnAny;
    this.#pending = signalOnAny ? 1 : fences.length;
    if (fences.length === 0) {
      this._signal();
      return;
    }
    for (const f of fences) {
      const onSignal = (child: DmaFence): void => {
        if (child.error < 0 && this.error === 0 && !this.signaledFlag) this._setError(child.error);
        if (--this.#pending === 0) this._signal();
      };
      if (dmaFenceAddCallback(f, onSignal) !== 0) onSignal(f);
      if (this.signaledFlag) break;
    }
  }
}

/**
 * `dma_fence_array_create`: one fence standing for `fences`. With `signalOnAny` it signals at the
 * first; otherwise after all. The first child error becomes the array's error. An empty array is
 * signalled at once.
 */
export function dmaFenceArrayCreate(
  kernel: Kernel,
  fences: readonly DmaFence[],
  context: number,
  seqno: number,
  signalOnAny = false,
): DmaFenceArray {
  return new DmaFenceArray(kernel, fences, context, seqno, signalOnAny);
}

const chainOps: DmaFenceOps = Object.freeze({
  getDriverName: () => "dma_fence_chain",
  getTimelineName: () => "unbound",
});

/**
 * `struct dma_fence_chain`: a point `seqno` on a timeline; signals when its own fence and every
 * earlier point have signalled.
 */
export class DmaFenceChain extends DmaFence {
  readonly fence: DmaFence;
  readonly prev: DmaFence | null;
  readonly prevSeqno: number;

  constructor(kernel: Kernel, prev: DmaFence | null, fence: DmaFence, seqno: number) {
    const prevChain = prev instanceof DmaFenceChain ? prev : null;
    const sameTimeline = prevChain !== null && seqno > prevChain.seqno;
    super(
      kernel,
      chainOps,
      sameTimeline ? prevChain.context : dmaFenceContextAlloc(kernel),
      // off the timeline: a fresh context, and never a seqno below the predecessor's
      sameTimeline || !prevChain ? seqno : Math.max(prevChain.seqno, seqno),
    );
    this.fence = fence;
    this.prev = prev;
    this.prevSeqno = prev ? prev.seqno : 0;
    const parts = prev ? [prev, fence] : [fence];
    let pending = parts.length;
    for (const p of parts) {
      const done = (child: DmaFence): void => {
        if (child.error < 0 && this.error === 0 && !this.signaledFlag) this._setError(child.error);
        if (--pending === 0) this._signal();
      };
      if (dmaFenceAddCallback(p, done) !== 0) done(p);
    }
  }
}

/** `dma_fence_chain_init`: a new point after `prev` (null for the first). */
export function dmaFenceChainInit(
  kernel: Kernel,
  prev: DmaFence | null,
  fence: DmaFence,
  seqno: number,
): DmaFenceChain {
  return new DmaFenceChain(kernel, prev, fence, seqno);
}

/**
 * `dma_fence_chain_find_seqno`: the point of the chain that will signal `seqno` — the one with
 * `prevSeqno < seqno <= seqno` — walking back from `head`; null when that point has already
 * signalled. `seqno` 0 returns `head`. EINVAL when `seqno` is beyond the head.
 */
export function dmaFenceChainFindSeqno(head: DmaFenceChain, seqno: number): DmaFenceChain | null {
  if (seqno > head.seqno) {
    throw new KernelError(
      "EINVAL",
      `dma_fence_chain_find_seqno: seqno ${seqno} is after the head ${head.seqno}`,
    );
  }
  if (seqno === 0) return head;
  for (let c: DmaFence | null = head; c instanceof DmaFenceChain; c = c.prev) {
    if (c.prevSeqno < seqno) return dmaFenceIsSignaled(c) ? null : c;
  }
  return null;
}

/** Every leaf fence of `f`: arrays and chains are flattened (`dma_fence_unwrap_for_each`). */
export function dmaFenceUnwrap(f: DmaFence): DmaFence[] {
  const out: DmaFence[] = [];
  const visit = (x: DmaFence): void => {
    if (x instanceof DmaFenceArray) for (const c of x.fences) visit(c);
    else if (x instanceof DmaFenceChain) {
      visit(x.fence);
      if (x.prev) visit(x.prev);
    } else out.push(x);
  };
  visit(f);
  return out;
}

/**
 * `dma_fence_unwrap_merge`: one fence for all of `fences` — leaves flattened, signalled ones
 * dropped, one fence per context (the latest seqno), sorted by context. Nothing left → the stub
 * fence; one left → that fence; otherwise a new array on a fresh context.
 */
export function dmaFenceUnwrapMerge(kernel: Kernel, ...fences: DmaFence[]): DmaFence {
  const latest = new Map<number, DmaFence>();
  for (const f of fences) {
    for (const leaf of dmaFenceUnwrap(f)) {
      if (dmaFenceIsSignaled(leaf)) continue;
      const have = latest.get(leaf.context);
      if (!have || leaf.seqno > have.seqno) latest.set(leaf.context, leaf);
    }
  }
  const list = [...latest.values()].sort((a, b) => a.context - b.context);
  if (list.length === 0) return dmaFenceGetStub(kernel);
  if (list.length === 1) return list[0]!;
  return dmaFenceArrayCreate(kernel, list, dmaFenceContextAlloc(kernel), 1, false);
}
