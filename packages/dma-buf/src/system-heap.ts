/**
 * The system heap (drivers/dma-buf/heaps/system_heap.c): buffers of pages from the buddy
 * allocator, highmem included, each chunk the largest of 1 MiB, 64 KiB or 4 KiB that fits what is
 * left and is no larger than the previous chunk (high orders tried without reclaim or warnings),
 * all zeroed by the page allocator. One scatterlist entry per chunk.
 *
 * @module
 */
import { type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { __GFP_DIRECT_RECLAIM, __GFP_NOWARN, __GFP_ZERO, GFP_HIGHUSER, mmOf } from "@umm/mm-core";
import { dmaBufExport } from "./dma-buf.js";
import { type DmaHeap, dmaHeapAdd } from "./heap.js";
import { heapBufferOps, newHeapBuffer } from "./heap-buffer.js";

/** The chunk orders the system heap tries, largest first (1 MiB, 64 KiB, 4 KiB). */
export const SYSTEM_HEAP_ORDERS: readonly number[] = Object.freeze([8, 4, 0]);

/** High orders: no reclaim, no warning (`HIGH_ORDER_GFP`). */
const HIGH_ORDER_GFP = (GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN) & ~__GFP_DIRECT_RECLAIM;
/** Order 0 (`LOW_ORDER_GFP`). */
const LOW_ORDER_GFP = GFP_HIGHUSER | __GFP_ZERO;

const SYSTEM_HEAP_BUF_OPS = heapBufferOps({
  cma: false,
  release: (hb) => {
    const buddy = hb.mm.buddy;
    for (const c of hb.chunks) buddy.freePages(c.pfn, Math.log2(c.length / PAGE_SIZE));
  },
});

function systemHeapAllocate(heap: DmaHeap, len: number, fdFlags: number, _heapFlags: number) {
  const mm = mmOf(heap.kernel);
  const tag = `dma-heap:${heap.name}`;
  const chunks: { pfn: number; count: number }[] = [];
  let remaining = len;
  let maxOrder = SYSTEM_HEAP_ORDERS[0]!;
  while (remaining > 0) {
    let got: { pfn: number; order: number } | null = null;
    for (const order of SYSTEM_HEAP_ORDERS) {
      if (remaining < PAGE_SIZE * 2 ** order || maxOrder < order) continue;
      const pfn = mm.buddy.allocPages(order, order > 0 ? HIGH_ORDER_GFP : LOW_ORDER_GFP, { tag });
      if (pfn === null) continue;
      got = { pfn, order };
      break;
    }
    if (!got) {
      for (const c of chunks) mm.buddy.freePages(c.pfn, Math.log2(c.count));
      throw new KernelError(
        "ENOMEM",
        `system heap: out of pages with ${remaining} of ${len} bytes left to allocate`,
      );
    }
    chunks.push({ pfn: got.pfn, count: 2 ** got.order });
    remaining -= PAGE_SIZE * 2 ** got.order;
    maxOrder = got.order;
  }
  const hb = newHeapBuffer(heap.kernel, heap.name, len, chunks);
  return dmaBufExport(heap.kernel, {
    expName: heap.name,
    ops: SYSTEM_HEAP_BUF_OPS,
    size: len,
    flags: fdFlags,
    priv: hb,
  });
}

/**
 * `system_heap_create`: registers the heap "system" (/dev/dma_heap/system). EINVAL when a heap of
 * that name exists already.
 */
export function systemHeapCreate(kernel: Kernel): DmaHeap {
  return dmaHeapAdd(kernel, { name: "system", ops: Object.freeze({ allocate: systemHeapAllocate }) });
}
