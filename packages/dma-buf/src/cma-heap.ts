/**
 * The CMA heap (drivers/dma-buf/heaps/cma_heap.c): each buffer is one physically contiguous chunk
 * from a merged-CMA area (`cma_alloc`, aligned to its size's order up to CONFIG_CMA_ALIGNMENT),
 * zeroed by the CPU through the kernel mapping (so the zeros sit in the CPU cache until a device
 * mapping cleans them), mapped into processes only MAP_SHARED, and given back with `cma_release`
 * when the buffer is released.
 *
 * @module
 */
import { tryCpuOf } from "@umm/arch-arm";
import { getOrder, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import {
  type CmaRegion,
  CONFIG_CMA_ALIGNMENT,
  cmaAlloc,
  cmaGetName,
  cmaRelease,
  dmaContiguousDefaultArea,
} from "@umm/mm-cma";
import { type Mm, mmOf } from "@umm/mm-core";
import { dmaBufExport } from "./dma-buf.js";
import { type DmaHeap, dmaHeapAdd } from "./heap.js";
import { type HeapBuffer, heapBufferOps, newHeapBuffer } from "./heap-buffer.js";
import { dmaBufState, dmaBufWarn } from "./state.js";

/** The name of the default area's heap (`DEFAULT_CMA_NAME`, Linux 6.17). */
export const DEFAULT_CMA_HEAP_NAME = "default_cma_region";

interface CmaHeap {
  readonly cma: CmaRegion;
}

/** `memset(page_address(pages), 0, size)` or `clear_highpage` page by page: a CPU store. */
function zeroPages(kernel: Kernel, mm: Mm, pfn: number, count: number): void {
  const cpu = mm.hooks.cache ? tryCpuOf(kernel) : undefined;
  const size = count * PAGE_SIZE;
  if (!cpu) {
    mm.phys.fill(pfn * PAGE_SIZE, 0, size);
    return;
  }
  const ks = mm.kspace;
  if ((pfn + count) * PAGE_SIZE <= ks.lowmemEnd) {
    cpu.fill(ks, ks.physToVirt(pfn * PAGE_SIZE), 0, size);
    return;
  }
  const va = ks.vmap(
    Int32Array.from({ length: count }, (_, i) => pfn + i),
    "cacheable",
    "cma_heap:clear",
  );
  try {
    cpu.fill(ks, va, 0, size);
  } finally {
    ks.vunmap(va);
  }
}

const CMA_HEAP_BUF_OPS = heapBufferOps({
  cma: true,
  release: (hb: HeapBuffer) => {
    const { cma } = hb.owner as CmaHeap;
    const pfn = hb.chunks[0]!.pfn;
    if (!cmaRelease(cma, pfn, hb.pfns.length)) {
      dmaBufWarn(
        dmaBufState(hb.kernel),
        `cma_heap: cma_release of ${hb.pfns.length} pages at pfn ${pfn} failed`,
      );
    }
  },
});

function cmaHeapAllocate(heap: DmaHeap, len: number, fdFlags: number, _heapFlags: number) {
  const { cma } = heap.priv as CmaHeap;
  const count = len / PAGE_SIZE;
  const align = Math.min(getOrder(len), CONFIG_CMA_ALIGNMENT);
  const pfn = cmaAlloc(cma, count, align, false);
  if (pfn === null) {
    throw new KernelError(
      "ENOMEM",
      `cma heap ${heap.name}: cma_alloc of ${count} pages from ${cmaGetName(cma)} failed`,
    );
  }
  const mm = mmOf(heap.kernel);
  zeroPages(heap.kernel, mm, pfn, count);
  const hb = newHeapBuffer(heap.kernel, heap.name, len, [{ pfn, count }], heap.priv);
  return dmaBufExport(heap.kernel, {
    expName: heap.name,
    ops: CMA_HEAP_BUF_OPS,
    size: len,
    flags: fdFlags,
    priv: hb,
  });
}

/**
 * `__add_cma_heap`: a heap over the merged-CMA area `cma`, named `name` (default: the area's
 * name). EINVAL when a heap of that name exists already.
 */
export function addCmaHeap(kernel: Kernel, cma: CmaRegion, name: string = cmaGetName(cma)): DmaHeap {
  const priv: CmaHeap = { cma };
  return dmaHeapAdd(kernel, { name, ops: Object.freeze({ allocate: cmaHeapAllocate }), priv });
}

/**
 * `add_cma_heaps` for the default area (`dev_get_cma_area(NULL)`): the heap
 * "default_cma_region" and, with `legacy` (CONFIG_DMABUF_HEAPS_CMA_LEGACY, default true), a second
 * heap under the area's own name ("reserved" for `cma=`). Returns the default heap, or null when
 * the kernel has no default area (nothing is registered then).
 */
export function addDefaultCmaHeap(kernel: Kernel, opts: { readonly legacy?: boolean } = {}): DmaHeap | null {
  const cma = dmaContiguousDefaultArea(kernel);
  if (!cma) return null;
  const heap = addCmaHeap(kernel, cma, DEFAULT_CMA_HEAP_NAME);
  const legacy = cmaGetName(cma);
  if (opts.legacy !== false && legacy !== DEFAULT_CMA_HEAP_NAME) addCmaHeap(kernel, cma, legacy);
  return heap;
}
