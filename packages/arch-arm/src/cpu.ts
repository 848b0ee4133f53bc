/**
 * The CPU: loads, stores, fills and copies through address spaces, and the cache maintenance
 * ARMv7 offers (by virtual range, by physical range, whole cache), over the line store of
 * `cache.ts`. `cpuInit` plugs the CPU into mm-core: its `CpuCacheOps` (page zeroing and
 * migration keep the cache honest), the coherency checker as DMA and mapping observer.
 *
 * An access translates its whole range first (EFAULT moves nothing), then handles each physical
 * run by its memory type: cacheable through the cache, write-combine, uncached and device straight
 * to memory.
 *
 * @module
 */
import {
  defineSlot,
  hex,
  isPowerOfTwo,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  Prng,
  SZ_1M,
  SZ_32K,
  type Tracepoint,
} from "@umm/kernel-core";
import {
  type AddressSpace,
  type CpuCacheOps,
  MEMTYPES,
  type Mm,
  MT_CACHEABLE,
  MT_NONE,
  mmOf,
  PAGE_OFFSET,
  type PhysMem,
  RunList,
} from "@umm/mm-core";
import { LINE_DIRTY, LINE_STALE, LINE_VALID, LineCache, WRITER_CPU_DIRECT } from "./cache.js";
import { CoherencyChecker } from "./checker.js";
import "./trace.js";
import type { CacheMode, CacheStats, CpuOpts, LineState } from "./types.js";

const CPU = defineSlot<Cpu>("cpu");

type MaintOp = "clean" | "invalidate" | "flush";

function checkInt(what: string, name: string, x: number): void {
  if (!Number.isSafeInteger(x) || x < 0) {
    throw new KernelError("EINVAL", `${what}: ${name} ${x} is not a non-negative integer`);
  }
}

function checkBuf(what: string, name: string, buf: Uint8Array, off: number, len: number): void {
  if (!(buf instanceof Uint8Array)) throw new KernelError("EINVAL", `${what}: ${name} is not a Uint8Array`);
  if (!Number.isSafeInteger(off) || off < 0 || off > buf.length) {
    throw new KernelError("EINVAL", `${what}: ${name}Off ${off} is outside ${name} (length ${buf.length})`);
  }
  if (!Number.isSafeInteger(len) || len < 0 || off + len > buf.length) {
    throw new KernelError(
      "EINVAL",
      `${what}: len ${len} from ${name}Off ${off} runs past ${name} (length ${buf.length})`,
    );
  }
}

/** The simulated CPU of one kernel, with its data cache. Find it with `cpuOf(kernel)`. */
export class Cpu {
  /** the kernel this CPU belongs to */
  readonly kernel: Kernel;
  /** the kernel's memory management, whose address spaces and DRAM the CPU accesses */
  readonly mm: Mm;
  /** "ideal" (unbounded) or "sized" (evicts) */
  readonly mode: CacheMode;
  /** bytes per cache line */
  readonly lineSize: number;
  /** lines the cache holds at most (Infinity in ideal mode) */
  readonly capacity: number;
  /** the coherency checker: reports, counts, last writers */
  readonly checker: CoherencyChecker;
  /** the `CpuCacheOps` this CPU plugged into mm-core */
  readonly cacheOps: CpuCacheOps;
  readonly #cache: LineCache;
  readonly #phys: PhysMem;
  readonly #runs = new RunList(256);
  readonly #runs2 = new RunList(256);
  #scratch = new Uint8Array(0);
  readonly #word = new Uint8Array(4);
  readonly #wordView = new DataView(this.#word.buffer);
  readonly #tp: {
    access: Tracepoint<"cpu_access">;
    copy: Tracepoint<"cpu_copy">;
    maint: Tracepoint<"cpu_cache_maint">;
  };
  /** @internal undo steps of cpuInit's plugging */
  readonly _unplug: (() => void)[] = [];

  /** @internal use `cpuInit` */
  constructor(kernel: Kernel, mm: Mm, o: Required<Omit<CpuOpts, "seed">> & { rng: Prng }) {
    this.kernel = kernel;
    this.mm = mm;
    this.mode = o.mode;
    this.lineSize = o.lineSize;
    const sized = o.mode === "sized";
    this.#phys = mm.phys;
    this.#cache = new LineCache(mm.phys.banks, o.lineSize, sized, (o.l1Size + o.l2Size) / o.lineSize, o.rng);
    this.capacity = this.#cache.capacity;
    this.checker = new CoherencyChecker(kernel, mm, this.#cache, o.strict, o.maxReports);
    const t = kernel.trace;
    this.#tp = {
      access: t.tracepoint("cpu_access"),
      copy: t.tracepoint("cpu_copy"),
      maint: t.tracepoint("cpu_cache_maint"),
    };
    const cache = this.#cache;
    this.cacheOps = Object.freeze({
      prepareKernelWrite: (paddr: number, len: number): void => {
        cache.invalidate(paddr, len);
        cache.setWriter(paddr, len, WRITER_CPU_DIRECT);
      },
      prepareMove: (srcPaddr: number, dstPaddr: number, len: number): void => {
        cache.flush(srcPaddr, len);
        cache.invalidate(dstPaddr, len);
        cache.setWriter(dstPaddr, len, WRITER_CPU_DIRECT);
      },
    }) satisfies CpuCacheOps;
  }

  // ---- accesses -----------------------------------------------------------------------------

  /**
   * A CPU load of `len` bytes at `va` in `space` into `dst` from `dstOff` (default: the rest of
   * `dst`). Cacheable runs come from the cache (a line already cached is returned even if memory
   * changed since: the stale case, reported as a `stale-read`); others from memory. EFAULT when
   * the range is not readable (nothing moves), EINVAL for bad arguments, EIO for a stale read in
   * strict mode (nothing moves).
   */
  read(space: AddressSpace, va: number, dst: Uint8Array, dstOff = 0, len = dst.length - dstOff): void {
    checkBuf("read", "dst", dst, dstOff, len);
    checkInt("read", "va", va);
    if (len === 0) return;
    const runs = this.#translate(space, va, len, false, this.#runs);
    this.#checkStale(runs);
    if (this.#tp.access.enabled) this.#traceAccess(space, va, runs, false);
    this.#load(runs, dst, dstOff);
  }

  /**
   * A CPU store of `len` bytes of `src` from `srcOff` (default: the rest of `src`) to `va` in
   * `space`. Cacheable runs go into the cache (write-allocate; lines dirty, memory unchanged until
   * a clean or an eviction); others straight to memory. EFAULT when the range is not writable
   * (nothing moves), EINVAL for bad arguments.
   */
  write(space: AddressSpace, va: number, src: Uint8Array, srcOff = 0, len = src.length - srcOff): void {
    checkBuf("write", "src", src, srcOff, len);
    checkInt("write", "va", va);
    if (len === 0) return;
    const runs = this.#translate(space, va, len, true, this.#runs);
    if (this.#tp.access.enabled) this.#traceAccess(space, va, runs, true);
    this.#store(runs, src, srcOff, 0);
  }

  /** `memset`: stores `len` bytes of `value` (0..255) at `va`, as `write` does. */
  fill(space: AddressSpace, va: number, value: number, len: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw new KernelError("EINVAL", `fill: value ${value} is not a byte (0..255)`);
    }
    checkInt("fill", "va", va);
    checkInt("fill", "len", len);
    if (len === 0) return;
    const runs = this.#translate(space, va, len, true, this.#runs);
    if (this.#tp.access.enabled) this.#traceAccess(space, va, runs, true);
    this.#store(runs, null, 0, value);
  }

  /**
   * A CPU `memcpy` (overlap-safe, like memmove) of `len` bytes from `srcVa` in `srcSpace` to
   * `dstVa` in `dstSpace`: a load through the source's memory types, then a store through the
   * destination's. Both ranges are translated before anything moves (EFAULT). Emits `cpu_copy`.
   */
  copy(dstSpace: AddressSpace, dstVa: number, srcSpace: AddressSpace, srcVa: number, len: number): void {
    checkInt("copy", "dstVa", dstVa);
    checkInt("copy", "srcVa", srcVa);
    checkInt("copy", "len", len);
    if (len === 0) return;
    const src = this.#translate(srcSpace, srcVa, len, false, this.#runs2);
    const dst = this.#translate(dstSpace, dstVa, len, true, this.#runs);
    this.#checkStale(src);
    if (this.#tp.access.enabled) {
      this.#traceAccess(srcSpace, srcVa, src, false);
      this.#traceAccess(dstSpace, dstVa, dst, true);
    }
    if (this.#tp.copy.enabled) this.#tp.copy.emit({ size: len });
    if (this.#scratch.length < len) this.#scratch = new Uint8Array(len);
    const tmp = this.#scratch;
    this.#load(src, tmp, 0);
    this.#store(dst, tmp, 0, 0);
  }

  /** A little-endian 32-bit load at `va` (see `read`). */
  read32(space: AddressSpace, va: number): number {
    this.read(space, va, this.#word, 0, 4);
    return this.#wordView.getUint32(0, true);
  }

  /** A little-endian 32-bit store at `va` (see `write`); `value` is taken modulo 2^32. */
  write32(space: AddressSpace, va: number, value: number): void {
    if (!Number.isInteger(value))
      throw new KernelError("EINVAL", `write32: value ${value} is not an integer`);
    this.#wordView.setUint32(0, value >>> 0, true);
    this.write(space, va, this.#word, 0, 4);
  }

  #translate(space: AddressSpace, va: number, len: number, write: boolean, out: RunList): RunList {
    const runs =
      space === this.mm.kspace && this.#linear(va, len, out)
        ? out
        : space.translateRange(va, len, write, out);
    for (let r = 0; r < runs.count; r++) {
      const pa = runs.paddr[r]!;
      const n = runs.len[r]!;
      if (!this.#phys.isRam(pa, n)) {
        throw new KernelError(
          "EFAULT",
          `${space.name}: ${hex(va)} translates to [${hex(pa)}, ${hex(pa + n)}), which is not RAM`,
        );
      }
    }
    return runs;
  }

  /**
   * The kernel linear map without mm-core's page-by-page walk (this CPU's TLB for it): P.A is
   * `va - PAGE_OFFSET + PHYS_OFFSET`, and pages of one memory type make one run. False when the
   * range leaves the linear map or meets an unmapped page: `translateRange` then decides (EFAULT).
   */
  #linear(va: number, len: number, out: RunList): boolean {
    const k = this.mm.kspace;
    if (!k.isLinear(va) || !k.isLinear(va + len - 1)) return false;
    const lm = k.linearMt;
    const pa = va - PAGE_OFFSET + k.physOffset;
    const base = this.mm.frames.basePfn;
    const first = Math.floor(pa / PAGE_SIZE) - base;
    const last = Math.floor((pa + len - 1) / PAGE_SIZE) - base;
    out.clear();
    let start = pa;
    let mt = lm[first]!;
    for (let i = first + 1; i <= last; i++) {
      const m = lm[i]!;
      if (m === mt) continue;
      if (mt === MT_NONE) return false;
      const boundary = (base + i) * PAGE_SIZE;
      out.push(start, boundary - start, mt);
      start = boundary;
      mt = m;
    }
    if (mt === MT_NONE) return false;
    out.push(start, pa + len - start, mt);
    return true;
  }

  #checkStale(runs: RunList): void {
    const cache = this.#cache;
    for (let r = 0; r < runs.count; r++) {
      if (runs.memtype[r] !== MT_CACHEABLE) continue;
      const pa = runs.paddr[r]!;
      const n = runs.len[r]!;
      const ext = cache.staleExtent(pa, n);
      if (!ext) continue;
      const who = this.checker._writerName(ext.writer);
      this.checker._hazard(
        "stale-read",
        who,
        ext,
        `CPU read [${hex(pa)}, ${hex(pa + n)}) through the cache, which holds ${ext.lines} line(s) in [${hex(ext.first)}, ${hex(ext.end)}) that ${who} wrote behind it: the CPU got stale data`,
      );
    }
  }

  #load(runs: RunList, dst: Uint8Array, dstOff: number): void {
    const cache = this.#cache;
    const phys = this.#phys;
    let d = dstOff;
    for (let r = 0; r < runs.count; r++) {
      const pa = runs.paddr[r]!;
      const n = runs.len[r]!;
      if (runs.memtype[r] === MT_CACHEABLE) cache.read(pa, dst, d, n);
      else phys.read(pa, dst, d, n);
      d += n;
    }
  }

  #store(runs: RunList, src: Uint8Array | null, srcOff: number, value: number): void {
    const cache = this.#cache;
    const phys = this.#phys;
    let s = srcOff;
    for (let r = 0; r < runs.count; r++) {
      const pa = runs.paddr[r]!;
      const n = runs.len[r]!;
      if (runs.memtype[r] === MT_CACHEABLE) cache.write(pa, src, s, n, value);
      else {
        if (src) phys.write(pa, src, s, n);
        else phys.fill(pa, value, n);
        cache.markWritten(pa, n, WRITER_CPU_DIRECT);
      }
      s += n;
    }
  }

  #traceAccess(space: AddressSpace, va: number, runs: RunList, write: boolean): void {
    let start = va;
    let size = 0;
    let mt = runs.memtype[0]!;
    for (let r = 0; r < runs.count; r++) {
      if (runs.memtype[r] !== mt) {
        this.#tp.access.emit({ space: space.name, va: start, size, write, memtype: MEMTYPES[mt]! });
        start += size;
        size = 0;
        mt = runs.memtype[r]!;
      }
      size += runs.len[r]!;
    }
    this.#tp.access.emit({ space: space.name, va: start, size, write, memtype: MEMTYPES[mt]! });
  }

  // ---- maintenance by virtual range ---------------------------------------------------------

  /**
   * Cleans (DCCMVAC) every line overlapping `[va, va + len)` of `space`: dirty lines are written
   * back and stay cached, clean. Works on the physical lines whatever the mapping's memory type.
   * EFAULT when part of the range is not mapped readable, EINVAL for bad arguments.
   */
  cleanRange(space: AddressSpace, va: number, len: number): void {
    this.#maintRange("clean", space, va, len);
  }

  /**
   * Invalidates (`v7_dma_inv_range`) `[va, va + len)`: lines inside are dropped without write-back;
   * a first or last line only partly covered is cleaned first (ARM's rule). Errors as `cleanRange`.
   */
  invalidateRange(space: AddressSpace, va: number, len: number): void {
    this.#maintRange("invalidate", space, va, len);
  }

  /** Cleans and invalidates (DCCIMVAC) every line overlapping `[va, va + len)`. Errors as `cleanRange`. */
  flushRange(space: AddressSpace, va: number, len: number): void {
    this.#maintRange("flush", space, va, len);
  }

  #maintRange(op: MaintOp, space: AddressSpace, va: number, len: number): void {
    const what = `${op}Range`;
    checkInt(what, "va", va);
    checkInt(what, "len", len);
    if (len === 0) return;
    const runs = this.#translate(space, va, len, false, this.#runs);
    for (let r = 0; r < runs.count; r++) this.#maint(op, runs.paddr[r]!, runs.len[r]!);
  }

  #maint(op: MaintOp, paddr: number, len: number): void {
    const cache = this.#cache;
    if (op === "clean") cache.clean(paddr, len);
    else if (op === "invalidate") cache.invalidate(paddr, len);
    else cache.flush(paddr, len);
    if (this.#tp.maint.enabled) this.#tp.maint.emit({ op, scope: "range", paddr, size: len });
  }

  // ---- maintenance by physical range (dma-mapping's `__dma_page_*`) --------------------------

  /** Cleans every line overlapping `[paddr, paddr + len)`. EFAULT when the range is not all RAM. */
  cleanPhys(paddr: number, len: number): void {
    this.#maintPhys("clean", paddr, len);
  }

  /** Invalidates `[paddr, paddr + len)` with ARM's partial-line rule (see `invalidateRange`). */
  invalidatePhys(paddr: number, len: number): void {
    this.#maintPhys("invalidate", paddr, len);
  }

  /** Cleans and invalidates every line overlapping `[paddr, paddr + len)`. */
  flushPhys(paddr: number, len: number): void {
    this.#maintPhys("flush", paddr, len);
  }

  #maintPhys(op: MaintOp, paddr: number, len: number): void {
    const what = `${op}Phys`;
    checkInt(what, "paddr", paddr);
    checkInt(what, "len", len);
    if (len === 0) return;
    if (!this.#phys.isRam(paddr, len)) {
      throw new KernelError("EFAULT", `${what}: [${hex(paddr)}, ${hex(paddr + len)}) is not all RAM`);
    }
    this.#maint(op, paddr, len);
  }

  // ---- whole cache --------------------------------------------------------------------------

  /** Cleans the whole cache (`v7_flush_kern_cache_all` without the invalidate; `outer_clean_all`). */
  cleanAll(): void {
    this.#cache.cleanAll();
    this.#traceAll("clean");
  }

  /** Drops every line without writing anything back (`v7_invalidate_l1`, `outer_inv_all`). */
  invalidateAll(): void {
    this.#cache.dropAll();
    this.#traceAll("invalidate");
  }

  /** Writes every dirty line back, then drops every line (`flush_cache_all`). */
  flushAll(): void {
    this.#cache.cleanAll();
    this.#cache.dropAll();
    this.#traceAll("flush");
  }

  #traceAll(op: MaintOp): void {
    const p = this.#phys;
    if (this.#tp.maint.enabled)
      this.#tp.maint.emit({ op, scope: "all", paddr: p.start, size: p.end - p.start });
  }

  // ---- introspection ------------------------------------------------------------------------

  /** The state of the line holding `paddr`. EINVAL when `paddr` is not RAM. */
  lineState(paddr: number): LineState {
    if (!Number.isSafeInteger(paddr) || !this.#cache.bankAt(paddr)) {
      throw new KernelError("EINVAL", `lineState: paddr ${hex(paddr)} is not RAM`);
    }
    const x = this.#cache.stateAt(paddr);
    return {
      valid: (x & LINE_VALID) !== 0,
      dirty: (x & LINE_DIRTY) !== 0,
      stale: (x & LINE_STALE) !== 0,
    };
  }

  /** Line counts and write-back totals. */
  stats(): CacheStats {
    const t = this.#cache.totals();
    return {
      validLines: t.valid,
      dirtyLines: t.dirty,
      staleLines: t.stale,
      capacity: this.capacity,
      evictions: this.#cache.evictions,
      writebackBytes: this.#cache.writebackBytes,
    };
  }
}

/**
 * Creates the CPU of `kernel` (after `mmInit`), stores it in the kernel and plugs it into mm-core:
 * its `CpuCacheOps`, the coherency checker as DMA observer and as mapping observer (which first
 * replays every existing mapping — the linear map included). EINVAL for a bad option (naming it),
 * EBUSY when the kernel already has a CPU or mm-core already has cache ops. A `KernelBug` when
 * mm-core was never initialised.
 */
export function cpuInit(kernel: Kernel, opts: CpuOpts = {}): Cpu {
  const mode = opts.mode ?? "ideal";
  if (mode !== "ideal" && mode !== "sized") {
    throw new KernelError("EINVAL", `cpuInit: mode ${JSON.stringify(mode)} is not "ideal" or "sized"`);
  }
  const lineSize = opts.lineSize ?? 32;
  if (!isPowerOfTwo(lineSize) || lineSize < 4 || lineSize > PAGE_SIZE) {
    throw new KernelError(
      "EINVAL",
      `cpuInit: lineSize ${lineSize} is not a power of two from 4 to ${PAGE_SIZE}`,
    );
  }
  const l1Size = opts.l1Size ?? SZ_32K;
  const l2Size = opts.l2Size ?? SZ_1M;
  for (const [name, v] of [
    ["l1Size", l1Size],
    ["l2Size", l2Size],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v % lineSize !== 0) {
      throw new KernelError(
        "EINVAL",
        `cpuInit: ${name} ${v} is not a non-negative multiple of lineSize ${lineSize}`,
      );
    }
  }
  if (mode === "sized" && l1Size + l2Size === 0) {
    throw new KernelError("EINVAL", "cpuInit: l1Size + l2Size is 0: a sized cache needs at least one line");
  }
  const maxReports = opts.maxReports ?? 10_000;
  if (!Number.isSafeInteger(maxReports) || maxReports < 1) {
    throw new KernelError("EINVAL", `cpuInit: maxReports ${maxReports} is not a positive integer`);
  }
  if (opts.seed !== undefined && typeof opts.seed !== "number" && typeof opts.seed !== "string") {
    throw new KernelError("EINVAL", `cpuInit: seed ${String(opts.seed)} is not a number or a string`);
  }
  const mm = mmOf(kernel);
  if (kernel.trySlot(CPU))
    throw new KernelError("EBUSY", `cpuInit: kernel "${kernel.name}" already has a CPU`);
  if (mm.hooks.cache) throw new KernelError("EBUSY", "cpuInit: mm already has CPU cache ops plugged in");
  const rng = opts.seed === undefined ? kernel.rng.fork("cache") : new Prng(opts.seed);
  const cpu = new Cpu(kernel, mm, {
    mode,
    lineSize,
    l1Size,
    l2Size,
    strict: opts.strict ?? false,
    maxReports,
    rng,
  });
  kernel.setSlot(CPU, cpu);
  mm.setCacheOps(cpu.cacheOps);
  cpu._unplug.push(() => mm.setCacheOps(null));
  cpu._unplug.push(mm.addDmaObserver(cpu.checker));
  cpu._unplug.push(mm.addMappingObserver(cpu.checker));
  return cpu;
}

/** The CPU of `kernel` (a `KernelBug` when `cpuInit` never ran). */
export function cpuOf(kernel: Kernel): Cpu {
  return kernel.slot(CPU);
}

/** The kernel's CPU model, or undefined when `cpuInit` never ran (kernels without a cache model). */
export function tryCpuOf(kernel: Kernel): Cpu | undefined {
  return kernel.trySlot(CPU);
}

/**
 * Unplugs the CPU of `kernel` from mm-core and forgets it (lines still dirty are lost, as on a
 * power cut; `flushAll` first to keep them). ENODEV when the kernel has no CPU.
 */
export function cpuExit(kernel: Kernel): void {
  const cpu = kernel.trySlot(CPU);
  if (!cpu) throw new KernelError("ENODEV", `cpuExit: kernel "${kernel.name}" has no CPU`);
  for (const undo of cpu._unplug.reverse()) undo();
  cpu._unplug.length = 0;
  kernel.clearSlot(CPU);
}
