/**
 * What an IOMMU driver implements (`struct iommu_ops`, `struct iommu_domain_ops` in
 * include/linux/iommu.h), and the helpers a driver calls back into the core with.
 *
 * A driver fills one frozen object literal per table, typed with `satisfies IommuOps` /
 * `satisfies IommuDomainOps`. The core validates every argument, splits map/unmap requests into
 * the page sizes the domain supports, and rolls back partial work; a driver may assume valid,
 * aligned input and only touches its page tables and hardware.
 *
 * @module
 */
import type { Device } from "@umm/kernel-core";
import type {
  IommuCap,
  IommuDevice,
  IommuDomain,
  IommuDomainInit,
  IommuDomainType,
  IommuGroup,
  IommuIotlbGather,
  IommuXlateArgs,
} from "./types.js";

/**
 * Driver-wide operations (`struct iommu_ops`). One table per driver; every registered
 * `IommuDevice` of the driver points at it, and every domain it allocates has it as `owner`.
 */
export interface IommuOps {
  /**
   * Page sizes the hardware maps, one bit per size in bytes (4K|64K|1M = `0x111000`). Copied into
   * each domain whose `domainAlloc` left `pgsizeBitmap` at 0. Must be non-zero for paging domains.
   */
  readonly pgsizeBitmap: number;

  /**
   * Whether the IOMMU in front of `dev` has capability `cap`. Absent: the core answers false for
   * every capability (`deviceIommuCapable`).
   */
  readonly capable?: (dev: Device, cap: IommuCap) => boolean;

  /**
   * Allocates a domain of `type` (IOMMU_DOMAIN_*) for masters like `dev`. Returns the driver's
   * object (at least `{ ops }`, usually a type extending `IommuDomain` with page-table state), or
   * null when the type is not supported or memory is short (the core then throws ENOMEM). The
   * core fills `type`, `owner`, `pgsizeBitmap` (when 0 or absent), `geometry` (when absent) and
   * the fault-handler fields. May return the same static object every time for a stateless type
   * (an identity domain); give such a domain no `free` op.
   */
  readonly domainAlloc: (type: IommuDomainType, dev: Device) => IommuDomainInit | null;

  /**
   * Takes `dev` on as a master (`probe_device`): sets up per-master state (keep it with
   * `devIommuPrivSet`) and returns the registered `IommuDevice` that translates for it. Throws
   * `KernelError("ENODEV")` when `dev` is not a master of this driver; any other throw fails the
   * probe. Runs after `ofXlate`.
   */
  readonly probeDevice: (dev: Device) => IommuDevice;

  /**
   * Undoes `probeDevice` (`release_device`) once the core has detached `dev` from its domain and
   * removed it from its group. Absent: nothing to undo; the core still drops the master's
   * private data.
   */
  readonly releaseDevice?: (dev: Device) => void;

  /**
   * The group `dev` joins (`device_group`): a group from `iommuGroupAlloc`, possibly one already
   * holding other masters that this IOMMU cannot isolate from `dev`. Absent: a new group per
   * device (`genericDeviceGroup`, as `generic_device_group`).
   */
  readonly deviceGroup?: (dev: Device) => IommuGroup;

  /**
   * Records one firmware reference of the master (`of_xlate`): called by `iommuProbeDevice`,
   * before `probeDevice`, once per IOMMU instance the master's fwspec names, with that instance's
   * fwnode and the fwspec IDs (already recorded in the fwspec: do not add them again). Exynos
   * uses it to link each SysMMU to the master's private data. Throws to fail the probe. Absent:
   * nothing to record.
   */
  readonly ofXlate?: (dev: Device, args: IommuXlateArgs) => void;

  /**
   * The default domain type `dev` needs (`def_domain_type`): IOMMU_DOMAIN_IDENTITY or
   * IOMMU_DOMAIN_DMA to have the core allocate and attach one at probe, or 0 for none. Absent:
   * 0 — as on ARM32 with `arm_iommu`, a master has no default domain until its user attaches one.
   */
  readonly defDomainType?: (dev: Device) => number;
}

/**
 * Per-domain operations (`struct iommu_domain_ops`), reached through `domain.ops`. A driver may
 * use one table for all its paging domains and a smaller one (only `attachDev`) for a static
 * identity domain.
 */
export interface IommuDomainOps {
  /**
   * Makes `dev` translate through `domain` (`attach_dev`), replacing whatever domain it used
   * before (a driver programs the new page table; it need not be told to detach first). Throws a
   * `KernelError` on failure (EINVAL incompatible, ENOMEM, ENOSPC, EBUSY, ENODEV), leaving `dev`
   * on its previous domain.
   */
  readonly attachDev: (domain: IommuDomain, dev: Device) => void;

  /**
   * Stops `dev` translating through `domain` (the pre-5.x `detach_dev`): called when a group
   * without a default domain is detached, and when a master is released while attached. Must
   * not fail. Absent: the core only forgets the attachment; the driver's `releaseDevice` or its
   * next `attachDev` must stop the hardware using the domain.
   */
  readonly detachDev?: (domain: IommuDomain, dev: Device) => void;

  /**
   * Maps `pgcount` pages of `pgsize` bytes from `iova` to `paddr` with `prot` (IOMMU_READ ...).
   * `pgsize` is one of the domain's page sizes and `iova`, `paddr` are aligned to it. Returns the
   * bytes mapped: a positive multiple of `pgsize`, at most `pgsize * pgcount` (mapping fewer,
   * e.g. one page per call as Exynos does, is fine: the core calls again for the rest). All or
   * nothing per call: on failure (EEXIST / EADDRINUSE over an existing mapping, ENOMEM for a
   * page table) it undoes what this call mapped, then throws. Absent: the domain cannot map and
   * `iommuMap` throws ENODEV.
   */
  readonly mapPages?: (
    domain: IommuDomain,
    iova: number,
    paddr: number,
    pgsize: number,
    pgcount: number,
    prot: number,
  ) => number;

  /**
   * Unmaps up to `pgcount` pages of `pgsize` bytes from `iova` and records what needs
   * invalidating in `gather` (`iommuIotlbGatherAddPage`) unless it invalidates at once. Returns
   * the bytes unmapped: 0 stops the core's loop (a hole, or a request smaller than the block
   * mapped there when the driver refuses to split it); more than `pgsize * pgcount` when it
   * removed a whole larger block. Must not throw. Absent: `iommuUnmap` returns 0.
   */
  readonly unmapPages?: (
    domain: IommuDomain,
    iova: number,
    pgsize: number,
    pgcount: number,
    gather: IommuIotlbGather,
  ) => number;

  /**
   * The physical address `iova` translates to (the offset inside the page included), or 0 when
   * it is not mapped. Must not throw. Absent: `iommuIovaToPhys` returns 0 for paging domains.
   */
  readonly iovaToPhys?: (domain: IommuDomain, iova: number) => number;

  /** Invalidates the whole IOTLB of the domain. Absent: nothing is cached, nothing to do. */
  readonly flushIotlbAll?: (domain: IommuDomain) => void;

  /**
   * Makes new mappings of `[iova, iova + size)` visible to the hardware after `iommuMap` /
   * `iommuMapSg` (`iotlb_sync_map`). Throws on failure; the core then unmaps the whole request.
   * Absent: mappings are visible as soon as `mapPages` returns.
   */
  readonly iotlbSyncMap?: (domain: IommuDomain, iova: number, size: number) => void;

  /**
   * Invalidates what `gather` collected (`iotlb_sync`); the core resets `gather` afterwards.
   * Absent: `unmapPages` invalidates synchronously (as Exynos does).
   */
  readonly iotlbSync?: (domain: IommuDomain, gather: IommuIotlbGather) => void;

  /**
   * Frees the domain's page tables and private state (`free`), after the core has checked that
   * no group is attached. Absent: nothing to free (a static identity domain).
   */
  readonly free?: (domain: IommuDomain) => void;
}

export { reportIommuFault } from "./fault.js";
export {
  devIommuFwspecGet,
  devIommuPrivGet,
  devIommuPrivSet,
  genericDeviceGroup,
  iommuDeviceRegister,
  iommuDeviceUnregister,
  iommuGroupAlloc,
} from "./iommu.js";
export { iommuIotlbGatherAddPage, iommuIotlbGatherAddRange, iommuIotlbGatherInit } from "./map.js";
export type {
  IommuCap,
  IommuDevice,
  IommuDomain,
  IommuDomainGeometry,
  IommuDomainInit,
  IommuDomainType,
  IommuGroup,
  IommuIotlbGather,
  IommuXlateArgs,
} from "./types.js";
