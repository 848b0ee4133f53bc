/**
 * Allocation intervals for the memory maps: an `IntervalBuilder` fed allocations and frees as they
 * happen, and `intervalsFromTrace` that feeds it from mm-cma's trace events.
 *
 * @module
 */
import { PAGE_SIZE } from "@umm/kernel-core";
import { fieldsOf, numField, strField, type TraceRecordLike } from "../trace-export/record.js";
import type { AllocInterval, MemRegion } from "./memory-map.js";
import { formatAddr } from "./svg.js";

/** Options of an `IntervalBuilder`. */
export interface IntervalBuilderOpts {
  /**
   * true (default): a free that matches nothing live, or a region not listed, throws. false: they
   * are counted (`unmatched`) and skipped — for a trace whose oldest records were dropped.
   */
  readonly strict?: boolean;
}

/** An allocation fed to `IntervalBuilder.alloc`. */
export interface IntervalAlloc {
  readonly region: string;
  /** first physical address */
  readonly start: number;
  /** bytes */
  readonly size: number;
  /** virtual ns */
  readonly t: number;
  readonly owner: string;
  readonly label?: string;
}

/** A free fed to `IntervalBuilder.free`. */
export interface IntervalFree {
  readonly region: string;
  /** first physical address freed */
  readonly start: number;
  /** bytes freed (default: the whole allocation that starts at `start`) */
  readonly size?: number;
  /** virtual ns */
  readonly t: number;
}

interface Live {
  start: number;
  size: number;
  tStart: number;
  owner: string;
  label: string | undefined;
}

function toInterval(region: string, l: Live, tEnd: number | null): AllocInterval {
  return {
    region,
    start: l.start,
    size: l.size,
    tStart: l.tStart,
    tEnd,
    owner: l.owner,
    ...(l.label === undefined ? {} : { label: l.label }),
  };
}

/**
 * Builds allocation intervals from allocations and frees in time order. A free may return part of
 * an allocation: the freed part's interval ends, the rest stays live (as `cma_release` of part of
 * a range does). Overlapping live allocations are a broken input and throw.
 */
export class IntervalBuilder {
  readonly #regions = new Map<string, MemRegion>();
  readonly #live = new Map<string, Live[]>();
  readonly #closed: AllocInterval[] = [];
  readonly #strict: boolean;
  #unmatched = 0;

  constructor(regions: readonly MemRegion[], opts: IntervalBuilderOpts = {}) {
    for (const r of regions) {
      if (this.#regions.has(r.name)) throw new Error(`IntervalBuilder: region ${r.name} is listed twice`);
      if (!Number.isSafeInteger(r.base) || !Number.isSafeInteger(r.size) || r.base < 0 || r.size <= 0) {
        throw new Error(`IntervalBuilder: region ${r.name} has base ${r.base} size ${r.size}`);
      }
      this.#regions.set(r.name, r);
      this.#live.set(r.name, []);
    }
    this.#strict = opts.strict ?? true;
  }

  /** Frees and allocations skipped in non-strict mode (no match, unknown region). */
  get unmatched(): number {
    return this.#unmatched;
  }

  /** How many allocations are live now. */
  get liveCount(): number {
    let n = 0;
    for (const l of this.#live.values()) n += l.length;
    return n;
  }

  #region(fn: string, name: string): MemRegion | undefined {
    const r = this.#regions.get(name);
    if (!r) {
      if (!this.#strict) {
        this.#unmatched++;
        return undefined;
      }
      throw new Error(
        `IntervalBuilder.${fn}: unknown region ${JSON.stringify(name)} (known: ${[...this.#regions.keys()].join(", ") || "none"})`,
      );
    }
    return r;
  }

  /** Index of the first live allocation of `list` whose start is greater than `addr`. */
  static #upper(list: readonly Live[], addr: number): number {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.start <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Records an allocation; throws an `Error` when it lies outside its region or overlaps a live one. */
  alloc(a: IntervalAlloc): void {
    const region = this.#region("alloc", a.region);
    if (!region) return;
    if (!Number.isSafeInteger(a.start) || !Number.isSafeInteger(a.size) || a.size <= 0) {
      throw new Error(`IntervalBuilder.alloc: start ${a.start} size ${a.size} are not a positive range`);
    }
    if (a.start < region.base || a.start + a.size > region.base + region.size) {
      throw new Error(
        `IntervalBuilder.alloc: ${formatAddr(a.start)}+${formatAddr(a.size)} lies outside region ${region.name} ` +
          `(${formatAddr(region.base)}+${formatAddr(region.size)})`,
      );
    }
    if (!Number.isFinite(a.t)) throw new Error(`IntervalBuilder.alloc: t ${a.t} is not a number`);
    const list = this.#live.get(region.name)!;
    const i = IntervalBuilder.#upper(list, a.start);
    const prev = list[i - 1];
    const next = list[i];
    const clash =
      prev && prev.start + prev.size > a.start
        ? prev
        : next && next.start < a.start + a.size
          ? next
          : undefined;
    if (clash) {
      throw new Error(
        `IntervalBuilder.alloc: ${formatAddr(a.start)}+${formatAddr(a.size)} for ${a.owner} in ${region.name} overlaps ` +
          `${formatAddr(clash.start)}+${formatAddr(clash.size)} held by ${clash.owner} since ${clash.tStart} ns`,
      );
    }
    list.splice(i, 0, { start: a.start, size: a.size, tStart: a.t, owner: a.owner, label: a.label });
  }

  /**
   * Records a free. Returns true when it matched live memory; in non-strict mode returns false for
   * a free that matched nothing (strict mode throws an `Error`).
   */
  free(f: IntervalFree): boolean {
    const region = this.#region("free", f.region);
    if (!region) return false;
    const list = this.#live.get(region.name)!;
    const i = IntervalBuilder.#upper(list, f.start) - 1;
    const l = list[i];
    const size = f.size ?? (l && l.start === f.start ? l.size : 0);
    const ok =
      l !== undefined &&
      Number.isSafeInteger(size) &&
      size > 0 &&
      f.start >= l.start &&
      f.start + size <= l.start + l.size;
    if (!ok) {
      if (!this.#strict) {
        this.#unmatched++;
        return false;
      }
      throw new Error(
        `IntervalBuilder.free: nothing live at ${formatAddr(f.start)}${f.size === undefined ? "" : `+${formatAddr(f.size)}`} ` +
          `in region ${region.name} at ${f.t} ns`,
      );
    }
    if (!(f.t >= l.tStart)) {
      throw new Error(
        `IntervalBuilder.free: ${formatAddr(f.start)} in ${region.name} freed at ${f.t} ns, before its allocation at ${l.tStart} ns`,
      );
    }
    const pieces: Live[] = [];
    if (f.start > l.start) pieces.push({ ...l, size: f.start - l.start });
    if (f.start + size < l.start + l.size) {
      pieces.push({ ...l, start: f.start + size, size: l.start + l.size - (f.start + size) });
    }
    this.#closed.push(toInterval(region.name, { ...l, start: f.start, size }, f.t));
    list.splice(i, 1, ...pieces);
    return true;
  }

  /**
   * Every interval so far, ordered by `tStart` then address: freed ones with their `tEnd`, live
   * ones with `tEnd` null.
   */
  intervals(): AllocInterval[] {
    const out = [...this.#closed];
    for (const [name, list] of this.#live) for (const l of list) out.push(toInterval(name, l, null));
    return out.sort(
      (a, b) => a.tStart - b.tStart || a.start - b.start || (a.tEnd ?? Infinity) - (b.tEnd ?? Infinity),
    );
  }
}

/** Options of `intervalsFromTrace`. */
export interface IntervalsFromTraceOpts {
  /** the CMA areas, by the names their events carry (`cma_alloc_finish.name`) */
  readonly regions: readonly MemRegion[];
  /** who an allocation belongs to (default: the task that allocated, `record.task`) */
  readonly owner?: (r: TraceRecordLike) => string;
  /** as `IntervalBuilderOpts.strict` (default true) */
  readonly strict?: boolean;
}

/**
 * Builds allocation intervals from mm-cma's events: a successful `cma_alloc_finish` (errorno 0)
 * starts one at `pfn << PAGE_SHIFT` for `count` pages in area `name`; `cma_release` ends the
 * pages it returns. Other events are ignored. Intervals still live at the end have `tEnd` null.
 */
export function intervalsFromTrace(
  records: readonly TraceRecordLike[],
  opts: IntervalsFromTraceOpts,
): AllocInterval[] {
  const b = new IntervalBuilder(opts.regions, { strict: opts.strict ?? true });
  const owner = opts.owner ?? ((r: TraceRecordLike) => r.task);
  for (const r of records) {
    if (r.name === "cma_alloc_finish") {
      if (numField(r, "errorno") !== 0) continue;
      const count = numField(r, "count");
      const align = fieldsOf(r).align;
      b.alloc({
        region: strField(r, "name"),
        start: numField(r, "pfn") * PAGE_SIZE,
        size: count * PAGE_SIZE,
        t: r.ts,
        owner: owner(r),
        label: `cma_alloc ${count} page${count === 1 ? "" : "s"}${typeof align === "number" ? `, align order ${align}` : ""}`,
      });
    } else if (r.name === "cma_release") {
      b.free({
        region: strField(r, "name"),
        start: numField(r, "pfn") * PAGE_SIZE,
        size: numField(r, "count") * PAGE_SIZE,
        t: r.ts,
      });
    }
  }
  return b.intervals();
}
