/**
 * The IOMMU core's per-kernel state (a kernel slot), its group objects, the per-master record
 * kept in `dev.iommu`, and the core's private record of each domain it completed.
 *
 * @module
 */
import { type Device, defineSlot, type Kernel, KernelBug, type Tracepoint } from "@umm/kernel-core";
import type { IommuDevice, IommuDomain, IommuFwspec, IommuGroup, IommuIotlbGather } from "./types.js";
import "./trace.js";

/** A group: the exported `IommuGroup` view with the fields the core mutates. */
export class GroupImpl implements IommuGroup {
  readonly id: number;
  readonly kernel: Kernel;
  readonly devices: Device[] = [];
  defaultDomain: IommuDomain | null = null;
  domain: IommuDomain | null = null;

  constructor(kernel: Kernel, id: number) {
    this.kernel = kernel;
    this.id = id;
  }
}

/** The fwspec as the core keeps it (the exported view is read-only). */
export interface FwspecImpl extends IommuFwspec {
  readonly ids: number[];
  readonly fwnodes: unknown[];
}

/** What `dev.iommu` holds for a master (`struct dev_iommu`). */
export class DevIommu {
  fwspec: FwspecImpl | null = null;
  /** the IOMMU instance that probed the master; null until probed */
  iommuDev: IommuDevice | null = null;
  group: GroupImpl | null = null;
  /** the driver's per-master data (`dev_iommu_priv_get/set`) */
  priv: unknown = null;
}

/** The tracepoints the core emits through, looked up once per kernel. */
export interface IommuTracepoints {
  readonly map: Tracepoint<"iommu_map">;
  readonly unmap: Tracepoint<"iommu_unmap">;
  readonly fault: Tracepoint<"io_page_fault">;
  readonly attach: Tracepoint<"iommu_attach_device_to_domain">;
  readonly detach: Tracepoint<"iommu_detach_device_from_domain">;
  readonly addGroup: Tracepoint<"iommu_add_device_to_group">;
  readonly removeGroup: Tracepoint<"iommu_remove_device_from_group">;
  readonly warn: Tracepoint<"iommu_warn">;
}

/** The core's state in one kernel. */
export interface IommuState {
  readonly kernel: Kernel;
  /** registered IOMMU instances, in registration order */
  readonly iommus: IommuDevice[];
  nextGroupId: number;
  /** groups with at least one device */
  readonly groups: Set<GroupImpl>;
  /** probed masters, in probe order */
  readonly probed: Device[];
  /** domains allocated and not yet freed */
  readonly domains: Set<IommuDomain>;
  readonly tp: IommuTracepoints;
}

/** The slot of the core's state (package-private: not re-exported). */
export const IOMMU_SLOT = defineSlot<IommuState>("iommu");

/** A fresh state for `kernel` (the caller stores it and registers the shutdown step). */
export function newIommuState(kernel: Kernel): IommuState {
  const t = kernel.trace;
  return {
    kernel,
    iommus: [],
    nextGroupId: 0,
    groups: new Set(),
    probed: [],
    domains: new Set(),
    tp: {
      map: t.tracepoint("iommu_map"),
      unmap: t.tracepoint("iommu_unmap"),
      fault: t.tracepoint("io_page_fault"),
      attach: t.tracepoint("iommu_attach_device_to_domain"),
      detach: t.tracepoint("iommu_detach_device_from_domain"),
      addGroup: t.tracepoint("iommu_add_device_to_group"),
      removeGroup: t.tracepoint("iommu_remove_device_from_group"),
      warn: t.tracepoint("iommu_warn"),
    },
  };
}

/** Emits an `iommu_warn` event (where the kernel WARNs and carries on). */
export function iommuWarn(st: IommuState, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ message });
}

// ---- per-master record ----

/** The core's record in `dev.iommu`, or null; a foreign object there is a bug. */
export function devIommu(dev: Device): DevIommu | null {
  const v = dev.iommu;
  if (v === null || v === undefined) return null;
  if (!(v instanceof DevIommu))
    throw new KernelBug(`${dev.name}: dev.iommu holds an object iommu-core did not put there`);
  return v;
}

/** The core's record in `dev.iommu`, created when absent. */
export function devIommuGetOrCreate(dev: Device): DevIommu {
  const have = devIommu(dev);
  if (have) return have;
  const di = new DevIommu();
  dev.iommu = di;
  return di;
}

// ---- per-domain record ----

/** What the core keeps about a domain it completed. */
export interface DomainPriv {
  readonly state: IommuState;
  /** groups whose current domain this is */
  readonly groups: Set<GroupImpl>;
  /** the group this is the default domain of, if any */
  defaultOf: GroupImpl | null;
  freed: boolean;
  /** page-size cache: the bitmap `sizes` was computed from */
  bitmap: number;
  /** page sizes of `bitmap`, ascending */
  sizes: number[];
  /** the smallest of them (0: none) */
  minPgsize: number;
  /** log2(minPgsize) */
  minShift: number;
  /** the largest size below the second smallest page size, at most 2^30 - 1 (a small integer) */
  oneStepMax: number;
  /** the `iommu_map` / `iommu_unmap` tracepoints (looked up once) */
  readonly tpMap: Tracepoint<"iommu_map">;
  readonly tpUnmap: Tracepoint<"iommu_unmap">;
  /** an empty gather for `iommuUnmap` to collect into; null while one is using it */
  gather: IommuIotlbGather | null;
}

/**
 * Where the record lives: a non-enumerable property of the domain object itself (one property
 * load on every map and unmap, where a WeakMap lookup hashes). Symbol-keyed, so nothing outside
 * the core can name it; non-enumerable, so it does not show in the domain's keys or equality.
 */
const PRIV: unique symbol = Symbol("iommu-core domain");

interface DomainWithPriv {
  [PRIV]?: DomainPriv;
}

/** Records a domain the core just completed. */
export function domainPrivInit(domain: IommuDomain, state: IommuState): DomainPriv {
  const p: DomainPriv = {
    state,
    groups: new Set(),
    defaultOf: null,
    freed: false,
    bitmap: -1,
    sizes: [],
    minPgsize: 0,
    minShift: 0,
    oneStepMax: 0,
    tpMap: state.tp.map,
    tpUnmap: state.tp.unmap,
    gather: { start: Number.MAX_SAFE_INTEGER, end: 0, pgsize: 0 },
  };
  Object.defineProperty(domain, PRIV, { value: p, writable: true, configurable: true, enumerable: false });
  return p;
}

/** The core's record of a live domain; a `KernelBug` for a freed or foreign one. */
export function domainPriv(domain: IommuDomain): DomainPriv {
  const p = (domain as DomainWithPriv | null | undefined)?.[PRIV];
  if (p === undefined || p.freed) throwDomainPriv(p);
  return p;
}

function throwDomainPriv(p: DomainPriv | undefined): never {
  if (p === undefined) throw new KernelBug("domain was not allocated by iommuDomainAlloc");
  throw new KernelBug("domain used after iommuDomainFree (use after free)");
}

/** The core's record of a domain, freed or not, or undefined. */
export function domainPrivMaybe(domain: IommuDomain): DomainPriv | undefined {
  return (domain as DomainWithPriv | null | undefined)?.[PRIV];
}
