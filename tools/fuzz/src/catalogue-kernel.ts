/**
 * The catalogue's entries for the kernel's public allocator entry points — the page allocator,
 * CMA (2010 and merged), iommu-core, the DMA API, VCM and PMM — with each class of bad argument
 * that applies to them. For a kernel function the classes read: **wrong fd** an object of the
 * wrong kind or none; **wrong size field** a size or order that does not match the object it
 * names; **foreign handle** an object (or address) the callee did not hand out. Where the kernel
 * answers with a sentinel (`NULL`, `false`, `0`, `DMA_MAPPING_ERROR`) instead of an errno the
 * entry expects "sentinel"; where it only WARNs and carries on, "accepted"; where it is a BUG, a
 * `KernelBug` — and in every case nothing may change.
 *
 * @module
 */
import {
  DMA_BIDIRECTIONAL,
  dmaAllocCoherent,
  dmaFreeCoherent,
  dmaMapSg,
  dmaMapSingle,
  dmaUnmapSg,
  dmaUnmapSingle,
} from "@umm/dma-mapping-arm";
import { IOMMU_READ, iommuMap, iommuUnmap } from "@umm/iommu-core";
import { PAGE_SIZE, SZ_1G } from "@umm/kernel-core";
import { cmaAlloc, cmaAllocFrom, cmaFree, cmaRelease, dmaContiguousDefaultArea } from "@umm/mm-cma";
import {
  type Vcm,
  type VcmPhys,
  type VcmRes,
  vcmAlloc,
  vcmBind,
  vcmFree,
  vcmMakeBinding,
  vcmMap,
  vcmReserve,
  vcmUnbind,
} from "@umm/mm-vcm";
import { pmmGet, pmmItems, pmmPut } from "@umm/pmm";
import type { BadInput } from "./catalogue.js";
import { e } from "./catalogue-entry.js";
import { freeBlocks } from "./snapshot.js";
import type { Testbed } from "./testbed.js";

/** The first page of a's system-heap dma-buf (an allocated block). */
const heapPfn = (t: Testbed) => (t.dmabuf.priv as { pfns: Int32Array }).pfns[0]!;
/** The head of some free buddy block. */
const freePfn = (t: Testbed) => freeBlocks(t.machine)[0]!;
const merged = (t: Testbed) => dmaContiguousDefaultArea(t.machine.kernel)!;
const pmmArea = (t: Testbed) => pmmItems(t.machine.kernel).find((i) => i.kind === "area")!.start;
const NULL = null as never;
const rotatorDomain = (t: Testbed) => t.machine.iommuMapping("rotator")!.domain;
const sg = (t: Testbed) => [{ pfn: heapPfn(t), offset: 0, length: PAGE_SIZE, dmaAddress: 0, dmaLength: 0 }];

/** The entries (see the module comment). */
export const KERNEL_ENTRIES: readonly BadInput[] = [
  // ---- the page allocator ----
  e("freePages", "wrong size field", "order 9 for a block that is not one", "KernelBug", (t) =>
    t.machine.mm.buddy.freePages(heapPfn(t), 9),
  ),
  e("freePages", "foreign handle", "a free page", "KernelBug", (t) =>
    t.machine.mm.buddy.freePages(freePfn(t), 0),
  ),
  e("freePages", "unaligned", "a page inside a block, not its head", "KernelBug", (t) =>
    t.machine.mm.buddy.freePages(freePfn(t) + 1, 0),
  ),
  e("freePages", "negative", "pfn -1", "KernelBug", (t) => t.machine.mm.buddy.freePages(-1, 0)),
  e("freePages", "overflow", "a pfn past the end of RAM", "KernelBug", (t) =>
    t.machine.mm.buddy.freePages(t.machine.mm.frames.basePfn + t.machine.mm.frames.count + 5, 0),
  ),

  // ---- CMA ----
  e("cmaAlloc (2010)", "negative", "size -4096", "EINVAL", (t) =>
    cmaAlloc(t.coherent.dev, null, -PAGE_SIZE, PAGE_SIZE),
  ),
  e("cmaAlloc (2010)", "wrong fd", "no device", "EINVAL", () => cmaAlloc(NULL, null, PAGE_SIZE, PAGE_SIZE)),
  e("cmaAlloc (merged)", "unaligned", "align order 1.5", "EINVAL", (t) => cmaAlloc(merged(t), 1, 1.5)),
  e("cmaAlloc (merged)", "zero", "count 0", "sentinel", (t) => cmaAlloc(merged(t), 0, 0)),
  e("cmaRelease", "wrong fd", "no area", "sentinel", (t) => cmaRelease(null, heapPfn(t), 1)),
  e("cmaRelease", "foreign handle", "a pfn outside the area", "sentinel", (t) =>
    cmaRelease(merged(t), heapPfn(t), 1),
  ),
  e("cmaRelease", "overflow", "a count past the area's end", "sentinel", (t) => {
    const a = merged(t);
    return cmaRelease(a, a.basePfn + a.count - 1, 2);
  }),
  e("cmaRelease", "negative", "count -1 (this catalogue found it reported released)", "sentinel", (t) =>
    cmaRelease(merged(t), merged(t).basePfn, -1),
  ),
  e("cmaFree", "unaligned", "an address one byte into a chunk", "ENOENT", (t) =>
    cmaFree(t.machine.kernel, pmmArea(t) + 1),
  ),
  e("cmaFree", "negative", "address -4096", "ENOENT", (t) => cmaFree(t.machine.kernel, -PAGE_SIZE)),
  e("cmaAllocFrom", "zero", "size 0", "EINVAL", (t) =>
    cmaAllocFrom(t.machine.kernel, "common", 0, PAGE_SIZE),
  ),
  e("cmaAllocFrom", "negative", "size -4096", "EINVAL", (t) =>
    cmaAllocFrom(t.machine.kernel, "common", -PAGE_SIZE, PAGE_SIZE),
  ),
  e("cmaAllocFrom", "unaligned", "alignment 3", "EINVAL", (t) =>
    cmaAllocFrom(t.machine.kernel, "common", PAGE_SIZE, 3),
  ),
  e("cmaAllocFrom", "overflow", "1 GiB", "ENOMEM", (t) =>
    cmaAllocFrom(t.machine.kernel, "common", SZ_1G, PAGE_SIZE),
  ),

  // ---- iommu-core ----
  e("iommuMap", "wrong fd", "an object that is not a domain", "KernelBug", () =>
    iommuMap({} as never, 0x30000000, 0x40000000, PAGE_SIZE, IOMMU_READ),
  ),
  e("iommuUnmap", "unaligned", "iova 0x...100 (nothing unmapped)", "sentinel", (t) =>
    iommuUnmap(rotatorDomain(t), t.sgt.sgl[0]!.dmaAddress + 0x100, PAGE_SIZE),
  ),
  e("iommuUnmap", "negative", "size -4096", "EINVAL", (t) =>
    iommuUnmap(rotatorDomain(t), 0x30000000, -PAGE_SIZE),
  ),
  e("iommuUnmap", "wrong fd", "an object that is not a domain", "KernelBug", () =>
    iommuUnmap({} as never, 0x30000000, PAGE_SIZE),
  ),

  // ---- the DMA API ----
  e("dmaAllocCoherent", "zero", "size 0", "EINVAL", (t) => dmaAllocCoherent(t.coherent.dev, 0)),
  {
    ...e("dmaAllocCoherent", "overflow", "1 GiB", "sentinel", (t) => dmaAllocCoherent(t.coherent.dev, SZ_1G)),
    compare: "canonical",
  },
  e("dmaFreeCoherent", "unaligned", "the CPU address plus one", "EINVAL", (t) =>
    dmaFreeCoherent(t.coherent.dev, t.coherent.size, t.coherent.cpuAddr + 1, t.coherent.dmaAddr),
  ),
  e("dmaFreeCoherent", "negative", "size -8192", "EINVAL", (t) =>
    dmaFreeCoherent(t.coherent.dev, -t.coherent.size, t.coherent.cpuAddr, t.coherent.dmaAddr),
  ),
  e("dmaMapSingle", "unknown flags", "direction 7 (BUG_ON(!valid_dma_direction))", "KernelBug", (t) =>
    dmaMapSingle(t.coherent.dev, 0xc0001000, PAGE_SIZE, 7 as never),
  ),
  e("dmaMapSingle", "negative", "size -4096", "EINVAL", (t) =>
    dmaMapSingle(t.coherent.dev, 0xc0001000, -PAGE_SIZE, DMA_BIDIRECTIONAL),
  ),
  e("dmaUnmapSingle", "unknown flags", "direction 7 (BUG_ON(!valid_dma_direction))", "KernelBug", (t) =>
    dmaUnmapSingle(t.coherent.dev, t.sgt.sgl[0]!.dmaAddress, PAGE_SIZE, 7 as never),
  ),
  e("dmaUnmapSingle", "wrong size field", "a live attachment's D.V with another size", "EINVAL", (t) =>
    dmaUnmapSingle(t.coherent.dev, t.sgt.sgl[0]!.dmaAddress, 2 * PAGE_SIZE, DMA_BIDIRECTIONAL),
  ),
  e("dmaMapSg", "unknown flags", "direction 7 (BUG_ON(!valid_dma_direction))", "KernelBug", (t) =>
    dmaMapSg(t.coherent.dev, sg(t), 1, 7 as never),
  ),
  e("dmaMapSg", "overflow", "nents 2 of a 1-entry list", "sentinel", (t) =>
    dmaMapSg(t.coherent.dev, sg(t), 2, DMA_BIDIRECTIONAL),
  ),
  e("dmaMapSg", "zero", "nents 0", "sentinel", (t) => dmaMapSg(t.coherent.dev, sg(t), 0, DMA_BIDIRECTIONAL)),
  e("dmaMapSg", "negative", "nents -1", "sentinel", (t) =>
    dmaMapSg(t.coherent.dev, sg(t), -1, DMA_BIDIRECTIONAL),
  ),
  e(
    "dmaUnmapSg",
    "foreign handle",
    "a list that was never mapped (no D.V length: nothing to unmap)",
    "accepted",
    (t) => dmaUnmapSg(t.coherent.dev, sg(t), 1, DMA_BIDIRECTIONAL),
  ),
  e("dmaUnmapSg", "unknown flags", "direction 7 (BUG_ON(!valid_dma_direction))", "KernelBug", (t) =>
    dmaUnmapSg(t.coherent.dev, sg(t), 1, 7 as never),
  ),
  e("dmaUnmapSg", "overflow", "nents 2 of a 1-entry list", "EINVAL", (t) =>
    dmaUnmapSg(t.coherent.dev, sg(t), 2, DMA_BIDIRECTIONAL),
  ),

  // ---- VCM ----
  e("vcmAlloc", "zero", "size 0", "EINVAL", (t) => vcmAlloc(t.vcm.ctx, 0)),
  e("vcmAlloc", "negative", "size -4096", "EINVAL", (t) => vcmAlloc(t.vcm.ctx, -PAGE_SIZE)),
  {
    ...e("vcmAlloc", "overflow", "1 GiB", "ENOMEM", (t) => vcmAlloc(t.vcm.ctx, SZ_1G)),
    compare: "canonical",
  },
  e("vcmAlloc", "wrong fd", "no context", "EINVAL", () => vcmAlloc(NULL as Vcm, PAGE_SIZE)),
  e("vcmFree", "wrong state", "a bound allocation (WARN, refused)", "accepted", (t) =>
    vcmFree(t.vcm.bound.phys!),
  ),
  e("vcmFree", "wrong fd", "no allocation (the kernel WARNs; umm refuses null)", "EINVAL", () =>
    vcmFree(NULL as VcmPhys),
  ),
  e("vcmReserve", "zero", "size 0", "EINVAL", (t) => vcmReserve(t.vcm.ctx, 0)),
  e("vcmReserve", "negative", "size -4096", "EINVAL", (t) => vcmReserve(t.vcm.ctx, -PAGE_SIZE)),
  e("vcmReserve", "overflow", "more than the context", "ENOSPC", (t) =>
    vcmReserve(t.vcm.ctx, t.vcm.ctx.size + PAGE_SIZE),
  ),
  e("vcmReserve", "wrong fd", "no context", "EINVAL", () => vcmReserve(NULL as Vcm, PAGE_SIZE)),
  e("vcmBind", "wrong state", "a reservation bound to another allocation", "EADDRINUSE", (t) =>
    vcmBind(t.vcm.bound, t.vcm.phys),
  ),
  e("vcmBind", "foreign handle", "the allocation the reservation already holds", "EALREADY", (t) =>
    vcmBind(t.vcm.bound, t.vcm.bound.phys!),
  ),
  e("vcmBind", "overflow", "2 pages into a 1-page reservation", "ENOSPC", (t) =>
    vcmBind(t.vcm.res, t.vcm.phys),
  ),
  e("vcmBind", "wrong fd", "no allocation", "EINVAL", (t) => vcmBind(t.vcm.res, NULL as VcmPhys)),
  e("vcmUnbind", "wrong state", "an unbound reservation (WARN, NULL)", "sentinel", (t) =>
    vcmUnbind(t.vcm.res),
  ),
  e("vcmMap", "wrong fd", "no allocation", "EINVAL", (t) => vcmMap(t.vcm.ctx, NULL as VcmPhys)),
  e("vcmMakeBinding", "unaligned", "size 100 (not a page multiple)", "EINVAL", (t) =>
    vcmMakeBinding(t.vcm.ctx, 100),
  ),
  e("vcmMakeBinding", "zero", "size 0", "EINVAL", (t) => vcmMakeBinding(t.vcm.ctx, 0)),
  e("vcmMakeBinding", "negative", "size -4096", "EINVAL", (t) => vcmMakeBinding(t.vcm.ctx, -PAGE_SIZE)),
  e("vcmMakeBinding", "overflow", "more than the context", "ENOSPC", (t) =>
    vcmMakeBinding(t.vcm.ctx, t.vcm.ctx.size + PAGE_SIZE),
  ),
  e("vcmMakeBinding", "wrong fd", "no context", "EINVAL", () => vcmMakeBinding(NULL as Vcm, PAGE_SIZE)),
  e("vcmUnbind", "wrong fd", "no reservation", "EINVAL", () => vcmUnbind(NULL as VcmRes)),

  // ---- PMM ----
  e("pmmGet", "unaligned", "an area's start plus one byte", "ENOENT", (t) =>
    pmmGet(t.machine.kernel, pmmArea(t) + 1),
  ),
  e("pmmPut", "unaligned", "an area's start plus one byte", "ENOENT", (t) =>
    pmmPut(t.machine.kernel, pmmArea(t) + 1),
  ),
  e("pmmGet", "negative", "address -4096", "ENOENT", (t) => pmmGet(t.machine.kernel, -PAGE_SIZE)),
  e("pmmPut", "negative", "address -4096", "ENOENT", (t) => pmmPut(t.machine.kernel, -PAGE_SIZE)),
];
