import { KernelError, SZ_4K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  _IOW,
  anonInodeGetfile,
  currentProcess,
  FD_CLOEXEC,
  FIOCLEX,
  FIONCLEX,
  type FileOps,
  fget,
  findChrdev,
  fput,
  NR_OPEN_DEFAULT,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  openFiles,
  registerChrdev,
  SEEK_CUR,
  SEEK_SET,
  spawn,
} from "../src/index.js";
import { boot, bytes, record, TEST_GET, TEST_SET, TEST_WAIT, testDev } from "./helpers.js";

describe("open and close", () => {
  it("open: gives the lowest free fd and close frees it for reuse", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    expect([p.open("/dev/test"), p.open("/dev/test"), p.open("/dev/test")]).toEqual([0, 1, 2]);
    p.close(1);
    expect(p.open("/dev/test", O_RDWR)).toBe(1);
    expect(p.open("/dev/test")).toBe(3);
    expect(p.fds.fds()).toEqual([0, 1, 2, 3]);
  });

  it("open: each open makes a new file; the driver's open sees it, with privateData from the device", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const a = p.fds.get(p.open("/dev/test"))!;
    const b = p.fds.get(p.open("/dev/test"))!;
    expect(a).not.toBe(b);
    expect(dev.log.opens).toBe(2);
    expect(a.privateData).toBe(dev);
    expect(a.cdev).toBe(dev.cdev);
    expect(a.path).toBe("/dev/test");
    expect(dev.cdev.openCount).toBe(2);
  });

  it("open: rejects an unknown path with ENOENT and a socket path with ENXIO", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    expect(() => p.open("/dev/nope")).toThrow(kerr("ENOENT", /\/dev\/nope/));
    p.listen("/run/sock");
    expect(() => p.open("/run/sock")).toThrow(kerr("ENXIO"));
  });

  it("open: rejects access mode 3 with EINVAL", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    expect(() => p.open("/dev/test", 3)).toThrow(kerr("EINVAL", /access mode 3/));
    expect(p.fds.count).toBe(0);
  });

  it("open: a driver open that throws installs nothing and never calls release", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    dev.failOpen = new KernelError("EBUSY", "device busy");
    expect(() => p.open("/dev/test")).toThrow(kerr("EBUSY", /busy/));
    expect(p.fds.count).toBe(0);
    expect(dev.log.releases).toHaveLength(0);
    expect(openFiles(kernel)).toHaveLength(0);
    expect(dev.cdev.openCount).toBe(0);
  });

  it("close: releases the file when its last reference goes, exactly once", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    const file = p.fds.get(fd)!;
    p.close(fd);
    expect(dev.log.releases).toEqual([file]);
    expect(file.released).toBe(true);
    expect(dev.cdev.openCount).toBe(0);
    expect(() => p.close(fd)).toThrow(kerr("EBADF", /fd 0/));
    expect(() => p.close(-1)).toThrow(kerr("EBADF"));
    expect(() => p.close(1.5)).toThrow(kerr("EBADF"));
    expect(dev.log.releases).toHaveLength(1);
  });

  it("every system call runs with the process current", () => {
    const { kernel } = boot();
    const seen: (number | undefined)[] = [];
    registerChrdev(kernel, "/dev/who", {
      ops: {
        open: () => {
          seen.push(kernel.current.pid, currentProcess(kernel)?.pid);
        },
        ioctl: () => kernel.current.pid,
      },
    });
    const p = spawn(kernel, { comm: "who" });
    const fd = p.open("/dev/who");
    expect(seen).toEqual([p.pid, p.pid]);
    expect(p.ioctl(fd, 1)).toBe(p.pid);
    expect(kernel.current.pid).toBe(0);
    expect(currentProcess(kernel)).toBeUndefined();
  });

  it("traces file_open, fd_close and file_release with the task", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const rec = record(kernel, ["file_open", "fd_close", "file_release"]);
    const p = spawn(kernel, { comm: "tracer" });
    const fd = p.open("/dev/test");
    p.close(fd);
    expect(rec.records().map((r) => [r.name, r.pid, r.task, r.data])).toEqual([
      ["file_open", p.pid, "tracer", { pid: p.pid, fd, path: "/dev/test" }],
      ["fd_close", p.pid, "tracer", { pid: p.pid, fd }],
      ["file_release", p.pid, "tracer", { path: "/dev/test" }],
    ]);
  });
});

describe("permissions", () => {
  const cases: [string, number, number, number, number, boolean][] = [
    // [what, mode, uid, gid, flags, allowed]
    ["owner read on 0600", 0o600, 1000, 1000, O_RDONLY, true],
    ["owner write on 0400", 0o400, 1000, 1000, O_WRONLY, false],
    ["group read on 0640", 0o640, 2000, 100, O_RDONLY, true],
    ["group rdwr on 0640", 0o640, 2000, 100, O_RDWR, false],
    ["other read on 0640", 0o640, 2000, 200, O_RDONLY, false],
    ["other rdwr on 0666", 0o666, 2000, 200, O_RDWR, true],
    ["other write on 0662", 0o662, 2000, 200, O_WRONLY, true],
    ["owner bits apply to the owner even when other bits allow", 0o066, 1000, 100, O_RDONLY, false],
    ["root bypasses 0000", 0o000, 0, 0, O_RDWR, true],
  ];
  for (const [what, mode, uid, gid, flags, allowed] of cases) {
    it(`open: ${what} is ${allowed ? "allowed" : "EACCES"}`, () => {
      const { kernel, mm } = boot();
      const dev = testDev(kernel, mm, { mode, uid: 1000, gid: 100 });
      const p = spawn(kernel, { comm: "user", uid, gid });
      if (allowed) expect(p.open("/dev/test", flags)).toBe(0);
      else {
        expect(() => p.open("/dev/test", flags)).toThrow(kerr("EACCES", /\/dev\/test/));
        expect(dev.log.opens).toBe(0);
        expect(p.fds.count).toBe(0);
      }
    });
  }
});

describe("character devices", () => {
  it("registerChrdev: EEXIST for a taken path, EINVAL for bad arguments", () => {
    const { kernel } = boot();
    registerChrdev(kernel, "/dev/a", { ops: {} });
    expect(() => registerChrdev(kernel, "/dev/a", { ops: {} })).toThrow(kerr("EEXIST", /\/dev\/a/));
    expect(() => registerChrdev(kernel, "dev/b", { ops: {} })).toThrow(kerr("EINVAL", /not an absolute/));
    expect(() => registerChrdev(kernel, "/dev/b", { ops: {}, mode: 0o1777 })).toThrow(kerr("EINVAL", /mode/));
    expect(() => registerChrdev(kernel, "/dev/b", { ops: {}, uid: -1 })).toThrow(kerr("EINVAL", /uid/));
    expect(findChrdev(kernel, "/dev/b")).toBeUndefined();
    const p = spawn(kernel, { comm: "app" });
    p.listen("/dev/sock");
    expect(() => registerChrdev(kernel, "/dev/sock", { ops: {} })).toThrow(kerr("EEXIST"));
  });

  it("unregister while open: open files keep working until closed, later opens fail with ENOENT", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDWR);
    dev.cdev.unregister();
    expect(dev.cdev.registered).toBe(false);
    expect(() => p.open("/dev/test")).toThrow(kerr("ENOENT"));
    expect(p.write(fd, bytes(16))).toBe(16);
    p.lseek(fd, 0, SEEK_SET);
    expect(p.read(fd, 16)).toEqual(bytes(16));
    expect(() => dev.cdev.unregister()).toThrow(kerr("ENOENT", /not registered/));
    p.close(fd);
    expect(dev.log.releases).toHaveLength(1);
    // the path is free again
    const again = testDev(kernel, mm);
    expect(p.open("/dev/test")).toBe(0);
    expect(again.log.opens).toBe(1);
  });
});

describe("dup, dup2 and fd flags", () => {
  it("dup: the lowest free fd for the same file; the file lives until the last fd closes", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    const d = p.dup(fd);
    expect(d).toBe(1);
    expect(p.fds.get(d)).toBe(p.fds.get(fd));
    expect(p.fds.get(fd)!.refcount).toBe(2);
    p.close(fd);
    expect(dev.log.releases).toHaveLength(0);
    p.close(d);
    expect(dev.log.releases).toHaveLength(1);
    expect(() => p.dup(5)).toThrow(kerr("EBADF"));
  });

  it("dup2: replaces newfd (releasing what it had), returns newfd, no-op on itself", () => {
    const { kernel, mm } = boot();
    const a = testDev(kernel, mm, { path: "/dev/a" });
    testDev(kernel, mm, { path: "/dev/b" });
    const p = spawn(kernel, { comm: "app" });
    const fa = p.open("/dev/a");
    const fb = p.open("/dev/b");
    const fileB = p.fds.get(fb)!;
    expect(p.dup2(fb, fa)).toBe(fa);
    expect(a.log.releases).toHaveLength(1);
    expect(p.fds.get(fa)).toBe(fileB);
    expect(fileB.refcount).toBe(2);
    expect(p.dup2(fb, fb)).toBe(fb);
    expect(fileB.refcount).toBe(2);
    expect(p.dup2(fb, 100)).toBe(100);
    expect(p.fds.get(100)).toBe(fileB);
    expect(() => p.dup2(fb, NR_OPEN_DEFAULT)).toThrow(kerr("EBADF", /newfd 1024/));
    expect(() => p.dup2(fb, -1)).toThrow(kerr("EBADF"));
    expect(() => p.dup2(50, 3)).toThrow(kerr("EBADF", /fd 50/));
    expect(p.fds.has(3)).toBe(false);
  });

  it("O_CLOEXEC sets FD_CLOEXEC; dup and dup2 clear it; F_SETFD and FIOCLEX change it", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDONLY | O_CLOEXEC);
    expect(p.getFdFlags(fd)).toBe(FD_CLOEXEC);
    expect(p.fds.get(fd)!.flags & O_CLOEXEC).toBe(0);
    expect(p.getFdFlags(p.dup(fd))).toBe(0);
    expect(p.getFdFlags(p.dup2(fd, 9))).toBe(0);
    p.setFdFlags(fd, 0);
    expect(p.getFdFlags(fd)).toBe(0);
    p.setFdFlags(fd, FD_CLOEXEC | 0x100);
    expect(p.getFdFlags(fd)).toBe(FD_CLOEXEC);
    expect(p.ioctl(fd, FIONCLEX)).toBe(0);
    expect(p.getFdFlags(fd)).toBe(0);
    expect(p.ioctl(fd, FIOCLEX)).toBe(0);
    expect(p.getFdFlags(fd)).toBe(FD_CLOEXEC);
    expect(() => p.getFdFlags(7)).toThrow(kerr("EBADF"));
    expect(() => p.setFdFlags(7, FD_CLOEXEC)).toThrow(kerr("EBADF"));
  });

  it("F_GETFL/F_SETFL: O_NONBLOCK is a property of the file, shared by its fds", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test", O_RDWR);
    const d = p.dup(fd);
    expect(p.getFileFlags(fd)).toBe(O_RDWR);
    p.setFileFlags(d, O_NONBLOCK | O_WRONLY);
    expect(p.getFileFlags(fd)).toBe(O_RDWR | O_NONBLOCK);
    expect(() => p.getFileFlags(5)).toThrow(kerr("EBADF"));
  });

  it("exec closes FD_CLOEXEC fds and keeps the others", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "sh" });
    const keep = p.open("/dev/test");
    const gone = p.open("/dev/test", O_CLOEXEC);
    const oldSpace = p.space;
    p.exec("app");
    expect(p.comm).toBe("app");
    expect(p.fds.fds()).toEqual([keep]);
    expect(dev.log.releases).toHaveLength(1);
    expect(p.fds.has(gone)).toBe(false);
    expect(oldSpace.destroyed).toBe(true);
    expect(p.space).not.toBe(oldSpace);
    expect(() => p.exec("")).toThrow(kerr("EINVAL"));
  });

  it("the table holds 1024 fds: open, dup and socketpair fail with EMFILE beyond", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    for (let i = 1; i < NR_OPEN_DEFAULT - 1; i++) expect(p.dup(fd)).toBe(i);
    expect(() => p.socketpair()).toThrow(kerr("EMFILE", /2 fd/));
    expect(p.fds.count).toBe(NR_OPEN_DEFAULT - 1);
    expect(p.dup(fd)).toBe(NR_OPEN_DEFAULT - 1);
    expect(() => p.dup(fd)).toThrow(kerr("EMFILE", /1024/));
    expect(() => p.open("/dev/test")).toThrow(kerr("EMFILE"));
    expect(openFiles(kernel)).toHaveLength(1);
    p.close(500);
    expect(p.open("/dev/test")).toBe(500);
  });
});

describe("read, write, lseek", () => {
  it("move bytes through the driver and check the access mode (EBADF)", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const w = p.open("/dev/test", O_WRONLY);
    const r = p.open("/dev/test", O_RDONLY);
    expect(p.write(w, bytes(100, 3))).toBe(100);
    expect(p.read(r, 100)).toEqual(bytes(100, 3));
    expect(p.lseek(r, -50, SEEK_CUR)).toBe(50);
    expect(p.read(r, 10)).toEqual(bytes(100, 3).subarray(50, 60));
    expect(p.read(r, 0)).toEqual(new Uint8Array(0));
    expect(() => p.read(w, 1)).toThrow(kerr("EBADF", /not open for reading/));
    expect(() => p.write(r, bytes(1))).toThrow(kerr("EBADF", /not open for writing/));
    expect(() => p.read(r, -1)).toThrow(kerr("EINVAL"));
    expect(() => p.lseek(r, 0, 7)).toThrow(kerr("EINVAL", /whence 7/));
    expect(() => p.read(9, 1)).toThrow(kerr("EBADF"));
  });

  it("a file without read, write or llseek ops gives EINVAL, EINVAL, ESPIPE", () => {
    const { kernel } = boot();
    registerChrdev(kernel, "/dev/null0", { ops: {} });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/null0", O_RDWR);
    expect(() => p.read(fd, 1)).toThrow(kerr("EINVAL", /cannot be read/));
    expect(() => p.write(fd, bytes(1))).toThrow(kerr("EINVAL", /cannot be written/));
    expect(() => p.lseek(fd, 0, SEEK_SET)).toThrow(kerr("ESPIPE"));
  });
});

describe("ioctl", () => {
  it("passes cmd and the struct object; out fields come back in the same object", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    expect(p.ioctl(fd, TEST_SET, { value: 42 })).toBe(0);
    const arg = { value: 0 };
    expect(p.ioctl(fd, TEST_GET, arg)).toBe(0);
    expect(arg.value).toBe(42);
    expect(dev.log.ioctls).toEqual([TEST_SET, TEST_GET]);
  });

  it("a command number built with the wrong struct size is unknown to a driver (ENOTTY)", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    expect(() => p.ioctl(fd, _IOW("t", 2, 4), { value: 1 })).toThrow(kerr("ENOTTY"));
  });

  it("rejects a bad fd with EBADF, a file without ioctl with ENOTTY, a bad cmd with EINVAL", () => {
    const { kernel } = boot();
    registerChrdev(kernel, "/dev/plain", { ops: {} });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/plain");
    expect(() => p.ioctl(3, TEST_GET, {})).toThrow(kerr("EBADF", /fd 3/));
    expect(() => p.ioctl(fd, TEST_GET, {})).toThrow(kerr("ENOTTY", /no ioctl/));
    expect(() => p.ioctl(fd, 2 ** 32)).toThrow(kerr("EINVAL"));
    expect(() => p.ioctl(fd, 0.5)).toThrow(kerr("EINVAL"));
  });

  it("takes the signed 32-bit form of a command as the same number", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    p.ioctl(fd, TEST_GET | 0, { value: 0 });
    expect(dev.log.ioctls).toEqual([TEST_GET]);
  });

  it("a blocking ioctl returns a promise; the file stays alive until it settles", async () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    const r = p.ioctl(fd, TEST_WAIT);
    expect(r).toBeInstanceOf(Promise);
    p.close(fd);
    expect(dev.log.releases).toHaveLength(0);
    await expect(kernel.clock.runUntil(r as Promise<number>)).resolves.toBe(7);
    expect(kernel.clock.now()).toBe(1000);
    expect(dev.log.releases).toHaveLength(1);
  });

  it("a blocking ioctl that fails rejects its promise and drops its reference", async () => {
    const { kernel } = boot();
    let released = 0;
    registerChrdev(kernel, "/dev/fail", {
      ops: {
        ioctl: () =>
          kernel.clock.sleep(10).then(() => Promise.reject(new KernelError("EIO", "device error"))),
        release: () => {
          released++;
        },
      },
    });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/fail");
    const r = p.ioctl(fd, 1) as Promise<number>;
    p.close(fd);
    await expect(kernel.clock.runUntil(r)).rejects.toThrow(kerr("EIO"));
    expect(released).toBe(1);
  });
});

describe("fget, fput, fdInstall, anonymous files", () => {
  it("fget takes a reference that outlives the fd until fput", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    const file = p.fget(fd);
    expect(file.refcount).toBe(2);
    p.close(fd);
    expect(dev.log.releases).toHaveLength(0);
    fput(file);
    expect(dev.log.releases).toEqual([file]);
    expect(() => p.fget(fd)).toThrow(kerr("EBADF"));
    expect(() => file.put()).toThrow(/put after release/);
  });

  it("fget(kernel, fd) finds the fd in the process whose system call runs (a driver importing an fd)", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const got: string[] = [];
    registerChrdev(kernel, "/dev/importer", {
      ops: {
        ioctl: (_f, _cmd, arg) => {
          const file = fget(kernel, (arg as { fd: number }).fd);
          got.push(file.path);
          fput(file);
          return 0;
        },
      },
    });
    const p = spawn(kernel, { comm: "app" });
    const imp = p.open("/dev/importer");
    const fd = p.open("/dev/test");
    p.ioctl(imp, 1, { fd });
    expect(got).toEqual(["/dev/test"]);
    expect(p.fds.get(fd)!.refcount).toBe(1);
    expect(() => p.ioctl(imp, 1, { fd: 9 })).toThrow(kerr("EBADF", /fd 9/));
    expect(() => fget(kernel, fd)).toThrow(kerr("EBADF", /outside any process/));
  });

  it("fdInstall moves the creator's reference to a new fd; close releases the anonymous file", () => {
    const { kernel } = boot();
    let released = 0;
    const ops: FileOps = {
      release: () => {
        released++;
      },
    };
    const p = spawn(kernel, { comm: "app" });
    const rec = record(kernel, ["file_open"]);
    const file = anonInodeGetfile(kernel, "dmabuf", ops, { size: SZ_4K });
    expect(file.path).toBe("anon_inode:dmabuf");
    const fd = p.fdInstall(file, O_CLOEXEC);
    expect(p.getFdFlags(fd)).toBe(FD_CLOEXEC);
    expect(file.refcount).toBe(1);
    expect(rec.records()[0]!.data).toEqual({ pid: p.pid, fd, path: "anon_inode:dmabuf" });
    p.close(fd);
    expect(released).toBe(1);
    expect(() => p.fdInstall(file)).toThrow(/already released/);
  });

  it("fdInstall on a full table is EMFILE and the caller keeps its reference", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    for (let i = 1; i < NR_OPEN_DEFAULT; i++) p.dup(fd);
    const file = anonInodeGetfile(kernel, "x", {}, null);
    expect(() => p.fdInstall(file)).toThrow(kerr("EMFILE"));
    expect(file.refcount).toBe(1);
    fput(file);
    expect(file.released).toBe(true);
  });

  it("a KernelError thrown by release is reported as proc_warn; the file is still gone", () => {
    const { kernel } = boot();
    registerChrdev(kernel, "/dev/bad", {
      ops: {
        release: () => {
          throw new KernelError("EIO", "flush failed");
        },
      },
    });
    const rec = record(kernel, ["proc_warn", "file_release"]);
    const p = spawn(kernel, { comm: "app" });
    p.close(p.open("/dev/bad"));
    expect(rec.records().map((r) => r.name)).toEqual(["proc_warn", "file_release"]);
    expect(rec.of("proc_warn")[0]!.data.message).toMatch(/EIO: flush failed/);
    expect(openFiles(kernel)).toHaveLength(0);
  });
});
