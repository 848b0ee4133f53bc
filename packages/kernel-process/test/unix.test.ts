import { KernelError } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  FD_CLOEXEC,
  isUnixSocket,
  NR_OPEN_DEFAULT,
  O_RDWR,
  openFiles,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLRDHUP,
  POLLRDNORM,
  POLLWRNORM,
  registerChrdev,
  SCM_MAX_FD,
  spawn,
} from "../src/index.js";
import { boot, record, testDev } from "./helpers.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("Unix sockets: socketpair", () => {
  it("carries messages with their boundaries, in order", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    expect([a, b]).toEqual([0, 1]);
    expect(isUnixSocket(p.fds.get(a)!)).toBe(true);
    expect(p.fds.get(a)!.path).toMatch(/^socket:\[\d+\]$/);
    expect(p.sendmsg(a, { data: text("one") })).toBe(3);
    p.sendmsg(a, { data: text("two!") });
    p.sendmsg(b, { data: text("back") });
    expect(p.recvmsg(b)).toEqual({ data: text("one"), fds: [] });
    expect(p.recvmsg(b).data).toEqual(text("two!"));
    expect(p.recvmsg(a).data).toEqual(text("back"));
    expect(() => p.recvmsg(b)).toThrow(kerr("EAGAIN", /nothing queued/));
  });

  it("copies the bytes at send time", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    const buf = text("abc");
    p.sendmsg(a, { data: buf });
    buf[0] = 0x7a;
    expect(p.recvmsg(b).data).toEqual(text("abc"));
  });

  it("after the peer closes: queued messages still arrive, then end of stream; sending is EPIPE", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    p.sendmsg(a, { data: text("last words") });
    p.close(a);
    expect(() => p.sendmsg(b, { data: text("hello?") })).toThrow(kerr("EPIPE", /closed/));
    expect(p.recvmsg(b).data).toEqual(text("last words"));
    expect(p.recvmsg(b)).toEqual({ data: new Uint8Array(0), fds: [] });
  });

  it("rejects a bad fd with EBADF and a non-socket with ENOTSOCK", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    expect(() => p.sendmsg(5, { data: text("x") })).toThrow(kerr("EBADF"));
    expect(() => p.recvmsg(5)).toThrow(kerr("EBADF"));
    expect(() => p.sendmsg(fd, { data: text("x") })).toThrow(kerr("ENOTSOCK", /\/dev\/test/));
    expect(() => p.recvmsg(fd)).toThrow(kerr("ENOTSOCK"));
    expect(() => p.accept(fd)).toThrow(kerr("ENOTSOCK"));
    expect(() => p.peerCred(fd)).toThrow(kerr("ENOTSOCK"));
  });

  it("read and write work on a socket; read drops any files the message carried", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    expect(p.write(a, text("hello"))).toBe(5);
    expect(p.read(b, 3)).toEqual(text("hel")); // seqpacket: the rest of the message is discarded
    const fd = p.open("/dev/test");
    p.sendmsg(a, { data: text("x"), fds: [fd] });
    p.close(fd);
    expect(p.read(b, 10)).toEqual(text("x"));
    expect(dev.log.releases).toHaveLength(1);
    expect(() => p.read(b, 1)).toThrow(kerr("EAGAIN"));
  });
});

describe("Unix sockets: listen, connect, accept", () => {
  it("connects two processes through a path; both ends know the other's credentials", () => {
    const { kernel } = boot();
    const srv = spawn(kernel, { comm: "server", uid: 0 });
    const cli = spawn(kernel, { comm: "client", uid: 1000, gid: 100 });
    const l = srv.listen("/run/srv.sock");
    expect(() => srv.accept(l)).toThrow(kerr("EAGAIN", /no connection pending/));
    const c = cli.connect("/run/srv.sock");
    cli.sendmsg(c, { data: text("hi") }); // before accept: waits in the new connection
    const s = srv.accept(l, { cloexec: true });
    expect(srv.getFdFlags(s)).toBe(FD_CLOEXEC);
    expect(srv.recvmsg(s).data).toEqual(text("hi"));
    srv.sendmsg(s, { data: text("welcome") });
    expect(cli.recvmsg(c).data).toEqual(text("welcome"));
    expect(srv.peerCred(s)).toEqual({ pid: cli.pid, uid: 1000, gid: 100 });
    expect(cli.peerCred(c)).toEqual({ pid: srv.pid, uid: 0, gid: 0 });
    expect(() => srv.peerCred(l)).toThrow(kerr("ENOTCONN"));
  });

  it("listen: EADDRINUSE for a taken path (a socket or a device), EINVAL for a bad path or backlog", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    p.listen("/run/a");
    expect(() => p.listen("/run/a")).toThrow(kerr("EADDRINUSE", /\/run\/a/));
    expect(() => p.listen("/dev/test")).toThrow(kerr("EADDRINUSE"));
    expect(() => p.listen("run/a")).toThrow(kerr("EINVAL", /absolute/));
    expect(() => p.listen("/run/b", 0)).toThrow(kerr("EINVAL", /backlog/));
    expect(p.fds.count).toBe(1);
  });

  it("connect: ECONNREFUSED when nobody listens (or after the listener closed); EAGAIN on a full backlog", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    expect(() => p.connect("/run/none")).toThrow(kerr("ECONNREFUSED", /\/run\/none/));
    expect(() => p.connect("/dev/test")).toThrow(kerr("ECONNREFUSED"));
    const l = p.listen("/run/small", 2);
    p.connect("/run/small");
    p.connect("/run/small");
    expect(() => p.connect("/run/small")).toThrow(kerr("EAGAIN", /backlog/));
    expect(p.fds.count).toBe(3);
    p.close(l);
    expect(() => p.connect("/run/small")).toThrow(kerr("ECONNREFUSED"));
  });

  it("accept, recvmsg and sendmsg know listening sockets from connected ones", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const l = p.listen("/run/l");
    const [a] = p.socketpair();
    expect(() => p.accept(a)).toThrow(kerr("EINVAL", /not listening/));
    expect(() => p.recvmsg(l)).toThrow(kerr("EINVAL", /listening/));
    expect(() => p.sendmsg(l, { data: text("x") })).toThrow(kerr("ENOTCONN"));
  });

  it("closing a listener hangs up its pending connections and releases what they carried", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const srv = spawn(kernel, { comm: "server" });
    const cli = spawn(kernel, { comm: "client" });
    const l = srv.listen("/run/l");
    const c = cli.connect("/run/l");
    const fd = cli.open("/dev/test");
    cli.sendmsg(c, { fds: [fd] });
    cli.close(fd);
    srv.close(l);
    expect(dev.log.releases).toHaveLength(1);
    expect(() => cli.sendmsg(c, { data: text("x") })).toThrow(kerr("EPIPE"));
    expect(cli.recvmsg(c).data).toHaveLength(0);
  });
});

describe("SCM_RIGHTS", () => {
  it("passes an open device between processes over a listened path; release runs once, at the last close", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const rec = record(kernel, ["scm_rights", "file_release", "proc_exit"]);
    const receiver = spawn(kernel, { comm: "display" });
    const sender = spawn(kernel, { comm: "camera" });
    const l = receiver.listen("/run/buffers");

    const fd = sender.open("/dev/test", O_RDWR);
    const file = sender.fds.get(fd)!;
    sender.write(fd, text("frame #1"));
    const c = sender.connect("/run/buffers");
    expect(sender.sendmsg(c, { data: text("buf"), fds: [fd] })).toBe(3);
    expect(file.refcount).toBe(2);
    expect(file.inflight).toBe(1);

    const s = receiver.accept(l);
    const msg = receiver.recvmsg(s);
    expect(msg.data).toEqual(text("buf"));
    expect(msg.fds).toHaveLength(1);
    const rfd = msg.fds[0]!;
    expect(receiver.fds.get(rfd)).toBe(file);
    expect(file.inflight).toBe(0);
    expect(receiver.lseek(rfd, 0, 0)).toBe(0); // the same file: its position is shared
    expect(receiver.read(rfd, 8)).toEqual(text("frame #1"));
    expect(rec.of("scm_rights").map((r) => [r.pid, r.data])).toEqual([
      [receiver.pid, { from_pid: sender.pid, to_pid: receiver.pid, count: 1 }],
    ]);

    sender.close(fd);
    sender.exit(0);
    expect(dev.log.releases).toHaveLength(0);
    expect(file.refcount).toBe(1);
    receiver.write(rfd, text("still here"));
    receiver.close(rfd);
    expect(dev.log.releases).toEqual([file]);
    expect(rec.of("file_release").filter((r) => r.data.path === "/dev/test")).toHaveLength(1);
    receiver.exit(0);
    expect(dev.log.releases).toHaveLength(1);
    expect(openFiles(kernel)).toHaveLength(0);
  });

  it("a process that never received the fd cannot reach the file", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const a = spawn(kernel, { comm: "a" });
    const b = spawn(kernel, { comm: "b" });
    const eve = spawn(kernel, { comm: "eve" });
    eve.socketpair();
    eve.open("/dev/test");
    const fd = a.open("/dev/test");
    const file = a.fds.get(fd)!;
    const l = b.listen("/run/b");
    const c = a.connect("/run/b");
    a.sendmsg(c, { fds: [fd] });
    const got = b.recvmsg(b.accept(l)).fds[0]!;
    expect(b.fds.get(got)).toBe(file);
    expect(eve.fds.fdsOf(file)).toEqual([]);
    for (let n = 0; n < NR_OPEN_DEFAULT; n++) expect(eve.fds.get(n)).not.toBe(file);
    const same = eve.fget(got); // the same number in eve is eve's own file
    expect(same).not.toBe(file);
    same.put();
  });

  it("carries several fds in order, the same file twice as two fds, with FD_CLOEXEC on request", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm, { path: "/dev/a" });
    testDev(kernel, mm, { path: "/dev/b" });
    const p = spawn(kernel, { comm: "app" });
    const q = spawn(kernel, { comm: "peer" });
    const l = q.listen("/run/q");
    const c = p.connect("/run/q");
    const fa = p.open("/dev/a");
    const fb = p.open("/dev/b");
    p.sendmsg(c, { fds: [fb, fa, fb] });
    const s = q.accept(l);
    q.open("/dev/a"); // fd 2 taken in the receiver
    const { fds } = q.recvmsg(s, { cloexec: true });
    expect(fds).toEqual([3, 4, 5]);
    expect(fds.map((n) => q.fds.get(n)!.path)).toEqual(["/dev/b", "/dev/a", "/dev/b"]);
    expect(fds.map((n) => q.getFdFlags(n))).toEqual([FD_CLOEXEC, FD_CLOEXEC, FD_CLOEXEC]);
    expect(p.fds.get(fb)!.refcount).toBe(3);
  });

  it("a bad fd in the list is EBADF and nothing is sent; more than SCM_MAX_FD is EINVAL", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    const fd = p.open("/dev/test");
    const file = p.fds.get(fd)!;
    expect(() => p.sendmsg(a, { data: text("x"), fds: [fd, 77] })).toThrow(kerr("EBADF", /fd 77/));
    expect(file.refcount).toBe(1);
    expect(() => p.recvmsg(b)).toThrow(kerr("EAGAIN"));
    const many = Array.from({ length: SCM_MAX_FD + 1 }, () => fd);
    expect(() => p.sendmsg(a, { fds: many })).toThrow(kerr("EINVAL", /SCM_MAX_FD/));
    expect(file.refcount).toBe(1);
    p.sendmsg(a, { fds: many.slice(1) });
    expect(file.refcount).toBe(1 + SCM_MAX_FD);
  });

  it("EPIPE when the peer is closed: no reference is taken", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    const fd = p.open("/dev/test");
    p.close(b);
    expect(() => p.sendmsg(a, { fds: [fd] })).toThrow(kerr("EPIPE"));
    expect(p.fds.get(fd)!.refcount).toBe(1);
  });

  it("closing the receiving end with messages queued releases their in-flight references", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    const fd = p.open("/dev/test");
    p.sendmsg(a, { fds: [fd] });
    p.sendmsg(a, { fds: [fd, fd] });
    p.close(fd);
    expect(dev.log.releases).toHaveLength(0);
    p.close(b);
    expect(dev.log.releases).toHaveLength(1);
    expect(openFiles(kernel).map((f) => f.path)).toEqual([p.fds.get(a)!.path]);
  });

  it("recvmsg: EMFILE when the files do not fit, and the message stays queued", () => {
    const { kernel, mm } = boot();
    testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    const fd = p.open("/dev/test");
    p.sendmsg(a, { data: text("two"), fds: [fd, fd] });
    const fill: number[] = [];
    while (p.fds.free > 1) fill.push(p.dup(fd));
    expect(() => p.recvmsg(b)).toThrow(kerr("EMFILE", /2 fd/));
    p.close(fill.pop()!);
    expect(p.recvmsg(b).data).toEqual(text("two"));
  });

  it("a socket passed to another process works there (a connected end changes hands)", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "broker" });
    const q = spawn(kernel, { comm: "worker" });
    const [a, b] = p.socketpair();
    const [x, y] = p.socketpair();
    const l = q.listen("/run/w");
    const c = p.connect("/run/w");
    p.sendmsg(c, { fds: [y] });
    p.close(y);
    const s = q.accept(l);
    const [yq] = q.recvmsg(s).fds;
    p.sendmsg(x, { data: text("job") });
    expect(q.recvmsg(yq!).data).toEqual(text("job"));
    q.sendmsg(yq!, { data: text("done") });
    expect(p.recvmsg(x).data).toEqual(text("done"));
    p.close(a);
    p.close(b);
  });

  it("collects a socket that is in flight only to itself once nobody else holds it (unix_gc)", () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    const fd = p.open("/dev/test");
    p.sendmsg(b, { fds: [fd] }); // into a's queue
    p.sendmsg(b, { fds: [a] }); // a now sits in its own queue
    p.close(fd);
    const fileA = p.fds.get(a)!;
    p.close(a); // a is now reachable only from its own queue: collected with what it held
    expect(fileA.released).toBe(true);
    expect(dev.log.releases).toHaveLength(1);
    p.close(b);
    expect(openFiles(kernel)).toEqual([]);
  });

  it("collects a cycle of two sockets each in flight to the other, and keeps one still reachable", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a1, a2] = p.socketpair();
    const [b1, b2] = p.socketpair();
    p.sendmsg(a2, { fds: [b1] }); // b1 in a1's queue
    p.sendmsg(b2, { fds: [a1] }); // a1 in b1's queue
    p.close(a1);
    p.close(b1);
    // a1 and b1 are held only by each other's queues: the pair is collected
    expect(openFiles(kernel)).toHaveLength(2);
    p.close(a2);
    p.close(b2);
    expect(openFiles(kernel)).toEqual([]);

    const [c1, c2] = p.socketpair();
    const [d1, d2] = p.socketpair();
    p.sendmsg(d2, { fds: [c1] }); // c1 in flight in d1's queue; d1 has an fd
    p.close(c1);
    p.close(c2);
    expect(openFiles(kernel)).toHaveLength(3); // c1 is reachable: d1 can still receive it
    const [back] = p.recvmsg(d1).fds;
    expect(p.recvmsg(back!)).toEqual({ data: new Uint8Array(0), fds: [] });
    p.close(back!);
    p.close(d1);
    p.close(d2);
    expect(openFiles(kernel)).toEqual([]);
  });
});

describe("poll", () => {
  it("returns at once when something is ready, or with timeout 0", async () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    expect(await p.poll([{ fd: a, events: POLLIN | POLLOUT }])).toEqual([POLLOUT]);
    expect(await p.poll([{ fd: a, events: POLLIN }], 0)).toEqual([0]);
    p.sendmsg(b, { data: text("x") });
    expect(await p.poll([{ fd: a, events: POLLIN | POLLRDNORM }])).toEqual([POLLIN | POLLRDNORM]);
    expect(
      await p.poll([
        { fd: 9, events: POLLIN },
        { fd: -1, events: POLLIN },
      ]),
    ).toEqual([POLLNVAL, 0]);
  });

  it("sleeps on virtual time until another process sends", async () => {
    const { kernel } = boot();
    const srv = spawn(kernel, { comm: "server" });
    const cli = spawn(kernel, { comm: "client" });
    const l = srv.listen("/run/p");
    const waitConn = srv.poll([{ fd: l, events: POLLIN }]);
    let c = -1;
    kernel.clock.after(500, () => {
      c = cli.connect("/run/p");
    });
    expect(await kernel.clock.runUntil(waitConn)).toEqual([POLLIN]);
    expect(kernel.clock.now()).toBe(500);
    const s = srv.accept(l);
    const waitData = srv.poll([{ fd: s, events: POLLIN }], 10_000);
    kernel.clock.after(250, () => cli.sendmsg(c, { data: text("ping") }));
    expect(await kernel.clock.runUntil(waitData)).toEqual([POLLIN]);
    expect(kernel.clock.now()).toBe(750);
    expect(srv.recvmsg(s).data).toEqual(text("ping"));
  });

  it("times out with zeros after timeoutNs of virtual time", async () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a] = p.socketpair();
    const r = p.poll([{ fd: a, events: POLLIN }], 1_000_000);
    expect(await kernel.clock.runUntil(r)).toEqual([0]);
    expect(kernel.clock.now()).toBe(1_000_000);
    expect(kernel.clock.pending).toBe(0);
  });

  it("reports POLLHUP when the peer closes", async () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a, b] = p.socketpair();
    const r = p.poll([{ fd: a, events: POLLIN }]);
    kernel.clock.after(10, () => p.close(b));
    const [rev] = await kernel.clock.runUntil(r);
    expect(rev! & POLLHUP).toBe(POLLHUP);
    expect(rev! & POLLIN).toBe(POLLIN);
    expect(rev! & POLLRDHUP).toBe(0); // not asked for
  });

  it("wakes on a driver's wait queue registered with poll_wait", async () => {
    const { kernel, mm } = boot();
    const dev = testDev(kernel, mm);
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/test");
    const [a] = p.socketpair();
    const r = p.poll([
      { fd: a, events: POLLIN },
      { fd, events: POLLIN },
    ]);
    kernel.clock.after(42, () => {
      dev.ready = true;
      dev.wq.wakeUp();
    });
    expect(await kernel.clock.runUntil(r)).toEqual([0, POLLIN]);
    expect(kernel.clock.now()).toBe(42);
    expect(dev.wq.waiters).toBe(0);
    await kernel.clock.runUntilIdle();
  });

  it("a file without a poll op is always ready for reading and writing", async () => {
    const { kernel } = boot();
    registerChrdev(kernel, "/dev/plain", { ops: {} });
    const p = spawn(kernel, { comm: "app" });
    const fd = p.open("/dev/plain");
    expect(await p.poll([{ fd, events: POLLIN | POLLOUT | POLLWRNORM }])).toEqual([
      POLLIN | POLLOUT | POLLWRNORM,
    ]);
  });

  it("rejects bad arguments with EINVAL before waiting", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    expect(() => p.poll([{ fd: 0.5, events: 1 }])).toThrow(kerr("EINVAL"));
    expect(() => p.poll([{ fd: 0, events: 1 }], Number.NaN)).toThrow(kerr("EINVAL", /timeout/));
  });

  it("a poller whose process exits wakes with POLLNVAL", async () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const [a] = p.socketpair();
    const r = p.poll([{ fd: a, events: POLLIN }]);
    kernel.clock.after(5, () => p.exit(0));
    expect(await kernel.clock.runUntil(r)).toEqual([POLLNVAL]);
  });
});

describe("errors from drivers reach the caller unchanged", () => {
  it("an open that throws EBUSY", () => {
    const { kernel } = boot();
    registerChrdev(kernel, "/dev/busy", {
      ops: {
        open: () => {
          throw new KernelError("EBUSY", "one user at a time");
        },
      },
    });
    const p = spawn(kernel, { comm: "app" });
    expect(() => p.open("/dev/busy")).toThrow(kerr("EBUSY", /one user/));
  });
});
