/**
 * The IOVA allocator's index: the pfn space itself, as a sparse radix tree of allocation
 * bitmaps with free-run summaries (a segment tree over pfns, 32 children a node). Where the
 * B+-tree over ranges it replaces (`IovaTree`) pays for the number of live ranges — its random
 * lookups miss the cache once hundreds of thousands of ranges are live — this index pays for the
 * size of the space: a search, insert or remove visits one node a level, ⌈(log2 limit − 5) / 5⌉
 * levels (3 for a 4 GiB space of 4 KiB frames), whatever the number of ranges, and every node it
 * touches is a few cache lines of a structure about one bit a pfn in size.
 *
 * - A leaf (height 1) covers 1,024 pfns: 32 words of "allocated" bits (bit j of word k is pfn
 *   `base + 32k + j`) and 32 words of "a range starts here" bits.
 * - An inner node (height h ≥ 2) covers 2^(5h+5) pfns in 32 slots. A slot holds a child node, or
 *   nothing when its pfns are uniform — all free, or all allocated by one range that starts
 *   elsewhere — so that an empty 4 GiB space costs one leaf and a 2^40-frame reservation a few
 *   nodes. Per slot the node keeps the free run at its bottom (`pre`) and top (`suf`) and the
 *   longest free run inside it (`mx`), and per node three masks: slots with a free pfn (`F`),
 *   slots entirely free (`E`), slots where a range starts (`S`).
 * - The root grows by a level whenever a range reaches past what it covers (up to 2^55 pfns);
 *   above the root everything is free.
 *
 * The highest fit below a limit is found top-down, scanning the free runs from the limit down
 * and pruning every slot whose summaries say it holds no run long enough. Ranges are recovered
 * from the bits: the range holding an allocated pfn starts at the nearest start bit at or below
 * it and ends before the next free pfn or start bit above it.
 *
 * @module
 */
import { KernelBug } from "@umm/kernel-core";

/** pfn of the anchor range that terminates the space (the kernel's IOVA_ANCHOR, ~0UL); never stored. */
const ANCHOR = Number.MAX_SAFE_INTEGER;
const FAN = 32;
/** the tallest root: 2^55 pfns, past every safe integer */
const MAX_HEIGHT = 10;
/** SPAN[h]: pfns under a node of height h (SPAN[0] = 32: a word of a leaf) */
const SPAN: readonly number[] = Array.from({ length: MAX_HEIGHT + 1 }, (_, h) => 2 ** (5 * h + 5));
const LEAF_SPAN = 1024;

/** Bits [0, n) of a word (n in 0..32). */
function lowMask(n: number): number {
  return n >= 32 ? -1 : ((1 << n) - 1) | 0;
}

/** Bits [n, 32) of a word (n in 0..32). */
function highMask(n: number): number {
  return n >= 32 ? 0 : -1 << n;
}

/** Index of the lowest set bit (x !== 0). */
function lowBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Index of the highest set bit (x !== 0). */
function highBit(x: number): number {
  return 31 - Math.clz32(x);
}

/** The longest run of clear bits in a word. */
function maxZeroRun(w: number): number {
  let x = ~w;
  let n = 0;
  while (x !== 0) {
    x &= x << 1;
    n++;
  }
  return n;
}

/** Bits set in a word. */
function popcount(w: number): number {
  let x = w - ((w >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) as number;
}

/** `x` rounded down to a multiple of `align` (a power of two); exact up to 2^53, any sign. */
function alignDown(x: number, align: number): number {
  if (align === 1) return x;
  if (x >= 0 && x <= 0x7fffffff && align <= 0x40000000) return x & -align;
  return Math.floor(x / align) * align;
}

/** The slot of a node of height `h` that holds offset `off` (0 <= off < SPAN[h]). */
function slotOf(h: number, off: number): number {
  return h <= 5 ? off >>> (5 * h) : Math.floor(off / (SPAN[h - 1] as number));
}

/** Free-run summary of a run of pfns, for `check`. */
interface Seg {
  len: number;
  pre: number;
  suf: number;
  mx: number;
}

function segJoin(a: Seg, b: Seg): Seg {
  return {
    len: a.len + b.len,
    pre: a.pre === a.len ? a.len + b.pre : a.pre,
    suf: b.suf === b.len ? b.len + a.suf : b.suf,
    mx: Math.max(a.mx, b.mx, a.suf + b.pre),
  };
}

function segUniform(len: number, free: boolean): Seg {
  const n = free ? len : 0;
  return { len, pre: n, suf: n, mx: n };
}

// Storage. A leaf is 64 ints: the allocated word and the start word of each of its 32 words,
// side by side; its masks F, E, S are 4 ints of `lm`. An inner node is 128 doubles of `in`: per
// slot `pre`, `suf`, `mx` and the child's id (0: uniform); its masks are 4 ints of `im`. What one
// level of a lookup reads is thus two cache lines.
const LW = 64;
const NW = 128;
const PRE = 0;
const SUF = 1;
const MX = 2;
const CHILD = 3;
const MF = 0;
const ME = 1;
const MS = 2;

/** The set of allocated IOVA ranges of a domain (package-internal). */
export class IovaSpace {
  /** leaves: [used word, start word] × 32 */
  lw: Int32Array;
  /** leaf masks: F, E, S, (free-list link) */
  lm: Int32Array;
  /** inner nodes: [pre, suf, mx, child] × 32 */
  in: Float64Array;
  /** inner masks: F, E, S, (free-list link) */
  im: Int32Array;
  root = 0;
  /** height of the root (1: the root is a leaf) */
  height = 1;
  /** ranges held (the anchor not counted) */
  size = 0;
  /** `lo` and `hi` of the range the last `find` / `remove` / `firstEndingAtOrAfter` reported */
  foundLo = 0;
  foundHi = 0;
  #leafTop = 1;
  #leafFree = 0;
  #leaves = 0;
  #innerTop = 1;
  #innerFree = 0;
  #inners = 0;
  // the operation `#apply` carries out: used bits of [aLo, aHi] := aUsed, start bit of aLo := aStart
  #aLo = 0;
  #aHi = 0;
  #aUsed = false;
  #aStart = false;
  // the summary of the node `#apply` / `#combine*` just finished
  #rPre = 0;
  #rSuf = 0;
  #rMx = 0;
  #rF = false;
  #rE = false;
  #rS = false;
  // the search in progress: request, and the highest candidate of the free run being scanned
  #sSize = 0;
  #sAlign = 1;
  #sLow = 0;
  #sCand = 0;
  // the path `#applyPath` went down: node and slot at each height
  readonly #pNode = new Int32Array(MAX_HEIGHT + 1);
  readonly #pSlot = new Int32Array(MAX_HEIGHT + 1);

  constructor() {
    this.lw = new Int32Array(4 * LW);
    this.lm = new Int32Array(4 * 4);
    this.in = new Float64Array(4 * NW);
    this.im = new Int32Array(4 * 4);
    this.root = this.#newLeaf(true);
  }

  // ---- storage ----

  /** A leaf whose pfns are all free (or all allocated), without starts. */
  #newLeaf(free: boolean): number {
    let x = this.#leafFree;
    if (x !== 0) this.#leafFree = this.lm[x * 4 + 3] as number;
    else {
      x = this.#leafTop++;
      if (x * 4 === this.lm.length) {
        this.lw = grow32(this.lw, x * 2 * LW);
        this.lm = grow32(this.lm, x * 2 * 4);
      }
    }
    const b = x * LW;
    const w = free ? 0 : -1;
    const lw = this.lw;
    for (let i = 0; i < LW; i += 2) {
      lw[b + i] = w;
      lw[b + i + 1] = 0;
    }
    this.lm[x * 4 + MF] = w ^ -1;
    this.lm[x * 4 + ME] = w ^ -1;
    this.lm[x * 4 + MS] = 0;
    this.#leaves++;
    return x;
  }

  /** An inner node whose slots are all uniformly free (or allocated). */
  #newInner(free: boolean): number {
    let x = this.#innerFree;
    if (x !== 0) this.#innerFree = this.im[x * 4 + 3] as number;
    else {
      x = this.#innerTop++;
      if (x * 4 === this.im.length) {
        this.in = grow64(this.in, x * 2 * NW);
        this.im = grow32(this.im, x * 2 * 4);
      }
    }
    const b = x * NW;
    for (let i = CHILD; i < NW; i += 4) this.in[b + i] = 0;
    this.im[x * 4 + MF] = free ? -1 : 0;
    this.im[x * 4 + ME] = free ? -1 : 0;
    this.im[x * 4 + MS] = 0;
    this.#inners++;
    return x;
  }

  /** Frees node `x` of height `h` and everything under it. */
  #freeNode(x: number, h: number): void {
    if (h === 1) {
      this.lm[x * 4 + 3] = this.#leafFree;
      this.#leafFree = x;
      this.#leaves--;
      return;
    }
    const b = x * NW;
    for (let k = 0; k < FAN; k++) {
      const c = this.in[b + 4 * k + CHILD] as number;
      if (c !== 0) this.#freeNode(c, h - 1);
    }
    this.im[x * 4 + 3] = this.#innerFree;
    this.#innerFree = x;
    this.#inners--;
  }

  /** Nodes allocated (leaves, inner nodes): what the index costs, for tests and reports. */
  get nodes(): { leaves: number; inner: number } {
    return { leaves: this.#leaves, inner: this.#inners };
  }

  // ---- summaries ----

  /** Puts the summary of leaf `x` into `#r*`. */
  #combineLeaf(x: number): void {
    const F = this.lm[x * 4 + MF] as number;
    const E = this.lm[x * 4 + ME] as number;
    this.#rF = F !== 0;
    this.#rE = E === -1;
    this.#rS = this.lm[x * 4 + MS] !== 0;
    if (F === 0) {
      this.#rPre = this.#rSuf = this.#rMx = 0;
      return;
    }
    if (E === -1) {
      this.#rPre = this.#rSuf = this.#rMx = LEAF_SPAN;
      return;
    }
    const lw = this.lw;
    const b = x * LW;
    // E !== -1: some word is not empty, so ~E has a bit; a word that is neither empty nor full
    // has its free bits at the bottom and top counted by ctz / clz (full words are not read)
    let t = lowBit(~E);
    this.#rPre = t * 32 + ((F & (1 << t)) !== 0 ? lowBit(lw[b + 2 * t] as number) : 0);
    t = 31 - Math.clz32(~E);
    this.#rSuf = (31 - t) * 32 + ((F & (1 << t)) !== 0 ? Math.clz32(lw[b + 2 * t] as number) : 0);
    // the longest run: walk the words a stretch at a time (empty, full, or one mixed word)
    let best = 0;
    let cur = 0;
    let k = 0;
    while (k < 32) {
      const bit = 1 << k;
      if ((E & bit) !== 0) {
        const n = lowBit(~(E >>> k));
        cur += n * 32;
        k += n;
      } else if ((F & bit) === 0) {
        if (cur > best) best = cur;
        cur = 0;
        const rest = F >>> k;
        if (rest === 0) break;
        k += lowBit(rest);
      } else {
        const w = lw[b + 2 * k] as number;
        const p = cur + lowBit(w);
        if (p > best) best = p;
        if (32 - popcount(w) > best) {
          const r = maxZeroRun(w);
          if (r > best) best = r;
        }
        cur = Math.clz32(w);
        k++;
      }
    }
    this.#rMx = Math.max(cur, best);
  }

  /** Puts the summary of inner node `x` of height `h` into `#r*`. */
  #combineInner(x: number, h: number): void {
    const F = this.im[x * 4 + MF] as number;
    const E = this.im[x * 4 + ME] as number;
    this.#rF = F !== 0;
    this.#rE = E === -1;
    this.#rS = this.im[x * 4 + MS] !== 0;
    if (F === 0) {
      this.#rPre = this.#rSuf = this.#rMx = 0;
      return;
    }
    if (E === -1) {
      this.#rPre = this.#rSuf = this.#rMx = SPAN[h] as number;
      return;
    }
    const cs = SPAN[h - 1] as number;
    const nd = this.in;
    const b = x * NW;
    let t = lowBit(~E);
    this.#rPre = t * cs + ((F & (1 << t)) !== 0 ? (nd[b + 4 * t + PRE] as number) : 0);
    t = 31 - Math.clz32(~E);
    this.#rSuf = (31 - t) * cs + ((F & (1 << t)) !== 0 ? (nd[b + 4 * t + SUF] as number) : 0);
    let best = 0;
    let cur = 0;
    let k = 0;
    while (k < 32) {
      const bit = 1 << k;
      if ((E & bit) !== 0) {
        const n = lowBit(~(E >>> k));
        cur += n * cs;
        k += n;
      } else if ((F & bit) === 0) {
        if (cur > best) best = cur;
        cur = 0;
        const rest = F >>> k;
        if (rest === 0) break;
        k += lowBit(rest);
      } else {
        const s = b + 4 * k;
        const p = cur + (nd[s + PRE] as number);
        if (p > best) best = p;
        const mx = nd[s + MX] as number;
        if (mx > best) best = mx;
        cur = nd[s + SUF] as number;
        k++;
      }
    }
    this.#rMx = Math.max(cur, best);
  }

  // ---- updates ----

  /** Adds a level above the root. */
  #grow(): void {
    const h = this.height;
    if (h >= MAX_HEIGHT) throw new KernelBug("iova space: pfn beyond 2^55");
    const old = this.root;
    if (h === 1) this.#combineLeaf(old);
    else this.#combineInner(old, h);
    const r = this.#newInner(true);
    if (!this.#rS && (this.#rE || !this.#rF)) {
      this.#freeNode(old, h);
      if (!this.#rE) {
        this.im[r * 4 + MF] = -2;
        this.im[r * 4 + ME] = -2;
      }
    } else {
      const s = r * NW;
      this.in[s + CHILD] = old;
      this.in[s + PRE] = this.#rPre;
      this.in[s + SUF] = this.#rSuf;
      this.in[s + MX] = this.#rMx;
      this.im[r * 4 + MF] = this.#rF ? -1 : -2;
      this.im[r * 4 + ME] = this.#rE ? -1 : -2;
      this.im[r * 4 + MS] = this.#rS ? 1 : 0;
    }
    this.root = r;
    this.height = h + 1;
  }

  /** Sets the allocated bits of `[lo, hi]` to `used` and the start bit of `lo` to `start`. */
  #apply(lo: number, hi: number, used: boolean, start: boolean): void {
    while (hi >= (SPAN[this.height] as number)) this.#grow();
    this.#aLo = lo;
    this.#aHi = hi;
    this.#aUsed = used;
    this.#aStart = start;
    if (this.height === 1) this.#applyLeaf(this.root, 0);
    else if (Math.floor(lo / LEAF_SPAN) === Math.floor(hi / LEAF_SPAN)) this.#applyPath(lo);
    else this.#applyInner(this.root, this.height, 0, true);
  }

  /**
   * `#apply` when the range lies in one leaf (every small allocation): down the path to it, the
   * leaf, and back up, stopping where a slot's summary comes out unchanged.
   */
  #applyPath(lo: number): void {
    const pNode = this.#pNode;
    const pSlot = this.#pSlot;
    let x = this.root;
    let base = 0;
    for (let h = this.height; h > 1; h--) {
      const k = slotOf(h, lo - base);
      const s = x * NW + 4 * k + CHILD;
      let c = this.in[s] as number;
      if (c === 0) {
        const free = ((this.im[x * 4 + ME] as number) & (1 << k)) !== 0;
        c = h === 2 ? this.#newLeaf(free) : this.#newInner(free);
        this.in[s] = c;
      }
      pNode[h] = x;
      pSlot[h] = k;
      base += k * (SPAN[h - 1] as number);
      x = c;
    }
    this.#applyLeaf(x, base);
    const nd = this.in;
    const im = this.im;
    for (let h = 2; h <= this.height; h++) {
      const p = pNode[h] as number;
      const k = pSlot[h] as number;
      const bit = 1 << k;
      const s = p * NW + 4 * k;
      const m = p * 4;
      let F = im[m + MF] as number;
      let E = im[m + ME] as number;
      let S = im[m + MS] as number;
      if (!this.#rS && (this.#rE || !this.#rF)) {
        // the child turned uniform: drop it
        this.#freeNode(x, h - 1);
        nd[s + CHILD] = 0;
        S &= ~bit;
        if (this.#rE) {
          F |= bit;
          E |= bit;
        } else {
          F &= ~bit;
          E &= ~bit;
        }
      } else {
        const same =
          ((F & bit) !== 0) === this.#rF &&
          ((E & bit) !== 0) === this.#rE &&
          ((S & bit) !== 0) === this.#rS &&
          nd[s + PRE] === this.#rPre &&
          nd[s + SUF] === this.#rSuf &&
          nd[s + MX] === this.#rMx;
        if (same) return;
        nd[s + PRE] = this.#rPre;
        nd[s + SUF] = this.#rSuf;
        nd[s + MX] = this.#rMx;
        F = this.#rF ? F | bit : F & ~bit;
        E = this.#rE ? E | bit : E & ~bit;
        S = this.#rS ? S | bit : S & ~bit;
      }
      im[m + MF] = F;
      im[m + ME] = E;
      im[m + MS] = S;
      if (h === this.height) return;
      this.#combineInner(p, h);
      x = p;
    }
  }

  #applyLeaf(x: number, base: number): void {
    const lo = this.#aLo;
    const hi = this.#aHi;
    const b = x * LW;
    const lw = this.lw;
    const from = lo > base ? lo - base : 0;
    const to = Math.min(hi - base, LEAF_SPAN - 1);
    const k0 = from >>> 5;
    const k1 = to >>> 5;
    let F = this.lm[x * 4 + MF] as number;
    let E = this.lm[x * 4 + ME] as number;
    for (let k = k0; k <= k1; k++) {
      const m = (k === k1 ? lowMask((to & 31) + 1) : -1) & (k === k0 ? highMask(from & 31) : -1);
      const i = b + 2 * k;
      const w = this.#aUsed ? (lw[i] as number) | m : (lw[i] as number) & ~m;
      lw[i] = w;
      const bit = 1 << k;
      F = w !== -1 ? F | bit : F & ~bit;
      E = w === 0 ? E | bit : E & ~bit;
    }
    this.lm[x * 4 + MF] = F;
    this.lm[x * 4 + ME] = E;
    if (lo >= base) {
      const bit = 1 << (from & 31);
      const i = b + 2 * k0 + 1;
      const s = this.#aStart ? (lw[i] as number) | bit : (lw[i] as number) & ~bit;
      lw[i] = s;
      const S = this.lm[x * 4 + MS] as number;
      this.lm[x * 4 + MS] = s !== 0 ? S | (1 << k0) : S & ~(1 << k0);
    }
    this.#combineLeaf(x);
  }

  /** `#apply` under inner node `x`; its summary goes to `#r*` unless it is the root (no one reads that). */
  #applyInner(x: number, h: number, base: number, isRoot: boolean): void {
    const lo = this.#aLo;
    const hi = this.#aHi;
    const cs = SPAN[h - 1] as number;
    const b = x * NW;
    const from = lo > base ? lo - base : 0;
    const last = (SPAN[h] as number) - 1;
    const to = Math.min(hi - base, last);
    const k0 = slotOf(h, from);
    const k1 = slotOf(h, to);
    let F = this.im[x * 4 + MF] as number;
    let E = this.im[x * 4 + ME] as number;
    let S = this.im[x * 4 + MS] as number;
    for (let k = k0; k <= k1; k++) {
      const bit = 1 << k;
      const s = b + 4 * k;
      const cLo = base + k * cs;
      const cHi = cLo + cs - 1;
      // (read `in` afresh: a node allocated on the way may have grown it)
      let c = this.in[s + CHILD] as number;
      const startHere = lo >= cLo && lo <= cHi;
      if (lo <= cLo && hi >= cHi && !startHere && (S & bit) === 0) {
        // the whole slot becomes uniform
        if (c !== 0) {
          this.#freeNode(c, h - 1);
          this.in[s + CHILD] = 0;
        }
        if (this.#aUsed) {
          F &= ~bit;
          E &= ~bit;
        } else {
          F |= bit;
          E |= bit;
        }
        continue;
      }
      if (c === 0) {
        c = h === 2 ? this.#newLeaf((E & bit) !== 0) : this.#newInner((E & bit) !== 0);
        this.in[s + CHILD] = c;
      }
      if (h === 2) this.#applyLeaf(c, cLo);
      else this.#applyInner(c, h - 1, cLo, false);
      const n = this.in;
      if (!this.#rS && (this.#rE || !this.#rF)) {
        // the child turned uniform: drop it
        this.#freeNode(c, h - 1);
        n[s + CHILD] = 0;
        S &= ~bit;
        if (this.#rE) {
          F |= bit;
          E |= bit;
        } else {
          F &= ~bit;
          E &= ~bit;
        }
      } else {
        n[s + PRE] = this.#rPre;
        n[s + SUF] = this.#rSuf;
        n[s + MX] = this.#rMx;
        F = this.#rF ? F | bit : F & ~bit;
        E = this.#rE ? E | bit : E & ~bit;
        S = this.#rS ? S | bit : S & ~bit;
      }
    }
    this.im[x * 4 + MF] = F;
    this.im[x * 4 + ME] = E;
    this.im[x * 4 + MS] = S;
    if (!isRoot) this.#combineInner(x, h);
  }

  /** Inserts `[lo, hi]` (hi < the anchor), which must be free. */
  insert(lo: number, hi: number): void {
    this.#apply(lo, hi, true, true);
    this.size++;
  }

  /**
   * Removes the range containing `pfn`; false when there is none. Its bounds are left in
   * `foundLo` / `foundHi`.
   */
  remove(pfn: number): boolean {
    if (!this.find(pfn)) return false;
    this.#apply(this.foundLo, this.foundHi, false, false);
    this.size--;
    return true;
  }

  /** Lowers the `lo` of the range starting at `lo` to `newLo` (the pfns between must be free). */
  extendDown(lo: number, newLo: number): void {
    if (!this.find(lo) || this.foundLo !== lo)
      throw new KernelBug(`iova space: no range starts at pfn ${lo}`);
    if (newLo >= lo) return;
    if (this.#nextUsed(newLo) < lo) {
      throw new KernelBug(`iova space: extending pfn ${lo} down to ${newLo} overlaps`);
    }
    this.#apply(newLo, lo - 1, true, true);
    this.#apply(lo, lo, true, false);
  }

  // ---- lookups ----

  /** True when `pfn` is allocated; the range holding it is left in `foundLo` / `foundHi`. */
  find(pfn: number): boolean {
    if (pfn >= (SPAN[this.height] as number)) return false;
    let x = this.root;
    let base = 0;
    for (let h = this.height; h > 1; h--) {
      const k = slotOf(h, pfn - base);
      const c = this.in[x * NW + 4 * k + CHILD] as number;
      if (c === 0) {
        // uniform: free, or inside a range that starts below this slot
        if (((this.im[x * 4 + ME] as number) & (1 << k)) !== 0) return false;
        this.foundLo = this.#prevStart(pfn);
        this.foundHi = this.#nextStop(pfn + 1) - 1;
        return true;
      }
      base += k * (SPAN[h - 1] as number);
      x = c;
    }
    const off = pfn - base;
    const i = x * LW + 2 * (off >>> 5);
    const bit = off & 31;
    const w = this.lw[i] as number;
    if (((w >>> bit) & 1) === 0) return false;
    const s = this.lw[i + 1] as number;
    this.foundLo = ((s >>> bit) & 1) !== 0 ? pfn : this.#prevStart(pfn);
    // the end: before the next free pfn or start, most often in this very word
    const stop = (~w | s) & highMask(bit + 1);
    this.foundHi = stop !== 0 ? pfn - bit + lowBit(stop) - 1 : this.#nextStop(pfn + 1) - 1;
    return true;
  }

  /**
   * The range with the lowest `lo` whose `hi` is at least `pfn` (left in `foundLo` /
   * `foundHi`); false when there is none below the anchor.
   */
  firstEndingAtOrAfter(pfn: number): boolean {
    if (this.find(pfn)) return true;
    const s = this.#nextStart(pfn);
    if (s < 0) return false;
    this.foundLo = s;
    this.foundHi = this.#nextStop(s + 1) - 1;
    return true;
  }

  /** True when `pfn` is allocated. */
  #isUsed(pfn: number): boolean {
    if (pfn >= (SPAN[this.height] as number)) return false;
    let x = this.root;
    let base = 0;
    for (let h = this.height; h > 1; h--) {
      const k = slotOf(h, pfn - base);
      const c = this.in[x * NW + 4 * k + CHILD] as number;
      if (c === 0) return ((this.im[x * 4 + ME] as number) & (1 << k)) === 0;
      base += k * (SPAN[h - 1] as number);
      x = c;
    }
    const off = pfn - base;
    return (((this.lw[x * LW + 2 * (off >>> 5)] as number) >>> (off & 31)) & 1) !== 0;
  }

  /** The lowest allocated pfn at or above `from` (the anchor when none). */
  #nextUsed(from: number): number {
    if (this.#isUsed(from)) return from;
    // an allocated run begins with a start, so the next allocated pfn is the next start
    const s = this.#nextStart(from);
    return s < 0 ? ANCHOR : s;
  }

  /** The highest start bit at or below `pfn` (which is allocated, so there is one). */
  #prevStart(pfn: number): number {
    const r =
      this.height === 1
        ? this.#prevStartLeaf(this.root, 0, pfn)
        : this.#prevStartIn(this.root, this.height, 0, pfn);
    if (r < 0) throw new KernelBug(`iova space: allocated pfn ${pfn} belongs to no range`);
    return r;
  }

  #prevStartLeaf(x: number, base: number, at: number): number {
    const b = x * LW;
    const off = at - base;
    const k = off >>> 5;
    const s = (this.lw[b + 2 * k + 1] as number) & lowMask((off & 31) + 1);
    if (s !== 0) return base + k * 32 + highBit(s);
    const m = (this.lm[x * 4 + MS] as number) & lowMask(k);
    if (m === 0) return -1;
    const j = highBit(m);
    return base + j * 32 + highBit(this.lw[b + 2 * j + 1] as number);
  }

  #prevStartIn(x: number, h: number, base: number, at: number): number {
    const b = x * NW;
    const cs = SPAN[h - 1] as number;
    const S = this.im[x * 4 + MS] as number;
    const k = slotOf(h, at - base);
    const c = this.in[b + 4 * k + CHILD] as number;
    if (c !== 0 && (S & (1 << k)) !== 0) {
      const r =
        h === 2 ? this.#prevStartLeaf(c, base + k * cs, at) : this.#prevStartIn(c, h - 1, base + k * cs, at);
      if (r >= 0) return r;
    }
    const m = S & lowMask(k);
    if (m === 0) return -1;
    const j = highBit(m);
    const top = base + (j + 1) * cs - 1;
    const cj = this.in[b + 4 * j + CHILD] as number;
    return h === 2
      ? this.#prevStartLeaf(cj, base + j * cs, top)
      : this.#prevStartIn(cj, h - 1, base + j * cs, top);
  }

  /** The lowest pfn at or above `from` that is free or starts a range. */
  #nextStop(from: number): number {
    const cov = SPAN[this.height] as number;
    if (from >= cov) return from;
    const r =
      this.height === 1
        ? this.#nextLeaf(this.root, 0, from, true)
        : this.#nextIn(this.root, this.height, 0, from, true);
    return r < 0 ? cov : r;
  }

  /** The lowest start at or above `from`, or -1. */
  #nextStart(from: number): number {
    if (from >= (SPAN[this.height] as number)) return -1;
    return this.height === 1
      ? this.#nextLeaf(this.root, 0, from, false)
      : this.#nextIn(this.root, this.height, 0, from, false);
  }

  /** The lowest pfn at or above `from` in leaf `x` that starts a range (or, with `free`, is free). */
  #nextLeaf(x: number, base: number, from: number, free: boolean): number {
    const b = x * LW;
    const lw = this.lw;
    const off = from - base;
    const k = off >>> 5;
    let v = free ? ~(lw[b + 2 * k] as number) | (lw[b + 2 * k + 1] as number) : (lw[b + 2 * k + 1] as number);
    v &= highMask(off & 31);
    if (v !== 0) return base + k * 32 + lowBit(v);
    const S = this.lm[x * 4 + MS] as number;
    const m = (free ? (this.lm[x * 4 + MF] as number) | S : S) & highMask(k + 1);
    if (m === 0) return -1;
    const j = lowBit(m);
    v = free ? ~(lw[b + 2 * j] as number) | (lw[b + 2 * j + 1] as number) : (lw[b + 2 * j + 1] as number);
    return base + j * 32 + lowBit(v);
  }

  #nextIn(x: number, h: number, base: number, from: number, free: boolean): number {
    const b = x * NW;
    const cs = SPAN[h - 1] as number;
    const k = slotOf(h, from - base);
    const c = this.in[b + 4 * k + CHILD] as number;
    const F = this.im[x * 4 + MF] as number;
    const S = this.im[x * 4 + MS] as number;
    if (c === 0) {
      if (free && (F & (1 << k)) !== 0) return from;
    } else {
      const r =
        h === 2
          ? this.#nextLeaf(c, base + k * cs, from, free)
          : this.#nextIn(c, h - 1, base + k * cs, from, free);
      if (r >= 0) return r;
    }
    const m = (free ? F | S : S) & highMask(k + 1);
    if (m === 0) return -1;
    const j = lowBit(m);
    const cLo = base + j * cs;
    const cj = this.in[b + 4 * j + CHILD] as number;
    if (cj === 0) return cLo; // uniform with a free pfn: all free
    return h === 2 ? this.#nextLeaf(cj, cLo, cLo, free) : this.#nextIn(cj, h - 1, cLo, cLo, free);
  }

  // ---- allocation search ----

  /**
   * The highest `c` with `c % align === 0`, `low <= c` and `c + size <= limitEx` such that
   * `[c, c + size - 1]` is free; -1 when there is none. `align` is a power of two, `low >= 0`.
   */
  findFit(size: number, align: number, low: number, limitEx: number): number {
    this.#sSize = size;
    this.#sAlign = align;
    this.#sLow = low;
    // The scan runs down from the limit. The free run it is in has a highest candidate, fixed
    // by the run's top; the answer is the first candidate whose run reaches down to it.
    if (!this.#newRun(limitEx)) return -1;
    const cov = SPAN[this.height] as number;
    let p = limitEx;
    if (limitEx > cov) {
      if (this.#sCand >= cov) return this.#sCand;
      p = cov;
    }
    const r =
      this.height === 1 ? this.#searchLeaf(this.root, 0, p) : this.#searchIn(this.root, this.height, 0, p);
    return r >= 0 ? r : -1;
  }

  /** A free run with top `top` (exclusive) begins; false when its candidate is below `low`. */
  #newRun(top: number): boolean {
    const c = alignDown(top - this.#sSize, this.#sAlign);
    this.#sCand = c;
    return c >= this.#sLow;
  }

  /**
   * Scans `[base, p)` of inner node `x` downwards: the fit (>= 0), -1 when there is none
   * anywhere, -2 when there is none here (the scan goes on below `base`).
   */
  #searchIn(x: number, h: number, base: number, p: number): number {
    const nd = this.in;
    const b = x * NW;
    const cs = SPAN[h - 1] as number;
    const F = this.im[x * 4 + MF] as number;
    const E = this.im[x * 4 + ME] as number;
    let k = slotOf(h, p - 1 - base);
    while (k >= 0) {
      const bit = 1 << k;
      const cLo = base + k * cs;
      if ((E & bit) !== 0) {
        // all free: the run goes on through it
        if (cLo <= this.#sCand) return this.#sCand;
        k--;
        continue;
      }
      if ((F & bit) === 0) {
        // all allocated, and maybe the slots below: the next run starts under them
        const m = F & lowMask(k);
        if (m === 0) return this.#newRun(base) ? -2 : -1;
        const j = highBit(m);
        if (!this.#newRun(base + (j + 1) * cs)) return -1;
        k = j;
        continue;
      }
      const s = b + 4 * k;
      const c = nd[s + CHILD] as number;
      const cTop = cLo + cs;
      if (p < cTop) {
        const r = h === 2 ? this.#searchLeaf(c, cLo, p) : this.#searchIn(c, h - 1, cLo, p);
        if (r !== -2) return r;
      } else if (cTop - (nd[s + SUF] as number) <= this.#sCand) {
        return this.#sCand;
      } else if ((nd[s + MX] as number) >= this.#sSize) {
        const r = h === 2 ? this.#searchLeaf(c, cLo, cTop) : this.#searchIn(c, h - 1, cLo, cTop);
        if (r !== -2) return r;
      } else if (!this.#newRun(cLo + (nd[s + PRE] as number))) {
        // no run inside is long enough: only the one at its bottom may go on below
        return -1;
      }
      k--;
    }
    return -2;
  }

  /** `#searchIn` for a leaf. */
  #searchLeaf(x: number, base: number, p: number): number {
    const b = x * LW;
    const lw = this.lw;
    const F = this.lm[x * 4 + MF] as number;
    let k = (p - 1 - base) >>> 5;
    let valid = p - base - k * 32;
    while (k >= 0) {
      const wb = base + k * 32;
      const free = ~(lw[b + 2 * k] as number) & lowMask(valid);
      if (free === 0) {
        const m = F & lowMask(k);
        if (m === 0) return this.#newRun(base) ? -2 : -1;
        const j = highBit(m);
        if (!this.#newRun(base + (j + 1) * 32)) return -1;
        k = j;
        valid = 32;
        continue;
      }
      // the runs of this word, from the top of its valid part down
      let q = valid;
      for (;;) {
        const occ = ~free & lowMask(q);
        if (occ === 0) {
          if (wb <= this.#sCand) return this.#sCand;
          break;
        }
        const u = highBit(occ);
        if (wb + u + 1 <= this.#sCand) return this.#sCand;
        const f = free & lowMask(u);
        if (f === 0) {
          if (!this.#newRun(wb)) return -1;
          break;
        }
        const t = highBit(f);
        if (!this.#newRun(wb + t + 1)) return -1;
        q = t + 1;
      }
      k--;
      valid = 32;
    }
    return -2;
  }

  // ---- whole space ----

  /** Every range in order, as [lo, hi] pairs, the anchor last (tests, reports). */
  toArray(): [number, number][] {
    const out: [number, number][] = [];
    for (let s = this.#nextStart(0); s >= 0; ) {
      const hi = this.#nextStop(s + 1) - 1;
      out.push([s, hi]);
      s = this.#nextStart(hi + 1);
    }
    out.push([ANCHOR, ANCHOR]);
    return out;
  }

  /** Checks every invariant (masks, summaries, uniform slots, ranges, counts); throws KernelBug. */
  check(): void {
    let starts = 0;
    let prevUsed = false;
    let leaves = 0;
    let inners = 0;
    const bug = (what: string, base: number): never => {
      throw new KernelBug(`iova space: ${what} (node at pfn ${base})`);
    };
    const word = (w: number, s: number, base: number): void => {
      if ((s & ~w) !== 0) bug("a start on a free pfn", base);
      // every allocated run begins with a start
      const begins = w & ~((w << 1) | (prevUsed ? 1 : 0));
      if ((begins & ~s) !== 0) bug("an allocated run without a start", base);
      prevUsed = w >>> 31 === 1;
      starts += popcount(s);
    };
    const uniform = (len: number, free: boolean, base: number): Seg => {
      if (!free && !prevUsed) bug("an allocated run without a start", base);
      prevUsed = !free;
      return segUniform(len, free);
    };
    const walk = (x: number, h: number, base: number, isRoot: boolean): [Seg, boolean, boolean, boolean] => {
      let seg: Seg | null = null;
      let anyFree = false;
      let allFree = true;
      let anyStart = false;
      if (h === 1) {
        leaves++;
        let F = 0;
        let E = 0;
        let S = 0;
        for (let k = 0; k < FAN; k++) {
          const w = this.lw[x * LW + 2 * k] as number;
          const s = this.lw[x * LW + 2 * k + 1] as number;
          word(w, s, base + k * 32);
          if (w !== -1) F |= 1 << k;
          if (w === 0) E |= 1 << k;
          if (s !== 0) S |= 1 << k;
          for (let j = 0; j < 32; j++) {
            const one = segUniform(1, ((w >>> j) & 1) === 0);
            seg = seg ? segJoin(seg, one) : one;
          }
        }
        if (this.lm[x * 4 + MF] !== F || this.lm[x * 4 + ME] !== E || this.lm[x * 4 + MS] !== S) {
          bug("wrong leaf masks", base);
        }
        anyFree = F !== 0;
        allFree = E === -1;
        anyStart = S !== 0;
      } else {
        inners++;
        const cs = SPAN[h - 1] as number;
        let F = 0;
        let E = 0;
        let S = 0;
        for (let k = 0; k < FAN; k++) {
          const c = this.in[x * NW + 4 * k + CHILD] as number;
          const cLo = base + k * cs;
          let one: Seg;
          if (c === 0) {
            const free = ((this.im[x * 4 + ME] as number) & (1 << k)) !== 0;
            one = uniform(cs, free, cLo);
            if (free) {
              F |= 1 << k;
              E |= 1 << k;
            }
          } else {
            const [cseg, cf, ce, cst] = walk(c, h - 1, cLo, false);
            one = cseg;
            if (cf) F |= 1 << k;
            if (ce) E |= 1 << k;
            if (cst) S |= 1 << k;
            if (cf && !ce) {
              if (
                this.in[x * NW + 4 * k + PRE] !== cseg.pre ||
                this.in[x * NW + 4 * k + SUF] !== cseg.suf ||
                this.in[x * NW + 4 * k + MX] !== cseg.mx
              ) {
                bug(`wrong summary of slot ${k}`, base);
              }
            }
          }
          seg = seg ? segJoin(seg, one) : one;
        }
        if (this.im[x * 4 + MF] !== F || this.im[x * 4 + ME] !== E || this.im[x * 4 + MS] !== S) {
          bug("wrong node masks", base);
        }
        anyFree = F !== 0;
        allFree = E === -1;
        anyStart = S !== 0;
      }
      if (!isRoot && !anyStart && (allFree || !anyFree)) bug("a uniform node that should be a slot", base);
      return [seg as Seg, anyFree, allFree, anyStart];
    };
    walk(this.root, this.height, 0, true);
    if (starts !== this.size)
      throw new KernelBug(`iova space: ${starts} ranges start, size says ${this.size}`);
    if (leaves !== this.#leaves || inners !== this.#inners) {
      throw new KernelBug(
        `iova space: ${leaves}/${inners} nodes reachable, ${this.#leaves}/${this.#inners} allocated`,
      );
    }
  }

  /** Forgets every range. */
  clear(): void {
    this.#leafTop = 1;
    this.#leafFree = 0;
    this.#leaves = 0;
    this.#innerTop = 1;
    this.#innerFree = 0;
    this.#inners = 0;
    this.height = 1;
    this.size = 0;
    this.root = this.#newLeaf(true);
  }
}

function grow64(a: Float64Array, cap: number): Float64Array {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}

function grow32(a: Int32Array, cap: number): Int32Array {
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}
