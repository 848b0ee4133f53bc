/**
 * The buffer ledger: which buffer held which physical range when, and which device saw it at
 * which D.V — rebuilt from trace events alone (mm-cma, dma-mapping-arm, iommu-core, dma-buf), in
 * the order they were emitted.
 *
 * - A buffer is born at `dma_alloc` (a driver's coherent or IOMMU allocation: its physical pages
 *   are the `iommu_map` runs just before it in the same task, or the `cma_alloc_finish` of its
 *   size just before it) or at a heap's `dma_buf_export` that follows a `cma_alloc_finish` of
 *   its size in the same task; a CMA allocation neither claims (a driver's own `cma_alloc`) is a
 *   buffer of its own. A `videobuf2_*` export takes the oldest unexported `dma_alloc` buffer of
 *   its size in its task (vb2 exports MMAP buffers in index order).
 * - It dies at `dma_free` or `cma_release`.
 * - A device sees it from `dma_map_sg` (segment by segment) or `dma_alloc` (its own buffer) until
 *   `dma_unmap_sg` / `dma_free`.
 *
 * @module
 */
import { hex, PAGE_SIZE } from "@umm/kernel-core";
import type { DvMapping } from "../report/dv-map.js";
import type { AllocInterval, MemRegion } from "../report/memory-map.js";
import { OWNER_PALETTE } from "../report/svg.js";
import type { TraceRecordLike } from "../trace-export/record.js";

/** A physical range. */
export interface PhysRange {
  readonly start: number;
  readonly size: number;
}

/** One buffer of the run. */
export interface LedgerBuffer {
  /** its name in reports ("camera buffer 0", "scanout buffer 2", "mfc buffer 0") */
  readonly name: string;
  /** the process that allocated it, or the device for allocations at boot */
  readonly owner: string;
  /** bytes */
  readonly size: number;
  /** its physical ranges */
  readonly phys: readonly PhysRange[];
  /** the CMA region it came from, or null (the page allocator) */
  readonly region: string | null;
  /** virtual ns of its allocation and its free (null while alive) */
  readonly tAlloc: number;
  tFree: number | null;
  /** the dma-buf that exports it, or null */
  ino: number | null;
}

/** One device mapping of (part of) a buffer. */
export interface LedgerMapping {
  readonly device: string;
  /** first D.V */
  readonly iova: number;
  /** bytes */
  readonly size: number;
  /** the P.A of `iova` (the segment is physically contiguous) */
  readonly paddr: number;
  /** the buffer it maps, or null when the ledger does not know it */
  readonly buffer: LedgerBuffer | null;
  readonly tMap: number;
  tUnmap: number | null;
  /** the trace records (`seq`) that made and ended it (virtual time alone cannot order events of one instant) */
  readonly seqMap: number;
  seqUnmap: number | null;
}

/** Names buffers: `k` counts the buffers of `owner` so far (0 first). */
export type BufferNamer = (owner: string, k: number, device: string | null) => string;

/**
 * The demo's buffer names (the ledger's default): the camera application's MMAP buffers, the
 * compositor's scanout buffers, and `<owner> buffer k` for others (a driver's at boot).
 */
export const DEMO_BUFFER_NAMER: BufferNamer = (owner, k) =>
  owner === "camera"
    ? `camera buffer ${k}`
    : owner === "compositor"
      ? `scanout buffer ${k}`
      : `${owner} buffer ${k}`;

const num = (d: Record<string, unknown>, k: string): number =>
  typeof d[k] === "number" ? (d[k] as number) : 0;
const str = (d: Record<string, unknown>, k: string): string =>
  typeof d[k] === "string" ? (d[k] as string) : "";
const nums = (d: Record<string, unknown>, k: string): number[] =>
  Array.isArray(d[k]) ? (d[k] as unknown[]).filter((x): x is number => typeof x === "number") : [];

/** A CMA allocation not yet claimed by the `dma_alloc` or heap export it was made for. */
interface PendingCma {
  readonly region: string;
  readonly start: number;
  readonly size: number;
  /** its `cma_alloc_finish` */
  readonly r: TraceRecordLike;
}

/** Per task, what was allocated since its last buffer was born. */
interface Pending {
  cma: PendingCma | null;
  runs: PhysRange[];
}

/** The buffers and device mappings of a run, from its trace records. */
export class BufferLedger {
  /** every buffer, in allocation order */
  readonly buffers: LedgerBuffer[] = [];
  /** every device mapping, in mapping order */
  readonly mappings: LedgerMapping[] = [];
  /** records the ledger could not place (a free of an unknown buffer, ...) */
  unmatched = 0;
  readonly #pending = new Map<number, Pending>();
  readonly #unexported: LedgerBuffer[] = [];
  readonly #counts = new Map<string, number>();
  readonly #live = new Map<string, LedgerMapping[]>();
  readonly #namer: BufferNamer;

  /** Builds the ledger from `records` (in `seq` order). */
  constructor(records: readonly TraceRecordLike[], namer: BufferNamer = DEMO_BUFFER_NAMER) {
    this.#namer = namer;
    for (const r of records) this.#feed(r);
    for (const p of this.#pending.values()) this.#raw(p);
  }

  /**
   * A CMA allocation no buffer claimed (a driver's `cma_alloc`, the MFC's firmware): a buffer of
   * its own, named after the task (or, at boot, the region).
   */
  #raw(p: Pending): void {
    const c = p.cma;
    if (!c) return;
    p.cma = null;
    const owner = c.r.pid === 0 ? c.region : c.r.task;
    const b = this.#make(owner, null, c.size, [{ start: c.start, size: c.size }], c.region, c.r.ts);
    // keep the list in allocation order
    let i = this.buffers.length;
    while (i > 0 && this.buffers[i - 1]!.tAlloc > b.tAlloc) i--;
    this.buffers.splice(i, 0, b);
  }

  /** Claims the pending CMA allocation of `p` for a buffer of `size` bytes, if it is the one. */
  #claim(p: Pending, size: number): PendingCma | null {
    const c = p.cma;
    if (!c) return null;
    if (Math.ceil(size / PAGE_SIZE) * PAGE_SIZE !== c.size) {
      this.#raw(p);
      return null;
    }
    p.cma = null;
    return c;
  }

  #pendingOf(pid: number): Pending {
    let p = this.#pending.get(pid);
    if (!p) {
      p = { cma: null, runs: [] };
      this.#pending.set(pid, p);
    }
    return p;
  }

  #make(
    owner: string,
    device: string | null,
    size: number,
    phys: PhysRange[],
    region: string | null,
    t: number,
  ): LedgerBuffer {
    const k = this.#counts.get(owner) ?? 0;
    this.#counts.set(owner, k + 1);
    return {
      name: this.#namer(owner, k, device),
      owner,
      size,
      phys,
      region,
      tAlloc: t,
      tFree: null,
      ino: null,
    };
  }

  #born(r: TraceRecordLike, device: string | null, size: number, phys: PhysRange[], region: string | null) {
    const b = this.#make(r.pid === 0 && device ? device : r.task, device, size, phys, region, r.ts);
    this.buffers.push(b);
    return b;
  }

  #map(device: string, iova: number, size: number, paddr: number, r: TraceRecordLike): void {
    const m: LedgerMapping = {
      device,
      iova,
      size,
      paddr,
      buffer: this.bufferAt(paddr),
      tMap: r.ts,
      tUnmap: null,
      seqMap: r.seq,
      seqUnmap: null,
    };
    this.mappings.push(m);
    const key = `${device}@${iova}`;
    const list = this.#live.get(key) ?? [];
    list.push(m);
    this.#live.set(key, list);
  }

  #unmap(device: string, iova: number, r: TraceRecordLike): boolean {
    const list = this.#live.get(`${device}@${iova}`);
    const m = list?.shift();
    if (!m) return false;
    m.tUnmap = r.ts;
    m.seqUnmap = r.seq;
    return true;
  }

  #feed(r: TraceRecordLike): void {
    const d = r.data as Record<string, unknown>;
    switch (r.name) {
      case "cma_alloc_finish":
        if (num(d, "errorno") === 0 && num(d, "count") > 0) {
          const p = this.#pendingOf(r.pid);
          this.#raw(p);
          p.cma = {
            region: str(d, "name"),
            start: num(d, "pfn") * PAGE_SIZE,
            size: num(d, "count") * PAGE_SIZE,
            r,
          };
        }
        break;
      case "iommu_map":
        this.#pendingOf(r.pid).runs.push({ start: num(d, "paddr"), size: num(d, "size") });
        break;
      case "dma_map_sg": {
        const p = this.#pendingOf(r.pid);
        p.runs = []; // those iommu_maps were this mapping's
        const device = str(d, "device");
        const addrs = nums(d, "dma_addrs");
        const lens = nums(d, "lengths");
        const phys = nums(d, "phys_addrs");
        for (let i = 0; i < addrs.length; i++) {
          if (lens[i]! > 0) this.#map(device, addrs[i]!, lens[i]!, phys[i] ?? 0, r);
        }
        break;
      }
      case "dma_unmap_sg": {
        const device = str(d, "device");
        for (const a of nums(d, "addrs")) if (!this.#unmap(device, a, r)) this.unmatched++;
        break;
      }
      case "dma_alloc": {
        const p = this.#pendingOf(r.pid);
        const device = str(d, "device");
        const size = num(d, "size");
        const dmaAddr = num(d, "dma_addr");
        let phys: PhysRange[] = [];
        let region: string | null = null;
        if (p.runs.length > 0) phys = p.runs;
        else {
          const c = this.#claim(p, size);
          if (c) {
            phys = [{ start: c.start, size: c.size }];
            region = c.region;
          }
        }
        const b = this.#born(r, device, size, phys, region);
        this.#unexported.push(b);
        // the device's own view of it: one mapping per physical run, at consecutive D.V
        let iova = dmaAddr;
        for (const run of phys) {
          this.#map(device, iova, run.size, run.start, r);
          iova += run.size;
        }
        p.runs = [];
        break;
      }
      case "dma_free": {
        const device = str(d, "device");
        const dmaAddr = num(d, "dma_addr");
        const first = this.#live.get(`${device}@${dmaAddr}`)?.[0];
        const b = first?.buffer ?? null;
        if (b && b.tFree === null) b.tFree = r.ts;
        else this.unmatched++;
        // end the device's mappings of it
        for (const m of this.mappings) {
          if (m.tUnmap === null && m.device === device && b && m.buffer === b) this.#unmap(device, m.iova, r);
        }
        break;
      }
      case "cma_release": {
        const pa = num(d, "pfn") * PAGE_SIZE;
        for (const p of this.#pending.values()) {
          if (p.cma && pa >= p.cma.start && pa < p.cma.start + p.cma.size) this.#raw(p);
        }
        const b = this.bufferAt(pa);
        if (b && b.tFree === null) b.tFree = r.ts;
        else if (!b) this.unmatched++;
        break;
      }
      case "dma_buf_export": {
        const size = num(d, "size");
        const ino = num(d, "ino");
        const c = this.#claim(this.#pendingOf(r.pid), size);
        if (c) {
          const b = this.#born(r, null, size, [{ start: c.start, size: c.size }], c.region);
          b.ino = ino;
          break;
        }
        const i = this.#unexported.findIndex(
          (b) =>
            b.owner === r.task &&
            b.ino === null &&
            Math.ceil(b.size / PAGE_SIZE) === Math.ceil(size / PAGE_SIZE),
        );
        if (i >= 0) {
          this.#unexported[i]!.ino = ino;
          this.#unexported.splice(i, 1);
        }
        break;
      }
    }
  }

  /**
   * A colour for each buffer, `#rrggbb` by name: the report palette's colours in allocation order
   * (so that neighbouring buffers never share one; they repeat after 20 buffers).
   */
  colors(): Record<string, string> {
    const out: Record<string, string> = {};
    this.buffers.forEach((b, i) => {
      out[b.name] ??= OWNER_PALETTE[i % OWNER_PALETTE.length]!;
    });
    return out;
  }

  /** The buffer whose physical ranges hold `paddr` (the latest allocated, alive or not), or null. */
  bufferAt(paddr: number): LedgerBuffer | null {
    for (let i = this.buffers.length - 1; i >= 0; i--) {
      const b = this.buffers[i]!;
      for (const r of b.phys) if (paddr >= r.start && paddr < r.start + r.size) return b;
    }
    return null;
  }

  /** The latest mapping of `device` covering `iova` at or before `t`, live or ended, or null. */
  mappingAt(device: string, iova: number, t = Number.POSITIVE_INFINITY): LedgerMapping | null {
    for (let i = this.mappings.length - 1; i >= 0; i--) {
      const m = this.mappings[i]!;
      if (m.device === device && iova >= m.iova && iova < m.iova + m.size && m.tMap <= t) return m;
    }
    return null;
  }

  /** A buffer for messages: "scanout buffer 2 (dma-buf 7, P.A 0x58800000)". */
  static describe(b: LedgerBuffer | null): string {
    if (!b) return "an unknown buffer";
    const parts: string[] = [];
    if (b.ino !== null) parts.push(`dma-buf ${b.ino}`);
    if (b.phys.length > 0) parts.push(`P.A ${hex(b.phys[0]!.start)}`);
    return parts.length > 0 ? `${b.name} (${parts.join(", ")})` : b.name;
  }

  /**
   * The memory-map regions and intervals: every CMA region of `cma` (by base address), plus, for
   * buffers from the page allocator, one region per DRAM bank spanning the MiBs they used.
   */
  memoryMap(
    cma: readonly { name: string; base: number; size: number }[],
    banks: readonly { name: string; start: number; size: number }[],
  ): { regions: MemRegion[]; intervals: AllocInterval[] } {
    const regions: MemRegion[] = cma.map((r) => ({ name: r.name, base: r.base, size: r.size }));
    const intervals: AllocInterval[] = [];
    const outside = new Map<string, { lo: number; hi: number }>();
    const regionOf = (start: number): string | null => {
      for (const r of cma) if (start >= r.base && start < r.base + r.size) return r.name;
      return null;
    };
    const bankOf = (start: number) => banks.find((b) => start >= b.start && start < b.start + b.size);
    const pending: { b: LedgerBuffer; run: PhysRange; region: string }[] = [];
    for (const b of this.buffers) {
      for (const run of b.phys) {
        let region = regionOf(run.start);
        if (region === null) {
          const bank = bankOf(run.start);
          if (!bank) {
            this.unmatched++;
            continue;
          }
          region = `${bank.name} (page allocator)`;
          const span = outside.get(region) ?? { lo: run.start, hi: run.start + run.size };
          span.lo = Math.min(span.lo, run.start);
          span.hi = Math.max(span.hi, run.start + run.size);
          outside.set(region, span);
        }
        pending.push({ b, run, region });
      }
    }
    const MIB = 1 << 20;
    for (const [name, s] of outside) {
      const lo = Math.floor(s.lo / MIB) * MIB;
      const hi = Math.ceil(s.hi / MIB) * MIB;
      regions.push({ name, base: lo, size: hi - lo });
    }
    for (const { b, run, region } of pending) {
      intervals.push({
        region,
        start: run.start,
        size: run.size,
        tStart: b.tAlloc,
        tEnd: b.tFree,
        owner: b.name,
        label: `${b.ino === null ? "" : `dma-buf ${b.ino}, `}allocated by ${b.owner}`,
      });
    }
    return { regions, intervals };
  }

  /**
   * Each device's mappings live just after trace record `seq`, for `dvMapSvg` (owner: the
   * buffer's name).
   */
  dvMapsAt(seq: number): Map<string, DvMapping[]> {
    const out = new Map<string, DvMapping[]>();
    for (const m of this.mappings) {
      if (m.seqMap > seq || (m.seqUnmap !== null && m.seqUnmap <= seq)) continue;
      const list = out.get(m.device) ?? [];
      list.push({ iova: m.iova, size: m.size, paddr: m.paddr, owner: m.buffer?.name ?? "unknown" });
      out.set(m.device, list);
    }
    return out;
  }
}
