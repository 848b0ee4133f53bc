// udmabuf (§7.5), with ideas from tools/testing/selftests/drivers/dma-buf/udmabuf.c: the
// offset/size/seal checks, buffers over a sealed memfd read by a device, pages pinned for the
// buffer's life.
import { cpuOf } from "@umm/arch-arm";
import { DMA_TO_DEVICE } from "@umm/dma-mapping-arm";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import {
  _IO,
  F_ADD_SEALS,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  fcntl,
  ftruncate,
  MFD_ALLOW_SEALING,
  memfdCreate,
  O_RDWR,
  type Process,
} from "@umm/kernel-process";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  dmaBufGet,
  dmaBufPut,
  dmaBufVmap,
  dmaBufVunmap,
  UDMABUF_CREATE,
  UDMABUF_CREATE_LIST,
  UDMABUF_FLAGS_CLOEXEC,
  udmabufDevInit,
} from "../src/index.js";
import {
  boot,
  expectNoBuffers,
  IMP_IMPORT,
  IMP_READ,
  IMP_WRITE,
  importer,
  pattern,
  proc,
  type Rig,
} from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

/** A memfd of `pages` pages holding `pattern(.., seed)`, sealed with `seals`. */
function memfd(p: Process, pages: number, seals = F_SEAL_SHRINK, seed = 1): number {
  const fd = memfdCreate(p, "udmabuf-test", MFD_ALLOW_SEALING);
  ftruncate(p, fd, pages * PAGE_SIZE);
  const va = p.mmap({ fd, length: pages * PAGE_SIZE, prot: RW, flags: MAP_SHARED });
  p.memWrite(va, pattern(pages * PAGE_SIZE, seed));
  p.munmap(va, pages * PAGE_SIZE);
  if (seals) fcntl(p, fd, F_ADD_SEALS, seals);
  return fd;
}

function setup(): { r: Rig; p: Process; dev: number } {
  const r = boot();
  const p = proc(r, "app");
  return { r, p, dev: p.open("/dev/udmabuf", O_RDWR) };
}

describe("UDMABUF_CREATE", () => {
  it("turns a sealed memfd range into a dma-buf a device reads by DMA", () => {
    const { r, p, dev } = setup();
    const mfd = memfd(p, 8);
    const fd = p.ioctl(dev, UDMABUF_CREATE, {
      memfd: mfd,
      flags: 0,
      offset: 2 * PAGE_SIZE,
      size: 4 * PAGE_SIZE,
    }) as number;
    expect(p.lseek(fd, 0, 2)).toBe(4 * PAGE_SIZE);
    expect(p.getFdFlags(fd)).toBe(0);
    const imp = importer(r, "isp0", "sysmmu");
    const ifd = p.open(imp.path, O_RDWR);
    p.ioctl(ifd, IMP_IMPORT, { fd, dir: DMA_TO_DEVICE });
    const rd = { offset: 0, len: 4 * PAGE_SIZE, data: new Uint8Array(0) };
    p.ioctl(ifd, IMP_READ, rd);
    expect(Buffer.compare(rd.data, pattern(8 * PAGE_SIZE).subarray(2 * PAGE_SIZE, 6 * PAGE_SIZE))).toBe(0);
    expect(cpuOf(r.kernel).checker.total).toBe(0);
  });

  it("UDMABUF_FLAGS_CLOEXEC makes the fd close-on-exec", () => {
    const { p, dev } = setup();
    const fd = p.ioctl(dev, UDMABUF_CREATE, {
      memfd: memfd(p, 1),
      flags: UDMABUF_FLAGS_CLOEXEC,
      offset: 0,
      size: PAGE_SIZE,
    }) as number;
    expect(p.getFdFlags(fd)).toBe(1);
  });

  it("EINVAL for an unaligned offset or size, a size of 0 or one over size_limit_mb", () => {
    const { r, p, dev } = setup();
    const mfd = memfd(p, 4);
    const create = (offset: number, size: number) => () =>
      p.ioctl(dev, UDMABUF_CREATE, { memfd: mfd, flags: 0, offset, size });
    expect(create(100, PAGE_SIZE)).toThrow(kerr("EINVAL", /offset 100/));
    expect(create(0, PAGE_SIZE + 1)).toThrow(kerr("EINVAL", /size/));
    expect(create(0, 0)).toThrow(kerr("EINVAL", /0 pages/));
    expect(create(0, 65 * SZ_1M)).toThrow(kerr("EINVAL", /size_limit_mb/));
    expect(create(2 * PAGE_SIZE, 4 * PAGE_SIZE)).toThrow(kerr("EINVAL", /beyond/));
    expectNoBuffers(r);
  });

  it("EINVAL for flags other than UDMABUF_FLAGS_CLOEXEC, before any memfd is looked at", () => {
    const { r, p, dev } = setup();
    const mfd = memfd(p, 1);
    for (const flags of [2, 0x80000000, UDMABUF_FLAGS_CLOEXEC | 4]) {
      expect(() => p.ioctl(dev, UDMABUF_CREATE, { memfd: mfd, flags, offset: 0, size: PAGE_SIZE })).toThrow(
        kerr("EINVAL", /flags/),
      );
      expect(() =>
        p.ioctl(dev, UDMABUF_CREATE_LIST, {
          flags,
          count: 1,
          list: [{ memfd: mfd, offset: 0, size: PAGE_SIZE }],
        }),
      ).toThrow(kerr("EINVAL", /flags/));
    }
    expect(() => p.ioctl(dev, UDMABUF_CREATE, { memfd: 77, flags: 2, offset: 0, size: PAGE_SIZE })).toThrow(
      kerr("EINVAL", /flags/),
    );
    expectNoBuffers(r);
  });

  it("EBADFD for a closed fd or a file that is not a memfd", () => {
    const { p, dev } = setup();
    expect(() => p.ioctl(dev, UDMABUF_CREATE, { memfd: 77, flags: 0, offset: 0, size: PAGE_SIZE })).toThrow(
      kerr("EBADFD"),
    );
    expect(() => p.ioctl(dev, UDMABUF_CREATE, { memfd: dev, flags: 0, offset: 0, size: PAGE_SIZE })).toThrow(
      kerr("EBADFD", /not a memfd/),
    );
  });

  it("EINVAL unless the seals include F_SEAL_SHRINK and exclude F_SEAL_WRITE and F_SEAL_FUTURE_WRITE", () => {
    const { r, p, dev } = setup();
    const create = (mfd: number) => () =>
      p.ioctl(dev, UDMABUF_CREATE, { memfd: mfd, flags: 0, offset: 0, size: PAGE_SIZE });
    expect(create(memfd(p, 1, 0))).toThrow(kerr("EINVAL", /F_SEAL_SHRINK is required/));
    expect(create(memfd(p, 1, F_SEAL_GROW))).toThrow(kerr("EINVAL"));
    expect(create(memfd(p, 1, F_SEAL_SHRINK | F_SEAL_WRITE))).toThrow(kerr("EINVAL"));
    expect(create(memfd(p, 1, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE))).toThrow(kerr("EINVAL"));
    const unsealable = memfdCreate(p, "no-sealing"); // F_SEAL_SEAL only
    ftruncate(p, unsealable, PAGE_SIZE);
    expect(create(unsealable)).toThrow(kerr("EINVAL"));
    // nothing was pinned by any of them
    for (const pfn of r.mm.frames.pincount) expect(pfn).toBe(0);
  });
});

describe("UDMABUF_CREATE_LIST", () => {
  it("concatenates the ranges of several memfds in order", () => {
    const { r, p, dev } = setup();
    const a = memfd(p, 2, F_SEAL_SHRINK, 1);
    const b = memfd(p, 3, F_SEAL_SHRINK | F_SEAL_GROW, 2);
    const fd = p.ioctl(dev, UDMABUF_CREATE_LIST, {
      flags: 0,
      count: 2,
      list: [
        { memfd: b, offset: PAGE_SIZE, size: 2 * PAGE_SIZE },
        { memfd: a, offset: 0, size: PAGE_SIZE },
      ],
    }) as number;
    const va = p.mmap({ fd, length: 3 * PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    expect(Buffer.compare(p.memRead(va, 2 * PAGE_SIZE), pattern(3 * PAGE_SIZE, 2).subarray(PAGE_SIZE))).toBe(
      0,
    );
    expect(
      Buffer.compare(
        p.memRead(va + 2 * PAGE_SIZE, PAGE_SIZE),
        pattern(2 * PAGE_SIZE, 1).subarray(0, PAGE_SIZE),
      ),
    ).toBe(0);
    expect(r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, fd)).size).toBe(3 * PAGE_SIZE);
  });

  it("EINVAL over list_limit or for an empty list; EFAULT when the list is shorter than count; a bad item pins nothing", () => {
    const r = boot();
    const p = proc(r, "app");
    const dev = p.open("/dev/udmabuf", O_RDWR);
    const a = memfd(p, 2);
    expect(() => p.ioctl(dev, UDMABUF_CREATE_LIST, { flags: 0, count: 1025, list: [] })).toThrow(
      kerr("EINVAL", /list_limit/),
    );
    expect(() => p.ioctl(dev, UDMABUF_CREATE_LIST, { flags: 0, count: 0, list: [] })).toThrow(
      kerr("EINVAL", /0 pages/),
    );
    expect(() =>
      p.ioctl(dev, UDMABUF_CREATE_LIST, {
        flags: 0,
        count: 2,
        list: [{ memfd: a, offset: 0, size: PAGE_SIZE }],
      }),
    ).toThrow(kerr("EFAULT"));
    expect(() =>
      p.ioctl(dev, UDMABUF_CREATE_LIST, {
        flags: 0,
        count: 2,
        list: [
          { memfd: a, offset: 0, size: PAGE_SIZE },
          { memfd: 99, offset: 0, size: PAGE_SIZE },
        ],
      }),
    ).toThrow(kerr("EBADFD"));
    for (const n of r.mm.frames.pincount) expect(n).toBe(0);
  });

  it("unknown ioctls are ENOTTY; the node exists once per kernel", () => {
    const { r, p, dev } = setup();
    expect(() => p.ioctl(dev, _IO("u", 0x44))).toThrow(kerr("ENOTTY"));
    expect(() => udmabufDevInit(r.kernel)).toThrow(kerr("EEXIST"));
  });
});

describe("a udmabuf's life", () => {
  it("pins the pages: they outlive the memfd, F_SEAL_WRITE is EBUSY meanwhile, and all return at release", () => {
    const { r, p, dev } = setup();
    const free0 = r.mm.buddy.nrFreePages;
    const mfd = memfd(p, 4);
    const fd = p.ioctl(dev, UDMABUF_CREATE, {
      memfd: mfd,
      flags: 0,
      offset: 0,
      size: 4 * PAGE_SIZE,
    }) as number;
    expect(() => fcntl(p, mfd, F_ADD_SEALS, F_SEAL_WRITE)).toThrow(kerr("EBUSY", /pinned/));
    p.close(mfd);
    const va = p.mmap({ fd, length: 4 * PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    expect(Buffer.compare(p.memRead(va, 4 * PAGE_SIZE), pattern(4 * PAGE_SIZE))).toBe(0);
    expect(r.mm.buddy.nrFreePages).toBe(free0 - 4);
    p.close(fd);
    p.munmap(va, 4 * PAGE_SIZE);
    expect(r.mm.buddy.nrFreePages).toBe(free0);
    expectNoBuffers(r);
  });

  it("mmap needs MAP_SHARED; vmap maps the pages in the kernel", () => {
    const { r, p, dev } = setup();
    const fd = p.ioctl(dev, UDMABUF_CREATE, {
      memfd: memfd(p, 2),
      flags: 0,
      offset: 0,
      size: 2 * PAGE_SIZE,
    }) as number;
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_PRIVATE })).toThrow(
      kerr("EINVAL", /MAP_SHARED/),
    );
    const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, fd));
    const kaddr = dmaBufVmap(buf);
    const got = new Uint8Array(8);
    r.cpu.read(r.mm.kspace, kaddr + PAGE_SIZE, got);
    expect(got).toEqual(pattern(2 * PAGE_SIZE).subarray(PAGE_SIZE, PAGE_SIZE + 8));
    dmaBufVunmap(buf, kaddr);
    dmaBufPut(buf);
  });

  it("SYNC: END before any START is EINVAL; with START/END a device sees the CPU's writes and the CPU the device's", async () => {
    const { r, p, dev } = setup();
    const fd = p.ioctl(dev, UDMABUF_CREATE, {
      memfd: memfd(p, 2),
      flags: 0,
      offset: 0,
      size: 2 * PAGE_SIZE,
    }) as number;
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE })).toThrow(
      kerr("EINVAL"),
    );
    const imp = importer(r, "g2d", "direct");
    const ifd = p.open(imp.path, O_RDWR);
    p.ioctl(ifd, IMP_IMPORT, { fd, dir: 0 });
    const va = p.mmap({ fd, length: 2 * PAGE_SIZE, prot: RW, flags: MAP_SHARED });
    await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
    p.memWrite(va + 10, new Uint8Array([1, 2, 3]));
    await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });
    const rd = { offset: 10, len: 3, data: new Uint8Array(0) };
    p.ioctl(ifd, IMP_READ, rd);
    expect([...rd.data]).toEqual([1, 2, 3]);
    p.ioctl(ifd, IMP_WRITE, { offset: PAGE_SIZE, data: new Uint8Array([9, 9]) });
    await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ });
    expect([...p.memRead(va + PAGE_SIZE, 2)]).toEqual([9, 9]);
    await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ });
    expect(cpuOf(r.kernel).checker.total).toBe(0);
    p.exit(0);
    expectNoBuffers(r);
  });
});
