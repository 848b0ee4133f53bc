import {
  busRegister,
  createKernel,
  Device,
  type DeviceDriver,
  deviceRegister,
  deviceUnregister,
  driverRegister,
  KernelBug,
  KernelError,
  TraceRecorder,
} from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  devIommuFwspecGet,
  devIommuOps,
  devIommuPrivGet,
  deviceIommuCapable,
  deviceIommuMapped,
  IOMMU_CAP_CACHE_COHERENCY,
  IOMMU_CAP_NOEXEC,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_READ,
  iommuAttachDevice,
  iommuAttachGroup,
  iommuDetachDevice,
  iommuDetachGroup,
  iommuDeviceRegister,
  iommuDeviceUnregister,
  iommuDomainAlloc,
  iommuDomainFree,
  iommuFwspecAddIds,
  iommuFwspecInit,
  iommuGetDmaDomain,
  iommuGetDomainForDev,
  iommuGroupGet,
  iommuGroupId,
  iommuIovaToPhys,
  iommuMap,
  iommuPagingDomainAlloc,
  iommuProbeDevice,
  iommuReleaseDevice,
} from "../src/index.js";
import { type FakeDomain, type FakeOpts, fakeIommu } from "./fake-iommu.js";

function registered(opts: FakeOpts = {}) {
  const fake = fakeIommu(createKernel(), opts);
  iommuDeviceRegister(fake.iommu);
  return fake;
}

describe("IOMMU instances", () => {
  it("registering the same instance or another with the same fwnode is EEXIST", () => {
    const fake = registered();
    expect(() => iommuDeviceRegister(fake.iommu)).toThrow(kerr("EEXIST", /already registered/));
    const other = new Device(fake.kernel, { name: "other" });
    expect(() => iommuDeviceRegister({ ops: fake.ops, hwdev: other, fwnode: fake.hw })).toThrow(
      kerr("EEXIST", /fwnode/),
    );
  });

  it("rejects an instance without fwnode or ops with EINVAL", () => {
    const fake = fakeIommu();
    expect(() => iommuDeviceRegister({ ...fake.iommu, fwnode: undefined })).toThrow(kerr("EINVAL", /fwnode/));
    expect(() => iommuDeviceRegister({ ...fake.iommu, ops: {} as never })).toThrow(kerr("EINVAL", /ops/));
  });

  it("unregister is ENODEV when not registered and EBUSY while a master is probed through it", () => {
    const fake = registered();
    const m = fake.master("fimc0");
    iommuProbeDevice(m);
    expect(() => iommuDeviceUnregister(fake.iommu)).toThrow(kerr("EBUSY", /fimc0/));
    iommuReleaseDevice(m);
    iommuDeviceUnregister(fake.iommu);
    expect(() => iommuDeviceUnregister(fake.iommu)).toThrow(kerr("ENODEV"));
  });

  it("a master that is unregistered leaves its group (the bus notifier), so the IOMMU can go", () => {
    const fake = registered();
    const m = fake.master("fimd0");
    if (!m.kernel.devices.has(m.name)) deviceRegister(m);
    iommuProbeDevice(m);
    expect(deviceIommuMapped(m)).toBe(true);
    deviceUnregister(m);
    expect(deviceIommuMapped(m)).toBe(false);
    iommuDeviceUnregister(fake.iommu);
  });
});

describe("fwspec", () => {
  it("init records the IOMMU; again with the same fwnode does nothing; ids are appended", () => {
    const fake = fakeIommu();
    const m = new Device(fake.kernel, { name: "m" });
    expect(devIommuFwspecGet(m)).toBeNull();
    iommuFwspecInit(m, fake.hw);
    iommuFwspecInit(m, fake.hw);
    iommuFwspecAddIds(m, [3, 4]);
    iommuFwspecAddIds(m, [5]);
    expect(devIommuFwspecGet(m)).toEqual({ iommuFwnode: fake.hw, ids: [3, 4, 5], fwnodes: [fake.hw] });
  });

  it("add ids without a fwspec or of a non-u32 is EINVAL and adds nothing", () => {
    const fake = fakeIommu();
    const m = new Device(fake.kernel, { name: "m" });
    expect(() => iommuFwspecAddIds(m, [1])).toThrow(kerr("EINVAL", /no IOMMU fwspec/));
    iommuFwspecInit(m, fake.hw);
    expect(() => iommuFwspecAddIds(m, [1, -2])).toThrow(kerr("EINVAL", /-2/));
    expect(() => iommuFwspecAddIds(m, [2 ** 32])).toThrow(kerr("EINVAL"));
    expect(devIommuFwspecGet(m)?.ids).toEqual([]);
    expect(() => iommuFwspecInit(m, null)).toThrow(kerr("EINVAL"));
  });

  it("a new fwnode after probe is EBUSY", () => {
    const fake = registered();
    const m = fake.master("m");
    iommuProbeDevice(m);
    expect(() => iommuFwspecInit(m, "elsewhere")).toThrow(kerr("EBUSY"));
  });
});

describe("probe and release", () => {
  it("is ENODEV without a fwspec and EPROBE_DEFER until the IOMMU is registered; nothing changes", () => {
    const fake = fakeIommu();
    const bare = new Device(fake.kernel, { name: "bare" });
    expect(() => iommuProbeDevice(bare)).toThrow(kerr("ENODEV", /fwspec/));
    const m = fake.master("fimc0");
    expect(() => iommuProbeDevice(m)).toThrow(kerr("EPROBE_DEFER"));
    expect(deviceIommuMapped(m)).toBe(false);
    expect(devIommuPrivGet(m)).toBeNull();
    iommuDeviceRegister(fake.iommu);
    iommuProbeDevice(m);
    expect(deviceIommuMapped(m)).toBe(true);
  });

  it("calls ofXlate (with the fwspec ids) before probeDevice, then puts the master in a group", () => {
    const fake = registered();
    const rec = new TraceRecorder(fake.kernel.trace, { events: ["iommu_add_device_to_group"] });
    const m = fake.master("fimc0");
    iommuFwspecAddIds(m, [7]);
    iommuProbeDevice(m);
    iommuProbeDevice(m); // probing again does nothing
    expect(fake.log).toEqual(["xlate fimc0 [7]", "probe fimc0"]);
    expect(devIommuPrivGet<{ xlated: unknown[] }>(m)?.xlated).toEqual([fake.hw]);
    const g = iommuGroupGet(m);
    expect(g?.devices).toEqual([m]);
    expect(rec.of("iommu_add_device_to_group").map((r) => r.data)).toEqual([
      { group: iommuGroupId(g!), device: "fimc0" },
    ]);
    expect(devIommuOps(m)).toBe(fake.ops);
  });

  it("a master behind two instances of one driver is xlated once per instance", () => {
    const fake = registered();
    const hw2 = new Device(fake.kernel, { name: "fake.iommu2" });
    iommuDeviceRegister({ ops: fake.ops, hwdev: hw2, fwnode: hw2 });
    const m = fake.master("mfc");
    iommuFwspecInit(m, hw2);
    iommuProbeDevice(m);
    expect(devIommuPrivGet<{ xlated: unknown[] }>(m)?.xlated).toEqual([fake.hw, hw2]);
    expect(() => iommuDeviceUnregister({ ops: fake.ops, hwdev: hw2, fwnode: hw2 })).toThrow(kerr("ENODEV"));
  });

  it("instances of different drivers for one master are EINVAL", () => {
    const a = registered();
    const b = fakeIommu(a.kernel, {}, "other.iommu");
    iommuDeviceRegister(b.iommu);
    const m = a.master("m");
    iommuFwspecInit(m, b.hw);
    expect(() => iommuProbeDevice(m)).toThrow(kerr("EINVAL", /different drivers/));
  });

  it("a probeDevice that refuses (ENODEV) leaves no group and drops what ofXlate stored", () => {
    const fake = registered();
    const hw3 = new Device(fake.kernel, { name: "hw3" });
    const refusing = Object.freeze({
      ...fake.ops,
      probeDevice: () => {
        throw new KernelError("ENODEV", "not mine");
      },
    });
    iommuDeviceRegister({ ops: refusing, hwdev: hw3, fwnode: hw3 });
    const p = new Device(fake.kernel, { name: "p" });
    iommuFwspecInit(p, hw3);
    expect(() => iommuProbeDevice(p)).toThrow(kerr("ENODEV", /not mine/));
    expect(fake.log).toEqual(["xlate p []"]);
    expect(iommuGroupGet(p)).toBeNull();
    expect(devIommuOps(p)).toBeNull();
    expect(devIommuPrivGet(p)).toBeNull();
    expect(devIommuFwspecGet(p)?.iommuFwnode).toBe(hw3);
  });

  it("a master driver on a bus defers until the IOMMU driver registers, then probes", () => {
    const fake = fakeIommu();
    const k = fake.kernel;
    const bus = busRegister(k, "platform");
    const master: DeviceDriver = { name: "fimc", probe: (dev) => iommuProbeDevice(dev) };
    const sysmmu: DeviceDriver = {
      name: "sysmmu",
      probe: () => iommuDeviceRegister(fake.iommu),
      remove: () => iommuDeviceUnregister(fake.iommu),
    };
    driverRegister(bus, master);
    const m = new Device(k, { name: "fimc.0" });
    iommuFwspecInit(m, fake.hw);
    expect(deviceRegister(m, bus)).toBe(false);
    expect(bus.deferred).toEqual([m]);
    driverRegister(bus, sysmmu);
    expect(deviceRegister(new Device(k, { name: "sysmmu.0" }), bus)).toBe(true);
    expect(bus.deferred).toEqual([]);
    expect(deviceIommuMapped(m)).toBe(true);
  });

  it("release detaches, leaves the group, calls releaseDevice; the fwspec stays so it can probe again", () => {
    const fake = registered();
    const rec = new TraceRecorder(fake.kernel.trace, {
      events: ["iommu_remove_device_from_group", "iommu_warn"],
    });
    const m = fake.master("fimc0");
    iommuProbeDevice(m);
    const gid = iommuGroupGet(m)!.id;
    const d = iommuDomainAlloc(m);
    iommuAttachDevice(d, m);
    iommuReleaseDevice(m);
    iommuReleaseDevice(m); // not probed any more: nothing
    expect(fake.log.slice(-2)).toEqual(["detach fimc0", "release fimc0"]);
    expect(fake.attached.has(m)).toBe(false);
    expect(iommuGroupGet(m)).toBeNull();
    expect(devIommuPrivGet(m)).toBeNull();
    expect(rec.records().map((r) => [r.name, r.data])).toEqual([
      ["iommu_warn", { message: "fimc0 released while attached to a non-default unmanaged domain" }],
      ["iommu_remove_device_from_group", { group: gid, device: "fimc0" }],
    ]);
    iommuDomainFree(d); // no longer attached
    iommuProbeDevice(m);
    expect(deviceIommuMapped(m)).toBe(true);
  });

  it("capabilities come from the driver; false without an IOMMU", () => {
    const fake = registered();
    const m = fake.master("m");
    expect(deviceIommuCapable(m, IOMMU_CAP_CACHE_COHERENCY)).toBe(false);
    iommuProbeDevice(m);
    expect(deviceIommuCapable(m, IOMMU_CAP_CACHE_COHERENCY)).toBe(true);
    expect(deviceIommuCapable(m, IOMMU_CAP_NOEXEC)).toBe(false);
  });
});

describe("default domains", () => {
  it("without defDomainType a master has no domain (ARM32)", () => {
    const fake = registered();
    const m = fake.master("m");
    iommuProbeDevice(m);
    expect(iommuGetDomainForDev(m)).toBeNull();
    expect(iommuGetDmaDomain(m)).toBeNull();
  });

  it("defDomainType IDENTITY: probe attaches an identity domain; detach returns to it; it cannot be freed", () => {
    const fake = registered({ defDomainType: IOMMU_DOMAIN_IDENTITY });
    const m = fake.master("m");
    iommuProbeDevice(m);
    const def = iommuGetDmaDomain(m)!;
    expect(def.type).toBe(IOMMU_DOMAIN_IDENTITY);
    expect(iommuGetDomainForDev(m)).toBe(def);
    expect(fake.attached.get(m)).toBe(def);
    expect(iommuIovaToPhys(def, 0x1234)).toBe(0x1234);
    expect(() => iommuDomainFree(def)).toThrow(kerr("EBUSY"));
    iommuDetachDevice(def, m); // the default domain: nothing to do
    expect(iommuGetDomainForDev(m)).toBe(def);
    const d = iommuPagingDomainAlloc(m);
    iommuAttachDevice(d, m);
    expect(fake.access(m, 0x1000, false)).toBe(null);
    iommuDetachDevice(d, m);
    expect(iommuGetDomainForDev(m)).toBe(def);
    expect(fake.access(m, 0x1000, false)).toBe(0x1000);
    iommuDomainFree(d);
  });

  it("defDomainType DMA: a paging default domain, freed with the group", () => {
    const fake = registered({ defDomainType: IOMMU_DOMAIN_DMA });
    const m = fake.master("m");
    iommuProbeDevice(m);
    const def = iommuGetDmaDomain(m) as FakeDomain;
    expect(def.type).toBe(IOMMU_DOMAIN_DMA);
    iommuMap(def, 0, 0x4000_0000, 0x1000, IOMMU_READ);
    iommuReleaseDevice(m);
    expect(def.freed).toBe(true);
  });

  it("a failing attach of the default domain fails the probe and frees the domain", () => {
    const fake = registered({ defDomainType: IOMMU_DOMAIN_DMA });
    const m = fake.master("m");
    fake.inject.failAttachCall = 1;
    expect(() => iommuProbeDevice(m)).toThrow(kerr("EBUSY"));
    expect(iommuGroupGet(m)).toBeNull();
    expect(fake.log.at(-1)).toBe("release m");
    iommuProbeDevice(m);
    expect(iommuGetDmaDomain(m)?.type).toBe(IOMMU_DOMAIN_DMA);
  });
});

describe("domains", () => {
  it("alloc fills type, owner, page sizes and geometry", () => {
    const fake = registered();
    const m = fake.master("m");
    iommuProbeDevice(m);
    const d = iommuDomainAlloc(m);
    expect(d.type).toBe(IOMMU_DOMAIN_UNMANAGED);
    expect(d.owner).toBe(fake.ops);
    expect(d.pgsizeBitmap).toBe(fake.ops.pgsizeBitmap);
    expect(d.geometry).toEqual({ apertureStart: 0, apertureEnd: 0xffffffff, forceAperture: false });
    expect(d.handler).toBeNull();
  });

  it("is ENODEV without an IOMMU, EINVAL for an unknown type, ENOMEM when the driver has none", () => {
    const fake = registered();
    const m = fake.master("m");
    expect(() => iommuDomainAlloc(m)).toThrow(kerr("ENODEV"));
    iommuProbeDevice(m);
    expect(() => iommuDomainAlloc(m, 7)).toThrow(kerr("EINVAL", /7 is not an IOMMU domain type/));
    expect(() => iommuDomainAlloc(m, IOMMU_DOMAIN_BLOCKED)).toThrow(kerr("ENOMEM"));
  });

  it("a static identity domain handed out twice is the same live object", () => {
    const fake = registered();
    const m = fake.master("m");
    iommuProbeDevice(m);
    const a = iommuDomainAlloc(m, IOMMU_DOMAIN_IDENTITY);
    expect(iommuDomainAlloc(m, IOMMU_DOMAIN_IDENTITY)).toBe(a);
    iommuDomainFree(a);
    expect(() => iommuDomainFree(a)).toThrow(KernelBug);
  });

  it("shutdown releases probed masters and reports domains never freed", () => {
    const fake = registered();
    const rec = new TraceRecorder(fake.kernel.trace, { events: ["iommu_warn"] });
    const m = fake.master("m");
    iommuProbeDevice(m);
    iommuDomainAlloc(m);
    fake.kernel.shutdown();
    expect(fake.log.at(-1)).toBe("release m");
    expect(rec.of("iommu_warn").map((r) => r.data.message)).toEqual([
      "leak: unmanaged domain was never freed (iommuDomainFree)",
    ]);
  });

  it("a clean shutdown reports nothing", () => {
    const fake = registered({ defDomainType: IOMMU_DOMAIN_DMA });
    const rec = new TraceRecorder(fake.kernel.trace, { events: ["iommu_warn"] });
    const m = fake.master("m");
    iommuProbeDevice(m);
    iommuDomainFree(iommuDomainAlloc(m));
    fake.kernel.shutdown();
    expect(rec.records()).toEqual([]);
  });
});

describe("attach and detach", () => {
  function two() {
    const fake = registered({ sharedGroupPrefix: "mfc" });
    const a = fake.master("mfc.l");
    const b = fake.master("mfc.r");
    const solo = fake.master("fimc0");
    iommuProbeDevice(a);
    iommuProbeDevice(b);
    iommuProbeDevice(solo);
    return { fake, a, b, solo };
  }

  it("is ENODEV for a master without a group and EINVAL for a master that shares its group", () => {
    const { fake, a, solo } = two();
    const d = iommuDomainAlloc(solo);
    const lone = new Device(fake.kernel, { name: "lone" });
    expect(() => iommuAttachDevice(d, lone)).toThrow(kerr("ENODEV"));
    expect(() => iommuAttachDevice(d, a)).toThrow(kerr("EINVAL", /shares group/));
    expect(() => iommuDetachDevice(d, a)).toThrow(kerr("EINVAL", /shares group/));
    expect(iommuGetDomainForDev(a)).toBeNull();
  });

  it("a group attaches as a whole; devices in one group share the domain", () => {
    const { fake, a, b } = two();
    const g = iommuGroupGet(a)!;
    expect(iommuGroupGet(b)).toBe(g);
    const d = iommuDomainAlloc(a);
    const rec = new TraceRecorder(fake.kernel.trace, { events: ["iommu_attach_device_to_domain"] });
    iommuAttachGroup(d, g);
    expect(g.domain).toBe(d);
    expect(fake.attached.get(a)).toBe(d);
    expect(fake.attached.get(b)).toBe(d);
    expect(rec.records().map((r) => r.data)).toEqual([{ device: "mfc.l" }, { device: "mfc.r" }]);
    const c = fake.master("mfc.x");
    iommuProbeDevice(c); // joins the attached group: gets its domain
    expect(fake.attached.get(c)).toBe(d);
    iommuDetachGroup(d, g);
    expect(g.domain).toBeNull();
    expect(fake.attached.size).toBe(0);
    iommuDomainFree(d);
  });

  it("a driver failure part way through a group attach moves the devices back", () => {
    const { fake, a, b } = two();
    const g = iommuGroupGet(a)!;
    const d1 = iommuDomainAlloc(a);
    const d2 = iommuDomainAlloc(a);
    iommuAttachGroup(d1, g);
    iommuDetachGroup(d1, g);
    fake.inject.failAttachCall = 2;
    expect(() => iommuAttachGroup(d2, g)).toThrow(kerr("EBUSY", /mfc.r/));
    expect(g.domain).toBeNull();
    expect(fake.attached.has(a)).toBe(false);
    expect(fake.attached.has(b)).toBe(false);
    iommuDomainFree(d2);
    iommuDomainFree(d1);
  });

  it("a failing attach of a single device leaves it on its previous domain", () => {
    const fake = registered({ defDomainType: IOMMU_DOMAIN_IDENTITY });
    const m = fake.master("m");
    iommuProbeDevice(m);
    const def = iommuGetDomainForDev(m);
    const d = iommuDomainAlloc(m);
    fake.inject.failAttachCall = 1;
    expect(() => iommuAttachDevice(d, m)).toThrow(kerr("EBUSY"));
    expect(iommuGetDomainForDev(m)).toBe(def);
    iommuDomainFree(d);
  });

  it("a domain of another driver is EINVAL; an empty or foreign group is refused", () => {
    const a = registered();
    const b = fakeIommu(a.kernel, {}, "b.iommu");
    iommuDeviceRegister(b.iommu);
    const ma = a.master("ma");
    const mb = b.master("mb");
    iommuProbeDevice(ma);
    iommuProbeDevice(mb);
    const da = iommuDomainAlloc(ma);
    expect(() => iommuAttachDevice(da, mb)).toThrow(kerr("EINVAL", /another IOMMU driver/));
    expect(() =>
      iommuAttachGroup(da, { id: 99, kernel: a.kernel, devices: [], defaultDomain: null, domain: null }),
    ).toThrow(KernelBug);
    expect(iommuGetDomainForDev(mb)).toBeNull();
  });

  it("detaching from a group with no default domain calls detachDev and emits the detach event", () => {
    const { fake, solo } = two();
    const rec = new TraceRecorder(fake.kernel.trace, { events: ["iommu_detach_device_from_domain"] });
    const d = iommuDomainAlloc(solo);
    iommuAttachDevice(d, solo);
    iommuDetachDevice(d, solo);
    expect(fake.log.at(-1)).toBe("detach fimc0");
    expect(rec.records().map((r) => r.data)).toEqual([{ device: "fimc0" }]);
    expect(() => iommuDetachDevice(d, solo)).toThrow(kerr("EINVAL", /not the current domain/));
    iommuDomainFree(d);
  });
});
