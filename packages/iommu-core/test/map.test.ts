import { fc, test } from "@fast-check/vitest";
import {
  createKernel,
  Device,
  KernelBug,
  SZ_1M,
  SZ_2M,
  SZ_4K,
  SZ_64K,
  TraceRecorder,
} from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDevice,
  type IommuDomain,
  type IommuDomainOps,
  type IommuOps,
  iommuAttachDevice,
  iommuDeviceRegister,
  iommuDomainAlloc,
  iommuDomainFree,
  iommuFlushIotlbAll,
  iommuFwspecInit,
  iommuIotlbGatherAddPage,
  iommuIotlbGatherInit,
  iommuIotlbSync,
  iommuIovaToPhys,
  iommuMap,
  iommuMapSg,
  iommuPgsize,
  iommuProbeDevice,
  iommuUnmap,
  iommuUnmapFast,
} from "../src/index.js";
import { type FakeDomain, type FakeOpts, fakeIommu } from "./fake-iommu.js";

const RW = IOMMU_READ | IOMMU_WRITE;

function setup(opts: FakeOpts = {}) {
  const fake = fakeIommu(createKernel(), opts);
  iommuDeviceRegister(fake.iommu);
  const dev = fake.master("fimc0");
  iommuProbeDevice(dev);
  const d = iommuDomainAlloc(dev) as FakeDomain;
  return { fake, dev, d, kernel: fake.kernel };
}

/** Replays the core's split of a map and returns the chunks [iova, pgsize, count]. */
function chunks(d: IommuDomain, iova: number, paddr: number, size: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  let done = 0;
  while (done < size) {
    const { pgsize, count } = iommuPgsize(d, iova + done, paddr + done, size - done);
    out.push([iova + done, pgsize, count]);
    done += pgsize * count;
  }
  return out;
}

describe("iommuPgsize", () => {
  it("splits the worked example (4K|64K|1M, iova 0x10000, pa 0x20010000, 2 MiB) into 15×64K, 1×1M, 1×64K", () => {
    const { d } = setup();
    expect(iommuPgsize(d, 0x10000, 0x2001_0000, 0x200000)).toEqual({ pgsize: SZ_64K, count: 15 });
    expect(chunks(d, 0x10000, 0x2001_0000, 0x200000)).toEqual([
      [0x10000, SZ_64K, 15],
      [0x100000, SZ_1M, 1],
      [0x200000, SZ_64K, 1],
    ]);
  });

  it("uses small pages only when iova and pa disagree modulo the larger sizes", () => {
    const { d } = setup();
    expect(chunks(d, 0x100000, 0x2000_1000, 0x200000)).toEqual([[0x100000, SZ_4K, 512]]);
    expect(chunks(d, 0x110000, 0x2001_0000, 0x100000)).toEqual([[0x110000, SZ_64K, 16]]);
  });

  it("works above 4 GiB (no 32-bit arithmetic)", () => {
    const { d } = setup();
    expect(chunks(d, 0x1_0001_0000, 0x2_0001_0000, 0x200000)).toEqual([
      [0x1_0001_0000, SZ_64K, 15],
      [0x1_0010_0000, SZ_1M, 1],
      [0x1_0020_0000, SZ_64K, 1],
    ]);
    // no room for a 1M page after the boundary: 64K pages all the way
    expect(chunks(d, 0x1_0001_0000, 0x2_0001_0000, 0x110000)).toEqual([[0x1_0001_0000, SZ_64K, 17]]);
  });

  it("follows a bitmap the driver changes after allocation", () => {
    const { d } = setup();
    expect(iommuPgsize(d, 0, 0, SZ_2M)).toEqual({ pgsize: SZ_1M, count: 2 });
    d.pgsizeBitmap = SZ_4K | SZ_2M;
    expect(iommuPgsize(d, 0, 0, SZ_2M)).toEqual({ pgsize: SZ_2M, count: 1 });
  });

  it("a size no page fits is a KernelBug (callers check alignment first)", () => {
    const { d } = setup();
    expect(() => iommuPgsize(d, 0x800, 0, SZ_4K)).toThrow(KernelBug);
  });

  const extra = [0x2000, SZ_64K, 0x40000, SZ_1M, SZ_2M, 0x1000000];
  test.prop([
    fc.subarray(extra),
    fc.integer({ min: 0, max: 0x3ffff }),
    fc.integer({ min: 0, max: 0x3ffff }),
    fc.integer({ min: 1, max: 0x1000 }),
  ])(
    "chunks tile [iova, iova + size) exactly; each is a supported page size both addresses align to",
    (more, i, p, n) => {
      const { d } = setup();
      d.pgsizeBitmap = more.reduce((a, s) => a + s, SZ_4K);
      const iova = i * SZ_4K;
      const pa = p * SZ_4K;
      const size = n * SZ_4K;
      let at = iova;
      for (const [ci, pgsize, count] of chunks(d, iova, pa, size)) {
        expect(ci).toBe(at);
        expect(pgsize === SZ_4K || more.includes(pgsize)).toBe(true);
        expect(count).toBeGreaterThanOrEqual(1);
        expect(ci % pgsize).toBe(0);
        expect((pa + (ci - iova)) % pgsize).toBe(0);
        at += pgsize * count;
      }
      expect(at).toBe(iova + size);
    },
  );

  test.prop([
    fc.integer({ min: 0, max: 0x3ff }),
    fc.integer({ min: 0, max: 0x3ff }),
    fc.integer({ min: 1, max: 0x300 }),
  ])("iommuMap hands the driver exactly those chunks and every page translates", (i, p, n) => {
    const { d } = setup();
    const iova = i * SZ_4K;
    const pa = 0x4000_0000 + p * SZ_4K;
    const size = n * SZ_4K;
    iommuMap(d, iova, pa, size, RW);
    expect(d.calls.map(([a, , s, c]) => [a, s, c])).toEqual(chunks(d, iova, pa, size));
    for (let off = 0; off < size; off += SZ_4K) expect(iommuIovaToPhys(d, iova + off + 7)).toBe(pa + off + 7);
    expect(iommuUnmap(d, iova, size)).toBe(size);
    expect(d.slots.size).toBe(0);
  });
});

describe("iommuMap", () => {
  it("rejects a non-paging domain with EINVAL", () => {
    const { dev } = setup();
    const id = iommuDomainAlloc(dev, IOMMU_DOMAIN_IDENTITY);
    expect(() => iommuMap(id, 0, 0, SZ_4K, RW)).toThrow(kerr("EINVAL", /not a paging domain/));
  });

  it("rejects a domain that cannot map (empty bitmap, no mapPages) with ENODEV", () => {
    const { d } = setup();
    d.pgsizeBitmap = 0;
    expect(() => iommuMap(d, 0, 0, SZ_4K, RW)).toThrow(kerr("ENODEV"));
    const k = createKernel();
    const hw = new Device(k, { name: "bare" });
    const bareOps = Object.freeze({ attachDev() {} } satisfies IommuDomainOps);
    const ops: IommuOps = Object.freeze({
      pgsizeBitmap: SZ_4K,
      domainAlloc: () => ({ ops: bareOps }),
      probeDevice: (): IommuDevice => iommu,
    } satisfies IommuOps);
    const iommu: IommuDevice = { ops, hwdev: hw, fwnode: "bare" };
    iommuDeviceRegister(iommu);
    const m = new Device(k, { name: "m" });
    iommuFwspecInit(m, "bare");
    iommuProbeDevice(m);
    const bd = iommuDomainAlloc(m);
    expect(() => iommuMap(bd, 0, 0, SZ_4K, RW)).toThrow(kerr("ENODEV"));
    expect(iommuUnmap(bd, 0, SZ_4K)).toBe(0);
    expect(iommuIovaToPhys(bd, 0)).toBe(0);
  });

  it("rejects unaligned iova, pa and size naming them, size 0, and non-addresses with EINVAL; nothing is mapped", () => {
    const { d } = setup();
    expect(() => iommuMap(d, 0x1001, 0x2000, SZ_4K, RW)).toThrow(
      kerr("EINVAL", /iova 0x1001 is not aligned to the smallest page size 0x1000/),
    );
    expect(() => iommuMap(d, 0x1000, 0x2800, SZ_4K, RW)).toThrow(kerr("EINVAL", /pa 0x2800 is not aligned/));
    expect(() => iommuMap(d, 0x1000, 0x2000, 0x1800, RW)).toThrow(
      kerr("EINVAL", /size 0x1800 is not aligned/),
    );
    expect(() => iommuMap(d, 0x1001, 0x2001, SZ_4K, RW)).toThrow(
      kerr("EINVAL", /iova 0x1001, pa 0x2001 are not/),
    );
    expect(() => iommuMap(d, 0x1000, 0x2000, 0, RW)).toThrow(kerr("EINVAL", /size 0/));
    expect(() => iommuMap(d, -0x1000, 0x2000, SZ_4K, RW)).toThrow(kerr("EINVAL", /iova/));
    expect(() => iommuMap(d, 0x1000, Number.NaN, SZ_4K, RW)).toThrow(kerr("EINVAL", /pa/));
    expect(() => iommuMap(d, 2 ** 53 - SZ_4K, 0, SZ_64K, RW)).toThrow(kerr("EINVAL", /overflows/));
    expect(() => iommuMap(d, 0x1000, 0x2000, SZ_4K, 1.5)).toThrow(kerr("EINVAL", /prot/));
    expect(d.calls).toEqual([]);
    expect(d.slots.size).toBe(0);
  });

  it("a failure in a later chunk unmaps the earlier chunks and rethrows the driver's error", () => {
    const { d, fake, kernel } = setup();
    const rec = new TraceRecorder(kernel.trace, { events: ["iommu_map", "iommu_unmap"] });
    fake.inject.failMapCall = 2;
    expect(() => iommuMap(d, 0x10000, 0x2001_0000, 0x200000, RW)).toThrow(kerr("ENOMEM"));
    expect(d.slots.size).toBe(0);
    expect(rec.records().map((r) => [r.name, r.data])).toEqual([
      ["iommu_unmap", { iova: 0x10000, size: 15 * SZ_64K, unmapped_size: 15 * SZ_64K }],
    ]);
  });

  it("one page per call: the core loops until the chunk is mapped", () => {
    const { d } = setup({ onePagePerCall: true });
    iommuMap(d, 0, 0x4000_0000, 3 * SZ_4K, RW);
    expect(d.calls).toEqual([
      [0, 0x4000_0000, SZ_4K, 3],
      [SZ_4K, 0x4000_1000, SZ_4K, 2],
      [2 * SZ_4K, 0x4000_2000, SZ_4K, 1],
    ]);
  });

  it("calls iotlbSyncMap once for the whole range; its failure unmaps everything and rethrows", () => {
    const { d, fake } = setup();
    iommuMap(d, 0x100000, 0x4010_0000, 0x110000, RW);
    expect(fake.log.filter((l) => l.startsWith("syncmap"))).toEqual(["syncmap 100000+110000"]);
    fake.inject.failSyncMap = true;
    expect(() => iommuMap(d, 0x400000, 0x4040_0000, SZ_1M, RW)).toThrow(kerr("EIO"));
    expect(iommuIovaToPhys(d, 0x400000)).toBe(0);
    expect(iommuIovaToPhys(d, 0x100000)).toBe(0x4010_0000);
  });

  it("emits iommu_map with the whole request on success", () => {
    const { d, kernel } = setup();
    const rec = new TraceRecorder(kernel.trace, { events: ["iommu_map"] });
    iommuMap(d, 0x10000, 0x2001_0000, 0x200000, IOMMU_READ);
    expect(rec.of("iommu_map").map((r) => r.data)).toEqual([
      { iova: 0x10000, paddr: 0x2001_0000, size: 0x200000 },
    ]);
  });

  it("using a freed domain is a KernelBug", () => {
    const { d } = setup();
    iommuDomainFree(d);
    expect(d.freed).toBe(true);
    expect(() => iommuMap(d, 0, 0, SZ_4K, RW)).toThrow(KernelBug);
    expect(() => iommuIovaToPhys(d, 0)).toThrow(KernelBug);
    expect(() => iommuDomainFree(d)).toThrow(KernelBug);
  });
});

describe("iommuUnmap", () => {
  it("returns 0 for a non-paging domain, an unaligned iova or size, and size 0", () => {
    const { d, dev } = setup();
    iommuMap(d, 0, 0x4000_0000, SZ_64K, RW);
    expect(iommuUnmap(iommuDomainAlloc(dev, IOMMU_DOMAIN_IDENTITY), 0, SZ_4K)).toBe(0);
    expect(iommuUnmap(d, 0x800, SZ_4K)).toBe(0);
    expect(iommuUnmap(d, 0, 0x800)).toBe(0);
    expect(iommuUnmap(d, 0, 0)).toBe(0);
    expect(iommuIovaToPhys(d, 0)).toBe(0x4000_0000);
    expect(() => iommuUnmap(d, -1, SZ_4K)).toThrow(kerr("EINVAL"));
  });

  it("stops at a hole and reports what it unmapped; emits iommu_unmap", () => {
    const { d, kernel } = setup();
    const rec = new TraceRecorder(kernel.trace, { events: ["iommu_unmap"] });
    iommuMap(d, 0, 0x4000_0000, 2 * SZ_4K, RW);
    iommuMap(d, 3 * SZ_4K, 0x4000_3000, SZ_4K, RW);
    expect(iommuUnmap(d, 0, 4 * SZ_4K)).toBe(2 * SZ_4K);
    expect(iommuIovaToPhys(d, 3 * SZ_4K)).toBe(0x4000_3000);
    expect(rec.of("iommu_unmap").map((r) => r.data)).toEqual([
      { iova: 0, size: 4 * SZ_4K, unmapped_size: 2 * SZ_4K },
    ]);
  });

  it("may return more than asked when the driver removes a whole larger page", () => {
    const { d } = setup({ partialUnmap: "whole" });
    iommuMap(d, SZ_1M, 0x4010_0000, SZ_1M, RW);
    expect(iommuUnmap(d, SZ_1M, SZ_4K)).toBe(SZ_1M);
    expect(iommuIovaToPhys(d, SZ_1M + SZ_64K)).toBe(0);
  });

  it("unmapFast gathers the range; iommuIotlbSync hands it to the driver and resets it", () => {
    const { d, fake, dev } = setup();
    iommuAttachDevice(d, dev);
    iommuMap(d, 0x10000, 0x4001_0000, 0x30000, RW);
    expect(fake.access(dev, 0x10000, false)).toBe(0x4001_0000); // now in the TLB
    const g = iommuIotlbGatherInit();
    expect(iommuUnmapFast(d, 0x10000, 0x30000, g)).toBe(0x30000);
    expect(g).toEqual({ start: 0x10000, end: 0x3ffff, pgsize: SZ_64K });
    expect(fake.access(dev, 0x10000, false)).toBe(0x4001_0000); // stale until synced
    iommuIotlbSync(d, g);
    expect(fake.log.at(-1)).toBe("sync 10000-3ffff");
    expect(g).toEqual(iommuIotlbGatherInit());
    expect(fake.access(dev, 0x10000, false)).toBe(null);
  });

  it("gatherAddPage syncs first when a page is disjoint from the gathered range or of another size", () => {
    const { d, fake } = setup();
    const g = iommuIotlbGatherInit();
    iommuIotlbGatherAddPage(d, g, 0x10000, SZ_4K);
    iommuIotlbGatherAddPage(d, g, 0x11000, SZ_4K);
    expect(fake.log.filter((l) => l.startsWith("sync"))).toEqual([]);
    iommuIotlbGatherAddPage(d, g, 0x20000, SZ_4K);
    expect(fake.log.filter((l) => l.startsWith("sync"))).toEqual(["sync 10000-11fff"]);
    iommuIotlbGatherAddPage(d, g, 0x30000, SZ_64K);
    expect(fake.log.filter((l) => l.startsWith("sync"))).toEqual(["sync 10000-11fff", "sync 20000-20fff"]);
    expect(g).toEqual({ start: 0x30000, end: 0x3ffff, pgsize: SZ_64K });
  });

  it("iommuFlushIotlbAll reaches the driver", () => {
    const { d, fake } = setup();
    iommuFlushIotlbAll(d);
    expect(fake.log.at(-1)).toBe("flush");
  });
});

describe("iommuMapSg", () => {
  it("coalesces physically contiguous entries into one run each and syncs once", () => {
    const { d, fake, kernel } = setup();
    const rec = new TraceRecorder(kernel.trace, { events: ["iommu_map"] });
    const n = iommuMapSg(
      d,
      0x100000,
      [
        { paddr: 0x4000_0000, length: SZ_4K },
        { paddr: 0x4000_1000, length: 3 * SZ_4K },
        { paddr: 0x5000_0000, length: SZ_64K },
      ],
      RW,
    );
    expect(n).toBe(4 * SZ_4K + SZ_64K);
    expect(rec.of("iommu_map").map((r) => r.data)).toEqual([
      { iova: 0x100000, paddr: 0x4000_0000, size: 4 * SZ_4K },
      { iova: 0x104000, paddr: 0x5000_0000, size: SZ_64K },
    ]);
    expect(fake.log.filter((l) => l.startsWith("syncmap"))).toEqual(["syncmap 100000+14000"]);
    expect(iommuIovaToPhys(d, 0x104000 + 0x10)).toBe(0x5000_0010);
  });

  it("checks every run before mapping: EINVAL for an unaligned run, an empty list or a 0 length; nothing mapped", () => {
    const { d } = setup();
    expect(() =>
      iommuMapSg(
        d,
        0,
        [
          { paddr: 0x4000_0000, length: SZ_4K },
          { paddr: 0x5000_0800, length: SZ_4K },
        ],
        RW,
      ),
    ).toThrow(kerr("EINVAL", /sg run 1: unaligned: pa 0x50000800/));
    expect(() => iommuMapSg(d, 0, [], RW)).toThrow(kerr("EINVAL", /empty/));
    expect(() => iommuMapSg(d, 0, [{ paddr: 0x4000_0000, length: 0 }], RW)).toThrow(
      kerr("EINVAL", /length 0/),
    );
    expect(d.calls).toEqual([]);
  });

  it("a driver failure in a later run unmaps the earlier runs and rethrows", () => {
    const { d, fake } = setup();
    fake.inject.failMapCall = 2;
    const sg = [
      { paddr: 0x4000_0000, length: SZ_4K },
      { paddr: 0x5000_0000, length: SZ_4K },
    ];
    expect(() => iommuMapSg(d, 0, sg, RW)).toThrow(kerr("ENOMEM"));
    expect(d.slots.size).toBe(0);
  });
});

describe("iommuIovaToPhys", () => {
  it("identity returns the iova, blocked returns 0, paging asks the driver (0 when unmapped)", () => {
    const { d, dev } = setup();
    const id = iommuDomainAlloc(dev, IOMMU_DOMAIN_IDENTITY);
    expect(iommuIovaToPhys(id, 0x1234_5678)).toBe(0x1234_5678);
    d.type = IOMMU_DOMAIN_BLOCKED;
    expect(iommuIovaToPhys(d, 0x1000)).toBe(0);
    d.type = 1;
    expect(iommuIovaToPhys(d, 0x1000)).toBe(0);
    expect(() => iommuIovaToPhys(d, -1)).toThrow(kerr("EINVAL"));
  });
});

describe("the aperture (found by tools/fuzz's bad-input catalogue)", () => {
  it("a domain that forces its aperture refuses a map or sg map leaving it: EINVAL, nothing mapped", () => {
    const { d } = setup();
    d.geometry = { apertureStart: 0x10000000, apertureEnd: 0x1fffffff, forceAperture: true };
    expect(() => iommuMap(d, 0x1ffff000, 0x40000000, 2 * SZ_4K, RW)).toThrow(kerr("EINVAL", /aperture/));
    expect(() => iommuMap(d, 0x0ffff000, 0x40000000, SZ_4K, RW)).toThrow(kerr("EINVAL", /aperture/));
    expect(() =>
      iommuMapSg(
        d,
        0x1ffff000,
        [
          { paddr: 0x40000000, length: SZ_4K },
          { paddr: 0x40100000, length: SZ_4K },
        ],
        RW,
      ),
    ).toThrow(kerr("EINVAL", /sg: .*aperture/));
    expect(d.slots.size).toBe(0);
    expect(d.calls).toEqual([]);
    iommuMap(d, 0x1ffff000, 0x40000000, SZ_4K, RW); // the last page inside is fine
    expect(iommuIovaToPhys(d, 0x1ffff000)).toBe(0x40000000);
  });

  it("a domain that does not force it maps anywhere (64-bit IOVA spaces)", () => {
    const { d } = setup();
    expect(d.geometry.forceAperture).toBe(false);
    iommuMap(d, 0x100000000, 0x40000000, SZ_4K, RW);
    expect(iommuIovaToPhys(d, 0x100000000)).toBe(0x40000000);
  });
});
