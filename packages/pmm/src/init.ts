/**
 * Setting PMM up, in the kernel's two steps:
 *
 * 1. `pmmReserve(kernel, opts)` — `drivers/s3cmm/pmm-init.c`, at boot before the page allocator
 *    exists: reads `pmm=` and reserves one pool per memory type of the platform table from
 *    memblock (lowmem, inside each type's bus constraints). A pool that cannot be placed is only
 *    logged (`alloc_bootmem_pages_nopanic`).
 * 2. `pmmInit(kernel, opts)` — `module_init` of `drivers/s3cmm/pmm.c`, after
 *    `mm.memblockFreeAll()`: each pool becomes a private mm-cma region managed by the RFC's
 *    allocator (one hole, flags PMM_ITEM_LAST | PMM_HOLE), /dev/pmm is registered, and SysV
 *    sharing is set up.
 *
 * @module
 */
import {
  alignDown,
  hex,
  isPowerOfTwo,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  pageAlign,
} from "@umm/kernel-core";
import { registerChrdev } from "@umm/kernel-process";
import { cmaRegionRegister, cmaRegionUnregister } from "@umm/mm-cma";
import { mmOf } from "@umm/mm-core";
import { pmmAllocator } from "./allocator.js";
import { pmmFileOps } from "./device.js";
import { parsePmmParam } from "./params.js";
import { liveSegments, newShmState, type PmmShmOpts } from "./shm.js";
import { type PmmState, type PmmType, pmmWarn, setPmmState, tryPmmState } from "./state.js";
import { PMM_MAX_SIZE, PMM_MEM_GENERAL, PMM_MEMORY_TYPES_MAX, type PmmMemTypeDesc } from "./types.js";

/** Options of `pmmReserve`. */
export interface PmmReserveOpts {
  /** the kernel command line; `pmm=<size>` sizes the PMM_MEM_GENERAL pool */
  readonly cmdline?: string;
  /**
   * the platform table: one pool per memory type (default: one PMM_MEM_GENERAL pool, as the
   * S3C6410's `mach/pmm-plat.h`)
   */
  readonly types?: readonly PmmMemTypeDesc[];
  /** operation-log entries kept (`CONFIG_PMM_DEBUG_OPERATIONS`; default 1024, 0: no log) */
  readonly opLogSize?: number;
}

const DEFAULT_TYPES: readonly PmmMemTypeDesc[] = [{ type: PMM_MEM_GENERAL, name: "general" }];

function checkDesc(d: PmmMemTypeDesc, general: number | null, seen: Set<number>): PmmType {
  const what = `pmm type ${JSON.stringify(d?.name)}`;
  if (typeof d !== "object" || d === null) throw new KernelError("EINVAL", "pmm: a type is not an object");
  if (typeof d.name !== "string" || d.name.length === 0) {
    throw new KernelError("EINVAL", "pmm: a memory type needs a name");
  }
  if (!Number.isSafeInteger(d.type) || d.type <= 0 || d.type > 0x80000000 || !isPowerOfTwo(d.type)) {
    throw new KernelError("EINVAL", `${what}: type ${hex(d.type)} is not a single bit below 2^32`);
  }
  if (seen.has(d.type)) throw new KernelError("EINVAL", `${what}: type bit ${hex(d.type)} is defined twice`);
  seen.add(d.type);
  const wanted = d.type === PMM_MEM_GENERAL && general !== null ? general : (d.size ?? 0);
  if (!Number.isSafeInteger(wanted) || wanted < 0 || wanted > PMM_MAX_SIZE) {
    throw new KernelError("EINVAL", `${what}: size ${wanted} must be 0..1 GiB`);
  }
  if (d.type !== PMM_MEM_GENERAL && wanted === 0) {
    throw new KernelError("EINVAL", `${what}: a pool other than PMM_MEM_GENERAL needs a size`);
  }
  const size = pageAlign(wanted);
  if (d.busLimit !== undefined && (!Number.isSafeInteger(d.busLimit) || d.busLimit < PAGE_SIZE - 1)) {
    throw new KernelError("EINVAL", `${what}: busLimit ${d.busLimit} is not a bus address`);
  }
  if (d.boundary !== undefined && (!isPowerOfTwo(d.boundary) || d.boundary < PAGE_SIZE)) {
    throw new KernelError("EINVAL", `${what}: boundary ${d.boundary} is not a power of two ≥ 4 KiB`);
  }
  if (d.boundary !== undefined && size > d.boundary) {
    throw new KernelError(
      "EINVAL",
      `${what}: ${hex(size)} bytes cannot fit in one ${hex(d.boundary)} window`,
    );
  }
  const off = d.dmaPfnOffset ?? 0;
  if (!Number.isSafeInteger(off) || off < 0) {
    throw new KernelError("EINVAL", `${what}: dmaPfnOffset ${off} is not a page frame number`);
  }
  if (d.base !== undefined && (!Number.isSafeInteger(d.base) || d.base <= 0 || d.base % PAGE_SIZE !== 0)) {
    throw new KernelError("EINVAL", `${what}: base ${d.base} is not a page-aligned address above 0`);
  }
  return {
    bit: d.type,
    index: Math.round(Math.log2(d.type)),
    name: d.name,
    user: d.user ?? true,
    busLimit: d.busLimit ?? null,
    boundary: d.boundary ?? null,
    dmaPfnOffset: off,
    wanted: size,
    fixedBase: d.base ?? null,
    base: 0,
    size: 0,
    region: null,
    resName: `pmm:${d.name}`,
  };
}

/** The physical windows a pool of type `t` may lie in, lowest first, clipped to `[lo, hi)`. */
function windows(t: PmmType, lo: number, hi: number): { start: number; end: number }[] {
  const off = t.dmaPfnOffset * PAGE_SIZE;
  let start = Math.max(lo, off);
  let end = hi;
  if (t.busLimit !== null) end = Math.min(end, off + t.busLimit + 1);
  if (end <= start) return [];
  if (t.boundary === null) return [{ start, end }];
  const out = [];
  const b = t.boundary;
  for (let w = off + alignDown(start - off, b); w < end; w += b) {
    const s = Math.max(start, w);
    const e = Math.min(end, w + b);
    if (e > s) out.push({ start: s, end: e });
    start = e;
  }
  return out;
}

function fits(t: PmmType, base: number, lo: number, hi: number): boolean {
  return windows(t, lo, hi).some((w) => base >= w.start && base + t.wanted <= w.end);
}

/**
 * `pmm=` and the boot-time reservation: validates the command line and the platform table, then
 * reserves one pool per type (page-aligned, in lowmem, never at physical 0): a fixed `base` as
 * given, otherwise top-down in the lowest window of bus space the type's `busLimit`,
 * `boundary` and `dmaPfnOffset` allow. A pool that cannot be placed is logged (`pmm_warn`) and
 * left out, as the RFC's `alloc_bootmem_pages_nopanic` failure. PMM_MEM_GENERAL without `pmm=`
 * and without a table size has no pool. Must run before `mm.memblockFreeAll()` (EBUSY after, or
 * when PMM was already reserved). EINVAL for a bad `pmm=` (0, above 1 GiB), a type that is not
 * one bit, a bit defined twice, more than 32 types, a size above 1 GiB or missing, a bad
 * constraint, or a fixed base outside the constraints or lowmem — nothing is reserved then.
 */
export function pmmReserve(kernel: Kernel, opts: PmmReserveOpts = {}): void {
  const mm = mmOf(kernel);
  if (tryPmmState(kernel)) throw new KernelError("EBUSY", "pmm_reserve: PMM is already set up");
  if (mm.booted) {
    throw new KernelError("EBUSY", "pmm_reserve: memblock is retired; reserve before memblockFreeAll()");
  }
  const general = parsePmmParam(opts.cmdline ?? "");
  const descs = opts.types ?? DEFAULT_TYPES;
  if (!Array.isArray(descs) || descs.length === 0 || descs.length > PMM_MEMORY_TYPES_MAX) {
    throw new KernelError("EINVAL", `pmm: the platform defines 1..${PMM_MEMORY_TYPES_MAX} memory types`);
  }
  const opLogSize = opts.opLogSize ?? 1024;
  if (!Number.isSafeInteger(opLogSize) || opLogSize < 0) {
    throw new KernelError("EINVAL", `pmm: opLogSize ${opLogSize} must be a non-negative integer`);
  }
  const seen = new Set<number>();
  const types = descs.map((d) => checkDesc(d, general, seen)).sort((a, b) => a.bit - b.bit);
  const lo = Math.max(mm.phys.start, PAGE_SIZE);
  const hi = mm.kspace.lowmemEnd;
  for (const t of types) {
    if (t.fixedBase !== null && !fits(t, t.fixedBase, lo, hi)) {
      throw new KernelError(
        "EINVAL",
        `pmm type "${t.name}": [${hex(t.fixedBase)}, +${hex(t.wanted)}) is outside lowmem or the type's bus constraints`,
      );
    }
  }
  const st = newState(kernel, types, opLogSize);
  for (const t of types) {
    if (t.wanted === 0) continue;
    const base = reserveOne(st, t, lo, hi);
    if (base === null) continue;
    t.base = base;
    t.size = t.wanted;
  }
  install(kernel, st);
}

/**
 * Stores the state and registers the shutdown report — before /dev/pmm creates the process
 * layer, so that at shutdown it runs after the processes were killed and reports only what
 * nobody can release any more.
 */
function install(kernel: Kernel, st: PmmState): void {
  setPmmState(kernel, st);
  kernel.onShutdown("pmm", () => {
    if (st.initialised) pmmShutdown(st);
  });
}

function reserveOne(st: PmmState, t: PmmType, lo: number, hi: number): number | null {
  const mb = st.mm.memblock;
  if (t.fixedBase !== null) {
    try {
      mb.reserve(t.fixedBase, t.wanted, t.resName);
      return t.fixedBase;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      pmmWarn(
        st,
        `pmm: ${t.name}: cannot reserve ${hex(t.wanted)} bytes at ${hex(t.fixedBase)}: ${e.message}`,
      );
      return null;
    }
  }
  for (const w of windows(t, lo, hi)) {
    const base = mb.alloc(t.wanted, PAGE_SIZE, { start: w.start, end: w.end, name: t.resName });
    if (base !== null) return base;
  }
  pmmWarn(st, `pmm: ${t.name}: no room for ${hex(t.wanted)} bytes within its constraints; pool disabled`);
  return null;
}

function newState(kernel: Kernel, types: PmmType[], opLogSize: number): PmmState {
  const t = kernel.trace;
  let typesMask = 0;
  let userMask = 0;
  for (const ty of types) {
    typesMask = (typesMask | ty.bit) >>> 0;
    if (ty.user) userMask = (userMask | ty.bit) >>> 0;
  }
  return {
    kernel,
    mm: mmOf(kernel),
    types,
    typesMask,
    userMask,
    areas: new Map(),
    initialised: false,
    cdev: null,
    shm: null,
    opLog: new Array(opLogSize),
    opLogSize,
    opHead: 0,
    opCount: 0,
    tp: {
      alloc: t.tracepoint("pmm_alloc"),
      failed: t.tracepoint("pmm_alloc_failed"),
      free: t.tracepoint("pmm_free"),
      get: t.tracepoint("pmm_get"),
      put: t.tracepoint("pmm_put"),
      warn: t.tracepoint("pmm_warn"),
    },
  };
}

/** Options of `pmmInit`. */
export interface PmmInitOpts {
  /**
   * `CONFIG_PMM_DEVICE`: register the character device (default true), optionally at another
   * path or with other permissions (default "/dev/pmm", 0o666, root)
   */
  readonly device?:
    | boolean
    | { readonly path?: string; readonly mode?: number; readonly uid?: number; readonly gid?: number };
  /** `CONFIG_PMM_SHM`: SysV sharing with these quotas (default true: the 2009 defaults); false: ENOSYS */
  readonly shm?: boolean | PmmShmOpts;
}

/**
 * The module init of pmm.c: after `mm.memblockFreeAll()`, each reserved pool becomes a private
 * mm-cma region managed by `pmmAllocator`, /dev/pmm is registered and SysV sharing set up.
 * Without an earlier `pmmReserve` PMM starts with no pool (as a kernel booted without `pmm=`).
 * EINVAL before boot finished; EBUSY when PMM is already initialised; EADDRINUSE when a pool
 * overlaps a CMA region; EEXIST when the device path is taken; EINVAL for bad quotas. Nothing
 * is registered when it throws. At kernel shutdown every area and segment still alive is
 * reported as a `pmm_warn` event (transactions never ended are reported by UPBuffer's own step).
 */
export function pmmInit(kernel: Kernel, opts: PmmInitOpts = {}): void {
  const mm = mmOf(kernel);
  if (!mm.booted) throw new KernelError("EINVAL", "pmm_init: call it after memblockFreeAll() (module init)");
  let st = tryPmmState(kernel);
  if (st?.initialised) throw new KernelError("EBUSY", "pmm_init: PMM is already initialised");
  const shmOpt = opts.shm ?? true;
  const shm = shmOpt === false ? null : newShmState(kernel, shmOpt === true ? {} : shmOpt);
  if (!st) {
    st = newState(kernel, [checkDesc({ type: PMM_MEM_GENERAL, name: "general" }, null, new Set())], 1024);
    install(kernel, st);
  }
  const done: PmmType[] = [];
  try {
    for (const t of st.types) {
      if (t.size === 0) continue;
      t.region = cmaRegionRegister(kernel, { name: null, start: t.base, size: t.size, alloc: pmmAllocator });
      done.push(t);
    }
    const dev = opts.device ?? true;
    if (dev !== false) {
      const d = dev === true ? {} : dev;
      st.cdev = registerChrdev(kernel, d.path ?? "/dev/pmm", {
        ops: pmmFileOps(st),
        mode: d.mode ?? 0o666,
        uid: d.uid ?? 0,
        gid: d.gid ?? 0,
      });
    }
  } catch (e) {
    for (const t of done) {
      cmaRegionUnregister(t.region!);
      t.region = null;
    }
    throw e;
  }
  st.shm = shm;
  st.initialised = true;
}

function pmmShutdown(st: PmmState): void {
  for (const a of [...st.areas.values()].sort((x, y) => x.start - y.start)) {
    pmmWarn(
      st,
      `leak: area [${hex(a.start)}, +${hex(a.size)}) of ${a.type.name} (${a.owner}) still has ${a.kref.count} reference(s)`,
    );
  }
  if (st.shm) {
    for (const seg of liveSegments(st.shm)) {
      pmmWarn(
        st,
        `leak: segment ${seg.id} (${seg.file.path}) over ${hex(seg.area.start)}, nattch ${seg.nattch}`,
      );
    }
  }
}
