/**
 * DMA-API debug (kernel/dma/debug.c, CONFIG_DMA_API_DEBUG): a record of every live mapping and
 * allocation, checked at each unmap, free and sync, and at driver unbind. Each misuse is one
 * `dma_debug_error` event carrying the kernel's message ("DMA-API: <driver> <device>: ..."), the
 * device, driver, address, size, direction and the caller's tag; `dmaDebugfs` reads the counters
 * of debugfs `dma-api/`. In strict mode the faulty call throws `KernelError("EINVAL")` with the
 * message instead of going on, and changes nothing (a map is undone first).
 *
 * Enable it at boot, before the first mapping: mappings made before `dmaDebugInit` are unknown to
 * it and their unmap reads as "not allocated".
 *
 * @module
 */
import {
  type Device,
  defineSlot,
  hex,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  type Tracepoint,
} from "@umm/kernel-core";
import { mmOf, VMALLOC_END, VMALLOC_START } from "@umm/mm-core";
import { cpuOrNull } from "./arch.js";
import { type SgEntry, sgPhys } from "./scatterlist.js";
import "./trace.js";
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_DIRECTION_NAMES,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  type DmaDataDirection,
} from "./types.js";

/** Options of `dmaDebugInit`. */
export interface DmaDebugOpts {
  /** throw `KernelError("EINVAL")` from the faulty call (default false: report and go on) */
  readonly strict?: boolean;
  /**
   * report every error (debugfs `all_errors`; default true: events are the report, and a test
   * wants each one); false: only the first `numErrors`
   */
  readonly allErrors?: boolean;
  /** errors reported when `allErrors` is false (debugfs `num_errors`, default 1) */
  readonly numErrors?: number;
  /** report only errors of devices bound to this driver (debugfs `driver_filter`) */
  readonly driverFilter?: string;
  /** preallocated entries (`dma_debug_entries=`, default 65536); more are made on demand */
  readonly entries?: number;
}

/** debugfs `dma-api/`. */
export interface DmaDebugfs {
  readonly disabled: boolean;
  /** errors found so far (shown or not) */
  readonly error_count: number;
  readonly all_errors: boolean;
  /** errors still to be shown when `all_errors` is off */
  readonly num_errors: number;
  /** entries not in use */
  readonly num_free_entries: number;
  /** the fewest free entries there ever were */
  readonly min_free_entries: number;
  /** entries allocated */
  readonly nr_total_entries: number;
  readonly driver_filter: string;
}

/** What DMA-API debug records of a mapping (one line of debugfs `dump`). */
export interface DmaDebugEntry {
  readonly device: string;
  /** "single", "scatter-gather", "coherent", "resource" or "noncoherent" */
  readonly type: string;
  readonly paddr: number;
  readonly devAddr: number;
  readonly size: number;
  readonly dir: string;
  /** "not-checked", "checked" or "n/a": whether dmaMappingError saw the address */
  readonly mapErr: string;
  /** the tag of the call that made it */
  readonly tag: string;
}

type EntryType = "single" | "sg" | "coherent" | "resource" | "noncoherent";
const TYPE_NAME: Record<EntryType, string> = {
  single: "single",
  sg: "scatter-gather",
  coherent: "coherent",
  resource: "resource",
  noncoherent: "noncoherent",
};
const MAP_ERR_NA = 0;
const MAP_ERR_NOT_CHECKED = 1;
const MAP_ERR_CHECKED = 2;

/** A reference to a mapping, as a call describes it. @internal */
export interface DebugRef {
  readonly dev: Device;
  readonly type: EntryType;
  readonly paddr: number;
  readonly devAddr: number;
  readonly size: number;
  readonly dir: DmaDataDirection;
  readonly sgCallEnts: number;
}

interface Entry extends DebugRef {
  sgMappedEnts: number;
  mapErr: number;
  readonly tag: string;
  /** the cacheline tracked, or -1 */
  cln: number;
}

/** @internal */
export interface DebugState {
  readonly kernel: Kernel;
  readonly strict: boolean;
  allErrors: boolean;
  numErrors: number;
  driverFilter: string;
  errorCount: number;
  totalEntries: number;
  freeEntries: number;
  minFree: number;
  readonly byDev: Map<Device, Map<number, Entry[]>>;
  readonly cachelines: Map<number, number>;
  readonly lineSize: number;
  readonly lastDriver: WeakMap<Device, string>;
  readonly tp: Tracepoint<"dma_debug_error">;
  readonly unsubscribe: () => void;
}

const DEBUG = defineSlot<DebugState>("dma-debug");

/** `PREALLOC_DMA_DEBUG_ENTRIES` */
const PREALLOC = 1 << 16;
/** entries made at once when the free list runs dry (`DMA_DEBUG_DYNAMIC_ENTRIES`) */
const DYNAMIC = 32;
/** `ACTIVE_CACHELINE_MAX_OVERLAP` */
const MAX_OVERLAP = 7;

/**
 * `dma_debug_init`: turns DMA-API debug on for `kernel` and listens for driver unbinds (a device
 * released with mappings left is reported; never thrown, since a bus notifier must not throw).
 * EBUSY when it is on already; EINVAL for a bad option.
 */
export function dmaDebugInit(kernel: Kernel, opts: DmaDebugOpts = {}): void {
  if (kernel.trySlot(DEBUG))
    throw new KernelError("EBUSY", `dma-debug is already on for kernel "${kernel.name}"`);
  const entries = opts.entries ?? PREALLOC;
  if (!Number.isSafeInteger(entries) || entries < 1)
    throw new KernelError("EINVAL", `dma-debug: entries ${entries}`);
  const numErrors = opts.numErrors ?? 1;
  if (!Number.isSafeInteger(numErrors) || numErrors < 0) {
    throw new KernelError("EINVAL", `dma-debug: numErrors ${numErrors}`);
  }
  const cpu = cpuOrNull(mmOf(kernel));
  const lastDriver = new WeakMap<Device, string>();
  let st: DebugState | null = null;
  const unsubscribe = kernel.onDeviceEvent((event, dev) => {
    if (event === "bind_driver" || event === "unbind_driver") {
      if (dev.driver) lastDriver.set(dev, dev.driver.name);
    } else if (event === "unbound_driver" && st) {
      checkUnbound(st, dev);
    }
  });
  st = {
    kernel,
    strict: opts.strict ?? false,
    allErrors: opts.allErrors ?? true,
    numErrors,
    driverFilter: opts.driverFilter ?? "",
    errorCount: 0,
    totalEntries: entries,
    freeEntries: entries,
    minFree: entries,
    byDev: new Map(),
    cachelines: new Map(),
    lineSize: cpu?.lineSize ?? 32,
    lastDriver,
    tp: kernel.trace.tracepoint("dma_debug_error"),
    unsubscribe,
  };
  kernel.setSlot(DEBUG, st);
}

/** Turns DMA-API debug off for `kernel` (forgets every entry). ENODEV when it is off. */
export function dmaDebugExit(kernel: Kernel): void {
  const st = kernel.trySlot(DEBUG);
  if (!st) throw new KernelError("ENODEV", `dma-debug is off for kernel "${kernel.name}"`);
  st.unsubscribe();
  kernel.clearSlot(DEBUG);
}

/** The debugfs counters; ENODEV when DMA-API debug is off. */
export function dmaDebugfs(kernel: Kernel): DmaDebugfs {
  const st = kernel.trySlot(DEBUG);
  if (!st) throw new KernelError("ENODEV", `dma-debug is off for kernel "${kernel.name}"`);
  return {
    disabled: false,
    error_count: st.errorCount,
    all_errors: st.allErrors,
    num_errors: st.numErrors,
    num_free_entries: st.freeEntries,
    min_free_entries: st.minFree,
    nr_total_entries: st.totalEntries,
    driver_filter: st.driverFilter,
  };
}

/**
 * Writes a debugfs knob: `all_errors`, `num_errors` or `driver_filter`. ENODEV when DMA-API debug
 * is off; EINVAL for another file or a bad value.
 */
export function dmaDebugfsWrite(kernel: Kernel, file: string, value: string | number | boolean): void {
  const st = kernel.trySlot(DEBUG);
  if (!st) throw new KernelError("ENODEV", `dma-debug is off for kernel "${kernel.name}"`);
  if (file === "all_errors") st.allErrors = value === true || value === 1 || value === "1";
  else if (file === "num_errors") {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new KernelError("EINVAL", `num_errors: ${String(value)}`);
    st.numErrors = n;
  } else if (file === "driver_filter") st.driverFilter = String(value).trim();
  else throw new KernelError("EINVAL", `dma-api/${file} is not writable`);
}

/** debugfs `dump`: every live entry, device by device; ENODEV when DMA-API debug is off. */
export function dmaDebugEntries(kernel: Kernel, dev?: Device): DmaDebugEntry[] {
  const st = kernel.trySlot(DEBUG);
  if (!st) throw new KernelError("ENODEV", `dma-debug is off for kernel "${kernel.name}"`);
  const out: DmaDebugEntry[] = [];
  for (const [d, m] of st.byDev) {
    if (dev && d !== dev) continue;
    for (const list of m.values()) {
      for (const e of list) {
        out.push({
          device: d.name,
          type: TYPE_NAME[e.type],
          paddr: e.paddr,
          devAddr: e.devAddr,
          size: e.size,
          dir: DMA_DIRECTION_NAMES[e.dir]!,
          mapErr:
            e.mapErr === MAP_ERR_CHECKED
              ? "checked"
              : e.mapErr === MAP_ERR_NOT_CHECKED
                ? "not-checked"
                : "n/a",
          tag: e.tag,
        });
      }
    }
  }
  return out;
}

/** The debug state of `kernel`, or undefined when DMA-API debug is off. @internal */
export function debugOf(kernel: Kernel): DebugState | undefined {
  return kernel.trySlot(DEBUG);
}

// ---- reporting ----

function driverString(dev: Device): string {
  return dev.driver?.name ?? dev.bus?.name ?? "";
}

/** The tag of a call: the caller's, else the bound driver's name. @internal */
export function callerTag(dev: Device, tag: string | undefined): string {
  return tag ?? dev.driver?.name ?? "";
}

function report(
  st: DebugState,
  check: string,
  dev: Device,
  at: { devAddr: number; size: number; dir: number },
  entry: Entry | null,
  msg: string,
  tag: string,
  opts: { driver?: string; mayThrow?: boolean } = {},
): void {
  st.errorCount++;
  const driver = opts.driver ?? driverString(dev);
  const shown = (!st.driverFilter || driver === st.driverFilter) && (st.allErrors || st.numErrors > 0);
  if (!st.allErrors && st.numErrors > 0) st.numErrors--;
  const message = `DMA-API: ${driver} ${dev.name}: ${msg}`;
  if (shown && st.tp.enabled) {
    st.tp.emit({
      check,
      device: dev.name,
      driver,
      dev_addr: at.devAddr === DMA_MAPPING_ERROR ? 0 : Math.max(at.devAddr, 0),
      size: at.size,
      dir: DMA_DIRECTION_NAMES[at.dir] ?? String(at.dir),
      tag,
      mapped_by: entry?.tag ?? "",
      message,
    });
  }
  if (st.strict && opts.mayThrow !== false) throw new KernelError("EINVAL", message);
}

const a16 = (x: number): string => `0x${Math.max(x, 0).toString(16).padStart(16, "0")}`;
const dirName = (d: number): string => DMA_DIRECTION_NAMES[d] ?? String(d);

// ---- the hash of entries ----

function bucket(st: DebugState, dev: Device, devAddr: number): Entry[] | undefined {
  return st.byDev.get(dev)?.get(devAddr);
}

/** `bucket_find_exact`: the best-fitting entry at the same address, null when ambiguous or none. */
function findExact(st: DebugState, ref: DebugRef): Entry | null {
  const list = bucket(st, ref.dev, ref.devAddr);
  if (!list) return null;
  let best: Entry | null = null;
  let bestLvl = -1;
  for (const e of list) {
    const lvl =
      (e.size === ref.size ? 1 : 0) +
      (e.type === ref.type ? 1 : 0) +
      (e.dir === ref.dir ? 1 : 0) +
      (e.sgCallEnts === ref.sgCallEnts ? 1 : 0);
    if (lvl === 4) return e;
    if (lvl > bestLvl) {
      bestLvl = lvl;
      best = e;
    }
  }
  return list.length === 1 ? best : null;
}

/** `bucket_find_contain`: an entry of the device whose range contains `ref.devAddr`. */
function findContaining(st: DebugState, ref: DebugRef): Entry | null {
  const exact = findExact(st, ref);
  if (exact) return exact;
  const m = st.byDev.get(ref.dev);
  if (!m) return null;
  for (const list of m.values()) {
    for (const e of list) if (e.devAddr <= ref.devAddr && ref.devAddr < e.devAddr + e.size) return e;
  }
  return null;
}

function cachelineOf(st: DebugState, paddr: number): number {
  return Math.floor(paddr / st.lineSize);
}

/** The overlap error `add_dma_entry` would report for a new entry, checked before adding it. */
function checkOverlap(st: DebugState, e: DebugRef, attrs: number, tag: string): void {
  if (e.dir === DMA_TO_DEVICE || e.type === "resource") return;
  const cln = cachelineOf(st, e.paddr);
  const overlap = st.cachelines.get(cln);
  if (overlap === undefined) return;
  if (overlap + 1 > MAX_OVERLAP) {
    report(
      st,
      "cacheline-overflow",
      e.dev,
      e,
      null,
      `exceeded ${MAX_OVERLAP} overlapping mappings of cacheline ${hex(cln * st.lineSize)}`,
      tag,
    );
  }
  if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) {
    report(
      st,
      "cacheline-overlap",
      e.dev,
      e,
      null,
      "cacheline tracking EEXIST, overlapping mappings aren't supported",
      tag,
    );
  }
}

/** `add_dma_entry` (after `checkOverlap`). */
function addEntry(st: DebugState, ref: DebugRef, mapErr: number, mappedEnts: number, tag: string): void {
  if (st.freeEntries === 0) {
    st.totalEntries += DYNAMIC;
    st.freeEntries += DYNAMIC;
  }
  st.freeEntries--;
  if (st.freeEntries < st.minFree) st.minFree = st.freeEntries;
  let cln = -1;
  if (ref.dir !== DMA_TO_DEVICE && ref.type !== "resource") {
    cln = cachelineOf(st, ref.paddr);
    const o = st.cachelines.get(cln);
    st.cachelines.set(cln, o === undefined ? 0 : o + 1);
  }
  const e: Entry = { ...ref, sgMappedEnts: mappedEnts, mapErr, tag, cln };
  let m = st.byDev.get(ref.dev);
  if (!m) {
    m = new Map();
    st.byDev.set(ref.dev, m);
  }
  const list = m.get(ref.devAddr);
  if (list) list.push(e);
  else m.set(ref.devAddr, [e]);
}

/** `hash_bucket_del` + `dma_entry_free` + `active_cacheline_remove`. */
function removeEntry(st: DebugState, e: Entry): void {
  const m = st.byDev.get(e.dev);
  const list = m?.get(e.devAddr);
  const i = list?.indexOf(e) ?? -1;
  if (!m || !list || i < 0) return;
  list.splice(i, 1);
  if (list.length === 0) m.delete(e.devAddr);
  if (m.size === 0) st.byDev.delete(e.dev);
  st.freeEntries++;
  if (e.cln >= 0) {
    const o = st.cachelines.get(e.cln) ?? 0;
    if (o <= 0) st.cachelines.delete(e.cln);
    else st.cachelines.set(e.cln, o - 1);
  }
}

// ---- the checks ----

/** `debug_dma_map_single`: mapping memory from the vmalloc area or no valid kernel address. @internal */
export function debugMapSingle(st: DebugState, dev: Device, kaddr: number, size: number, tag: string): void {
  const k = mmOf(dev.kernel).kspace;
  const at = { devAddr: 0, size, dir: DMA_BIDIRECTIONAL };
  if (!k.isLinear(kaddr)) {
    report(
      st,
      "map-invalid-area",
      dev,
      at,
      null,
      `device driver maps memory from invalid area [addr=${hex(kaddr)}] [len=${size}]`,
      tag,
    );
  }
  if (kaddr >= VMALLOC_START && kaddr < VMALLOC_END) {
    report(
      st,
      "map-vmalloc",
      dev,
      at,
      null,
      `device driver maps memory from vmalloc area [addr=${hex(kaddr)}] [len=${size}]`,
      tag,
    );
  }
}

/**
 * `debug_dma_map_page` / `debug_dma_map_resource`: records a successful map (checking cacheline
 * overlap first; in strict mode a throw leaves nothing recorded). @internal
 */
export function debugMap(
  st: DebugState,
  dev: Device,
  type: "single" | "resource",
  paddr: number,
  devAddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
  tag: string,
): void {
  if (devAddr === DMA_MAPPING_ERROR) return;
  const ref: DebugRef = { dev, type, paddr, devAddr, size, dir, sgCallEnts: 0 };
  checkOverlap(st, ref, attrs, tag);
  addEntry(st, ref, MAP_ERR_NOT_CHECKED, 0, tag);
}

/**
 * `debug_dma_map_sg`: checks each mapped segment against the device's max segment size and
 * segment boundary and for cacheline overlap, then records them. In strict mode the first error
 * throws before anything is recorded. @internal
 */
export function debugMapSg(
  st: DebugState,
  dev: Device,
  sg: readonly SgEntry[],
  nents: number,
  mappedEnts: number,
  dir: DmaDataDirection,
  attrs: number,
  tag: string,
): void {
  const max = dev.dmaParms.maxSegmentSize;
  const boundary = dev.dmaParms.segmentBoundaryMask;
  const refs: DebugRef[] = [];
  for (let i = 0; i < mappedEnts; i++) {
    const s = sg[i]!;
    const ref = sgRef(dev, s, dir, nents);
    if (s.length > max) {
      report(
        st,
        "sg-segment-length",
        dev,
        ref,
        null,
        `mapping sg segment longer than device claims to support [len=${s.length}] [max=${max}]`,
        tag,
      );
    }
    const start = s.dmaAddress;
    const end = start + s.dmaLength - 1;
    if (s.dmaLength > 0 && Math.floor(start / (boundary + 1)) !== Math.floor(end / (boundary + 1))) {
      report(
        st,
        "sg-segment-boundary",
        dev,
        ref,
        null,
        `mapping sg segment across boundary [start=${a16(start)}] [end=${a16(end)}] [boundary=${a16(boundary)}]`,
        tag,
      );
    }
    checkOverlap(st, ref, attrs, tag);
    refs.push(ref);
  }
  for (const ref of refs) addEntry(st, ref, MAP_ERR_NA, mappedEnts, tag);
}

/** `debug_dma_alloc_coherent` / `debug_dma_alloc_pages`: records an allocation. @internal */
export function debugAlloc(
  st: DebugState,
  dev: Device,
  type: "coherent" | "noncoherent",
  paddr: number,
  devAddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
  tag: string,
): void {
  const ref: DebugRef = { dev, type, paddr, devAddr, size, dir, sgCallEnts: 0 };
  checkOverlap(st, ref, attrs, tag);
  addEntry(st, ref, MAP_ERR_NA, 0, tag);
}

/**
 * `check_unmap`: checks an unmap or free against the entry it names and returns the entry (to be
 * removed with `debugForget` once the unmap succeeded), or null when there is none. @internal
 */
export function debugCheckUnmap(st: DebugState, ref: DebugRef, tag: string): Entry | null {
  const dev = ref.dev;
  const entry = findExact(st, ref);
  if (!entry) {
    if (ref.devAddr === DMA_MAPPING_ERROR) {
      report(
        st,
        "unmap-invalid-address",
        dev,
        ref,
        null,
        "device driver tries to free an invalid DMA memory address",
        tag,
      );
    } else {
      report(
        st,
        "unmap-unknown",
        dev,
        ref,
        null,
        `device driver tries to free DMA memory it has not allocated [device address=${a16(ref.devAddr)}] [size=${ref.size} bytes]`,
        tag,
      );
    }
    return null;
  }
  if (ref.size !== entry.size) {
    report(
      st,
      "unmap-size",
      dev,
      ref,
      entry,
      `device driver frees DMA memory with different size [device address=${a16(ref.devAddr)}] [map size=${entry.size} bytes] [unmap size=${ref.size} bytes]`,
      tag,
    );
  }
  if (ref.type !== entry.type) {
    report(
      st,
      "unmap-function",
      dev,
      ref,
      entry,
      `device driver frees DMA memory with wrong function [device address=${a16(ref.devAddr)}] [size=${ref.size} bytes] [mapped as ${TYPE_NAME[entry.type]}] [unmapped as ${TYPE_NAME[ref.type]}]`,
      tag,
    );
  } else if (entry.type === "coherent" && ref.paddr !== entry.paddr) {
    report(
      st,
      "free-cpu-address",
      dev,
      ref,
      entry,
      `device driver frees DMA memory with different CPU address [device address=${a16(ref.devAddr)}] [size=${ref.size} bytes] [cpu alloc address=${hex(entry.paddr)}] [cpu free address=${hex(ref.paddr)}]`,
      tag,
    );
  }
  if (ref.sgCallEnts && ref.type === "sg" && ref.sgCallEnts !== entry.sgCallEnts) {
    report(
      st,
      "unmap-sg-count",
      dev,
      ref,
      entry,
      `device driver frees DMA sg list with different entry count [map count=${entry.sgCallEnts}] [unmap count=${ref.sgCallEnts}]`,
      tag,
    );
  }
  if (ref.dir !== entry.dir) {
    report(
      st,
      "unmap-direction",
      dev,
      ref,
      entry,
      `device driver frees DMA memory with different direction [device address=${a16(ref.devAddr)}] [size=${ref.size} bytes] [mapped with ${dirName(entry.dir)}] [unmapped with ${dirName(ref.dir)}]`,
      tag,
    );
  }
  if (entry.mapErr === MAP_ERR_NOT_CHECKED) {
    report(
      st,
      "map-error-unchecked",
      dev,
      ref,
      entry,
      `device driver failed to check map error [device address=${a16(ref.devAddr)}] [size=${ref.size} bytes] [mapped as ${TYPE_NAME[entry.type]}]`,
      tag,
    );
  }
  return entry;
}

/** Forgets entries a successful unmap or free released. @internal */
export function debugForget(st: DebugState, entries: readonly (Entry | null)[]): void {
  for (const e of entries) if (e) removeEntry(st, e);
}

/** The reference of mapped segment `s` of an sg call of `nents` entries. */
function sgRef(dev: Device, s: SgEntry, dir: DmaDataDirection, nents: number): DebugRef {
  return {
    dev,
    type: "sg",
    paddr: sgPhys(s),
    devAddr: s.dmaAddress,
    size: s.dmaLength,
    dir,
    sgCallEnts: nents,
  };
}

/**
 * `debug_dma_unmap_sg` / `debug_dma_sync_sg_*`: the references of the segments an sg unmap or sync
 * names (as many as the map recorded, found from the first). @internal
 */
export function debugSgRefs(
  st: DebugState,
  dev: Device,
  sg: readonly SgEntry[],
  nelems: number,
  dir: DmaDataDirection,
  forSync: boolean,
): DebugRef[] {
  const refs: DebugRef[] = [];
  let mapped = 0;
  for (let i = 0; i < nelems; i++) {
    const s = sg[i]!;
    const ref = sgRef(dev, s, dir, nelems);
    if (i === 0) mapped = findExact(st, ref)?.sgMappedEnts ?? 0;
    // an unmap checks every entry when the first is unknown (reporting it); a sync checks none
    if ((forSync || mapped) && i >= mapped) break;
    refs.push(ref);
  }
  return refs;
}

/** `check_sync`: a sync against the mapping containing it. @internal */
export function debugCheckSync(st: DebugState, ref: DebugRef, toCpu: boolean, tag: string): void {
  const dev = ref.dev;
  const entry = findContaining(st, ref);
  if (!entry) {
    report(
      st,
      "sync-unknown",
      dev,
      ref,
      null,
      `device driver tries to sync DMA memory it has not allocated [device address=${a16(ref.devAddr)}] [size=${ref.size} bytes]`,
      tag,
    );
    return;
  }
  const reach = ref.devAddr - entry.devAddr + ref.size;
  if (reach > entry.size) {
    report(
      st,
      "sync-range",
      dev,
      ref,
      entry,
      `device driver syncs DMA memory outside allocated range [device address=${a16(entry.devAddr)}] [allocation size=${entry.size} bytes] [sync offset+size=${reach}]`,
      tag,
    );
  }
  if (entry.dir !== DMA_BIDIRECTIONAL) {
    const detail = `[device address=${a16(ref.devAddr)}] [size=${ref.size} bytes] [mapped with ${dirName(entry.dir)}] [synced with ${dirName(ref.dir)}]`;
    if (ref.dir !== entry.dir) {
      report(
        st,
        "sync-direction",
        dev,
        ref,
        entry,
        `device driver syncs DMA memory with different direction ${detail}`,
        tag,
      );
    }
    if (toCpu && entry.dir !== DMA_FROM_DEVICE && ref.dir !== DMA_TO_DEVICE) {
      report(
        st,
        "sync-read-only-for-cpu",
        dev,
        ref,
        entry,
        `device driver syncs device read-only DMA memory for cpu ${detail}`,
        tag,
      );
    }
    if (!toCpu && entry.dir !== DMA_TO_DEVICE && ref.dir !== DMA_FROM_DEVICE) {
      report(
        st,
        "sync-write-only-to-device",
        dev,
        ref,
        entry,
        `device driver syncs device write-only DMA memory to device ${detail}`,
        tag,
      );
    }
  }
  if (ref.sgCallEnts && ref.type === "sg" && ref.sgCallEnts !== entry.sgCallEnts) {
    report(
      st,
      "sync-sg-count",
      dev,
      ref,
      entry,
      `device driver syncs DMA sg list with different entry count [map count=${entry.sgCallEnts}] [sync count=${ref.sgCallEnts}]`,
      tag,
    );
  }
}

/** `debug_dma_mapping_error`: marks the entry at `devAddr` checked. @internal */
export function debugMappingError(st: DebugState, dev: Device, devAddr: number): void {
  const list = bucket(st, dev, devAddr);
  if (!list) return;
  for (const e of list) {
    if (e.mapErr === MAP_ERR_NOT_CHECKED) {
      e.mapErr = MAP_ERR_CHECKED;
      return;
    }
  }
}

/** The physical address behind a coherent buffer's kernel address, or null (not tracked). @internal */
export function debugVirtToPhys(kernel: Kernel, kaddr: number): number | null {
  const k = mmOf(kernel).kspace;
  if (k.isLinear(kaddr)) return k.virtToPhys(kaddr);
  if (kaddr >= VMALLOC_START && kaddr < VMALLOC_END) {
    const vma = k.findVma(kaddr);
    if (!vma) return null;
    return vma.pfnAt(kaddr) * PAGE_SIZE + (kaddr % PAGE_SIZE);
  }
  return null;
}

/** `dma_debug_device_change` at BUS_NOTIFY_UNBOUND_DRIVER. */
function checkUnbound(st: DebugState, dev: Device): void {
  const m = st.byDev.get(dev);
  if (!m || m.size === 0) return;
  let count = 0;
  let first: Entry | null = null;
  for (const list of m.values()) {
    for (const e of list) {
      count++;
      first ??= e;
    }
  }
  const e = first!;
  const driver = st.lastDriver.get(dev) ?? driverString(dev);
  report(
    st,
    "unbind-pending",
    dev,
    e,
    e,
    `device driver has pending DMA allocations while released from device [count=${count}]\nOne of leaked entries details: [device address=${a16(e.devAddr)}] [size=${e.size} bytes] [mapped with ${dirName(e.dir)}] [mapped as ${TYPE_NAME[e.type]}]`,
    e.tag,
    { driver, mayThrow: false },
  );
}
