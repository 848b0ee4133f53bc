/**
 * Sizes and masks as include/linux/sizes.h and dma-mapping.h spell them. All in bytes.
 *
 * @module
 */

export const SZ_1K = 0x400;
export const SZ_4K = 0x1000;
export const SZ_8K = 0x2000;
export const SZ_16K = 0x4000;
export const SZ_32K = 0x8000;
export const SZ_64K = 0x10000;
export const SZ_128K = 0x20000;
export const SZ_256K = 0x40000;
export const SZ_512K = 0x80000;
export const SZ_1M = 0x100000;
export const SZ_2M = 0x200000;
export const SZ_4M = 0x400000;
export const SZ_8M = 0x800000;
export const SZ_16M = 0x1000000;
export const SZ_32M = 0x2000000;
export const SZ_64M = 0x4000000;
export const SZ_128M = 0x8000000;
export const SZ_256M = 0x10000000;
export const SZ_512M = 0x20000000;
export const SZ_1G = 0x40000000;
export const SZ_2G = 0x80000000;
export const SZ_4G = 0x100000000;

/** log2 of the page size: 4 KiB pages, as on ARM. */
export const PAGE_SHIFT = 12;
/** The page size in bytes. */
export const PAGE_SIZE = 4096;
/** Mask that clears the offset within a page. */
export const PAGE_MASK = -PAGE_SIZE;

/**
 * `DMA_BIT_MASK(n)`: the highest address a device with an n-bit DMA mask reaches.
 * Exact up to n = 53; DMA_BIT_MASK(64) is 2^64 − 1 rounded to a double, which is still above
 * every address umm can represent.
 */
export function DMA_BIT_MASK(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new RangeError(`DMA_BIT_MASK: n=${n} is not in 0..64`);
  return n === 64 ? 2 ** 64 - 1 : 2 ** n - 1;
}

/** True when `x` is a power of two (1, 2, 4, ...). */
export function isPowerOfTwo(x: number): boolean {
  return Number.isInteger(x) && x > 0 && 2 ** Math.round(Math.log2(x)) === x;
}

/** Rounds `x` up to a multiple of `align` (a power of two or any positive integer). */
export function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}

/** Rounds `x` down to a multiple of `align`. */
export function alignDown(x: number, align: number): number {
  return Math.floor(x / align) * align;
}

/** True when `x` is a multiple of `align`. */
export function isAligned(x: number, align: number): boolean {
  return x % align === 0;
}

/** `PAGE_ALIGN(x)`: rounds up to a page multiple. */
export function pageAlign(x: number): number {
  return alignUp(x, PAGE_SIZE);
}

/** Physical or virtual address → page frame number / page number. */
export function pfnOf(addr: number): number {
  return Math.floor(addr / PAGE_SIZE);
}

/** Page frame number → address of its first byte. */
export function pfnToAddr(pfn: number): number {
  return pfn * PAGE_SIZE;
}

/** `get_order(size)`: smallest order whose 2^order pages hold `size` bytes. */
export function getOrder(size: number): number {
  let order = 0;
  while (PAGE_SIZE * 2 ** order < size) order++;
  return order;
}

/** `__ffs`: index of the lowest set bit (x > 0), valid beyond 32 bits. */
export function ffs(x: number): number {
  let n = 0;
  while (x % 2 === 0) {
    x /= 2;
    n++;
  }
  return n;
}

/** `__fls`: index of the highest set bit (x > 0), valid beyond 32 bits. */
export function fls(x: number): number {
  return Math.floor(Math.log2(x));
}

/** Human-readable size: 3 MiB, 64 KiB, 4096 B. */
export function formatSize(size: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = size;
  let u = 0;
  while (v >= 1024 && u < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    u++;
  }
  if (u === 0 && size >= 1024) {
    let w = size;
    let k = 0;
    while (w >= 1024 && k < units.length - 1) {
      w /= 1024;
      k++;
    }
    return `${w.toFixed(2)} ${units[k]}`;
  }
  return `${v} ${units[u]}`;
}
