/**
 * The System MMU's TLB: a fully associative array of translations (base, size, physical address,
 * access bits) held in typed arrays, with LRU or round-robin replacement (MMU_CFG bit0).
 *
 * As on silicon, entries leave only by replacement or by an explicit invalidation (MMU_FLUSH,
 * MMU_FLUSH_ENTRY, v5 range flush): a driver that changes a page table without flushing keeps
 * seeing the old translation, and two valid entries covering one address (a stale 4 KiB entry
 * under a newer 64 KiB one) make a lookup a multi-hit.
 *
 * Speed: a last-hit micro-TLB answers runs inside one entry; a counting filter per page size
 * (4096 counters each, indexed by the page number) answers most misses without scanning; the
 * replacement order is a doubly linked list over typed arrays (O(1) touch and evict). Overlaps
 * are tracked so that, while none exists, the first match is the only one.
 *
 * @module
 */

const FILTER = 4096;
const FMASK = FILTER - 1;

/** `lookup` result: no entry covers the address. */
export const TLB_MISS = -1;
/** `lookup` result: two or more entries cover the address. */
export const TLB_MULTI_HIT = -2;

/** One TLB entry as tests and reports see it. */
export interface TlbEntryInfo {
  /** first IOVA the entry translates */
  readonly iova: number;
  /** bytes it translates (4 KiB, 64 KiB or 1 MiB) */
  readonly size: number;
  /** physical address of `iova` */
  readonly paddr: number;
  /** the descriptor allows reads / writes (before MMU_CFG.EAP decides whether that is checked) */
  readonly read: boolean;
  readonly write: boolean;
}

/** A fully associative TLB of `capacity` entries. */
export class SysMmuTlb {
  /** number of entries */
  readonly capacity: number;
  /** first IOVA each entry answers for */
  readonly base: Float64Array;
  /** bytes each entry answers for; 0 marks an invalid entry (it then covers nothing) */
  readonly len: Float64Array;
  /** physical address of `base` */
  readonly pa: Float64Array;
  /** bit0 read allowed, bit1 write allowed */
  readonly perm: Uint8Array;
  /** the mapping (page) each entry was filled from, for invalidation by address */
  readonly fbase: Float64Array;
  readonly flen: Float64Array;
  /** LRU replacement (touch on hit); false: round-robin (oldest fill first) */
  lru = false;
  /** lookups answered by an entry */
  hits = 0;
  /** lookups no entry answered (each one is a page-table walk) */
  misses = 0;
  /** each entry's counter in the filter */
  readonly #slot: Int32Array;
  /** true while two valid entries may overlap */
  #multi = false;
  /** some entry answers for less than the mapping it came from (v2's per-4 KiB caching) */
  #split = false;
  /** index of the last entry that answered, or -1 */
  #last = -1;
  /** the 4 KiB page of the last miss the filter proved clean (no entry of any size near it), or -1 */
  #cleanMiss = -1;
  /** counting filter: entries per (size class, page number mod 4096) */
  readonly #filter = new Uint8Array(3 * FILTER);
  /** replacement order: next[S] is the most recent, prev[S] the victim (S = capacity) */
  readonly #prev: Int32Array;
  readonly #next: Int32Array;
  /** invalid entries, used before anything is evicted */
  readonly #free: Int32Array;
  #nfree: number;
  /** fills not yet written into the entries (`fillPage`), a ring of the last `capacity` */
  #pend = 0;
  /** ring slot of the next held-back fill */
  #pk = 0;
  readonly #pBase: Float64Array;
  readonly #pPa: Float64Array;
  readonly #pPerm: Uint8Array;
  readonly #pFbase: Float64Array;
  readonly #pFlen: Float64Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.base = new Float64Array(capacity);
    this.len = new Float64Array(capacity);
    this.pa = new Float64Array(capacity);
    this.perm = new Uint8Array(capacity);
    this.fbase = new Float64Array(capacity);
    this.flen = new Float64Array(capacity);
    this.#slot = new Int32Array(capacity);
    this.#prev = new Int32Array(capacity + 1);
    this.#next = new Int32Array(capacity + 1);
    this.#free = new Int32Array(capacity);
    this.#nfree = 0;
    this.#pBase = new Float64Array(capacity);
    this.#pPa = new Float64Array(capacity);
    this.#pPerm = new Uint8Array(capacity);
    this.#pFbase = new Float64Array(capacity);
    this.#pFlen = new Float64Array(capacity);
    this.invalidateAll();
  }

  /** Number of valid entries. */
  get used(): number {
    this.commit();
    return this.capacity - this.#nfree;
  }

  /**
   * The entry covering `iova`: its index, `TLB_MISS`, or `TLB_MULTI_HIT` when several do.
   * A hit makes the entry most recently used (LRU mode).
   */
  lookup(iova: number): number {
    if (!this.#multi) {
      if (this.#pend === 0) {
        const l = this.#last;
        if (l >= 0) {
          const d = iova - this.base[l]!;
          if (d >= 0 && d < this.len[l]!) {
            if (this.lru) this.#touch(l);
            this.hits++;
            return l;
          }
        }
      }
      // No entry of any size near iova (held-back fills only cover pages below it): a miss.
      const f = this.#filter;
      if (
        (f[(iova >>> 12) & FMASK]! |
          f[FILTER + ((iova >>> 16) & FMASK)]! |
          f[2 * FILTER + (iova >>> 20)]!) ===
        0
      ) {
        this.#cleanMiss = iova >>> 12;
        this.misses++;
        return TLB_MISS;
      }
    }
    return this.#lookupSlow(iova);
  }

  /** `lookup` when an entry may be near: held-back fills written first, then a scan. */
  #lookupSlow(iova: number): number {
    this.commit();
    const base = this.base;
    const len = this.len;
    if (!this.#multi) {
      for (let i = 0; i < this.capacity; i++) {
        const d = iova - base[i]!;
        if (d >= 0 && d < len[i]!) {
          this.#last = i;
          if (this.lru) this.#touch(i);
          this.hits++;
          return i;
        }
      }
      this.misses++;
      return TLB_MISS;
    }
    let found = TLB_MISS;
    let count = 0;
    for (let i = 0; i < this.capacity; i++) {
      const d = iova - base[i]!;
      if (d >= 0 && d < len[i]!) {
        found = i;
        count++;
      }
    }
    if (count > 1) return TLB_MULTI_HIT;
    if (found >= 0) {
      if (this.lru) this.#touch(found);
      this.hits++;
    } else this.misses++;
    return found;
  }

  /**
   * Fills an entry (after a walk): lookup range `[base, base + len)` (len 4 KiB, 64 KiB or
   * 1 MiB, `base` aligned to it), physical `pa`, access bits `perm`, and the mapping
   * `[fbase, fbase + flen)` it came from. Takes an invalid entry, else evicts the replacement
   * victim. Returns the entry's index.
   */
  insert(base: number, len: number, pa: number, perm: number, fbase: number, flen: number): number {
    if (this.#pend > 0) this.commit();
    const cls = len === 4096 ? 0 : len === 65536 ? 1 : 2;
    if (
      !this.#multi &&
      !(cls === 0 && this.#cleanMiss === base >>> 12) &&
      this.#mayOverlap(base, cls) &&
      this.#overlapsAny(base, len)
    )
      this.#multi = true;
    this.#cleanMiss = -1;
    if (fbase !== base || flen !== len) this.#split = true;
    let i: number;
    if (this.#nfree > 0) i = this.#free[--this.#nfree]!;
    else {
      i = this.#prev[this.capacity]!;
      this.#filter[this.#slot[i]!]!--;
      this.#unlink(i);
    }
    const slot = cls * FILTER + ((base >>> (12 + (cls << 2))) & FMASK);
    this.base[i] = base;
    this.len[i] = len;
    this.pa[i] = pa;
    this.perm[i] = perm;
    this.fbase[i] = fbase;
    this.flen[i] = flen;
    this.#slot[i] = slot;
    this.#filter[slot]!++;
    this.#linkHead(i);
    this.#last = i;
    return i;
  }

  /**
   * Fills a 4 KiB entry after a walk, like `insert`, but may hold it back until the next
   * `commit` (or any lookup that could see it): only the last `capacity` fills of a run of
   * misses survive their own evictions, so only those are written. The caller guarantees that
   * until it commits, every lookup is for an address above `base + 4 KiB` (one transfer walking
   * upwards), so no held-back fill could have answered it.
   */
  fillPage(base: number, pa: number, perm: number, fbase: number, flen: number): void {
    if (this.#multi) {
      this.insert(base, 4096, pa, perm, fbase, flen);
      return;
    }
    const k = this.#pk;
    this.#pk = k + 1 === this.capacity ? 0 : k + 1;
    this.#pBase[k] = base;
    this.#pPa[k] = pa;
    this.#pPerm[k] = perm;
    // the mapping differs from the lookup range only for v2's per-4 KiB entries (flen 0: same)
    if (flen !== 4096 || fbase !== base) {
      this.#pFbase[k] = fbase;
      this.#pFlen[k] = flen;
    } else this.#pFlen[k] = 0;
    this.#pend++;
    this.#last = -1;
    this.#cleanMiss = -1;
  }

  /** Writes the held-back fills into the entries, oldest first. */
  commit(): void {
    const m = this.#pend;
    if (m === 0) return;
    this.#pend = 0;
    const C = this.capacity;
    const n = Math.min(m, C);
    // the ring's last n fills, oldest first
    let k = this.#pk - n;
    if (k < 0) k += C;
    this.#pk = 0;
    for (let j = 0; j < n; j++) {
      const b = this.#pBase[k]!;
      const fl = this.#pFlen[k]!;
      if (fl === 0) this.insert(b, 4096, this.#pPa[k]!, this.#pPerm[k]!, b, 4096);
      else this.insert(b, 4096, this.#pPa[k]!, this.#pPerm[k]!, this.#pFbase[k]!, fl);
      k = k + 1 === C ? 0 : k + 1;
    }
  }

  /** Invalidates every entry (MMU_FLUSH). */
  invalidateAll(): void {
    this.#pend = 0;
    this.#pk = 0;
    const S = this.capacity;
    this.len.fill(0);
    this.flen.fill(0);
    this.#filter.fill(0);
    this.#next[S] = S;
    this.#prev[S] = S;
    for (let i = 0; i < S; i++) this.#free[i] = S - 1 - i;
    this.#nfree = S;
    this.#last = -1;
    this.#multi = false;
    this.#split = false;
    this.#cleanMiss = -1;
  }

  /**
   * Invalidates the entries filled from a mapping that contains `iova` (MMU_FLUSH_ENTRY). With
   * `setBits` > 0 (v2's 8-way × 64-set L2 TLB) only those in the set `iova` indexes go: entries
   * whose page number agrees with `iova`'s in the low `setBits` bits. Returns how many went.
   */
  invalidateEntry(iova: number, setBits = 0): number {
    // nothing cached, nothing held back: nothing to invalidate
    if (this.#nfree === this.capacity && this.#pend === 0) return 0;
    return this.#invalidateEntry(iova, setBits);
  }

  #invalidateEntry(iova: number, setBits: number): number {
    if (this.#pend === 0 && !this.#split) {
      // every entry covers exactly its mapping: the filter tells when none can contain iova
      const f = this.#filter;
      if (
        (f[(iova >>> 12) & FMASK]! |
          f[FILTER + ((iova >>> 16) & FMASK)]! |
          f[2 * FILTER + (iova >>> 20)]!) ===
        0
      )
        return 0;
    }
    return this.#invalidateEntrySlow(iova, setBits);
  }

  #invalidateEntrySlow(iova: number, setBits: number): number {
    this.commit();
    const setMask = (1 << setBits) - 1;
    const set = (iova >>> 12) & setMask;
    let n = 0;
    for (let i = 0; i < this.capacity; i++) {
      const d = iova - this.fbase[i]!;
      if (d < 0 || d >= this.flen[i]!) continue;
      if (setBits > 0 && ((this.base[i]! >>> 12) & setMask) !== set) continue;
      this.#remove(i);
      n++;
    }
    if (n > 0) this.#recheckMulti();
    return n;
  }

  /** Invalidates the entries filled from mappings that meet `[start, end)` (v5 range flush). */
  invalidateRange(start: number, end: number): number {
    if (this.#pend > 0) this.commit();
    let n = 0;
    for (let i = 0; i < this.capacity; i++) {
      if (this.flen[i] === 0) continue;
      if (this.fbase[i]! < end && start < this.fbase[i]! + this.flen[i]!) {
        this.#remove(i);
        n++;
      }
    }
    if (n > 0) this.#recheckMulti();
    return n;
  }

  /** The valid entries, most recently used (or filled) first. */
  entries(): TlbEntryInfo[] {
    this.commit();
    const out: TlbEntryInfo[] = [];
    const S = this.capacity;
    for (let i = this.#next[S]!; i !== S; i = this.#next[i]!) {
      out.push({
        iova: this.base[i]!,
        size: this.len[i]!,
        paddr: this.pa[i]!,
        read: (this.perm[i]! & 1) !== 0,
        write: (this.perm[i]! & 2) !== 0,
      });
    }
    return out;
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Could an entry of class `cls` at `base` overlap a valid one? (filter check, may say yes wrongly) */
  #mayOverlap(base: number, cls: number): boolean {
    const f = this.#filter;
    const p4 = base >>> 12;
    const p64 = base >>> 16;
    const p1m = base >>> 20;
    if (f[2 * FILTER + p1m]! !== 0) return true;
    if (cls <= 1 && f[FILTER + (p64 & FMASK)]! !== 0) return true;
    if (cls === 0) return f[p4 & FMASK]! !== 0;
    if (cls === 2) for (let k = 0; k < 16; k++) if (f[FILTER + ((p64 + k) & FMASK)]! !== 0) return true;
    const pages = cls === 1 ? 16 : 256;
    for (let k = 0; k < pages; k++) if (f[(p4 + k) & FMASK]! !== 0) return true;
    return false;
  }

  #overlapsAny(base: number, len: number): boolean {
    for (let i = 0; i < this.capacity; i++) {
      if (this.len[i] !== 0 && this.base[i]! < base + len && base < this.base[i]! + this.len[i]!) return true;
    }
    return false;
  }

  #recheckMulti(): void {
    if (!this.#multi) return;
    const base = this.base;
    const len = this.len;
    for (let i = 0; i < this.capacity; i++) {
      if (len[i] === 0) continue;
      for (let j = i + 1; j < this.capacity; j++) {
        if (len[j] === 0) continue;
        if (base[i]! < base[j]! + len[j]! && base[j]! < base[i]! + len[i]!) return;
      }
    }
    this.#multi = false;
  }

  #remove(i: number): void {
    this.#filter[this.#slot[i]!]!--;
    this.len[i] = 0;
    this.flen[i] = 0;
    if (this.#last === i) this.#last = -1;
    this.#unlink(i);
    this.#free[this.#nfree++] = i;
  }

  #unlink(i: number): void {
    const p = this.#prev[i]!;
    const n = this.#next[i]!;
    this.#next[p] = n;
    this.#prev[n] = p;
  }

  #linkHead(i: number): void {
    const S = this.capacity;
    const h = this.#next[S]!;
    this.#next[i] = h;
    this.#prev[i] = S;
    this.#prev[h] = i;
    this.#next[S] = i;
  }

  #touch(i: number): void {
    if (this.#next[this.capacity] === i) return;
    this.#unlink(i);
    this.#linkHead(i);
  }
}
