/**
 * memblock: the boot-time allocator (mm/memblock.c). Before the buddy allocator exists, platform
 * code reserves ranges (CMA areas, carve-outs, page tables) and removes no-map ranges from
 * memory. `freeAll` then hands every page neither reserved nor removed to the buddy allocator and
 * retires memblock.
 *
 * @module
 */
import { alignDown, alignUp, hex, isPowerOfTwo, KernelError, PAGE_SIZE } from "@umm/kernel-core";

/** One memblock region. */
export interface MemblockRegion {
  readonly base: number;
  readonly size: number;
  /** what reserved it (reports) */
  readonly name: string;
}

/** Options of `Memblock.alloc`. */
export interface MemblockAllocOpts {
  /** lowest acceptable base (default: start of memory) */
  readonly start?: number;
  /** one past the highest acceptable end (default: end of memory) */
  readonly end?: number;
  /** search upwards instead of the default top-down */
  readonly bottomUp?: boolean;
  readonly name?: string;
}

function insertMerged(
  list: MemblockRegion[],
  base: number,
  size: number,
  name: string,
  merge: boolean,
): void {
  list.push({ base, size, name });
  list.sort((a, b) => a.base - b.base);
  if (!merge) return;
  for (let i = 0; i < list.length - 1; ) {
    const a = list[i]!;
    const b = list[i + 1]!;
    if (a.base + a.size >= b.base) {
      list.splice(i, 2, {
        base: a.base,
        size: Math.max(a.base + a.size, b.base + b.size) - a.base,
        name: a.name,
      });
    } else i++;
  }
}

function subtract(list: MemblockRegion[], base: number, size: number): MemblockRegion[] {
  const end = base + size;
  const out: MemblockRegion[] = [];
  for (const r of list) {
    const rEnd = r.base + r.size;
    if (rEnd <= base || r.base >= end) {
      out.push(r);
      continue;
    }
    if (r.base < base) out.push({ base: r.base, size: base - r.base, name: r.name });
    if (rEnd > end) out.push({ base: end, size: rEnd - end, name: r.name });
  }
  return out;
}

/** The boot-time allocator. */
export class Memblock {
  #memory: MemblockRegion[] = [];
  #reserved: MemblockRegion[] = [];
  #removed: MemblockRegion[] = [];
  #retired = false;

  /** `memblock.memory`: usable RAM (no-map ranges removed). */
  get memory(): readonly MemblockRegion[] {
    return this.#memory;
  }

  /** `memblock.reserved`: reserved ranges with the name of who reserved them. */
  get reserved(): readonly MemblockRegion[] {
    return this.#reserved;
  }

  /** Ranges removed from memory (no-map): they are not in the kernel linear map. */
  get removed(): readonly MemblockRegion[] {
    return this.#removed;
  }

  /** True once `freeAll` handed memory to the buddy allocator. */
  get retired(): boolean {
    return this.#retired;
  }

  #check(base: number, size: number, what: string): void {
    if (this.#retired)
      throw new KernelError("EBUSY", `${what}: memblock is retired (the buddy allocator owns memory)`);
    if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
      throw new KernelError("EINVAL", `${what}: base ${hex(base)} is not page-aligned`);
    }
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
      throw new KernelError("EINVAL", `${what}: size ${hex(size)} is not a positive multiple of 4 KiB`);
    }
  }

  /** `memblock_add`: declares RAM. */
  addMemory(base: number, size: number, name = "memory"): void {
    this.#check(base, size, "memblock_add");
    insertMerged(this.#memory, base, size, name, true);
  }

  /** True when all of `[base, base + size)` is memory (not removed). */
  isMemory(base: number, size: number): boolean {
    let p = base;
    for (const r of this.#memory) {
      if (r.base <= p && p < r.base + r.size) p = r.base + r.size;
      if (p >= base + size) return true;
    }
    return p >= base + size;
  }

  /** True when any byte of `[base, base + size)` is reserved. */
  isReserved(base: number, size: number): boolean {
    return this.#reserved.some((r) => r.base < base + size && base < r.base + r.size);
  }

  /**
   * `memblock_reserve` of a fixed range: EINVAL outside memory, EBUSY when it overlaps an
   * earlier reservation (umm refuses overlaps instead of merging them silently).
   */
  reserve(base: number, size: number, name = "reserved"): void {
    this.#check(base, size, "memblock_reserve");
    if (!this.isMemory(base, size)) {
      throw new KernelError(
        "EINVAL",
        `memblock_reserve: [${hex(base)}, ${hex(base + size)}) of ${name} is not memory`,
      );
    }
    const other = this.#reserved.find((r) => r.base < base + size && base < r.base + r.size);
    if (other) {
      throw new KernelError(
        "EBUSY",
        `memblock_reserve: [${hex(base)}, ${hex(base + size)}) of ${name} overlaps ${other.name} at [${hex(other.base)}, ${hex(other.base + other.size)})`,
      );
    }
    insertMerged(this.#reserved, base, size, name, false);
  }

  /** `memblock_phys_free` of a boot-time reservation (exact range required, ENOENT otherwise). */
  free(base: number, size: number): void {
    this.#check(base, size, "memblock_free");
    const i = this.#reserved.findIndex((r) => r.base === base && r.size === size);
    if (i < 0)
      throw new KernelError(
        "ENOENT",
        `memblock_free: [${hex(base)}, ${hex(base + size)}) is not a reservation`,
      );
    this.#reserved.splice(i, 1);
  }

  /**
   * `memblock_remove` (a no-map reserved-memory node): the range stops being memory, so it is
   * neither in the linear map nor handed to the buddy allocator. EINVAL when not memory; EBUSY
   * when reserved.
   */
  remove(base: number, size: number, name = "no-map"): void {
    this.#check(base, size, "memblock_remove");
    if (!this.isMemory(base, size)) {
      throw new KernelError(
        "EINVAL",
        `memblock_remove: [${hex(base)}, ${hex(base + size)}) of ${name} is not memory`,
      );
    }
    if (this.isReserved(base, size)) {
      throw new KernelError(
        "EBUSY",
        `memblock_remove: [${hex(base)}, ${hex(base + size)}) of ${name} is reserved`,
      );
    }
    this.#memory = subtract(this.#memory, base, size);
    insertMerged(this.#removed, base, size, name, false);
  }

  /**
   * `memblock_phys_alloc_range`: finds `size` bytes aligned to `align` (a power of two ≥ 4 KiB)
   * in memory, not reserved, inside `[start, end)`, top-down unless `bottomUp`, and reserves it.
   * Returns the base, or null when nothing fits. EINVAL for a bad size or alignment.
   */
  alloc(size: number, align: number, opts: MemblockAllocOpts = {}): number | null {
    if (this.#retired) throw new KernelError("EBUSY", "memblock_alloc: memblock is retired");
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new KernelError("EINVAL", `memblock_alloc: size ${hex(size)} must be positive`);
    }
    if (!isPowerOfTwo(align))
      throw new KernelError("EINVAL", `memblock_alloc: align ${hex(align)} is not a power of two`);
    const a = Math.max(align, PAGE_SIZE);
    const sz = alignUp(size, PAGE_SIZE);
    const lo = opts.start ?? 0;
    const hi = opts.end ?? Number.MAX_SAFE_INTEGER;
    // free ranges = memory minus reserved, clipped to [lo, hi)
    let free: MemblockRegion[] = this.#memory.map((r) => ({ ...r }));
    for (const r of this.#reserved) free = subtract(free, r.base, r.size);
    const candidates = free
      .map((r) => ({ base: Math.max(r.base, lo), end: Math.min(r.base + r.size, hi) }))
      .filter((r) => r.end > r.base);
    if (!opts.bottomUp) candidates.reverse();
    for (const r of candidates) {
      const base = opts.bottomUp ? alignUp(r.base, a) : alignDown(r.end - sz, a);
      if (base >= r.base && base + sz <= r.end) {
        insertMerged(this.#reserved, base, sz, opts.name ?? "memblock_alloc", false);
        return base;
      }
    }
    return null;
  }

  /** Free (neither reserved nor removed) memory ranges, ascending. */
  freeRanges(): MemblockRegion[] {
    let free: MemblockRegion[] = this.#memory.map((r) => ({ ...r }));
    for (const r of this.#reserved) free = subtract(free, r.base, r.size);
    return free.sort((a, b) => a.base - b.base);
  }

  /** @internal marks memblock retired (called by the boot's `memblock_free_all`). */
  _retire(): void {
    this.#retired = true;
  }
}
