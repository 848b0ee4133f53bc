/**
 * The line store: a physically-indexed, physically-tagged write-back data cache over every DRAM
 * bank, as ARMv7's L1D + PL310 L2 behave for software (one combined level here).
 *
 * Per bank it keeps, in typed arrays and never in per-line objects:
 * - `shadow`: the cache's copy of the bank's bytes (an ArrayBuffer the size of the bank; the host
 *   commits its pages lazily, so memory the CPU never caches costs nothing);
 * - `state`: per line, bits VALID, DIRTY, STALE;
 * - `writer`: per line, who last wrote the line's memory (a device tag, CPU_DIRECT, CPU_CACHE);
 * - `pv`/`pd`/`ps`: per page, how many of its lines are valid, dirty, stale.
 *
 * The page counters let bulk operations skip pages with nothing to do and treat pages whose lines
 * all agree with one `set`/`fill` over the longest run, so that storing and cleaning a frame is a
 * few native copies, not a loop over lines. Only pages with mixed line states get per-line work.
 *
 * Every method here takes physical ranges that the caller has checked are RAM.
 *
 * @module
 */
import { hex, KernelBug, PAGE_SIZE, type Prng } from "@umm/kernel-core";
import type { PhysBank } from "@umm/mm-core";

/** Line state bit: the line is in the cache. */
export const LINE_VALID = 1;
/** Line state bit: the cache holds bytes of the line that memory does not have. */
export const LINE_DIRTY = 2;
/** Line state bit: memory of the line was written behind the cache after the line was cached. */
export const LINE_STALE = 4;

/** `writer` value: nobody wrote the line since boot. */
export const WRITER_NONE = 0;
/** `writer` values 1..WRITER_MAX_DEVICE are device tags (the checker interns device ids). */
export const WRITER_MAX_DEVICE = 0xfffd;
/** `writer` value: the CPU wrote memory directly (non-cacheable mapping, page zeroing, migration). */
export const WRITER_CPU_DIRECT = 0xfffe;
/** `writer` value: memory holds what the CPU wrote through the cache (written back). */
export const WRITER_CPU_CACHE = 0xffff;

const V = LINE_VALID;
const D = LINE_DIRTY;
const S = LINE_STALE;

/** The cache's arrays for one DRAM bank. */
export class BankCache {
  /** the bank's first P.A */
  readonly start: number;
  /** one past the bank's last P.A */
  readonly end: number;
  /** the bank's bytes */
  readonly size: number;
  /** the bank's memory (mm-core's bytes) */
  readonly mem: Uint8Array;
  /** the cache's copy of the bank; meaningful only where the line is valid */
  readonly shadow: Uint8Array;
  /** per line: LINE_* bits */
  readonly state: Uint8Array;
  /** per line: who last wrote the line's memory */
  readonly writer: Uint16Array;
  /** per page: valid lines */
  readonly pv: Uint16Array;
  /** per page: dirty lines */
  readonly pd: Uint16Array;
  /** per page: stale lines */
  readonly ps: Uint16Array;
  /** sized mode: the slot of each valid line in the cache's slot list */
  readonly pos: Int32Array | null;
  /** valid lines in the bank */
  nValid = 0;
  /** dirty lines in the bank */
  nDirty = 0;
  /** stale lines in the bank */
  nStale = 0;

  constructor(bank: PhysBank, lineSize: number, sized: boolean) {
    this.start = bank.start;
    this.end = bank.end;
    this.size = bank.size;
    this.mem = bank.u8;
    this.shadow = new Uint8Array(bank.size);
    const lines = bank.size / lineSize;
    this.state = new Uint8Array(lines);
    this.writer = new Uint16Array(lines);
    const pages = bank.size / PAGE_SIZE;
    this.pv = new Uint16Array(pages);
    this.pd = new Uint16Array(pages);
    this.ps = new Uint16Array(pages);
    this.pos = sized ? new Int32Array(lines) : null;
  }
}

/** Lines found by a scan: `[first, end)` in P.A, how many, and the writer of the first. */
export interface LineExtent {
  /** P.A of the first line found */
  first: number;
  /** P.A one past the last line found */
  end: number;
  /** how many lines were found */
  lines: number;
  /** the `writer` of the first line found */
  writer: number;
}

/** The write-back cache over all banks. */
export class LineCache {
  /** bytes per line */
  readonly L: number;
  /** lines per page */
  readonly LPP: number;
  /** true in sized mode (evicts), false in ideal mode */
  readonly sized: boolean;
  /** lines the cache holds at most (Infinity when ideal) */
  readonly capacity: number;
  readonly banks: readonly BankCache[];
  /** lines evicted so far (sized mode) */
  evictions = 0;
  /** bytes written back to memory by cleans and evictions */
  writebackBytes = 0;
  #last: BankCache;
  readonly #rng: Prng;
  /** 1 / L: lines per byte, exact for a power of two (a multiply is cheaper than a divide) */
  readonly #perByte: number;
  /** sized mode: global line numbers (paddr / L) of the cached lines, in no order */
  readonly #slots: Float64Array | null;
  #nSlots = 0;

  constructor(banks: readonly PhysBank[], lineSize: number, sized: boolean, capacity: number, rng: Prng) {
    this.L = lineSize;
    this.LPP = PAGE_SIZE / lineSize;
    this.#perByte = 1 / lineSize;
    this.sized = sized;
    this.capacity = sized ? capacity : Number.POSITIVE_INFINITY;
    this.banks = banks.map((b) => new BankCache(b, lineSize, sized));
    this.#last = this.banks[0]!;
    this.#rng = rng;
    this.#slots = sized ? new Float64Array(capacity) : null;
  }

  /** The bank cache holding `paddr`, or undefined outside RAM. */
  bankAt(paddr: number): BankCache | undefined {
    const l = this.#last;
    if (paddr >= l.start && paddr < l.end) return l;
    for (const b of this.banks) {
      if (paddr >= b.start && paddr < b.end) {
        this.#last = b;
        return b;
      }
    }
    return undefined;
  }

  #bank(paddr: number): BankCache {
    const b = this.bankAt(paddr);
    if (!b) throw new KernelBug(`cache: ${hex(paddr)} is not RAM (the caller should have checked)`);
    return b;
  }

  /** Lines valid, dirty, stale over all banks. */
  totals(): { valid: number; dirty: number; stale: number } {
    let valid = 0;
    let dirty = 0;
    let stale = 0;
    for (const b of this.banks) {
      valid += b.nValid;
      dirty += b.nDirty;
      stale += b.nStale;
    }
    return { valid, dirty, stale };
  }

  /** True while any bank holds a dirty line. */
  get anyDirty(): boolean {
    for (const b of this.banks) if (b.nDirty > 0) return true;
    return false;
  }

  /** LINE_* bits of the line holding `paddr` (RAM). */
  stateAt(paddr: number): number {
    const b = this.#bank(paddr);
    return b.state[Math.floor((paddr - b.start) / this.L)]!;
  }

  /** Writer of the line holding `paddr` (RAM). */
  writerAt(paddr: number): number {
    const b = this.#bank(paddr);
    return b.writer[Math.floor((paddr - b.start) / this.L)]!;
  }

  // ---- CPU accesses through the cache -------------------------------------------------------

  /** A cacheable load: fills missing lines from memory, returns the cache's bytes. */
  read(paddr: number, dst: Uint8Array, dstOff: number, len: number): void {
    let p = paddr;
    let d = dstOff;
    let left = len;
    while (left > 0) {
      const bc = this.#bank(p);
      const n = Math.min(left, bc.end - p);
      if (this.sized) this.#readSized(bc, p - bc.start, n, dst, d);
      else this.#readIdeal(bc, p - bc.start, n, dst, d);
      p += n;
      d += n;
      left -= n;
    }
  }

  #readIdeal(bc: BankCache, o: number, n: number, dst: Uint8Array, d: number): void {
    const L = this.L;
    const LPP = this.LPP;
    const st = bc.state;
    const pv = bc.pv;
    const end = o + n;
    // pending run of lines to fill from memory (byte offsets, line-aligned)
    let fs = -1;
    let fe = -1;
    const pLast = Math.floor((end - 1) / PAGE_SIZE);
    for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
      const a = Math.max(pg * PAGE_SIZE, o);
      const b = Math.min((pg + 1) * PAGE_SIZE, end);
      const v = pv[pg]!;
      if (v !== LPP) {
        // only the first and last page of the range can start or end inside a line
        const la = a === o ? a - (a % L) : a;
        const lb = b === end && b % L !== 0 ? b - (b % L) + L : b;
        if (v === 0) {
          const k = (lb - la) * this.#perByte;
          pv[pg] = k;
          bc.nValid += k;
          if (fe === la) fe = lb;
          else {
            if (fe > fs) this.#fillLines(bc, fs, fe);
            fs = la;
            fe = lb;
          }
        } else {
          for (let ls = la; ls < lb; ls += L) {
            if ((st[ls / L]! & V) !== 0) continue;
            pv[pg]!++;
            bc.nValid++;
            if (fe === ls) fe = ls + L;
            else {
              if (fe > fs) this.#fillLines(bc, fs, fe);
              fs = ls;
              fe = ls + L;
            }
          }
        }
      }
    }
    if (fe > fs) this.#fillLines(bc, fs, fe);
    dst.set(bc.shadow.subarray(o, end), d);
  }

  /** Lines [s, e) (byte offsets), all invalid, become valid clean copies of memory. */
  #fillLines(bc: BankCache, s: number, e: number): void {
    bc.shadow.set(bc.mem.subarray(s, e), s);
    bc.state.fill(V, s / this.L, e / this.L);
  }

  #readSized(bc: BankCache, o: number, n: number, dst: Uint8Array, d: number): void {
    const L = this.L;
    const st = bc.state;
    const end = o + n;
    const pLast = Math.floor((end - 1) / PAGE_SIZE);
    for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
      const a = Math.max(pg * PAGE_SIZE, o);
      const b = Math.min((pg + 1) * PAGE_SIZE, end);
      if (bc.pv[pg] === this.LPP) {
        dst.set(bc.shadow.subarray(a, b), d + (a - o));
      } else {
        for (let ls = a === o ? a - (a % L) : a; ls < b; ls += L) {
          const li = ls / L;
          if ((st[li]! & V) === 0) {
            this.#allocate(bc, li);
            bc.shadow.set(bc.mem.subarray(ls, ls + L), ls);
          }
          const s = Math.max(a, ls);
          const e = Math.min(b, ls + L);
          dst.set(bc.shadow.subarray(s, e), d + (s - o));
        }
      }
    }
  }

  /**
   * A cacheable store of `src[srcOff, srcOff + len)` (or, with `src` null, of `len` bytes of
   * `value`): write-allocate, data into the cache, lines dirty, memory untouched.
   */
  write(paddr: number, src: Uint8Array | null, srcOff: number, len: number, value: number): void {
    let p = paddr;
    let s = srcOff;
    let left = len;
    while (left > 0) {
      const bc = this.#bank(p);
      const n = Math.min(left, bc.end - p);
      if (this.sized) this.#writeSized(bc, p - bc.start, n, src, s, value);
      else this.#writeIdeal(bc, p - bc.start, n, src, s, value);
      p += n;
      s += n;
      left -= n;
    }
  }

  #writeIdeal(bc: BankCache, o: number, n: number, src: Uint8Array | null, s: number, value: number): void {
    const L = this.L;
    const LPP = this.LPP;
    const st = bc.state;
    const pv = bc.pv;
    const pd = bc.pd;
    const ps = bc.ps;
    const mem = bc.mem;
    const shadow = bc.shadow;
    const end = o + n;
    // pending run of lines that all become valid+dirty (line-aligned byte offsets)
    let fs = -1;
    let fe = -1;
    const pLast = Math.floor((end - 1) / PAGE_SIZE);
    for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
      const a = Math.max(pg * PAGE_SIZE, o);
      const b = Math.min((pg + 1) * PAGE_SIZE, end);
      const v = pv[pg]!;
      if (v === LPP && pd[pg] === LPP && ps[pg] === 0) {
        continue;
      }
      const la = a === o ? a - (a % L) : a;
      const lb = b === end && b % L !== 0 ? b - (b % L) + L : b;
      const dd = pd[pg]!;
      if (v === 0 || (v === LPP && ps[pg] === 0 && (dd === 0 || lb - la === PAGE_SIZE))) {
        // the page's lines agree: no line cached, or all cached and none stale
        const k = (lb - la) * this.#perByte;
        if (v === 0) {
          // write-allocate: the bytes of the end lines the store does not cover come from memory
          if (a > la) shadow.set(mem.subarray(la, a), la);
          if (b < lb) shadow.set(mem.subarray(b, lb), b);
          pv[pg] = k;
          bc.nValid += k;
        }
        const dirtied = v === 0 || dd === 0 ? k : LPP - dd;
        pd[pg] = dd + dirtied;
        bc.nDirty += dirtied;
        if (fe === la) fe = lb;
        else {
          if (fe > fs) st.fill(V | D, fs / L, fe / L);
          fs = la;
          fe = lb;
        }
      } else {
        for (let ls = la; ls < lb; ls += L) {
          const li = ls / L;
          let x = st[li]!;
          const full = ls >= a && ls + L <= b;
          if ((x & V) === 0) {
            if (!full) shadow.set(mem.subarray(ls, ls + L), ls);
            pv[pg]!++;
            bc.nValid++;
            x = V;
          }
          if ((x & D) === 0) {
            pd[pg]!++;
            bc.nDirty++;
            x |= D;
          }
          if (full && (x & S) !== 0) {
            // the store replaced every byte the device wrote behind the line: nothing stale left
            ps[pg]!--;
            bc.nStale--;
            x &= ~S;
          }
          st[li] = x;
        }
      }
    }
    if (fe > fs) st.fill(V | D, fs / L, fe / L);
    if (src) shadow.set(src.subarray(s, s + n), o);
    else shadow.fill(value, o, end);
  }

  #writeSized(bc: BankCache, o: number, n: number, src: Uint8Array | null, s: number, value: number): void {
    const L = this.L;
    const st = bc.state;
    const shadow = bc.shadow;
    const end = o + n;
    const pLast = Math.floor((end - 1) / PAGE_SIZE);
    for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
      const a = Math.max(pg * PAGE_SIZE, o);
      const b = Math.min((pg + 1) * PAGE_SIZE, end);
      const la = a === o ? a - (a % L) : a;
      const lb = b === end && b % L !== 0 ? b - (b % L) + L : b;
      const dd = bc.pd[pg]!;
      if (
        bc.pv[pg] === this.LPP &&
        bc.ps[pg] === 0 &&
        (dd === 0 || dd === this.LPP || lb - la === PAGE_SIZE)
      ) {
        // every line of the page is cached and none is stale: nothing to allocate, nothing evicted
        const dirtied = dd === 0 ? (lb - la) / L : this.LPP - dd;
        bc.pd[pg] = dd + dirtied;
        bc.nDirty += dirtied;
        if (dirtied > 0) st.fill(V | D, la / L, lb / L);
        if (src) shadow.set(src.subarray(s + (a - o), s + (b - o)), a);
        else shadow.fill(value, a, b);
        continue;
      }
      for (let ls = la; ls < lb; ls += L) {
        const li = ls / L;
        const full = ls >= a && ls + L <= b;
        if ((st[li]! & V) === 0) {
          this.#allocate(bc, li);
          if (!full) shadow.set(bc.mem.subarray(ls, ls + L), ls);
        }
        const ws = Math.max(a, ls);
        const we = Math.min(b, ls + L);
        if (src) shadow.set(src.subarray(s + (ws - o), s + (we - o)), ws);
        else shadow.fill(value, ws, we);
        let x = st[li]!;
        if ((x & D) === 0) {
          bc.pd[pg]!++;
          bc.nDirty++;
          x |= D;
        }
        if (full && (x & S) !== 0) {
          bc.ps[pg]!--;
          bc.nStale--;
          x &= ~S;
        }
        st[li] = x;
      }
    }
  }

  // ---- sized mode: slots and eviction -------------------------------------------------------

  /** Makes invalid line `li` of `bc` valid (state VALID, data not filled), evicting if full. */
  #allocate(bc: BankCache, li: number): void {
    const slots = this.#slots!;
    let j: number;
    if (this.#nSlots < this.capacity) j = this.#nSlots++;
    else {
      j = this.#rng.int(0, this.capacity - 1);
      this.#evict(slots[j]!);
    }
    slots[j] = bc.start / this.L + li;
    bc.pos![li] = j;
    bc.state[li] = V;
    bc.pv[Math.floor(li / this.LPP)]!++;
    bc.nValid++;
  }

  /** Evicts global line `g` (its slot is reused by the caller): written back if dirty. */
  #evict(g: number): void {
    const L = this.L;
    const pa = g * L;
    const bc = this.#bank(pa);
    const li = (pa - bc.start) / L;
    const x = bc.state[li]!;
    const pg = Math.floor(li / this.LPP);
    if (x & D) {
      const off = pa - bc.start;
      bc.mem.set(bc.shadow.subarray(off, off + L), off);
      bc.writer[li] = WRITER_CPU_CACHE;
      this.writebackBytes += L;
      bc.pd[pg]!--;
      bc.nDirty--;
    }
    if (x & S) {
      bc.ps[pg]!--;
      bc.nStale--;
    }
    bc.pv[pg]!--;
    bc.nValid--;
    bc.state[li] = 0;
    this.evictions++;
  }

  /** Takes valid line `li` of `bc` out of the slot list (its state is cleared by the caller). */
  #unslot(bc: BankCache, li: number): void {
    const slots = this.#slots!;
    const j = bc.pos![li]!;
    const last = --this.#nSlots;
    if (j !== last) {
      const g = slots[last]!;
      slots[j] = g;
      const ob = this.#bank(g * this.L);
      ob.pos![(g * this.L - ob.start) / this.L] = j;
    }
  }

  // ---- maintenance --------------------------------------------------------------------------

  /** Line-aligned cover of `[paddr, paddr + len)`: `[la, lb)`. */
  cover(paddr: number, len: number): [number, number] {
    const L = this.L;
    const e = paddr + len;
    return [paddr - (paddr % L), e % L === 0 ? e : e - (e % L) + L];
  }

  /** Cleans every line overlapping the range: dirty lines are written back and stay valid, clean. */
  clean(paddr: number, len: number): void {
    if (len <= 0) return;
    const [la, lb] = this.cover(paddr, len);
    for (let p = la; p < lb; ) {
      const bc = this.#bank(p);
      const n = Math.min(lb, bc.end) - p;
      if (bc.nDirty > 0) this.#cleanSeg(bc, p - bc.start, n);
      p += n;
    }
  }

  #cleanSeg(bc: BankCache, o: number, n: number): void {
    const L = this.L;
    const LPP = this.LPP;
    const st = bc.state;
    const pd = bc.pd;
    const ps = bc.ps;
    const end = o + n;
    let cs = -1;
    let ce = -1;
    const pLast = Math.floor((end - 1) / PAGE_SIZE);
    for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
      const a = Math.max(pg * PAGE_SIZE, o);
      const b = Math.min((pg + 1) * PAGE_SIZE, end);
      const dd = pd[pg]!;
      if (dd === 0) {
        continue;
      }
      if (dd === LPP) {
        // every line of the page is dirty: one write-back for the whole stretch
        const k = (b - a) * this.#perByte;
        if (ps[pg]! > 0) {
          let c = 0;
          for (let li = a / L; li < b / L; li++) if (st[li]! & S) c++;
          ps[pg]! -= c;
          bc.nStale -= c;
        }
        pd[pg] = dd - k;
        bc.nDirty -= k;
        if (ce === a) ce = b;
        else {
          if (ce > cs) this.#writeBack(bc, cs, ce);
          cs = a;
          ce = b;
        }
      } else {
        for (let ls = a; ls < b; ls += L) {
          const x = st[ls / L]!;
          if ((x & D) === 0) continue;
          if (x & S) {
            ps[pg]!--;
            bc.nStale--;
          }
          pd[pg]!--;
          bc.nDirty--;
          if (ce === ls) ce = ls + L;
          else {
            if (ce > cs) this.#writeBack(bc, cs, ce);
            cs = ls;
            ce = ls + L;
          }
        }
      }
    }
    if (ce > cs) this.#writeBack(bc, cs, ce);
  }

  /** Lines [s, e) (byte offsets), all dirty: data to memory, lines valid and clean. */
  #writeBack(bc: BankCache, s: number, e: number): void {
    const L = this.L;
    bc.mem.set(bc.shadow.subarray(s, e), s);
    bc.state.fill(V, s / L, e / L);
    bc.writer.fill(WRITER_CPU_CACHE, s / L, e / L);
    this.writebackBytes += e - s;
  }

  /** Drops every line overlapping the range without writing anything back. */
  drop(paddr: number, len: number): void {
    if (len <= 0) return;
    const [la, lb] = this.cover(paddr, len);
    for (let p = la; p < lb; ) {
      const bc = this.#bank(p);
      const n = Math.min(lb, bc.end) - p;
      if (bc.nValid > 0) this.#dropSeg(bc, p - bc.start, n);
      p += n;
    }
  }

  #dropSeg(bc: BankCache, o: number, n: number): void {
    const L = this.L;
    const st = bc.state;
    const pv = bc.pv;
    const pd = bc.pd;
    const ps = bc.ps;
    const sized = this.sized;
    const end = o + n;
    let zs = -1;
    let ze = -1;
    const pLast = Math.floor((end - 1) / PAGE_SIZE);
    for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
      const a = Math.max(pg * PAGE_SIZE, o);
      const b = Math.min((pg + 1) * PAGE_SIZE, end);
      if (pv[pg] === 0) {
        continue;
      }
      if (a % PAGE_SIZE === 0 && b - a === PAGE_SIZE) {
        if (sized) for (let li = a / L; li < b / L; li++) if (st[li]! & V) this.#unslot(bc, li);
        bc.nValid -= pv[pg]!;
        bc.nDirty -= pd[pg]!;
        bc.nStale -= ps[pg]!;
        pv[pg] = 0;
        pd[pg] = 0;
        ps[pg] = 0;
        if (ze === a) ze = b;
        else {
          if (ze > zs) st.fill(0, zs / L, ze / L);
          zs = a;
          ze = b;
        }
      } else {
        for (let li = a / L; li < b / L; li++) {
          const x = st[li]!;
          if ((x & V) === 0) continue;
          if (sized) this.#unslot(bc, li);
          pv[pg]!--;
          bc.nValid--;
          if (x & D) {
            pd[pg]!--;
            bc.nDirty--;
          }
          if (x & S) {
            ps[pg]!--;
            bc.nStale--;
          }
          st[li] = 0;
        }
      }
    }
    if (ze > zs) st.fill(0, zs / L, ze / L);
  }

  /** Clean, then drop, every line overlapping the range (DCCIMVAC over it). */
  flush(paddr: number, len: number): void {
    this.clean(paddr, len);
    this.drop(paddr, len);
  }

  /**
   * ARMv7's `v7_dma_inv_range`: lines wholly inside the range are dropped; a first or last line
   * only partly covered is cleaned and invalidated instead, so bytes outside the range survive.
   */
  invalidate(paddr: number, len: number): void {
    if (len <= 0) return;
    const L = this.L;
    const e = paddr + len;
    const [la, lb] = this.cover(paddr, len);
    let ds = la;
    let de = lb;
    if (paddr !== la) {
      this.flush(la, L);
      ds = la + L;
    }
    if (e !== lb && lb - L >= ds) {
      this.flush(lb - L, L);
      de = lb - L;
    }
    if (de > ds) this.drop(ds, de - ds);
  }

  /** Cleans every bank. */
  cleanAll(): void {
    for (const bc of this.banks) if (bc.nDirty > 0) this.#cleanSeg(bc, 0, bc.size);
  }

  /** Drops every line of every bank. */
  dropAll(): void {
    for (const bc of this.banks) if (bc.nValid > 0) this.#dropSeg(bc, 0, bc.size);
  }

  // ---- scans and marks for the checker ------------------------------------------------------

  /** Dirty lines overlapping the range (first, end, count), or null. */
  dirtyExtent(paddr: number, len: number): LineExtent | null {
    return this.#scan(paddr, len, D);
  }

  /** Stale lines overlapping the range, with the writer of the first, or null. */
  staleExtent(paddr: number, len: number): LineExtent | null {
    return this.#scan(paddr, len, S);
  }

  #scan(paddr: number, len: number, bit: number): LineExtent | null {
    if (len <= 0) return null;
    const L = this.L;
    const LPP = this.LPP;
    const [la, lb] = this.cover(paddr, len);
    let first = -1;
    let last = -1;
    let lines = 0;
    let writer = WRITER_NONE;
    for (let p = la; p < lb; ) {
      const bc = this.#bank(p);
      const n = Math.min(lb, bc.end) - p;
      const total = bit === D ? bc.nDirty : bc.nStale;
      if (total > 0) {
        const counts = bit === D ? bc.pd : bc.ps;
        const st = bc.state;
        const end = p - bc.start + n;
        const o = p - bc.start;
        const pLast = Math.floor((end - 1) / PAGE_SIZE);
        for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
          const a = Math.max(pg * PAGE_SIZE, o);
          const b = Math.min((pg + 1) * PAGE_SIZE, end);
          const c = counts[pg]!;
          if (c === LPP) {
            if (first < 0) {
              first = bc.start + a;
              writer = bc.writer[a / L]!;
            }
            last = bc.start + b;
            lines += (b - a) / L;
          } else if (c > 0) {
            for (let ls = a; ls < b; ls += L) {
              if ((st[ls / L]! & bit) === 0) continue;
              if (first < 0) {
                first = bc.start + ls;
                writer = bc.writer[ls / L]!;
              }
              last = bc.start + ls + L;
              lines++;
            }
          }
        }
      }
      p += n;
    }
    return first < 0 ? null : { first, end: last, lines, writer };
  }

  /**
   * Memory of the range was written behind the cache (by a device, or by the CPU through a
   * non-cacheable mapping): the writer of each overlapping line becomes `writer`, and every valid
   * line overlapping the range becomes stale. Returns the dirty lines among them (their
   * write-back would overwrite the new data), or null.
   */
  markWritten(paddr: number, len: number, writer: number): LineExtent | null {
    if (len <= 0) return null;
    const L = this.L;
    const LPP = this.LPP;
    const [la, lb] = this.cover(paddr, len);
    let first = -1;
    let last = -1;
    let lines = 0;
    for (let p = la; p < lb; ) {
      const bc = this.#bank(p);
      const n = Math.min(lb, bc.end) - p;
      const o = p - bc.start;
      const end = o + n;
      bc.writer.fill(writer, o / L, end / L);
      if (bc.nValid > 0) {
        const st = bc.state;
        const pLast = Math.floor((end - 1) / PAGE_SIZE);
        for (let pg = Math.floor(o / PAGE_SIZE); pg <= pLast; pg++) {
          const a = Math.max(pg * PAGE_SIZE, o);
          const b = Math.min((pg + 1) * PAGE_SIZE, end);
          const v = bc.pv[pg]!;
          const dd = bc.pd[pg]!;
          if (v === 0) {
            continue;
          }
          if (v === LPP && b - a === PAGE_SIZE && (dd === 0 || dd === LPP)) {
            if (dd === LPP) {
              if (first < 0) first = bc.start + a;
              last = bc.start + b;
              lines += LPP;
            }
            bc.nStale += LPP - bc.ps[pg]!;
            bc.ps[pg] = LPP;
            st.fill(dd === LPP ? V | D | S : V | S, a / L, b / L);
          } else {
            for (let ls = a; ls < b; ls += L) {
              const li = ls / L;
              const x = st[li]!;
              if ((x & V) === 0) continue;
              if (x & D) {
                if (first < 0) first = bc.start + ls;
                last = bc.start + ls + L;
                lines++;
              }
              if ((x & S) === 0) {
                st[li] = x | S;
                bc.ps[pg]!++;
                bc.nStale++;
              }
            }
          }
        }
      }
      p += n;
    }
    return first < 0 ? null : { first, end: last, lines, writer };
  }

  /** Sets the writer of every line overlapping the range. */
  setWriter(paddr: number, len: number, writer: number): void {
    if (len <= 0) return;
    const [la, lb] = this.cover(paddr, len);
    for (let p = la; p < lb; ) {
      const bc = this.#bank(p);
      const n = Math.min(lb, bc.end) - p;
      bc.writer.fill(writer, (p - bc.start) / this.L, (p - bc.start + n) / this.L);
      p += n;
    }
  }
}
