// DMA-API debug: every check of kernel/dma/debug.c, each triggered once by a deliberately wrong
// driver, with the kernel's message; strict mode; debugfs counters; tags.

import {
  busRegister,
  Device,
  type DeviceDriver,
  deviceRegister,
  deviceUnregister,
  driverRegister,
  PAGE_SIZE,
  SZ_4K,
  SZ_64K,
  type TraceRecord,
  TraceRecorder,
} from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  dmaAllocCoherent,
  dmaAllocNoncoherent,
  dmaDebugEntries,
  dmaDebugExit,
  dmaDebugfs,
  dmaDebugfsWrite,
  dmaDebugInit,
  dmaFreeCoherent,
  dmaFreeNoncoherent,
  dmaMapPage,
  dmaMappingError,
  dmaMapResource,
  dmaMapSg,
  dmaMapSingle,
  dmaSetMaxSegSize,
  dmaSetSegBoundary,
  dmaSyncSgForCpu,
  dmaSyncSingleForCpu,
  dmaSyncSingleForDevice,
  dmaUnmapPage,
  dmaUnmapResource,
  dmaUnmapSg,
  dmaUnmapSingle,
  SgTable,
} from "../src/index.js";
import { boot, expectNoAliases, type Rig, sysmmuDevice } from "./helpers.js";

afterEach(expectNoAliases);

type DebugRecord = TraceRecord<"dma_debug_error">;

/** A kernel with DMA-API debug, a bus, the driver "s5p-fimc" bound to "s5p-fimc.0". */
function rig(opts: Parameters<typeof dmaDebugInit>[1] = {}, remove?: DeviceDriver["remove"]) {
  const r = boot();
  dmaDebugInit(r.kernel, opts);
  const bus = busRegister(r.kernel, "platform-test");
  driverRegister(bus, { name: "s5p-fimc", probe: () => {}, ...(remove ? { remove } : {}) });
  const dev = new Device(r.kernel, { name: "s5p-fimc.0" });
  deviceRegister(dev, bus);
  const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_debug_error"] });
  const errors = (): DebugRecord["data"][] => rec.of("dma_debug_error").map((x) => x.data);
  const messages = (): string[] => errors().map((e) => e.message);
  return { r, dev, bus, errors, messages };
}

function kbuf(r: Rig, order = 0): { va: number; pfn: number; pa: number } {
  const pfn = r.mm.buddy.allocPages(order, GFP_KERNEL)!;
  return { pfn, pa: pfn * PAGE_SIZE, va: r.mm.kspace.physToVirt(pfn * PAGE_SIZE) };
}

const hex16 = (x: number) => `0x${x.toString(16).padStart(16, "0")}`;

/** Maps and checks the mapping, as a correct driver does. */
function mapChecked(dev: Device, va: number, size: number, dir: 0 | 1 | 2): number {
  const a = dmaMapSingle(dev, va, size, dir);
  expect(dmaMappingError(dev, a)).toBe(0);
  return a;
}

describe("DMA-API debug: unmap and free", () => {
  it("a correct driver gets no report", () => {
    const { r, dev, errors } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_TO_DEVICE);
    dmaSyncSingleForCpu(dev, a, 128, DMA_TO_DEVICE);
    dmaSyncSingleForDevice(dev, a + 64, 64, DMA_TO_DEVICE);
    dmaUnmapSingle(dev, a, 128, DMA_TO_DEVICE);
    const c = dmaAllocCoherent(dev, SZ_4K)!;
    dmaFreeCoherent(dev, SZ_4K, c.cpuAddr, c.dmaAddr);
    expect(errors()).toEqual([]);
    expect(dmaDebugEntries(r.kernel)).toEqual([]);
  });

  it("unmap of something never mapped", () => {
    const { r, dev, errors } = rig();
    const b = kbuf(r);
    dmaUnmapPage(dev, b.pa, 64, DMA_TO_DEVICE);
    expect(errors()).toEqual([
      {
        check: "unmap-unknown",
        device: "s5p-fimc.0",
        driver: "s5p-fimc",
        dev_addr: b.pa,
        size: 64,
        dir: "DMA_TO_DEVICE",
        tag: "s5p-fimc",
        mapped_by: "",
        message: `DMA-API: s5p-fimc s5p-fimc.0: device driver tries to free DMA memory it has not allocated [device address=${hex16(b.pa)}] [size=64 bytes]`,
      },
    ]);
  });

  it("unmap of DMA_MAPPING_ERROR (the op then refuses the address)", () => {
    const { dev, messages } = rig();
    expect(() => dmaUnmapPage(dev, DMA_MAPPING_ERROR, 64, DMA_TO_DEVICE)).toThrow(kerr("EINVAL"));
    expect(messages()).toEqual([
      "DMA-API: s5p-fimc s5p-fimc.0: device driver tries to free an invalid DMA memory address",
    ]);
  });

  it("unmap with another size", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_TO_DEVICE);
    dmaUnmapSingle(dev, a, 64, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA memory with different size [device address=${hex16(a)}] [map size=128 bytes] [unmap size=64 bytes]`,
    ]);
  });

  it("unmap with the wrong function", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_TO_DEVICE);
    dmaUnmapResource(dev, a, 128, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA memory with wrong function [device address=${hex16(a)}] [size=128 bytes] [mapped as single] [unmapped as resource]`,
    ]);
  });

  it("coherent free with another CPU address (the op refuses it too)", () => {
    const { r, dev, messages } = rig();
    const a = dmaAllocCoherent(dev, SZ_4K)!;
    const b = dmaAllocCoherent(dev, SZ_4K)!;
    expect(() => dmaFreeCoherent(dev, SZ_4K, b.cpuAddr, a.dmaAddr)).toThrow(kerr("EINVAL"));
    const pa = r.mm.kspace.virtToPhys(a.cpuAddr);
    const pb = r.mm.kspace.virtToPhys(b.cpuAddr);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA memory with different CPU address [device address=${hex16(a.dmaAddr)}] [size=4096 bytes] [cpu alloc address=0x${pa.toString(16)}] [cpu free address=0x${pb.toString(16)}]`,
    ]);
    dmaFreeCoherent(dev, SZ_4K, a.cpuAddr, a.dmaAddr);
    dmaFreeCoherent(dev, SZ_4K, b.cpuAddr, b.dmaAddr);
  });

  it("sg unmap with another entry count", () => {
    const { r, dev, messages } = rig();
    const sgt = new SgTable([kbuf(r), kbuf(r), kbuf(r)].map((b) => ({ pfn: b.pfn, length: 256 })));
    const n = dmaMapSg(dev, sgt.sgl, 3, DMA_TO_DEVICE);
    expect(n).toBe(3);
    dmaUnmapSg(dev, sgt.sgl, 2, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      "DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA sg list with different entry count [map count=3] [unmap count=2]",
      "DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA sg list with different entry count [map count=3] [unmap count=2]",
    ]);
  });

  it("unmap with another direction", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_TO_DEVICE);
    dmaUnmapSingle(dev, a, 128, DMA_BIDIRECTIONAL);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA memory with different direction [device address=${hex16(a)}] [size=128 bytes] [mapped with DMA_TO_DEVICE] [unmapped with DMA_BIDIRECTIONAL]`,
    ]);
  });

  it("unmap of a mapping whose error was never checked", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    const a = dmaMapPage(dev, b.pfn, 0, 128, DMA_TO_DEVICE);
    dmaUnmapPage(dev, a, 128, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver failed to check map error [device address=${hex16(a)}] [size=128 bytes] [mapped as single]`,
    ]);
  });

  it("non-coherent buffers are tracked too", () => {
    const { dev, messages } = rig();
    const buf = dmaAllocNoncoherent(dev, SZ_4K, DMA_FROM_DEVICE)!;
    dmaFreeNoncoherent(dev, SZ_4K, buf.cpuAddr, buf.dmaAddr, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA memory with different direction [device address=${hex16(buf.dmaAddr)}] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] [unmapped with DMA_TO_DEVICE]`,
    ]);
  });
});

describe("DMA-API debug: syncs", () => {
  it("sync of something never mapped", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    dmaSyncSingleForCpu(dev, b.pa, 64, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver tries to sync DMA memory it has not allocated [device address=${hex16(b.pa)}] [size=64 bytes]`,
    ]);
  });

  it("sync outside the mapping", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 256, DMA_FROM_DEVICE);
    dmaSyncSingleForCpu(dev, a + 200, 100, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver syncs DMA memory outside allocated range [device address=${hex16(a)}] [allocation size=256 bytes] [sync offset+size=300]`,
    ]);
    dmaUnmapSingle(dev, a, 256, DMA_FROM_DEVICE);
  });

  it("sync with another direction", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_TO_DEVICE);
    dmaSyncSingleForDevice(dev, a, 128, DMA_BIDIRECTIONAL);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver syncs DMA memory with different direction [device address=${hex16(a)}] [size=128 bytes] [mapped with DMA_TO_DEVICE] [synced with DMA_BIDIRECTIONAL]`,
    ]);
    dmaUnmapSingle(dev, a, 128, DMA_TO_DEVICE);
  });

  it("sync for the CPU of device read-only memory", () => {
    const { r, dev, errors } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_TO_DEVICE);
    dmaSyncSingleForCpu(dev, a, 128, DMA_FROM_DEVICE);
    expect(errors().map((e) => e.check)).toEqual(["sync-direction", "sync-read-only-for-cpu"]);
    expect(errors()[1]!.message).toBe(
      `DMA-API: s5p-fimc s5p-fimc.0: device driver syncs device read-only DMA memory for cpu [device address=${hex16(a)}] [size=128 bytes] [mapped with DMA_TO_DEVICE] [synced with DMA_FROM_DEVICE]`,
    );
    dmaUnmapSingle(dev, a, 128, DMA_TO_DEVICE);
  });

  it("sync for the device of device write-only memory", () => {
    const { r, dev, errors } = rig();
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_FROM_DEVICE);
    dmaSyncSingleForDevice(dev, a, 128, DMA_TO_DEVICE);
    expect(errors().map((e) => e.check)).toEqual(["sync-direction", "sync-write-only-to-device"]);
    expect(errors()[1]!.message).toBe(
      `DMA-API: s5p-fimc s5p-fimc.0: device driver syncs device write-only DMA memory to device [device address=${hex16(a)}] [size=128 bytes] [mapped with DMA_FROM_DEVICE] [synced with DMA_TO_DEVICE]`,
    );
    dmaUnmapSingle(dev, a, 128, DMA_FROM_DEVICE);
  });

  it("sg sync with another entry count", () => {
    const { r, dev, messages } = rig();
    const sgt = new SgTable([kbuf(r), kbuf(r)].map((b) => ({ pfn: b.pfn, length: 512 })));
    dmaMapSg(dev, sgt.sgl, 2, DMA_FROM_DEVICE);
    dmaSyncSgForCpu(dev, sgt.sgl, 1, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      "DMA-API: s5p-fimc s5p-fimc.0: device driver syncs DMA sg list with different entry count [map count=2] [sync count=1]",
    ]);
    dmaUnmapSg(dev, sgt.sgl, 2, DMA_FROM_DEVICE);
  });
});

describe("DMA-API debug: maps", () => {
  it("an sg segment longer than the device's max segment size", () => {
    const { r, dev, messages } = rig();
    dmaSetMaxSegSize(dev, SZ_4K);
    const b = kbuf(r, 1);
    const sgt = new SgTable([{ pfn: b.pfn, length: 2 * SZ_4K }]);
    dmaMapSg(dev, sgt.sgl, 1, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      "DMA-API: s5p-fimc s5p-fimc.0: mapping sg segment longer than device claims to support [len=8192] [max=4096]",
    ]);
    dmaUnmapSg(dev, sgt.sgl, 1, DMA_TO_DEVICE);
  });

  it("an sg segment across the device's segment boundary", () => {
    const { r, dev, messages } = rig();
    dmaSetSegBoundary(dev, SZ_64K - 1);
    const b = kbuf(r, 5); // 128 KiB, 128 KiB aligned
    const sgt = new SgTable([{ pfn: b.pfn + 15, length: 2 * SZ_4K }]);
    dmaMapSg(dev, sgt.sgl, 1, DMA_TO_DEVICE);
    const start = b.pa + 15 * SZ_4K;
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: mapping sg segment across boundary [start=${hex16(start)}] [end=${hex16(start + 2 * SZ_4K - 1)}] [boundary=${hex16(0xffff)}]`,
    ]);
    dmaUnmapSg(dev, sgt.sgl, 1, DMA_TO_DEVICE);
  });

  it("two active mappings of one cacheline, the device writing", () => {
    const { r, dev, messages } = rig();
    const b = kbuf(r);
    const x = mapChecked(dev, b.va, 64, DMA_FROM_DEVICE);
    const y = mapChecked(dev, b.va, 64, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      "DMA-API: s5p-fimc s5p-fimc.0: cacheline tracking EEXIST, overlapping mappings aren't supported",
    ]);
    // TO_DEVICE mappings may overlap
    const z = mapChecked(dev, b.va, 64, DMA_TO_DEVICE);
    expect(messages()).toHaveLength(1);
    dmaUnmapSingle(dev, z, 64, DMA_TO_DEVICE);
    dmaUnmapSingle(dev, y, 64, DMA_FROM_DEVICE);
    dmaUnmapSingle(dev, x, 64, DMA_FROM_DEVICE);
    expect(messages()).toHaveLength(1);
  });

  it("memory from the vmalloc area, and from no valid kernel address", () => {
    const { r, dev, messages } = rig();
    const va = r.mm.kspace.vmalloc(SZ_4K);
    expect(dmaMapSingle(dev, va, 64, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(() => dmaMapSingle(dev, 0x8000, 64, DMA_TO_DEVICE)).toThrow(kerr("EINVAL"));
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver maps memory from invalid area [addr=0x${va.toString(16)}] [len=64]`,
      `DMA-API: s5p-fimc s5p-fimc.0: device driver maps memory from vmalloc area [addr=0x${va.toString(16)}] [len=64]`,
      "DMA-API: s5p-fimc s5p-fimc.0: device driver maps memory from invalid area [addr=0x8000] [len=64]",
    ]);
  });

  it("a driver unbound with mappings left (bus notifier)", () => {
    let leaked = 0;
    const { r, dev, errors } = rig({}, () => {
      leaked++; // remove() forgets to unmap
    });
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 512, DMA_BIDIRECTIONAL);
    deviceUnregister(dev);
    expect(leaked).toBe(1);
    expect(errors()).toEqual([
      {
        check: "unbind-pending",
        device: "s5p-fimc.0",
        driver: "s5p-fimc",
        dev_addr: a,
        size: 512,
        dir: "DMA_BIDIRECTIONAL",
        tag: "s5p-fimc",
        mapped_by: "s5p-fimc",
        message: `DMA-API: s5p-fimc s5p-fimc.0: device driver has pending DMA allocations while released from device [count=1]\nOne of leaked entries details: [device address=${hex16(a)}] [size=512 bytes] [mapped with DMA_BIDIRECTIONAL] [mapped as single]`,
      },
    ]);
  });

  it("resources are tracked: unmapping one that was never mapped is reported", () => {
    const { dev, messages } = rig();
    const a = dmaMapResource(dev, 0x1268_0000, 32, DMA_TO_DEVICE);
    expect(dmaMappingError(dev, a)).toBe(0);
    dmaUnmapResource(dev, a, 32, DMA_TO_DEVICE);
    dmaUnmapResource(dev, a, 32, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      `DMA-API: s5p-fimc s5p-fimc.0: device driver tries to free DMA memory it has not allocated [device address=${hex16(a)}] [size=32 bytes]`,
    ]);
  });
});

describe("DMA-API debug: behind the SysMMU", () => {
  it("checks IOVA mappings the same way; a wrong size still unmaps what was mapped", () => {
    const r = boot();
    dmaDebugInit(r.kernel);
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_debug_error"] });
    const { dev, mapping } = sysmmuDevice(r, "mfc");
    const b = kbuf(r, 1);
    const a = dmaMapSingle(dev, b.va, 2 * SZ_4K, DMA_TO_DEVICE, 0, "mfc:firmware");
    dmaUnmapSingle(dev, a, SZ_4K, DMA_TO_DEVICE, 0, "mfc:release");
    expect(rec.of("dma_debug_error").map((x) => [x.data.check, x.data.tag, x.data.mapped_by])).toEqual([
      ["unmap-size", "mfc:release", "mfc:firmware"],
      ["map-error-unchecked", "mfc:release", "mfc:firmware"],
    ]);
    expect(mapping.usedPages).toBe(0);
  });
});

describe("DMA-API debug: strict mode, counters, filters", () => {
  it("strict: the faulty call throws EINVAL with the kernel's message and changes nothing", () => {
    const { r, dev } = rig({ strict: true });
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 128, DMA_FROM_DEVICE);
    expect(() => dmaUnmapSingle(dev, a, 64, DMA_FROM_DEVICE)).toThrow(
      kerr("EINVAL", /DMA-API: s5p-fimc s5p-fimc.0: device driver frees DMA memory with different size/),
    );
    expect(dmaDebugEntries(r.kernel)).toHaveLength(1);
    // an overlapping map is refused and undone
    expect(() => dmaMapSingle(dev, b.va, 64, DMA_FROM_DEVICE)).toThrow(kerr("EINVAL", /EEXIST/));
    expect(dmaDebugEntries(r.kernel)).toHaveLength(1);
    dmaUnmapSingle(dev, a, 128, DMA_FROM_DEVICE);
    expect(dmaDebugfs(r.kernel).error_count).toBe(2);
  });

  it("strict behind the SysMMU: a refused map leaves no IOVA behind", () => {
    const r = boot();
    dmaDebugInit(r.kernel, { strict: true });
    const { dev, mapping } = sysmmuDevice(r, "mfc");
    const b = kbuf(r);
    const a = mapChecked(dev, b.va, 64, DMA_BIDIRECTIONAL);
    expect(() => dmaMapSingle(dev, b.va, 64, DMA_BIDIRECTIONAL)).toThrow(kerr("EINVAL"));
    expect(mapping.usedPages).toBe(1);
    dmaUnmapSingle(dev, a, 64, DMA_BIDIRECTIONAL);
  });

  it("debugfs: error_count, free and total entries; num_errors and driver_filter limit what is shown", () => {
    const { r, dev, errors } = rig({ allErrors: false, numErrors: 1, entries: 2 });
    const b = kbuf(r);
    const fs0 = dmaDebugfs(r.kernel);
    expect(fs0).toMatchObject({ nr_total_entries: 2, num_free_entries: 2, all_errors: false, num_errors: 1 });
    const xs = [0, 1, 2].map((i) => mapChecked(dev, b.va + i * 128, 64, DMA_TO_DEVICE));
    expect(dmaDebugfs(r.kernel)).toMatchObject({
      nr_total_entries: 34,
      num_free_entries: 31,
      min_free_entries: 0,
    });
    for (const x of xs) dmaUnmapSingle(dev, x, 32, DMA_TO_DEVICE); // three size errors
    expect(dmaDebugfs(r.kernel)).toMatchObject({ error_count: 3, num_errors: 0, num_free_entries: 34 });
    expect(errors()).toHaveLength(1);
    dmaDebugfsWrite(r.kernel, "all_errors", 1);
    dmaDebugfsWrite(r.kernel, "driver_filter", "other-driver");
    dmaUnmapPage(dev, b.pa, 4, DMA_TO_DEVICE);
    expect(errors()).toHaveLength(1);
    dmaDebugfsWrite(r.kernel, "driver_filter", "s5p-fimc");
    dmaUnmapPage(dev, b.pa, 4, DMA_TO_DEVICE);
    expect(errors()).toHaveLength(2);
    expect(dmaDebugfs(r.kernel).error_count).toBe(5);
    expect(() => dmaDebugfsWrite(r.kernel, "dump", 1)).toThrow(kerr("EINVAL"));
  });

  it("init twice is EBUSY; after exit, nothing is checked", () => {
    const { r, dev, errors } = rig();
    expect(() => dmaDebugInit(r.kernel)).toThrow(kerr("EBUSY"));
    dmaDebugExit(r.kernel);
    const b = kbuf(r);
    dmaUnmapPage(dev, b.pa, 64, DMA_TO_DEVICE);
    expect(errors()).toEqual([]);
    expect(() => dmaDebugfs(r.kernel)).toThrow(kerr("ENODEV"));
  });
});
