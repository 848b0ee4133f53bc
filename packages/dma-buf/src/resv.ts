/**
 * dma-resv (drivers/dma-buf/dma-resv.c): the fences attached to a buffer, each with a usage —
 * KERNEL (memory management), WRITE, READ, BOOKKEEP — ordered so that a query for usage U sees
 * every fence of usage ≤ U. A new writer waits for READ (readers and writers), a new reader for
 * WRITE.
 *
 * @module
 */
import { type Kernel, KernelBug, KernelError } from "@umm/kernel-core";
import { type DmaFence, dmaFenceIsSignaled, dmaFenceWaitTimeout } from "./fence.js";
import { dmaFenceUnwrapMerge } from "./fence-container.js";

/** `DMA_RESV_USAGE_KERNEL`: memory management (moves, clears); everyone waits for it. */
export const DMA_RESV_USAGE_KERNEL = 0;
/** `DMA_RESV_USAGE_WRITE`: implicit-sync writers. */
export const DMA_RESV_USAGE_WRITE = 1;
/** `DMA_RESV_USAGE_READ`: implicit-sync readers. */
export const DMA_RESV_USAGE_READ = 2;
/** `DMA_RESV_USAGE_BOOKKEEP`: explicitly synced work no implicit user waits for. */
export const DMA_RESV_USAGE_BOOKKEEP = 3;
/** `enum dma_resv_usage`: ordered, a query for usage U sees every fence of usage ≤ U. */
export type DmaResvUsage = 0 | 1 | 2 | 3;

/** `dma_resv_usage_rw(write)`: what an access must wait for. */
export function dmaResvUsageRw(write: boolean): DmaResvUsage {
  return write ? DMA_RESV_USAGE_READ : DMA_RESV_USAGE_WRITE;
}

/** A reservation object. */
export class DmaResv {
  readonly kernel: Kernel;
  /** @internal */
  readonly _fences: { fence: DmaFence; usage: DmaResvUsage }[] = [];
  /** @internal slots reserved by dmaResvReserveFences and not yet used */
  _reserved = 0;
  /** @internal */
  _locked = false;

  constructor(kernel: Kernel) {
    this.kernel = kernel;
  }
}

/** `dma_resv_init` */
export function dmaResvInit(kernel: Kernel): DmaResv {
  return new DmaResv(kernel);
}

/** `dma_resv_lock`: EALREADY when already held (the ww_mutex answer to a second lock in one context). */
export function dmaResvLock(obj: DmaResv): void {
  if (obj._locked) throw new KernelError("EALREADY", "dma_resv_lock: already locked");
  obj._locked = true;
}

/** `dma_resv_unlock`: unlocking an unlocked object is a bug. Unused reservations are dropped. */
export function dmaResvUnlock(obj: DmaResv): void {
  if (!obj._locked) throw new KernelBug("dma_resv_unlock: not locked");
  obj._locked = false;
  obj._reserved = 0;
}

function assertHeld(obj: DmaResv, what: string): void {
  if (!obj._locked) throw new KernelBug(`${what}: the reservation lock is not held`);
}

/** `dma_resv_reserve_fences`: room for `num` more fences before `dmaResvAddFence`. Lock held. */
export function dmaResvReserveFences(obj: DmaResv, num: number): void {
  assertHeld(obj, "dma_resv_reserve_fences");
  if (!Number.isInteger(num) || num < 0)
    throw new KernelError("EINVAL", `dma_resv_reserve_fences: num ${num}`);
  obj._reserved += num;
}

/**
 * `dma_resv_add_fence`: adds `fence` with `usage`. A fence of the same context or a signalled one
 * is replaced in place; otherwise a reserved slot is used (adding without one is a bug). Lock held.
 */
export function dmaResvAddFence(obj: DmaResv, fence: DmaFence, usage: DmaResvUsage): void {
  assertHeld(obj, "dma_resv_add_fence");
  for (const e of obj._fences) {
    if (e.fence.context === fence.context || dmaFenceIsSignaled(e.fence)) {
      e.fence = fence;
      e.usage = usage;
      return;
    }
  }
  if (obj._reserved <= 0)
    throw new KernelBug("dma_resv_add_fence: no slot reserved (call dma_resv_reserve_fences)");
  obj._reserved--;
  obj._fences.push({ fence, usage });
}

/** `dma_resv_for_each_fence`: every fence with usage ≤ `usage`, with its usage. */
export function* dmaResvIterFences(
  obj: DmaResv,
  usage: DmaResvUsage,
): Generator<{ fence: DmaFence; usage: DmaResvUsage }> {
  for (const e of [...obj._fences]) if (e.usage <= usage) yield { fence: e.fence, usage: e.usage };
}

/** `dma_resv_get_fences`: the fences with usage ≤ `usage`. */
export function dmaResvGetFences(obj: DmaResv, usage: DmaResvUsage): DmaFence[] {
  return [...dmaResvIterFences(obj, usage)].map((e) => e.fence);
}

/** `dma_resv_get_singleton`: one fence for them all (null when there are none). */
export function dmaResvGetSingleton(obj: DmaResv, usage: DmaResvUsage): DmaFence | null {
  const fences = dmaResvGetFences(obj, usage);
  if (fences.length === 0) return null;
  return dmaFenceUnwrapMerge(obj.kernel, ...fences);
}

/** `dma_resv_test_signaled`: true when every fence with usage ≤ `usage` has signalled. */
export function dmaResvTestSignaled(obj: DmaResv, usage: DmaResvUsage): boolean {
  return dmaResvGetFences(obj, usage).every(dmaFenceIsSignaled);
}

/**
 * `dma_resv_wait_timeout`: waits for every fence with usage ≤ `usage`; resolves to the time left
 * (≥ 1) or 0 on timeout (`undefined` waits forever).
 */
export async function dmaResvWaitTimeout(
  obj: DmaResv,
  usage: DmaResvUsage,
  timeout?: number,
): Promise<number> {
  let left = timeout;
  for (const f of dmaResvGetFences(obj, usage)) {
    const r = await dmaFenceWaitTimeout(f, left);
    if (r === 0) return 0;
    if (left !== undefined) left = r;
  }
  return left === undefined ? 1 : Math.max(1, left);
}
