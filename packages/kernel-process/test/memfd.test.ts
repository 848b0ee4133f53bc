// Ideas from tools/testing/selftests/memfd/memfd_test.c (create flags, seals, write/grow/shrink
// checks under each seal, shared writable mappings against F_SEAL_WRITE).
import { cpuInit } from "@umm/arch-arm";
import { PAGE_SIZE } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  F_GETFD,
  F_SEAL_EXEC,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  FD_CLOEXEC,
  fcntl,
  ftruncate,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_EXEC,
  MFD_HUGETLB,
  MFD_NAME_MAX_LEN,
  MFD_NOEXEC_SEAL,
  memfdCreate,
  memfdFcntl,
  memfdPinPages,
  O_RDWR,
  openFiles,
  SEEK_END,
  SEEK_SET,
  shmemFile,
  spawn,
} from "../src/index.js";
import { boot, bytes, testDev } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

function setup(opts: { cpu?: boolean } = {}) {
  const { kernel, mm } = boot();
  if (opts.cpu) cpuInit(kernel);
  const p = spawn(kernel, { comm: "app" });
  return { kernel, mm, p };
}

describe("memfd_create", () => {
  it("makes an empty read-write file at the lowest fd; O_CLOEXEC with MFD_CLOEXEC", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "frames", MFD_CLOEXEC);
    expect(fd).toBe(0);
    expect(fcntl(p, fd, F_GETFD)).toBe(FD_CLOEXEC);
    expect(p.getFileFlags(fd) & 3).toBe(O_RDWR);
    expect(p.lseek(fd, 0, SEEK_END)).toBe(0);
    const file = p.fget(fd);
    expect(shmemFile(file)).toBe(true);
    expect(file.path).toBe("/memfd:frames (deleted)");
    file.put();
    expect(fcntl(p, memfdCreate(p, "x"), F_GETFD)).toBe(0);
  });

  it("rejects unknown flags, MFD_EXEC with MFD_NOEXEC_SEAL and long names with EINVAL", () => {
    const { p } = setup();
    expect(() => memfdCreate(p, "x", 0x100)).toThrow(kerr("EINVAL", /unknown bits/));
    expect(() => memfdCreate(p, "x", MFD_EXEC | MFD_NOEXEC_SEAL)).toThrow(kerr("EINVAL", /together/));
    expect(() => memfdCreate(p, "n".repeat(MFD_NAME_MAX_LEN + 1))).toThrow(
      kerr("EINVAL", /MFD_NAME_MAX_LEN/),
    );
    expect(() => memfdCreate(p, 7 as unknown as string)).toThrow(kerr("EFAULT"));
    expect(() => memfdCreate(p, "huge", MFD_HUGETLB)).toThrow(kerr("ENOSYS", /hugetlbfs/));
    expect(p.fds.count).toBe(0);
    expect(memfdCreate(p, "n".repeat(MFD_NAME_MAX_LEN))).toBe(0);
  });

  it("EMFILE when the table is full and ESRCH after exit, creating nothing", () => {
    const { kernel, p } = setup();
    for (let i = 0; i < p.fds.limit; i++) memfdCreate(p, `m${i}`);
    const files = openFiles(kernel).length;
    expect(() => memfdCreate(p, "one more")).toThrow(kerr("EMFILE"));
    expect(openFiles(kernel).length).toBe(files);
    p.exit(0);
    expect(openFiles(kernel)).toHaveLength(0);
    expect(() => memfdCreate(p, "late")).toThrow(kerr("ESRCH"));
  });
});

describe("read, write, lseek, ftruncate", () => {
  it("writes grow the file, holes read as zeros, lseek reports the size", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "data");
    ftruncate(p, fd, 3 * PAGE_SIZE);
    expect(p.read(fd, 10)).toEqual(new Uint8Array(10));
    p.lseek(fd, 5 * PAGE_SIZE - 3, SEEK_SET);
    expect(p.write(fd, bytes(100, 7))).toBe(100);
    expect(p.lseek(fd, 0, SEEK_END)).toBe(5 * PAGE_SIZE + 97);
    p.lseek(fd, 5 * PAGE_SIZE - 3, SEEK_SET);
    expect(p.read(fd, 1000)).toEqual(bytes(100, 7));
    expect(p.read(fd, 1000)).toHaveLength(0);
    expect(() => p.lseek(fd, -1, SEEK_SET)).toThrow(kerr("EINVAL", /negative/));
  });

  it("shrinking frees the pages past the end and zeroes the tail of the last page", () => {
    const { mm, p } = setup();
    const fd = memfdCreate(p, "data");
    const free0 = mm.buddy.nrFreePages;
    p.write(fd, bytes(4 * PAGE_SIZE, 1));
    expect(mm.buddy.nrFreePages).toBe(free0 - 4);
    ftruncate(p, fd, PAGE_SIZE + 10);
    expect(mm.buddy.nrFreePages).toBe(free0 - 2);
    ftruncate(p, fd, 2 * PAGE_SIZE);
    p.lseek(fd, 0, SEEK_SET);
    const got = p.read(fd, 2 * PAGE_SIZE);
    expect(got.subarray(0, PAGE_SIZE + 10)).toEqual(bytes(4 * PAGE_SIZE, 1).subarray(0, PAGE_SIZE + 10));
    expect(got.subarray(PAGE_SIZE + 10)).toEqual(new Uint8Array(PAGE_SIZE - 10));
    p.close(fd);
    expect(mm.buddy.nrFreePages).toBe(free0);
  });

  it("ftruncate: EINVAL for a negative length or a file that is not a memfd, EBADF for a closed fd", () => {
    const { kernel, mm, p } = setup();
    testDev(kernel, mm);
    const fd = memfdCreate(p, "x");
    expect(() => ftruncate(p, fd, -1)).toThrow(kerr("EINVAL", /length/));
    expect(() => ftruncate(p, 99, 0)).toThrow(kerr("EBADF"));
    const dev = p.open("/dev/test", O_RDWR);
    expect(() => ftruncate(p, dev, 0)).toThrow(kerr("EINVAL", /not a memfd/));
    expect(() => fcntl(p, dev, F_GET_SEALS)).toThrow(kerr("EINVAL", /not a memfd/));
    expect(() => fcntl(p, fd, 999)).toThrow(kerr("EINVAL", /cmd 999/));
    expect(() => fcntl(p, 55, 999)).toThrow(kerr("EBADF"));
  });

  it("kernel accesses go through the CPU cache, so read(2) sees a store made through a mapping", () => {
    const { p } = setup({ cpu: true });
    const fd = memfdCreate(p, "cached");
    ftruncate(p, fd, PAGE_SIZE);
    const va = p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED });
    p.memWrite(va + 8, bytes(16, 3));
    p.lseek(fd, 8, SEEK_SET);
    expect(p.read(fd, 16)).toEqual(bytes(16, 3));
    p.lseek(fd, 100, SEEK_SET);
    p.write(fd, bytes(8, 9));
    expect(p.memRead(va + 100, 8)).toEqual(bytes(8, 9));
  });
});

describe("seals", () => {
  it("a memfd made without MFD_ALLOW_SEALING carries F_SEAL_SEAL: adding seals is EPERM", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "sealed");
    expect(fcntl(p, fd, F_GET_SEALS)).toBe(F_SEAL_SEAL);
    expect(() => fcntl(p, fd, F_ADD_SEALS, F_SEAL_SHRINK)).toThrow(kerr("EPERM", /F_SEAL_SEAL/));
  });

  it("seals accumulate; F_SEAL_SEAL stops further seals; unknown bits are EINVAL", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "s", MFD_ALLOW_SEALING);
    expect(fcntl(p, fd, F_GET_SEALS)).toBe(0);
    expect(() => fcntl(p, fd, F_ADD_SEALS, 0x100)).toThrow(kerr("EINVAL", /unknown bits/));
    fcntl(p, fd, F_ADD_SEALS, F_SEAL_SHRINK);
    fcntl(p, fd, F_ADD_SEALS, F_SEAL_GROW);
    expect(fcntl(p, fd, F_GET_SEALS)).toBe(F_SEAL_SHRINK | F_SEAL_GROW);
    fcntl(p, fd, F_ADD_SEALS, F_SEAL_SEAL);
    expect(() => fcntl(p, fd, F_ADD_SEALS, F_SEAL_WRITE)).toThrow(kerr("EPERM"));
    expect(fcntl(p, fd, F_GET_SEALS)).toBe(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  });

  it("F_SEAL_SHRINK and F_SEAL_GROW: ftruncate EPERM; writes stop at the end of the file", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "s", MFD_ALLOW_SEALING);
    ftruncate(p, fd, 2 * PAGE_SIZE);
    fcntl(p, fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    expect(() => ftruncate(p, fd, PAGE_SIZE)).toThrow(kerr("EPERM", /shrinking/));
    expect(() => ftruncate(p, fd, 3 * PAGE_SIZE)).toThrow(kerr("EPERM", /growing/));
    ftruncate(p, fd, 2 * PAGE_SIZE); // same size: fine
    p.lseek(fd, 2 * PAGE_SIZE - 10, SEEK_SET);
    expect(p.write(fd, bytes(100))).toBe(10); // short write up to the end
    expect(() => p.write(fd, bytes(1))).toThrow(kerr("EPERM", /F_SEAL_GROW/));
    expect(p.lseek(fd, 0, SEEK_END)).toBe(2 * PAGE_SIZE);
  });

  it("F_SEAL_WRITE: writes and shared writable mappings are EPERM; read-only mappings work", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "s", MFD_ALLOW_SEALING);
    p.write(fd, bytes(PAGE_SIZE, 5));
    fcntl(p, fd, F_ADD_SEALS, F_SEAL_WRITE);
    expect(() => p.write(fd, bytes(1))).toThrow(kerr("EPERM", /writes/));
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED })).toThrow(kerr("EPERM"));
    const ro = p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    expect(p.memRead(ro, 4)).toEqual(bytes(4, 5));
    const priv = p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_PRIVATE });
    p.memWrite(priv, bytes(4, 99));
    expect(p.memRead(ro, 4)).toEqual(bytes(4, 5)); // the private copy is private
    expect(p.memRead(priv, 4)).toEqual(bytes(4, 99));
  });

  it("F_SEAL_WRITE is EBUSY while a shared writable mapping exists", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "s", MFD_ALLOW_SEALING);
    ftruncate(p, fd, 2 * PAGE_SIZE);
    const va = p.mmap({ fd, length: 2 * PAGE_SIZE, prot: RW, flags: MAP_SHARED });
    p.munmap(va, PAGE_SIZE); // a split keeps one writable piece
    expect(() => fcntl(p, fd, F_ADD_SEALS, F_SEAL_WRITE)).toThrow(kerr("EBUSY", /writable mapping/));
    expect(fcntl(p, fd, F_GET_SEALS)).toBe(0);
    p.munmap(va + PAGE_SIZE, PAGE_SIZE);
    fcntl(p, fd, F_ADD_SEALS, F_SEAL_WRITE);
    expect(fcntl(p, fd, F_GET_SEALS)).toBe(F_SEAL_WRITE);
  });

  it("F_SEAL_FUTURE_WRITE: existing writable mappings keep working, new ones and write(2) are EPERM", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "s", MFD_ALLOW_SEALING);
    ftruncate(p, fd, PAGE_SIZE);
    const va = p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED });
    fcntl(p, fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
    p.memWrite(va, bytes(8, 1));
    expect(() => p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED })).toThrow(kerr("EPERM"));
    expect(() => p.write(fd, bytes(1))).toThrow(kerr("EPERM"));
    p.lseek(fd, 0, SEEK_SET);
    expect(p.read(fd, 8)).toEqual(bytes(8, 1));
  });

  it("pinned pages make F_SEAL_WRITE EBUSY and outlive the file until unpinned", () => {
    const { mm, p } = setup();
    const fd = memfdCreate(p, "s", MFD_ALLOW_SEALING);
    ftruncate(p, fd, 4 * PAGE_SIZE);
    const file = p.fget(fd);
    const free0 = mm.buddy.nrFreePages;
    const pin = memfdPinPages(file, 1, 2);
    expect(mm.buddy.nrFreePages).toBe(free0 - 2); // holes allocated on pin
    expect(mm.frames.pincount[mm.frames.index(pin.pfns[0]!)]).toBe(1);
    expect(() => memfdFcntl(file, F_ADD_SEALS, F_SEAL_WRITE)).toThrow(kerr("EBUSY", /pinned/));
    expect(() => memfdPinPages(file, 3, 2)).toThrow(kerr("EINVAL", /beyond/));
    expect(() => memfdPinPages(file, 0, 0)).toThrow(kerr("EINVAL"));
    file.put();
    p.close(fd);
    expect(mm.buddy.nrFreePages).toBe(free0 - 2);
    pin.release();
    expect(mm.buddy.nrFreePages).toBe(free0);
  });

  it("MFD_NOEXEC_SEAL starts with F_SEAL_EXEC; F_SEAL_EXEC on an executable memfd adds the write seals", () => {
    const { p } = setup();
    const a = memfdCreate(p, "noexec", MFD_NOEXEC_SEAL);
    expect(fcntl(p, a, F_GET_SEALS)).toBe(F_SEAL_EXEC);
    const b = memfdCreate(p, "exec", MFD_ALLOW_SEALING);
    fcntl(p, b, F_ADD_SEALS, F_SEAL_EXEC);
    expect(fcntl(p, b, F_GET_SEALS)).toBe(
      F_SEAL_EXEC | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE,
    );
  });
});

describe("mmap and sharing", () => {
  it("a second process receives the memfd and sees the first one's stores", () => {
    const { kernel, mm, p } = setup();
    const free0 = mm.buddy.nrFreePages;
    const q = spawn(kernel, { comm: "consumer" });
    const l = q.listen("/run/memfd");
    const fd = memfdCreate(p, "frame", MFD_ALLOW_SEALING);
    ftruncate(p, fd, PAGE_SIZE);
    const va = p.mmap({ fd, length: PAGE_SIZE, prot: RW, flags: MAP_SHARED });
    p.memWrite(va, new TextEncoder().encode("hello"));
    const s = p.connect("/run/memfd");
    p.sendmsg(s, { fds: [fd] });
    p.exit(0);
    const c = q.accept(l);
    const { fds } = q.recvmsg(c);
    const vb = q.mmap({ fd: fds[0]!, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    expect(new TextDecoder().decode(q.memRead(vb, 5))).toBe("hello");
    q.exit(0);
    expect(mm.buddy.nrFreePages).toBe(free0);
  });

  it("mmap past the end of the file is EINVAL and maps nothing", () => {
    const { p } = setup();
    const fd = memfdCreate(p, "m");
    ftruncate(p, fd, PAGE_SIZE + 1);
    expect(() => p.mmap({ fd, length: 3 * PAGE_SIZE, prot: RW, flags: MAP_SHARED })).toThrow(
      kerr("EINVAL", /beyond/),
    );
    expect(p.space.vmas).toHaveLength(0);
    p.mmap({ fd, length: 2 * PAGE_SIZE, prot: RW, flags: MAP_SHARED });
  });

  it("a mapping keeps the file and its pages after the fd is closed", () => {
    const { mm, p } = setup();
    const free0 = mm.buddy.nrFreePages;
    const fd = memfdCreate(p, "m");
    p.write(fd, bytes(PAGE_SIZE, 2));
    const va = p.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
    p.close(fd);
    expect(p.memRead(va, 16)).toEqual(bytes(16, 2));
    p.munmap(va, PAGE_SIZE);
    expect(mm.buddy.nrFreePages).toBe(free0);
  });
});
