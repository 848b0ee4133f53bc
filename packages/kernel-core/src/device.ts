/**
 * Devices, buses and drivers (include/linux/device.h, drivers/base/): a device has a name, an
 * optional parent, DMA masks and segment limits, DT-style properties, and slots that higher
 * layers fill (dma ops, IOMMU data, CMA area). A bus matches devices to drivers and probes them;
 * removal runs in reverse order of probing.
 *
 * @module
 */
import { isKernelError, KernelError } from "./error.js";
import type { Kernel } from "./kernel.js";
import { DMA_BIT_MASK, SZ_64K } from "./sizes.js";

/** Options of `new Device`. */
export interface DeviceOpts {
  /** unique in its kernel, e.g. "fimc0" or "11a20000.sysmmu" */
  readonly name: string;
  readonly parent?: Device | null;
  /** streaming DMA mask (highest bus address); default DMA_BIT_MASK(32); null: the device does no DMA */
  readonly dmaMask?: number | null;
  /** coherent allocation mask; default the DMA mask */
  readonly coherentDmaMask?: number;
  /**
   * `dma_pfn_offset` (DT `dma-ranges` with one range): the device sees physical page `pfn` at bus
   * page `pfn - dmaPfnOffset`. Default 0 (bus address = physical address).
   */
  readonly dmaPfnOffset?: number;
  /** DT `compatible` strings, most specific first */
  readonly compatible?: readonly string[];
  /** DT-style properties (`reg`, `iommus`, `memory-region`, ...) */
  readonly properties?: Readonly<Record<string, unknown>>;
}

/** `struct device_dma_parameters`. */
export interface DmaParms {
  /** `max_segment_size` in bytes (kernel default 64 KiB) */
  maxSegmentSize: number;
  /** `segment_boundary_mask`: a segment may not cross a multiple of mask + 1 */
  segmentBoundaryMask: number;
}

/** A driver: matched by name or compatible string, then probed. */
export interface DeviceDriver {
  readonly name: string;
  /** DT compatible strings this driver binds to */
  readonly compatible?: readonly string[];
  /** binds to `dev`; throws a `KernelError` to refuse (EPROBE_DEFER: try again later) */
  readonly probe: (dev: Device) => void;
  /** unbinds from `dev`, releasing everything probe took */
  readonly remove?: (dev: Device) => void;
}

/** A device. Its kernel assigns it a small unique `id` used to tag its memory accesses. */
export class Device {
  readonly kernel: Kernel;
  readonly name: string;
  readonly id: number;
  readonly parent: Device | null;
  /** `dma_mask`: highest address the device may be handed for streaming DMA; null: no DMA */
  dmaMask: number | null;
  /** `coherent_dma_mask` */
  coherentDmaMask: number;
  /** `dma_pfn_offset`: bus address = physical address - dmaPfnOffset × PAGE_SIZE */
  dmaPfnOffset: number;
  readonly dmaParms: DmaParms = { maxSegmentSize: SZ_64K, segmentBoundaryMask: 0xffffffff };
  /** `dev->dma_coherent`: DMA snoops the CPU cache (no maintenance needed); false on ARMv7 SoCs */
  dmaCoherent = false;
  /** slot: the device's DMA ops (dma-mapping-arm fills it; null means dma-direct) */
  dmaOps: unknown = null;
  /** slot: per-device IOMMU data (iommu-core fills it: fwspec, group) */
  iommu: unknown = null;
  /** slot: the device's CMA area (mm-cma fills it; null means the default area) */
  cmaArea: unknown = null;
  readonly compatible: readonly string[];
  readonly properties: Map<string, unknown>;
  /** the bus this device sits on, once added */
  bus: Bus | null = null;
  /** the bound driver */
  driver: DeviceDriver | null = null;
  /** the bound driver's private data (`dev_get_drvdata`) */
  driverData: unknown = null;

  constructor(kernel: Kernel, opts: DeviceOpts) {
    if (!opts.name) throw new KernelError("EINVAL", "device name is empty");
    this.kernel = kernel;
    this.name = opts.name;
    this.id = kernel.allocDeviceId();
    this.parent = opts.parent ?? null;
    this.dmaMask = opts.dmaMask === undefined ? DMA_BIT_MASK(32) : opts.dmaMask;
    this.coherentDmaMask = opts.coherentDmaMask ?? this.dmaMask ?? DMA_BIT_MASK(32);
    this.dmaPfnOffset = opts.dmaPfnOffset ?? 0;
    this.compatible = Object.freeze([...(opts.compatible ?? [])]);
    this.properties = new Map(Object.entries(opts.properties ?? {}));
  }

  /** `dev_name()` */
  toString(): string {
    return this.name;
  }
}

/** Default match: a driver compatible string among the device's, else equal names. */
export function defaultMatch(dev: Device, drv: DeviceDriver): boolean {
  if (drv.compatible && dev.compatible.length > 0)
    return drv.compatible.some((c) => dev.compatible.includes(c));
  return dev.name === drv.name || dev.name.startsWith(`${drv.name}.`);
}

/** A bus type with its devices and drivers (`struct bus_type`). */
export class Bus {
  readonly kernel: Kernel;
  readonly name: string;
  readonly match: (dev: Device, drv: DeviceDriver) => boolean;
  readonly devices: Device[] = [];
  readonly drivers: DeviceDriver[] = [];
  /** bound devices in probe order (removal runs backwards) */
  readonly #probed: Device[] = [];
  readonly #deferred = new Set<Device>();

  constructor(
    kernel: Kernel,
    name: string,
    match: (dev: Device, drv: DeviceDriver) => boolean = defaultMatch,
  ) {
    this.kernel = kernel;
    this.name = name;
    this.match = match;
  }

  /** Devices waiting for a deferred probe. */
  get deferred(): readonly Device[] {
    return [...this.#deferred];
  }

  /** @internal tries every matching driver on `dev`; true when one bound */
  _probe(dev: Device): boolean {
    if (dev.driver) return true;
    for (const drv of this.drivers) {
      if (!this.match(dev, drv)) continue;
      try {
        dev.driver = drv;
        this.kernel._notifyDevice("bind_driver", dev);
        drv.probe(dev);
      } catch (e) {
        dev.driver = null;
        dev.driverData = null;
        this.kernel._notifyDevice("driver_not_bound", dev);
        if (isKernelError(e, "EPROBE_DEFER")) {
          this.#deferred.add(dev);
          return false;
        }
        this.kernel.trace.emit("device_probe_failed", {
          device: dev.name,
          driver: drv.name,
          errno: isKernelError(e) ? e.errno : "EIO",
        });
        if (!isKernelError(e)) throw e;
        continue;
      }
      this.#deferred.delete(dev);
      this.#probed.push(dev);
      this.kernel.trace.emit("device_probe", { device: dev.name, driver: drv.name });
      this.kernel._notifyDevice("bound_driver", dev);
      this.#retryDeferred();
      return true;
    }
    return false;
  }

  #retryDeferred(): void {
    for (const dev of [...this.#deferred]) {
      if (this.#deferred.has(dev) && !dev.driver) this._probe(dev);
    }
  }

  /** @internal unbinds `dev` */
  _unbind(dev: Device): void {
    const drv = dev.driver;
    if (!drv) return;
    this.kernel._notifyDevice("unbind_driver", dev);
    drv.remove?.(dev);
    dev.driver = null;
    dev.driverData = null;
    this.kernel._notifyDevice("unbound_driver", dev);
    const i = this.#probed.indexOf(dev);
    if (i >= 0) this.#probed.splice(i, 1);
    this.kernel.trace.emit("device_remove", { device: dev.name, driver: drv.name });
  }

  /** Unbinds every bound device, last probed first. */
  unbindAll(): void {
    for (const dev of [...this.#probed].reverse()) this._unbind(dev);
  }

  /** Bound devices in probe order. */
  get probed(): readonly Device[] {
    return [...this.#probed];
  }
}

/** `bus_register`: a new bus on `kernel`; its devices are unbound at kernel shutdown. */
export function busRegister(
  kernel: Kernel,
  name: string,
  match?: (dev: Device, drv: DeviceDriver) => boolean,
): Bus {
  const bus = new Bus(kernel, name, match);
  kernel.onShutdown(`bus ${name}`, () => bus.unbindAll());
  return bus;
}

/**
 * `device_register`: names the device in its kernel (EEXIST for a taken name), puts it on `bus`
 * (if given) and probes a matching driver. Returns true when a driver bound.
 */
export function deviceRegister(dev: Device, bus?: Bus): boolean {
  const k = dev.kernel;
  if (k.devices.has(dev.name))
    throw new KernelError("EEXIST", `device name "${dev.name}" is already registered`);
  if (dev.parent && !k.devices.has(dev.parent.name)) {
    throw new KernelError("ENODEV", `parent "${dev.parent.name}" of "${dev.name}" is not registered`);
  }
  k.devices.set(dev.name, dev);
  k._notifyDevice("add_device", dev);
  if (!bus) return false;
  dev.bus = bus;
  bus.devices.push(dev);
  return bus._probe(dev);
}

/** `device_unregister`: unbinds children first, then the device, and forgets it. */
export function deviceUnregister(dev: Device): void {
  const k = dev.kernel;
  if (k.devices.get(dev.name) !== dev)
    throw new KernelError("ENODEV", `device "${dev.name}" is not registered`);
  for (const child of [...k.devices.values()].filter((d) => d.parent === dev).reverse())
    deviceUnregister(child);
  k._notifyDevice("del_device", dev);
  const bus = dev.bus;
  if (bus) {
    bus._unbind(dev);
    bus.devices.splice(bus.devices.indexOf(dev), 1);
    dev.bus = null;
  }
  k.devices.delete(dev.name);
}

/** `driver_register`: adds the driver and probes every unbound matching device. */
export function driverRegister(bus: Bus, drv: DeviceDriver): void {
  if (bus.drivers.some((d) => d.name === drv.name)) {
    throw new KernelError("EBUSY", `driver "${drv.name}" is already registered on bus ${bus.name}`);
  }
  bus.drivers.push(drv);
  for (const dev of bus.devices) if (!dev.driver) bus._probe(dev);
}

/** `driver_unregister`: unbinds the driver from its devices (last probed first) and removes it. */
export function driverUnregister(bus: Bus, drv: DeviceDriver): void {
  const i = bus.drivers.indexOf(drv);
  if (i < 0) throw new KernelError("ENODEV", `driver "${drv.name}" is not registered on bus ${bus.name}`);
  for (const dev of bus.probed.filter((d) => d.driver === drv).reverse()) bus._unbind(dev);
  bus.drivers.splice(i, 1);
}

/** `dev_get_drvdata` with a type. */
export function devGetDrvdata<T>(dev: Device): T {
  return dev.driverData as T;
}

/** `dev_set_drvdata` */
export function devSetDrvdata(dev: Device, data: unknown): void {
  dev.driverData = data;
}
