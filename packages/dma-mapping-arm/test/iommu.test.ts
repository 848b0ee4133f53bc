// arm_iommu_create_mapping and its bitmap IOVA allocator (Arnd's items 4 and 5: dma_map_ops over
// the IOMMU API, per-device IOMMUs), attach/detach, shared mappings, release.

import { iommuIovaToPhys } from "@umm/iommu-core";
import {
  Device,
  deviceRegister,
  PAGE_SIZE,
  SZ_1M,
  SZ_2M,
  SZ_4G,
  SZ_4K,
  SZ_128M,
  SZ_256M,
  TraceRecorder,
} from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  armIommuAttachDevice,
  armIommuCreateMapping,
  armIommuDetachDevice,
  armIommuReleaseMapping,
  DMA_TO_DEVICE,
  dmaAllocCoherent,
  dmaFreeCoherent,
  dmaMapPage,
  dmaUnmapPage,
  getDmaOps,
  toDmaIommuMapping,
} from "../src/index.js";
import {
  boot,
  devRead,
  directDevice,
  expectNoAliases,
  IOVA_BASE,
  pattern,
  type Rig,
  sysmmuDevice,
} from "./helpers.js";

afterEach(expectNoAliases);

function page(r: Rig): number {
  return r.mm.buddy.allocPages(0, GFP_KERNEL)!;
}

describe("arm_iommu_create_mapping", () => {
  it("sizes the bitmap: one page of bitmap (128 MiB) per extension, only the first allocated", () => {
    const r = boot();
    const { mapping } = sysmmuDevice(r, "fimc0", SZ_256M);
    expect(mapping.base).toBe(IOVA_BASE);
    expect(mapping.bits).toBe(32768);
    expect(mapping.extensions).toBe(2);
    expect(mapping.nrBitmaps).toBe(1);
    const small = sysmmuDevice(r, "fimc1", SZ_1M).mapping;
    expect([small.bits, small.extensions]).toEqual([256, 1]);
  });

  it("rejects above 4 GiB (ERANGE), below a page or an unaligned base (EINVAL), a device with no IOMMU (ENODEV)", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    expect(() => armIommuCreateMapping(dev, 0, SZ_4G + SZ_4K)).toThrow(kerr("ERANGE", /above 4 GiB/));
    expect(() => armIommuCreateMapping(dev, 0xf000_0000, SZ_512M)).toThrow(
      kerr("ERANGE", /ends above 4 GiB/),
    );
    expect(() => armIommuCreateMapping(dev, 0, 100)).toThrow(kerr("EINVAL", /less than a page/));
    expect(() => armIommuCreateMapping(dev, 0x123, SZ_1M)).toThrow(kerr("EINVAL", /page-aligned/));
    const plain = directDevice(r, "plain").dev;
    expect(() => armIommuCreateMapping(plain, 0, SZ_1M)).toThrow(kerr("ENODEV"));
  });

  it("allocates bottom-up, first fit, aligned to the size's order capped at 2^8 pages", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    const p = page(r);
    const a = dmaMapPage(dev, p, 0, SZ_4K, DMA_TO_DEVICE); // 1 page at 0
    const b = dmaMapPage(dev, p, 0, 3 * SZ_4K, DMA_TO_DEVICE); // 3 pages, aligned to 4
    const c = dmaMapPage(dev, p, 0, SZ_4K, DMA_TO_DEVICE); // first fit: page 1
    const d = dmaMapPage(dev, p, 0, SZ_2M, DMA_TO_DEVICE); // order 9 capped to 8: 1 MiB aligned
    expect([a, b, c, d].map((x) => (x - IOVA_BASE) / PAGE_SIZE)).toEqual([0, 4, 1, 256]);
    for (const [x, n] of [
      [a, SZ_4K],
      [b, 3 * SZ_4K],
      [c, SZ_4K],
      [d, SZ_2M],
    ] as const) {
      dmaUnmapPage(dev, x, n, DMA_TO_DEVICE);
    }
  });

  it("grows into the next extension when the first bitmap is full", () => {
    const r = boot({ size: 256 * SZ_1M, cmaMiB: 0 });
    const { dev, mapping } = sysmmuDevice(r, "fimc0", SZ_256M);
    const block = r.mm.buddy.allocPages(10, GFP_KERNEL)!; // 4 MiB
    const maps: number[] = [];
    for (let i = 0; i < 32; i++) maps.push(dmaMapPage(dev, block, 0, 4 * SZ_1M, DMA_TO_DEVICE));
    expect(mapping.nrBitmaps).toBe(1);
    const next = dmaMapPage(dev, block, 0, SZ_4K, DMA_TO_DEVICE);
    expect(next).toBe(IOVA_BASE + SZ_128M);
    expect(mapping.nrBitmaps).toBe(2);
    dmaUnmapPage(dev, next, SZ_4K, DMA_TO_DEVICE);
    for (const m of maps) dmaUnmapPage(dev, m, 4 * SZ_1M, DMA_TO_DEVICE);
    expect(mapping.usedPages).toBe(0);
  });
});

describe("attach, share, detach, release", () => {
  it("several devices share one mapping: one IOVA serves both masters", () => {
    const r = boot();
    const a = sysmmuDevice(r, "fimc0");
    const b = sysmmuDevice(r, "fimc1", SZ_256M, a.mapping);
    expect(a.mapping.refcount).toBe(3);
    expect(a.mapping.devices.map((d) => d.name)).toEqual(["fimc0", "fimc1"]);
    const p = page(r);
    r.cpu.write(r.mm.kspace, r.mm.kspace.physToVirt(p * PAGE_SIZE), pattern(64, 1));
    const addr = dmaMapPage(a.dev, p, 0, 64, DMA_TO_DEVICE);
    expect(firstDiff(devRead(b.port, addr, 64), pattern(64, 1))).toBe(-1);
    dmaUnmapPage(a.dev, addr, 64, DMA_TO_DEVICE);
  });

  it("detach goes back to dma-direct and drops the device's reference; the domain goes with the last one", () => {
    const r = boot();
    const a = sysmmuDevice(r, "fimc0");
    const b = sysmmuDevice(r, "fimc1", SZ_256M, a.mapping);
    const m = a.mapping;
    armIommuReleaseMapping(m); // the creator's reference
    expect(m.refcount).toBe(2);
    armIommuDetachDevice(a.dev);
    expect(getDmaOps(a.dev)).toBeNull();
    expect(toDmaIommuMapping(a.dev)).toBeNull();
    expect(toDmaIommuMapping(b.dev)).toBe(m);
    const rec = new TraceRecorder(r.kernel.trace, { events: ["iommu_detach_device_from_domain"] });
    armIommuDetachDevice(b.dev);
    expect(rec.records()).toHaveLength(1);
    expect(m.refcount).toBe(0);
    expect(() => armIommuAttachDevice(a.dev, m)).toThrow(kerr("EINVAL", /released/));
    expect(() => armIommuReleaseMapping(m)).toThrow(/put after release/);
  });

  it("detach of a device that is not attached only warns ('Not attached')", () => {
    const r = boot();
    const { dev } = directDevice(r, "plain");
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_warn"] });
    armIommuDetachDevice(dev);
    expect(rec.records()[0]!.data).toEqual({ device: "plain", message: "Not attached" });
  });

  it("a device already attached cannot be attached again (EBUSY), and nothing changes", () => {
    const r = boot();
    const a = sysmmuDevice(r, "fimc0");
    const other = armIommuCreateMapping(a.dev, 0x8000_0000, SZ_1M);
    expect(() => armIommuAttachDevice(a.dev, other)).toThrow(kerr("EBUSY"));
    expect(toDmaIommuMapping(a.dev)).toBe(a.mapping);
    expect(other.refcount).toBe(1);
    armIommuReleaseMapping(other);
  });

  it("a device with no IOMMU cannot be attached (ENODEV)", () => {
    const r = boot();
    const a = sysmmuDevice(r, "fimc0");
    const plain = new Device(r.kernel, { name: "plain" });
    deviceRegister(plain);
    expect(() => armIommuAttachDevice(plain, a.mapping)).toThrow(kerr("ENODEV"));
    expect(getDmaOps(plain)).toBeNull();
  });

  it("after detach, the device's coherent buffer made through the IOMMU cannot be freed as direct (EINVAL)", () => {
    const r = boot();
    const a = sysmmuDevice(r, "fimc0");
    const buf = dmaAllocCoherent(a.dev, SZ_4K)!;
    armIommuDetachDevice(a.dev);
    expect(() => dmaFreeCoherent(a.dev, SZ_4K, buf.cpuAddr, buf.dmaAddr)).toThrow(
      kerr("EINVAL", /IOMMU ops/),
    );
    armIommuAttachDevice(a.dev, a.mapping);
    dmaFreeCoherent(a.dev, SZ_4K, buf.cpuAddr, buf.dmaAddr);
    expect(iommuIovaToPhys(a.mapping.domain, buf.dmaAddr)).toBe(0);
  });
});

const SZ_512M = 2 * SZ_256M;
