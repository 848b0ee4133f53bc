// DMA-BUF heaps (§7.4), ports of tools/testing/selftests/dmabuf-heaps/dmabuf-heap.c:
// test_devices, test_alloc_and_import, test_alloc_zeroed_mem, test_alloc_compat,
// test_alloc_errors; plus the system heap's chunk orders and the CMA heap's contiguity.
import { DMA_TO_DEVICE } from "@umm/dma-mapping-arm";
import { createKernel, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import {
  _IO,
  _IOC,
  _IOC_READ,
  _IOC_WRITE,
  _IOR,
  _IOW,
  _IOWR,
  findChrdev,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  type Process,
} from "@umm/kernel-process";
import { MAP_PRIVATE, MAP_SHARED, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_HEAP_IOCTL_ALLOC,
  type DmaHeapAllocationData,
  dmaBufAttach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaHeapAdd,
  dmaHeaps,
} from "../src/index.js";
import { boot, cmaUsed, directDevice, dmaRead, expectNoBuffers, proc, record } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;
const HEAPS = ["system", "default_cma_region"] as const;

function heapAlloc(p: Process, heap: string, len: number, fdFlags = O_RDWR | O_CLOEXEC): number {
  const h = p.open(`/dev/dma_heap/${heap}`, O_RDONLY);
  try {
    const req: DmaHeapAllocationData = { len, fd: 0, fd_flags: fdFlags, heap_flags: 0 };
    p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, req);
    return req.fd;
  } finally {
    p.close(h);
  }
}

describe("heap devices", () => {
  it("test_devices: /dev/dma_heap holds system, default_cma_region and the legacy CMA name", () => {
    const r = boot();
    expect(dmaHeaps(r.kernel).sort()).toEqual(["default_cma_region", "reserved", "system"]);
    for (const n of dmaHeaps(r.kernel)) expect(findChrdev(r.kernel, `/dev/dma_heap/${n}`)?.mode).toBe(0o444);
  });

  it("dma_heap_add: EINVAL for an empty name, no allocate op or a name taken", () => {
    const r = boot();
    const allocate = () => {
      throw new Error("unused");
    };
    expect(() => dmaHeapAdd(r.kernel, { name: "", ops: { allocate } })).toThrow(kerr("EINVAL", /empty/));
    expect(() => dmaHeapAdd(r.kernel, { name: "x", ops: {} as never })).toThrow(kerr("EINVAL", /allocate/));
    expect(() => dmaHeapAdd(r.kernel, { name: "system", ops: { allocate } })).toThrow(
      kerr("EINVAL", /Already registered/),
    );
    expect(dmaHeaps(r.kernel)).not.toContain("x");
  });
});

describe.each(HEAPS)("%s heap", (heap) => {
  it("test_alloc_and_import: a buffer mapped by the CPU and by a device sees the same bytes", async () => {
    const r = boot();
    const p = proc(r, "app");
    const fd = heapAlloc(p, heap, SZ_1M);
    const va = p.mmap({ fd, length: SZ_1M, prot: RW, flags: MAP_SHARED });
    await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW });
    p.memFill(va, 0xa5, SZ_1M);
    await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW });
    const { dev, port } = directDevice(r, "importer");
    const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, fd));
    const att = dmaBufAttach(buf, dev);
    const sgt = dmaBufMapAttachment(att, DMA_TO_DEVICE);
    expect(dmaRead(port, sgt, SZ_1M - 4, 4)).toEqual(new Uint8Array([0xa5, 0xa5, 0xa5, 0xa5]));
    dmaBufPut(buf); // the importer's file would do this at close; detach on release warns
    p.exit(0);
  });

  it("test_alloc_zeroed_mem: every allocation is zeroed, 32 times over reused memory", () => {
    const r = boot();
    const p = proc(r, "app");
    for (let i = 0; i < 32; i++) {
      const fd = heapAlloc(p, heap, SZ_1M);
      const va = p.mmap({ fd, length: SZ_1M, prot: RW, flags: MAP_SHARED });
      const got = p.memRead(va, SZ_1M);
      expect(got.every((b) => b === 0)).toBe(true);
      p.memFill(va, 0xff, SZ_1M);
      p.munmap(va, SZ_1M);
      p.close(fd);
    }
    expectNoBuffers(r);
  });

  it("test_alloc_compat: an older 16-byte struct works (heap_flags read as 0)", () => {
    const r = boot();
    const p = proc(r, "app");
    const h = p.open(`/dev/dma_heap/${heap}`, O_RDONLY);
    const older = { len: SZ_4K, fd: 0, fd_flags: O_RDWR, heap_flags: 0xdead };
    p.ioctl(h, _IOWR("H", 0, 16), older);
    expect(older.fd).toBeGreaterThan(0);
    expect(older.heap_flags).toBe(0xdead); // beyond the copied size: untouched
    expect(p.lseek(older.fd, 0, 2)).toBe(SZ_4K);
  });

  it("test_alloc_compat: a newer, larger struct works; its extra bytes are ignored", () => {
    const r = boot();
    const p = proc(r, "app");
    const h = p.open(`/dev/dma_heap/${heap}`, O_RDONLY);
    const bigger = new Uint8Array(56).fill(0xee, 24); // len, fd, fd_flags, heap_flags, garbage x4
    const dv = new DataView(bigger.buffer);
    dv.setUint32(0, 3 * SZ_4K, true);
    dv.setUint32(12, O_RDWR, true);
    p.ioctl(h, _IOWR("H", 0, 56), bigger);
    const fd = dv.getUint32(8, true);
    expect(p.lseek(fd, 0, 2)).toBe(3 * SZ_4K);
    expect(bigger.subarray(24).every((b) => b === 0xee)).toBe(true);
  });

  it("test_alloc_errors: bad fd_flags, heap_flags or both are EINVAL and allocate nothing", () => {
    const r = boot();
    const p = proc(r, "app");
    const h = p.open(`/dev/dma_heap/${heap}`, O_RDONLY);
    const free0 = r.mm.buddy.nrFreePages;
    const used0 = cmaUsed(r);
    const bad = (req: Partial<DmaHeapAllocationData>, re: RegExp) =>
      expect(() =>
        p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, { len: SZ_1M, fd: 0, fd_flags: O_RDWR, heap_flags: 0, ...req }),
      ).toThrow(kerr("EINVAL", re));
    bad({ fd_flags: ~(O_RDWR | O_CLOEXEC) >>> 0 }, /fd_flags/);
    bad({ heap_flags: 0xffffffffffffffffn }, /heap_flags/);
    bad({ fd_flags: 0xffffffff, heap_flags: 0xffffffffffffffffn }, /fd_flags/);
    bad({ heap_flags: 2 ** 40 }, /heap_flags/);
    bad({ fd: 3 }, /fd 3 must be 0/);
    bad({ fd: 3, fd_flags: 0xffffffff }, /fd 3/); // fd is checked first
    bad({ len: 0 }, /len 0/);
    expect(r.mm.buddy.nrFreePages).toBe(free0);
    expect(cmaUsed(r)).toBe(used0);
    expect(p.fds.count).toBe(1);
  });
});

describe("DMA_HEAP_IOCTL_ALLOC command decoding", () => {
  it("only _IOC_NR 0 is known (EINVAL otherwise); the type is not checked", () => {
    const r = boot();
    const p = proc(r, "app");
    const h = p.open("/dev/dma_heap/system", O_RDONLY);
    const req = () => ({ len: SZ_4K, fd: 0, fd_flags: O_RDWR, heap_flags: 0 });
    expect(() => p.ioctl(h, _IOWR("H", 1, 24), req())).toThrow(kerr("EINVAL", /number 1/));
    const other = req();
    p.ioctl(h, _IOWR("X", 0, 24), other);
    expect(other.fd).toBeGreaterThan(0);
  });

  it("without _IOC_WRITE nothing is read (len 0: EINVAL); without _IOC_READ the fd is not written back", () => {
    const r = boot();
    const p = proc(r, "app");
    const h = p.open("/dev/dma_heap/system", O_RDONLY);
    expect(() =>
      p.ioctl(h, _IOR("H", 0, 24), { len: SZ_4K, fd: 0, fd_flags: O_RDWR, heap_flags: 0 }),
    ).toThrow(kerr("EINVAL", /len 0/));
    expect(() => p.ioctl(h, _IO("H", 0), { len: SZ_4K, fd: 0, fd_flags: O_RDWR, heap_flags: 0 })).toThrow(
      kerr("EINVAL", /len 0/),
    );
    const inOnly = { len: SZ_4K, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
    p.ioctl(h, _IOW("H", 0, 24), inOnly);
    expect(inOnly.fd).toBe(0);
    expect(p.fds.count).toBe(2); // allocated all the same: the fd is there, user space never learns it
  });

  it("rounds len up to pages; len is a 32-bit size_t on ARM32", () => {
    const r = boot();
    const p = proc(r, "app");
    expect(p.lseek(heapAlloc(p, "system", 1), 0, 2)).toBe(PAGE_SIZE);
    const h = p.open("/dev/dma_heap/system", O_RDONLY);
    // 4 GiB + 8 KiB truncates to 8 KiB; 0xfffff001 rounds past 32 bits to 0
    const big = { len: 2 ** 32 + 2 * SZ_4K, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
    p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, big);
    expect(p.lseek(big.fd, 0, 2)).toBe(2 * SZ_4K);
    expect(() =>
      p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, { len: 0xfffff001, fd: 0, fd_flags: O_RDWR, heap_flags: 0 }),
    ).toThrow(kerr("EINVAL", /len/));
  });

  it("EFAULT for raw bytes shorter than the command's size, or a bad pointer", () => {
    const r = boot();
    const p = proc(r, "app");
    const h = p.open("/dev/dma_heap/system", O_RDONLY);
    expect(() => p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, new Uint8Array(8))).toThrow(kerr("EFAULT"));
    expect(() => p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, 5)).toThrow(kerr("EFAULT"));
    expect(() => p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, { len: "big" })).toThrow(kerr("EFAULT"));
    expect(_IOC(_IOC_READ | _IOC_WRITE, "H", 0, 24)).toBe(DMA_HEAP_IOCTL_ALLOC);
  });

  it("emits dma_heap_alloc with the page-aligned length", () => {
    const r = boot();
    const rec = record(r.kernel, ["dma_heap_alloc", "dma_buf_export", "dma_buf_fd"]);
    const p = proc(r, "app");
    heapAlloc(p, "default_cma_region", 5000);
    expect(rec.records().map((e) => e.name)).toEqual(["dma_buf_export", "dma_buf_fd", "dma_heap_alloc"]);
    expect(rec.of("dma_heap_alloc")[0]!.data).toEqual({ heap: "default_cma_region", len: 2 * PAGE_SIZE });
  });

  it("fd_flags give the file's access mode: an O_RDONLY buffer cannot be mapped shared writable", () => {
    const r = boot();
    const p = proc(r, "app");
    const fd = heapAlloc(p, "system", SZ_4K, O_RDONLY);
    expect(p.getFileFlags(fd) & 3).toBe(O_RDONLY);
    expect(p.getFdFlags(fd)).toBe(0);
    expect(() => p.mmap({ fd, length: SZ_4K, prot: RW, flags: MAP_SHARED })).toThrow(kerr("EACCES"));
    expect(p.getFileFlags(heapAlloc(p, "system", SZ_4K, O_WRONLY)) & 3).toBe(O_WRONLY);
  });
});

describe("system heap", () => {
  it("allocates 1 MiB, 64 KiB and 4 KiB chunks, largest first, one sg entry each", () => {
    const r = boot();
    const p = proc(r, "app");
    const len = 2 * SZ_1M + 3 * SZ_64K + 2 * SZ_4K;
    const fd = heapAlloc(p, "system", len);
    const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, fd));
    const sgt = dmaBufMapAttachment(dmaBufAttach(buf, directDevice(r, "d").dev), DMA_TO_DEVICE);
    expect(sgt.sgl.map((s) => s.length)).toEqual([SZ_1M, SZ_1M, SZ_64K, SZ_64K, SZ_64K, SZ_4K, SZ_4K]);
    for (const s of sgt.sgl) expect(s.pfn % (s.length / PAGE_SIZE)).toBe(0);
    expect(r.mm.frames.ownerOf(sgt.sgl[0]!.pfn)).toBe("dma-heap:system");
  });

  it("ENOMEM when the pages run out, and nothing stays allocated", () => {
    const r = boot({ size: 64 * SZ_1M, cmaMiB: 16 });
    const p = proc(r, "app");
    const free0 = r.mm.buddy.nrFreePages;
    expect(() => heapAlloc(p, "system", 200 * SZ_1M)).toThrow(kerr("ENOMEM"));
    expect(r.mm.buddy.nrFreePages).toBe(free0);
    expectNoBuffers(r);
  });

  it("a len above the machine's RAM (4 GiB - 4 KiB as a 32-bit size_t from -4096) is ENOMEM before anything is allocated", () => {
    const r = boot({ size: 64 * SZ_1M, cmaMiB: 16 });
    const p = proc(r, "app");
    const f = r.mm.frames;
    const before = [JSON.stringify(r.mm.buddy.buddyinfo()), Buffer.from(f.pageblockMt), Buffer.from(f.next)];
    for (const len of [-PAGE_SIZE, 2 ** 32 - PAGE_SIZE, 65 * SZ_1M]) {
      expect(() => heapAlloc(p, "system", len)).toThrow(kerr("ENOMEM", /more than the \d+ pages of RAM/));
    }
    // no page was taken and given back: not even the free lists' order or a pageblock's type moved
    expect([JSON.stringify(r.mm.buddy.buddyinfo()), Buffer.from(f.pageblockMt), Buffer.from(f.next)]).toEqual(
      before,
    );
    expectNoBuffers(r);
  });

  it("takes highmem pages too, which devices, processes and vmap reach", async () => {
    const r = boot({ size: 128 * SZ_1M, lowmemSize: 64 * SZ_1M });
    const p = proc(r, "app");
    const fd = heapAlloc(p, "system", 80 * SZ_1M);
    const va = p.mmap({ fd, length: 80 * SZ_1M, prot: RW, flags: MAP_SHARED });
    p.memWrite(va + 79 * SZ_1M, new Uint8Array([1, 2, 3]));
    await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW });
    const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, fd));
    const { dev, port } = directDevice(r, "d");
    const sgt = dmaBufMapAttachment(dmaBufAttach(buf, dev), DMA_TO_DEVICE);
    expect(sgt.sgl.some((s) => s.pfn * PAGE_SIZE >= r.mm.kspace.lowmemEnd)).toBe(true);
    expect([...dmaRead(port, sgt, 79 * SZ_1M, 3)]).toEqual([1, 2, 3]);
  });

  it("a private mapping is allowed (remap_pfn_range)", () => {
    const r = boot();
    const p = proc(r, "app");
    const fd = heapAlloc(p, "system", SZ_4K);
    p.mmap({ fd, length: SZ_4K, prot: PROT_READ, flags: MAP_PRIVATE });
  });
});

describe("CMA heap", () => {
  it("one physically contiguous, aligned chunk from the default area; `used` returns at release", () => {
    const r = boot();
    const p = proc(r, "app");
    const used0 = cmaUsed(r);
    const fd = heapAlloc(p, "default_cma_region", 3 * SZ_1M);
    expect(cmaUsed(r)).toBe(used0 + (3 * SZ_1M) / PAGE_SIZE);
    const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, fd));
    const sgt = dmaBufMapAttachment(dmaBufAttach(buf, directDevice(r, "d").dev), DMA_TO_DEVICE);
    expect(sgt.origNents).toBe(1);
    expect(sgt.sgl[0]!.length).toBe(3 * SZ_1M);
    expect(sgt.sgl[0]!.pfn % 256).toBe(0); // aligned to min(get_order(3 MiB), CONFIG_CMA_ALIGNMENT = 8)
    dmaBufPut(buf);
    p.exit(0);
    expect(cmaUsed(r)).toBe(used0);
  });

  it("mmap needs MAP_SHARED (EINVAL otherwise)", () => {
    const r = boot();
    const p = proc(r, "app");
    const fd = heapAlloc(p, "reserved", SZ_4K);
    expect(() => p.mmap({ fd, length: SZ_4K, prot: PROT_READ, flags: MAP_PRIVATE })).toThrow(
      kerr("EINVAL", /MAP_SHARED/),
    );
  });

  it("ENOMEM when the area has no room; the area is unchanged", () => {
    const r = boot({ cmaMiB: 16 });
    const p = proc(r, "app");
    const used0 = cmaUsed(r);
    expect(() => heapAlloc(p, "default_cma_region", 17 * SZ_1M)).toThrow(kerr("ENOMEM"));
    expect(cmaUsed(r)).toBe(used0);
    expectNoBuffers(r);
  });

  it("is not registered when the kernel has no default area", async () => {
    const { addDefaultCmaHeap } = await import("../src/index.js");
    const kernel = createKernel();
    mmInit(kernel, { banks: [{ start: 0x40000000, size: 16 * SZ_1M }] }).memblockFreeAll();
    const { cmaInit } = await import("@umm/mm-cma");
    cmaInit(kernel, { cmdline: "" });
    expect(addDefaultCmaHeap(kernel)).toBeNull();
    expect(dmaHeaps(kernel)).toEqual([]);
  });
});
