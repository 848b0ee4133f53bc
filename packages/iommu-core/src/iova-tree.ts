/**
 * The IOVA allocator's index: disjoint inclusive pfn ranges, ordered by `lo`, in a B+-tree
 * augmented with free gaps (the idea of Peng Zhang's "iova: Optimize alloc_iova with
 * rbtree_augmented", on a wide tree). Each range records the free gap just below it (down to its
 * predecessor's `hi`), and every internal node keeps, per child, the smallest `lo` and the
 * largest gap in that child's subtree. The highest free gap that fits a request below a limit is
 * found by a descent, never by walking the ranges.
 *
 * Wide nodes keep the tree 2–4 levels deep for hundreds of thousands of ranges and their fields
 * contiguous, so a lookup touches a handful of cache lines where a binary tree touches twenty.
 * All storage is typed arrays: leaf i holds `lo[LB] hi[LB] gap[LB]` at `i * 3 * LB`; internal
 * node i holds `child[IB]`, `key[IB]` (min lo) and `max[IB]` (max gap) at `i * IB`. Leaf and
 * internal ids start at 1.
 *
 * The IOVA domains no longer use it: their index is `IovaSpace` (iova-space.ts), whose cost
 * does not grow with the number of live ranges (this tree's random lookups miss the cache once
 * hundreds of thousands are live). It stays, with its tests, as an ordered-range index.
 *
 * @module
 */
import { KernelBug } from "@umm/kernel-core";

const LSH = 5;
/** ranges per leaf */
const LB = 1 << LSH;
const LMIN = LB >> 2;
/** children per internal node */
const IB = 32;
const IMIN = IB >> 2;
const HI = LB;
const GAP = 2 * LB;
const LSTRIDE = 3 * LB;
const MAX_HEIGHT = 32;

/** A B+-tree of disjoint inclusive ranges with free-gap augmentation (package-internal). */
export class IovaTree {
  // leaves
  lf: Float64Array;
  lcnt: Int32Array;
  lprev: Int32Array;
  lnext: Int32Array;
  /** largest gap in each leaf */
  lmax: Float64Array;
  // internal nodes
  ichild: Int32Array;
  ikey: Float64Array;
  imax: Float64Array;
  icnt: Int32Array;
  /** largest gap under each internal node */
  nmax: Float64Array;
  root: number;
  /** levels of internal nodes above the leaves (0: the root is a leaf) */
  height = 0;
  /** ranges held */
  size = 0;
  /** `lo` and `hi` of the range the last `remove` took out */
  removedLo = 0;
  removedHi = 0;
  #leafTop = 1;
  #leafFree = 0;
  #intTop = 1;
  #intFree = 0;
  /** the last descent: internal node and child index at each depth (0 = root) */
  readonly #pNode = new Int32Array(MAX_HEIGHT);
  readonly #pIdx = new Int32Array(MAX_HEIGHT);

  constructor() {
    this.lf = new Float64Array(4 * LSTRIDE);
    this.lcnt = new Int32Array(4);
    this.lprev = new Int32Array(4);
    this.lnext = new Int32Array(4);
    this.lmax = new Float64Array(4);
    this.ichild = new Int32Array(4 * IB);
    this.ikey = new Float64Array(4 * IB);
    this.imax = new Float64Array(4 * IB);
    this.icnt = new Int32Array(4);
    this.nmax = new Float64Array(4);
    this.root = this.#newLeaf();
  }

  // ---- storage ----

  #newLeaf(): number {
    let x = this.#leafFree;
    if (x !== 0) {
      this.#leafFree = this.lnext[x] as number;
    } else {
      x = this.#leafTop++;
      if (x === this.lcnt.length) {
        const cap = x * 2;
        this.lf = grow64(this.lf, cap * LSTRIDE);
        this.lcnt = grow32(this.lcnt, cap);
        this.lprev = grow32(this.lprev, cap);
        this.lnext = grow32(this.lnext, cap);
        this.lmax = grow64(this.lmax, cap);
      }
    }
    this.lmax[x] = -1;
    this.lcnt[x] = 0;
    this.lprev[x] = 0;
    this.lnext[x] = 0;
    return x;
  }

  #freeLeaf(x: number): void {
    this.lnext[x] = this.#leafFree;
    this.#leafFree = x;
  }

  #newInternal(): number {
    let x = this.#intFree;
    if (x !== 0) {
      this.#intFree = this.ichild[x * IB] as number;
    } else {
      x = this.#intTop++;
      if (x === this.icnt.length) {
        const cap = x * 2;
        this.ichild = grow32(this.ichild, cap * IB);
        this.ikey = grow64(this.ikey, cap * IB);
        this.imax = grow64(this.imax, cap * IB);
        this.icnt = grow32(this.icnt, cap);
        this.nmax = grow64(this.nmax, cap);
      }
    }
    this.nmax[x] = -1;
    this.icnt[x] = 0;
    return x;
  }

  #freeInternal(x: number): void {
    this.ichild[x * IB] = this.#intFree;
    this.#intFree = x;
  }

  // ---- node summaries ----

  /** Recomputes and stores the largest gap of a leaf. */
  #recalcLeaf(leaf: number): number {
    const m = this.#scanLeaf(leaf);
    this.lmax[leaf] = m;
    return m;
  }

  /** Recomputes and stores the largest gap under an internal node. */
  #recalcNode(node: number): number {
    const m = this.#nodeMax(node);
    this.nmax[node] = m;
    return m;
  }

  #scanLeaf(leaf: number): number {
    const lf = this.lf;
    const b = leaf * LSTRIDE + GAP;
    const n = this.lcnt[leaf] as number;
    let m = -1;
    for (let i = 0; i < n; i++) {
      const g = lf[b + i] as number;
      if (g > m) m = g;
    }
    return m;
  }

  #nodeMax(node: number): number {
    const im = this.imax;
    const b = node * IB;
    const n = this.icnt[node] as number;
    let m = -1;
    for (let i = 0; i < n; i++) {
      const g = im[b + i] as number;
      if (g > m) m = g;
    }
    return m;
  }

  /**
   * Copies the key and stored max of child `j` of internal node `p` into `p`; `leaf` says what
   * the child is. The child's own max must be current.
   */
  #refreshChild(p: number, j: number, leaf: boolean): void {
    const c = this.ichild[p * IB + j] as number;
    if (leaf) {
      this.ikey[p * IB + j] = this.lf[c * LSTRIDE] as number;
      this.imax[p * IB + j] = this.lmax[c] as number;
    } else {
      this.ikey[p * IB + j] = this.ikey[c * IB] as number;
      this.imax[p * IB + j] = this.nmax[c] as number;
    }
  }

  // ---- descent ----

  /** Descends towards `key`, recording the path; returns the leaf. */
  #descend(key: number): number {
    const ik = this.ikey;
    let node = this.root;
    for (let d = 0; d < this.height; d++) {
      const b = node * IB;
      let lo = 1;
      let hi = (this.icnt[node] as number) - 1;
      // last child whose key is <= key (child 0 when none)
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if ((ik[b + mid] as number) <= key) lo = mid + 1;
        else hi = mid - 1;
      }
      this.#pNode[d] = node;
      this.#pIdx[d] = lo - 1;
      node = this.ichild[b + lo - 1] as number;
    }
    return node;
  }

  /** Position of the last range in `leaf` whose lo is <= key, or -1. */
  #leafPos(leaf: number, key: number): number {
    const lf = this.lf;
    const b = leaf * LSTRIDE;
    let lo = 0;
    let hi = (this.lcnt[leaf] as number) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((lf[b + mid] as number) <= key) lo = mid + 1;
      else hi = mid - 1;
    }
    return lo - 1;
  }

  /**
   * Pushes a leaf's key and (stored, current) max up the recorded path, stopping where nothing
   * changes. A node's max is rescanned only when the child that held it shrank.
   */
  #fixUp(leaf: number): void {
    let key = this.lf[leaf * LSTRIDE] as number;
    let max = this.lmax[leaf] as number;
    const ik = this.ikey;
    const im = this.imax;
    const nm = this.nmax;
    for (let d = this.height - 1; d >= 0; d--) {
      const p = this.#pNode[d] as number;
      const b = p * IB + (this.#pIdx[d] as number);
      const old = im[b] as number;
      if (ik[b] === key && old === max) return;
      ik[b] = key;
      im[b] = max;
      const pm = nm[p] as number;
      if (max >= pm) nm[p] = max;
      else if (old >= pm) nm[p] = this.#nodeMax(p);
      key = ik[p * IB] as number;
      max = nm[p] as number;
    }
  }

  /** Refreshes the path to the leaf holding `key` (after a gap changed in another leaf). */
  #fixKey(key: number): void {
    this.#fixUp(this.#descend(key));
  }

  // ---- insert ----

  /**
   * Splits full child `j` of internal node `p` into two; `p` has room. `key` is the key about to
   * be inserted: when it goes before (after) everything in the child, the lower (upper) part
   * keeps only the minimum fill, so that allocations running down (up) the IOVA space leave
   * nodes three-quarters full instead of half.
   */
  #splitChild(p: number, j: number, leaf: boolean, key: number): void {
    const c = this.ichild[p * IB + j] as number;
    let n: number;
    if (leaf) {
      n = this.#newLeaf();
      const lf = this.lf;
      const cb = c * LSTRIDE;
      const half = key < (lf[cb] as number) ? LMIN : key > (lf[cb + LB - 1] as number) ? LB - LMIN : LB >> 1;
      const nb = n * LSTRIDE;
      for (let i = 0; i < LB - half; i++) {
        lf[nb + i] = lf[cb + half + i] as number;
        lf[nb + HI + i] = lf[cb + HI + half + i] as number;
        lf[nb + GAP + i] = lf[cb + GAP + half + i] as number;
      }
      this.lcnt[c] = half;
      this.lcnt[n] = LB - half;
      const next = this.lnext[c] as number;
      this.lnext[n] = next;
      this.lprev[n] = c;
      this.lnext[c] = n;
      if (next !== 0) this.lprev[next] = n;
    } else {
      n = this.#newInternal();
      const cb = c * IB;
      const ik = this.ikey;
      const half =
        key < (ik[cb + 1] as number) ? IMIN : key >= (ik[cb + IB - 1] as number) ? IB - IMIN : IB >> 1;
      const nb = n * IB;
      for (let i = 0; i < IB - half; i++) {
        this.ichild[nb + i] = this.ichild[cb + half + i] as number;
        this.ikey[nb + i] = this.ikey[cb + half + i] as number;
        this.imax[nb + i] = this.imax[cb + half + i] as number;
      }
      this.icnt[c] = half;
      this.icnt[n] = IB - half;
    }
    const pb = p * IB;
    const cnt = this.icnt[p] as number;
    for (let i = cnt; i > j + 1; i--) {
      this.ichild[pb + i] = this.ichild[pb + i - 1] as number;
      this.ikey[pb + i] = this.ikey[pb + i - 1] as number;
      this.imax[pb + i] = this.imax[pb + i - 1] as number;
    }
    this.ichild[pb + j + 1] = n;
    this.icnt[p] = cnt + 1;
    if (leaf) {
      this.#recalcLeaf(c);
      this.#recalcLeaf(n);
    } else {
      this.#recalcNode(c);
      this.#recalcNode(n);
    }
    this.#refreshChild(p, j, leaf);
    this.#refreshChild(p, j + 1, leaf);
  }

  /** Inserts `[lo, hi]`, which must not overlap a range already in the tree. */
  insert(lo: number, hi: number): void {
    const rootFull = this.height === 0 ? this.lcnt[this.root] === LB : this.icnt[this.root] === IB;
    if (rootFull) {
      if (this.height + 1 >= MAX_HEIGHT) throw new KernelBug("iova tree too deep");
      const r = this.#newInternal();
      this.ichild[r * IB] = this.root;
      this.icnt[r] = 1;
      this.#refreshChild(r, 0, this.height === 0);
      this.nmax[r] = this.imax[r * IB] as number;
      this.#splitChild(r, 0, this.height === 0, lo);
      this.root = r;
      this.height++;
    }
    // Descend, splitting full children on the way so that every split has room above it.
    let node = this.root;
    for (let d = 0; d < this.height; d++) {
      const b = node * IB;
      const cnt = this.icnt[node] as number;
      let j = 0;
      while (j + 1 < cnt && (this.ikey[b + j + 1] as number) <= lo) j++;
      const leaf = d === this.height - 1;
      const c = this.ichild[b + j] as number;
      if (leaf ? this.lcnt[c] === LB : this.icnt[c] === IB) {
        this.#splitChild(node, j, leaf, lo);
        if ((this.ikey[b + j + 1] as number) <= lo) j++;
      }
      this.#pNode[d] = node;
      this.#pIdx[d] = j;
      node = this.ichild[b + j] as number;
    }
    const leaf = node;
    const lf = this.lf;
    const base = leaf * LSTRIDE;
    const cnt = this.lcnt[leaf] as number;
    const pos = this.#leafPos(leaf, lo) + 1;
    const lm = this.lmax;
    let predHi = -1;
    if (pos > 0) predHi = lf[base + HI + pos - 1] as number;
    else {
      const prev = this.lprev[leaf] as number;
      if (prev !== 0) predHi = lf[prev * LSTRIDE + HI + (this.lcnt[prev] as number) - 1] as number;
    }
    for (let i = cnt; i > pos; i--) {
      lf[base + i] = lf[base + i - 1] as number;
      lf[base + HI + i] = lf[base + HI + i - 1] as number;
      lf[base + GAP + i] = lf[base + GAP + i - 1] as number;
    }
    const gap = lo - predHi - 1;
    lf[base + pos] = lo;
    lf[base + HI + pos] = hi;
    lf[base + GAP + pos] = gap;
    this.lcnt[leaf] = cnt + 1;
    this.size++;
    // The new range splits the gap of its successor: both parts are smaller than it was, so a
    // max only needs a rescan when that gap was the max.
    let nextKey = -1;
    if (pos < cnt) {
      const old = lf[base + GAP + pos + 1] as number;
      lf[base + GAP + pos + 1] = (lf[base + pos + 1] as number) - hi - 1;
      if (old >= (lm[leaf] as number)) this.#recalcLeaf(leaf);
    } else {
      if (gap > (lm[leaf] as number)) lm[leaf] = gap;
      const next = this.lnext[leaf] as number;
      if (next !== 0) {
        const nb = next * LSTRIDE;
        const old = lf[nb + GAP] as number;
        lf[nb + GAP] = (lf[nb] as number) - hi - 1;
        if (old >= (lm[next] as number)) this.#recalcLeaf(next);
        nextKey = lf[nb] as number;
      }
    }
    this.#fixUp(leaf);
    if (nextKey >= 0) this.#fixKey(nextKey);
  }

  // ---- remove ----

  /** Rebalances child `j` of `p` (underfull) with a neighbour: merge, or share evenly. */
  #rebalance(p: number, j: number, leaf: boolean): void {
    const pb = p * IB;
    const a = j > 0 ? j - 1 : j;
    const A = this.ichild[pb + a] as number;
    const B = this.ichild[pb + a + 1] as number;
    const cap = leaf ? LB : IB;
    const na = (leaf ? this.lcnt[A] : this.icnt[A]) as number;
    const nb = (leaf ? this.lcnt[B] : this.icnt[B]) as number;
    const total = na + nb;
    if (total <= cap) {
      this.#move(A, na, B, 0, nb, leaf); // append B to A
      if (leaf) {
        this.lcnt[A] = total;
        const next = this.lnext[B] as number;
        this.lnext[A] = next;
        if (next !== 0) this.lprev[next] = A;
        this.#freeLeaf(B);
        this.#recalcLeaf(A);
      } else {
        this.icnt[A] = total;
        this.#freeInternal(B);
        this.#recalcNode(A);
      }
      const cnt = this.icnt[p] as number;
      for (let i = a + 1; i < cnt - 1; i++) {
        this.ichild[pb + i] = this.ichild[pb + i + 1] as number;
        this.ikey[pb + i] = this.ikey[pb + i + 1] as number;
        this.imax[pb + i] = this.imax[pb + i + 1] as number;
      }
      this.icnt[p] = cnt - 1;
      this.#refreshChild(p, a, leaf);
      return;
    }
    const wantA = total >> 1;
    if (na > wantA) {
      // move A's tail to the front of B
      const k = na - wantA;
      this.#shift(B, nb, k, leaf);
      this.#move(B, 0, A, wantA, k, leaf);
    } else {
      // move B's head to the end of A
      const k = wantA - na;
      this.#move(A, na, B, 0, k, leaf);
      this.#shift(B, nb, -k, leaf);
    }
    if (leaf) {
      this.lcnt[A] = wantA;
      this.lcnt[B] = total - wantA;
      this.#recalcLeaf(A);
      this.#recalcLeaf(B);
    } else {
      this.icnt[A] = wantA;
      this.icnt[B] = total - wantA;
      this.#recalcNode(A);
      this.#recalcNode(B);
    }
    this.#refreshChild(p, a, leaf);
    this.#refreshChild(p, a + 1, leaf);
  }

  /** Copies `k` slots from node `src` at `from` to node `dst` at `to`. */
  #move(dst: number, to: number, src: number, from: number, k: number, leaf: boolean): void {
    if (leaf) {
      const lf = this.lf;
      const d = dst * LSTRIDE + to;
      const s = src * LSTRIDE + from;
      for (let i = 0; i < k; i++) {
        lf[d + i] = lf[s + i] as number;
        lf[d + HI + i] = lf[s + HI + i] as number;
        lf[d + GAP + i] = lf[s + GAP + i] as number;
      }
    } else {
      const d = dst * IB + to;
      const s = src * IB + from;
      for (let i = 0; i < k; i++) {
        this.ichild[d + i] = this.ichild[s + i] as number;
        this.ikey[d + i] = this.ikey[s + i] as number;
        this.imax[d + i] = this.imax[s + i] as number;
      }
    }
  }

  /** Shifts the `n` slots of node `x` by `k` (right when positive, left when negative). */
  #shift(x: number, n: number, k: number, leaf: boolean): void {
    if (k > 0) {
      for (let i = n - 1; i >= 0; i--) this.#move(x, i + k, x, i, 1, leaf);
    } else {
      for (let i = -k; i < n; i++) this.#move(x, i + k, x, i, 1, leaf);
    }
  }

  /**
   * Removes the range containing `pfn`; false when there is none. The removed bounds are left
   * in `removedLo` / `removedHi`.
   */
  remove(pfn: number): boolean {
    const leaf = this.#descend(pfn);
    const pos = this.#leafPos(leaf, pfn);
    const lf = this.lf;
    const base = leaf * LSTRIDE;
    if (pos < 0 || (lf[base + HI + pos] as number) < pfn) return false;
    const lo = lf[base + pos] as number;
    const hi = lf[base + HI + pos] as number;
    this.removedLo = lo;
    this.removedHi = hi;
    // The range and the gap below it join the gap of the next range.
    const gapR = lf[base + GAP + pos] as number;
    const delta = gapR + (hi - lo + 1);
    const cnt = this.lcnt[leaf] as number;
    const lm = this.lmax;
    let nextKey = -1;
    let rescan = false;
    if (pos + 1 < cnt) {
      // the successor's gap grows past the removed one: the max can only grow
      const g = (lf[base + GAP + pos + 1] as number) + delta;
      lf[base + GAP + pos + 1] = g;
      if (g > (lm[leaf] as number)) lm[leaf] = g;
    } else {
      rescan = gapR >= (lm[leaf] as number);
      const next = this.lnext[leaf] as number;
      if (next !== 0) {
        const nb = next * LSTRIDE;
        const g = (lf[nb + GAP] as number) + delta;
        lf[nb + GAP] = g;
        if (g > (lm[next] as number)) lm[next] = g;
        nextKey = lf[nb] as number;
      }
    }
    for (let i = pos; i < cnt - 1; i++) {
      lf[base + i] = lf[base + i + 1] as number;
      lf[base + HI + i] = lf[base + HI + i + 1] as number;
      lf[base + GAP + i] = lf[base + GAP + i + 1] as number;
    }
    this.lcnt[leaf] = cnt - 1;
    this.size--;
    if (rescan) this.#recalcLeaf(leaf);
    if (cnt - 1 >= LMIN || this.height === 0) {
      if (cnt - 1 > 0) this.#fixUp(leaf);
    } else {
      // Underfull: rebalance level by level; every level above is refreshed.
      let isLeaf = true;
      let child = leaf;
      for (let d = this.height - 1; d >= 0; d--) {
        const p = this.#pNode[d] as number;
        const j = this.#pIdx[d] as number;
        const n = (isLeaf ? this.lcnt[child] : this.icnt[child]) as number;
        if (n < (isLeaf ? LMIN : IMIN)) this.#rebalance(p, j, isLeaf);
        else this.#refreshChild(p, j, isLeaf);
        this.#recalcNode(p);
        child = p;
        isLeaf = false;
      }
      if (this.height > 0 && this.icnt[this.root] === 1) {
        const old = this.root;
        this.root = this.ichild[old * IB] as number;
        this.height--;
        this.#freeInternal(old);
      }
    }
    if (nextKey >= 0) this.#fixKey(nextKey);
    return true;
  }

  // ---- lookups ----

  /** A handle (> 0) to the range containing `pfn`, or 0. Valid until the next change. */
  find(pfn: number): number {
    const leaf = this.#descend(pfn);
    const pos = this.#leafPos(leaf, pfn);
    if (pos < 0 || (this.lf[leaf * LSTRIDE + HI + pos] as number) < pfn) return 0;
    return leaf * LB + pos;
  }

  /** A handle to the range with the lowest `lo` whose `hi` is at least `pfn`, or 0. */
  firstEndingAtOrAfter(pfn: number): number {
    const leaf = this.#descend(pfn);
    const pos = this.#leafPos(leaf, pfn);
    if (pos >= 0 && (this.lf[leaf * LSTRIDE + HI + pos] as number) >= pfn) return leaf * LB + pos;
    if (pos + 1 < (this.lcnt[leaf] as number)) return leaf * LB + pos + 1;
    const next = this.lnext[leaf] as number;
    return next === 0 ? 0 : next * LB;
  }

  /** `lo` of the range behind handle `h`. */
  lo(h: number): number {
    return this.lf[(h >> LSH) * LSTRIDE + (h & (LB - 1))] as number;
  }

  /** `hi` of the range behind handle `h`. */
  hi(h: number): number {
    return this.lf[(h >> LSH) * LSTRIDE + HI + (h & (LB - 1))] as number;
  }

  /** Lowers the `lo` of the range starting at `lo` to `newLo` (the pfns between must be free). */
  extendDown(lo: number, newLo: number): void {
    const leaf = this.#descend(lo);
    const pos = this.#leafPos(leaf, lo);
    const b = leaf * LSTRIDE;
    if (pos < 0 || this.lf[b + pos] !== lo) throw new KernelBug(`iova tree: no range starts at pfn ${lo}`);
    const gap = (this.lf[b + GAP + pos] as number) - (lo - newLo);
    if (gap < 0) throw new KernelBug(`iova tree: extending pfn ${lo} down to ${newLo} overlaps`);
    const old = this.lf[b + GAP + pos] as number;
    this.lf[b + pos] = newLo;
    this.lf[b + GAP + pos] = gap;
    if (old >= (this.lmax[leaf] as number)) this.#recalcLeaf(leaf);
    this.#fixUp(leaf);
  }

  // ---- allocation search ----

  /**
   * The highest `c` with `c % align === 0`, `low <= c` and `c + size <= limitEx` such that
   * `[c, c + size - 1]` is free; -1 when there is none. `align` is a power of two. The range
   * starting at or above `limitEx` (there always is one: the anchor) bounds the search.
   */
  findFit(size: number, align: number, low: number, limitEx: number): number {
    const lf = this.lf;
    // p: the last range starting below the limit; u: the one after it, whose gap straddles it.
    const leaf = this.#descend(limitEx - 1);
    const p = this.#leafPos(leaf, limitEx - 1);
    let uLeaf = leaf;
    let uPos = p + 1;
    if (uPos === this.lcnt[leaf]) {
      uLeaf = this.lnext[leaf] as number;
      uPos = 0;
    }
    if (uLeaf !== 0) {
      const ub = uLeaf * LSTRIDE;
      const uLo = lf[ub + uPos] as number;
      const uGap = lf[ub + GAP + uPos] as number;
      if (uGap >= size) {
        const top = Math.min(uLo, limitEx) - size;
        if (top >= 0) {
          const c = top - (top % align);
          if (c >= uLo - uGap && c >= low) return c;
        }
      }
    }
    // Everything before u lies wholly below the limit: scan p's leaf down from p, then the
    // left siblings along the path, highest first.
    let c = this.#fitLeaf(leaf, p, size, align, low);
    if (c !== -1) return c < 0 ? -1 : c;
    for (let d = this.height - 1; d >= 0; d--) {
      const node = this.#pNode[d] as number;
      const b = node * IB;
      for (let k = (this.#pIdx[d] as number) - 1; k >= 0; k--) {
        if ((this.ikey[b + k + 1] as number) - 1 - low < size) return -1;
        if ((this.imax[b + k] as number) < size) continue;
        c = this.#fitSubtree(this.ichild[b + k] as number, d + 1, size, align, low);
        if (c !== -1) return c < 0 ? -1 : c;
      }
    }
    return -1;
  }

  /** Highest fit among ranges 0..from of a leaf: the pfn, -1 none here, -2 none anywhere lower. */
  #fitLeaf(leaf: number, from: number, size: number, align: number, low: number): number {
    if ((this.lmax[leaf] as number) < size) return -1;
    const lf = this.lf;
    const b = leaf * LSTRIDE;
    for (let i = from; i >= 0; i--) {
      const lo = lf[b + i] as number;
      if (lo - low < size) return -2;
      const gap = lf[b + GAP + i] as number;
      if (gap >= size) {
        const top = lo - size;
        const c = top - (top % align);
        if (c >= lo - gap && c >= low) return c;
      }
    }
    return -1;
  }

  /** Highest fit in the subtree of `node` at depth `depth`; codes as `#fitLeaf`. */
  #fitSubtree(node: number, depth: number, size: number, align: number, low: number): number {
    if (depth === this.height) return this.#fitLeaf(node, (this.lcnt[node] as number) - 1, size, align, low);
    const b = node * IB;
    for (let k = (this.icnt[node] as number) - 1; k >= 0; k--) {
      if ((this.imax[b + k] as number) < size) {
        if ((this.ikey[b + k] as number) - low < size) return -2;
        continue;
      }
      const c = this.#fitSubtree(this.ichild[b + k] as number, depth + 1, size, align, low);
      if (c !== -1) return c;
    }
    return -1;
  }

  // ---- whole-tree ----

  /** Every range in order, as [lo, hi] pairs (tests, reports). */
  toArray(): [number, number][] {
    const out: [number, number][] = [];
    let leaf = this.root;
    for (let d = 0; d < this.height; d++) leaf = this.ichild[leaf * IB] as number;
    for (; leaf !== 0; leaf = this.lnext[leaf] as number) {
      const b = leaf * LSTRIDE;
      for (let i = 0; i < (this.lcnt[leaf] as number); i++) {
        out.push([this.lf[b + i] as number, this.lf[b + HI + i] as number]);
      }
    }
    return out;
  }

  /** Checks every invariant (order, gaps, keys, maxima, fill, links); throws KernelBug. */
  check(): void {
    let prevHi = -1;
    let count = 0;
    let prevLeaf = 0;
    const walk = (node: number, depth: number, isRoot: boolean): [number, number] => {
      if (depth === this.height) {
        const n = this.lcnt[node] as number;
        if (n < (isRoot ? 1 : LMIN) || n > LB) throw new KernelBug(`iova tree: leaf with ${n} ranges`);
        if (this.lprev[node] !== prevLeaf) throw new KernelBug("iova tree: broken leaf links");
        if (prevLeaf !== 0 && this.lnext[prevLeaf] !== node)
          throw new KernelBug("iova tree: broken leaf links");
        prevLeaf = node;
        const b = node * LSTRIDE;
        for (let i = 0; i < n; i++) {
          const lo = this.lf[b + i] as number;
          const hi = this.lf[b + HI + i] as number;
          if (lo > hi || lo <= prevHi) throw new KernelBug(`iova tree: range [${lo}, ${hi}] out of order`);
          if (this.lf[b + GAP + i] !== lo - prevHi - 1)
            throw new KernelBug(`iova tree: wrong gap below ${lo}`);
          prevHi = hi;
          count++;
        }
        const m = this.#scanLeaf(node);
        if (this.lmax[node] !== m) throw new KernelBug(`iova tree: wrong leaf max at ${this.lf[b]}`);
        return [this.lf[b] as number, m];
      }
      const n = this.icnt[node] as number;
      if (n < (isRoot ? 2 : IMIN) || n > IB) throw new KernelBug(`iova tree: node with ${n} children`);
      let max = -1;
      for (let k = 0; k < n; k++) {
        const [key, m] = walk(this.ichild[node * IB + k] as number, depth + 1, false);
        if (this.ikey[node * IB + k] !== key) throw new KernelBug(`iova tree: wrong key ${key}`);
        if (this.imax[node * IB + k] !== m) throw new KernelBug(`iova tree: wrong max gap under ${key}`);
        if (m > max) max = m;
      }
      if (this.nmax[node] !== max)
        throw new KernelBug(`iova tree: wrong node max under ${this.ikey[node * IB]}`);
      return [this.ikey[node * IB] as number, max];
    };
    if (this.size > 0) walk(this.root, 0, true);
    if (this.lnext[prevLeaf] !== 0) throw new KernelBug("iova tree: leaf list runs past the last leaf");
    if (count !== this.size)
      throw new KernelBug(`iova tree: ${count} ranges reachable, size says ${this.size}`);
  }

  /** Forgets every range. */
  clear(): void {
    this.#leafTop = 1;
    this.#leafFree = 0;
    this.#intTop = 1;
    this.#intFree = 0;
    this.height = 0;
    this.size = 0;
    this.root = this.#newLeaf();
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
