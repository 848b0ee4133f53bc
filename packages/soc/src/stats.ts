/**
 * What a machine counts while it runs, from trace events and the packages' public numbers only:
 * CMA use per region (peak from `cma_alloc_finish`), IOMMU maps and unmaps, SysMMU and IOMMU
 * faults, bus errors, coherency hazards, DMA-API debug errors and swiotlb bounces. The listener
 * subscribes to the events it needs when the kernel is created, so boot is counted too.
 *
 * @module
 */
import type { HazardKind } from "@umm/arch-arm";
import { hex, type Kernel, PAGE_SIZE, type TraceEventName } from "@umm/kernel-core";
import { type CmaRegion, cmaRegions } from "@umm/mm-cma";

/** One CMA region or area in `MachineStats` (pages). */
export interface MachineCmaStats {
  /** the region's name; for private regions the reserved-memory node or PMM pool it is (`mfc-left@4a000000`, `pmm:general`) */
  readonly name: string;
  /** physical start */
  readonly base: number;
  /** bytes */
  readonly size: number;
  /** "merged" (a CMA area), "2010" (a framework region) or "dt-pool" (a no-map pool) */
  readonly origin: string;
  /** pages in use now */
  readonly usedPages: number;
  /** most pages in use at once since boot */
  readonly peakPages: number;
  /** pages in use when boot finished */
  readonly bootPages: number;
}

/** Counters of one machine (plain data; the same seed and the same calls give the same numbers). */
export interface MachineStats {
  /** every registered CMA region, by base address */
  readonly cma: readonly MachineCmaStats[];
  /** pages free in the buddy allocator now */
  readonly buddyFreePages: number;
  /** `iommu_map` / `iommu_unmap` calls and the bytes mapped now (maps minus unmaps) */
  readonly iommu: { readonly maps: number; readonly unmaps: number; readonly mappedBytes: number };
  /** SysMMU faults by type (`sysmmu_fault`), IOMMU faults reported (`io_page_fault`), bus errors (`dma_bus_error`) */
  readonly faults: {
    readonly sysmmu: Readonly<Record<string, number>>;
    readonly iommu: number;
    readonly busErrors: number;
  };
  /** coherency hazards by kind (`coherency_hazard`) and their total */
  readonly coherencyHazards: { readonly total: number; readonly byKind: Readonly<Record<string, number>> };
  /** DMA-API debug errors by check (`dma_debug_error`) and their total */
  readonly dmaDebugErrors: { readonly total: number; readonly byCheck: Readonly<Record<string, number>> };
  /** streaming mappings bounced through swiotlb (`swiotlb_bounced`) */
  readonly swiotlbBounces: number;
  /** live dma-bufs */
  readonly dmaBufs: number;
  /** live processes */
  readonly processes: number;
}

/** Events whose payload carries a warning text (the packages' WARN and leak reports). */
export const WARN_EVENTS: readonly TraceEventName[] = Object.freeze([
  "cma_warn",
  "dma_warn",
  "swiotlb_warn",
  "dma_buf_warn",
  "iommu_warn",
  "sysmmu_warn",
  "proc_warn",
  "pmm_warn",
  "ump_warn",
  "vcm_warn",
] as TraceEventName[]);

const bump = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);
const sorted = (m: Map<string, number>): Record<string, number> =>
  Object.fromEntries([...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));

/** @internal the counters and the event subscriptions behind `Machine.stats()` */
export class MachineCounters {
  readonly #kernel: Kernel;
  readonly #detach: (() => void)[] = [];
  readonly #peak = new Map<CmaRegion, number>();
  readonly #names = new Map<CmaRegion, string>();
  readonly #boot = new Map<CmaRegion, number>();
  iommuMaps = 0;
  iommuUnmaps = 0;
  mappedBytes = 0;
  iommuFaults = 0;
  busErrors = 0;
  swiotlbBounces = 0;
  readonly sysmmuFaults = new Map<string, number>();
  readonly hazards = new Map<string, number>();
  readonly debugErrors = new Map<string, number>();
  /** warnings collected while `collectWarnings` is on */
  readonly warnings: string[] = [];
  #collect = false;

  constructor(kernel: Kernel) {
    this.#kernel = kernel;
    const t = kernel.trace;
    this.#detach.push(
      t.on("cma_alloc_finish", (r) => {
        if (r.data.errorno === 0 && r.data.count > 0) this.#sample(r.data.pfn);
      }),
      t.on("iommu_map", (r) => {
        this.iommuMaps++;
        this.mappedBytes += r.data.size;
      }),
      t.on("iommu_unmap", (r) => {
        this.iommuUnmaps++;
        this.mappedBytes -= r.data.unmapped_size;
      }),
      t.on("io_page_fault", () => {
        this.iommuFaults++;
      }),
      t.on("sysmmu_fault", (r) => {
        bump(this.sysmmuFaults, r.data.type);
      }),
      t.on("dma_bus_error", () => {
        this.busErrors++;
      }),
      t.on("coherency_hazard", (r) => {
        bump(this.hazards, r.data.kind);
      }),
      t.on("dma_debug_error", (r) => {
        bump(this.debugErrors, r.data.check);
      }),
      t.on("swiotlb_bounced", () => {
        this.swiotlbBounces++;
      }),
      t.on(WARN_EVENTS, (r) => {
        if (!this.#collect) return;
        const d = r.data as { message?: string; sysmmu?: string; device?: string };
        const who = d.sysmmu ?? d.device;
        this.warnings.push(`${r.name}: ${who ? `${who}: ` : ""}${d.message ?? ""}`);
      }),
    );
  }

  /** Collects warning events into `warnings` while on. */
  collectWarnings(on: boolean): void {
    this.#collect = on;
  }

  /** Names private regions and records every region's use at the end of boot. */
  bootDone(names: ReadonlyMap<CmaRegion, string>): void {
    for (const [r, n] of names) this.#names.set(r, n);
    for (const r of cmaRegions(this.#kernel)) {
      const used = r.count - r.availableCount;
      this.#boot.set(r, used);
      this.#peak.set(r, used);
    }
  }

  /** The name a region goes by in stats and reports. */
  nameOf(r: CmaRegion): string {
    return r.name ?? this.#names.get(r) ?? `(private)@${hex(r.base)}`;
  }

  /** Pages `r` had in use when boot finished (0 for a region registered later). */
  bootUsed(r: CmaRegion): number {
    return this.#boot.get(r) ?? 0;
  }

  #sample(pfn: number): void {
    const pa = pfn * PAGE_SIZE;
    for (const r of cmaRegions(this.#kernel)) {
      if (pa < r.base || pa >= r.end) continue;
      const used = r.count - r.availableCount;
      if (used > (this.#peak.get(r) ?? 0)) this.#peak.set(r, used);
      return;
    }
  }

  /** Per-region CMA numbers, by base address. */
  cma(): MachineCmaStats[] {
    return [...cmaRegions(this.#kernel)]
      .sort((a, b) => a.base - b.base)
      .map((r) => {
        const used = r.count - r.availableCount;
        return {
          name: this.nameOf(r),
          base: r.base,
          size: r.size,
          origin: r.origin,
          usedPages: used,
          peakPages: Math.max(used, this.#peak.get(r) ?? 0),
          bootPages: this.bootUsed(r),
        };
      });
  }

  /** The hazard counts with every kind present (0 when none). */
  hazardCounts(kinds: readonly HazardKind[]): Record<string, number> {
    const m = new Map<string, number>(kinds.map((k) => [k, 0]));
    for (const [k, n] of this.hazards) m.set(k, n);
    return sorted(m);
  }

  /** A copy of a counter map as a sorted record. */
  static record(m: Map<string, number>): Record<string, number> {
    return sorted(m);
  }

  /** Detaches every listener. */
  stop(): void {
    for (const d of this.#detach.splice(0)) d();
  }
}
