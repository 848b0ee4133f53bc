import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  IOCTL_PMM_ALLOC,
  IOCTL_PMM_SHMGET,
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_STAT,
  PMM_MAGIC,
  PMM_NO_CACHE,
  pmmInfo,
  SHM_DEST,
  SHM_RDONLY,
  SHM_RND,
  SHMLBA,
  shmat,
  shmctl,
  shmdt,
  shmget,
} from "../src/index.js";
import { expectPmmConsistent } from "../src/testing.js";
import { areaInfo, board, pattern, record } from "./helpers.js";

const KEY = 0x1234;

function setup(opts: Parameters<typeof board>[0] = {}) {
  const { kernel, mm } = board({ cmdline: "pmm=8M", ...opts });
  const client = spawn(kernel, { comm: "client", uid: 1000, gid: 100 });
  const fd = client.open("/dev/pmm", O_RDWR);
  const free = () => pmmInfo(kernel).free;
  const share = (size = 16 * PAGE_SIZE, mode = 0o600, key = KEY, flags = 0, p: Process = client, f = fd) => {
    const info = areaInfo(size, { flags });
    p.ioctl(f, IOCTL_PMM_ALLOC, info);
    return p.ioctl(f, IOCTL_PMM_SHMGET, { magic: PMM_MAGIC, key, shmflg: mode }) as number;
  };
  return { kernel, mm, client, fd, free, share };
}

describe("IOCTL_PMM_SHMGET + shmat: X-SHM without a copy", () => {
  it("shares the area: another process finds it by key, maps the same bytes; the area lives until RMID and the last detach", () => {
    const { kernel, client, fd, free, share } = setup();
    const rec = record(kernel, ["pmm_shm_create", "pmm_shm_attach", "pmm_shm_detach", "pmm_shm_destroy"]);
    const shmid = share(16 * PAGE_SIZE, 0o666);
    expect(shmid).toBeGreaterThanOrEqual(0);
    const size = 16 * PAGE_SIZE;
    const va = client.mmap({ fd, length: size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    const frame = pattern(size);
    client.memWrite(va, frame);

    const xserver = spawn(kernel, { comm: "Xorg", uid: 0 });
    const id = shmget(xserver, KEY, 0, 0);
    expect(id).toBe(shmid);
    const xva = shmat(xserver, id);
    const vma = xserver.space.findVma(xva)!;
    expect(vma.name).toBe("SYSV00001234");
    expect(vma.pfnmap).toBe(true);
    expect(xserver.space.translate(xva)).toBe(client.space.translate(va));
    expect(xserver.memRead(xva, size)).toEqual(frame);
    expect(shmctl(xserver, id, IPC_STAT)).toMatchObject({
      key: KEY,
      size,
      nattch: 1,
      cuid: 1000,
      mode: 0o666,
    });

    // the client lets go of everything: the segment keeps the area
    client.close(fd);
    client.munmap(va, size);
    expect(free()).toBe(8 * SZ_1M - size);
    shmctl(client, id, IPC_RMID); // marked: key gone, still attached
    expect(shmctl(xserver, id, IPC_STAT)).toMatchObject({
      key: IPC_PRIVATE,
      mode: 0o666 | SHM_DEST,
      nattch: 1,
    });
    expect(() => shmget(xserver, KEY, 0, 0)).toThrow(kerr("ENOENT"));
    expect(free()).toBe(8 * SZ_1M - size);
    shmdt(xserver, xva);
    expect(free()).toBe(8 * SZ_1M);
    expect(() => shmat(xserver, id)).toThrow(kerr("EINVAL"));
    expect(rec.records().map((r) => r.name)).toEqual([
      "pmm_shm_create",
      "pmm_shm_attach",
      "pmm_shm_detach",
      "pmm_shm_destroy",
    ]);
    expectPmmConsistent(kernel);
  });

  it("a segment removed while unattached goes at once; one removed while attached goes at the last detach or exit", () => {
    const { kernel, client, fd, free, share } = setup();
    const id = share(4 * PAGE_SIZE, 0o600);
    client.close(fd);
    expect(free()).toBe(8 * SZ_1M - 4 * PAGE_SIZE);
    const a = shmat(client, id);
    const b = shmat(client, id);
    client.mprotect(a + PAGE_SIZE, PAGE_SIZE, PROT_READ); // splits the first attach in three
    expect(shmctl(client, id, IPC_STAT).nattch).toBe(4);
    shmctl(client, id, IPC_RMID);
    shmdt(client, a); // every piece of it
    expect(shmctl(client, id, IPC_STAT).nattch).toBe(1);
    expect(free()).toBe(8 * SZ_1M - 4 * PAGE_SIZE);
    client.exit(0); // the last attach goes with the process
    expect(free()).toBe(8 * SZ_1M);
    expect(b).not.toBe(a);
    const p2 = spawn(kernel, { comm: "p2" });
    const fd2 = p2.open("/dev/pmm", O_RDWR);
    const id2 = share(PAGE_SIZE, 0o600, KEY, 0, p2, fd2);
    p2.close(fd2);
    shmctl(p2, id2, IPC_RMID);
    expect(free()).toBe(8 * SZ_1M);
  });

  it("a PMM_NO_CACHE area is attached write-combined", () => {
    const { client, share } = setup();
    const id = share(PAGE_SIZE, 0o600, KEY, PMM_NO_CACHE);
    expect(client.space.findVma(shmat(client, id))!.memtypeName).toBe("writecombine");
  });
});

describe("key permissions (mode bits against uid/gid)", () => {
  it("owner, group and others get what the mode grants; root gets everything", () => {
    const { kernel, share } = setup();
    const id = share(PAGE_SIZE, 0o640);
    const groupmate = spawn(kernel, { comm: "g", uid: 2000, gid: 100 });
    const stranger = spawn(kernel, { comm: "o", uid: 3000, gid: 300 });
    expect(shmget(groupmate, KEY, 0, 0o440)).toBe(id);
    expect(() => shmget(groupmate, KEY, 0, 0o660)).toThrow(kerr("EACCES"));
    expect(() => shmat(groupmate, id)).toThrow(kerr("EACCES", /read-write/));
    const ro = shmat(groupmate, id, 0, SHM_RDONLY);
    expect(groupmate.memRead(ro, 4)).toHaveLength(4);
    expect(() => groupmate.memWrite(ro, new Uint8Array(1))).toThrow(kerr("EFAULT"));
    expect(() => shmget(stranger, KEY, 0, 0o400)).toThrow(kerr("EACCES"));
    expect(() => shmat(stranger, id, 0, SHM_RDONLY)).toThrow(kerr("EACCES"));
    expect(() => shmctl(stranger, id, IPC_STAT)).toThrow(kerr("EACCES"));
    expect(() => shmctl(groupmate, id, IPC_RMID)).toThrow(kerr("EPERM"));
    const root = spawn(kernel, { comm: "root" });
    expect(shmat(root, id)).toBeGreaterThan(0);
    shmctl(root, id, IPC_RMID);
  });
});

describe("errors", () => {
  it("IOCTL_PMM_SHMGET: EINVAL for NULL, EBADFD without an area, EFAULT, ENOTTY for a bad magic, EEXIST for a key in use", () => {
    const { client, fd, share, kernel } = setup();
    const shm = (arg: unknown) => client.ioctl(fd, IOCTL_PMM_SHMGET, arg);
    expect(() => shm(null)).toThrow(kerr("EINVAL"));
    expect(() => shm({ magic: PMM_MAGIC, key: 1, shmflg: 0o600 })).toThrow(kerr("EBADFD"));
    client.ioctl(fd, IOCTL_PMM_ALLOC, areaInfo(PAGE_SIZE));
    expect(() => shm(3)).toThrow(kerr("EFAULT"));
    expect(() => shm({ magic: 0, key: 1, shmflg: 0o600 })).toThrow(kerr("ENOTTY"));
    const id = shm({ magic: PMM_MAGIC, key: 1, shmflg: 0o600 });
    expect(() => shm({ magic: PMM_MAGIC, key: 1, shmflg: 0o600 })).toThrow(kerr("EEXIST"));
    // IPC_PRIVATE segments never collide
    const p1 = shm({ magic: PMM_MAGIC, key: IPC_PRIVATE, shmflg: 0o600 });
    const p2 = shm({ magic: PMM_MAGIC, key: IPC_PRIVATE, shmflg: 0o600 });
    expect(new Set([id, p1, p2]).size).toBe(3);
    const other = spawn(kernel, { comm: "x" });
    const fd2 = other.open("/dev/pmm", O_RDWR);
    expect(() => share(PAGE_SIZE, 0o600, 1, 0, other, fd2)).toThrow(kerr("EEXIST"));
  });

  it("ENOSYS without CONFIG_PMM_SHM", () => {
    const { client, fd } = setup({ init: { shm: false } });
    client.ioctl(fd, IOCTL_PMM_ALLOC, areaInfo(PAGE_SIZE));
    expect(() => client.ioctl(fd, IOCTL_PMM_SHMGET, { magic: PMM_MAGIC, key: 1, shmflg: 0 })).toThrow(
      kerr("ENOSYS"),
    );
    expect(() => shmget(client, 1, 0, 0)).toThrow(kerr("ENOSYS"));
  });

  it("the quotas: ENOSPC beyond shmall pages or shmmni segments, EINVAL beyond shmmax", () => {
    const s = setup({ init: { shm: { shmall: 7, shmmni: 2, shmmax: 4 * PAGE_SIZE } } });
    const id = s.share(4 * PAGE_SIZE);
    const mk = () => {
      const p = spawn(s.kernel, { comm: "q" });
      return { p, fd: p.open("/dev/pmm", O_RDWR) };
    };
    const a = mk();
    expect(() => s.share(4 * PAGE_SIZE, 0o600, 2, 0, a.p, a.fd)).toThrow(kerr("ENOSPC", /shmall/));
    const b = mk();
    expect(() => s.share(8 * PAGE_SIZE, 0o600, 3, 0, b.p, b.fd)).toThrow(kerr("EINVAL", /shmmax/));
    const c = mk();
    s.share(2 * PAGE_SIZE, 0o600, 4, 0, c.p, c.fd);
    const d = mk();
    expect(() => s.share(PAGE_SIZE, 0o600, 5, 0, d.p, d.fd)).toThrow(kerr("ENOSPC", /shmmni/));
    shmctl(s.client, id, IPC_RMID);
    const e = mk();
    s.share(PAGE_SIZE, 0o600, 5, 0, e.p, e.fd);
  });

  it("shmget, shmat, shmdt, shmctl argument errors", () => {
    const { client, share } = setup();
    const id = share(PAGE_SIZE, 0o600);
    expect(() => shmget(client, 0x999, 0, 0)).toThrow(kerr("ENOENT"));
    expect(() => shmget(client, 0x999, PAGE_SIZE, IPC_CREAT | 0o600)).toThrow(kerr("ENOSYS"));
    expect(() => shmget(client, IPC_PRIVATE, PAGE_SIZE, 0o600)).toThrow(kerr("ENOSYS"));
    expect(() => shmget(client, KEY, 0, IPC_CREAT | IPC_EXCL)).toThrow(kerr("EEXIST"));
    expect(() => shmget(client, KEY, 2 * PAGE_SIZE, 0)).toThrow(kerr("EINVAL"));
    expect(() => shmat(client, id + 1)).toThrow(kerr("EINVAL"));
    expect(() => shmat(client, id + 32768)).toThrow(kerr("EINVAL"));
    expect(() => shmat(client, id, 0x10001000)).toThrow(kerr("EINVAL", /SHMLBA/));
    expect(shmat(client, id, 0x10001000, SHM_RND)).toBe(0x10000000);
    expect(() => shmat(client, id, 0x10000000)).toThrow(kerr("EINVAL", /already mapped/));
    expect(() => shmdt(client, 0x10001000)).toThrow(kerr("EINVAL"));
    expect(() => shmctl(client, id, 77)).toThrow(kerr("EINVAL"));
    expect(() => shmctl(client, 12345, IPC_STAT)).toThrow(kerr("EINVAL"));
    shmdt(client, 0x10000000);
    expect(SHMLBA).toBe(4 * PAGE_SIZE);
    client.exit(0);
    expect(() => shmat(client, id)).toThrow(kerr("ESRCH"));
  });
});
