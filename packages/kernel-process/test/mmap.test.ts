import { KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MT_WRITECOMBINE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { type FileOps, O_RDONLY, O_RDWR, O_WRONLY, registerChrdev, spawn } from "../src/index.js";
import { boot, bytes, testDev } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

describe("mmap of anonymous memory", () => {
  it("maps zeroed private memory that returns to the allocator at munmap", () => {
    const { kernel, mm } = boot();
    const p = spawn(kernel, { comm: "app" });
    const free0 = mm.buddy.nrFreePages;
    const va = p.mmap({
      fd: -1,
      length: 3 * PAGE_SIZE,
      prot: RW,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
      offset: 0,
    });
    expect(mm.buddy.nrFreePages).toBe(free0 - 3);
    expect(p.memRead(va, 3 * PAGE_SIZE)).toEqual(new Uint8Array(3 * PAGE_SIZE));
    p.memWrite(va + 100, bytes(5000));
    expect(p.memRead(va + 100, 5000)).toEqual(bytes(5000));
    p.munmap(va, 3 * PAGE_SIZE);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(() => p.memRead(va, 1)).toThrow(kerr("EFAULT", /not mapped/));
  });

  it("rejects bad arguments with EINVAL and maps nothing", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const anon = MAP_ANONYMOUS;
    expect(() => p.mmap({ length: 0, prot: RW, flags: MAP_PRIVATE | anon })).toThrow(
      kerr("EINVAL", /length 0/),
    );
    expect(() => p.mmap({ length: 4096, prot: RW, flags: anon })).toThrow(kerr("EINVAL", /exactly one/));
    expect(() => p.mmap({ length: 4096, prot: RW, flags: MAP_SHARED | MAP_PRIVATE | anon })).toThrow(
      kerr("EINVAL", /exactly one/),
    );
    expect(() => p.mmap({ length: 4096, prot: 8, flags: MAP_PRIVATE | anon })).toThrow(
      kerr("EINVAL", /prot/),
    );
    expect(() =>
      p.mmap({ addr: 0x10001000 + 1, length: 4096, prot: RW, flags: MAP_PRIVATE | MAP_FIXED | anon }),
    ).toThrow(kerr("EINVAL", /MAP_FIXED/));
    expect(p.space.vmas).toHaveLength(0);
  });

  it("malloc gives private read-write memory; EINVAL for size 0", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const va = p.malloc(10);
    const vma = p.space.findVma(va)!;
    expect(vma.size).toBe(PAGE_SIZE);
    expect(vma.prot).toBe(RW);
    expect(vma.shared).toBe(false);
    expect(vma.name).toBe("[heap]");
    expect(() => p.malloc(0)).toThrow(kerr("EINVAL", /size 0/));
  });
});

describe("mmap of a file", () => {
  it("maps the pages the driver chose: user stores reach the device's memory", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDWR);
    const va = p.mmap({ fd, length: 2 * PAGE_SIZE, prot: RW, flags: MAP_SHARED, offset: 0 });
    p.memWrite(va + PAGE_SIZE - 2, bytes(4, 9));
    const got = new Uint8Array(4);
    mm.phys.read(dev.pfn * PAGE_SIZE + PAGE_SIZE - 2, got);
    expect(got).toEqual(bytes(4, 9));
    p.write(fd, bytes(8, 1));
    expect(p.memRead(va, 8)).toEqual(bytes(8, 1));
    const vma = p.space.findVma(va)!;
    expect(vma.file).toBe(p.fds.get(fd));
    expect(vma.name).toBe("/dev/test");
  });

  it("passes the offset as pgoff: offset 4096 maps the device's second page", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDWR);
    const va = p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, offset: PAGE_SIZE });
    expect(p.space.translate(va)).toBe((dev.pfn + 1) * PAGE_SIZE);
    expect(p.space.findVma(va)!.pgoff).toBe(1);
  });

  it("keeps the file alive after its fd closes, until munmap releases it", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDWR);
    const file = p.fds.get(fd)!;
    const va = p.mmap({ fd, length: 2 * PAGE_SIZE, prot: RW, flags: MAP_SHARED });
    expect(file.refcount).toBe(2);
    p.close(fd);
    expect(dev.log.releases).toHaveLength(0);
    expect(file.refcount).toBe(1);
    p.memWrite(va, bytes(16)); // the mapping still works
    p.munmap(va, 2 * PAGE_SIZE);
    expect(dev.log.releases).toEqual([file]);
    expect(dev.log.vmaCloses).toBe(1);
  });

  it("a split mapping holds one reference per VMA; release waits for the last piece", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm, { pages: 4 });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDWR);
    const file = p.fds.get(fd)!;
    const va = p.mmap({ fd, length: 4 * PAGE_SIZE, prot: RW, flags: MAP_SHARED });
    p.close(fd);
    p.munmap(va + PAGE_SIZE, PAGE_SIZE); // two splits, then the middle goes: two VMAs remain
    expect(dev.log.vmaOpens).toBe(2);
    expect(dev.log.vmaCloses).toBe(1);
    expect(file.refcount).toBe(2);
    p.munmap(va, PAGE_SIZE);
    expect(dev.log.releases).toHaveLength(0);
    p.munmap(va + 2 * PAGE_SIZE, 2 * PAGE_SIZE);
    expect(dev.log.releases).toEqual([file]);
  });

  it("rejects a bad fd with EBADF and a file without mmap with ENODEV", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm, { noMmap: true });
    const p = spawn(kernel, { comm: "app" });
    expect(() => p.mmap({ fd: 4, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toThrow(
      kerr("EBADF", /fd 4/),
    );
    expect(() => p.mmap({ length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toThrow(kerr("EBADF"));
    const fd = p.open("/dev/test", O_RDWR);
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toThrow(
      kerr("ENODEV", /cannot be mapped/),
    );
    expect(p.fds.get(fd)!.refcount).toBe(1);
  });

  it("rejects length 0, an unaligned offset, and neither or both of MAP_SHARED/MAP_PRIVATE with EINVAL", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDWR);
    const bad = [
      { fd, length: 0, prot: PROT_READ, flags: MAP_SHARED },
      { fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, offset: 100 },
      { fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, offset: -PAGE_SIZE },
      { fd, length: PAGE_SIZE, prot: PROT_READ, flags: 0 },
      { fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED | MAP_PRIVATE },
    ];
    for (const a of bad) expect(() => p.mmap(a)).toThrow(kerr("EINVAL"));
    expect(p.space.vmas).toHaveLength(0);
    expect(p.fds.get(fd)!.refcount).toBe(1);
  });

  it("checks the access mode: EACCES without read access, or PROT_WRITE+MAP_SHARED without write access", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const wo = p.open("/dev/test", O_WRONLY);
    const ro = p.open("/dev/test", O_RDONLY);
    expect(() => p.mmap({ fd: wo, length: PAGE_SIZE, prot: PROT_WRITE, flags: MAP_SHARED })).toThrow(
      kerr("EACCES", /not open for reading/),
    );
    expect(() => p.mmap({ fd: ro, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED })).toThrow(
      kerr("EACCES", /open for writing/),
    );
    // a read-only shared mapping, and a private writable one, are fine on an O_RDONLY file
    expect(p.mmap({ fd: ro, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toBeGreaterThan(0);
    const priv = p.mmap({ fd: ro, length: PAGE_SIZE, prot: RW, flags: MAP_PRIVATE });
    expect(p.space.findVma(priv)!.shared).toBe(false);
  });

  it("mprotect: EACCES when adding PROT_WRITE to a shared mapping of a file not open for writing", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const ro = p.open("/dev/test", O_RDONLY);
    const rw = p.open("/dev/test", O_RDWR);
    const a = p.mmap({ fd: ro, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    const b = p.mmap({ fd: rw, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    expect(() => p.mprotect(a, PAGE_SIZE, RW)).toThrow(kerr("EACCES", /not open for writing/));
    expect(p.space.findVma(a)!.prot).toBe(PROT_READ);
    expect(() => p.memWrite(b, bytes(1))).toThrow(kerr("EFAULT"));
    p.mprotect(b, PAGE_SIZE, RW);
    p.memWrite(b, bytes(1));
    p.mprotect(b, PAGE_SIZE, PROT_READ | PROT_EXEC);
    expect(() => p.memWrite(b, bytes(1))).toThrow(kerr("EFAULT", /not permitted/));
    p.mprotect(b, 0, RW); // length 0 does nothing
    expect(() => p.mprotect(b + 1, PAGE_SIZE, PROT_READ)).toThrow(kerr("EINVAL"));
    expect(() => p.mprotect(b, PAGE_SIZE, 0x10)).toThrow(kerr("EINVAL", /prot/));
    expect(() => p.mprotect(0x10000, PAGE_SIZE, PROT_READ)).toThrow(kerr("ENOMEM"));
  });

  it("a driver mmap that throws maps nothing and takes no reference", () => {
    const { kernel } = boot();
    registerChrdev(kernel, "/dev/nomem", {
      ops: {
        mmap: () => {
          throw new KernelError("ENOMEM", "no buffer");
        },
      },
    });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/nomem", O_RDWR);
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED })).toThrow(kerr("ENOMEM"));
    expect(p.space.vmas).toHaveLength(0);
    expect(p.fds.get(fd)!.refcount).toBe(1);
  });

  it("when mm refuses the mapping after the driver's mmap ran, the driver's close drops what it took", () => {
    const { kernel, mm } = boot();
    const pfn = mm.buddy.allocPages(0, 0)!;
    mm.buddy.freePages(pfn, 0); // a stale page: mm-core refuses to map it
    let refs = 0;
    registerChrdev(kernel, "/dev/stale", {
      ops: {
        mmap: (_file, ctx) => {
          refs++; // like vb2's buffer refcount taken in its mmap
          ctx.setPages([pfn]);
          ctx.setOps({ close: () => refs-- });
        },
      },
    });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/stale", O_RDWR);
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED })).toThrow(kerr("EINVAL"));
    expect(refs).toBe(0);
    expect(p.space.vmas).toHaveLength(0);
    expect(p.fds.get(fd)!.refcount).toBe(1);
  });

  it("MmapContext: a pfn range with a memtype, private data and a name", () => {
    const { kernel, mm } = boot();
    const pfn = mm.buddy.allocPages(1, 0)!;
    const seen: number[] = [];
    const ops: FileOps = {
      mmap: (file, ctx) => {
        seen.push(ctx.length, ctx.prot, ctx.flags, ctx.pgoff, ctx.shared ? 1 : 0);
        expect(ctx.file).toBe(file);
        ctx.setPfnRange(pfn);
        ctx.setMemtype("writecombine");
        ctx.setPrivate("buffer #1");
        ctx.setName("fb0");
      },
    };
    registerChrdev(kernel, "/dev/fb0", { ops });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/fb0", O_RDWR);
    const va = p.mmap({ fd, length: PAGE_SIZE + 1, prot: RW, flags: MAP_SHARED });
    expect(seen).toEqual([2 * PAGE_SIZE, RW, MAP_SHARED, 0, 1]);
    const vma = p.space.findVma(va)!;
    expect(vma.pfnmap).toBe(true);
    expect(vma.memtype).toBe(MT_WRITECOMBINE);
    expect(vma.privateData).toBe("buffer #1");
    expect(vma.name).toBe("fb0");
    expect(p.space.translate(va + PAGE_SIZE)).toBe((pfn + 1) * PAGE_SIZE);
  });

  it("MmapContext setters reject bad input with EINVAL; a driver that picks no backing is a bug", () => {
    const { kernel, mm } = boot();
    let mode = 0;
    registerChrdev(kernel, "/dev/x", {
      ops: {
        mmap: (_f, ctx) => {
          if (mode === 0) ctx.setPages([1, 2, 3]);
          if (mode === 1) ctx.setPfnRange(0x1);
          if (mode === 2) ctx.setMemtype("bogus" as never);
          if (mode === 3) ctx.setPages([mm.frames.basePfn + mm.frames.count + 5]);
        },
      },
    });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/x", O_RDWR);
    const args = { fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED };
    expect(() => p.mmap(args)).toThrow(kerr("EINVAL", /3 pfns given for 1 pages/));
    mode = 1;
    expect(() => p.mmap(args)).toThrow(kerr("EINVAL", /not RAM/));
    mode = 2;
    expect(() => p.mmap(args)).toThrow(kerr("EINVAL", /memtype/));
    mode = 3;
    expect(() => p.mmap(args)).toThrow(kerr("EINVAL", /not a RAM page frame/));
    mode = 4;
    expect(() => p.mmap(args)).toThrow(/chose no backing/);
    expect(p.space.vmas).toHaveLength(0);
    expect(p.fds.get(fd)!.refcount).toBe(1);
  });

  it("MAP_FIXED maps exactly at addr, replacing what was there", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const heap = p.malloc(2 * PAGE_SIZE);
    const fd = p.open("/dev/test", O_RDWR);
    const va = p.mmap({ fd, addr: heap, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED | MAP_FIXED });
    expect(va).toBe(heap);
    expect(p.space.translate(heap)).toBe(dev.pfn * PAGE_SIZE);
    expect(p.space.vmas).toHaveLength(2);
  });
});
