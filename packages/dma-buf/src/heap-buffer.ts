/**
 * What the system heap and the CMA heap share (heaps/system_heap.c, heaps/cma_heap.c): a buffer
 * of pages described by a scatterlist of chunks, exported with ops that
 *
 * - give every attachment its own copy of the scatterlist (`dup_sg_table`), mapped with
 *   `dmaMapSgtable` for that device — through its IOMMU or directly;
 * - sync every attachment that is mapped now, for the CPU at begin_cpu_access and for the device
 *   at end_cpu_access (`dma_sync_sgtable_for_cpu/_device`), which on this non-coherent SoC is
 *   the cache maintenance DMA_BUF_IOCTL_SYNC stands for;
 * - map the pages into processes cacheable (so a CPU that writes must SYNC END before a device
 *   reads, and SYNC START before it reads what a device wrote);
 * - vmap the pages cacheable in the kernel.
 *
 * @module
 */
import {
  dmaMapSgtable,
  dmaSyncSgtableForCpu,
  dmaSyncSgtableForDevice,
  dmaUnmapSgtable,
  SgTable,
} from "@umm/dma-mapping-arm";
import { type Device, isKernelError, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import { type Mm, mmOf } from "@umm/mm-core";
import type { DmaBuf, DmaBufAttachment } from "./dma-buf.js";
import type { DmaBufOps } from "./ops.js";

/** One attachment's state (`struct dma_heap_attachment`). */
export interface HeapAttachment {
  readonly dev: Device;
  /** this attachment's own copy of the buffer's scatterlist */
  readonly table: SgTable;
  /** mapped for the device now */
  mapped: boolean;
}

/** A heap buffer (`struct system_heap_buffer` / `cma_heap_buffer`). */
export interface HeapBuffer {
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** the heap's name (the buffers' exp_name) */
  readonly heapName: string;
  /** bytes */
  readonly len: number;
  /** the scatterlist entries: one per physically contiguous chunk */
  readonly chunks: readonly { readonly pfn: number; readonly length: number }[];
  /** one pfn per page */
  readonly pfns: Int32Array;
  /** the attachments (mapped or not) */
  readonly attachments: Set<HeapAttachment>;
  /** the heap's data (the CMA heap's area) */
  readonly owner: unknown;
}

/** How a heap's buffers differ. */
export interface HeapBufferFlavour {
  /** CMA heap: mmap needs MAP_SHARED and maps referenced pages (a fault handler's `get_page`) */
  readonly cma: boolean;
  /** frees the buffer's memory */
  readonly release: (hb: HeapBuffer) => void;
}

/** @internal a heap buffer over `chunks` (`pfn`, `count` pages each) */
export function newHeapBuffer(
  kernel: Kernel,
  heapName: string,
  len: number,
  chunks: readonly { pfn: number; count: number }[],
  owner: unknown = null,
): HeapBuffer {
  const pfns = new Int32Array(len / PAGE_SIZE);
  let k = 0;
  for (const c of chunks) for (let i = 0; i < c.count && k < pfns.length; i++) pfns[k++] = c.pfn + i;
  return {
    kernel,
    mm: mmOf(kernel),
    heapName,
    len,
    chunks: chunks.map((c) => ({ pfn: c.pfn, length: c.count * PAGE_SIZE })),
    pfns,
    attachments: new Set(),
    owner,
  };
}

function hbOf(buf: DmaBuf): HeapBuffer {
  return buf.priv as HeapBuffer;
}

function haOf(att: DmaBufAttachment): HeapAttachment {
  return att.priv as HeapAttachment;
}

/** @internal the exporter ops of a heap flavour */
export function heapBufferOps(flavour: HeapBufferFlavour): DmaBufOps {
  return Object.freeze({
    attach: (buf: DmaBuf, att: DmaBufAttachment) => {
      const hb = hbOf(buf);
      const a: HeapAttachment = { dev: att.dev, table: new SgTable(hb.chunks), mapped: false };
      att.priv = a;
      hb.attachments.add(a);
    },
    detach: (buf: DmaBuf, att: DmaBufAttachment) => {
      hbOf(buf).attachments.delete(haOf(att));
    },
    mapDmaBuf: (att, dir) => {
      const a = haOf(att);
      try {
        dmaMapSgtable(att.dev, a.table, dir);
      } catch (e) {
        // the CMA heap turns every mapping failure into ENOMEM; the system heap passes it on
        if (flavour.cma && isKernelError(e)) {
          throw new KernelError("ENOMEM", `cma_heap_map_dma_buf(${att.dev.name}): ${e.message}`, {
            cause: e,
          });
        }
        throw e;
      }
      a.mapped = true;
      return a.table;
    },
    unmapDmaBuf: (att, sgt, dir) => {
      haOf(att).mapped = false;
      dmaUnmapSgtable(att.dev, sgt, dir);
    },
    release: (buf: DmaBuf) => flavour.release(hbOf(buf)),
    beginCpuAccess: (buf: DmaBuf, dir) => {
      // invalidate_kernel_vmap_range is a no-op for the PIPT cache modelled here
      for (const a of hbOf(buf).attachments) if (a.mapped) dmaSyncSgtableForCpu(a.dev, a.table, dir);
    },
    endCpuAccess: (buf: DmaBuf, dir) => {
      for (const a of hbOf(buf).attachments) if (a.mapped) dmaSyncSgtableForDevice(a.dev, a.table, dir);
    },
    mmap: (buf: DmaBuf, vma: MmapContext) => {
      const hb = hbOf(buf);
      if (flavour.cma && !vma.shared) {
        throw new KernelError("EINVAL", `mmap: ${hb.heapName} buffers need MAP_SHARED`);
      }
      const n = vma.length / PAGE_SIZE;
      // system heap: remap_pfn_range, no page references; CMA heap: faulted pages, referenced
      vma.setPages(hb.pfns.subarray(vma.pgoff, vma.pgoff + n), { refs: flavour.cma });
    },
    vmap: (buf: DmaBuf) => {
      const hb = hbOf(buf);
      return hb.mm.kspace.vmap(hb.pfns, "cacheable", `dma-buf:${hb.heapName}`);
    },
    vunmap: (buf: DmaBuf, kaddr: number) => {
      hbOf(buf).mm.kspace.vunmap(kaddr);
    },
  } satisfies DmaBufOps);
}
