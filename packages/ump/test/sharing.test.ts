// Sharing by secure ID: between processes, with the GPU, with a driver's own memory; access
// control; processes that exit while others still use the buffer.
import { cpuInit } from "@umm/arch-arm";
import { createKernel, Device, DMA_BIT_MASK, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { spawn } from "@umm/kernel-process";
import {
  cmaInit,
  cmaInitReservedAreas,
  dmaAllocFromContiguous,
  dmaContiguousReserve,
  dmaReleaseFromContiguous,
} from "@umm/mm-cma";
import { DmaPort, MAP_PRIVATE, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  UMP_ERROR,
  UMP_IOC_MSYNC,
  UMP_IOC_SIZE_GET,
  UMP_IOC_SWITCH_HW_USAGE,
  UMP_MSYNC_CLEAN,
  UMP_MSYNC_INVALIDATE,
  UMP_OK,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  type UmpDdPhysicalBlock,
  umpCpuMsyncNow,
  umpDdGrant,
  umpDdHandleCreateFromPhysBlocks,
  umpDdHandleCreateFromSecureId,
  umpDdPhysBlockGet,
  umpDdReferenceRelease,
  umpDdRevoke,
  umpDeviceFd,
  umpGrant,
  umpHandleCreateFromSecureId,
  umpInit,
  umpLiveHandles,
  umpMemoryUsage,
  umpOpen,
  umpRead,
  umpRefDrvAllocate,
  umpReferenceRelease,
  umpRevoke,
  umpWrite,
} from "../src/index.js";
import { bootUmp, expectUmpConsistent } from "../src/testing.js";
import { dec, enc, rawAlloc, rawClient, rawMap, recording } from "./helpers.js";

function read(h: Parameters<typeof umpRead>[1], len: number, off = 0): string {
  const out = new Uint8Array(len);
  umpRead(out, h, off, len);
  return dec(out);
}

describe("two processes", () => {
  it("share a cached buffer by ID and see each other's bytes (one physically tagged cache)", () => {
    const { kernel, cpu } = bootUmp();
    const a = spawn(kernel, { comm: "a", uid: 1000 });
    const b = spawn(kernel, { comm: "b", uid: 1000 });
    umpOpen(a);
    umpOpen(b);
    const h = umpRefDrvAllocate(a, SZ_1M, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    const v = umpHandleCreateFromSecureId(b, h.secureId)!;
    expect(v.isCached).toBe(1); // the buffer is cached, so B's mapping is too
    umpWrite(h, 5000, enc("from a"), 6);
    expect(read(v, 6, 5000)).toBe("from a");
    umpWrite(v, 0, enc("from b"), 6);
    expect(read(h, 6)).toBe("from b");
    expect(cpu!.checker.total).toBe(0);
  });

  it("with mixed mappings see stale bytes without the right msync, and the checker says so", () => {
    // A allocates uncached (write-combined); B maps it MAP_PRIVATE, which makes it cached for
    // good while A's mapping stays write-combined: ARM's driver allows exactly this.
    const { kernel, cpu } = bootUmp();
    const a = spawn(kernel, { comm: "a", uid: 1000 });
    const b = spawn(kernel, { comm: "b", uid: 1000 });
    umpOpen(a);
    umpOpen(b);
    const h = umpRefDrvAllocate(a, PAGE_SIZE, 0)!;
    expect(h.isCached).toBe(0);
    umpWrite(h, 0, enc("v1"), 2);
    const bva = b.mmap({
      fd: umpDeviceFd(b),
      length: PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE,
      offset: h.secureId * PAGE_SIZE,
    });
    expect(cpu!.checker.counts().alias).toBeGreaterThan(0);
    expect(dec(b.memRead(bva, 2))).toBe("v1"); // B's cache now holds the line
    umpWrite(h, 0, enc("v2"), 2); // A writes memory behind B's line
    expect(dec(b.memRead(bva, 2))).toBe("v1"); // stale
    expect(cpu!.checker.counts()["stale-read"]).toBe(1);
    // B invalidates (through any handle on the buffer: maintenance is by physical address)
    const bh = umpHandleCreateFromSecureId(b, h.secureId)!;
    expect(bh.isCached).toBe(1);
    expect(umpCpuMsyncNow(bh, UMP_MSYNC_INVALIDATE, null, 0)).toBe(1);
    expect(dec(b.memRead(bva, 2))).toBe("v2");
    // B writes into its cache: A reads memory and misses it until B cleans
    b.memWrite(bva, enc("v3"));
    expect(read(h, 2)).toBe("v2");
    umpCpuMsyncNow(bh, UMP_MSYNC_CLEAN, null, 0);
    expect(read(h, 2)).toBe("v3");
    // A's handle still says uncached: its msync does nothing (and costs nothing)
    expect(umpCpuMsyncNow(h, UMP_MSYNC_CLEAN, null, 0)).toBe(0);
  });
});

describe("the CPU and the GPU", () => {
  it("need msync CLEAN before the GPU reads and INVALIDATE before the CPU reads its output", () => {
    const { kernel, mm, cpu } = bootUmp();
    const app = spawn(kernel, { comm: "app", uid: 1000 });
    umpOpen(app);
    const h = umpRefDrvAllocate(app, 2 * PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    umpWrite(h, 0, enc("vertices"), 8);
    // the Mali driver, in the app's ioctl, looks the ID up and reads the first block
    const mali = new DmaPort(mm, new Device(kernel, { name: "mali", dmaMask: DMA_BIT_MASK(32) }));
    const dd = kernel.withCurrent(app, () => umpDdHandleCreateFromSecureId(kernel, h.secureId))!;
    const blk: UmpDdPhysicalBlock = { addr: 0, size: 0 };
    umpDdPhysBlockGet(dd, 0, blk);
    const seen = new Uint8Array(8);
    mali.read(blk.addr, seen);
    expect(dec(seen)).not.toBe("vertices"); // the bytes are still in the CPU cache
    expect(cpu!.checker.counts()["dirty-read"]).toBe(1);
    umpCpuMsyncNow(h, UMP_MSYNC_CLEAN, null, 0);
    mali.read(blk.addr, seen);
    expect(dec(seen)).toBe("vertices");
    mali.write(blk.addr, enc("rendered"));
    expect(read(h, 8)).toBe("vertices"); // stale: the line is still cached
    expect(cpu!.checker.counts()["stale-read"]).toBe(1);
    umpCpuMsyncNow(h, UMP_MSYNC_INVALIDATE, null, 0);
    expect(read(h, 8)).toBe("rendered");
    umpDdReferenceRelease(dd);
    expectUmpConsistent(kernel);
  });
});

describe("access control", () => {
  it("a process without a grant fails to import: EPERM from SIZE_GET, mmap and the sync calls", () => {
    const { kernel } = bootUmp();
    const owner = rawClient(kernel, "owner", 1000);
    const buf = rawAlloc(owner.proc, owner.fd, PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE);
    const thief = rawClient(kernel, "thief", 1001);
    const id = buf.secure_id;
    const { events } = recording(kernel, ["ump_denied"], () => {
      expect(() => thief.proc.ioctl(thief.fd, UMP_IOC_SIZE_GET, { secure_id: id, size: 0 })).toThrow(
        kerr("EPERM"),
      );
      expect(() => rawMap(thief.proc, thief.fd, id, PAGE_SIZE)).toThrow(kerr("EPERM", /may not import/));
      const m = {
        mapping: 0,
        address: 0,
        size: 0,
        op: UMP_MSYNC_INVALIDATE,
        cookie: 0,
        secure_id: id,
        is_cached: 0,
      };
      expect(() => thief.proc.ioctl(thief.fd, UMP_IOC_MSYNC, m)).toThrow(kerr("EPERM"));
      expect(() =>
        thief.proc.ioctl(thief.fd, UMP_IOC_SWITCH_HW_USAGE, { secure_id: id, new_user: 1 }),
      ).toThrow(kerr("EPERM"));
    });
    expect(events.map((e) => e.data)).toEqual(Array(4).fill({ secure_id: id, uid: 1001 }));
    expect(umpDdHandleCreateFromSecureId(kernel, id)!.refCount).toBe(2); // kernel context: trusted
    // a driver acting for the thief gets nothing either
    expect(kernel.withCurrent(thief.proc, () => umpDdHandleCreateFromSecureId(kernel, id))).toBeNull();
  });

  it("the owner grants and revokes; only the owner (or root) may; root imports anything", () => {
    const { kernel } = bootUmp();
    const owner = spawn(kernel, { comm: "owner", uid: 1000 });
    const friend = spawn(kernel, { comm: "friend", uid: 1001 });
    const other = spawn(kernel, { comm: "other", uid: 1002 });
    const root = spawn(kernel, { comm: "root", uid: 0 });
    for (const p of [owner, friend, other, root]) umpOpen(p);
    const h = umpRefDrvAllocate(owner, PAGE_SIZE, 0)!;
    expect(umpHandleCreateFromSecureId(friend, h.secureId)).toBeNull();
    expect(umpGrant(h, 1001)).toBe(UMP_OK);
    const fh = umpHandleCreateFromSecureId(friend, h.secureId)!;
    expect(fh).not.toBeNull();
    expect(umpGrant(fh, 1002)).toBe(UMP_ERROR); // a grantee cannot share further
    expect(umpHandleCreateFromSecureId(other, h.secureId)).toBeNull();
    expect(umpHandleCreateFromSecureId(root, h.secureId)).not.toBeNull();
    expect(umpRevoke(h, 1001)).toBe(UMP_OK);
    expect(umpHandleCreateFromSecureId(friend, h.secureId)).toBeNull();
    expect(read(fh, 1)).toBe("\0"); // what was imported stays imported
  });

  it("in compatibility mode everyone imports everything, as ARM", () => {
    const { kernel } = bootUmp({ compatSequentialIds: true });
    const a = spawn(kernel, { comm: "a", uid: 1000 });
    const b = spawn(kernel, { comm: "b", uid: 2000 });
    umpOpen(a);
    umpOpen(b);
    const h = umpRefDrvAllocate(a, PAGE_SIZE, 0)!;
    expect(h.secureId).toBe(1);
    expect(umpHandleCreateFromSecureId(b, 1)).not.toBeNull();
  });
});

describe("a driver's own memory", () => {
  it("a CMA buffer shared to user space by ID, freed by the driver after the last reference", () => {
    const kernel = createKernel({ seed: 3 });
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
    cmaInit(kernel, { cmdline: "cma=16M" });
    dmaContiguousReserve(kernel);
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    const cpu = cpuInit(kernel);
    umpInit(kernel, { backend: "os" });
    // the camera driver: 1 MiB of CMA, write-combined in the linear map as dma_alloc_writecombine does
    const camera = new Device(kernel, { name: "fimc0", dmaMask: DMA_BIT_MASK(32) });
    const pfn = dmaAllocFromContiguous(camera, 256, 8)!;
    cpu.flushPhys(pfn * PAGE_SIZE, SZ_1M);
    mm.kspace.setLinearMemtype(pfn, 256, "writecombine");
    const port = new DmaPort(mm, camera);
    port.write(pfn * PAGE_SIZE + 64, enc("captured"));
    let freed = false;
    const dd = umpDdHandleCreateFromPhysBlocks(kernel, [{ addr: pfn * PAGE_SIZE, size: SZ_1M }], {
      release: () => {
        mm.kspace.setLinearMemtype(pfn, 256, "cacheable");
        dmaReleaseFromContiguous(camera, pfn, 256);
        freed = true;
      },
    })!;
    expect(dd.isCached).toBe(false);
    expect(dd.ownerUid).toBe(0);
    umpDdGrant(dd, 1000);
    // the viewer gets the ID from the driver (an ioctl of its own) and imports it
    const viewer = spawn(kernel, { comm: "viewer", uid: 1000 });
    umpOpen(viewer);
    const h = umpHandleCreateFromSecureId(viewer, dd.secureId)!;
    expect(h.size).toBe(SZ_1M);
    expect(read(h, 8, 64)).toBe("captured");
    umpWrite(h, 0, enc("ack"), 3);
    const back = new Uint8Array(3);
    port.read(pfn * PAGE_SIZE, back);
    expect(dec(back)).toBe("ack"); // write-combined: no cache in the way
    expect(cpu.checker.total).toBe(0);
    umpDdRevoke(dd, 1000);
    umpDdReferenceRelease(dd); // the driver is done; the viewer still maps it
    expect(freed).toBe(false);
    umpReferenceRelease(h);
    expect(freed).toBe(true);
    expect(umpLiveHandles(kernel)).toEqual([]);
  });

  it("refuses blocks that are not 4 KiB-aligned or not RAM; n = 0 gives a size-0 buffer", () => {
    const { kernel } = bootUmp();
    expect(umpDdHandleCreateFromPhysBlocks(kernel, [{ addr: 0x40000800, size: PAGE_SIZE }])).toBeNull();
    expect(umpDdHandleCreateFromPhysBlocks(kernel, [{ addr: 0x40000000, size: 100 }])).toBeNull();
    expect(umpDdHandleCreateFromPhysBlocks(kernel, [{ addr: 0x10000000, size: PAGE_SIZE }])).toBeNull();
    const empty = umpDdHandleCreateFromPhysBlocks(kernel, [])!;
    expect([empty.size, empty.nrBlocks, empty.refCount]).toEqual([0, 0, 1]);
    umpDdReferenceRelease(empty);
    expect(umpLiveHandles(kernel)).toEqual([]);
  });
});

describe("process exit mid-use", () => {
  it("the buffer lives while another process or a driver holds it; then every block goes back", () => {
    const { kernel, mm } = bootUmp();
    const free = mm.buddy.nrFreePages;
    const producer = spawn(kernel, { comm: "producer", uid: 1000 });
    const consumer = spawn(kernel, { comm: "consumer", uid: 1000 });
    umpOpen(producer);
    umpOpen(consumer);
    const h = umpRefDrvAllocate(producer, 64 * 1024, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    umpWrite(h, 0, enc("last words"), 10);
    const v = umpHandleCreateFromSecureId(consumer, h.secureId)!;
    const dd = umpDdHandleCreateFromSecureId(kernel, h.secureId)!;
    producer.exit(1); // mid-use: its handle and session go
    expect(dd.refCount).toBe(2); // the consumer's mapping and the driver
    expect(read(v, 10)).toBe("last words");
    consumer.exit(0);
    expect(umpLiveHandles(kernel)).toEqual([dd]);
    expect(umpMemoryUsage(kernel)).toBe(64 * 1024);
    umpDdReferenceRelease(dd);
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(mm.buddy.nrFreePages).toBe(free);
  });

  it("a grant-less handle request after the owner died still fails; an exited process's calls are ESRCH", () => {
    const { kernel } = bootUmp();
    const a = rawClient(kernel, "a", 1000);
    const buf = rawAlloc(a.proc, a.fd, PAGE_SIZE);
    a.proc.exit(0);
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(() => a.proc.ioctl(a.fd, UMP_IOC_SIZE_GET, { secure_id: buf.secure_id, size: 0 })).toThrow(
      kerr("ESRCH"),
    );
  });
});
