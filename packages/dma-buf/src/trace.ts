/**
 * dma-buf's trace events (include/trace/events/dma_fence.h and umm's dma-buf lifecycle events).
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    dma_fence_init: { driver: string; timeline: string; context: number; seqno: number };
    dma_fence_signaled: { driver: string; timeline: string; context: number; seqno: number };
    dma_fence_wait_start: { context: number; seqno: number };
    dma_fence_wait_end: { context: number; seqno: number };
  }
}

export {};
