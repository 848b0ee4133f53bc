// Coherent allocations (Arnd's item 1: never a cached and an uncached mapping of one page) from
// CMA, the page allocator, a declared no-map pool and, behind the SysMMU, scattered pages mapped
// contiguously in D.V and K.V; their user mappings (item 7); non-coherent allocations (item 2).

import { iommuIovaToPhys } from "@umm/iommu-core";
import { DMA_BIT_MASK, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K, TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import {
  cmaDebugfs,
  cmaDeclareContiguous,
  devSetCmaArea,
  dmaContiguousDefaultArea,
  ofReservedMemSetup,
  type ReservedMem,
} from "@umm/mm-cma";
import { __GFP_HIGHMEM, GFP_ATOMIC, GFP_KERNEL, VMALLOC_END, VMALLOC_START } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_ATTR_ALLOC_SINGLE_PAGES,
  DMA_ATTR_FORCE_CONTIGUOUS,
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_WRITE_COMBINE,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  DmaCookie,
  devGetCoherentMemory,
  dmaAllocAttrs,
  dmaAllocCoherent,
  dmaAllocNoncoherent,
  dmaAllocWc,
  dmaDeclareCoherentMemory,
  dmaFreeAttrs,
  dmaFreeCoherent,
  dmaFreeNoncoherent,
  dmaFreeWc,
  dmaGetSgtable,
  dmaReleaseCoherentMemory,
  dmaSyncSingleForCpu,
  dmaSyncSingleForDevice,
  rmemDmaDeviceInit,
  type SgTable,
} from "../src/index.js";
import {
  boot,
  cpuRead,
  DRAM,
  devRead,
  directDevice,
  expectNoAliases,
  mem,
  pattern,
  type Rig,
  sysmmuDevice,
} from "./helpers.js";
import { mapToUser, tryMap } from "./user.js";

afterEach(expectNoAliases);

const lin = (r: Rig, pa: number) => r.mm.kspace.linearMemtype(pa / PAGE_SIZE);

describe("coherent memory on a direct device", () => {
  it("comes zeroed from the default CMA area, mapped uncached in the linear map; back to cacheable and `used` 0 after free", () => {
    const r = boot();
    const area = dmaContiguousDefaultArea(r.kernel)!;
    const { dev, port } = directDevice(r, "fimd0");
    const buf = dmaAllocCoherent(dev, 3_110_400)!;
    const pa = buf.dmaAddr;
    expect(r.mm.kspace.isLinear(buf.cpuAddr)).toBe(true);
    expect(r.mm.kspace.virtToPhys(buf.cpuAddr)).toBe(pa);
    expect(cmaDebugfs(area).used).toBe(760);
    expect(r.mm.frames.ownerOf(pa / PAGE_SIZE)).toBe("cma:reserved:fimd0");
    expect(lin(r, pa)).toBe("uncached");
    expect(lin(r, pa + 759 * PAGE_SIZE)).toBe("uncached");
    expect(firstDiff(cpuRead(r, buf.cpuAddr, 3_110_400), new Uint8Array(3_110_400))).toBe(-1);
    // no sync needed either way
    const data = pattern(SZ_64K, 1);
    r.cpu.write(r.mm.kspace, buf.cpuAddr, data);
    expect(firstDiff(devRead(port, buf.dmaAddr, SZ_64K), data)).toBe(-1);
    port.write(buf.dmaAddr + SZ_1M, data);
    expect(firstDiff(cpuRead(r, buf.cpuAddr + SZ_1M, SZ_64K), data)).toBe(-1);
    expect(r.cpu.checker.total).toBe(0);
    dmaFreeCoherent(dev, 3_110_400, buf.cpuAddr, buf.dmaAddr);
    expect(cmaDebugfs(area).used).toBe(0);
    expect(lin(r, pa)).toBe("cacheable");
  });

  it("flushes the previous owner's dirty lines before remapping, so that none survives in the cache", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimd0");
    const a = dmaAllocCoherent(dev, SZ_64K)!;
    dmaFreeCoherent(dev, SZ_64K, a.cpuAddr, a.dmaAddr);
    r.cpu.fill(r.mm.kspace, a.cpuAddr, 0x5a, SZ_64K); // the memory's next user dirties it
    const b = dmaAllocCoherent(dev, SZ_64K)!;
    expect(b.dmaAddr).toBe(a.dmaAddr);
    expect(r.cpu.lineState(b.dmaAddr).valid).toBe(false);
    expect(firstDiff(mem(r, b.dmaAddr, SZ_64K), new Uint8Array(SZ_64K))).toBe(-1);
    dmaFreeCoherent(dev, SZ_64K, b.cpuAddr, b.dmaAddr);
  });

  it("uses the device's own CMA area when it has one", () => {
    let own = null as ReturnType<typeof cmaDeclareContiguous> | null;
    const r = boot({ setup: (k) => (own = cmaDeclareContiguous(k, { size: 8 * SZ_1M, name: "mfc" })) });
    const { dev } = directDevice(r, "mfc");
    devSetCmaArea(dev, own);
    const buf = dmaAllocCoherent(dev, SZ_1M)!;
    expect(cmaDebugfs(own!).used).toBe(256);
    expect(cmaDebugfs(dmaContiguousDefaultArea(r.kernel)!).used).toBe(0);
    dmaFreeCoherent(dev, SZ_1M, buf.cpuAddr, buf.dmaAddr);
    expect(cmaDebugfs(own!).used).toBe(0);
  });

  it("dma_alloc_wc maps write-combining, in the kernel and in a process", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "fimd0");
    const buf = dmaAllocWc(dev, 2 * SZ_64K)!;
    expect(lin(r, buf.dmaAddr)).toBe("writecombine");
    const { proc, va, vma } = mapToUser(r, dev, buf, 2 * SZ_64K, DMA_ATTR_WRITE_COMBINE);
    expect(vma.memtypeName).toBe("writecombine");
    expect(vma.pfnmap).toBe(true);
    expect(vma.pfnAt(va)).toBe(buf.dmaAddr / PAGE_SIZE);
    proc.memWrite(va + 10, new TextEncoder().encode("frame"));
    expect(new TextDecoder().decode(devRead(port, buf.dmaAddr + 10, 5))).toBe("frame");
    expect(new TextDecoder().decode(cpuRead(r, buf.cpuAddr + 10, 5))).toBe("frame");
    proc.munmap(va, 2 * SZ_64K);
    dmaFreeWc(dev, 2 * SZ_64K, buf.cpuAddr, buf.dmaAddr);
    expect(r.cpu.checker.total).toBe(0);
  });

  it("a coherent buffer's user mapping is uncached; vm_pgoff and length are checked (ENXIO)", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimd0");
    const buf = dmaAllocCoherent(dev, 4 * SZ_4K)!;
    const { proc, va, vma, fd } = mapToUser(r, dev, buf, 4 * SZ_4K, 0, {
      length: 2 * SZ_4K,
      offset: 2 * SZ_4K,
    });
    expect(vma.memtypeName).toBe("uncached");
    expect(vma.pfnAt(va)).toBe(buf.dmaAddr / PAGE_SIZE + 2);
    expect(() => tryMap(proc, fd, 3 * SZ_4K, 2 * SZ_4K)).toThrow(kerr("ENXIO"));
    expect(() => tryMap(proc, fd, SZ_4K, 4 * SZ_4K)).toThrow(kerr("ENXIO"));
    proc.exit(0);
    dmaFreeCoherent(dev, 4 * SZ_4K, buf.cpuAddr, buf.dmaAddr);
  });

  it("DMA_ATTR_NO_KERNEL_MAPPING returns a cookie, leaves no kernel mapping, and the cookie frees and mmaps", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "mfc");
    const attrs = DMA_ATTR_NO_KERNEL_MAPPING;
    const buf = dmaAllocAttrs(dev, SZ_64K, GFP_KERNEL, attrs)!;
    expect(buf.cpuAddr).toBeInstanceOf(DmaCookie);
    expect(lin(r, buf.dmaAddr)).toBeUndefined();
    const { proc, va, vma } = mapToUser(r, dev, buf, SZ_64K, attrs);
    expect(vma.memtypeName).toBe("uncached");
    proc.memWrite(va, pattern(100, 2));
    expect(firstDiff(devRead(port, buf.dmaAddr, 100), pattern(100, 2))).toBe(-1);
    const sgt = dmaGetSgtable(dev, buf.cpuAddr, buf.dmaAddr, SZ_64K, attrs);
    expect(sgt.sgl.map((s) => [s.pfn * PAGE_SIZE, s.length])).toEqual([[buf.dmaAddr, SZ_64K]]);
    proc.exit(0);
    // another cookie (even of the same size) is not this buffer
    expect(() => dmaFreeAttrs(dev, SZ_64K, new DmaCookie("forged"), buf.dmaAddr, attrs)).toThrow(
      kerr("EINVAL"),
    );
    dmaFreeAttrs(dev, SZ_64K, buf.cpuAddr, buf.dmaAddr, attrs);
    expect(lin(r, buf.dmaAddr)).toBe("cacheable");
  });

  it("rejects a free with another size or bus address (EINVAL) and keeps the buffer", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimd0");
    const buf = dmaAllocCoherent(dev, SZ_64K)!;
    expect(() => dmaFreeCoherent(dev, SZ_1M, buf.cpuAddr, buf.dmaAddr)).toThrow(kerr("EINVAL", /size/));
    expect(() => dmaFreeCoherent(dev, SZ_64K, buf.cpuAddr, buf.dmaAddr + SZ_4K)).toThrow(
      kerr("EINVAL", /dma_addr/),
    );
    expect(() => dmaFreeCoherent(dev, SZ_64K, buf.cpuAddr + 1, buf.dmaAddr)).toThrow(
      kerr("EINVAL", /not a live/),
    );
    expect(lin(r, buf.dmaAddr)).toBe("uncached");
    dmaFreeCoherent(dev, SZ_64K, buf.cpuAddr, buf.dmaAddr);
    dmaFreeCoherent(dev, SZ_64K, null, 0); // NULL: nothing
  });

  it("without CMA, comes from the page allocator under the coherent mask, remapped too", () => {
    const r = boot({ cmaMiB: 0 });
    const { dev } = directDevice(r, "fimd0", { coherentDmaMask: DMA_BIT_MASK(32) });
    const buf = dmaAllocCoherent(dev, 3 * SZ_4K)!;
    expect(r.mm.frames.ownerOf(buf.dmaAddr / PAGE_SIZE)).toBe("dma-coherent:fimd0");
    expect(lin(r, buf.dmaAddr)).toBe("uncached");
    dmaFreeCoherent(dev, 3 * SZ_4K, buf.cpuAddr, buf.dmaAddr);
    expect(lin(r, buf.dmaAddr)).toBe("cacheable");
  });

  it("an atomic allocation does not use CMA", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimd0");
    const buf = dmaAllocCoherent(dev, SZ_4K, GFP_ATOMIC)!;
    expect(cmaDebugfs(dmaContiguousDefaultArea(r.kernel)!).used).toBe(0);
    dmaFreeCoherent(dev, SZ_4K, buf.cpuAddr, buf.dmaAddr);
  });

  it("returns null when the CMA area is full, and when the coherent mask cannot reach the memory", () => {
    const r = boot({ cmaMiB: 4 });
    const { dev } = directDevice(r, "fimd0");
    expect(dmaAllocCoherent(dev, 8 * SZ_1M)).toBeNull();
    const low = directDevice(r, "isa", { coherentDmaMask: DMA_BIT_MASK(24) }).dev;
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_warn"] });
    expect(dmaAllocCoherent(low, SZ_4K)).toBeNull();
    expect(rec.of("dma_warn")[0]!.data.message).toMatch(/beyond the coherent DMA mask 0xffffff/);
    expect(cmaDebugfs(dmaContiguousDefaultArea(r.kernel)!).used).toBe(0);
  });

  it("a coherent device gets cacheable memory and no remap", () => {
    const r = boot();
    const { dev } = directDevice(r, "coherent-dma");
    dev.dmaCoherent = true;
    const buf = dmaAllocCoherent(dev, SZ_64K)!;
    expect(lin(r, buf.dmaAddr)).toBe("cacheable");
    dmaFreeCoherent(dev, SZ_64K, buf.cpuAddr, buf.dmaAddr);
  });

  it("highmem CMA pages get a vmap (uncached) and no linear mapping at all", () => {
    const r = boot({ size: 64 * SZ_1M, lowmemSize: 32 * SZ_1M, cmaMiB: 0, setup: (k) => highArea(k) });
    const { dev, port } = directDevice(r, "mfc");
    devSetCmaArea(dev, highAreas.get(r.kernel)!);
    const buf = dmaAllocCoherent(dev, SZ_1M)!;
    expect(buf.dmaAddr).toBeGreaterThanOrEqual(DRAM + 48 * SZ_1M);
    expect(buf.cpuAddr).toBeGreaterThanOrEqual(VMALLOC_START);
    expect(buf.cpuAddr).toBeLessThan(VMALLOC_END);
    expect(r.mm.kspace.findVma(buf.cpuAddr)!.memtypeName).toBe("uncached");
    expect(lin(r, buf.dmaAddr)).toBeUndefined();
    r.cpu.write(r.mm.kspace, buf.cpuAddr + 5, pattern(16, 3));
    expect(firstDiff(devRead(port, buf.dmaAddr + 5, 16), pattern(16, 3))).toBe(-1);
    dmaFreeCoherent(dev, SZ_1M, buf.cpuAddr, buf.dmaAddr);
    expect(r.mm.kspace.findVma(buf.cpuAddr)).toBeUndefined();
  });

  it("emits dma_alloc and dma_free", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimd0");
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_alloc", "dma_free"] });
    const buf = dmaAllocWc(dev, 100)!;
    dmaFreeWc(dev, 100, buf.cpuAddr, buf.dmaAddr);
    expect(rec.records().map((x) => x.data)).toEqual([
      {
        device: "fimd0",
        virt_addr: buf.cpuAddr,
        dma_addr: buf.dmaAddr,
        size: 100,
        dir: "BIDIRECTIONAL",
        flags: GFP_KERNEL,
        attrs: DMA_ATTR_WRITE_COMBINE,
      },
      {
        device: "fimd0",
        virt_addr: buf.cpuAddr,
        dma_addr: buf.dmaAddr,
        size: 100,
        dir: "BIDIRECTIONAL",
        attrs: DMA_ATTR_WRITE_COMBINE,
      },
    ]);
  });

  it("a buffer still allocated at kernel shutdown is reported (dma_warn)", () => {
    const r = boot();
    const { dev } = directDevice(r, "leaky");
    const buf = dmaAllocCoherent(dev, SZ_4K)!;
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_warn"] });
    r.kernel.shutdown();
    expect(rec.of("dma_warn").map((x) => x.data.message)).toEqual([
      `coherent buffer of 4096 bytes at dma 0x${buf.dmaAddr.toString(16)} still allocated at shutdown`,
    ]);
  });

  it("rejects a size of 0 with EINVAL", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimd0");
    expect(() => dmaAllocCoherent(dev, 0)).toThrow(kerr("EINVAL", /size 0/));
  });
});

const highAreas = new WeakMap<Rig["kernel"], ReturnType<typeof cmaDeclareContiguous>>();
function highArea(k: Rig["kernel"]): void {
  highAreas.set(
    k,
    cmaDeclareContiguous(k, { base: DRAM + 48 * SZ_1M, size: 8 * SZ_1M, fixed: true, name: "high" }),
  );
}

/** Every page of a table, in order. */
function pagesOf(sgt: SgTable): number[] {
  const out: number[] = [];
  for (const s of sgt.sgl)
    for (let k = 0; k < Math.ceil((s.offset + s.length) / PAGE_SIZE); k++) out.push(s.pfn + k);
  return out;
}

describe("a declared coherent pool (DT shared-dma-pool, no-map)", () => {
  function poolRig() {
    let rmem: ReservedMem | null = null;
    const r = boot({
      setup: (k) => {
        rmem = ofReservedMemSetup(k, {
          name: "fimc-pool",
          compatible: "shared-dma-pool",
          reg: { base: DRAM + 40 * SZ_1M, size: SZ_1M },
          noMap: true,
        });
      },
    });
    return { r, rmem: rmem! };
  }

  it("serves the device first, write-combining in K.V, outside the linear map; its answer is final", () => {
    const { r, rmem } = poolRig();
    const { dev, port } = directDevice(r, "fimc0");
    const pool = rmemDmaDeviceInit(dev, rmem);
    expect(devGetCoherentMemory(dev)).toBe(pool);
    const kv = r.mm.kspace.findVma(pool.virtBase)!;
    expect(kv.memtypeName).toBe("writecombine");
    expect(lin(r, DRAM + 40 * SZ_1M)).toBeUndefined();
    const a = dmaAllocCoherent(dev, 3 * SZ_4K)!; // 4 pages (order 2)
    const b = dmaAllocCoherent(dev, SZ_4K)!;
    expect(a.dmaAddr).toBe(DRAM + 40 * SZ_1M);
    expect(b.dmaAddr).toBe(DRAM + 40 * SZ_1M + 4 * SZ_4K);
    expect(a.cpuAddr).toBe(pool.virtBase);
    expect(pool.used).toBe(5);
    r.cpu.write(r.mm.kspace, a.cpuAddr, pattern(64, 4));
    expect(firstDiff(devRead(port, a.dmaAddr, 64), pattern(64, 4))).toBe(-1);
    expect(cmaDebugfs(dmaContiguousDefaultArea(r.kernel)!).used).toBe(0);
    expect(dmaAllocCoherent(dev, SZ_1M)).toBeNull(); // no fallback to CMA
    const { proc, va, vma } = mapToUser(r, dev, b, SZ_4K);
    expect(vma.pfnAt(va)).toBe(b.dmaAddr / PAGE_SIZE);
    proc.exit(0);
    dmaFreeCoherent(dev, 3 * SZ_4K, a.cpuAddr, a.dmaAddr);
    dmaFreeCoherent(dev, SZ_4K, b.cpuAddr, b.dmaAddr);
    expect(pool.used).toBe(0);
    expect(() => dmaFreeCoherent(dev, SZ_4K, b.cpuAddr, b.dmaAddr)).toThrow(
      kerr("EINVAL", /not a live block/),
    );
    dmaReleaseCoherentMemory(dev);
    expect(devGetCoherentMemory(dev)).toBeNull();
    expect(r.mm.kspace.findVma(pool.virtBase)).toBeUndefined();
  });

  it("refuses linear-mapped RAM, a second pool (EBUSY), unaligned ranges, and release while in use", () => {
    const { r, rmem } = poolRig();
    const { dev } = directDevice(r, "fimc0");
    expect(() => dmaDeclareCoherentMemory(dev, DRAM + 60 * SZ_1M, 0, SZ_64K)).toThrow(
      kerr("EINVAL", /no-map/),
    );
    expect(() => dmaDeclareCoherentMemory(dev, DRAM + 40 * SZ_1M + 1, 0, SZ_64K)).toThrow(kerr("EINVAL"));
    expect(() => dmaReleaseCoherentMemory(dev)).toThrow(kerr("ENOENT"));
    dmaDeclareCoherentMemory(dev, rmem.base, 0x1000_0000, rmem.size);
    expect(() => rmemDmaDeviceInit(dev, rmem)).toThrow(kerr("EBUSY"));
    const a = dmaAllocCoherent(dev, SZ_4K)!;
    expect(a.dmaAddr).toBe(0x1000_0000);
    expect(() => dmaReleaseCoherentMemory(dev)).toThrow(kerr("EBUSY"));
    dmaFreeCoherent(dev, SZ_4K, a.cpuAddr, a.dmaAddr);
  });
});

describe("coherent memory behind the SysMMU", () => {
  it("scattered pages: contiguous in D.V, vmapped contiguously in K.V, every lowmem page remapped uncached", () => {
    const r = boot();
    const { dev, port, mapping } = sysmmuDevice(r, "mfc");
    const rec = new TraceRecorder(r.kernel.trace, { events: ["mm_page_alloc"] });
    const size = SZ_1M + 3 * SZ_64K + SZ_4K;
    const buf = dmaAllocCoherent(dev, size)!;
    // orders tried as the kernel: 1 MiB (order 8), then 64 KiB (order 4) x3, then 4 KiB
    expect(rec.of("mm_page_alloc").map((x) => x.data.order)).toEqual([8, 4, 4, 4, 0]);
    expect(buf.cpuAddr).toBeGreaterThanOrEqual(VMALLOC_START);
    expect(r.mm.kspace.findVma(buf.cpuAddr)!.memtypeName).toBe("uncached");
    const sgt = dmaGetSgtable(dev, buf.cpuAddr, buf.dmaAddr, size);
    for (const s of sgt.sgl) expect(lin(r, s.pfn * PAGE_SIZE)).toBe("uncached");
    expect(mapping.usedPages).toBe(size / PAGE_SIZE);
    const data = pattern(size, 5);
    r.cpu.write(r.mm.kspace, buf.cpuAddr, data);
    expect(firstDiff(devRead(port, buf.dmaAddr, size), data)).toBe(-1);
    port.write(buf.dmaAddr + SZ_1M, data.subarray(0, SZ_64K));
    expect(firstDiff(cpuRead(r, buf.cpuAddr + SZ_1M, SZ_64K), data.subarray(0, SZ_64K))).toBe(-1);
    dmaFreeCoherent(dev, size, buf.cpuAddr, buf.dmaAddr);
    for (const s of sgt.sgl) expect(lin(r, s.pfn * PAGE_SIZE)).toBe("cacheable");
    expect(mapping.usedPages).toBe(0);
    expect(iommuIovaToPhys(mapping.domain, buf.dmaAddr)).toBe(0);
    expect(r.cpu.checker.total).toBe(0);
  });

  it("DMA_ATTR_ALLOC_SINGLE_PAGES allocates 4 KiB pages only", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "mfc");
    const rec = new TraceRecorder(r.kernel.trace, { events: ["mm_page_alloc"] });
    const buf = dmaAllocAttrs(dev, SZ_64K, GFP_KERNEL, DMA_ATTR_ALLOC_SINGLE_PAGES)!;
    expect(rec.of("mm_page_alloc").map((x) => x.data.order)).toEqual(new Array(16).fill(0));
    dmaFreeAttrs(dev, SZ_64K, buf.cpuAddr, buf.dmaAddr, DMA_ATTR_ALLOC_SINGLE_PAGES);
  });

  it("DMA_ATTR_FORCE_CONTIGUOUS allocates from CMA", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "mfc");
    const area = dmaContiguousDefaultArea(r.kernel)!;
    const attrs = DMA_ATTR_FORCE_CONTIGUOUS;
    const buf = dmaAllocAttrs(dev, 2 * SZ_1M, GFP_KERNEL, attrs)!;
    expect(cmaDebugfs(area).used).toBe(512);
    const sgt = dmaGetSgtable(dev, buf.cpuAddr, buf.dmaAddr, 2 * SZ_1M, attrs);
    expect(sgt.origNents).toBe(1);
    dmaFreeAttrs(dev, 2 * SZ_1M, buf.cpuAddr, buf.dmaAddr, attrs);
    expect(cmaDebugfs(area).used).toBe(0);
  });

  it("write-combining: the vmap, the linear map and a process's mapping are all write-combining", () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "fimd0");
    const buf = dmaAllocWc(dev, 5 * SZ_4K)!;
    expect(r.mm.kspace.findVma(buf.cpuAddr)!.memtypeName).toBe("writecombine");
    const pages = dmaGetSgtable(dev, buf.cpuAddr, buf.dmaAddr, 5 * SZ_4K).sgl;
    expect(lin(r, pages[0]!.pfn * PAGE_SIZE)).toBe("writecombine");
    const { proc, va, vma } = mapToUser(r, dev, buf, 5 * SZ_4K, DMA_ATTR_WRITE_COMBINE);
    expect(vma.memtypeName).toBe("writecombine");
    expect(vma.pfnmap).toBe(false);
    proc.memWrite(va + 3 * SZ_4K, pattern(32, 6));
    expect(firstDiff(devRead(port, buf.dmaAddr + 3 * SZ_4K, 32), pattern(32, 6))).toBe(-1);
    proc.munmap(va, 5 * SZ_4K);
    dmaFreeWc(dev, 5 * SZ_4K, buf.cpuAddr, buf.dmaAddr);
  });

  it("an IOMMU buffer's mmap maps its pages from vm_pgoff; ENXIO past the end or for an unknown buffer", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimd0");
    const buf = dmaAllocCoherent(dev, 4 * SZ_4K)!;
    const pages = pagesOf(dmaGetSgtable(dev, buf.cpuAddr, buf.dmaAddr, 4 * SZ_4K));
    const { proc, va, vma, fd } = mapToUser(r, dev, buf, 4 * SZ_4K, 0, { length: SZ_4K, offset: 3 * SZ_4K });
    expect(vma.memtypeName).toBe("uncached");
    expect(vma.pfnAt(va)).toBe(pages[3]);
    expect(() => tryMap(proc, fd, 2 * SZ_4K, 3 * SZ_4K)).toThrow(kerr("ENXIO"));
    proc.exit(0);
    const other = mapToUser.bind(null, r, dev, { cpuAddr: buf.cpuAddr + SZ_4K, dmaAddr: buf.dmaAddr }, SZ_4K);
    expect(other).toThrow(kerr("ENXIO"));
    dmaFreeCoherent(dev, 4 * SZ_4K, buf.cpuAddr, buf.dmaAddr);
  });

  it("NO_KERNEL_MAPPING: a cookie, the pages out of the linear map, still mappable to a process", () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "mfc");
    const attrs = DMA_ATTR_NO_KERNEL_MAPPING;
    const buf = dmaAllocAttrs(dev, 2 * SZ_4K, GFP_KERNEL, attrs)!;
    expect(buf.cpuAddr).toBeInstanceOf(DmaCookie);
    const pages = dmaGetSgtable(dev, buf.cpuAddr, buf.dmaAddr, 2 * SZ_4K, attrs).sgl;
    expect(lin(r, pages[0]!.pfn * PAGE_SIZE)).toBeUndefined();
    const { proc, va } = mapToUser(r, dev, buf, 2 * SZ_4K, attrs);
    proc.memWrite(va + SZ_4K, pattern(8, 7));
    expect(firstDiff(devRead(port, buf.dmaAddr + SZ_4K, 8), pattern(8, 7))).toBe(-1);
    proc.exit(0);
    dmaFreeAttrs(dev, 2 * SZ_4K, buf.cpuAddr, buf.dmaAddr, attrs);
    expect(lin(r, pages[0]!.pfn * PAGE_SIZE)).toBe("cacheable");
  });

  it("takes highmem pages, which need no remap", () => {
    const r = boot({ size: 64 * SZ_1M, lowmemSize: 32 * SZ_1M });
    const { dev, port } = sysmmuDevice(r, "mfc");
    const buf = dmaAllocCoherent(dev, SZ_64K)!;
    const pages = dmaGetSgtable(dev, buf.cpuAddr, buf.dmaAddr, SZ_64K).sgl;
    expect(pages[0]!.pfn * PAGE_SIZE).toBeGreaterThanOrEqual(DRAM + 32 * SZ_1M);
    r.cpu.write(r.mm.kspace, buf.cpuAddr, pattern(SZ_64K, 8));
    expect(firstDiff(devRead(port, buf.dmaAddr, SZ_64K), pattern(SZ_64K, 8))).toBe(-1);
    dmaFreeCoherent(dev, SZ_64K, buf.cpuAddr, buf.dmaAddr);
  });

  it("out of IOVA space: null, and the pages go back", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "mfc", SZ_64K);
    const free = r.mm.buddy.nrFreePages;
    // a 64 KiB window has one 32-bit word of bitmap: 128 KiB of IOVA, as in the kernel
    expect(dmaAllocCoherent(dev, 3 * SZ_64K)).toBeNull();
    expect(r.mm.buddy.nrFreePages).toBe(free);
  });

  it("a coherent device, or an atomic allocation, gets one contiguous block", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "mfc");
    const buf = dmaAllocCoherent(dev, 3 * SZ_4K, GFP_ATOMIC)!;
    expect(r.mm.kspace.isLinear(buf.cpuAddr)).toBe(true);
    expect(lin(r, r.mm.kspace.virtToPhys(buf.cpuAddr))).toBe("uncached");
    dmaFreeCoherent(dev, 3 * SZ_4K, buf.cpuAddr, buf.dmaAddr);
    dev.dmaCoherent = true;
    const c = dmaAllocCoherent(dev, SZ_4K)!;
    expect(lin(r, r.mm.kspace.virtToPhys(c.cpuAddr))).toBe("cacheable");
    dmaFreeCoherent(dev, SZ_4K, c.cpuAddr, c.dmaAddr);
  });
});

describe("non-coherent memory (dma_alloc_noncoherent)", () => {
  for (const kind of ["direct", "SysMMU"] as const) {
    it(`${kind}: cacheable, zeroed, owned by the CPU; correct only with the syncs`, () => {
      const r = boot();
      const { dev, port } = kind === "direct" ? directDevice(r, "jpeg") : sysmmuDevice(r, "jpeg");
      const buf = dmaAllocNoncoherent(dev, 2 * SZ_4K, DMA_BIDIRECTIONAL)!;
      expect(r.mm.kspace.isLinear(buf.cpuAddr)).toBe(true);
      expect(lin(r, r.mm.kspace.virtToPhys(buf.cpuAddr))).toBe("cacheable");
      expect(firstDiff(cpuRead(r, buf.cpuAddr, 2 * SZ_4K), new Uint8Array(2 * SZ_4K))).toBe(-1);
      const data = pattern(2 * SZ_4K, 9);
      r.cpu.write(r.mm.kspace, buf.cpuAddr, data);
      dmaSyncSingleForDevice(dev, buf.dmaAddr, 2 * SZ_4K, DMA_TO_DEVICE);
      expect(firstDiff(devRead(port, buf.dmaAddr, 2 * SZ_4K), data)).toBe(-1);
      dmaSyncSingleForDevice(dev, buf.dmaAddr, 2 * SZ_4K, DMA_FROM_DEVICE);
      port.write(buf.dmaAddr, data.subarray(0, 100).reverse());
      dmaSyncSingleForCpu(dev, buf.dmaAddr, 2 * SZ_4K, DMA_FROM_DEVICE);
      expect(firstDiff(cpuRead(r, buf.cpuAddr, 100), data.subarray(0, 100))).toBe(-1);
      expect(r.cpu.checker.total).toBe(0);
      // its user mapping is cacheable, like the kernel's
      const { proc, vma } = mapToUser(r, dev, buf, 2 * SZ_4K);
      expect(vma.memtypeName).toBe("cacheable");
      proc.exit(0);
      dmaFreeNoncoherent(dev, 2 * SZ_4K, buf.cpuAddr, buf.dmaAddr, DMA_BIDIRECTIONAL);
      expect(() => dmaFreeNoncoherent(dev, 2 * SZ_4K, buf.cpuAddr, buf.dmaAddr, DMA_BIDIRECTIONAL)).toThrow(
        kerr("EINVAL", /not a live non-coherent buffer/),
      );
    });
  }

  it("without the sync for the device, the device reads the zeroes and a dirty-read is reported", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "jpeg");
    const buf = dmaAllocNoncoherent(dev, SZ_4K, DMA_TO_DEVICE)!;
    r.cpu.write(r.mm.kspace, buf.cpuAddr, pattern(SZ_4K, 10));
    expect(firstDiff(devRead(port, buf.dmaAddr, SZ_4K), new Uint8Array(SZ_4K))).toBe(-1);
    expect(r.cpu.checker.counts()["dirty-read"]).toBeGreaterThan(0);
    dmaFreeNoncoherent(dev, SZ_4K, buf.cpuAddr, buf.dmaAddr, DMA_TO_DEVICE);
  });

  it("refuses a zone in gfp (null and a warning)", () => {
    const r = boot();
    const { dev } = directDevice(r, "jpeg");
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_warn"] });
    expect(dmaAllocNoncoherent(dev, SZ_4K, DMA_TO_DEVICE, GFP_KERNEL | __GFP_HIGHMEM)).toBeNull();
    expect(rec.records()).toHaveLength(1);
  });
});
