// The dma-buf core (§7.1): export checks, fds and references, attachments and mappings, CPU
// access, kernel and user mmap, vmap counting, llseek, fdinfo and debugfs.
import { DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_NONE, DMA_TO_DEVICE, SgTable } from "@umm/dma-mapping-arm";
import { type Device, KernelBug, KernelError, PAGE_SIZE, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import {
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  registerChrdev,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
} from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  DMA_HEAP_IOCTL_ALLOC,
  DMA_RESV_USAGE_KERNEL,
  type DmaBuf,
  type DmaBufOps,
  DmaFence,
  dmaBufAttach,
  dmaBufBeginCpuAccess,
  dmaBufDebugfsBufinfo,
  dmaBufDetach,
  dmaBufDynamicAttach,
  dmaBufEndCpuAccess,
  dmaBufExport,
  dmaBufFd,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufMmap,
  dmaBufMoveNotify,
  dmaBufPin,
  dmaBufPut,
  dmaBufShowFdinfo,
  dmaBufStats,
  dmaBufUnmapAttachment,
  dmaBufUnpin,
  dmaBufVmap,
  dmaBufVunmap,
  dmaFenceContextAlloc,
  dmaFenceSignal,
  dmaResvAddFence,
  dmaResvLock,
  dmaResvReserveFences,
  dmaResvUnlock,
  getDmaBuf,
  isDmaBufFile,
  mockFenceOps,
} from "../src/index.js";
import { boot, directDevice, expectNoBuffers, proc, type Rig, record } from "./helpers.js";

/** A minimal exporter over `pages` buddy pages that logs what the core asked of it. */
function fakeExporter(r: Rig, pages = 4, extra: Partial<DmaBufOps> = {}) {
  const pfn = r.mm.buddy.allocPages(Math.log2(pages), 0)!;
  const log: string[] = [];
  const ops: DmaBufOps = {
    attach: (_b, att) => {
      log.push(`attach ${att.dev.name}`);
    },
    detach: (_b, att) => {
      log.push(`detach ${att.dev.name}`);
    },
    mapDmaBuf: (att, dir) => {
      log.push(`map ${att.dev.name} ${dir}`);
      const t = new SgTable([{ pfn, length: pages * PAGE_SIZE }]);
      t.sgl[0]!.dmaAddress = pfn * PAGE_SIZE;
      t.sgl[0]!.dmaLength = pages * PAGE_SIZE;
      return t;
    },
    unmapDmaBuf: (att, _sgt, dir) => {
      log.push(`unmap ${att.dev.name} ${dir}`);
    },
    release: () => {
      log.push("release");
      r.mm.buddy.freePages(pfn, Math.log2(pages));
    },
    beginCpuAccess: (_b, dir) => {
      log.push(`begin ${dir}`);
    },
    endCpuAccess: (_b, dir) => {
      log.push(`end ${dir}`);
    },
    mmap: (_b, vma) => {
      log.push(`mmap ${vma.pgoff}`);
      vma.setPages(Array.from({ length: vma.length / PAGE_SIZE }, (_, i) => pfn + vma.pgoff + i));
    },
    vmap: () => {
      log.push("vmap");
      return r.mm.kspace.vmap(Int32Array.from({ length: pages }, (_, i) => pfn + i));
    },
    vunmap: (_b, kaddr) => {
      log.push("vunmap");
      r.mm.kspace.vunmap(kaddr);
    },
    ...extra,
  };
  const exp = (flags = O_RDWR) =>
    dmaBufExport(r.kernel, { expName: "fake", ops, size: pages * PAGE_SIZE, flags, priv: { pfn } });
  return { pfn, log, ops, exp };
}

describe("dma_buf_export", () => {
  it("checks the ops: map, unmap and release are required; pin and unpin come together (EINVAL)", () => {
    const r = boot();
    const { ops } = fakeExporter(r);
    const base = { expName: "x", size: PAGE_SIZE, flags: O_RDWR, priv: {} };
    const { mapDmaBuf: _m, ...noMap } = ops;
    const { unmapDmaBuf: _u, ...noUnmap } = ops;
    const { release: _r, ...noRelease } = ops;
    expect(() => dmaBufExport(r.kernel, { ...base, ops: noMap as DmaBufOps })).toThrow(
      kerr("EINVAL", /mapDmaBuf/),
    );
    expect(() => dmaBufExport(r.kernel, { ...base, ops: noUnmap as DmaBufOps })).toThrow(
      kerr("EINVAL", /unmapDmaBuf/),
    );
    expect(() => dmaBufExport(r.kernel, { ...base, ops: noRelease as DmaBufOps })).toThrow(
      kerr("EINVAL", /release/),
    );
    expect(() => dmaBufExport(r.kernel, { ...base, ops: { ...ops, pin: () => {} } })).toThrow(
      kerr("EINVAL", /pin or unpin/),
    );
    expect(() => dmaBufExport(r.kernel, { ...base, ops: { ...ops, unpin: () => {} } })).toThrow(
      kerr("EINVAL", /pin or unpin/),
    );
    expect(() => dmaBufExport(r.kernel, { ...base, ops, priv: null })).toThrow(kerr("EINVAL", /priv/));
    expect(() => dmaBufExport(r.kernel, { ...base, ops, size: -1 })).toThrow(kerr("EINVAL", /size/));
    expect(() => dmaBufExport(r.kernel, { ...base, ops, flags: 3 })).toThrow(kerr("EINVAL", /access mode/));
    expectNoBuffers(r);
  });

  it("gives each buffer a unique inode, its own reservation object unless one is given, and traces it", () => {
    const r = boot();
    const rec = record(r.kernel, ["dma_buf_export", "dma_buf_release"]);
    const a = fakeExporter(r).exp();
    const other = fakeExporter(r, 1);
    const b = dmaBufExport(r.kernel, {
      expName: "fake",
      ops: other.ops,
      size: PAGE_SIZE,
      flags: O_RDWR,
      priv: {},
      resv: a.resv,
    });
    expect(a.ino).not.toBe(b.ino);
    expect(b.resv).toBe(a.resv);
    expect(isDmaBufFile(a.file)).toBe(true);
    expect(a.file.path).toBe("anon_inode:dmabuf");
    expect(rec.of("dma_buf_export").map((e) => e.data)).toEqual([
      { exp_name: "fake", size: 4 * PAGE_SIZE, ino: a.ino },
      { exp_name: "fake", size: PAGE_SIZE, ino: b.ino },
    ]);
    dmaBufPut(b);
    dmaBufPut(a);
    expect(rec.of("dma_buf_release")).toHaveLength(2);
    expectNoBuffers(r);
  });
});

describe("fds and references", () => {
  it("dma_buf_fd installs in the current process (O_CLOEXEC honoured); ESRCH outside any process", () => {
    const r = boot();
    const { exp } = fakeExporter(r);
    const buf = exp();
    expect(() => dmaBufFd(buf, 0)).toThrow(kerr("ESRCH"));
    const p = proc(r, "app");
    const fd = r.kernel.withCurrent(p, () => dmaBufFd(buf, O_CLOEXEC));
    expect(p.getFdFlags(fd)).toBe(1);
    expect(p.fds.get(fd)).toBe(buf.file);
    expect(buf.file.refcount).toBe(1); // the reference moved to the fd
    p.close(fd);
    expect(buf.released).toBe(true);
  });

  it("dma_buf_get: EBADF for a closed fd, EINVAL for another file; it takes a reference", () => {
    const r = boot();
    const { exp, log } = fakeExporter(r);
    const p = proc(r, "app");
    const buf = exp();
    const fd = r.kernel.withCurrent(p, () => dmaBufFd(buf, 0));
    const heap = p.open("/dev/dma_heap/system", O_RDONLY);
    r.kernel.withCurrent(p, () => {
      expect(() => dmaBufGet(r.kernel, 42)).toThrow(kerr("EBADF"));
      expect(() => dmaBufGet(r.kernel, heap)).toThrow(kerr("EINVAL", /not a dma-buf/));
      expect(dmaBufGet(r.kernel, fd)).toBe(buf);
    });
    expect(buf.file.refcount).toBe(2);
    p.close(fd);
    expect(log).not.toContain("release");
    dmaBufPut(buf);
    expect(log).toContain("release");
    expect(() => dmaBufPut(buf)).toThrow(KernelBug);
    expect(() => getDmaBuf(buf)).toThrow(KernelBug);
  });

  it("an fd, a mapping and a kernel reference each keep the buffer; the last one releases it", () => {
    const r = boot();
    const { exp, log } = fakeExporter(r);
    const p = proc(r, "app");
    const buf = exp();
    const fd = r.kernel.withCurrent(p, () => dmaBufFd(buf, 0));
    const va = p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    getDmaBuf(buf);
    p.close(fd);
    p.munmap(va, PAGE_SIZE);
    expect(log).not.toContain("release");
    dmaBufPut(buf);
    expect(log.at(-1)).toBe("release");
  });
});

describe("attachments and mappings", () => {
  function setup() {
    const r = boot();
    const fx = fakeExporter(r);
    const buf = fx.exp();
    const { dev } = directDevice(r, "dev0");
    return { r, ...fx, buf, dev };
  }

  it("attach, map, unmap, detach call the exporter in order and trace", () => {
    const { r, buf, dev, log } = setup();
    const rec = record(r.kernel, [
      "dma_buf_attach",
      "dma_buf_map_attachment",
      "dma_buf_unmap_attachment",
      "dma_buf_detach",
    ]);
    const att = dmaBufAttach(buf, dev);
    expect(buf.attachments).toEqual([att]);
    const sgt = dmaBufMapAttachment(att, DMA_TO_DEVICE);
    expect(att.sgt).toBe(sgt);
    dmaBufUnmapAttachment(att, sgt, DMA_TO_DEVICE);
    dmaBufDetach(buf, att);
    expect(buf.attachments).toEqual([]);
    expect(log).toEqual(["attach dev0", "map dev0 1", "unmap dev0 1", "detach dev0"]);
    expect(rec.records().map((e) => e.name)).toEqual([
      "dma_buf_attach",
      "dma_buf_map_attachment",
      "dma_buf_unmap_attachment",
      "dma_buf_detach",
    ]);
    expect(rec.of("dma_buf_map_attachment")[0]!.data).toEqual({
      ino: buf.ino,
      device: "dev0",
      nents: 1,
      dir: "TO_DEVICE",
    });
  });

  it("an exporter's attach may refuse (EBUSY): nothing is attached", () => {
    const r = boot();
    const { exp } = fakeExporter(r, 4, {
      attach: () => {
        throw new KernelError("EBUSY", "storage not accessible");
      },
    });
    const buf = exp();
    const { dev } = directDevice(r, "d");
    expect(() => dmaBufAttach(buf, dev)).toThrow(kerr("EBUSY"));
    expect(buf.attachments).toHaveLength(0);
  });

  it("EINVAL for a missing device or importer ops without moveNotify; detach twice is a bug", () => {
    const { buf, dev } = setup();
    expect(() => dmaBufAttach(buf, null as unknown as Device)).toThrow(kerr("EINVAL"));
    expect(() => dmaBufDynamicAttach(buf, dev, {} as never)).toThrow(kerr("EINVAL", /moveNotify/));
    const att = dmaBufAttach(buf, dev);
    dmaBufDetach(buf, att);
    expect(() => dmaBufDetach(buf, att)).toThrow(KernelBug);
  });

  it("one mapping per attachment (EBUSY); unmap must name the live table and direction (EINVAL)", () => {
    const { buf, dev } = setup();
    const att = dmaBufAttach(buf, dev);
    const sgt = dmaBufMapAttachment(att, DMA_FROM_DEVICE);
    expect(() => dmaBufMapAttachment(att, DMA_FROM_DEVICE)).toThrow(kerr("EBUSY"));
    expect(() => dmaBufUnmapAttachment(att, new SgTable([{ pfn: 1, length: 1 }]), DMA_FROM_DEVICE)).toThrow(
      kerr("EINVAL"),
    );
    expect(() => dmaBufUnmapAttachment(att, sgt, DMA_TO_DEVICE)).toThrow(
      kerr("EINVAL", /mapped FROM_DEVICE/),
    );
    expect(() => dmaBufMapAttachment(att, DMA_NONE as never)).toThrow(KernelBug);
    dmaBufUnmapAttachment(att, sgt, DMA_FROM_DEVICE);
  });

  it("detach of a mapped attachment unmaps it first", () => {
    const { buf, dev, log } = setup();
    const att = dmaBufAttach(buf, dev);
    dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
    dmaBufDetach(buf, att);
    expect(log.slice(-2)).toEqual(["unmap dev0 0", "detach dev0"]);
  });

  it("ENOMEM when the exporter returns no table", () => {
    const r = boot();
    const { exp } = fakeExporter(r, 4, { mapDmaBuf: () => null });
    const buf = exp();
    const att = dmaBufAttach(buf, directDevice(r, "d").dev);
    expect(() => dmaBufMapAttachment(att, DMA_TO_DEVICE)).toThrow(kerr("ENOMEM"));
    expect(att.sgt).toBeNull();
  });

  it("a static importer of an exporter with pin is pinned for each mapping; a dynamic one pins itself", () => {
    const r = boot();
    const pins: string[] = [];
    const { exp } = fakeExporter(r, 4, {
      pin: (a) => {
        pins.push(`pin ${a.dev.name}`);
      },
      unpin: (a) => {
        pins.push(`unpin ${a.dev.name}`);
      },
    });
    const buf = exp();
    const s = dmaBufAttach(buf, directDevice(r, "static").dev);
    const moved: string[] = [];
    const d = dmaBufDynamicAttach(buf, directDevice(r, "dynamic").dev, {
      moveNotify: (a) => {
        moved.push(a.dev.name);
      },
    });
    const t1 = dmaBufMapAttachment(s, DMA_TO_DEVICE);
    const t2 = dmaBufMapAttachment(d, DMA_TO_DEVICE);
    dmaBufUnmapAttachment(s, t1, DMA_TO_DEVICE);
    dmaBufUnmapAttachment(d, t2, DMA_TO_DEVICE);
    expect(pins).toEqual(["pin static", "unpin static"]);
    dmaBufPin(d);
    dmaBufUnpin(d);
    expect(() => dmaBufPin(s)).toThrow(kerr("EINVAL", /static/));
    dmaBufMoveNotify(buf);
    expect(moved).toEqual(["dynamic"]);
    expect(d.dynamic).toBe(true);
    expect(s.dynamic).toBe(false);
  });

  it("a static importer cannot map while KERNEL-usage fences are pending (EAGAIN); a dynamic one can", () => {
    const { r, buf, dev } = setup();
    const f = new DmaFence(r.kernel, mockFenceOps("ttm", "move"), dmaFenceContextAlloc(r.kernel), 1);
    dmaResvLock(buf.resv);
    dmaResvReserveFences(buf.resv, 1);
    dmaResvAddFence(buf.resv, f, DMA_RESV_USAGE_KERNEL);
    dmaResvUnlock(buf.resv);
    const att = dmaBufAttach(buf, dev);
    expect(() => dmaBufMapAttachment(att, DMA_TO_DEVICE)).toThrow(kerr("EAGAIN", /KERNEL fences/));
    const dyn = dmaBufDynamicAttach(buf, directDevice(r, "dyn").dev, { moveNotify: () => {} });
    dmaBufMapAttachment(dyn, DMA_TO_DEVICE);
    expect(dmaBufDebugfsBufinfo(r.kernel)).toContain("\tkernel fence: ttm move seq 1 unsignalled\n");
    dmaFenceSignal(f);
    dmaBufMapAttachment(att, DMA_TO_DEVICE);
    expect(dmaBufDebugfsBufinfo(r.kernel)).toContain("\tkernel fence: ttm move seq 1 signalled\n");
  });

  it("a buffer released with attachments left warns", () => {
    const { r, buf, dev } = setup();
    const rec = record(r.kernel, ["dma_buf_warn"]);
    dmaBufAttach(buf, dev);
    dmaBufPut(buf);
    expect(rec.of("dma_buf_warn")[0]!.data.message).toMatch(/1 attachment\(s\) left: dev0/);
  });
});

describe("CPU access", () => {
  it("begin runs the exporter hook and resolves; end runs the hook; both trace", async () => {
    const r = boot();
    const { exp, log } = fakeExporter(r);
    const buf = exp();
    const rec = record(r.kernel, ["dma_buf_begin_cpu_access", "dma_buf_end_cpu_access"]);
    await dmaBufBeginCpuAccess(buf, DMA_FROM_DEVICE);
    dmaBufEndCpuAccess(buf, DMA_FROM_DEVICE);
    expect(log).toEqual(["begin 2", "end 2"]);
    expect(rec.records().map((e) => e.data)).toEqual([
      { ino: buf.ino, dir: "FROM_DEVICE" },
      { ino: buf.ino, dir: "FROM_DEVICE" },
    ]);
    expect(() => dmaBufEndCpuAccess(buf, DMA_NONE as never)).toThrow(KernelBug);
  });
});

describe("mmap", () => {
  it("user mmap of the fd: EINVAL past the end, or without an exporter mmap", () => {
    const r = boot();
    const { exp } = fakeExporter(r);
    const p = proc(r, "app");
    const fd = r.kernel.withCurrent(p, () => dmaBufFd(exp(), 0));
    const m = (length: number, offset: number) =>
      p.mmap({ fd, length, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, offset });
    expect(() => m(5 * PAGE_SIZE, 0)).toThrow(kerr("EINVAL", /pass the end/));
    expect(() => m(2 * PAGE_SIZE, 3 * PAGE_SIZE)).toThrow(kerr("EINVAL", /pass the end/));
    const va = m(PAGE_SIZE, 3 * PAGE_SIZE);
    p.memWrite(va, new Uint8Array([7]));
    const { exp: exp2 } = fakeExporter(r, 1, { mmap: undefined });
    const fd2 = r.kernel.withCurrent(p, () => dmaBufFd(exp2(), 0));
    expect(() => p.mmap({ fd: fd2, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toThrow(
      kerr("EINVAL", /cannot be mapped/),
    );
  });

  it("a read-only dma-buf file cannot be mapped shared writable (EACCES), read-only it can", () => {
    const r = boot();
    const { exp } = fakeExporter(r);
    const p = proc(r, "app");
    const fd = r.kernel.withCurrent(p, () => dmaBufFd(exp(O_RDONLY), 0));
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED })).toThrow(
      kerr("EACCES"),
    );
    p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
  });

  it("dma_buf_mmap forwards a driver's mmap: EINVAL past the end, EOVERFLOW, and the mapping holds the buffer", () => {
    const r = boot();
    const { exp, log } = fakeExporter(r);
    const buf = exp();
    let pgoff = 0;
    registerChrdev(r.kernel, "/dev/fwd", { ops: { mmap: (_f, vma) => dmaBufMmap(buf, vma, pgoff) } });
    const p = proc(r, "app");
    const fd = p.open("/dev/fwd", O_RDWR);
    pgoff = 2;
    expect(() => p.mmap({ fd, length: 3 * PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toThrow(
      kerr("EINVAL", /pass the end/),
    );
    pgoff = 2 ** 32;
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toThrow(
      kerr("EOVERFLOW"),
    );
    pgoff = 1;
    const va = p.mmap({ fd, length: 2 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    expect(log.at(-1)).toBe("mmap 1");
    p.memWrite(va + PAGE_SIZE, new Uint8Array([9]));
    const seen = new Uint8Array(1);
    r.cpu.read(
      r.mm.kspace,
      r.mm.kspace.physToVirt((buf.priv as { pfn: number }).pfn * PAGE_SIZE + 2 * PAGE_SIZE),
      seen,
    );
    expect(seen[0]).toBe(9);
    dmaBufPut(buf);
    p.munmap(va, PAGE_SIZE); // a split: the remaining piece still holds the buffer
    expect(buf.released).toBe(false);
    p.munmap(va + PAGE_SIZE, PAGE_SIZE);
    expect(buf.released).toBe(true);
  });
});

describe("vmap", () => {
  it("is counted: the exporter maps at the first call and unmaps at the last; mismatches are bugs", () => {
    const r = boot();
    const { exp, log } = fakeExporter(r);
    const buf = exp();
    const a = dmaBufVmap(buf);
    expect(dmaBufVmap(buf)).toBe(a);
    expect(buf.vmapCount).toBe(2);
    expect(() => dmaBufVunmap(buf, a + PAGE_SIZE)).toThrow(KernelBug);
    dmaBufVunmap(buf, a);
    dmaBufVunmap(buf, a);
    expect(log.filter((l) => l.startsWith("v"))).toEqual(["vmap", "vunmap"]);
    expect(() => dmaBufVunmap(buf, a)).toThrow(KernelBug);
    const { exp: exp2 } = fakeExporter(r, 1, { vmap: undefined });
    expect(() => dmaBufVmap(exp2())).toThrow(kerr("EINVAL", /no vmap/));
  });

  it("releasing a vmapped buffer is a bug", () => {
    const r = boot();
    const buf = fakeExporter(r).exp();
    dmaBufVmap(buf);
    expect(() => dmaBufPut(buf)).toThrow(KernelBug);
  });
});

describe("llseek, fdinfo, debugfs", () => {
  it("llseek: SEEK_END 0 gives the size, SEEK_SET 0 gives 0, anything else EINVAL", () => {
    const r = boot();
    const p = proc(r, "app");
    const fd = r.kernel.withCurrent(p, () => dmaBufFd(fakeExporter(r).exp(), 0));
    expect(p.lseek(fd, 0, SEEK_END)).toBe(4 * PAGE_SIZE);
    expect(p.lseek(fd, 0, SEEK_SET)).toBe(0);
    expect(() => p.lseek(fd, 1, SEEK_SET)).toThrow(kerr("EINVAL"));
    expect(() => p.lseek(fd, -1, SEEK_END)).toThrow(kerr("EINVAL"));
    expect(() => p.lseek(fd, 0, SEEK_CUR)).toThrow(kerr("EINVAL"));
  });

  it("fdinfo shows size, count, exp_name and name; bufinfo lists buffers, fences and devices", () => {
    const r = boot();
    const p = proc(r, "app");
    const buf = fakeExporter(r).exp();
    const fd = r.kernel.withCurrent(p, () => dmaBufFd(buf, 0));
    dmaBufAttach(buf, directDevice(r, "fimc0").dev);
    getDmaBuf(buf);
    const file = p.fget(fd);
    expect(dmaBufShowFdinfo(file)).toBe(`size:\t${4 * PAGE_SIZE}\ncount:\t3\nexp_name:\tfake\nname:\t\n`);
    file.put();
    expect(() => dmaBufShowFdinfo(p.fget(p.open("/dev/dma_heap/system", O_RDONLY)))).toThrow(kerr("EINVAL"));
    const [info] = dmaBufStats(r.kernel);
    expect(info).toMatchObject({
      ino: buf.ino,
      size: 4 * PAGE_SIZE,
      expName: "fake",
      count: 2,
      attachments: ["fimc0"],
    });
    const text = dmaBufDebugfsBufinfo(r.kernel);
    expect(text).toContain("Dma-buf Objects:");
    expect(text).toContain(
      `00016384\t00000002\t00000003\t00000002\tfake\t${String(buf.ino).padStart(8, "0")}\t<none>`,
    );
    expect(text).toContain("\tfimc0\nTotal 1 devices attached");
    expect(text).toContain(`Total 1 objects, ${4 * PAGE_SIZE} bytes`);
  });

  it("reports buffers still referenced at shutdown", () => {
    const r = boot();
    const rec = record(r.kernel, ["dma_buf_warn"]);
    const buf = fakeExporter(r).exp();
    r.kernel.shutdown();
    expect(rec.of("dma_buf_warn")[0]!.data.message).toMatch(new RegExp(`leak: dma-buf ino ${buf.ino}`));
  });
});

describe("a 64 KiB buffer of the system heap", () => {
  it("maps for a device, syncs and vmaps through the heap exporter", async () => {
    const r = boot();
    const p = proc(r, "app");
    const fd = p.open("/dev/dma_heap/system", O_RDWR);
    const req = { len: SZ_64K, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
    p.ioctl(fd, DMA_HEAP_IOCTL_ALLOC, req);
    const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, req.fd)) as DmaBuf;
    const kaddr = dmaBufVmap(buf);
    r.cpu.write(r.mm.kspace, kaddr, new Uint8Array([1, 2, 3]));
    const { dev, port } = directDevice(r, "dev");
    const att = dmaBufAttach(buf, dev);
    const sgt = dmaBufMapAttachment(att, DMA_TO_DEVICE); // the map cleans the CPU's lines
    const got = new Uint8Array(3);
    port.read(sgt.sgl[0]!.dmaAddress, got);
    expect([...got]).toEqual([1, 2, 3]);
    dmaBufVunmap(buf, kaddr);
    dmaBufDetach(buf, att);
    dmaBufPut(buf);
    p.exit(0);
    expectNoBuffers(r);
  });
});

describe("trace events", () => {
  it("follow a buffer's life: export, fd, get, attach, map, mmap, unmap, detach, put, release", () => {
    const r = boot();
    const rec = record(r.kernel);
    const p = proc(r, "app");
    const h = p.open("/dev/dma_heap/system", O_RDWR);
    const req = { len: PAGE_SIZE, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
    p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, req);
    const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, req.fd));
    const att = dmaBufAttach(buf, directDevice(r, "dev").dev);
    const sgt = dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
    const va = p.mmap({ fd: req.fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    dmaBufUnmapAttachment(att, sgt, DMA_BIDIRECTIONAL);
    dmaBufDetach(buf, att);
    dmaBufPut(buf);
    p.close(req.fd);
    p.munmap(va, PAGE_SIZE);
    const ours = rec.records().filter((e) => e.name.startsWith("dma_buf") || e.name === "dma_heap_alloc");
    expect(ours.map((e) => e.name)).toEqual([
      "dma_buf_export",
      "dma_buf_fd",
      "dma_heap_alloc",
      "dma_buf_get",
      "dma_buf_attach",
      "dma_buf_map_attachment",
      "dma_buf_mmap",
      "dma_buf_unmap_attachment",
      "dma_buf_detach",
      "dma_buf_put",
      "dma_buf_release",
    ]);
    const ino = buf.ino;
    expect(ours[1]!.data).toEqual({ ino, fd: req.fd, pid: p.pid });
    expect(ours[3]!.data).toEqual({ ino, fd: req.fd, pid: p.pid });
    expect(ours[6]!.data).toEqual({ ino, pid: p.pid, pgoff: 0, length: PAGE_SIZE });
    expect(ours[10]!.data).toEqual({ ino, exp_name: "system" });
  });

  it("dma_buf_fd and dma_buf_put of something that is not a dma-buf are EINVAL", () => {
    expect(() => dmaBufFd(null as unknown as DmaBuf, 0)).toThrow(kerr("EINVAL"));
    expect(() => dmaBufPut({} as DmaBuf)).toThrow(kerr("EINVAL"));
  });
});
