/**
 * The DMA mapping layer's per-kernel state: tracepoints, the registry of live coherent and
 * non-coherent buffers (how each was allocated and mapped, so that free, mmap and get_sgtable
 * find it from the CPU handle), and per-device data (the arm_iommu mapping, a declared coherent
 * pool). Created on first use.
 *
 * @module
 */
import { type Device, defineSlot, hex, type Kernel, type Tracepoint } from "@umm/kernel-core";
import { type Mm, mmOf } from "@umm/mm-core";
import type { DmaCoherentMem } from "./coherent.js";
import type { DmaIommuMapping } from "./iommu.js";
import "./trace.js";
import type { DmaCookie, DmaCpuAddr, DmaDataDirection } from "./types.js";

/** How a live buffer of `dmaAllocAttrs` / `dmaAllocNoncoherent` was made. @internal */
export interface DmaBuffer {
  readonly dev: Device;
  readonly kind: "coherent" | "noncoherent";
  /** which implementation made it ("core": a non-coherent buffer the core registered) */
  readonly by: "direct" | "iommu" | "core";
  readonly mapping: DmaIommuMapping | null;
  /** page-aligned bytes */
  readonly size: number;
  readonly cpuAddr: DmaCpuAddr;
  readonly dmaAddr: number;
  readonly attrs: number;
  readonly dir: DmaDataDirection;
  /** memory type of the kernel mapping (and of user mappings) */
  readonly memtype: "cacheable" | "uncached" | "writecombine";
  /** every page, in buffer order */
  readonly pfns: Int32Array;
  /** one physically contiguous run (pfns[0] ..) */
  readonly contiguous: boolean;
  /** where the pages came from: CMA (one range) or buddy blocks */
  readonly source: "cma" | "buddy";
  /** buddy blocks to free (source "buddy") */
  readonly chunks: readonly { readonly pfn: number; readonly order: number }[];
  /** linear-map runs whose memory type this buffer changed (restored to cacheable at free) */
  readonly linearRuns: readonly { readonly pfn: number; readonly count: number }[];
  /** start of the vmap of this buffer, or null */
  readonly vmapAddr: number | null;
}

/** Per-device DMA data (`dev->archdata.mapping`, `dev->dma_mem`). @internal */
export interface DevDma {
  mapping: DmaIommuMapping | null;
  pool: DmaCoherentMem | null;
}

/** @internal */
export interface DmaState {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly buffers: Map<DmaCpuAddr, DmaBuffer>;
  readonly devs: WeakMap<Device, DevDma>;
  readonly warned: Set<string>;
  readonly tp: {
    readonly mapPage: Tracepoint<"dma_map_page">;
    readonly unmapPage: Tracepoint<"dma_unmap_page">;
    readonly mapResource: Tracepoint<"dma_map_resource">;
    readonly unmapResource: Tracepoint<"dma_unmap_resource">;
    readonly mapSg: Tracepoint<"dma_map_sg">;
    readonly unmapSg: Tracepoint<"dma_unmap_sg">;
    readonly alloc: Tracepoint<"dma_alloc">;
    readonly free: Tracepoint<"dma_free">;
    readonly syncCpu: Tracepoint<"dma_sync_single_for_cpu">;
    readonly syncDev: Tracepoint<"dma_sync_single_for_device">;
    readonly syncSgCpu: Tracepoint<"dma_sync_sg_for_cpu">;
    readonly syncSgDev: Tracepoint<"dma_sync_sg_for_device">;
    readonly warn: Tracepoint<"dma_warn">;
  };
}

const DMA = defineSlot<DmaState>("dma-mapping");

/** The DMA mapping state of `kernel`, created on first use. @internal */
export function dmaState(kernel: Kernel): DmaState {
  const st = kernel.trySlot(DMA);
  if (st) return st;
  const t = kernel.trace;
  const created: DmaState = {
    kernel,
    mm: mmOf(kernel),
    buffers: new Map(),
    devs: new WeakMap(),
    warned: new Set(),
    tp: {
      mapPage: t.tracepoint("dma_map_page"),
      unmapPage: t.tracepoint("dma_unmap_page"),
      mapResource: t.tracepoint("dma_map_resource"),
      unmapResource: t.tracepoint("dma_unmap_resource"),
      mapSg: t.tracepoint("dma_map_sg"),
      unmapSg: t.tracepoint("dma_unmap_sg"),
      alloc: t.tracepoint("dma_alloc"),
      free: t.tracepoint("dma_free"),
      syncCpu: t.tracepoint("dma_sync_single_for_cpu"),
      syncDev: t.tracepoint("dma_sync_single_for_device"),
      syncSgCpu: t.tracepoint("dma_sync_sg_for_cpu"),
      syncSgDev: t.tracepoint("dma_sync_sg_for_device"),
      warn: t.tracepoint("dma_warn"),
    },
  };
  kernel.setSlot(DMA, created);
  kernel.onShutdown("dma-mapping", () => {
    for (const b of created.buffers.values()) {
      dmaWarn(
        created,
        b.dev,
        `${b.kind} buffer of ${b.size} bytes at dma ${hex(b.dmaAddr)} still allocated at shutdown`,
      );
    }
  });
  return created;
}

/** The per-device DMA data of `dev`. @internal */
export function devDma(st: DmaState, dev: Device): DevDma {
  let d = st.devs.get(dev);
  if (!d) {
    d = { mapping: null, pool: null };
    st.devs.set(dev, d);
  }
  return d;
}

/** A `dev_warn` / `WARN`: a `dma_warn` event. @internal */
export function dmaWarn(st: DmaState, dev: Device | null, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ device: dev?.name ?? "", message });
}

/** `dev_WARN_ONCE`: one `dma_warn` per device and message key. @internal */
export function dmaWarnOnce(st: DmaState, dev: Device, key: string, message: string): void {
  const k = `${dev.id}\u0000${key}`;
  if (st.warned.has(k)) return;
  st.warned.add(k);
  dmaWarn(st, dev, message);
}

/** Cookies are looked up by identity; numbers by value. @internal */
export function isCookie(x: DmaCpuAddr): x is DmaCookie {
  return typeof x === "object";
}
