import { KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  findChrdev,
  findProcess,
  O_RDWR,
  openFiles,
  processes,
  SHUTDOWN_EXIT_CODE,
  spawn,
} from "../src/index.js";
import { boot, bytes, record, testDev } from "./helpers.js";

describe("processes", () => {
  it("spawn: pids from 1, each with its own address space and fd table", () => {
    const { kernel, mm } = boot();
    const rec = record(kernel, ["proc_spawn"]);
    const a = spawn(kernel, { comm: "cam" });
    const b = spawn(kernel, { comm: "disp", uid: 1000, gid: 100 });
    expect([a.pid, b.pid]).toEqual([1, 2]);
    expect([b.uid, b.gid, a.uid, a.gid]).toEqual([1000, 100, 0, 0]);
    expect(a.space).not.toBe(b.space);
    expect(a.fds).not.toBe(b.fds);
    expect(a.state).toBe("running");
    expect(mm.spaces).toContain(a.space);
    expect(findProcess(kernel, 2)).toBe(b);
    expect(findProcess(kernel, 3)).toBeUndefined();
    expect(processes(kernel)).toEqual([a, b]);
    expect(rec.records().map((r) => r.data)).toEqual([
      { pid: 1, comm: "cam" },
      { pid: 2, comm: "disp" },
    ]);
  });

  it("spawn: rejects an empty comm or a bad uid/gid with EINVAL", () => {
    const { kernel } = boot();
    expect(() => spawn(kernel, { comm: "" })).toThrow(kerr("EINVAL", /comm/));
    expect(() => spawn(kernel, { comm: "x", uid: -1 })).toThrow(kerr("EINVAL", /uid/));
    expect(() => spawn(kernel, { comm: "x", gid: 1.5 })).toThrow(kerr("EINVAL", /gid/));
    expect(spawn(kernel, { comm: "x" }).pid).toBe(1);
  });

  it("exit: marks the process dead, frees its pid slot, and every later call is ESRCH", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const rec = record(kernel, ["proc_exit"]);
    const p = spawn(kernel, { comm: "app" });
    p.exit(3);
    expect(p.state).toBe("dead");
    expect(p.exitCode).toBe(3);
    expect(findProcess(kernel, p.pid)).toBeUndefined();
    expect(rec.records().map((r) => [r.pid, r.task, r.data])).toEqual([
      [p.pid, "app", { pid: p.pid, comm: "app", code: 3 }],
    ]);
    const calls: (() => unknown)[] = [
      () => p.open("/dev/test"),
      () => p.close(0),
      () => p.dup(0),
      () => p.ioctl(0, 1),
      () => p.mmap({ fd: 0, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
      () => p.malloc(1),
      () => p.memRead(0x10000, 1),
      () => p.socketpair(),
      () => p.listen("/x"),
      () => p.connect("/x"),
      () => p.poll([]),
      () => p.onExit(() => {}),
      () => p.exec("x"),
      () => p.exit(0),
    ];
    for (const c of calls) expect(c).toThrow(kerr("ESRCH", /pid 1/));
    expect(spawn(kernel, { comm: "next" }).pid).toBe(2);
  });

  it("exit: closes every fd, and a file with no other holder is released", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const rec = record(kernel, ["fd_close", "file_release", "proc_exit"]);
    const p = spawn(kernel, { comm: "app" });
    p.open("/dev/test");
    p.dup(p.open("/dev/test"));
    p.exit(0);
    expect(dev.log.releases).toHaveLength(2);
    expect(openFiles(kernel)).toHaveLength(0);
    expect(rec.records().map((r) => r.name)).toEqual([
      "fd_close",
      "file_release",
      "fd_close",
      "fd_close",
      "file_release",
      "proc_exit",
    ]);
  });

  it("exit: destroys the address space: anonymous pages return, file mappings drop their reference", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const free0 = mm.buddy.nrFreePages;
    const p = spawn(kernel, { comm: "app" });
    p.malloc(5 * PAGE_SIZE);
    const fd = p.open("/dev/test", O_RDWR);
    p.mmap({ fd, length: 2 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    p.close(fd);
    expect(dev.log.releases).toHaveLength(0);
    const space = p.space;
    p.exit(0);
    expect(space.destroyed).toBe(true);
    expect(mm.spaces).not.toContain(space);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(dev.log.releases).toHaveLength(1);
    expect(dev.log.vmaCloses).toBe(1);
  });

  it("exit: releases sockets, the files in flight to them, and unbinds listened paths", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "server" });
    p.listen("/run/srv");
    const [a, b] = p.socketpair();
    const fd = p.open("/dev/test");
    p.sendmsg(a, { data: bytes(4), fds: [fd] });
    p.close(fd);
    expect(dev.log.releases).toHaveLength(0);
    expect(p.fds.get(b)!.privateData).toBeDefined();
    p.exit(0);
    expect(dev.log.releases).toHaveLength(1);
    expect(openFiles(kernel)).toHaveLength(0);
    const q = spawn(kernel, { comm: "client" });
    expect(() => q.connect("/run/srv")).toThrow(kerr("ECONNREFUSED"));
    expect(q.listen("/run/srv")).toBe(0);
  });

  it("exit: runs onExit callbacks first (the task still whole), not the unregistered ones", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    p.open("/dev/test");
    const seen: string[] = [];
    p.onExit((proc) => {
      seen.push(`a:${proc.pid}:${proc.fds.count}:${kernel.current.pid}:${proc.state}`);
    });
    const off = p.onExit(() => {
      seen.push("b");
    });
    p.onExit(() => {
      seen.push("c");
    });
    off();
    off();
    p.exit(0);
    expect(seen).toEqual([`a:${p.pid}:1:${p.pid}:exiting`, "c"]);
  });

  it("exit: finishes every step when a callback fails; a KernelError becomes proc_warn, a bug is rethrown", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const rec = record(kernel, ["proc_warn"]);
    const p = spawn(kernel, { comm: "app" });
    p.open("/dev/test");
    p.onExit(() => {
      throw new KernelError("EBUSY", "driver still busy");
    });
    p.exit(1);
    expect(rec.of("proc_warn")[0]!.data.message).toMatch(/EBUSY: driver still busy/);
    expect(dev.log.releases).toHaveLength(1);
    const q = spawn(kernel, { comm: "buggy" });
    q.open("/dev/test");
    q.onExit(() => {
      throw new TypeError("oops");
    });
    expect(() => q.exit(0)).toThrow(TypeError);
    expect(q.state).toBe("dead");
    expect(dev.log.releases).toHaveLength(2);
  });

  it("exit: EINVAL for a code that is not an integer (the process lives on)", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    expect(() => p.exit(1.5)).toThrow(kerr("EINVAL"));
    expect(p.state).toBe("running");
  });

  it("kernel shutdown kills the processes still running and reports files nobody released", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    p.open("/dev/test");
    const leaked = p.fget(p.open("/dev/test"));
    const rec = record(kernel, ["proc_warn", "proc_exit"]);
    kernel.shutdown();
    expect(p.state).toBe("dead");
    expect(p.exitCode).toBe(SHUTDOWN_EXIT_CODE);
    expect(dev.log.releases).toHaveLength(1);
    expect(rec.of("proc_warn").map((r) => r.data.message)).toEqual([
      "leak: /dev/test still has 1 reference(s) (0 in flight)",
    ]);
    expect(leaked.refcount).toBe(1);
    expect(findChrdev(kernel, "/dev/test")).toBe(dev.cdev);
  });

  it("kernel shutdown of a clean run reports nothing", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const [a] = p.socketpair();
    p.sendmsg(a, { fds: [p.open("/dev/test")] });
    p.malloc(PAGE_SIZE);
    const rec = record(kernel, ["proc_warn"]);
    kernel.shutdown();
    expect(rec.records()).toEqual([]);
    expect(openFiles(kernel)).toEqual([]);
  });
});
