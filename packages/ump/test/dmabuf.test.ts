// dma-buf interop: a UMP buffer exported as a dma-buf fd, and a dma-buf fd imported as a UMP
// handle (Samsung's UMP_IOC_DMABUF_IMPORT).
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufStats,
  dmaBufUnmapAttachment,
  systemHeapCreate,
} from "@umm/dma-buf";
import { DMA_FROM_DEVICE, DMA_TO_DEVICE } from "@umm/dma-mapping-arm";
import { Device, DMA_BIT_MASK, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { O_RDONLY, O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { DmaPort, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  UMP_DD_SUCCESS,
  UMP_IOC_DMABUF_EXPORT,
  UMP_IOC_DMABUF_IMPORT,
  UMP_MSYNC_CLEAN,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  type UmpDdPhysicalBlock,
  umpCpuMsyncNow,
  umpDdDmaBufExport,
  umpDdHandleCreateFromDmaBuf,
  umpDdHandleCreateFromPhysBlocks,
  umpDdHandleGet,
  umpDdPhysBlocksGet,
  umpDdReferenceRelease,
  umpDeviceFd,
  umpDmaBufExport,
  umpDmaBufImport,
  umpLiveHandles,
  umpMemoryUsage,
  umpOpen,
  umpRead,
  umpRefDrvAllocate,
  umpReferenceRelease,
  umpWrite,
} from "../src/index.js";
import { bootUmp, expectUmpConsistent } from "../src/testing.js";
import { dec, enc, rawAlloc, rawClient, recording } from "./helpers.js";

function heapAlloc(proc: Process, len: number): number {
  const heap = proc.open("/dev/dma_heap/system", O_RDONLY);
  const req = { len, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
  proc.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req);
  proc.close(heap);
  return req.fd;
}

describe("exporting a UMP buffer as a dma-buf", () => {
  it("gives a device the UMP blocks; the dma-buf keeps the buffer until its last reference", () => {
    const { kernel, mm, cpu } = bootUmp({ backend: "dedicated" });
    const app = spawn(kernel, { comm: "app", uid: 1000 });
    umpOpen(app);
    const h = umpRefDrvAllocate(app, 600 * 1024, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    umpWrite(h, 0, enc("to the display"), 14);
    const fd = umpDmaBufExport(h);
    expect(fd).toBeGreaterThanOrEqual(0);
    // the display driver imports the fd for its scanout engine (no IOMMU: bus address = P.A)
    const fimd = new Device(kernel, { name: "fimd0", dmaMask: DMA_BIT_MASK(32) });
    const buf = kernel.withCurrent(app, () => dmaBufGet(kernel, fd));
    expect([buf.expName, buf.size]).toEqual(["ump", 3 * 256 * 1024]);
    const att = dmaBufAttach(buf, fimd);
    const sgt = dmaBufMapAttachment(att, DMA_TO_DEVICE); // cleans the CPU's lines
    const blocks = umpDdHandleGet(kernel, h.secureId)!.blocks;
    expect(sgt.dmaSegments()).toEqual(blocks.map((b) => ({ dmaAddress: b.addr, dmaLength: b.size })));
    const seen = new Uint8Array(14);
    new DmaPort(mm, fimd).read(sgt.sgl[0]!.dmaAddress, seen);
    expect(dec(seen)).toBe("to the display");
    expect(cpu!.checker.total).toBe(0);
    // the app lets go of everything; the driver's dma-buf reference holds the UMP buffer
    umpReferenceRelease(h);
    app.close(fd);
    expect(umpDdHandleGet(kernel, h.secureId)?.kernelRefs).toBe(1);
    expectUmpConsistent(kernel);
    dmaBufUnmapAttachment(att, sgt, DMA_TO_DEVICE);
    dmaBufDetach(buf, att);
    const { events } = recording(kernel, ["ump_release"], () => dmaBufPut(buf));
    expect(events.map((e) => e.data)).toEqual([{ secure_id: h.secureId }]);
    expect(umpMemoryUsage(kernel)).toBe(0);
  });

  // found by tools/fuzz: two exports of one cached buffer, a device importing one, the CPU
  // writing through the other — DMA_BUF_IOCTL_SYNC synced only the attachments of the dma-buf it
  // was called on, and the device's write landed under a dirty CPU line
  it("CPU access through one export is synced for the devices of every export of the buffer", () => {
    const { kernel, mm, cpu } = bootUmp({ backend: "dedicated" });
    const app = spawn(kernel, { comm: "app", uid: 1000 });
    umpOpen(app);
    const h = umpRefDrvAllocate(app, 2 * PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    const fdA = umpDmaBufExport(h);
    const fdB = umpDmaBufExport(h);
    // a capture engine imports export B, mapped for it to write
    const cam = new Device(kernel, { name: "cam", dmaMask: DMA_BIT_MASK(32) });
    const bufB = kernel.withCurrent(app, () => dmaBufGet(kernel, fdB));
    const att = dmaBufAttach(bufB, cam);
    const sgt = dmaBufMapAttachment(att, DMA_FROM_DEVICE);
    // the app writes through export A, bracketed as it should be
    const va = app.mmap({ fd: fdA, length: 2 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    app.ioctl(fdA, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
    app.memWrite(va, enc("cpu"));
    app.ioctl(fdA, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });
    // the device writes: no dirty CPU line is left to overwrite its bytes
    new DmaPort(mm, cam).write(sgt.sgl[0]!.dmaAddress, enc("dev"));
    // and the app, syncing through A for reading, sees them
    app.ioctl(fdA, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ });
    expect(dec(app.memRead(va, 3))).toBe("dev");
    app.ioctl(fdA, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ });
    expect(cpu!.checker.total).toBe(0);
    dmaBufUnmapAttachment(att, sgt, DMA_FROM_DEVICE);
    dmaBufDetach(bufB, att);
    dmaBufPut(bufB);
    app.exit(0);
    expect(umpMemoryUsage(kernel)).toBe(0);
  });

  it("maps into another process with the buffer's memory type", () => {
    const { kernel } = bootUmp();
    const a = spawn(kernel, { comm: "a", uid: 1000 });
    const b = spawn(kernel, { comm: "b", uid: 1001 });
    umpOpen(a);
    const listen = b.listen("/run/ump");
    for (const [constraints, memtype] of [
      [0, 1],
      [UMP_REF_DRV_CONSTRAINT_USE_CACHE, 0],
    ] as const) {
      const h = umpRefDrvAllocate(a, 2 * PAGE_SIZE, constraints)!;
      umpWrite(h, PAGE_SIZE, enc("page two"), 8);
      const fd = umpDmaBufExport(h, true);
      a.sendmsg(a.connect("/run/ump"), { fds: [fd] });
      const [got] = b.recvmsg(b.accept(listen)).fds;
      // an fd passed on is the access control of dma-bufs: no grant needed
      const va = b.mmap({ fd: got!, length: 2 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
      expect(b.space.findVma(va)?.memtype).toBe(memtype);
      expect(dec(b.memRead(va + PAGE_SIZE, 8))).toBe("page two");
    }
  });

  it("needs import rights (EPERM), a known ID (EFAULT) and no flags but O_CLOEXEC (EINVAL); kernel export of a size-0 buffer is EINVAL", () => {
    const { kernel } = bootUmp();
    const owner = rawClient(kernel, "owner", 1000);
    const buf = rawAlloc(owner.proc, owner.fd, PAGE_SIZE);
    const other = rawClient(kernel, "other", 1001);
    const arg = { secure_id: buf.secure_id, flags: 0, fd: -1 };
    expect(() => other.proc.ioctl(other.fd, UMP_IOC_DMABUF_EXPORT, arg)).toThrow(kerr("EPERM"));
    expect(() => other.proc.ioctl(other.fd, UMP_IOC_DMABUF_EXPORT, { ...arg, secure_id: 3 })).toThrow(
      kerr("EFAULT"),
    );
    expect(arg.fd).toBe(-1);
    expect(dmaBufStats(kernel)).toEqual([]);
    // flags other than O_CLOEXEC (as VIDIOC_EXPBUF and PRIME refuse them): EINVAL, no fd, no buffer
    const fds = owner.proc.fds.fds();
    for (const flags of [0x40000000, 0o2 | 0o2000000, 1]) {
      expect(() => owner.proc.ioctl(owner.fd, UMP_IOC_DMABUF_EXPORT, { ...arg, flags })).toThrow(
        kerr("EINVAL", /flags/),
      );
    }
    expect(owner.proc.fds.fds()).toEqual(fds);
    expect(dmaBufStats(kernel)).toEqual([]);
    owner.proc.ioctl(owner.fd, UMP_IOC_DMABUF_EXPORT, arg);
    expect(arg.fd).toBeGreaterThan(owner.fd);
    const empty = umpDdHandleCreateFromPhysBlocks(kernel, [])!;
    expect(() => umpDdDmaBufExport(empty)).toThrow(kerr("EINVAL", /no memory/));
    expect(empty.refCount).toBe(1);
  });
});

describe("importing a dma-buf as a UMP buffer", () => {
  it("describes the dma-buf's pages in UMP blocks, cached like the heap's memory", () => {
    const { kernel, cpu } = bootUmp();
    systemHeapCreate(kernel);
    const app = spawn(kernel, { comm: "app", uid: 1000 });
    umpOpen(app);
    const fd = heapAlloc(app, SZ_1M);
    const va = app.mmap({ fd, length: SZ_1M, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    app.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
    app.memWrite(va + 4096, enc("from the heap"));
    app.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });
    const { result: h, events } = recording(kernel, ["ump_alloc"], () => umpDmaBufImport(app, fd));
    expect(h).not.toBeNull();
    expect(events.map((e) => [e.data.backend, e.data.size, e.data.cached])).toEqual([
      ["dmabuf", SZ_1M, true],
    ]);
    expect(h!.isCached).toBe(1);
    expect(h!.size).toBe(SZ_1M);
    const got = new Uint8Array(13);
    umpRead(got, h!, 4096, 13);
    expect(dec(got)).toBe("from the heap");
    // the UMP blocks are the heap buffer's pages
    const dd = umpDdHandleGet(kernel, h!.secureId)!;
    const blocks: UmpDdPhysicalBlock[] = [];
    expect(umpDdPhysBlocksGet(dd, blocks, dd.nrBlocks)).toBe(UMP_DD_SUCCESS);
    expect(blocks.reduce((n, b) => n + b.size, 0)).toBe(SZ_1M);
    expect(app.space.translate(va + 4096)).toBe(app.space.translate(h!.mappedMem + 4096));
    expect(cpu!.checker.total).toBe(0);
    expect(dmaBufStats(kernel)[0]).toMatchObject({ attachments: ["ump"] });
    expectUmpConsistent(kernel);
    // UMP gives its attachment and reference back at the last UMP reference
    umpCpuMsyncNow(h!, UMP_MSYNC_CLEAN, null, 0);
    umpReferenceRelease(h!);
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(dmaBufStats(kernel)[0]).toMatchObject({ attachments: [] });
    expect(dec(app.memRead(va + 4096, 13))).toBe("from the heap");
  });

  it("process exit drops the UMP buffer, its attachment and the dma-buf: the pages go back", () => {
    const { kernel, mm } = bootUmp();
    systemHeapCreate(kernel);
    const free = mm.buddy.nrFreePages;
    const app = spawn(kernel, { comm: "app", uid: 1000 });
    umpOpen(app);
    const fd = heapAlloc(app, 256 * 1024);
    const a = { fd, size: 0, secure_id: 0 };
    app.ioctl(umpDeviceFd(app), UMP_IOC_DMABUF_IMPORT, a);
    expect(a.size).toBe(256 * 1024);
    app.close(fd);
    expect(dmaBufStats(kernel).length).toBe(1); // the UMP session holds it
    app.exit(0);
    expect(dmaBufStats(kernel)).toEqual([]);
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(mm.buddy.nrFreePages).toBe(free);
  });

  it("refuses an fd that is not a dma-buf (EINVAL) or not open (EBADF)", () => {
    const { kernel } = bootUmp();
    const app = spawn(kernel, { comm: "app" });
    umpOpen(app);
    const ump = umpDeviceFd(app);
    expect(() => app.ioctl(ump, UMP_IOC_DMABUF_IMPORT, { fd: ump, size: 0, secure_id: 0 })).toThrow(
      kerr("EINVAL"),
    );
    expect(() => app.ioctl(ump, UMP_IOC_DMABUF_IMPORT, { fd: 99, size: 0, secure_id: 0 })).toThrow(
      kerr("EBADF"),
    );
    expect(umpDmaBufImport(app, 99)).toBeNull();
    expect(umpLiveHandles(kernel)).toEqual([]);
  });

  it("from the kernel: a handle the caller releases", () => {
    const { kernel } = bootUmp();
    systemHeapCreate(kernel);
    const app = spawn(kernel, { comm: "app" });
    const fd = heapAlloc(app, 64 * 1024);
    const buf = kernel.withCurrent(app, () => dmaBufGet(kernel, fd));
    const h = umpDdHandleCreateFromDmaBuf(kernel, buf)!;
    expect([h.size, h.kernelRefs, h.backend]).toEqual([64 * 1024, 1, "dmabuf"]);
    dmaBufPut(buf);
    app.close(fd);
    expect(dmaBufStats(kernel).length).toBe(1);
    umpDdReferenceRelease(h);
    expect(dmaBufStats(kernel)).toEqual([]);
  });
});
