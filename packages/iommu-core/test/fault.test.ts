import { createKernel, ERRNO, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  iommuAttachDevice,
  iommuDeviceRegister,
  iommuDomainAlloc,
  iommuMap,
  iommuProbeDevice,
  iommuSetFaultHandler,
  reportIommuFault,
} from "../src/index.js";
import { fakeIommu } from "./fake-iommu.js";

function setup() {
  const fake = fakeIommu(createKernel());
  iommuDeviceRegister(fake.iommu);
  const dev = fake.master("fimc0");
  iommuProbeDevice(dev);
  const d = iommuDomainAlloc(dev);
  return { fake, dev, d };
}

describe("faults", () => {
  it("report returns -ENOSYS without a handler (the driver's default applies) and still traces", () => {
    const { fake, dev, d } = setup();
    const rec = new TraceRecorder(fake.kernel.trace, { events: ["io_page_fault"] });
    expect(reportIommuFault(d, dev, 0x2000, IOMMU_FAULT_WRITE)).toBe(-ERRNO.ENOSYS);
    expect(rec.of("io_page_fault").map((r) => r.data)).toEqual([{ device: "fimc0", iova: 0x2000, flags: 1 }]);
  });

  it("the handler gets domain, device, iova, flags and token, and its result is returned", () => {
    const { dev, d } = setup();
    const seen: unknown[] = [];
    iommuSetFaultHandler(
      d,
      (dom, dv, iova, flags, token) => {
        seen.push(dom, dv, iova, flags, token);
        return -ERRNO.EFAULT;
      },
      "tok",
    );
    expect(reportIommuFault(d, dev, 0x3000, IOMMU_FAULT_READ)).toBe(-ERRNO.EFAULT);
    expect(seen).toEqual([d, dev, 0x3000, IOMMU_FAULT_READ, "tok"]);
    iommuSetFaultHandler(d, null, "ignored");
    expect(d.handlerToken).toBeNull();
    expect(reportIommuFault(d, dev, 0x3000, IOMMU_FAULT_READ)).toBe(-ERRNO.ENOSYS);
  });

  it("a handler that is not a function is EINVAL and the old one stays", () => {
    const { d } = setup();
    const h = () => 0;
    iommuSetFaultHandler(d, h, 1);
    expect(() => iommuSetFaultHandler(d, 42 as never, 2)).toThrow(kerr("EINVAL"));
    expect(d.handler).toBe(h);
    expect(d.handlerToken).toBe(1);
  });

  it("the hardware path: a write through a read-only mapping and a read of a hole reach the handler", () => {
    const { fake, dev, d } = setup();
    iommuAttachDevice(d, dev);
    iommuMap(d, 0x10000, 0x4000_0000, 0x1000, IOMMU_READ);
    const faults: [number, number][] = [];
    iommuSetFaultHandler(
      d,
      (_d, _dev, iova, flags) => {
        faults.push([iova, flags]);
        return 0;
      },
      null,
    );
    expect(fake.access(dev, 0x10010, false)).toBe(0x4000_0010);
    expect(fake.access(dev, 0x10010, true)).toBeNull();
    expect(fake.access(dev, 0x20000, false)).toBeNull();
    expect(faults).toEqual([
      [0x10010, IOMMU_FAULT_WRITE],
      [0x20000, IOMMU_FAULT_READ],
    ]);
  });
});
