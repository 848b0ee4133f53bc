/**
 * Replaying a workload against a board's CMA regions with the real allocators: the board is
 * booted by soc's `bootBoard` without platform drivers (so nothing but the workload allocates),
 * each step goes through mm-cma — `cmaAlloc(dev, type, size, align)` through the board's
 * `cma.map=` for a routed step, merged `cmaAlloc(cma, count, align)` on a named CMA area,
 * `cmaAllocFromRegion` on a named 2010 region or no-map pool, `dmaAllocFromContiguous` for a
 * `via: "dma"` step that reaches CMA, the CMA heap's `cmaAlloc` for `via: "heap"`; `cmaRelease`
 * / `cmaFree` / `dmaReleaseFromContiguous` to free — and the replay records every failure (with
 * the region's debugfs `used` and `maxchunk` at that moment), the peak use of each region, the
 * allocation intervals, each region at its worst moment, and the `via: "dma"` allocations that
 * took no CMA memory (a device behind an IOMMU).
 *
 * @module
 */
import { devGetCoherentMemory, toDmaIommuMapping } from "@umm/dma-mapping-arm";
import { type Device, getOrder, hex, isKernelError, PAGE_SIZE, type Seed } from "@umm/kernel-core";
import {
  type CmaRegion,
  CONFIG_CMA_ALIGNMENT,
  cmaAlloc,
  cmaAllocFromRegion,
  cmaDebugfs,
  cmaFree,
  cmaGetMapRules,
  cmaMapLookup,
  cmaRelease,
  devGetCmaArea,
  dmaAllocFromContiguous,
  dmaContiguousDefaultArea,
  dmaReleaseFromContiguous,
} from "@umm/mm-cma";
import { type BoardDescription, bootBoard, type Machine } from "@umm/soc";
import { IntervalBuilder } from "../report/intervals.js";
import { type AllocInterval, type MemRegion, regionUsage } from "../report/memory-map.js";
import { CmaPlanError, type CmaPlanStep, type CmaPlanVia, type CmaPlanWorkload } from "./workload.js";

/** One allocation that failed. */
export interface CmaPlanFailure {
  /** index of the step in the workload */
  readonly step: number;
  /** virtual ns */
  readonly t: number;
  readonly id: string;
  readonly dev: string;
  /** the 2010 memory kind of a routed step, else null */
  readonly type: string | null;
  /** how it asked: `cma_alloc` ("cma"), `dma_alloc_coherent` ("dma") or the CMA heap ("heap") */
  readonly via: "cma" | CmaPlanVia;
  /** bytes asked for */
  readonly size: number;
  /** bytes: the step's (a page when it said 0), or what the kernel chose for a `via` step */
  readonly align: number;
  /** "ENOMEM" (nothing fits) or "EBUSY" (no candidate could be emptied) */
  readonly errno: string;
  /** every region tried, in order, as it was at that moment */
  readonly regions: readonly CmaPlanRegionState[];
}

/** A region at one moment, as debugfs shows it. */
export interface CmaPlanRegionState {
  readonly name: string;
  /** bytes in use (`used` × 4 KiB) */
  readonly used: number;
  /** bytes free */
  readonly free: number;
  /** the largest free run in bytes (`maxchunk` × 4 KiB) */
  readonly largestFree: number;
}

/** A region at its worst moment: its first failure, else its peak use. */
export interface CmaPlanMoment {
  /** virtual ns */
  readonly t: number;
  /** index of the step */
  readonly step: number;
  readonly reason: "failure" | "peak";
  /** bytes */
  readonly used: number;
  /** bytes */
  readonly free: number;
  /** free ranges between allocations */
  readonly freeChunks: number;
  /** bytes of the largest free range */
  readonly largestFree: number;
  /** 1 − largest free / free: 0 when the free memory is one range (or none) */
  readonly fragmentation: number;
  /** the allocations live then (`tEnd` null) */
  readonly live: readonly AllocInterval[];
}

/** What a replay saw of one region. */
export interface CmaPlanRegionStats {
  /** as the machine's stats name it (`common`, `mfc_b1`, `mfc-left@4a000000`) */
  readonly name: string;
  /** "merged" (a CMA area), "2010" (a framework region) or "dt-pool" (a no-map pool) */
  readonly origin: string;
  /** physical start */
  readonly base: number;
  /** bytes */
  readonly size: number;
  readonly reusable: boolean;
  /** successful allocations */
  readonly allocations: number;
  /** failed allocations that tried it */
  readonly failures: number;
  /** most bytes in use at once */
  readonly peakUsed: number;
  /** when the peak was first reached (virtual ns), or null when never used */
  readonly peakAt: number | null;
  /** its worst moment, or null when the workload never touched it */
  readonly worst: CmaPlanMoment | null;
}

/** The `via: "dma"` allocations of one device that took no CMA memory. */
export interface CmaPlanElsewhere {
  readonly dev: string;
  /**
   * "iommu": the device sits behind an IOMMU, so `dma_alloc_coherent` maps scattered pages;
   * "pages": it has no CMA area, so the page allocator serves it
   */
  readonly via: "iommu" | "pages";
  readonly allocations: number;
  /** most bytes (whole pages) live at once */
  readonly peakSize: number;
}

/** What `replayWorkload` returns. */
export interface CmaPlanReplay {
  /** the board's name */
  readonly board: string;
  /** every CMA region of the booted board, by base address */
  readonly regions: readonly CmaPlanRegionStats[];
  readonly failures: readonly CmaPlanFailure[];
  /** `via: "dma"` allocations that took no CMA memory, by device */
  readonly elsewhere: readonly CmaPlanElsewhere[];
  /** every allocation's interval (empty unless asked for) */
  readonly intervals: readonly AllocInterval[];
  /** virtual ns of the last step */
  readonly tEnd: number;
  /** steps replayed (all, unless `stopOnFailureIn` stopped it) */
  readonly replayed: number;
}

/** Options of `replayWorkload`. */
export interface ReplayOpts {
  /** seed of the booted kernel (default 1) */
  readonly seed?: Seed;
  /** collect the allocation intervals (default true) */
  readonly intervals?: boolean;
  /** stop at the first failure that tried this region (the size search needs no more) */
  readonly stopOnFailureIn?: string;
}

/** How a step reaches memory, resolved once per routing. */
type Route =
  /** 2010 `cma_alloc(dev, type)`: the regions of the `cma.map` rule, in order */
  | {
      readonly kind: "map";
      readonly dev: Device;
      readonly type: string | null;
      readonly regions: RegionState[];
    }
  /** a region named by the step */
  | { readonly kind: "region"; readonly region: RegionState }
  /** the CMA heap: its area */
  | { readonly kind: "heap"; readonly region: RegionState }
  /** `dma_alloc_coherent` through `dma_alloc_from_contiguous`: the device's CMA area */
  | { readonly kind: "dma"; readonly dev: Device; readonly region: RegionState }
  /** `dma_alloc_coherent` through `dma_alloc_from_dev_coherent`: the device's pool */
  | { readonly kind: "pool"; readonly region: RegionState }
  /** `dma_alloc_coherent` served outside CMA */
  | { readonly kind: "elsewhere"; readonly entry: ElsewhereState };

interface Live {
  readonly region: RegionState;
  readonly start: number;
  readonly size: number;
  /** gives the memory back the way it was taken */
  readonly release: () => void;
  readonly interval: AllocInterval;
}

interface ElsewhereState {
  readonly dev: string;
  readonly via: "iommu" | "pages";
  allocations: number;
  size: number;
  peakSize: number;
}

/** What an allocation got: its place and how to give it back, or the errno it failed with. */
type Got =
  | {
      readonly start: number;
      readonly size: number;
      readonly region: RegionState;
      readonly release: () => void;
    }
  | { readonly errno: string };

interface RegionState {
  readonly name: string;
  readonly cma: CmaRegion;
  readonly mem: MemRegion;
  readonly origin: string;
  allocations: number;
  failures: number;
  peakUsed: number;
  peakAt: number | null;
  worst: CmaPlanMoment | null;
  readonly live: Map<string, Live>;
}

/**
 * Boots `board` for a replay: bootBoard without platform drivers, so the CMA regions hold nothing
 * the workload did not allocate. Throws what bootBoard throws (a `KernelError`).
 */
export function bootForPlan(board: BoardDescription, seed: Seed = 1): Machine {
  return bootBoard(board, { seed, drivers: [] });
}

function usedBytes(r: CmaRegion): number {
  return (r.count - r.availableCount) * PAGE_SIZE;
}

function stateOf(r: RegionState): CmaPlanRegionState {
  const d = cmaDebugfs(r.cma);
  return {
    name: r.name,
    used: d.used * PAGE_SIZE,
    free: r.cma.free,
    largestFree: d.maxchunk * PAGE_SIZE,
  };
}

function moment(r: RegionState, t: number, step: number, reason: "failure" | "peak"): CmaPlanMoment {
  const live = [...r.live.values()].map((l) => l.interval).sort((a, b) => a.start - b.start);
  const u = regionUsage(r.mem, live);
  const largest = u.largestFree?.size ?? 0;
  return {
    t,
    step,
    reason,
    used: u.used,
    free: u.free,
    freeChunks: u.freeRanges.length,
    largestFree: largest,
    fragmentation: u.free > 0 ? 1 - largest / u.free : 0,
    live,
  };
}

/** Finds the device a step names; throws `CmaPlanError` naming the step when the board lacks it. */
function deviceOf(m: Machine, dev: string, at: string, hint: string): Device {
  const d = m.devices.get(dev);
  if (!d) {
    throw new CmaPlanError(
      `${at}: device ${JSON.stringify(dev)} is not a device of board ${m.board.name} ` +
        `(devices: ${[...m.devices.keys()].join(", ")}); ${hint}`,
    );
  }
  return d;
}

/**
 * Where `dma_alloc_coherent(dev, size)` takes memory on this machine, in the order
 * `dma_alloc_attrs` tries (kernel/dma/mapping.c, arch/arm/mm/dma-mapping.c): the device's coherent
 * pool; else, behind an IOMMU, scattered pages; else its CMA area; else the page allocator.
 */
function dmaRoute(
  dev: Device,
  regions: Map<string, RegionState>,
  elsewhere: Map<string, ElsewhereState>,
): Route {
  const outside = (via: "iommu" | "pages"): Route => {
    let entry = elsewhere.get(dev.name);
    if (!entry) {
      entry = { dev: dev.name, via, allocations: 0, size: 0, peakSize: 0 };
      elsewhere.set(dev.name, entry);
    }
    return { kind: "elsewhere", entry };
  };
  const all = [...regions.values()];
  const pool = devGetCoherentMemory(dev);
  if (pool) {
    const base = pool.pfnBase * PAGE_SIZE;
    const region = all.find((r) => r.mem.base === base);
    if (!region) throw new Error(`cma-plan: ${dev.name}'s coherent pool at ${hex(base)} is no region`);
    return { kind: "pool", region };
  }
  if (toDmaIommuMapping(dev)) return outside("iommu");
  const area = devGetCmaArea(dev);
  if (!area) return outside("pages");
  const region = all.find((r) => r.cma === area);
  if (!region) throw new Error(`cma-plan: ${dev.name}'s CMA area is not among the machine's regions`);
  return { kind: "dma", dev, region };
}

/** Resolves every alloc step's route against the machine; throws `CmaPlanError` for a bad one. */
function routes(
  m: Machine,
  regions: Map<string, RegionState>,
  elsewhere: Map<string, ElsewhereState>,
  w: CmaPlanWorkload,
): (Route | null)[] {
  const names = [...regions.keys()].join(", ");
  const byKey = new Map<string, Route>();
  const map = cmaGetMapRules(m.kernel);
  return w.steps.map((s, i) => {
    if (s.op !== "alloc") return null;
    const at = `workload ${w.name} step ${i} (id ${JSON.stringify(s.id)})`;
    if (s.via === "heap") {
      const area = dmaContiguousDefaultArea(m.kernel);
      const region = area ? [...regions.values()].find((r) => r.cma === area) : undefined;
      if (!region) {
        throw new CmaPlanError(
          `${at}: via "heap": board ${m.board.name} has no default CMA area, so no CMA heap`,
        );
      }
      return { kind: "heap", region };
    }
    if (s.via === "dma") {
      const key = `dma\0${s.dev}`;
      const known = byKey.get(key);
      if (known) return known;
      const dev = deviceOf(m, s.dev, at, 'a "dma" step needs a device of the board');
      const route = dmaRoute(dev, regions, elsewhere);
      byKey.set(key, route);
      return route;
    }
    if (s.region !== undefined) {
      let r = regions.get(s.region);
      if (!r && s.region === "(private)" && s.paddr !== undefined) {
        const pa = s.paddr;
        r = [...regions.values()].find((x) => pa >= x.mem.base && pa < x.mem.base + x.mem.size);
      }
      if (!r) {
        throw new CmaPlanError(
          `${at}: region ${JSON.stringify(s.region)} is not a CMA region of board ${m.board.name} (regions: ${names})`,
        );
      }
      return { kind: "region", region: r };
    }
    const type = s.type ?? null;
    const key = `map\0${s.dev}\0${type ?? ""}`;
    const known = byKey.get(key);
    if (known) return known;
    const dev = deviceOf(m, s.dev, at, "name a region to allocate without the cma.map");
    const kind = type ?? "common";
    const rule = map ? cmaMapLookup(map, s.dev, kind) : null;
    if (!rule) {
      throw new CmaPlanError(
        `${at}: no rule of board ${m.board.name}'s cma.map matches device ${s.dev}, type "${kind}" (map: ${map?.text ?? "none"})`,
      );
    }
    const tried = rule.regions.map((n) => regions.get(n)).filter((r): r is RegionState => r !== undefined);
    if (tried.length === 0) {
      throw new CmaPlanError(
        `${at}: the cma.map rule "${rule.text}" for device ${s.dev}, type "${kind}" names no CMA region of board ${m.board.name} (regions: ${names})`,
      );
    }
    const route: Route = { kind: "map", dev, type, regions: tried };
    byKey.set(key, route);
    return route;
  });
}

/** Bytes a step's pages take: its size rounded up to whole pages. */
const pageBytes = (size: number): number => Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;

/**
 * The alignment in bytes an allocation of `s` along `route` gets: the step's (at least a page), or
 * for the kernel's interfaces the size's order capped at CONFIG_CMA_ALIGNMENT (`dma_alloc_from_
 * contiguous`, the CMA heap) or the whole power-of-two block (`dma_alloc_from_dev_coherent`).
 */
function alignmentOf(s: CmaPlanStep, route: Exclude<Route, { kind: "elsewhere" }>): number {
  switch (route.kind) {
    case "heap":
    case "dma":
      return PAGE_SIZE * 2 ** Math.min(getOrder(pageBytes(s.size)), CONFIG_CMA_ALIGNMENT);
    case "pool":
      return PAGE_SIZE * 2 ** getOrder(s.size);
    default:
      return Math.max(s.align, PAGE_SIZE);
  }
}

/** Takes the memory of step `s` along `route` (not "elsewhere"). */
function allocate(m: Machine, s: CmaPlanStep, route: Exclude<Route, { kind: "elsewhere" }>): Got {
  const size = pageBytes(s.size);
  const count = size / PAGE_SIZE;
  const alignment = alignmentOf(s, route);
  // the replay only releases what it allocated: a refusal is a bug of the replay or of mm-cma
  const checked = (r: RegionState, pfn: number, ok: boolean): void => {
    if (!ok) throw new Error(`cma-plan: releasing ${s.id} at ${hex(pfn * PAGE_SIZE)} in ${r.name} failed`);
  };
  const merged = (r: RegionState, pfn: number | null): Got =>
    pfn === null
      ? { errno: "ENOMEM" }
      : {
          start: pfn * PAGE_SIZE,
          size,
          region: r,
          release: () => checked(r, pfn, cmaRelease(r.cma, pfn, count)),
        };
  const fromRegion = (r: RegionState, bytes: number): Got => {
    try {
      const pa = cmaAllocFromRegion(r.cma, bytes, alignment);
      return { start: pa, size: pageBytes(bytes), region: r, release: () => cmaFree(m.kernel, pa) };
    } catch (e) {
      if (!isKernelError(e, "ENOMEM") && !isKernelError(e, "EBUSY")) throw e;
      return { errno: e.errno };
    }
  };
  const order = Math.round(Math.log2(alignment / PAGE_SIZE));
  switch (route.kind) {
    case "heap":
      return merged(route.region, cmaAlloc(route.region.cma, count, order, true));
    case "dma": {
      const { dev, region } = route;
      const pfn = dmaAllocFromContiguous(dev, count, getOrder(size), true);
      if (pfn === null) return { errno: "ENOMEM" };
      const release = () => checked(region, pfn, dmaReleaseFromContiguous(dev, pfn, count));
      return { start: pfn * PAGE_SIZE, size, region, release };
    }
    case "pool":
      return fromRegion(route.region, alignment);
    case "region":
      if (route.region.origin === "merged")
        return merged(route.region, cmaAlloc(route.region.cma, count, order, true));
      return fromRegion(route.region, s.size);
    case "map":
      try {
        const pa = cmaAlloc(route.dev, route.type, s.size, alignment);
        const r = route.regions.find((x) => pa >= x.mem.base && pa < x.mem.base + x.mem.size);
        if (!r) throw new Error(`cma-plan: ${s.id} got ${hex(pa)}, outside the regions its rule lists`);
        return { start: pa, size, region: r, release: () => cmaFree(m.kernel, pa) };
      } catch (e) {
        if (!isKernelError(e, "ENOMEM") && !isKernelError(e, "EBUSY")) throw e;
        return { errno: e.errno };
      }
  }
}

/**
 * Replays `workload` on a booted machine `m` (see `bootForPlan`); the machine is left as the
 * workload left it. Throws `CmaPlanError` for a step whose region or device the board lacks
 * (before allocating anything).
 */
export function replayOn(m: Machine, workload: CmaPlanWorkload, opts: ReplayOpts = {}): CmaPlanReplay {
  const regions = new Map<string, RegionState>();
  for (const c of m.stats().cma) {
    const cma = m.cmaRegion(c.name);
    regions.set(c.name, {
      name: c.name,
      cma,
      mem: { name: c.name, base: c.base, size: c.size },
      origin: c.origin,
      allocations: 0,
      failures: 0,
      peakUsed: usedBytes(cma),
      peakAt: null,
      worst: null,
      live: new Map(),
    });
  }
  const elsewhere = new Map<string, ElsewhereState>();
  const plan = routes(m, regions, elsewhere, workload);
  const collect = opts.intervals ?? true;
  const builder = collect ? new IntervalBuilder([...regions.values()].map((r) => r.mem)) : null;
  const live = new Map<string, Live>();
  const liveElsewhere = new Map<string, { entry: ElsewhereState; size: number }>();
  const failures: CmaPlanFailure[] = [];
  const stopIn = opts.stopOnFailureIn;
  let replayed = 0;
  let tEnd = 0;

  const record = (s: CmaPlanStep, i: number, got: Exclude<Got, { errno: string }>) => {
    const r = got.region;
    const interval: AllocInterval = {
      region: r.name,
      start: got.start,
      size: got.size,
      tStart: s.t,
      tEnd: null,
      owner: s.dev,
      label: `${s.id}${s.type ? ` (${s.type})` : ""}, ${got.size} bytes`,
    };
    const l: Live = { region: r, start: got.start, size: got.size, release: got.release, interval };
    live.set(s.id, l);
    r.live.set(s.id, l);
    r.allocations++;
    builder?.alloc({
      region: r.name,
      start: got.start,
      size: got.size,
      t: s.t,
      owner: s.dev,
      label: interval.label!,
    });
    const used = usedBytes(r.cma);
    if (used > r.peakUsed || r.peakAt === null) {
      r.peakUsed = Math.max(used, r.peakUsed);
      r.peakAt = s.t;
      if (r.worst?.reason !== "failure") r.worst = moment(r, s.t, i, "peak");
    }
  };

  for (let i = 0; i < workload.steps.length; i++) {
    const s = workload.steps[i]!;
    tEnd = s.t;
    replayed = i + 1;
    if (s.op === "free") {
      const out = liveElsewhere.get(s.id);
      if (out) {
        liveElsewhere.delete(s.id);
        out.entry.size -= out.size;
        continue;
      }
      const l = live.get(s.id);
      if (!l) continue; // its allocation failed
      live.delete(s.id);
      l.region.live.delete(s.id);
      l.release();
      builder?.free({ region: l.region.name, start: l.start, t: s.t });
      continue;
    }
    const route = plan[i]!;
    if (route.kind === "elsewhere") {
      const e = route.entry;
      const size = pageBytes(s.size);
      e.allocations++;
      e.size += size;
      e.peakSize = Math.max(e.peakSize, e.size);
      liveElsewhere.set(s.id, { entry: e, size });
      continue;
    }
    const got = allocate(m, s, route);
    if (!("errno" in got)) {
      record(s, i, got);
      continue;
    }
    const tried = route.kind === "map" ? route.regions : [route.region];
    failures.push({
      step: i,
      t: s.t,
      id: s.id,
      dev: s.dev,
      type: route.kind === "map" ? (s.type ?? null) : null,
      via: s.via ?? "cma",
      size: s.size,
      align: alignmentOf(s, route),
      errno: got.errno,
      regions: tried.map(stateOf),
    });
    for (const r of tried) {
      r.failures++;
      if (r.worst?.reason !== "failure") r.worst = moment(r, s.t, i, "failure");
    }
    if (stopIn !== undefined && tried.some((r) => r.name === stopIn)) break;
  }

  const intervals = builder?.intervals() ?? [];
  // give everything back, newest first, so that the machine shuts down clean
  for (const [id, l] of [...live].reverse()) {
    live.delete(id);
    l.region.live.delete(id);
    l.release();
  }
  const stats: CmaPlanRegionStats[] = [...regions.values()]
    .sort((a, b) => a.mem.base - b.mem.base)
    .map((r) => ({
      name: r.name,
      origin: r.origin,
      base: r.mem.base,
      size: r.mem.size,
      reusable: r.cma.reusable,
      allocations: r.allocations,
      failures: r.failures,
      peakUsed: r.peakUsed,
      peakAt: r.peakAt,
      worst: r.worst,
    }));
  const outside: CmaPlanElsewhere[] = [...elsewhere.values()]
    .filter((e) => e.allocations > 0)
    .map(({ dev, via, allocations, peakSize }) => ({ dev, via, allocations, peakSize }));
  return { board: m.board.name, regions: stats, failures, elsewhere: outside, intervals, tEnd, replayed };
}

/**
 * Replays `workload` on `board`: boots it (`bootForPlan`), replays, gives every live allocation
 * back and shuts the machine down. Throws `CmaPlanError` for a board that does not boot or a step
 * the board cannot route.
 */
export function replayWorkload(
  board: BoardDescription,
  workload: CmaPlanWorkload,
  opts: ReplayOpts = {},
): CmaPlanReplay {
  let m: Machine;
  try {
    m = bootForPlan(board, opts.seed ?? 1);
  } catch (e) {
    if (isKernelError(e)) throw new CmaPlanError(`board ${board.name} does not boot: ${e.message}`);
    throw e;
  }
  try {
    return replayOn(m, workload, opts);
  } finally {
    m.shutdown();
  }
}
