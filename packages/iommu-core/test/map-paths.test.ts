// The map/unmap fast paths (one step of the smallest page, 32-bit addresses, the domain's own
// gather) against the general ones: the driver must see the same calls either way.
import { createKernel, Device, KernelBug, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDevice,
  type IommuDomain,
  type IommuDomainOps,
  type IommuIotlbGather,
  type IommuOps,
  iommuAttachDevice,
  iommuDeviceRegister,
  iommuDomainAlloc,
  iommuFwspecInit,
  iommuIotlbGatherAddRange,
  iommuMap,
  iommuProbeDevice,
  iommuUnmap,
} from "../src/index.js";

const RW = IOMMU_READ | IOMMU_WRITE;

/** A driver that logs every call and can be told to misbehave. */
function logRig(bitmap = SZ_4K | SZ_64K | SZ_1M) {
  const log: string[] = [];
  const gathers = new Set<IommuIotlbGather>();
  const hooks: { onUnmap?: (d: IommuDomain, iova: number) => number | undefined } = {};
  const dops = Object.freeze({
    attachDev() {},
    mapPages(_d, iova, paddr, pgsize, pgcount, prot) {
      log.push(`map ${iova.toString(16)} ${paddr.toString(16)} ${pgsize.toString(16)}x${pgcount} ${prot}`);
      return pgsize * pgcount;
    },
    unmapPages(d, iova, pgsize, pgcount, gather) {
      log.push(`unmap ${iova.toString(16)} ${pgsize.toString(16)}x${pgcount}`);
      gathers.add(gather);
      const r = hooks.onUnmap?.(d, iova);
      if (r !== undefined) return r;
      iommuIotlbGatherAddRange(gather, iova, pgsize * pgcount);
      return pgsize * pgcount;
    },
    iotlbSync(_d, gather) {
      log.push(`sync ${gather.start.toString(16)}-${gather.end.toString(16)}`);
    },
  } satisfies IommuDomainOps);
  const kernel = createKernel();
  const hw = new Device(kernel, { name: "hw" });
  const ops: IommuOps = Object.freeze({
    pgsizeBitmap: bitmap,
    domainAlloc: () => ({ ops: dops }),
    probeDevice: (): IommuDevice => iommu,
  } satisfies IommuOps);
  const iommu: IommuDevice = { ops, hwdev: hw, fwnode: hw };
  iommuDeviceRegister(iommu);
  const dev = new Device(kernel, { name: "m" });
  iommuFwspecInit(dev, hw);
  iommuProbeDevice(dev);
  const d = iommuDomainAlloc(dev);
  iommuAttachDevice(d, dev);
  return { d, log, gathers, hooks };
}

describe("map/unmap paths", () => {
  it("below the second page size, at 32-bit and at 48-bit addresses, the driver gets one call of the smallest pages", () => {
    const { d, log } = logRig();
    for (const base of [0x2000_0000, 0x8000_0000, 0xffff_f000 - 0xf000, 0x1234_5678_9000]) {
      log.length = 0;
      iommuMap(d, base, 0x4_0000_0000 + 0x3000, 0x10000 - 0x1000, RW);
      expect(iommuUnmap(d, base, 0x10000 - 0x1000)).toBe(0xf000);
      expect(log).toEqual([
        `map ${base.toString(16)} 400003000 1000x15 ${RW}`,
        `unmap ${base.toString(16)} 1000x15`,
        `sync ${base.toString(16)}-${(base + 0xf000 - 1).toString(16)}`,
      ]);
    }
  });

  it("a domain of one page size takes any size in one call; a changed bitmap is followed at once", () => {
    const { d, log } = logRig(SZ_4K);
    iommuMap(d, 0x10000000, 0x40000000, 3 * SZ_1M, RW);
    expect(log).toEqual([`map 10000000 40000000 1000x768 ${RW}`]);
    d.pgsizeBitmap = SZ_4K | SZ_64K;
    log.length = 0;
    expect(iommuUnmap(d, 0x10000000, 3 * SZ_1M)).toBe(3 * SZ_1M);
    expect(log[0]).toBe("unmap 10000000 10000x48");
    log.length = 0;
    iommuMap(d, 0x20000000, 0x40000000, SZ_4K, RW);
    iommuMap(d, 0x20010000, 0x40010000, SZ_64K, RW);
    expect(log).toEqual([`map 20000000 40000000 1000x1 ${RW}`, `map 20010000 40010000 10000x1 ${RW}`]);
  });

  it("validation is unchanged at the edges: 2^32, 2^53, unaligned, negative, fractional, not numbers", () => {
    const { d, log } = logRig();
    iommuMap(d, 0xffff_f000, 0xffff_f000, SZ_4K, RW); // ends at 2^32 exactly
    iommuMap(d, 0x1_0000_0000, 0x1_0000_0000, SZ_4K, RW);
    expect(log.length).toBe(2);
    expect(() => iommuMap(d, 2 ** 53 - SZ_4K, 0, 2 * SZ_4K, RW)).toThrow(kerr("EINVAL", /overflows/));
    expect(() => iommuMap(d, 0x1_0000_0800, 0, SZ_4K, RW)).toThrow(
      kerr("EINVAL", /iova 0x100000800 is not aligned/),
    );
    expect(() => iommuMap(d, 0, 0x8000_0800, SZ_4K, RW)).toThrow(
      kerr("EINVAL", /pa 0x80000800 is not aligned/),
    );
    expect(() => iommuMap(d, -SZ_4K, 0, SZ_4K, RW)).toThrow(kerr("EINVAL", /iova -4096 is not an address/));
    expect(() => iommuMap(d, 0, 0.5, SZ_4K, RW)).toThrow(kerr("EINVAL", /pa 0.5 is not an address/));
    expect(() => iommuMap(d, 0, 0, 0, RW)).toThrow(kerr("EINVAL", /size 0 is not a positive/));
    expect(() => iommuMap(d, 0, 0, "4096" as unknown as number, RW)).toThrow(kerr("EINVAL", /size 4096/));
    expect(() => iommuUnmap(d, -1, SZ_4K)).toThrow(kerr("EINVAL", /iova -1/));
    expect(() => iommuUnmap(d, 0, 2 ** 53)).toThrow(kerr("EINVAL", /size/));
    expect(iommuUnmap(d, 0x800, SZ_4K)).toBe(0); // unaligned: the kernel's sentinel, then an empty sync
    expect(log.slice(2)).toEqual([`sync ${Number.MAX_SAFE_INTEGER.toString(16)}-0`]);
  });

  it("iommuUnmap reuses one gather; an unmap from inside the driver's unmap gets its own; an exception does not spoil the next", () => {
    const { d, log, gathers, hooks } = logRig();
    iommuMap(d, 0x10000, 0x10000, 2 * SZ_4K, RW);
    iommuUnmap(d, 0x10000, SZ_4K);
    iommuUnmap(d, 0x11000, SZ_4K);
    expect(gathers.size).toBe(1);
    // re-entered: the inner unmap syncs its own range; the outer one still syncs its own
    iommuMap(d, 0x20000, 0x20000, SZ_4K, RW);
    iommuMap(d, 0x30000, 0x30000, SZ_4K, RW);
    let inner = true;
    hooks.onUnmap = (dom, iova) => {
      if (inner && iova === 0x20000) {
        inner = false;
        iommuUnmap(dom, 0x30000, SZ_4K);
      }
      return undefined;
    };
    log.length = 0;
    expect(iommuUnmap(d, 0x20000, SZ_4K)).toBe(SZ_4K);
    expect(log).toEqual(["unmap 20000 1000x1", "unmap 30000 1000x1", "sync 30000-30fff", "sync 20000-20fff"]);
    expect(gathers.size).toBe(2);
    // a driver bug: a KernelBug out of the middle; the next unmap starts from an empty gather
    hooks.onUnmap = () => -1;
    expect(() => iommuUnmap(d, 0x40000, SZ_4K)).toThrow(KernelBug);
    hooks.onUnmap = undefined;
    log.length = 0;
    iommuMap(d, 0x50000, 0x50000, SZ_4K, RW);
    iommuUnmap(d, 0x50000, SZ_4K);
    expect(log).toEqual([`map 50000 50000 1000x1 ${RW}`, "unmap 50000 1000x1", "sync 50000-50fff"]);
  });

  it("the core's record does not show on the domain object", () => {
    const { d } = logRig();
    expect(Object.keys(d)).toEqual([
      "ops",
      "type",
      "owner",
      "pgsizeBitmap",
      "geometry",
      "handler",
      "handlerToken",
    ]);
    expect(
      Object.getOwnPropertySymbols(d).every((s) => !Object.getOwnPropertyDescriptor(d, s)?.enumerable),
    ).toBe(true);
  });
});
