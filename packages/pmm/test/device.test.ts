import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { _IOC_NR, _IOC_TYPE, _IOR, _IOW, _IOWR, O_RDWR, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  IOCTL_PMM_ALLOC,
  IOCTL_PMM_SHMGET,
  PMM_MAGIC,
  PMM_MEM_DMA24,
  PMM_MEM_GENERAL,
  PMM_NO_CACHE,
  type PmmAreaInfo,
  pmmAlloc,
  pmmInfo,
  pmmPut,
} from "../src/index.js";
import { expectPmmConsistent } from "../src/testing.js";
import { areaInfo, board, pattern, TYPES_24 } from "./helpers.js";

function setup(opts: Parameters<typeof board>[0] = {}) {
  const { kernel, mm } = board({ cmdline: "pmm=8M", ...opts });
  const proc = spawn(kernel, { comm: "player" });
  const fd = proc.open("/dev/pmm", O_RDWR);
  const free = () => pmmInfo(kernel).free;
  return { kernel, mm, proc, fd, free };
}

const rw = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED };

describe("/dev/pmm: IOCTL_PMM_ALLOC", () => {
  it("allocates one area per file; mmap maps it; the bytes are the area's", () => {
    const { kernel, mm, proc, fd, free } = setup();
    const info = areaInfo(100_000);
    expect(proc.ioctl(fd, IOCTL_PMM_ALLOC, info)).toBe(0);
    expect(info.size).toBe(25 * PAGE_SIZE);
    expect(free()).toBe(8 * SZ_1M - info.size);
    const va = proc.mmap({ fd, length: info.size, ...rw });
    const vma = proc.space.findVma(va)!;
    expect(vma.pfnmap).toBe(true);
    expect(vma.memtypeName).toBe("cacheable");
    const data = pattern(info.size);
    proc.memWrite(va, data);
    const pa = proc.space.translate(va);
    expect(mm.frames.ownerOf(pa / PAGE_SIZE)).toBe("pmm:general:player");
    expect(proc.memRead(va + 4000, 16)).toEqual(data.subarray(4000, 4016));
    proc.exit(0);
    expect(free()).toBe(8 * SZ_1M);
    expectPmmConsistent(kernel);
  });

  it("rejects with the RFC's errors and changes nothing", () => {
    const { proc, fd, free } = setup({
      types: TYPES_24.map((t) => ({ ...t, user: t.type !== PMM_MEM_DMA24 })),
    });
    const f0 = free();
    const cases: [unknown, RegExp][] = [
      [null, kerr("EINVAL", /NULL/)],
      [0, kerr("EINVAL")],
      [42, kerr("EFAULT")],
      [{ ...areaInfo(PAGE_SIZE), magic: 0x1234 }, kerr("ENOTTY", /magic/)],
      [areaInfo(0), kerr("ENOMEM")],
      [areaInfo(PAGE_SIZE, { alignment: 6000 }), kerr("ENOMEM")],
      [areaInfo(PAGE_SIZE, { type: 0 }), kerr("ENOMEM")],
      [areaInfo(PAGE_SIZE, { type: PMM_MEM_DMA24 }), kerr("ENOMEM", /user types 0x1/)], // not a user type
      [areaInfo(64 * SZ_1M), kerr("ENOMEM")],
    ];
    for (const [arg, err] of cases) {
      expect(() => proc.ioctl(fd, IOCTL_PMM_ALLOC, arg)).toThrow(err);
      expect(free()).toBe(f0);
    }
    expect(() => proc.mmap({ fd, length: PAGE_SIZE, ...rw })).toThrow(kerr("EBADFD"));
    // the kernel API still reaches the non-user type
    expect(pmmAlloc(proc.kernel, areaInfo(PAGE_SIZE, { type: PMM_MEM_DMA24 }))).not.toBe(0);
  });

  it("a second alloc on the same file is EBADFD, before any other check", () => {
    const { proc, fd, free } = setup();
    proc.ioctl(fd, IOCTL_PMM_ALLOC, areaInfo(PAGE_SIZE));
    const f1 = free();
    expect(() => proc.ioctl(fd, IOCTL_PMM_ALLOC, areaInfo(PAGE_SIZE))).toThrow(kerr("EBADFD"));
    expect(() => proc.ioctl(fd, IOCTL_PMM_ALLOC, { ...areaInfo(PAGE_SIZE), magic: 1 })).toThrow(
      kerr("EBADFD"),
    );
    expect(() => proc.ioctl(fd, IOCTL_PMM_ALLOC, 7)).toThrow(kerr("EBADFD"));
    expect(() => proc.ioctl(fd, IOCTL_PMM_ALLOC, null)).toThrow(kerr("EINVAL"));
    expect(free()).toBe(f1);
    const fd2 = proc.open("/dev/pmm", O_RDWR);
    proc.ioctl(fd2, IOCTL_PMM_ALLOC, areaInfo(PAGE_SIZE));
    expect(free()).toBe(f1 - PAGE_SIZE);
  });

  it("dispatches on the whole command: same type and number, other direction or size is another ioctl", () => {
    const { proc, fd } = setup();
    expect(_IOC_NR(IOCTL_PMM_SHMGET)).toBe(_IOC_NR(IOCTL_PMM_ALLOC));
    expect(_IOC_TYPE(IOCTL_PMM_SHMGET)).toBe(_IOC_TYPE(IOCTL_PMM_ALLOC));
    expect(IOCTL_PMM_ALLOC).toBe(_IOWR("p", 0, 20));
    expect(IOCTL_PMM_SHMGET).toBe(_IOR("p", 0, 12));
    // an alloc request sent with the SHMGET number is a SHMGET (no area yet: EBADFD)
    expect(() => proc.ioctl(fd, IOCTL_PMM_SHMGET, areaInfo(PAGE_SIZE))).toThrow(kerr("EBADFD"));
    for (const cmd of [
      _IOW("p", 0, 20),
      _IOR("p", 0, 20),
      _IOWR("p", 1, 20),
      _IOWR("q", 0, 20),
      _IOWR("p", 0, 24),
    ]) {
      expect(() => proc.ioctl(fd, cmd, areaInfo(PAGE_SIZE))).toThrow(kerr("ENOTTY", /unknown ioctl/));
    }
  });
});

describe("/dev/pmm: mmap", () => {
  it("EBADFD without an area; ENOSPC for any range outside the area", () => {
    const { proc, fd } = setup();
    expect(() => proc.mmap({ fd, length: PAGE_SIZE, ...rw })).toThrow(kerr("EBADFD"));
    const info: PmmAreaInfo = areaInfo(4 * PAGE_SIZE);
    proc.ioctl(fd, IOCTL_PMM_ALLOC, info);
    const bad = [
      { offset: 4 * PAGE_SIZE, length: PAGE_SIZE }, // offset >= size
      { offset: 0, length: 5 * PAGE_SIZE }, // length > size
      { offset: 2 * PAGE_SIZE, length: 3 * PAGE_SIZE }, // offset + length > size
    ];
    for (const b of bad) expect(() => proc.mmap({ fd, ...b, ...rw })).toThrow(kerr("ENOSPC"));
    expect(proc.space.vmas).toHaveLength(0);
    const va = proc.mmap({ fd, offset: 2 * PAGE_SIZE, length: 2 * PAGE_SIZE, ...rw });
    const whole = proc.mmap({ fd, length: 4 * PAGE_SIZE, ...rw });
    expect(proc.space.translate(va)).toBe(proc.space.translate(whole + 2 * PAGE_SIZE));
  });

  it("PMM_NO_CACHE maps write-combined; otherwise cacheable", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, IOCTL_PMM_ALLOC, areaInfo(PAGE_SIZE, { flags: PMM_NO_CACHE, magic: PMM_MAGIC }));
    const va = proc.mmap({ fd, length: PAGE_SIZE, ...rw });
    expect(proc.space.findVma(va)!.memtypeName).toBe("writecombine");
  });

  it("the area outlives close while mapped, and munmap while open; the last reference frees it", () => {
    const { kernel, proc, fd, free } = setup();
    const info = areaInfo(3 * PAGE_SIZE, { type: PMM_MEM_GENERAL });
    proc.ioctl(fd, IOCTL_PMM_ALLOC, info);
    const va = proc.mmap({ fd, length: info.size, ...rw });
    const dup = proc.dup(fd);
    proc.close(fd);
    proc.munmap(va, info.size);
    expect(free()).toBe(8 * SZ_1M - info.size); // dup still open
    const va2 = proc.mmap({ fd: dup, length: info.size, ...rw });
    proc.close(dup);
    expect(free()).toBe(8 * SZ_1M - info.size); // mapped
    proc.munmap(va2, PAGE_SIZE); // a piece
    expect(free()).toBe(8 * SZ_1M - info.size);
    proc.munmap(va2 + PAGE_SIZE, 2 * PAGE_SIZE);
    expect(free()).toBe(8 * SZ_1M);
    expectPmmConsistent(kernel);
    pmmPut(kernel, 0);
  });
});
