/**
 * The hardware-MMU wrapper (mm/vcm.c "Hardware MMU wrapper", CONFIG_VCM_MMU): a context whose
 * bus addresses come from a pool over `[start, start + size)`, whose memory comes from
 * `vcmPhysAlloc` in the MMU's page orders, and whose bindings a `VcmMmuDriver` programs into the
 * MMU — at once while the context is active, for all of them on activation. `vcmIommuMmuDriver`
 * is such a driver over an iommu-core domain, so any IOMMU umm models can back a VCM context.
 *
 * @module
 */
import { IOMMU_READ, IOMMU_WRITE, type IommuDomain, iommuMap, iommuUnmap } from "@umm/iommu-core";
import { ffs, hex, type Kernel, KernelError, PAGE_SHIFT, PAGE_SIZE } from "@umm/kernel-core";
import { vcmInit } from "./core.js";
import type { VcmDriver, VcmMmuDriver } from "./ops.js";
import { checkOrders, vcmPhysAlloc, vcmPhysWalk } from "./phys.js";
import { AddrPool } from "./pool.js";
import { vcmWarn } from "./state.js";
import { Vcm, type VcmPhys, VcmRes } from "./types.js";

/** Options of `vcmMmuInit`. */
export interface VcmMmuOpts {
  /** first bus address of the context (page-aligned) */
  readonly start: number;
  /** bytes of address space (page-aligned, non-zero) */
  readonly size: number;
  /** the page-table programmer; or give `domain` */
  readonly driver?: VcmMmuDriver;
  /** an iommu-core domain to program (shorthand for `driver: vcmIommuMmuDriver(domain, { prot })`) */
  readonly domain?: IommuDomain;
  /** IOMMU_* protection of the mappings when `domain` is given (default read + write) */
  readonly prot?: number;
  /** name in messages and trace events */
  readonly name?: string;
}

/**
 * An MMU-wrapper context (`struct vcm_mmu`): the pool of bus addresses, the bound reservations
 * in binding order, and whether the bindings are on the hardware (`activated`).
 */
export class VcmMmu extends Vcm {
  /** the page-table programmer */
  readonly mmuDriver: VcmMmuDriver;
  /** true while the bindings are on the hardware (the driver's activate succeeded) */
  activated = false;
  /** @internal `pool`: bus addresses, granule PAGE_SIZE */
  readonly _pool: AddrPool;
  /** @internal `bound_res`, in binding order */
  readonly _bound = new Set<VcmRes>();

  /** @internal use `vcmMmuInit` (or a wrapper such as `vcmCreateUnified`) */
  constructor(
    kernel: Kernel,
    opts: { start: number; size: number; name?: string },
    mmuDriver: VcmMmuDriver,
    driver: VcmDriver,
  ) {
    super(kernel, { start: opts.start, size: opts.size, driver, ...(opts.name ? { name: opts.name } : {}) });
    this.mmuDriver = mmuDriver;
    this._pool = new AddrPool(opts.start, opts.size, PAGE_SIZE);
  }

  /** Bound reservations, in binding order. */
  get bound(): readonly VcmRes[] {
    return [...this._bound];
  }

  /** Bytes of the address space reserved. */
  get reservedBytes(): number {
    return this._pool.used;
  }
}

function mmuOf(vcm: Vcm): VcmMmu {
  return vcm as VcmMmu;
}

/** `__vcm_mmu_activate`: whole binding, or page by page with `deactivatePage` as recovery. */
function program(m: VcmMmu, res: VcmRes, phys: VcmPhys): void {
  const d = m.mmuDriver;
  if (d.activate) {
    d.activate(res, phys);
    return;
  }
  const page = d.activatePage as NonNullable<VcmMmuDriver["activatePage"]>;
  const undo = d.deactivatePage as NonNullable<VcmMmuDriver["deactivatePage"]>;
  vcmPhysWalk(
    res.start,
    phys,
    d.orders,
    (va, pa, o) => page(va, pa, o, m),
    (va, pa, o) => undo(va, pa, o, m),
  );
}

/** `__vcm_mmu_deactivate`. */
function unprogram(m: VcmMmu, res: VcmRes, phys: VcmPhys): void {
  const d = m.mmuDriver;
  if (d.deactivate) {
    d.deactivate(res, phys);
    return;
  }
  const undo = d.deactivatePage as NonNullable<VcmMmuDriver["deactivatePage"]>;
  vcmPhysWalk(res.start, phys, d.orders, (va, pa, o) => undo(va, pa, o, m));
}

/** The alignment of a reservation of `size` bytes: the largest page of `orders` ≤ size's alignment. */
export function mmuResAlignment(orders: readonly number[], size: number): number {
  const natural = ffs(size) - PAGE_SHIFT;
  let i = 0;
  while ((orders[i] as number) > natural) i++;
  return PAGE_SIZE * 2 ** (orders[i] as number);
}

/** @internal activate of the wrapper (`vcm_mmu_activate`), shared with the S5P context. */
export function _mmuActivate(vcm: Vcm): void {
  const m = mmuOf(vcm);
  const done: VcmRes[] = [];
  for (const r of m._bound) {
    try {
      program(m, r, r.phys as VcmPhys);
    } catch (e) {
      for (const rr of done) unprogram(m, rr, rr.phys as VcmPhys);
      throw e;
    }
    done.push(r);
  }
  m.activated = true;
}

/** @internal The wrapper's `struct vcm_driver`. */
export const MMU_VCM_DRIVER = Object.freeze({
  cleanup(vcm) {
    const m = mmuOf(vcm);
    if (m._bound.size > 0) {
      vcmWarn(vcm.kernel, `vcm_mmu cleanup: ${vcm.name} still has ${m._bound.size} bound reservation(s)`);
    }
    m.mmuDriver.cleanup?.(vcm);
  },
  res(vcm, size) {
    const m = mmuOf(vcm);
    const align = mmuResAlignment(m.mmuDriver.orders, size);
    const addr = m._pool.alloc(size, align);
    if (!addr) {
      throw new KernelError(
        "ENOSPC",
        `vcm_mmu res: no ${hex(size)} bytes aligned to ${hex(align)} left in ${vcm.toString()}`,
      );
    }
    return new VcmRes(vcm, addr, size);
  },
  phys(vcm, size, flags) {
    return vcmPhysAlloc(vcm.kernel, size, flags, mmuOf(vcm).mmuDriver.orders);
  },
  bind(res, phys) {
    const m = mmuOf(res.vcm);
    if (m.activated) program(m, res, phys);
    m._bound.add(res);
  },
  unbind(res) {
    const m = mmuOf(res.vcm);
    if (m.activated) unprogram(m, res, res.phys as VcmPhys);
    m._bound.delete(res);
  },
  unreserve(res) {
    mmuOf(res.vcm)._pool.free(res.start, res.resSize);
  },
  activate: _mmuActivate,
  deactivate(vcm) {
    const m = mmuOf(vcm);
    m.activated = false;
    // [deviation] vcm_mmu_deactivate calls driver->deactivate directly (a NULL call for drivers
    // with only deactivate_page); umm unprograms as unbind does.
    for (const r of m._bound) unprogram(m, r, r.phys as VcmPhys);
  },
} satisfies VcmDriver);

/** @internal The validation of `vcm_mmu_init` (EINVAL). */
export function _checkMmuDriver(d: VcmMmuDriver | null | undefined, what: string): void {
  if (!d || !(d.activate || (d.activatePage && d.deactivatePage)) || !(d.deactivate || d.deactivatePage)) {
    throw new KernelError(
      "EINVAL",
      `${what}: the MMU driver needs activate (or activatePage and deactivatePage) and deactivate (or deactivatePage)`,
    );
  }
  checkOrders(d.orders, what);
}

/**
 * `vcm_mmu_init`: a context over `[start, start + size)` programmed by `opts.driver` (or by
 * `vcmIommuMmuDriver(opts.domain)`). Reservations are aligned to the largest page of the
 * driver's orders not above the natural alignment of their size (lowest set bit), first fit
 * from the lowest address (ENOSPC when none fits); physical memory comes from `vcmPhysAlloc` in
 * those orders; bindings are programmed while the context is active. EINVAL for a driver
 * without activate (or both page callbacks) or without deactivate (or `deactivatePage`), a bad
 * orders list, both or neither of `driver` and `domain`, or a start/size `vcmInit` refuses.
 */
export function vcmMmuInit(kernel: Kernel, opts: VcmMmuOpts): VcmMmu {
  if (!opts || (opts.driver && opts.domain) || (!opts.driver && !opts.domain)) {
    throw new KernelError("EINVAL", "vcm_mmu_init: give exactly one of driver and domain");
  }
  const driver =
    opts.driver ??
    vcmIommuMmuDriver(opts.domain as IommuDomain, opts.prot === undefined ? {} : { prot: opts.prot });
  _checkMmuDriver(driver, "vcm_mmu_init");
  const m = new VcmMmu(kernel, opts, driver, MMU_VCM_DRIVER);
  vcmInit(m);
  return m;
}

/** Options of `vcmIommuMmuDriver`. */
export interface VcmIommuMmuOpts {
  /** IOMMU_* protection of the mappings (default IOMMU_READ | IOMMU_WRITE) */
  readonly prot?: number;
}

/** Page orders (descending) of the 4 KiB-multiple sizes in an iommu-core page-size bitmap. */
export function ordersOfPgsizeBitmap(bitmap: number): number[] {
  const out: number[] = [];
  for (let o = 20; o >= 0; o--) if (Math.floor(bitmap / (PAGE_SIZE * 2 ** o)) % 2 === 1) out.push(o);
  return out;
}

/**
 * A `VcmMmuDriver` that programs an iommu-core domain: `activate` maps each physical part with
 * one `iommuMap` (which splits it into the domain's page sizes) and, when a part fails, unmaps
 * the parts already mapped before rethrowing; `deactivate` unmaps part by part. Its orders are
 * the domain's page sizes from 4 KiB up (a 4K|64K|1M IOMMU gives {8, 4, 0}). EINVAL when the
 * domain cannot map 4 KiB pages.
 */
export function vcmIommuMmuDriver(domain: IommuDomain, opts: VcmIommuMmuOpts = {}): VcmMmuDriver {
  if (!domain) throw new KernelError("EINVAL", "vcm iommu driver: domain is NULL");
  const orders = ordersOfPgsizeBitmap(domain.pgsizeBitmap);
  if (orders[orders.length - 1] !== 0) {
    throw new KernelError(
      "EINVAL",
      `vcm iommu driver: the domain's page sizes ${hex(domain.pgsizeBitmap)} do not include 4 KiB`,
    );
  }
  const prot = opts.prot ?? IOMMU_READ | IOMMU_WRITE;
  return Object.freeze({
    orders: Object.freeze(orders),
    activate(res, phys) {
      let iova = res.start;
      let k = 0;
      try {
        for (; k < phys.parts.length; k++) {
          const part = phys.parts[k] as VcmPhys["parts"][number];
          iommuMap(domain, iova, part.start, part.size, prot);
          iova += part.size;
        }
      } catch (e) {
        let back = res.start;
        for (let j = 0; j < k; j++) {
          const part = phys.parts[j] as VcmPhys["parts"][number];
          iommuUnmap(domain, back, part.size);
          back += part.size;
        }
        throw e;
      }
    },
    deactivate(res, phys) {
      let iova = res.start;
      for (const part of phys.parts) {
        iommuUnmap(domain, iova, part.size);
        iova += part.size;
      }
    },
  } satisfies VcmMmuDriver);
}
