/**
 * Physical memory helpers for VCM drivers (mm/vcm.c, CONFIG_VCM_PHYS): `vcmPhysAlloc` gathers
 * memory from the buddy allocator in the largest page orders an MMU supports, and
 * `vcmPhysWalk` splits a physical allocation into pages an MMU can map.
 *
 * @module
 */
import { errnoName, hex, isKernelError, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { GFP_KERNEL, MAX_PAGE_ORDER, mmOf } from "@umm/mm-core";
import { VcmPhys, type VcmPhysPart } from "./types.js";

/** The owner tag of pages vcmPhysAlloc takes from the buddy allocator. */
export const VCM_PHYS_TAG = "vcm";

/**
 * Checks an orders list: non-empty, strictly descending, every entry an integer in
 * 0..MAX_PAGE_ORDER, the last one 0 (include/linux/vcm-drv.h: "The last element is always
 * zero"). EINVAL otherwise.
 */
export function checkOrders(orders: readonly number[] | null | undefined, what: string): void {
  if (!orders || !Array.isArray(orders) || orders.length === 0) {
    throw new KernelError("EINVAL", `${what}: orders is NULL or empty`);
  }
  for (let i = 0; i < orders.length; i++) {
    const o = orders[i] as number;
    if (!Number.isInteger(o) || o < 0 || o > MAX_PAGE_ORDER || (i > 0 && o >= (orders[i - 1] as number))) {
      throw new KernelError(
        "EINVAL",
        `${what}: orders [${orders.join(", ")}] must descend strictly within 0..${MAX_PAGE_ORDER}`,
      );
    }
  }
  if (orders[orders.length - 1] !== 0) {
    throw new KernelError("EINVAL", `${what}: orders [${orders.join(", ")}] must end with 0 (4 KiB)`);
  }
}

function allocParts(kernel: Kernel, size: number, orders: readonly number[], what: string): VcmPhysPart[] {
  if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
    throw new KernelError("EINVAL", `${what}: size ${String(size)} must be a positive multiple of PAGE_SIZE`);
  }
  checkOrders(orders, what);
  const buddy = mmOf(kernel).buddy;
  const parts: VcmPhysPart[] = [];
  let pages = size / PAGE_SIZE;
  // vcm_phys_alloc_list: for each order, largest first and skipping orders larger than what is
  // left, take as many blocks as fit; a failure moves on to the next smaller order.
  let i = 0;
  do {
    while (Math.floor(pages / 2 ** (orders[i] as number)) === 0) i++;
    const order = orders[i] as number;
    let count = Math.floor(pages / 2 ** order);
    do {
      const pfn = buddy.allocPages(order, GFP_KERNEL, { tag: VCM_PHYS_TAG });
      if (pfn === null) break;
      parts.push({ start: pfn * PAGE_SIZE, size: PAGE_SIZE * 2 ** order, pfn });
      pages -= 2 ** order;
    } while (--count);
  } while (orders[i++] !== 0 && pages);
  if (pages) {
    freeParts(kernel, parts);
    throw new KernelError(
      "ENOMEM",
      `${what}: ${pages} of ${size / PAGE_SIZE} pages could not be allocated in orders [${orders.join(", ")}]`,
    );
  }
  return parts;
}

function freeParts(kernel: Kernel, parts: readonly VcmPhysPart[]): void {
  const buddy = mmOf(kernel).buddy;
  for (const p of parts) buddy.freePages(p.pfn as number, Math.log2(p.size / PAGE_SIZE));
}

function physOf(kernel: Kernel, size: number, parts: VcmPhysPart[]): VcmPhys {
  return new VcmPhys(kernel, { parts, size, free: (phys) => freeParts(kernel, phys.parts) });
}

/**
 * `vcm_phys_alloc_raw` (`__vcm_phys_alloc`): `size` bytes (a positive multiple of PAGE_SIZE)
 * from the buddy allocator (lowmem), greedily in the largest of `orders` (descending, ending
 * with 0) that fit what is left; a failed order falls through to smaller ones. Parts appear in
 * allocation order; `free` returns every block. EINVAL for a bad size or orders list; ENOMEM
 * (everything given back) when the memory cannot be found. `flags` is opaque, as in 2010.
 */
export function vcmPhysAllocRaw(
  kernel: Kernel,
  size: number,
  flags: number,
  orders: readonly number[],
): VcmPhys {
  void flags;
  return physOf(kernel, size, allocParts(kernel, size, orders, "vcm_phys_alloc_raw"));
}

/**
 * `vcm_phys_alloc` (`__vcm_phys_alloc_coherent`): as `vcmPhysAllocRaw`, then no line of the new
 * memory stays in the CPU cache (the kernel invalidates every part), so a device may write it
 * at once. See `vcmPhysAllocRaw` for the order rule and errors.
 */
export function vcmPhysAlloc(
  kernel: Kernel,
  size: number,
  flags: number,
  orders: readonly number[],
): VcmPhys {
  void flags;
  const parts = allocParts(kernel, size, orders, "vcm_phys_alloc");
  const cache = mmOf(kernel).hooks.cache;
  if (cache) for (const p of parts) cache.prepareKernelWrite(p.start, p.size);
  return physOf(kernel, size, parts);
}

/**
 * A page callback of `vcmPhysWalk`: maps or unmaps one page of order `order` (one of the
 * orders given) at `vaddr` to `paddr`. Success: return nothing or a non-negative number.
 * Failure: return a negative errno or throw a `KernelError`.
 */
export type VcmWalkCallback = (vaddr: number, paddr: number, order: number) => number | undefined;

// Outcome of one callback: 0 or the error it reported.
function call(cb: VcmWalkCallback, vaddr: number, paddr: number, order: number): KernelError | null {
  let ret: number | undefined;
  try {
    ret = cb(vaddr, paddr, order);
  } catch (e) {
    if (isKernelError(e)) return e;
    throw e;
  }
  if (typeof ret === "number" && ret < 0) {
    return new KernelError(
      errnoName(ret) ?? "EIO",
      `vcm_phys_walk: callback failed (${ret}) at ${hex(vaddr)} -> ${hex(paddr)} order ${order}`,
    );
  }
  return null;
}

/** One walk over the parts, stopping after `limit` callbacks; returns the callbacks done. */
function walk(
  vaddr: number,
  parts: readonly VcmPhysPart[],
  orders: readonly number[],
  cb: VcmWalkCallback,
  limit: number,
): { done: number; err: KernelError | null } {
  let done = 0;
  for (const part of parts) {
    if (done >= limit) break;
    // __vcm_phys_walk_part: the order starts at the largest one both addresses are aligned to
    // and only ever decreases inside a part (when what is left is smaller than a page of it).
    let size = part.size;
    let paddr = part.start;
    let va = vaddr;
    let i = 0;
    while (va % (PAGE_SIZE * 2 ** (orders[i] as number)) !== 0) i++;
    while (paddr % (PAGE_SIZE * 2 ** (orders[i] as number)) !== 0) i++;
    let ps = PAGE_SIZE * 2 ** (orders[i] as number);
    for (; done < limit && size > 0; done++) {
      while (ps > size) ps = PAGE_SIZE * 2 ** (orders[++i] as number);
      const err = call(cb, va, paddr, orders[i] as number);
      if (err) return { done, err };
      va += ps;
      paddr += ps;
      size -= ps;
    }
    vaddr += part.size;
  }
  return { done, err: null };
}

/**
 * `vcm_phys_walk`: calls `callback(vaddr, paddr, order)` for consecutive pages of `phys` mapped
 * contiguously from `vaddr`. In each part the walk starts with the largest of `orders` to which
 * both the bus and the physical address are aligned, and steps down to smaller orders only when
 * what is left of the part is smaller than a page (so parts 1 MiB + 8 KiB with orders {8, 0} give
 * one order-8 call and two order-0 calls). When a callback fails, `recovery` (if given) is called
 * on exactly the pages already processed, in the same order, and the callback's error is thrown.
 * EINVAL for a null phys or callback, `vaddr`, `phys.size` or a part not page-aligned, size 0, or
 * a bad orders list.
 */
export function vcmPhysWalk(
  vaddr: number,
  phys: VcmPhys,
  orders: readonly number[],
  callback: VcmWalkCallback,
  recovery: VcmWalkCallback | null = null,
): void {
  if (!phys || typeof callback !== "function") {
    throw new KernelError("EINVAL", `vcm_phys_walk: ${!phys ? "phys" : "callback"} is NULL`);
  }
  if (
    !Number.isSafeInteger(vaddr) ||
    vaddr < 0 ||
    vaddr % PAGE_SIZE !== 0 ||
    phys.size % PAGE_SIZE !== 0 ||
    phys.size === 0
  ) {
    throw new KernelError(
      "EINVAL",
      `vcm_phys_walk: vaddr ${hex(vaddr)} and size ${hex(phys.size)} must be page-aligned and non-zero`,
    );
  }
  for (const p of phys.parts) {
    if (p.start % PAGE_SIZE !== 0 || p.size % PAGE_SIZE !== 0) {
      throw new KernelError(
        "EINVAL",
        `vcm_phys_walk: part [${hex(p.start)}, +${hex(p.size)}) is not page-aligned`,
      );
    }
  }
  checkOrders(orders, "vcm_phys_walk");
  const { done, err } = walk(vaddr, phys.parts, orders, callback, Number.POSITIVE_INFINITY);
  if (!err) return;
  if (recovery) walk(vaddr, phys.parts, orders, recovery, done);
  throw err;
}
