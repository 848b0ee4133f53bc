import { describe, expect, it } from "vitest";
import {
  busRegister,
  createKernel,
  Device,
  type DeviceDriver,
  DMA_BIT_MASK,
  deviceRegister,
  deviceUnregister,
  driverRegister,
  driverUnregister,
  KernelError,
  TraceRecorder,
} from "../src/index.js";
import { kerr } from "../src/testing.js";

function logDriver(name: string, log: string[], extra: Partial<DeviceDriver> = {}): DeviceDriver {
  return {
    name,
    probe: (dev) => log.push(`probe ${dev.name}`),
    remove: (dev) => log.push(`remove ${dev.name}`),
    ...extra,
  };
}

describe("devices, buses and drivers", () => {
  it("a device has a unique id, masks defaulting to 32 bits, properties and slots", () => {
    const k = createKernel();
    const a = new Device(k, { name: "fimc0", properties: { iommus: ["sysmmu_fimc0"] } });
    const b = new Device(k, { name: "mfc", dmaMask: DMA_BIT_MASK(24), coherentDmaMask: DMA_BIT_MASK(24) });
    expect(a.id).not.toBe(b.id);
    expect(a.dmaMask).toBe(0xffffffff);
    expect(a.coherentDmaMask).toBe(0xffffffff);
    expect(b.dmaMask).toBe(0xffffff);
    expect(a.properties.get("iommus")).toEqual(["sysmmu_fimc0"]);
    expect(a.dmaOps).toBeNull();
    expect(a.dmaParms.maxSegmentSize).toBe(65536);
  });

  it("register refuses a taken name with EEXIST and an unregistered parent with ENODEV", () => {
    const k = createKernel();
    deviceRegister(new Device(k, { name: "g2d" }));
    expect(() => deviceRegister(new Device(k, { name: "g2d" }))).toThrow(kerr("EEXIST", '"g2d"'));
    const orphanParent = new Device(k, { name: "soc" });
    expect(() => deviceRegister(new Device(k, { name: "child", parent: orphanParent }))).toThrow(
      kerr("ENODEV"),
    );
  });

  it("binds by compatible string or name, and removes in reverse probe order at shutdown", () => {
    const k = createKernel();
    const bus = busRegister(k, "platform");
    const log: string[] = [];
    driverRegister(bus, logDriver("exynos-sysmmu", log, { compatible: ["samsung,exynos-sysmmu"] }));
    driverRegister(bus, logDriver("s5p-fimc", log));
    expect(
      deviceRegister(new Device(k, { name: "sysmmu0", compatible: ["samsung,exynos-sysmmu"] }), bus),
    ).toBe(true);
    expect(deviceRegister(new Device(k, { name: "s5p-fimc.0" }), bus)).toBe(true);
    expect(
      deviceRegister(new Device(k, { name: "sysmmu1", compatible: ["samsung,exynos-sysmmu"] }), bus),
    ).toBe(true);
    expect(deviceRegister(new Device(k, { name: "unknown" }), bus)).toBe(false);
    k.shutdown();
    expect(log).toEqual([
      "probe sysmmu0",
      "probe s5p-fimc.0",
      "probe sysmmu1",
      "remove sysmmu1",
      "remove s5p-fimc.0",
      "remove sysmmu0",
    ]);
  });

  it("a driver registered late probes the devices already waiting; unregister removes them", () => {
    const k = createKernel();
    const bus = busRegister(k, "platform");
    const log: string[] = [];
    deviceRegister(new Device(k, { name: "fimd" }), bus);
    const drv = logDriver("fimd", log);
    driverRegister(bus, drv);
    expect(k.devices.get("fimd")?.driver).toBe(drv);
    driverUnregister(bus, drv);
    expect(log).toEqual(["probe fimd", "remove fimd"]);
    expect(k.devices.get("fimd")?.driver).toBeNull();
    expect(() => driverUnregister(bus, drv)).toThrow(kerr("ENODEV"));
  });

  it("a failing probe leaves the device unbound and emits device_probe_failed", () => {
    const k = createKernel();
    const bus = busRegister(k, "platform");
    const rec = new TraceRecorder(k.trace);
    const events: string[] = [];
    k.onDeviceEvent((ev) => events.push(ev));
    driverRegister(bus, {
      name: "mfc",
      probe: () => {
        throw new KernelError("ENOMEM", "no firmware buffer");
      },
    });
    const dev = new Device(k, { name: "mfc" });
    expect(deviceRegister(dev, bus)).toBe(false);
    expect(dev.driver).toBeNull();
    expect(rec.of("device_probe_failed")[0]?.data).toEqual({ device: "mfc", driver: "mfc", errno: "ENOMEM" });
    expect(events).toEqual(["add_device", "bind_driver", "driver_not_bound"]);
  });

  it("EPROBE_DEFER retries after another device binds", () => {
    const k = createKernel();
    const bus = busRegister(k, "platform");
    const log: string[] = [];
    driverRegister(bus, {
      name: "fimc",
      probe: (dev) => {
        if (!k.devices.get("sysmmu")?.driver) throw new KernelError("EPROBE_DEFER", "sysmmu not ready");
        log.push(`probe ${dev.name}`);
      },
    });
    driverRegister(bus, logDriver("sysmmu", log));
    deviceRegister(new Device(k, { name: "fimc" }), bus);
    expect(bus.deferred.map((d) => d.name)).toEqual(["fimc"]);
    deviceRegister(new Device(k, { name: "sysmmu" }), bus);
    expect(log).toEqual(["probe sysmmu", "probe fimc"]);
    expect(bus.deferred).toEqual([]);
  });

  it("unregistering a parent unregisters its children first", () => {
    const k = createKernel();
    const bus = busRegister(k, "platform");
    const log: string[] = [];
    driverRegister(bus, logDriver("soc", log));
    driverRegister(bus, logDriver("soc.child", log));
    const parent = new Device(k, { name: "soc" });
    deviceRegister(parent, bus);
    deviceRegister(new Device(k, { name: "soc.child", parent }), bus);
    deviceUnregister(parent);
    expect(log).toEqual(["probe soc", "probe soc.child", "remove soc.child", "remove soc"]);
    expect(k.devices.size).toBe(0);
  });

  it("bus notifiers hear add, bind, bound, unbind, unbound and del in order", () => {
    const k = createKernel();
    const bus = busRegister(k, "platform");
    const log: string[] = [];
    const off = k.onDeviceEvent((ev, dev) => log.push(`${ev} ${dev.name}`));
    driverRegister(bus, logDriver("g2d", []));
    const dev = new Device(k, { name: "g2d" });
    deviceRegister(dev, bus);
    deviceUnregister(dev);
    expect(log).toEqual([
      "add_device g2d",
      "bind_driver g2d",
      "bound_driver g2d",
      "del_device g2d",
      "unbind_driver g2d",
      "unbound_driver g2d",
    ]);
    off();
    deviceRegister(new Device(k, { name: "x" }), bus);
    expect(log).toHaveLength(6);
  });
});
