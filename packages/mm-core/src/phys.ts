/**
 * Physical memory (P.A): banks of simulated DRAM, each backed by one `ArrayBuffer`. The host
 * allocates zero pages lazily, so an untouched simulated page costs no host memory: a 4 GiB
 * board costs what it touches.
 *
 * Accesses move bytes with `Uint8Array.set`/`copyWithin`/`fill` over whole ranges; an access that
 * touches a hole between banks throws EFAULT and moves nothing.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { BankSpec } from "./types.js";

/** One DRAM bank. */
export class PhysBank {
  readonly start: number;
  readonly size: number;
  readonly end: number;
  readonly name: string;
  /** the bank's bytes; index = paddr - start */
  readonly u8: Uint8Array;
  readonly dv: DataView;

  constructor(spec: BankSpec, index: number) {
    this.start = spec.start;
    this.size = spec.size;
    this.end = spec.start + spec.size;
    this.name = spec.name ?? `bank${index}`;
    const buf = new ArrayBuffer(spec.size);
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
  }
}

/** Simulated DRAM: one or more banks. */
export class PhysMem {
  readonly banks: readonly PhysBank[];
  /** lowest RAM address */
  readonly start: number;
  /** one past the highest RAM address */
  readonly end: number;
  /** total RAM in bytes (holes excluded) */
  readonly totalSize: number;
  #last: PhysBank;

  /** Banks must be page-aligned, non-empty and must not overlap (EINVAL otherwise). */
  constructor(banks: readonly BankSpec[]) {
    if (banks.length === 0) throw new KernelError("EINVAL", "banks: at least one DRAM bank is needed");
    const sorted = [...banks].sort((a, b) => a.start - b.start);
    sorted.forEach((b, i) => {
      if (!Number.isSafeInteger(b.start) || b.start < 0 || b.start % PAGE_SIZE !== 0) {
        throw new KernelError("EINVAL", `bank ${i}: start ${hex(b.start)} is not a page-aligned address`);
      }
      if (!Number.isSafeInteger(b.size) || b.size <= 0 || b.size % PAGE_SIZE !== 0) {
        throw new KernelError("EINVAL", `bank ${i}: size ${hex(b.size)} is not a positive multiple of 4 KiB`);
      }
      const prev = sorted[i - 1];
      if (prev && prev.start + prev.size > b.start) {
        throw new KernelError("EINVAL", `bank at ${hex(b.start)} overlaps the bank at ${hex(prev.start)}`);
      }
    });
    this.banks = sorted.map((b, i) => new PhysBank(b, i));
    this.start = this.banks[0]!.start;
    this.end = this.banks[this.banks.length - 1]!.end;
    this.totalSize = this.banks.reduce((s, b) => s + b.size, 0);
    this.#last = this.banks[0]!;
  }

  /** The bank holding `paddr`, or undefined in a hole. */
  bankOf(paddr: number): PhysBank | undefined {
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

  /** True when every byte of `[paddr, paddr + size)` is RAM. */
  isRam(paddr: number, size = 1): boolean {
    let p = paddr;
    const end = paddr + size;
    while (p < end) {
      const b = this.bankOf(p);
      if (!b) return false;
      p = b.end;
    }
    return size > 0 || this.bankOf(paddr) !== undefined;
  }

  #bank(paddr: number, len: number, what: string): PhysBank {
    const b = this.bankOf(paddr);
    if (b && paddr + len <= b.end) return b;
    return this.#fault(paddr, len, what);
  }

  #fault(paddr: number, len: number, what: string): never {
    let p = paddr;
    while (p < paddr + len) {
      const b = this.bankOf(p);
      if (!b) break;
      p = b.end;
    }
    throw new KernelError(
      "EFAULT",
      `${what}: physical range [${hex(paddr)}, ${hex(paddr + len)}) touches ${hex(p)}, which is not RAM`,
    );
  }

  #checkSpan(paddr: number, len: number, what: string): void {
    if (!(len >= 0) || !Number.isSafeInteger(paddr) || paddr < 0) {
      throw new KernelError("EINVAL", `${what}: bad range paddr ${hex(paddr)} length ${len}`);
    }
    if (!this.isRam(paddr, len)) this.#fault(paddr, len, what);
  }

  /** Copies `len` bytes from `paddr` into `dst` at `dstOff`. */
  read(paddr: number, dst: Uint8Array, dstOff = 0, len = dst.length - dstOff): void {
    const b = this.bankOf(paddr);
    if (b && paddr + len <= b.end) {
      const o = paddr - b.start;
      dst.set(b.u8.subarray(o, o + len), dstOff);
      return;
    }
    this.#checkSpan(paddr, len, "read");
    let p = paddr;
    let d = dstOff;
    let left = len;
    while (left > 0) {
      const bank = this.bankOf(p)!;
      const n = Math.min(left, bank.end - p);
      dst.set(bank.u8.subarray(p - bank.start, p - bank.start + n), d);
      p += n;
      d += n;
      left -= n;
    }
  }

  /** Copies `len` bytes of `src` from `srcOff` to `paddr`. */
  write(paddr: number, src: Uint8Array, srcOff = 0, len = src.length - srcOff): void {
    const b = this.bankOf(paddr);
    if (b && paddr + len <= b.end) {
      b.u8.set(
        srcOff === 0 && len === src.length ? src : src.subarray(srcOff, srcOff + len),
        paddr - b.start,
      );
      return;
    }
    this.#checkSpan(paddr, len, "write");
    let p = paddr;
    let s = srcOff;
    let left = len;
    while (left > 0) {
      const bank = this.bankOf(p)!;
      const n = Math.min(left, bank.end - p);
      bank.u8.set(src.subarray(s, s + n), p - bank.start);
      p += n;
      s += n;
      left -= n;
    }
  }

  /** Copies `len` bytes from `srcPa` to `dstPa` (overlap-safe like memmove). */
  copy(dstPa: number, srcPa: number, len: number): void {
    const sb = this.bankOf(srcPa);
    const db = this.bankOf(dstPa);
    if (sb && db && srcPa + len <= sb.end && dstPa + len <= db.end) {
      if (sb === db) sb.u8.copyWithin(dstPa - sb.start, srcPa - sb.start, srcPa - sb.start + len);
      else db.u8.set(sb.u8.subarray(srcPa - sb.start, srcPa - sb.start + len), dstPa - db.start);
      return;
    }
    this.#checkSpan(srcPa, len, "copy source");
    this.#checkSpan(dstPa, len, "copy destination");
    const tmp = new Uint8Array(len);
    this.read(srcPa, tmp);
    this.write(dstPa, tmp);
  }

  /** Sets `len` bytes at `paddr` to `value`. */
  fill(paddr: number, value: number, len: number): void {
    const b = this.bankOf(paddr);
    if (b && paddr + len <= b.end) {
      b.u8.fill(value, paddr - b.start, paddr - b.start + len);
      return;
    }
    this.#checkSpan(paddr, len, "fill");
    let p = paddr;
    let left = len;
    while (left > 0) {
      const bank = this.bankOf(p)!;
      const n = Math.min(left, bank.end - p);
      bank.u8.fill(value, p - bank.start, p - bank.start + n);
      p += n;
      left -= n;
    }
  }

  /** A zero-copy view of `[paddr, paddr + len)`, which must lie in one bank (EFAULT otherwise). */
  view(paddr: number, len: number): Uint8Array {
    const b = this.#bank(paddr, len, "view");
    return b.u8.subarray(paddr - b.start, paddr - b.start + len);
  }

  /** Little-endian 32-bit load (page-table descriptors, registers in DRAM). */
  read32(paddr: number): number {
    const b = this.#bank(paddr, 4, "read32");
    return b.dv.getUint32(paddr - b.start, true);
  }

  /** Little-endian 32-bit store. */
  write32(paddr: number, value: number): void {
    const b = this.#bank(paddr, 4, "write32");
    b.dv.setUint32(paddr - b.start, value >>> 0, true);
  }

  /** One byte. */
  read8(paddr: number): number {
    const b = this.#bank(paddr, 1, "read8");
    return b.u8[paddr - b.start]!;
  }

  /** One byte. */
  write8(paddr: number, value: number): void {
    const b = this.#bank(paddr, 1, "write8");
    b.u8[paddr - b.start] = value;
  }
}
