/**
 * Map and unmap (drivers/iommu/iommu.c `iommu_pgsize`, `__iommu_map`, `__iommu_unmap`,
 * `iommu_map_sg`, `iommu_iova_to_phys`, and the IOTLB gather helpers of include/linux/iommu.h).
 *
 * The core validates, then splits a request into the largest page sizes the domain supports
 * that the alignment of both addresses allows, and hands each run to the driver. A map that
 * fails part way is unmapped again before the error propagates.
 *
 * @module
 */
import { hex, KernelBug, KernelError } from "@umm/kernel-core";
import { type DomainPriv, domainPriv, iommuWarn } from "./state.js";
import {
  __IOMMU_DOMAIN_PAGING,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  type IommuDomain,
  type IommuIotlbGather,
  type IommuPgsizeResult,
  type IommuSgEntry,
} from "./types.js";

/** Page sizes of a bitmap, ascending (bits 0..52). */
export function pgsizesOf(bitmap: number): number[] {
  const out: number[] = [];
  let s = 1;
  for (let k = 0; k < 53 && s <= bitmap; k++, s *= 2) {
    if (Math.floor(bitmap / s) % 2 === 1) out.push(s);
  }
  return out;
}

/** The domain's page sizes, ascending, recomputed when the driver changed its bitmap. */
function sizesOf(p: DomainPriv, domain: IommuDomain): number[] {
  if (p.bitmap !== domain.pgsizeBitmap) {
    p.sizes = pgsizesOf(domain.pgsizeBitmap);
    p.bitmap = domain.pgsizeBitmap;
  }
  return p.sizes;
}

// The result of the last pgsizeStep, kept in module variables so the map loop allocates nothing.
let stepPgsize = 0;
let stepCount = 0;

/** `iommu_pgsize` on an ascending size list; sets stepPgsize / stepCount. */
function pgsizeStep(sizes: readonly number[], iova: number, paddr: number, size: number): void {
  // Sizes that fit in `size` and to which both addresses are aligned form a prefix of the
  // ascending list; the first size past it is the next larger page the hardware has.
  let pgsize = 0;
  let next = 0;
  for (let i = 0; i < sizes.length; i++) {
    const s = sizes[i] as number;
    if (s <= size && iova % s === 0 && paddr % s === 0) pgsize = s;
    else {
      next = s;
      break;
    }
  }
  if (pgsize === 0) {
    throw new KernelBug(
      `iommu_pgsize: no page size fits iova ${hex(iova)} pa ${hex(paddr)} size ${hex(size)}`,
    );
  }
  let span = size;
  if (next !== 0 && iova % next === paddr % next) {
    // Both addresses can reach the next page size together: stop at its boundary if a whole
    // page of it still fits after that, so the next step can use it.
    const offset = next - (iova % next);
    if (offset + next <= size) span = offset;
  }
  stepPgsize = pgsize;
  stepCount = Math.floor(span / pgsize);
}

/**
 * `iommu_pgsize`: the next chunk of a map of `size` bytes from `iova` to `paddr` — the largest
 * page size of the domain that fits in `size` and to which both addresses are aligned, and how
 * many of those pages to map before a larger size becomes usable. With bitmap 4K|64K|1M, iova
 * 0x10000, pa 0x20010000, size 0x200000 the chunks are 15 × 64K, 1 × 1M, 1 × 64K. The addresses
 * must be aligned to the smallest page size (a `KernelBug` otherwise).
 */
export function iommuPgsize(
  domain: IommuDomain,
  iova: number,
  paddr: number,
  size: number,
): IommuPgsizeResult {
  const p = domainPriv(domain);
  pgsizeStep(sizesOf(p, domain), iova, paddr, size);
  return { pgsize: stepPgsize, count: stepCount };
}

// ---- IOTLB gather ----

/** `iommu_iotlb_gather_init`: an empty gather. */
export function iommuIotlbGatherInit(): IommuIotlbGather {
  return { start: Number.MAX_SAFE_INTEGER, end: 0, pgsize: 0 };
}

function gatherReset(g: IommuIotlbGather): void {
  g.start = Number.MAX_SAFE_INTEGER;
  g.end = 0;
  g.pgsize = 0;
}

/** `iommu_iotlb_gather_add_range`: widens `gather` to cover `[iova, iova + size)`. */
export function iommuIotlbGatherAddRange(gather: IommuIotlbGather, iova: number, size: number): void {
  const end = iova + size - 1;
  if (gather.start > iova) gather.start = iova;
  if (gather.end < end) gather.end = end;
}

/**
 * `iommu_iotlb_gather_add_page`: records an unmapped page of `size` bytes for invalidation.
 * When the page is of another size than those gathered, or neither overlaps nor touches the
 * gathered range, the gathered range is synced first (`iommuIotlbSync`).
 */
export function iommuIotlbGatherAddPage(
  domain: IommuDomain,
  gather: IommuIotlbGather,
  iova: number,
  size: number,
): void {
  const end = iova + size - 1;
  const disjoint = gather.end !== 0 && (end + 1 < gather.start || iova > gather.end + 1);
  if ((gather.pgsize !== 0 && gather.pgsize !== size) || disjoint) iommuIotlbSync(domain, gather);
  gather.pgsize = size;
  iommuIotlbGatherAddRange(gather, iova, size);
}

/** `iommu_iotlb_sync`: hands `gather` to the driver's `iotlbSync` (if any), then empties it. */
export function iommuIotlbSync(domain: IommuDomain, gather: IommuIotlbGather): void {
  domainPriv(domain);
  domain.ops.iotlbSync?.(domain, gather);
  gatherReset(gather);
}

/** `iommu_flush_iotlb_all`: invalidates the whole IOTLB of the domain (`flushIotlbAll`, if any). */
export function iommuFlushIotlbAll(domain: IommuDomain): void {
  domainPriv(domain);
  domain.ops.flushIotlbAll?.(domain);
}

// ---- map ----

const MAX_ADDR = 2 ** 53;

function isAddr(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}

/** Throws EINVAL / ENODEV for a map the domain cannot take (`__iommu_map`'s checks). */
function checkDomainMaps(domain: IommuDomain): void {
  if ((domain.type & __IOMMU_DOMAIN_PAGING) === 0) {
    throw new KernelError("EINVAL", `domain type ${domain.type} is not a paging domain`);
  }
  if (!domain.ops.mapPages || domain.pgsizeBitmap === 0) {
    throw new KernelError("ENODEV", "the domain cannot map (no mapPages or an empty pgsizeBitmap)");
  }
}

/** Throws EINVAL for addresses or a size that are invalid or unaligned to `min`. */
function checkMapArgs(what: string, iova: number, paddr: number, size: number, min: number): void {
  if (!isAddr(iova)) throw new KernelError("EINVAL", `${what}iova ${String(iova)} is not an address`);
  if (!isAddr(paddr)) throw new KernelError("EINVAL", `${what}pa ${String(paddr)} is not an address`);
  if (!isAddr(size) || size === 0) {
    throw new KernelError("EINVAL", `${what}size ${String(size)} is not a positive number of bytes`);
  }
  const bad: string[] = [];
  if (iova % min !== 0) bad.push(`iova ${hex(iova)}`);
  if (paddr % min !== 0) bad.push(`pa ${hex(paddr)}`);
  if (size % min !== 0) bad.push(`size ${hex(size)}`);
  if (bad.length > 0) {
    throw new KernelError(
      "EINVAL",
      `${what}unaligned: ${bad.join(", ")} ${bad.length > 1 ? "are" : "is"} not aligned to the smallest page size ${hex(min)} (iova ${hex(iova)} pa ${hex(paddr)} size ${hex(size)})`,
    );
  }
  if (iova + size > MAX_ADDR || paddr + size > MAX_ADDR) {
    throw new KernelError(
      "EINVAL",
      `${what}iova ${hex(iova)} / pa ${hex(paddr)} + size ${hex(size)} overflows`,
    );
  }
}

function checkProt(prot: number): void {
  if (!Number.isInteger(prot) || prot < 0)
    throw new KernelError("EINVAL", `prot ${String(prot)} is not a flag set`);
}

/**
 * Maps one validated run; on a driver failure unmaps what this run mapped and rethrows.
 * Emits `iommu_map` on success.
 */
function mapRun(
  domain: IommuDomain,
  p: DomainPriv,
  iova: number,
  paddr: number,
  size: number,
  prot: number,
): void {
  const sizes = sizesOf(p, domain);
  const mapPages = domain.ops.mapPages!;
  let done = 0;
  while (done < size) {
    pgsizeStep(sizes, iova + done, paddr + done, size - done);
    const pgsize = stepPgsize;
    const count = stepCount;
    let mapped: number;
    try {
      mapped = mapPages(domain, iova + done, paddr + done, pgsize, count, prot);
    } catch (e) {
      if (done > 0) unmapSynced(domain, p, iova, done);
      throw e;
    }
    if (!(mapped > 0 && mapped % pgsize === 0 && mapped <= pgsize * count)) {
      throw new KernelBug(
        `mapPages returned ${String(mapped)} for ${count} page(s) of ${hex(pgsize)} at iova ${hex(iova + done)}`,
      );
    }
    done += mapped;
  }
  const tp = p.state.tp.map;
  if (tp.enabled) tp.emit({ iova, paddr, size });
}

/** Rollback helper: unmaps `[iova, iova + size)` and syncs the IOTLB. */
function unmapSynced(domain: IommuDomain, p: DomainPriv, iova: number, size: number): void {
  const gather = iommuIotlbGatherInit();
  const n = unmapInner(domain, p, iova, size, gather);
  iommuIotlbSync(domain, gather);
  if (n < size) iommuWarn(p.state, `rollback unmapped ${hex(n)} of ${hex(size)} bytes at iova ${hex(iova)}`);
}

/**
 * `iommu_map`: maps `size` bytes from `iova` to `paddr` with `prot` (IOMMU_READ | IOMMU_WRITE
 * ...), split into the largest page sizes allowed, then `iotlbSyncMap`.
 *
 * Throws EINVAL when the domain is not a paging domain; ENODEV when it cannot map (no
 * `mapPages`, empty bitmap); EINVAL when `iova`, `paddr` or `size` is not aligned to the smallest
 * page size (the message names them), `size` is 0, or an address is not a non-negative integer;
 * the driver's error (EEXIST over an existing mapping, ENOMEM) — after unmapping everything this
 * call mapped, so a rejected call leaves the domain as it was.
 */
export function iommuMap(domain: IommuDomain, iova: number, paddr: number, size: number, prot: number): void {
  const p = domainPriv(domain);
  checkDomainMaps(domain);
  checkMapArgs("", iova, paddr, size, sizesOf(p, domain)[0] as number);
  checkProt(prot);
  mapRun(domain, p, iova, paddr, size, prot);
  syncMap(domain, p, iova, size);
}

function syncMap(domain: IommuDomain, p: DomainPriv, iova: number, size: number): void {
  const sync = domain.ops.iotlbSyncMap;
  if (!sync || size === 0) return;
  try {
    sync(domain, iova, size);
  } catch (e) {
    unmapSynced(domain, p, iova, size);
    throw e;
  }
}

/**
 * `iommu_map_sg`: maps the scatterlist `sg` contiguously from `iova`, coalescing entries that
 * are physically contiguous into one run each, then one `iotlbSyncMap`. Returns the bytes mapped
 * (the sum of the lengths). Every run is checked before anything is mapped: errors as
 * `iommuMap`, plus EINVAL for an empty list or an entry of length 0. On a driver failure
 * everything mapped so far is unmapped and the error rethrown.
 */
export function iommuMapSg(
  domain: IommuDomain,
  iova: number,
  sg: readonly IommuSgEntry[],
  prot: number,
): number {
  const p = domainPriv(domain);
  checkDomainMaps(domain);
  checkProt(prot);
  if (sg.length === 0) throw new KernelError("EINVAL", "sg is empty");
  const min = sizesOf(p, domain)[0] as number;
  const runs: number[] = []; // paddr, length pairs
  let start = 0;
  let len = 0;
  for (let i = 0; i < sg.length; i++) {
    const e = sg[i] as IommuSgEntry;
    if (!isAddr(e.paddr))
      throw new KernelError("EINVAL", `sg[${i}].paddr ${String(e.paddr)} is not an address`);
    if (!isAddr(e.length) || e.length === 0) {
      throw new KernelError(
        "EINVAL",
        `sg[${i}].length ${String(e.length)} is not a positive number of bytes`,
      );
    }
    if (len > 0 && e.paddr === start + len) len += e.length;
    else {
      if (len > 0) runs.push(start, len);
      start = e.paddr;
      len = e.length;
    }
  }
  runs.push(start, len);
  let off = 0;
  for (let r = 0; r < runs.length; r += 2) {
    checkMapArgs(`sg run ${r / 2}: `, iova + off, runs[r] as number, runs[r + 1] as number, min);
    off += runs[r + 1] as number;
  }
  let mapped = 0;
  try {
    for (let r = 0; r < runs.length; r += 2) {
      mapRun(domain, p, iova + mapped, runs[r] as number, runs[r + 1] as number, prot);
      mapped += runs[r + 1] as number;
    }
  } catch (e) {
    if (mapped > 0) unmapSynced(domain, p, iova, mapped);
    throw e;
  }
  syncMap(domain, p, iova, mapped);
  return mapped;
}

// ---- unmap ----

function unmapInner(
  domain: IommuDomain,
  p: DomainPriv,
  iova: number,
  size: number,
  gather: IommuIotlbGather,
): number {
  if ((domain.type & __IOMMU_DOMAIN_PAGING) === 0) return 0;
  const unmapPages = domain.ops.unmapPages;
  if (!unmapPages || domain.pgsizeBitmap === 0) {
    iommuWarn(p.state, "unmap on a domain without unmapPages or page sizes");
    return 0;
  }
  const sizes = sizesOf(p, domain);
  const min = sizes[0] as number;
  if (iova % min !== 0 || size % min !== 0) {
    iommuWarn(p.state, `unaligned: iova ${hex(iova)} size ${hex(size)} min_pagesz ${hex(min)}`);
    return 0;
  }
  let unmapped = 0;
  while (unmapped < size) {
    pgsizeStep(sizes, iova + unmapped, iova + unmapped, size - unmapped);
    const n = unmapPages(domain, iova + unmapped, stepPgsize, stepCount, gather);
    if (!(n >= 0)) throw new KernelBug(`unmapPages returned ${String(n)} at iova ${hex(iova + unmapped)}`);
    if (n === 0) break;
    unmapped += n;
  }
  const tp = p.state.tp.unmap;
  if (tp.enabled) tp.emit({ iova, size, unmapped_size: unmapped });
  return unmapped;
}

function checkUnmapArgs(iova: number, size: number): void {
  if (!isAddr(iova)) throw new KernelError("EINVAL", `iova ${String(iova)} is not an address`);
  if (!isAddr(size)) throw new KernelError("EINVAL", `size ${String(size)} is not a number of bytes`);
}

/**
 * `iommu_unmap`: unmaps `size` bytes from `iova`, then syncs the IOTLB. Returns the bytes
 * unmapped: 0 for a non-paging domain or an `iova` / `size` not aligned to the smallest page
 * size (kernel sentinels, not errors); less than `size` when the driver stopped at a hole or
 * refused to split a larger page; more than `size` when it removed a whole larger page. Throws
 * EINVAL only for an argument that is not a non-negative integer.
 */
export function iommuUnmap(domain: IommuDomain, iova: number, size: number): number {
  const p = domainPriv(domain);
  checkUnmapArgs(iova, size);
  const gather = iommuIotlbGatherInit();
  const n = unmapInner(domain, p, iova, size, gather);
  iommuIotlbSync(domain, gather);
  return n;
}

/**
 * `iommu_unmap_fast`: as `iommuUnmap` but leaves the IOTLB invalidation in `gather` for the
 * caller's `iommuIotlbSync` (until then the hardware may still use the old translations).
 */
export function iommuUnmapFast(
  domain: IommuDomain,
  iova: number,
  size: number,
  gather: IommuIotlbGather,
): number {
  const p = domainPriv(domain);
  checkUnmapArgs(iova, size);
  return unmapInner(domain, p, iova, size, gather);
}

// ---- translate ----

/**
 * `iommu_iova_to_phys`: the physical address `iova` translates to in `domain` — `iova` itself
 * in an identity domain, 0 in a blocked domain or where nothing is mapped (the kernel's
 * sentinel). Throws EINVAL only for an `iova` that is not a non-negative integer.
 */
export function iommuIovaToPhys(domain: IommuDomain, iova: number): number {
  domainPriv(domain);
  if (!isAddr(iova)) throw new KernelError("EINVAL", `iova ${String(iova)} is not an address`);
  if (domain.type === IOMMU_DOMAIN_IDENTITY) return iova;
  if (domain.type === IOMMU_DOMAIN_BLOCKED) return 0;
  return domain.ops.iovaToPhys?.(domain, iova) ?? 0;
}
