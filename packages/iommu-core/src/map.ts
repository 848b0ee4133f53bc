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

/**
 * `x mod a` for an address `x` (a safe non-negative integer) and a power of two `a`: integer
 * operations while both fit in 32 bits, else an exact power-of-two division. (`%` on numbers
 * past 2^30, which V8 keeps as doubles, is a slow floating-point remainder.)
 */
function modPow2(x: number, a: number): number {
  if (x <= 0xffffffff && a <= 0x80000000) return (x >>> 0) & (a - 1);
  return x - Math.floor(x / a) * a;
}

/** Page sizes of a bitmap, ascending (bits 0..52). */
export function pgsizesOf(bitmap: number): number[] {
  const out: number[] = [];
  let s = 1;
  for (let k = 0; k < 53 && s <= bitmap; k++, s *= 2) {
    if (Math.floor(bitmap / s) % 2 === 1) out.push(s);
  }
  return out;
}

/**
 * The domain's page sizes, ascending, recomputed when the driver changed its bitmap (with
 * `p.minPgsize`, `p.minShift` and `p.oneStepMax`).
 */
function sizesOf(p: DomainPriv, domain: IommuDomain): number[] {
  if (p.bitmap !== domain.pgsizeBitmap) {
    const sizes = pgsizesOf(domain.pgsizeBitmap);
    p.sizes = sizes;
    p.bitmap = domain.pgsizeBitmap;
    p.minPgsize = sizes[0] ?? 0;
    let shift = 0;
    while (2 ** shift < p.minPgsize) shift++;
    p.minShift = shift;
    // below the second size only the smallest fits; kept a small integer (2^30 - 1 at most)
    p.oneStepMax = Math.min((sizes[1] ?? 2 ** 53) - 1, 0x3fffffff);
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
    if (s <= size && modPow2(iova, s) === 0 && modPow2(paddr, s) === 0) pgsize = s;
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
  if (next !== 0) {
    const io = modPow2(iova, next);
    if (io === modPow2(paddr, next)) {
      // Both addresses can reach the next page size together: stop at its boundary if a whole
      // page of it still fits after that, so the next step can use it.
      const offset = next - io;
      if (offset + next <= size) span = offset;
    }
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
  syncGather(domain, gather);
}

/** `iommuIotlbSync` for a domain already checked. */
function syncGather(domain: IommuDomain, gather: IommuIotlbGather): void {
  const sync = domain.ops.iotlbSync;
  if (sync) sync(domain, gather);
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
  if (
    (domain.type & 0x1) /* __IOMMU_DOMAIN_PAGING */ === 0 ||
    !domain.ops.mapPages ||
    domain.pgsizeBitmap === 0
  ) {
    throwDomainMaps(domain);
  }
}

function throwDomainMaps(domain: IommuDomain): never {
  if ((domain.type & __IOMMU_DOMAIN_PAGING) === 0) {
    throw new KernelError("EINVAL", `domain type ${domain.type} is not a paging domain`);
  }
  throw new KernelError("ENODEV", "the domain cannot map (no mapPages or an empty pgsizeBitmap)");
}

/**
 * True when `a`, `b` and `c` (safe non-negative integers) are multiples of the power of two
 * `min`. (Callers test the usual case inline: below 2^32, `((a | b | c) & (min - 1)) === 0`, as
 * the low bits survive ToInt32.)
 */
function aligned3Wide(a: number, b: number, c: number, min: number): boolean {
  return (modPow2(a, min) | modPow2(b, min) | modPow2(c, min)) === 0;
}

/** Throws EINVAL for addresses or a size that are invalid or unaligned to `min`. */
function checkMapArgs(what: string, iova: number, paddr: number, size: number, min: number): void {
  // The usual request, below 4 GiB: `x >>> 0 === x` says "an integer in [0, 2^32)" in one test.
  // (2^32 and 2^53 are written out: a bundled module's constants are variables.)
  if (
    iova >>> 0 === iova &&
    paddr >>> 0 === paddr &&
    size >>> 0 === size &&
    size !== 0 &&
    iova + size <= 0x100000000 &&
    paddr + size <= 0x100000000 &&
    min <= 0x80000000 &&
    ((iova | paddr | size) & (min - 1)) === 0
  ) {
    return;
  }
  checkMapArgsAny(what, iova, paddr, size, min);
}

/**
 * A domain that forces its aperture (`geometry.force_aperture`: a 32-bit SysMMU's lv1 table has
 * 4096 sections, nothing more) translates nothing outside it: a map there is EINVAL, before the
 * driver could write past its table.
 */
function checkAperture(domain: IommuDomain, what: string, iova: number, size: number): void {
  const g = domain.geometry;
  if (g.forceAperture && (iova < g.apertureStart || iova + size - 1 > g.apertureEnd)) {
    throw new KernelError(
      "EINVAL",
      `${what}[${hex(iova)}, +${hex(size)}) is outside the domain's aperture [${hex(g.apertureStart)}, ${hex(g.apertureEnd)}]`,
    );
  }
}

/** `checkMapArgs` for any values. */
function checkMapArgsAny(what: string, iova: number, paddr: number, size: number, min: number): void {
  if (
    !(
      isAddr(iova) &&
      isAddr(paddr) &&
      isAddr(size) &&
      size !== 0 &&
      iova + size <= 9007199254740992 &&
      paddr + size <= 9007199254740992 &&
      (iova + size <= 0x100000000 && paddr + size <= 0x100000000 && min <= 0x80000000
        ? ((iova | paddr | size) & (min - 1)) === 0
        : aligned3Wide(iova, paddr, size, min))
    )
  ) {
    throwMapArgs(what, iova, paddr, size, min);
  }
}

/** `checkMapArgs` found something wrong: throws the error for the first problem. */
function throwMapArgs(what: string, iova: number, paddr: number, size: number, min: number): never {
  if (!isAddr(iova)) throw new KernelError("EINVAL", `${what}iova ${String(iova)} is not an address`);
  if (!isAddr(paddr)) throw new KernelError("EINVAL", `${what}pa ${String(paddr)} is not an address`);
  if (!isAddr(size) || size === 0) {
    throw new KernelError("EINVAL", `${what}size ${String(size)} is not a positive number of bytes`);
  }
  if ((modPow2(iova, min) | modPow2(paddr, min) | modPow2(size, min)) !== 0) {
    const bad: string[] = [];
    if (modPow2(iova, min) !== 0) bad.push(`iova ${hex(iova)}`);
    if (modPow2(paddr, min) !== 0) bad.push(`pa ${hex(paddr)}`);
    if (modPow2(size, min) !== 0) bad.push(`size ${hex(size)}`);
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
  throw new KernelBug("checkMapArgs: no problem found");
}

function checkProt(prot: number): void {
  if (!(Number.isInteger(prot) && prot >= 0)) throwProt(prot);
}

function throwProt(prot: number): never {
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
  if (size <= p.oneStepMax && p.bitmap === domain.pgsizeBitmap) {
    // Below the second page size only the smallest fits (the addresses are aligned to it and
    // `size` is a multiple of it): `iommu_pgsize`'s answer without its loop, the count by a
    // shift (no division). Nothing is mapped yet: a failure has nothing to roll back.
    const done = domain.ops.mapPages!(domain, iova, paddr, p.minPgsize, size >>> p.minShift, prot);
    if (done !== size) mapRunOn(domain, p, iova, paddr, size, prot, done);
  } else mapRest(domain, p, iova, paddr, size, prot, 0);
  if (p.tpMap.enabled) traceMap(p, iova, paddr, size);
}

/** `mapRun` after a first step that mapped `done` bytes, not all of them. */
function mapRunOn(
  domain: IommuDomain,
  p: DomainPriv,
  iova: number,
  paddr: number,
  size: number,
  prot: number,
  done: number,
): void {
  checkMapped(done, size / p.minPgsize, p.minPgsize, iova);
  mapRest(domain, p, iova, paddr, size, prot, done);
}

/** `mapRun` from `done` bytes on, step by step (`iommu_pgsize`), rolling back on a failure. */
function mapRest(
  domain: IommuDomain,
  p: DomainPriv,
  iova: number,
  paddr: number,
  size: number,
  prot: number,
  done: number,
): void {
  const mapPages = domain.ops.mapPages!;
  while (done < size) {
    pgsizeStep(sizesOf(p, domain), iova + done, paddr + done, size - done);
    const pgsize = stepPgsize;
    const count = stepCount;
    let mapped: number;
    try {
      mapped = mapPages(domain, iova + done, paddr + done, pgsize, count, prot);
    } catch (e) {
      if (done > 0) unmapSynced(domain, p, iova, done);
      throw e;
    }
    checkMapped(mapped, count, pgsize, iova + done);
    done += mapped;
  }
}

function traceMap(p: DomainPriv, iova: number, paddr: number, size: number): void {
  p.tpMap.emit({ iova, paddr, size });
}

function traceUnmap(p: DomainPriv, iova: number, size: number, unmapped: number): void {
  p.tpUnmap.emit({ iova, size, unmapped_size: unmapped });
}

/** What `mapPages` returned must be a positive multiple of `pgsize`, at most `count` pages. */
function checkMapped(mapped: number, count: number, pgsize: number, iova: number): void {
  if (!(mapped > 0 && mapped <= pgsize * count && isAddr(mapped) && modPow2(mapped, pgsize) === 0)) {
    throwMapped(mapped, count, pgsize, iova);
  }
}

function throwMapped(mapped: number, count: number, pgsize: number, iova: number): never {
  throw new KernelBug(
    `mapPages returned ${String(mapped)} for ${count} page(s) of ${hex(pgsize)} at iova ${hex(iova)}`,
  );
}

/** Rollback helper: unmaps `[iova, iova + size)` and syncs the IOTLB. */
function unmapSynced(domain: IommuDomain, p: DomainPriv, iova: number, size: number): void {
  const n = unmapAndSync(domain, p, iova, size);
  if (n < size) iommuWarn(p.state, `rollback unmapped ${hex(n)} of ${hex(size)} bytes at iova ${hex(iova)}`);
}

/**
 * `iommu_map`: maps `size` bytes from `iova` to `paddr` with `prot` (IOMMU_READ | IOMMU_WRITE
 * ...), split into the largest page sizes allowed, then `iotlbSyncMap`.
 *
 * Throws EINVAL when the domain is not a paging domain; ENODEV when it cannot map (no
 * `mapPages`, empty bitmap); EINVAL when `iova`, `paddr` or `size` is not aligned to the smallest
 * page size (the message names them), `size` is 0, an address is not a non-negative integer, or
 * the range leaves the aperture of a domain that forces it;
 * the driver's error (EEXIST over an existing mapping, ENOMEM) — after unmapping everything this
 * call mapped, so a rejected call leaves the domain as it was.
 */
export function iommuMap(domain: IommuDomain, iova: number, paddr: number, size: number, prot: number): void {
  const p = domainPriv(domain);
  checkDomainMaps(domain);
  if (p.bitmap !== domain.pgsizeBitmap) sizesOf(p, domain);
  checkMapArgs("", iova, paddr, size, p.minPgsize);
  checkAperture(domain, "", iova, size);
  checkProt(prot);
  mapRun(domain, p, iova, paddr, size, prot);
  if (domain.ops.iotlbSyncMap) syncMap(domain, p, iova, size);
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
  checkAperture(domain, "sg: ", iova, off);
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
  const unmapPages = domain.ops.unmapPages;
  const min = p.minPgsize;
  // The usual request: a paging domain, page sizes as computed, below the second page size and
  // aligned to the smallest below 4 GiB: one step of the smallest pages.
  if (
    (domain.type & 0x1) /* __IOMMU_DOMAIN_PAGING */ === 0 ||
    !unmapPages ||
    domain.pgsizeBitmap !== p.bitmap ||
    domain.pgsizeBitmap === 0 ||
    size === 0 ||
    size > p.oneStepMax ||
    iova + size > 0x100000000 ||
    min > 0x80000000 ||
    ((iova | size) & (min - 1)) !== 0
  ) {
    return unmapAny(domain, p, iova, size, gather);
  }
  let unmapped = unmapPages(domain, iova, min, size >>> p.minShift, gather);
  if (!(unmapped >= 0)) throwUnmapped(unmapped, iova);
  if (unmapped !== 0 && unmapped < size) unmapped = unmapRest(domain, p, iova, size, gather, unmapped);
  if (p.tpUnmap.enabled) traceUnmap(p, iova, size, unmapped);
  return unmapped;
}

/** `unmapInner` for any request: the checks and sentinels of `__iommu_unmap`, then its steps. */
function unmapAny(
  domain: IommuDomain,
  p: DomainPriv,
  iova: number,
  size: number,
  gather: IommuIotlbGather,
): number {
  if ((domain.type & 0x1) /* __IOMMU_DOMAIN_PAGING */ === 0) return 0;
  const unmapPages = domain.ops.unmapPages;
  if (!unmapPages || domain.pgsizeBitmap === 0)
    return warnUnmap(p, "unmap on a domain without unmapPages or page sizes");
  if (p.bitmap !== domain.pgsizeBitmap) sizesOf(p, domain);
  const min = p.minPgsize;
  if (
    !(iova + size <= 0x100000000 && min <= 0x80000000
      ? ((iova | size) & (min - 1)) === 0
      : aligned3Wide(iova, size, 0, min))
  ) {
    return warnUnaligned(p, iova, size, min);
  }
  let unmapped: number;
  if (size !== 0 && size <= p.oneStepMax) {
    // the first step of a request below the second page size: smallest pages only (as in mapRun)
    unmapped = unmapPages(domain, iova, min, size >>> p.minShift, gather);
    if (!(unmapped >= 0)) throwUnmapped(unmapped, iova);
    if (unmapped !== 0 && unmapped < size) unmapped = unmapRest(domain, p, iova, size, gather, unmapped);
  } else unmapped = unmapRest(domain, p, iova, size, gather, 0);
  if (p.tpUnmap.enabled) traceUnmap(p, iova, size, unmapped);
  return unmapped;
}

/** `unmapInner` from `unmapped` bytes on, step by step (`iommu_pgsize`) until a hole. */
function unmapRest(
  domain: IommuDomain,
  p: DomainPriv,
  iova: number,
  size: number,
  gather: IommuIotlbGather,
  unmapped: number,
): number {
  const unmapPages = domain.ops.unmapPages!;
  while (unmapped < size) {
    pgsizeStep(sizesOf(p, domain), iova + unmapped, iova + unmapped, size - unmapped);
    const n = unmapPages(domain, iova + unmapped, stepPgsize, stepCount, gather);
    if (!(n >= 0)) throwUnmapped(n, iova + unmapped);
    if (n === 0) break;
    unmapped += n;
  }
  return unmapped;
}

function warnUnmap(p: DomainPriv, message: string): number {
  iommuWarn(p.state, message);
  return 0;
}

function warnUnaligned(p: DomainPriv, iova: number, size: number, min: number): number {
  return warnUnmap(p, `unaligned: iova ${hex(iova)} size ${hex(size)} min_pagesz ${hex(min)}`);
}

function throwUnmapped(n: number, iova: number): never {
  throw new KernelBug(`unmapPages returned ${String(n)} at iova ${hex(iova)}`);
}

/**
 * Unmaps and syncs through the domain's spare gather (no allocation). The gather is taken while
 * in use: an unmap further down the stack (a driver unmapping from its own callbacks), or the
 * next one after an exception left it out, makes a fresh one, which becomes the spare.
 */
function unmapAndSync(domain: IommuDomain, p: DomainPriv, iova: number, size: number): number {
  let gather = p.gather;
  if (gather === null) gather = iommuIotlbGatherInit();
  else p.gather = null;
  const n = unmapInner(domain, p, iova, size, gather);
  syncGather(domain, gather); // leaves it empty
  p.gather = gather;
  return n;
}

function checkUnmapArgs(iova: number, size: number): void {
  if (!((iova >>> 0 === iova || isAddr(iova)) && (size >>> 0 === size || isAddr(size)))) {
    throwUnmapArgs(iova, size);
  }
}

function throwUnmapArgs(iova: number, size: number): never {
  if (!isAddr(iova)) throw new KernelError("EINVAL", `iova ${String(iova)} is not an address`);
  throw new KernelError("EINVAL", `size ${String(size)} is not a number of bytes`);
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
  return unmapAndSync(domain, p, iova, size);
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
