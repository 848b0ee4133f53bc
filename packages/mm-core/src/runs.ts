/**
 * A reusable list of physical runs `(paddr, len, memtype)`: what a translation of a virtual or
 * device range produces. Adjacent runs with the same memory type merge, so a physically
 * contiguous buffer is one run however many pages it spans.
 *
 * @module
 */

/** A growable list of physical runs; reuse one per path to avoid allocation. */
export class RunList {
  /** runs in use */
  count = 0;
  paddr: Float64Array;
  len: Float64Array;
  memtype: Uint8Array;

  constructor(capacity = 64) {
    this.paddr = new Float64Array(capacity);
    this.len = new Float64Array(capacity);
    this.memtype = new Uint8Array(capacity);
  }

  /** Empties the list (keeps its storage). */
  clear(): this {
    this.count = 0;
    return this;
  }

  /** Total bytes. */
  get bytes(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) n += this.len[i]!;
    return n;
  }

  /** Appends a run, merging with the last when physically adjacent and of the same memtype. */
  push(paddr: number, len: number, memtype = 0): void {
    const c = this.count;
    if (c > 0) {
      const j = c - 1;
      if (this.paddr[j]! + this.len[j]! === paddr && this.memtype[j] === memtype) {
        this.len[j] = this.len[j]! + len;
        return;
      }
    }
    if (c === this.paddr.length) this.#grow();
    this.paddr[c] = paddr;
    this.len[c] = len;
    this.memtype[c] = memtype;
    this.count = c + 1;
  }

  #grow(): void {
    const n = this.paddr.length * 2;
    const p = new Float64Array(n);
    p.set(this.paddr);
    const l = new Float64Array(n);
    l.set(this.len);
    const m = new Uint8Array(n);
    m.set(this.memtype);
    this.paddr = p;
    this.len = l;
    this.memtype = m;
  }

  /** The runs as plain objects (tests, reports). */
  toArray(): { paddr: number; len: number; memtype: number }[] {
    const out = [];
    for (let i = 0; i < this.count; i++)
      out.push({ paddr: this.paddr[i]!, len: this.len[i]!, memtype: this.memtype[i]! });
    return out;
  }
}
