/**
 * Constants and plain types of the IOMMU API (include/linux/iommu.h): protection flags, fault
 * flags, domain types, capabilities, and the objects the core and the drivers share — the
 * registered IOMMU instance, a master's firmware spec, groups, domains and the IOTLB gather.
 *
 * @module
 */
import type { Device, Kernel } from "@umm/kernel-core";
import type { IommuDomainOps, IommuOps } from "./ops.js";

// ---- Protection flags: the `prot` argument of iommuMap (IOMMU_READ ...) ----

/** The device may read through the mapping. */
export const IOMMU_READ = 1;
/** The device may write through the mapping. */
export const IOMMU_WRITE = 2;
/** The mapping is cache-coherent (DMA snoops the CPU caches). */
export const IOMMU_CACHE = 4;
/** The device may not execute code from the mapping. */
export const IOMMU_NOEXEC = 8;
/** The mapping targets MMIO (device memory attributes). */
export const IOMMU_MMIO = 16;
/** Only privileged device transactions may use the mapping. */
export const IOMMU_PRIV = 32;

// ---- Fault flags passed to a fault handler ----

/** The faulting access was a read. */
export const IOMMU_FAULT_READ = 0;
/** The faulting access was a write. */
export const IOMMU_FAULT_WRITE = 1;

// ---- Domain type bits and types ----

/** The domain translates through a page table that iommuMap fills. */
export const __IOMMU_DOMAIN_PAGING = 1;
/** The domain backs the DMA API (dma-iommu manages its IOVA space). */
export const __IOMMU_DOMAIN_DMA_API = 2;
/** The domain passes addresses through untranslated (iova == paddr). */
export const __IOMMU_DOMAIN_PT = 4;
/** The DMA API domain defers IOTLB flushes to a flush queue. */
export const __IOMMU_DOMAIN_DMA_FQ = 8;

/** All DMA is blocked; translations return 0. */
export const IOMMU_DOMAIN_BLOCKED = 0;
/** Untranslated: every IOVA is its own physical address. */
export const IOMMU_DOMAIN_IDENTITY = __IOMMU_DOMAIN_PT;
/** A paging domain managed by its user with iommuMap / iommuUnmap (the ARM32 `arm_iommu` kind). */
export const IOMMU_DOMAIN_UNMANAGED = __IOMMU_DOMAIN_PAGING;
/** A paging domain owned by the DMA API. */
export const IOMMU_DOMAIN_DMA = __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API;
/** A DMA API paging domain with a deferred-flush queue. */
export const IOMMU_DOMAIN_DMA_FQ = __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API | __IOMMU_DOMAIN_DMA_FQ;

/** A domain type value (one of the IOMMU_DOMAIN_* constants). */
export type IommuDomainType =
  | typeof IOMMU_DOMAIN_BLOCKED
  | typeof IOMMU_DOMAIN_IDENTITY
  | typeof IOMMU_DOMAIN_UNMANAGED
  | typeof IOMMU_DOMAIN_DMA
  | typeof IOMMU_DOMAIN_DMA_FQ;

/** Every valid domain type, for validation. */
export const IOMMU_DOMAIN_TYPES: readonly IommuDomainType[] = Object.freeze([
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
]);

// ---- Capabilities (enum iommu_cap) ----

/** The IOMMU can enforce cache-coherent DMA (IOMMU_CACHE is honoured). */
export const IOMMU_CAP_CACHE_COHERENCY = 0;
/** The IOMMU honours IOMMU_NOEXEC. */
export const IOMMU_CAP_NOEXEC = 1;

/** A capability value (IOMMU_CAP_*). */
export type IommuCap = typeof IOMMU_CAP_CACHE_COHERENCY | typeof IOMMU_CAP_NOEXEC;

// ---- Objects ----

/**
 * A registered IOMMU instance (`struct iommu_device`): one SysMMU, SMMU, ... A driver builds one
 * per hardware instance in its probe and hands it to `iommuDeviceRegister`.
 */
export interface IommuDevice {
  /** the driver's ops table */
  readonly ops: IommuOps;
  /** the IOMMU's own device (the SysMMU platform device) */
  readonly hwdev: Device;
  /**
   * The identity a master's fwspec points at (`iommuFwspecInit(master, fwnode)`): the SysMMU
   * Device object, a DT node name, ... compared with `===`.
   */
  readonly fwnode: unknown;
}

/**
 * A master's firmware description of its IOMMU (`struct iommu_fwspec`): which IOMMU instance
 * translates for it and the IDs (stream IDs, ports) it uses there.
 */
export interface IommuFwspec {
  /** the fwnode of the first IOMMU instance named; the probe goes through this one */
  readonly iommuFwnode: unknown;
  /** IDs of the master on its IOMMU, in the order they were added */
  readonly ids: readonly number[];
  /**
   * Every IOMMU instance named for the master, first one first (a master behind two SysMMUs, as
   * the Exynos MFC, names both; all must belong to the same driver). umm extension: Linux keeps
   * only the first fwnode and hands the others to `of_xlate` from the DT walk.
   */
  readonly fwnodes: readonly unknown[];
}

/** Argument of `IommuOps.ofXlate` (`struct of_phandle_args` / `fwnode_reference_args`). */
export interface IommuXlateArgs {
  /** the IOMMU instance this entry names */
  readonly fwnode: unknown;
  /** the specifier cells: the master's fwspec IDs */
  readonly args: readonly number[];
}

/**
 * An IOMMU group (`struct iommu_group`): devices that the IOMMU cannot isolate from each other
 * and that therefore always share a domain. Created by `iommuGroupAlloc` (or the core's generic
 * one-group-per-device policy); freed when its last device leaves.
 */
export interface IommuGroup {
  /** small integer, unique in its kernel (`/sys/kernel/iommu_groups/<id>`) */
  readonly id: number;
  readonly kernel: Kernel;
  /** member devices, in the order they joined */
  readonly devices: readonly Device[];
  /** the domain the group returns to on detach (null: none; ARM32 usually has none) */
  readonly defaultDomain: IommuDomain | null;
  /** the domain currently attached (null: none) */
  readonly domain: IommuDomain | null;
}

/** The aperture a domain can translate (`struct iommu_domain_geometry`), inclusive bounds in bytes. */
export interface IommuDomainGeometry {
  /** first IOVA the domain can map */
  apertureStart: number;
  /** last IOVA the domain can map (inclusive) */
  apertureEnd: number;
  /** DMA API users must allocate IOVAs inside the aperture */
  forceAperture: boolean;
}

/**
 * A fault handler (`iommu_fault_handler_t`): called by `reportIommuFault` with the faulting
 * IOVA and IOMMU_FAULT_READ / IOMMU_FAULT_WRITE. Returns 0 when it handled the fault, or a
 * negative errno (e.g. `-ERRNO.ENOSYS`) to let the driver apply its default (Exynos: panic).
 */
export type IommuFaultHandler = (
  domain: IommuDomain,
  dev: Device,
  iova: number,
  flags: number,
  token: unknown,
) => number;

/**
 * A translation domain (`struct iommu_domain`). Drivers extend it
 * (`interface S5pDomain extends IommuDomain { pgtable: number }`) and return their object from
 * `IommuOps.domainAlloc`; the core fills `type`, `owner`, `pgsizeBitmap` (when 0), `geometry`
 * (when absent) and the fault-handler fields.
 */
export interface IommuDomain {
  /** IOMMU_DOMAIN_* (set by the core) */
  type: IommuDomainType;
  /** the domain's ops table (set by the driver) */
  readonly ops: IommuDomainOps;
  /** the driver that allocated the domain (set by the core); attach requires the device's ops */
  owner: IommuOps;
  /** page sizes the domain maps, one bit per size in bytes (4K|64K|1M = 0x111000) */
  pgsizeBitmap: number;
  /** the IOVA aperture; default 0 .. 0xffffffff, not forced (32-bit ARM) */
  geometry: IommuDomainGeometry;
  /** fault handler installed by `iommuSetFaultHandler` (null: none) */
  handler: IommuFaultHandler | null;
  /** token passed back to `handler` */
  handlerToken: unknown;
}

/**
 * What `IommuOps.domainAlloc` returns: the driver's own object with at least `ops`; it may set
 * `pgsizeBitmap` and `geometry`, and carries its private fields (build it in a variable, then
 * return it: a returned object literal may not name fields this type lacks). The core completes
 * it, in place, into an `IommuDomain`.
 */
export interface IommuDomainInit {
  readonly ops: IommuDomainOps;
  pgsizeBitmap?: number;
  geometry?: IommuDomainGeometry;
}

/**
 * The IOTLB invalidations an unmap has collected (`struct iommu_iotlb_gather`): an inclusive
 * range and the page size seen. `start` > `end` means empty. A driver adds to it from
 * `unmapPages`; `iommuIotlbSync` hands it to `iotlbSync` and resets it.
 */
export interface IommuIotlbGather {
  /** first IOVA to invalidate (MAX_SAFE_INTEGER when empty) */
  start: number;
  /** last IOVA to invalidate, inclusive (0 when empty) */
  end: number;
  /** the page size of the gathered unmaps (0: none yet) */
  pgsize: number;
}

/** One scatterlist entry for `iommuMapSg`: a physical range in bytes. */
export interface IommuSgEntry {
  readonly paddr: number;
  readonly length: number;
}

/** Result of `iommuPgsize`: map `count` pages of `pgsize` bytes next. */
export interface IommuPgsizeResult {
  readonly pgsize: number;
  readonly count: number;
}
