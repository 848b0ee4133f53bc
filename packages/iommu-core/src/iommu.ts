/**
 * The IOMMU core (drivers/iommu/iommu.c): registration of IOMMU instances, masters' firmware
 * specs, probing masters into groups, domain allocation and freeing, attach and detach.
 *
 * A master reaches its IOMMU in three steps, as on a DT platform:
 * `iommuFwspecInit(master, fwnode)` (the `iommus = <&sysmmu>` property),
 * `iommuDeviceRegister(iommu)` (the IOMMU driver's probe), then `iommuProbeDevice(master)`
 * (EPROBE_DEFER until the IOMMU is registered).
 *
 * @module
 */
import { type Device, type Kernel, KernelBug, KernelError } from "@umm/kernel-core";
import type { IommuOps } from "./ops.js";
import {
  type DevIommu,
  type DomainPriv,
  devIommu,
  devIommuGetOrCreate,
  domainPriv,
  domainPrivInit,
  domainPrivMaybe,
  GroupImpl,
  IOMMU_SLOT,
  type IommuState,
  iommuWarn,
  newIommuState,
} from "./state.js";
import {
  IOMMU_DOMAIN_TYPES,
  IOMMU_DOMAIN_UNMANAGED,
  type IommuCap,
  type IommuDevice,
  type IommuDomain,
  type IommuDomainType,
  type IommuFwspec,
  type IommuGroup,
} from "./types.js";

/** The IOMMU state of `kernel`, created on first use with its shutdown step. */
export function iommuState(kernel: Kernel): IommuState {
  const have = kernel.trySlot(IOMMU_SLOT);
  if (have) return have;
  const st = newIommuState(kernel);
  kernel.setSlot(IOMMU_SLOT, st);
  kernel.onShutdown("iommu", () => iommuShutdown(st));
  // iommu_bus_notifier: a master that goes away leaves its group and domain first
  kernel.onDeviceEvent((event, dev) => {
    if (event === "del_device" && st.probed.includes(dev)) iommuReleaseDevice(dev);
  });
  return st;
}

/**
 * Shutdown: releases every master still probed (last probed first), then reports each domain
 * its user never freed with an `iommu_warn` event.
 */
function iommuShutdown(st: IommuState): void {
  for (const dev of [...st.probed].reverse()) iommuReleaseDevice(dev);
  for (const d of st.domains) {
    const p = domainPrivMaybe(d);
    if (p && !p.defaultOf) iommuWarn(st, `leak: ${domainLabel(d)} was never freed (iommuDomainFree)`);
  }
}

function domainLabel(d: IommuDomain): string {
  const names: Record<number, string> = {
    0: "blocked",
    4: "identity",
    1: "unmanaged",
    3: "DMA",
    11: "DMA-FQ",
  };
  return `${names[d.type] ?? `type ${d.type}`} domain`;
}

// ---- IOMMU instances ----

/**
 * `iommu_device_register`: makes an IOMMU instance available to masters whose fwspec names its
 * `fwnode`. Throws EINVAL for a missing ops table, hwdev or fwnode; EEXIST when the instance or
 * another one with the same fwnode is already registered.
 */
export function iommuDeviceRegister(iommu: IommuDevice): void {
  if (!iommu || typeof iommu.ops?.domainAlloc !== "function" || typeof iommu.ops.probeDevice !== "function") {
    throw new KernelError("EINVAL", "iommu.ops is not an IommuOps table (domainAlloc, probeDevice)");
  }
  if (!iommu.hwdev?.kernel) throw new KernelError("EINVAL", "iommu.hwdev is not a Device");
  if (iommu.fwnode === null || iommu.fwnode === undefined) {
    throw new KernelError("EINVAL", `iommu ${iommu.hwdev.name}: fwnode is ${String(iommu.fwnode)}`);
  }
  const st = iommuState(iommu.hwdev.kernel);
  const clash = st.iommus.find((i) => i === iommu || i.fwnode === iommu.fwnode);
  if (clash) {
    throw new KernelError(
      "EEXIST",
      clash === iommu
        ? `iommu ${iommu.hwdev.name} is already registered`
        : `fwnode of iommu ${iommu.hwdev.name} is already registered by ${clash.hwdev.name}`,
    );
  }
  st.iommus.push(iommu);
}

/**
 * `iommu_device_unregister`: withdraws an IOMMU instance. Throws ENODEV when it is not
 * registered; EBUSY while a master probed through it (or naming it in its fwspec) is still
 * probed — release those masters first.
 */
export function iommuDeviceUnregister(iommu: IommuDevice): void {
  const st = iommuState(iommu.hwdev.kernel);
  const i = st.iommus.indexOf(iommu);
  if (i < 0) throw new KernelError("ENODEV", `iommu ${iommu.hwdev.name} is not registered`);
  const users = st.probed.filter((dev) => {
    const di = devIommu(dev);
    return di?.iommuDev === iommu || (di?.fwspec?.fwnodes.includes(iommu.fwnode) ?? false);
  });
  if (users.length > 0) {
    throw new KernelError(
      "EBUSY",
      `iommu ${iommu.hwdev.name} still translates for ${users.map((d) => d.name).join(", ")}`,
    );
  }
  st.iommus.splice(i, 1);
}

function findIommu(st: IommuState, fwnode: unknown): IommuDevice | undefined {
  return st.iommus.find((i) => i.fwnode === fwnode);
}

// ---- fwspec and per-master data ----

/**
 * `iommu_fwspec_init`: records that `dev` is a master of the IOMMU instance `fwnode` (the DT
 * `iommus` property). Calling it again with the same fwnode does nothing; with another fwnode it
 * adds a second instance (a master behind two SysMMUs), which must belong to the same driver
 * (checked at probe). Throws EINVAL for a null/undefined fwnode; EBUSY when `dev` is already
 * probed and `fwnode` is new.
 */
export function iommuFwspecInit(dev: Device, fwnode: unknown): void {
  if (fwnode === null || fwnode === undefined) {
    throw new KernelError("EINVAL", `${dev.name}: fwnode is ${String(fwnode)}`);
  }
  const have = devIommu(dev);
  const fs = have?.fwspec;
  if (fs?.fwnodes.includes(fwnode)) return;
  if (have?.group) throw new KernelError("EBUSY", `${dev.name} is already probed; release it first`);
  const di = devIommuGetOrCreate(dev);
  if (fs) fs.fwnodes.push(fwnode);
  else di.fwspec = { iommuFwnode: fwnode, ids: [], fwnodes: [fwnode] };
}

/**
 * `iommu_fwspec_add_ids`: appends the master's IDs (u32 stream IDs / ports) to its fwspec.
 * Throws EINVAL without a fwspec or for an ID that is not an integer in 0..0xffffffff (then no
 * ID is added).
 */
export function iommuFwspecAddIds(dev: Device, ids: readonly number[]): void {
  const fs = devIommu(dev)?.fwspec;
  if (!fs) throw new KernelError("EINVAL", `${dev.name} has no IOMMU fwspec (iommuFwspecInit first)`);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new KernelError("EINVAL", `${dev.name}: fwspec id ${String(id)} is not a u32`);
    }
  }
  fs.ids.push(...ids);
}

/** `dev_iommu_fwspec_get`: the master's fwspec, or null. */
export function devIommuFwspecGet(dev: Device): IommuFwspec | null {
  return devIommu(dev)?.fwspec ?? null;
}

/**
 * `dev_iommu_priv_get`: the driver's per-master data (set by `devIommuPrivSet`), or null. The
 * type parameter is the caller's claim about what it stored.
 */
export function devIommuPrivGet<T>(dev: Device): T | null {
  return (devIommu(dev)?.priv ?? null) as T | null;
}

/**
 * `dev_iommu_priv_set`: stores the driver's per-master data. Only for a master with IOMMU data
 * (a fwspec or a probe in progress); otherwise a `KernelBug`. The core drops it when the master
 * is released or its probe fails.
 */
export function devIommuPrivSet(dev: Device, priv: unknown): void {
  const di = devIommu(dev);
  if (!di) throw new KernelBug(`${dev.name}: devIommuPrivSet on a device without IOMMU data`);
  di.priv = priv;
}

/** `dev_iommu_ops`: the ops of the IOMMU that probed `dev`, or null when not probed. */
export function devIommuOps(dev: Device): IommuOps | null {
  return devIommu(dev)?.iommuDev?.ops ?? null;
}

/** `device_iommu_mapped`: true when `dev` was probed into an IOMMU group. */
export function deviceIommuMapped(dev: Device): boolean {
  return devIommu(dev)?.group != null;
}

/** `device_iommu_capable`: whether the IOMMU of `dev` has `cap` (false without IOMMU or `capable`). */
export function deviceIommuCapable(dev: Device, cap: IommuCap): boolean {
  const ops = devIommuOps(dev);
  return ops?.capable?.(dev, cap) ?? false;
}

// ---- groups ----

/**
 * `iommu_group_alloc`: a new, empty group with the next id of `kernel`. For drivers'
 * `deviceGroup`; a group is forgotten when its last device leaves.
 */
export function iommuGroupAlloc(kernel: Kernel): IommuGroup {
  const st = iommuState(kernel);
  return new GroupImpl(kernel, st.nextGroupId++);
}

/** `generic_device_group`: a new group for `dev` alone (the default `deviceGroup`). */
export function genericDeviceGroup(dev: Device): IommuGroup {
  return iommuGroupAlloc(dev.kernel);
}

/** `iommu_group_get`: the group of `dev`, or null when it has no IOMMU. */
export function iommuGroupGet(dev: Device): IommuGroup | null {
  return devIommu(dev)?.group ?? null;
}

/** `iommu_group_id`: the group's id. */
export function iommuGroupId(group: IommuGroup): number {
  return group.id;
}

function asGroup(group: IommuGroup): GroupImpl {
  if (!(group instanceof GroupImpl)) throw new KernelBug("group was not made by iommuGroupAlloc");
  return group;
}

function groupOps(g: GroupImpl): IommuOps {
  const dev = g.devices[0];
  const ops = dev ? devIommuOps(dev) : null;
  if (!ops) throw new KernelBug(`group ${g.id} has a device without IOMMU ops`);
  return ops;
}

function addToGroup(st: IommuState, g: GroupImpl, dev: Device, di: DevIommu): void {
  g.devices.push(dev);
  di.group = g;
  st.groups.add(g);
  if (st.tp.addGroup.enabled) st.tp.addGroup.emit({ group: g.id, device: dev.name });
}

/** Takes `dev` out of `g`; the last device out frees the default domain and the group. */
function removeFromGroup(st: IommuState, g: GroupImpl, dev: Device, di: DevIommu): void {
  const i = g.devices.indexOf(dev);
  if (i >= 0) g.devices.splice(i, 1);
  di.group = null;
  if (st.tp.removeGroup.enabled) st.tp.removeGroup.emit({ group: g.id, device: dev.name });
  if (g.devices.length > 0) return;
  if (g.domain) unlink(g.domain, g);
  g.domain = null;
  const def = g.defaultDomain;
  g.defaultDomain = null;
  if (def) {
    const p = domainPrivMaybe(def);
    if (p) p.defaultOf = null;
    freeDomain(def);
  }
  st.groups.delete(g);
}

// ---- probe and release ----

/**
 * `iommu_probe_device`: takes `dev` on as a master of the IOMMU its fwspec names. In order:
 * `ofXlate` per named instance, `probeDevice`, joins the group from `deviceGroup` (or a new one),
 * attaches the group's current domain, or — for the first device of a group — allocates and
 * attaches a default domain when `defDomainType` asks for one. Probing a probed master does
 * nothing.
 *
 * Throws ENODEV when `dev` has no fwspec; EPROBE_DEFER while an instance the fwspec names is not
 * registered; EINVAL when the named instances belong to different drivers; whatever the driver
 * throws (ENODEV: not its master). A failed probe leaves nothing behind: the master is out of
 * any group and its private data is dropped.
 */
export function iommuProbeDevice(dev: Device): void {
  const di = devIommu(dev);
  if (di?.group) return;
  const fs = di?.fwspec;
  if (!di || !fs) throw new KernelError("ENODEV", `${dev.name} has no IOMMU fwspec`);
  const st = iommuState(dev.kernel);
  const first = findIommu(st, fs.iommuFwnode);
  if (!first) throw new KernelError("EPROBE_DEFER", `${dev.name}: its IOMMU is not registered yet`);
  for (const fw of fs.fwnodes) {
    const other = findIommu(st, fw);
    if (!other) throw new KernelError("EPROBE_DEFER", `${dev.name}: one of its IOMMUs is not registered yet`);
    if (other.ops !== first.ops) {
      throw new KernelError(
        "EINVAL",
        `${dev.name}: IOMMUs ${first.hwdev.name} and ${other.hwdev.name} belong to different drivers`,
      );
    }
  }
  const ops = first.ops;
  const savedPriv = di.priv;
  let probed = false;
  let group: GroupImpl | null = null;
  let newDefault: IommuDomain | null = null;
  try {
    if (ops.ofXlate) for (const fw of fs.fwnodes) ops.ofXlate(dev, { fwnode: fw, args: [...fs.ids] });
    const iommu = ops.probeDevice(dev);
    probed = true;
    if (!st.iommus.includes(iommu) || iommu.ops !== ops) {
      throw new KernelBug(
        `${dev.name}: probeDevice returned an IOMMU instance that is not registered with its ops`,
      );
    }
    di.iommuDev = iommu;
    group = asGroup(ops.deviceGroup ? ops.deviceGroup(dev) : genericDeviceGroup(dev));
    if (group.kernel !== dev.kernel)
      throw new KernelBug(`${dev.name}: deviceGroup returned another kernel's group`);
    addToGroup(st, group, dev, di);
    if (group.domain) {
      group.domain.ops.attachDev(group.domain, dev);
      traceAttach(st, dev);
    } else if (group.devices.length === 1) {
      const type = ops.defDomainType?.(dev) ?? 0;
      if (type !== 0) {
        newDefault = allocDomain(st, ops, dev, checkType(type, `${dev.name}: defDomainType`));
        if (!newDefault) {
          iommuWarn(st, `${dev.name}: no default domain of type ${type}; the device has none`);
        } else {
          newDefault.ops.attachDev(newDefault, dev);
          group.defaultDomain = newDefault;
          group.domain = newDefault;
          const p = domainPriv(newDefault);
          p.defaultOf = group;
          p.groups.add(group);
          traceAttach(st, dev);
        }
      }
    }
  } catch (e) {
    if (group && di.group === group) removeFromGroup(st, group, dev, di);
    if (newDefault) freeDomain(newDefault);
    if (probed) ops.releaseDevice?.(dev);
    di.iommuDev = null;
    di.priv = savedPriv;
    throw e;
  }
  st.probed.push(dev);
}

/**
 * `iommu_release_device`: the master leaves its IOMMU. Detaches it from the group's domain
 * (`detachDev`; an attached non-default domain also gets an `iommu_warn`, as the master's user
 * should have detached it), leaves the group (the last device out frees the default domain),
 * then `releaseDevice`. Keeps the fwspec so that the master can be probed again. A master that
 * is not probed is left alone.
 */
export function iommuReleaseDevice(dev: Device): void {
  const di = devIommu(dev);
  const g = di?.group;
  if (!di || !g) return;
  const st = iommuState(dev.kernel);
  const ops = di.iommuDev?.ops;
  const cur = g.domain;
  if (cur) {
    if (cur !== g.defaultDomain) {
      iommuWarn(st, `${dev.name} released while attached to a non-default ${domainLabel(cur)}`);
    }
    cur.ops.detachDev?.(cur, dev);
    if (st.tp.detach.enabled) st.tp.detach.emit({ device: dev.name });
  }
  removeFromGroup(st, g, dev, di);
  ops?.releaseDevice?.(dev);
  di.iommuDev = null;
  di.priv = null;
  const i = st.probed.indexOf(dev);
  if (i >= 0) st.probed.splice(i, 1);
}

// ---- domains ----

function checkType(type: number, who: string): IommuDomainType {
  if (!IOMMU_DOMAIN_TYPES.includes(type as IommuDomainType)) {
    throw new KernelError("EINVAL", `${who}: ${String(type)} is not an IOMMU domain type`);
  }
  return type as IommuDomainType;
}

/** Asks the driver for a domain and completes it; null when the driver has none. */
function allocDomain(st: IommuState, ops: IommuOps, dev: Device, type: IommuDomainType): IommuDomain | null {
  const init = ops.domainAlloc(type, dev);
  if (!init) return null;
  if (typeof init.ops?.attachDev !== "function") {
    throw new KernelBug(`${dev.name}: domainAlloc returned a domain without ops.attachDev`);
  }
  const d = init as IommuDomain;
  const old = domainPrivMaybe(d);
  if (old && !old.freed) {
    // A static domain (identity) handed out again: already complete and live.
    if (d.type !== type || d.owner !== ops) {
      throw new KernelBug(`${dev.name}: domainAlloc returned a live domain of another type or driver`);
    }
    return d;
  }
  d.type = type;
  d.owner = ops;
  if (!d.pgsizeBitmap) d.pgsizeBitmap = ops.pgsizeBitmap;
  if (!Number.isSafeInteger(d.pgsizeBitmap) || d.pgsizeBitmap < 0) {
    throw new KernelBug(`${dev.name}: pgsizeBitmap ${String(d.pgsizeBitmap)} is not a bitmap`);
  }
  if (!d.geometry) d.geometry = { apertureStart: 0, apertureEnd: 0xffffffff, forceAperture: false };
  d.handler = null;
  d.handlerToken = null;
  domainPrivInit(d, st);
  st.domains.add(d);
  return d;
}

/**
 * `iommu_domain_alloc` for the IOMMU in front of `dev`: a new domain of `type` (default
 * IOMMU_DOMAIN_UNMANAGED), not attached to anything. Throws ENODEV when `dev` was not probed
 * through an IOMMU; EINVAL for an unknown type; ENOMEM when the driver returns none.
 */
export function iommuDomainAlloc(dev: Device, type: number = IOMMU_DOMAIN_UNMANAGED): IommuDomain {
  const ops = devIommuOps(dev);
  if (!ops) throw new KernelError("ENODEV", `${dev.name} has no IOMMU (not probed through one)`);
  const t = checkType(type, `${dev.name}: domain type`);
  const d = allocDomain(iommuState(dev.kernel), ops, dev, t);
  if (!d) throw new KernelError("ENOMEM", `${dev.name}: the IOMMU driver allocated no domain of type ${t}`);
  return d;
}

/** `iommu_paging_domain_alloc`: an UNMANAGED paging domain for `dev`; errors as `iommuDomainAlloc`. */
export function iommuPagingDomainAlloc(dev: Device): IommuDomain {
  return iommuDomainAlloc(dev, IOMMU_DOMAIN_UNMANAGED);
}

function freeDomain(d: IommuDomain): void {
  const p = domainPrivMaybe(d);
  if (!p || p.freed) return;
  d.ops.free?.(d);
  p.freed = true;
  p.state.domains.delete(d);
}

/**
 * `iommu_domain_free`: frees a domain from `iommuDomainAlloc` (the driver's `free`). Throws
 * EBUSY while a group is attached to it or it is a group's default domain (the core frees those
 * with the group). A second free, or a domain the core never completed, is a `KernelBug`.
 */
export function iommuDomainFree(domain: IommuDomain): void {
  const p = domainPriv(domain);
  const g = p.groups.values().next().value;
  if (g) throw new KernelError("EBUSY", `${domainLabel(domain)} is still attached to group ${g.id}`);
  if (p.defaultOf) {
    throw new KernelError("EBUSY", `${domainLabel(domain)} is the default domain of group ${p.defaultOf.id}`);
  }
  freeDomain(domain);
}

// ---- attach / detach ----

function unlink(d: IommuDomain, g: GroupImpl): void {
  domainPrivMaybe(d)?.groups.delete(g);
}

function traceAttach(st: IommuState, dev: Device): void {
  if (st.tp.attach.enabled) st.tp.attach.emit({ device: dev.name });
}

/**
 * Moves every device of `g` to `next`; on a driver failure moves the devices already moved back
 * to the previous domain (or detaches them when there was none) and rethrows.
 */
function setGroupDomain(st: IommuState, g: GroupImpl, next: IommuDomain): void {
  const prev = g.domain;
  const done: Device[] = [];
  try {
    for (const dev of g.devices) {
      next.ops.attachDev(next, dev);
      done.push(dev);
    }
  } catch (e) {
    for (const dev of done.reverse()) {
      if (prev) prev.ops.attachDev(prev, dev);
      else next.ops.detachDev?.(next, dev);
    }
    throw e;
  }
  if (prev) unlink(prev, g);
  g.domain = next;
  domainPriv(next).groups.add(g);
  for (const dev of g.devices) traceAttach(st, dev);
}

function attachGroupChecked(p: DomainPriv, domain: IommuDomain, g: GroupImpl): void {
  if (g.domain && g.domain !== g.defaultDomain) {
    throw new KernelError(
      "EBUSY",
      g.domain === domain
        ? `group ${g.id} is already attached to this ${domainLabel(domain)}`
        : `group ${g.id} is attached to another ${domainLabel(g.domain)}; detach it first`,
    );
  }
  const ops = groupOps(g);
  if (domain.owner !== ops) {
    throw new KernelError(
      "EINVAL",
      `${domainLabel(domain)} belongs to another IOMMU driver than group ${g.id}`,
    );
  }
  if (g.domain === domain) return;
  setGroupDomain(p.state, g, domain);
}

function singletonGroup(dev: Device): GroupImpl {
  const g = devIommu(dev)?.group;
  if (!g) throw new KernelError("ENODEV", `${dev.name} is not in an IOMMU group`);
  if (g.devices.length !== 1) {
    throw new KernelError(
      "EINVAL",
      `${dev.name} shares group ${g.id} with ${g.devices.length - 1} other device(s); attach the group`,
    );
  }
  return g;
}

/**
 * `iommu_attach_device`: `dev` (alone in its group) now translates through `domain`. Throws
 * ENODEV when `dev` has no group; EINVAL when its group has other devices; EBUSY when the group
 * is on a domain other than its default (including this one); EINVAL when `domain` belongs to
 * another driver; the driver's error when its `attachDev` fails (the group stays on its previous
 * domain).
 */
export function iommuAttachDevice(domain: IommuDomain, dev: Device): void {
  const p = domainPriv(domain);
  attachGroupChecked(p, domain, singletonGroup(dev));
}

/** `iommu_attach_group`: every device of `group` now translates through `domain`; errors as `iommuAttachDevice` (ENODEV for an empty group). */
export function iommuAttachGroup(domain: IommuDomain, group: IommuGroup): void {
  const p = domainPriv(domain);
  const g = asGroup(group);
  if (g.devices.length === 0) throw new KernelError("ENODEV", `group ${g.id} has no devices`);
  attachGroupChecked(p, domain, g);
}

function detachGroupChecked(domain: IommuDomain, g: GroupImpl): void {
  const p = domainPriv(domain);
  if (g.domain !== domain) {
    throw new KernelError("EINVAL", `${domainLabel(domain)} is not the current domain of group ${g.id}`);
  }
  if (domain === g.defaultDomain) return;
  const st = p.state;
  if (g.defaultDomain) {
    setGroupDomain(st, g, g.defaultDomain);
    return;
  }
  for (const dev of g.devices) {
    domain.ops.detachDev?.(domain, dev);
    if (st.tp.detach.enabled) st.tp.detach.emit({ device: dev.name });
  }
  g.domain = null;
  unlink(domain, g);
}

/**
 * `iommu_detach_device`: `dev` leaves `domain` and returns to its group's default domain, or to
 * no domain (`detachDev`) when the group has none. Detaching the default domain itself does
 * nothing, as in the kernel. Throws ENODEV without a group; EINVAL when the group has other
 * devices or `domain` is not its current domain.
 */
export function iommuDetachDevice(domain: IommuDomain, dev: Device): void {
  detachGroupChecked(domain, singletonGroup(dev));
}

/** `iommu_detach_group`: the group leaves `domain`; EINVAL when it is not the group's current domain. */
export function iommuDetachGroup(domain: IommuDomain, group: IommuGroup): void {
  detachGroupChecked(domain, asGroup(group));
}

/** `iommu_get_domain_for_dev`: the domain `dev` translates through now, or null. */
export function iommuGetDomainForDev(dev: Device): IommuDomain | null {
  return devIommu(dev)?.group?.domain ?? null;
}

/** `iommu_get_dma_domain`: the default domain of the group of `dev`, or null. */
export function iommuGetDmaDomain(dev: Device): IommuDomain | null {
  return devIommu(dev)?.group?.defaultDomain ?? null;
}
