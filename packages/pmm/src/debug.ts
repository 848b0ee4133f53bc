/**
 * What the pools hold: `pmmInfo` (sizes and free bytes per type), `pmmItems` (the RFC's item
 * list: areas and holes in address order), the operation log, and the RFC's debugfs files
 * (`CONFIG_PMM_DEBUG_FS`: `pmm/items`, `pmm/types/count`, `pmm/types/<n>`, `pmm/operation`).
 *
 * @module
 */
import { hex, type Kernel, KernelError } from "@umm/kernel-core";
import { pmmHoles } from "./allocator.js";
import { opLogEntries, type PmmOperation, type PmmState, pmmState } from "./state.js";
import { PMM_HOLE, PMM_ITEM_LAST } from "./types.js";

/** One memory type's pool, as `pmmInfo` reports it. */
export interface PmmTypeInfo {
  /** the type bit */
  readonly type: number;
  readonly name: string;
  /** physical start of the pool (0 when none) */
  readonly base: number;
  /** bytes in the pool (0 when none was reserved) */
  readonly size: number;
  /** bytes not in any area */
  readonly free: number;
  /** the largest hole */
  readonly largestHole: number;
  /** live areas */
  readonly areas: number;
  /** allocatable from /dev/pmm */
  readonly user: boolean;
  /** highest bus address allowed, or null */
  readonly busLimit: number | null;
  /** bus window size the pool stays in, or null */
  readonly boundary: number | null;
  /** `dma_pfn_offset` of the devices the pool serves */
  readonly dmaPfnOffset: number;
}

/** All pools, as `pmmInfo` reports them. */
export interface PmmInfo {
  /** bytes in every pool */
  readonly size: number;
  /** bytes free in every pool */
  readonly free: number;
  /** OR of the defined type bits (`PMM_MEM_ANY` for this platform) */
  readonly typesMask: number;
  /** `PMM_USER_MEMORY_TYPES_MASK` */
  readonly userMask: number;
  /** per type, lowest bit first */
  readonly types: readonly PmmTypeInfo[];
}

/** Sizes and free bytes of every pool. A `KernelBug` before `pmmReserve`/`pmmInit`. */
export function pmmInfo(kernel: Kernel): PmmInfo {
  const st = pmmState(kernel);
  let size = 0;
  let free = 0;
  const types = st.types.map((t): PmmTypeInfo => {
    const r = t.region;
    const holes = r ? pmmHoles(r) : [];
    let areas = 0;
    for (const a of st.areas.values()) if (a.type === t) areas++;
    size += r ? t.size : 0;
    free += r ? r.free : 0;
    return {
      type: t.bit,
      name: t.name,
      base: r ? t.base : 0,
      size: r ? t.size : 0,
      free: r ? r.free : 0,
      largestHole: holes.reduce((m, h) => Math.max(m, h.size), 0),
      areas,
      user: t.user,
      busLimit: t.busLimit,
      boundary: t.boundary,
      dmaPfnOffset: t.dmaPfnOffset,
    };
  });
  return { size, free, typesMask: st.typesMask, userMask: st.userMask, types };
}

/** One item of a pool (`struct pmm_item`): an area or a hole. */
export interface PmmItem {
  readonly kind: "area" | "hole";
  /** physical start */
  readonly start: number;
  /** bytes */
  readonly size: number;
  /** the pool's type bit */
  readonly type: number;
  /** item flags: PMM_HOLE for holes, PMM_ITEM_LAST for the item ending the pool, PMM_NO_CACHE */
  readonly flags: number;
  /** references of an area (0 for a hole) */
  readonly refcount: number;
}

function itemsOf(st: PmmState): PmmItem[] {
  const out: PmmItem[] = [];
  for (const t of st.types) {
    const r = t.region;
    if (!r) continue;
    const end = r.end;
    for (const h of pmmHoles(r)) {
      const last = h.start + h.size === end ? PMM_ITEM_LAST : 0;
      out.push({
        kind: "hole",
        start: h.start,
        size: h.size,
        type: t.bit,
        flags: (PMM_HOLE | last) >>> 0,
        refcount: 0,
      });
    }
  }
  for (const a of st.areas.values()) {
    const last = a.start + a.size === a.type.region!.end ? PMM_ITEM_LAST : 0;
    out.push({
      kind: "area",
      start: a.start,
      size: a.size,
      type: a.type.bit,
      flags: ((a.flags & ~PMM_ITEM_LAST) | last) >>> 0,
      refcount: a.kref.count,
    });
  }
  return out.sort((x, y) => x.start - y.start);
}

/**
 * Every item of every pool in address order: areas and holes tile each pool exactly, and no two
 * holes touch (they merge). A `KernelBug` before `pmmReserve`/`pmmInit`.
 */
export function pmmItems(kernel: Kernel): PmmItem[] {
  return itemsOf(pmmState(kernel));
}

/** The operation log (`CONFIG_PMM_DEBUG_OPERATIONS`), oldest first. */
export function pmmOperationLog(kernel: Kernel): PmmOperation[] {
  return opLogEntries(pmmState(kernel));
}

const hex8 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

/**
 * Reads a PMM debugfs file: `items` (one line per item: `start end size kind type flags refs`),
 * `types/count`, `types/<n>` (the n-th type of the table: `name type start size free`) or
 * `operation` (the log: `timestamp pid op required_size size start`). ENOENT for another path.
 */
export function pmmDebugfsRead(kernel: Kernel, path: string): string {
  const st = pmmState(kernel);
  const p = path.replace(/^\/?(?:sys\/kernel\/debug\/)?(?:pmm\/)?/, "");
  if (p === "items") {
    return itemsOf(st)
      .map(
        (i) =>
          `${hex8(i.start)} ${hex8(i.start + i.size)} ${String(i.size).padStart(10)} ${i.kind} type=${hex(i.type)} flags=${hex8(i.flags)} refs=${i.refcount}\n`,
      )
      .join("");
  }
  if (p === "types/count") return `${st.types.length}\n`;
  const m = /^types\/(\d+)$/.exec(p);
  if (m) {
    const t = st.types[Number(m[1])];
    if (!t) throw new KernelError("ENOENT", `pmm debugfs: ${path}: no type ${m[1]}`);
    const r = t.region;
    return `${t.name} type=${hex(t.bit)} start=${hex8(r ? t.base : 0)} size=${r ? t.size : 0} free=${r ? r.free : 0}\n`;
  }
  if (p === "operation") {
    return opLogEntries(st)
      .map((o) => `${o.timestamp} ${o.pid} ${o.op} ${o.requiredSize} ${o.size} ${hex8(o.start)}\n`)
      .join("");
  }
  throw new KernelError("ENOENT", `pmm debugfs: no file ${JSON.stringify(path)}`);
}
