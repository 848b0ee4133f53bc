/**
 * The coherency checker: who wrote each line last, and the hazards a non-coherent write-back
 * cache makes possible — a device reading lines the CPU still holds dirty, the CPU reading lines
 * a device wrote behind its back, a device writing lines whose later write-back will clobber it,
 * and a page mapped cacheable and non-cacheable at once. Each hazard is one `coherency_hazard`
 * trace event and one `CoherencyReport`, naming the buffer (owner tag), the device and the
 * missing operation; in strict mode the access that hit it also throws EIO.
 *
 * The checker is mm-core's `DmaObserver` and `MappingObserver`; `Cpu` reports stale reads to it.
 *
 * @module
 */
import { hex, type Kernel, KernelError, PAGE_SIZE, type Tracepoint } from "@umm/kernel-core";
import {
  type DmaAgent,
  type DmaObserver,
  type MappingObserver,
  type MappingSite,
  MEMTYPES,
  type Mm,
  MT_CACHEABLE,
} from "@umm/mm-core";
import {
  LINE_DIRTY,
  type LineCache,
  type LineExtent,
  WRITER_CPU_CACHE,
  WRITER_CPU_DIRECT,
  WRITER_MAX_DEVICE,
  WRITER_NONE,
} from "./cache.js";
import "./trace.js";
import {
  type CoherencyReport,
  HAZARD_KINDS,
  HAZARD_MISSING,
  type HazardKind,
  type LineWriter,
} from "./types.js";

/** Name of the "device" of a stale line written by the CPU through a non-cacheable mapping. */
export const CPU_DIRECT_WRITER = "cpu (non-cacheable)";

const range = (paddr: number, size: number): string => `[${hex(paddr)}, ${hex(paddr + size)})`;

/** Reports coherency hazards; find it as `cpu.checker`. */
export class CoherencyChecker implements DmaObserver, MappingObserver {
  /** when true, a hazard found during an access also throws `KernelError("EIO")` from it */
  strict: boolean;
  /** reports kept in `reports` (the oldest are dropped beyond it; `counts` keep counting) */
  readonly maxReports: number;
  readonly #mm: Mm;
  readonly #cache: LineCache;
  readonly #tp: Tracepoint<"coherency_hazard">;
  #reports: CoherencyReport[] = [];
  readonly #counts: Record<HazardKind, number> = {
    "dirty-read": 0,
    "stale-read": 0,
    "dirty-overwrite": 0,
    alias: 0,
  };
  /** device id → writer tag, and tag → name */
  readonly #tags = new Map<number, number>();
  readonly #tagNames: string[] = [""];
  // alias tracking, per page frame: mappings by class, and the site that mapped last
  readonly #base: number;
  readonly #cMaps: Int32Array;
  readonly #nMaps: Int32Array;
  readonly #cSite: Uint32Array;
  readonly #nSite: Uint32Array;
  readonly #sites: MappingSite[] = [{ space: "", name: "" }];
  readonly #siteIds = new Map<string, number>();

  /** @internal `cpuInit` builds the checker. */
  constructor(kernel: Kernel, mm: Mm, cache: LineCache, strict: boolean, maxReports: number) {
    this.#mm = mm;
    this.#cache = cache;
    this.strict = strict;
    this.maxReports = maxReports;
    this.#tp = kernel.trace.tracepoint("coherency_hazard");
    const n = mm.frames.count;
    this.#base = mm.frames.basePfn;
    this.#cMaps = new Int32Array(n);
    this.#nMaps = new Int32Array(n);
    this.#cSite = new Uint32Array(n);
    this.#nSite = new Uint32Array(n);
  }

  /** The most recent reports (at most `maxReports`), oldest first. */
  get reports(): readonly CoherencyReport[] {
    const r = this.#reports;
    return r.length > this.maxReports ? r.slice(r.length - this.maxReports) : r.slice();
  }

  /** Hazards reported since boot or the last `clear`, per kind. */
  counts(): Record<HazardKind, number> {
    return { ...this.#counts };
  }

  /** Total hazards since boot or the last `clear`. */
  get total(): number {
    let n = 0;
    for (const k of HAZARD_KINDS) n += this.#counts[k];
    return n;
  }

  /** Forgets every report and zeroes the counts (the cache and mapping state are untouched). */
  clear(): void {
    this.#reports = [];
    for (const k of HAZARD_KINDS) this.#counts[k] = 0;
  }

  /**
   * Who wrote the line holding `paddr` last: the CPU through the cache when the line is dirty,
   * else whoever last wrote its memory. EINVAL when `paddr` is not RAM.
   */
  lastWriter(paddr: number): LineWriter {
    if (!Number.isSafeInteger(paddr) || !this.#cache.bankAt(paddr)) {
      throw new KernelError("EINVAL", `lastWriter: paddr ${hex(paddr)} is not RAM`);
    }
    if (this.#cache.stateAt(paddr) & LINE_DIRTY) return { by: "cpu-cache", device: "" };
    const w = this.#cache.writerAt(paddr);
    if (w === WRITER_NONE) return { by: "none", device: "" };
    if (w === WRITER_CPU_CACHE) return { by: "cpu-cache", device: "" };
    if (w === WRITER_CPU_DIRECT) return { by: "cpu-direct", device: "" };
    return { by: "device", device: this.#tagNames[w] ?? "" };
  }

  // ---- DmaObserver --------------------------------------------------------------------------

  /** A device is about to read `[paddr, paddr + len)` from memory: dirty lines there are a hazard. */
  onDmaRead(agent: DmaAgent, paddr: number, len: number): void {
    const ext = this.#cache.anyDirty ? this.#cache.dirtyExtent(paddr, len) : null;
    if (!ext) return;
    this._hazard(
      "dirty-read",
      agent.name,
      ext,
      `${agent.name} read ${range(paddr, len)} from memory while the CPU holds ${ext.lines} dirty line(s) in ${range(ext.first, ext.end - ext.first)}: the device got old memory, not the CPU's data`,
    );
  }

  /**
   * A device wrote `[paddr, paddr + len)`: cached lines there are stale now, and dirty ones are a
   * hazard (their write-back would overwrite what the device wrote).
   */
  onDmaWrite(agent: DmaAgent, paddr: number, len: number): void {
    const ext = this.#cache.markWritten(paddr, len, this._deviceTag(agent));
    if (!ext) return;
    this._hazard(
      "dirty-overwrite",
      agent.name,
      ext,
      `${agent.name} wrote ${range(paddr, len)} while the CPU holds ${ext.lines} dirty line(s) in ${range(ext.first, ext.end - ext.first)}: a clean or eviction will overwrite the device's data`,
    );
  }

  // ---- MappingObserver ----------------------------------------------------------------------

  /** Counts cacheable and non-cacheable mappings per page; a page with both is an alias. */
  onMapChange(pfn: number, count: number, memtype: number, delta: 1 | -1, site: MappingSite): void {
    const from = Math.max(0, pfn - this.#base);
    const to = Math.min(this.#cMaps.length, pfn - this.#base + count);
    if (to <= from) return;
    const cacheable = memtype === MT_CACHEABLE;
    const mine = cacheable ? this.#cMaps : this.#nMaps;
    if (delta < 0) {
      for (let i = from; i < to; i++) if (mine[i]! > 0) mine[i]!--;
      return;
    }
    const other = cacheable ? this.#nMaps : this.#cMaps;
    const sites = cacheable ? this.#cSite : this.#nSite;
    const sid = this.#siteId(site);
    let first = -1;
    let last = -1;
    for (let i = from; i < to; i++) {
      mine[i]!++;
      sites[i] = sid;
      if (other[i]! > 0) {
        if (first < 0) first = i;
        last = i;
      }
    }
    if (first < 0) return;
    const otherSite = this.#sites[(cacheable ? this.#nSite : this.#cSite)[first]!]!;
    const otherMt = cacheable ? "non-cacheable" : "cacheable";
    const pages = last - first + 1;
    const p0 = this.#base + first;
    this._hazard(
      "alias",
      "",
      { first: p0 * PAGE_SIZE, end: (p0 + pages) * PAGE_SIZE, lines: 0, writer: WRITER_NONE },
      `pfn ${hex(p0)}${pages > 1 ? `..${hex(p0 + pages - 1)} (${pages} pages)` : ""} mapped ${MEMTYPES[memtype] ?? memtype} by ${site.space} "${site.name}" while mapped ${otherMt} by ${otherSite.space} "${otherSite.name}"`,
      false,
    );
  }

  #siteId(site: MappingSite): number {
    const key = `${site.space}\u0000${site.name}`;
    let id = this.#siteIds.get(key);
    if (id === undefined) {
      id = this.#sites.length;
      this.#sites.push({ space: site.space, name: site.name });
      this.#siteIds.set(key, id);
    }
    return id;
  }

  // ---- internals shared with Cpu ------------------------------------------------------------

  /** @internal the writer tag of a device (interned by id) */
  _deviceTag(agent: DmaAgent): number {
    let t = this.#tags.get(agent.id);
    if (t === undefined) {
      t = Math.min(this.#tagNames.length, WRITER_MAX_DEVICE);
      if (t === this.#tagNames.length) this.#tagNames.push(agent.name);
      this.#tags.set(agent.id, t);
    }
    return t;
  }

  /** @internal the name of a writer tag, for reports */
  _writerName(tag: number): string {
    if (tag === WRITER_CPU_DIRECT) return CPU_DIRECT_WRITER;
    if (tag === WRITER_CPU_CACHE) return "cpu";
    return this.#tagNames[tag] ?? "";
  }

  /**
   * @internal Records a hazard: a report, a trace event, and in strict mode (when `mayThrow`) a
   * `KernelError("EIO")`.
   */
  _hazard(kind: HazardKind, device: string, ext: LineExtent, detail: string, mayThrow = true): void {
    const paddr = ext.first;
    const size = ext.end - ext.first;
    const owner = this.#mm.frames.ownerOf(Math.floor(paddr / PAGE_SIZE));
    const missing = HAZARD_MISSING[kind];
    const report: CoherencyReport = Object.freeze({ kind, device, paddr, size, owner, missing, detail });
    this.#counts[kind]++;
    this.#reports.push(report);
    if (this.#reports.length > 2 * this.maxReports) {
      this.#reports = this.#reports.slice(this.#reports.length - this.maxReports);
    }
    if (this.#tp.enabled) this.#tp.emit({ kind, device, paddr, size, owner, missing, detail });
    if (this.strict && mayThrow) {
      throw new KernelError(
        "EIO",
        `coherency ${kind} at ${range(paddr, size)}${owner ? ` (${owner})` : ""}: ${detail}; missing ${missing}`,
      );
    }
  }
}
