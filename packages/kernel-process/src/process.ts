/**
 * Processes (kernel/fork.c, kernel/exit.c) and their system calls: the fd table (fs/file.c),
 * open of /dev nodes, read/write/lseek, ioctl dispatch (fs/ioctl.c), mmap dispatch (mm/mmap.c),
 * user memory, Unix sockets with SCM_RIGHTS, and poll.
 *
 * Every system call runs with the process current (`kernel.withCurrent`), so trace records name
 * the task. A call on a process that has exited throws ESRCH. A rejected call changes nothing.
 *
 * @module
 */
import { hex, type Kernel, KernelBug, KernelError, PAGE_SIZE, type Task, WaitQueue } from "@umm/kernel-core";
import {
  type AddressSpace,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  mmOf,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from "@umm/mm-core";
import { type ChrdevImpl, checkPath, chrdevPermits } from "./chrdev.js";
import { FdTable } from "./fdtable.js";
import { File } from "./file.js";
import { checkMmapArgs, type MmapArgs, mmapAnon, mmapFile } from "./mmap.js";
import { type PollFd, pollScan, pollWait } from "./poll.js";
import { type ProcLayer, procLayer, procWarn } from "./state.js";
import {
  FD_CLOEXEC,
  FIOCLEX,
  FIONCLEX,
  O_ACCMODE,
  O_CLOEXEC,
  O_RDONLY,
  O_WRONLY,
  POLLNVAL,
  type ProcState,
  SCM_MAX_FD,
  SEEK_END,
  SEEK_SET,
  SETFL_MASK,
  SOMAXCONN,
} from "./types.js";
import { userFill, userRead, userWrite } from "./uaccess.js";
import {
  isUnixSocket,
  type UnixCred,
  type UnixSock,
  unixAccept,
  unixConnect,
  unixDequeue,
  unixFile,
  unixLanded,
  unixListen,
  unixPair,
  unixRequeue,
  unixSend,
} from "./unix.js";

/** Options of `spawn`. */
export interface SpawnOpts {
  /** the command name (`task->comm`), shown in traces */
  readonly comm: string;
  /** user id (default 0, root: passes every permission check) */
  readonly uid?: number;
  /** group id (default 0) */
  readonly gid?: number;
}

/** A message for `sendmsg`. */
export interface SendMsg {
  /** the bytes (default none) */
  readonly data?: Uint8Array;
  /** fds whose files travel with the message (SCM_RIGHTS), at most SCM_MAX_FD */
  readonly fds?: readonly number[];
}

/** What `recvmsg` returns. */
export interface RecvMsg {
  /** the bytes; empty at end of stream (the peer closed and nothing is left) */
  readonly data: Uint8Array;
  /** new fds of this process for the files the message carried, in the order sent */
  readonly fds: number[];
}

/** Options of `recvmsg` and `accept`. */
export interface FdFlagsOpt {
  /** set FD_CLOEXEC on the new fds (MSG_CMSG_CLOEXEC / SOCK_CLOEXEC) */
  readonly cloexec?: boolean;
}

/** A function `onExit` runs when the process exits. */
export type ExitCallback = (proc: Process) => void;

function checkId(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new KernelError("EINVAL", `spawn: ${what} ${v} is not a valid id`);
  }
}

/** A process: an fd table, an address space, credentials. */
export class Process implements Task {
  /** the kernel it runs in */
  readonly kernel: Kernel;
  /** process id, from 1, never reused within a kernel */
  readonly pid: number;
  /** user id (0: root, passes every permission check) */
  readonly uid: number;
  /** group id */
  readonly gid: number;
  /** the open files, by fd (read-only view; change it through the system calls) */
  readonly fds: FdTable;
  readonly #st: ProcLayer;
  #comm: string;
  #space: AddressSpace;
  #state: ProcState = "running";
  #exitCode: number | null = null;
  readonly #onExit = new Set<{ fn: ExitCallback }>();
  readonly #exitWq: WaitQueue;

  /** @internal use `spawn` */
  constructor(st: ProcLayer, pid: number, opts: SpawnOpts) {
    this.#st = st;
    this.kernel = st.kernel;
    this.pid = pid;
    this.#comm = opts.comm;
    this.uid = opts.uid ?? 0;
    this.gid = opts.gid ?? 0;
    this.fds = new FdTable();
    this.#space = mmOf(st.kernel).createUserSpace(`pid ${pid}`);
    this.#exitWq = new WaitQueue(st.kernel.clock);
  }

  /** The command name. */
  get comm(): string {
    return this.#comm;
  }

  /** The process's own address space (replaced by `exec`). */
  get space(): AddressSpace {
    return this.#space;
  }

  /** "running", "exiting" (inside `exit`), or "dead". */
  get state(): ProcState {
    return this.#state;
  }

  /** The exit code once dead, else null. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  #sys<T>(fn: () => T): T {
    if (this.#state !== "running") {
      throw new KernelError("ESRCH", `pid ${this.pid} (${this.#comm}) has exited`);
    }
    return this.kernel.withCurrent(this, fn);
  }

  #file(fd: number, what: string): File {
    const f = this.fds.get(fd);
    if (!f) throw new KernelError("EBADF", `${what}: fd ${fd} is not open`);
    return f;
  }

  #sock(fd: number, what: string): UnixSock {
    const f = this.#file(fd, what);
    if (!isUnixSocket(f)) throw new KernelError("ENOTSOCK", `${what}: fd ${fd} (${f.path}) is not a socket`);
    return f.privateData as UnixSock;
  }

  #cred(): UnixCred {
    return { pid: this.pid, uid: this.uid, gid: this.gid };
  }

  #needFds(n: number, what: string): void {
    if (this.fds.free < n) {
      throw new KernelError(
        "EMFILE",
        `${what}: ${n} fd(s) needed, ${this.fds.free} of ${this.fds.limit} free`,
      );
    }
  }

  /** Installs a new file at the lowest free fd (the reference moves to the fd) and traces it. */
  #installNew(file: File, cloexec: boolean): number {
    const fd = this.fds._alloc();
    this.fds._install(fd, file, cloexec);
    const tp = this.#st.tp.open;
    if (tp.enabled) tp.emit({ pid: this.pid, fd, path: file.path });
    return fd;
  }

  #closeFd(fd: number): void {
    const file = this.fds._remove(fd);
    if (!file) throw new KernelError("EBADF", `close: fd ${fd} is not open`);
    const tp = this.#st.tp.close;
    if (tp.enabled) tp.emit({ pid: this.pid, fd });
    file.put();
  }

  // ---- files and fds ----------------------------------------------------------------------

  /**
   * `open(2)` of a device node: the lowest free fd for a new file of the device at `path`.
   * ENOENT when no device is registered there, ENXIO for a Unix socket path, EINVAL for access
   * mode 3, EACCES when the node's mode bits deny the access `flags` asks for (uid 0 may do
   * anything), EMFILE when the table is full, or whatever the driver's `open` throws. O_CLOEXEC
   * sets FD_CLOEXEC on the fd.
   */
  open(path: string, flags: number = O_RDONLY): number {
    return this.#sys(() => {
      if (!Number.isInteger(flags)) throw new KernelError("EINVAL", `open: flags ${flags} is not an integer`);
      const entry = this.#st.paths.get(path);
      if (!entry) throw new KernelError("ENOENT", `open: ${path} does not exist`);
      if (entry.kind !== "chrdev") throw new KernelError("ENXIO", `open: ${path} is a socket`);
      const cdev = entry.cdev as ChrdevImpl;
      const mode = flags & O_ACCMODE;
      if (mode === O_ACCMODE) {
        throw new KernelError("EINVAL", `open: flags ${flags.toString(8)} has access mode 3`);
      }
      const want = mode === O_RDONLY ? 4 : mode === O_WRONLY ? 2 : 6;
      if (!chrdevPermits(cdev, this.uid, this.gid, want)) {
        throw new KernelError(
          "EACCES",
          `open: ${path} (mode ${cdev.mode.toString(8)}, uid ${cdev.uid}, gid ${cdev.gid}) denies ` +
            `${mode === O_RDONLY ? "read" : mode === O_WRONLY ? "write" : "read-write"} access to uid ${this.uid} gid ${this.gid}`,
        );
      }
      this.#needFds(1, `open ${path}`);
      const file = new File(this.kernel, {
        ops: cdev.ops,
        flags,
        path,
        privateData: cdev.privateData,
        cdev,
        opened: false,
      });
      try {
        cdev.ops.open?.(file, cdev);
      } catch (e) {
        file.put(); // never opened: the driver's release does not run
        throw e;
      }
      file._opened();
      cdev.openCount++;
      try {
        return this.#installNew(file, (flags & O_CLOEXEC) !== 0);
      } catch (e) {
        file.put(); // the driver's open filled the table: undo the open
        throw e;
      }
    });
  }

  /**
   * `close(2)`: frees `fd`; the file's `release` runs if this was its last reference (a mapping
   * or another fd keeps it alive). EBADF when `fd` is not open.
   */
  close(fd: number): void {
    this.#sys(() => this.#closeFd(fd));
  }

  /** `dup(2)`: the lowest free fd for the same file (FD_CLOEXEC clear). EBADF, EMFILE. */
  dup(fd: number): number {
    return this.#sys(() => {
      const file = this.#file(fd, "dup");
      const nfd = this.fds._alloc();
      file.get();
      this.fds._install(nfd, file, false);
      return nfd;
    });
  }

  /**
   * `dup2(2)`: makes `newfd` refer to the file of `fd` (closing what `newfd` had; FD_CLOEXEC
   * clear). Returns `newfd`; nothing happens when they are equal. EBADF when `fd` is not open or
   * `newfd` is outside `[0, limit)`.
   */
  dup2(fd: number, newfd: number): number {
    return this.#sys(() => {
      const file = this.#file(fd, "dup2");
      if (!Number.isInteger(newfd) || newfd < 0 || newfd >= this.fds.limit) {
        throw new KernelError("EBADF", `dup2: newfd ${newfd} is outside [0, ${this.fds.limit})`);
      }
      if (fd === newfd) return newfd;
      const old = this.fds._remove(newfd);
      file.get();
      this.fds._install(newfd, file, false);
      if (old) {
        const tp = this.#st.tp.close;
        if (tp.enabled) tp.emit({ pid: this.pid, fd: newfd });
        old.put();
      }
      return newfd;
    });
  }

  /** `fcntl(fd, F_GETFD)`: FD_CLOEXEC or 0. EBADF. */
  getFdFlags(fd: number): number {
    return this.#sys(() => {
      this.#file(fd, "F_GETFD");
      return this.fds.cloexec(fd) ? FD_CLOEXEC : 0;
    });
  }

  /** `fcntl(fd, F_SETFD, flags)`: sets or clears FD_CLOEXEC (other bits ignored). EBADF. */
  setFdFlags(fd: number, flags: number): void {
    this.#sys(() => {
      this.#file(fd, "F_SETFD");
      this.fds._setCloexec(fd, (flags & FD_CLOEXEC) !== 0);
    });
  }

  /** `fcntl(fd, F_GETFL)`: the file's status flags (access mode, O_NONBLOCK, ...). EBADF. */
  getFileFlags(fd: number): number {
    return this.#sys(() => this.#file(fd, "F_GETFL").flags);
  }

  /**
   * `fcntl(fd, F_SETFL, flags)`: changes O_APPEND and O_NONBLOCK of the file (shared by every fd
   * of it); other bits are ignored. EBADF.
   */
  setFileFlags(fd: number, flags: number): void {
    this.#sys(() => {
      const file = this.#file(fd, "F_SETFL");
      file.flags = (file.flags & ~SETFL_MASK) | (flags & SETFL_MASK);
    });
  }

  /**
   * `fget`: the file of `fd` with a new reference, which the caller must `fput` (a driver taking
   * a dma-buf fd, say). EBADF.
   */
  fget(fd: number): File {
    return this.#sys(() => {
      const file = this.#file(fd, "fget");
      file.get();
      return file;
    });
  }

  /**
   * `fd_install` after `get_unused_fd_flags`: gives `file` the lowest free fd; the caller's
   * reference moves to the fd (as `dma_buf_fd` does). `flags` may hold O_CLOEXEC. EMFILE when
   * the table is full (the caller keeps its reference).
   */
  fdInstall(file: File, flags = 0): number {
    return this.#sys(() => {
      if (file.released) throw new KernelBug(`fdInstall: ${file.path} was already released`);
      return this.#installNew(file, (flags & O_CLOEXEC) !== 0);
    });
  }

  /**
   * `read(2)`: up to `len` bytes from the file. EBADF when `fd` is not open for reading, EINVAL
   * for a bad `len` or a file without a read op, or what the driver throws (EAGAIN, ...).
   */
  read(fd: number, len: number): Uint8Array {
    return this.#sys(() => {
      const file = this.#file(fd, "read");
      if (!file.readable) throw new KernelError("EBADF", `read: fd ${fd} is not open for reading`);
      if (!Number.isSafeInteger(len) || len < 0) throw new KernelError("EINVAL", `read: len ${len}`);
      if (!file.ops.read) throw new KernelError("EINVAL", `read: ${file.path} cannot be read`);
      if (len === 0) return new Uint8Array(0);
      return file.ops.read(file, len);
    });
  }

  /**
   * `write(2)`: bytes taken by the file. EBADF when `fd` is not open for writing, EINVAL for a
   * file without a write op, or what the driver throws.
   */
  write(fd: number, data: Uint8Array): number {
    return this.#sys(() => {
      const file = this.#file(fd, "write");
      if (!file.writable) throw new KernelError("EBADF", `write: fd ${fd} is not open for writing`);
      if (!(data instanceof Uint8Array)) throw new KernelError("EFAULT", "write: data is not a Uint8Array");
      if (!file.ops.write) throw new KernelError("EINVAL", `write: ${file.path} cannot be written`);
      return file.ops.write(file, data);
    });
  }

  /**
   * `lseek(2)`: the new position. EBADF, EINVAL for an unknown `whence`, ESPIPE for a file
   * without an llseek op (sockets, most devices).
   */
  lseek(fd: number, offset: number, whence: number): number {
    return this.#sys(() => {
      const file = this.#file(fd, "lseek");
      if (!Number.isInteger(whence) || whence < SEEK_SET || whence > SEEK_END) {
        throw new KernelError("EINVAL", `lseek: whence ${whence}`);
      }
      if (!Number.isSafeInteger(offset)) throw new KernelError("EINVAL", `lseek: offset ${offset}`);
      if (!file.ops.llseek) throw new KernelError("ESPIPE", `lseek: ${file.path} is not seekable`);
      return file.ops.llseek(file, offset, whence);
    });
  }

  /**
   * `ioctl(2)`: runs `cmd` (see `_IOC`) on the file with `arg`, the JS object standing for the
   * uapi struct (out fields come back in it). FIOCLEX/FIONCLEX are the core's; everything else
   * goes to the driver. EBADF, ENOTTY for a file without an ioctl op (or a command the driver
   * does not know), EINVAL for a `cmd` that is not a 32-bit number. Returns the driver's result,
   * or its promise for a call that blocks; the file stays referenced until that settles.
   */
  ioctl(fd: number, cmd: number, arg?: unknown): number | Promise<number> {
    return this.#sys(() => {
      const file = this.#file(fd, "ioctl");
      if (!Number.isInteger(cmd) || cmd < -0x80000000 || cmd > 0xffffffff) {
        throw new KernelError("EINVAL", `ioctl: cmd ${cmd} is not a 32-bit command`);
      }
      const c = cmd >>> 0;
      if (c === FIOCLEX || c === FIONCLEX) {
        this.fds._setCloexec(fd, c === FIOCLEX);
        return 0;
      }
      const op = file.ops.ioctl;
      if (!op) throw new KernelError("ENOTTY", `ioctl ${hex(c)}: ${file.path} has no ioctl`);
      file.get();
      let r: number | Promise<number>;
      try {
        r = op(file, c, arg);
      } catch (e) {
        file.put();
        throw e;
      }
      if (typeof r === "number") {
        file.put();
        return r;
      }
      return Promise.resolve(r).then(
        (v) => {
          file.put();
          return v;
        },
        (e: unknown) => {
          file.put();
          throw e;
        },
      );
    });
  }

  // ---- memory -----------------------------------------------------------------------------

  /**
   * `mmap(2)`: maps a file (the driver's `mmap` chooses the memory) or, with MAP_ANONYMOUS,
   * fresh zeroed memory; returns the user address. EBADF for a bad `fd`; EINVAL for length 0, an
   * offset that is not page-aligned, neither or both of MAP_SHARED and MAP_PRIVATE, unknown
   * prot bits or a misaligned MAP_FIXED address; EACCES when the file was not opened for reading,
   * or for PROT_WRITE with MAP_SHARED on a file not opened for writing; ENODEV when the file has
   * no mmap op; ENOMEM when no range is free; or what the driver throws. Each file mapping holds
   * a reference to the file until it is unmapped.
   */
  mmap(args: MmapArgs): number {
    return this.#sys(() => {
      if (args.flags & MAP_ANONYMOUS) {
        checkMmapArgs(args);
        return mmapAnon(this.#space, args).start;
      }
      const fd = args.fd ?? -1;
      const file = this.#file(fd, "mmap");
      checkMmapArgs(args);
      if (!file.readable)
        throw new KernelError("EACCES", `mmap: fd ${fd} (${file.path}) is not open for reading`);
      if (args.flags & MAP_SHARED && args.prot & PROT_WRITE && !file.writable) {
        throw new KernelError(
          "EACCES",
          `mmap: PROT_WRITE with MAP_SHARED needs fd ${fd} (${file.path}) open for writing`,
        );
      }
      if (!file.ops.mmap) throw new KernelError("ENODEV", `mmap: ${file.path} cannot be mapped`);
      return mmapFile(this.#space, file, args).start;
    });
  }

  /**
   * `munmap(2)`: unmaps `[addr, addr + length)`; a file whose last mapping goes (and which has no
   * fd left) is released. EINVAL for a misaligned address or length 0.
   */
  munmap(addr: number, length: number): void {
    this.#sys(() => this.#space.munmap(addr, length));
  }

  /**
   * `mprotect(2)`: changes the protection of `[addr, addr + length)`. EINVAL for a misaligned
   * address or unknown prot bits; ENOMEM when part of the range is unmapped; EACCES for
   * PROT_WRITE on a shared mapping of a file not opened for writing. Length 0 does nothing.
   */
  mprotect(addr: number, length: number, prot: number): void {
    this.#sys(() => {
      if (!Number.isSafeInteger(addr) || addr % PAGE_SIZE !== 0) {
        throw new KernelError("EINVAL", `mprotect: addr ${hex(addr)} is not page-aligned`);
      }
      if (!Number.isInteger(prot) || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) {
        throw new KernelError("EINVAL", `mprotect: prot ${hex(prot)} has unknown bits`);
      }
      if (length === 0) return;
      const end = addr + Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
      if (prot & PROT_WRITE) {
        for (const v of this.#space.vmas) {
          if (v.end <= addr || v.start >= end) continue;
          if (v.shared && v.file instanceof File && !v.file.writable) {
            throw new KernelError(
              "EACCES",
              `mprotect: ${hex(v.start)} maps ${v.file.path} shared, which is not open for writing`,
            );
          }
        }
      }
      this.#space.mprotect(addr, length, prot);
    });
  }

  /**
   * The memory a program's allocator gets: `size` bytes of zeroed, private, read-write anonymous
   * memory; returns its address (release it with `munmap`). EINVAL for a bad size, ENOMEM.
   */
  malloc(size: number): number {
    return this.#sys(() => {
      if (!Number.isSafeInteger(size) || size <= 0) {
        throw new KernelError("EINVAL", `malloc: size ${size} must be a positive number of bytes`);
      }
      return mmapAnon(
        this.#space,
        { length: size, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS },
        "[heap]",
      ).start;
    });
  }

  /** A user store: writes `bytes` at `uaddr`. EFAULT when a byte is unmapped or read-only. */
  memWrite(uaddr: number, bytes: Uint8Array): void {
    this.#sys(() => userWrite(this.#space, uaddr, bytes));
  }

  /** A user load: `len` bytes from `uaddr`. EFAULT when a byte is unmapped or not readable. */
  memRead(uaddr: number, len: number): Uint8Array {
    return this.#sys(() => userRead(this.#space, uaddr, len));
  }

  /** `memset` in user space: `len` bytes at `uaddr` set to `value`. EFAULT as `memWrite`. */
  memFill(uaddr: number, value: number, len: number): void {
    this.#sys(() => userFill(this.#space, uaddr, value, len));
  }

  // ---- Unix sockets -----------------------------------------------------------------------

  /** `socketpair(AF_UNIX, SOCK_SEQPACKET)`: two connected fds. EMFILE when two are not free. */
  socketpair(): [number, number] {
    return this.#sys(() => {
      this.#needFds(2, "socketpair");
      const [a, b] = unixPair(this.#st, this.#cred());
      return [this.#installNew(unixFile(a), false), this.#installNew(unixFile(b), false)];
    });
  }

  /**
   * `socket` + `bind(path)` + `listen(backlog)`: a listening socket at `path`; returns its fd.
   * The path is unbound when the socket is released. EINVAL for a path that is not absolute or
   * a backlog below 1; EADDRINUSE when the path is taken (by a socket or a device node); EMFILE.
   */
  listen(path: string, backlog: number = SOMAXCONN): number {
    return this.#sys(() => {
      checkPath("listen", path);
      if (!Number.isInteger(backlog) || backlog < 1) {
        throw new KernelError("EINVAL", `listen: backlog ${backlog} must be at least 1`);
      }
      if (this.#st.paths.has(path)) throw new KernelError("EADDRINUSE", `listen: ${path} is already bound`);
      this.#needFds(1, "listen");
      const s = unixListen(this.#st, path, Math.min(backlog, SOMAXCONN), this.#cred());
      return this.#installNew(unixFile(s), false);
    });
  }

  /**
   * `socket` + `connect(path)`: a socket connected to the listener at `path` (the connection
   * waits in its backlog until accepted; messages may be sent at once). ECONNREFUSED when
   * nothing listens at `path`; EAGAIN when its backlog is full; EMFILE.
   */
  connect(path: string): number {
    return this.#sys(() => {
      this.#needFds(1, "connect");
      const s = unixConnect(this.#st, path, this.#cred());
      return this.#installNew(unixFile(s), false);
    });
  }

  /**
   * `accept4(fd)`: the next pending connection as a new fd. EBADF, ENOTSOCK, EINVAL for a socket
   * that is not listening, EAGAIN when no connection is pending (poll for POLLIN to wait),
   * EMFILE.
   */
  accept(fd: number, opts: FdFlagsOpt = {}): number {
    return this.#sys(() => {
      const l = this.#sock(fd, "accept");
      if (l.state !== "listening") throw new KernelError("EINVAL", `accept: fd ${fd} is not listening`);
      this.#needFds(1, "accept");
      const s = unixAccept(l);
      if (!s) throw new KernelError("EAGAIN", `accept: no connection pending on fd ${fd}`);
      return this.#installNew(unixFile(s), opts.cloexec === true);
    });
  }

  /**
   * `sendmsg(2)`: queues `data` to the peer, with the files of `fds` (SCM_RIGHTS: each holds a
   * reference while in flight). Returns the bytes sent. EBADF for a bad socket fd or a bad fd in
   * the list (nothing is sent), ENOTSOCK, EINVAL for more than SCM_MAX_FD fds, ENOTCONN on a
   * listening socket, EPIPE when the peer end is closed.
   */
  sendmsg(fd: number, msg: SendMsg): number {
    return this.#sys(() => {
      const sock = this.#sock(fd, "sendmsg");
      const data = msg.data ?? new Uint8Array(0);
      if (!(data instanceof Uint8Array)) throw new KernelError("EFAULT", "sendmsg: data is not a Uint8Array");
      const list = msg.fds ?? [];
      if (list.length > SCM_MAX_FD) {
        throw new KernelError("EINVAL", `sendmsg: ${list.length} fds exceed SCM_MAX_FD (${SCM_MAX_FD})`);
      }
      const files = list.map((f) => {
        const file = this.fds.get(f);
        if (!file) throw new KernelError("EBADF", `sendmsg: SCM_RIGHTS fd ${f} is not open`);
        return file;
      });
      unixSend(sock, data, files, this.pid);
      return data.length;
    });
  }

  /**
   * `recvmsg(2)`: the next message; its files get new fds here (FD_CLOEXEC with `cloexec`).
   * At end of stream (peer closed, queue empty) returns empty data and no fds. EBADF, ENOTSOCK,
   * EINVAL on a listening socket, EAGAIN when nothing is queued, EMFILE when the fds do not fit
   * (the message stays queued).
   */
  recvmsg(fd: number, opts: FdFlagsOpt = {}): RecvMsg {
    return this.#sys(() => {
      const sock = this.#sock(fd, "recvmsg");
      const msg = unixDequeue(sock);
      if (!msg) return { data: new Uint8Array(0), fds: [] };
      if (msg.files.length > this.fds.free) {
        unixRequeue(sock, msg);
        this.#needFds(msg.files.length, "recvmsg");
      }
      const cloexec = opts.cloexec === true;
      const fds = msg.files.map((file) => {
        const nfd = this.fds._alloc();
        this.fds._install(nfd, file, cloexec);
        return nfd;
      });
      unixLanded(msg.files);
      const tp = this.#st.tp.scm;
      if (fds.length > 0 && tp.enabled)
        tp.emit({ from_pid: msg.fromPid, to_pid: this.pid, count: fds.length });
      return { data: msg.data, fds };
    });
  }

  /**
   * `getsockopt(SO_PEERCRED)`: pid, uid and gid of the process at the other end when the
   * connection was made. EBADF, ENOTSOCK, ENOTCONN for a listening socket.
   */
  peerCred(fd: number): UnixCred {
    return this.#sys(() => {
      const sock = this.#sock(fd, "SO_PEERCRED");
      if (!sock.peerCred) throw new KernelError("ENOTCONN", `SO_PEERCRED: fd ${fd} is not connected`);
      return sock.peerCred;
    });
  }

  /**
   * `poll(2)`: the revents of each entry (POLLNVAL for a closed fd). Resolves at once when any
   * entry has events or `timeoutNs` is 0; otherwise when a file's wait queue wakes with events,
   * or with all zeros after `timeoutNs` of virtual time (undefined or negative: no limit). A bad
   * argument (EINVAL) or a dead process (ESRCH) throws before any promise is made.
   */
  poll(fds: readonly PollFd[], timeoutNs?: number): Promise<number[]> {
    return this.#sys(() => {
      if (!Array.isArray(fds) || fds.length > this.fds.limit) {
        throw new KernelError("EINVAL", `poll: ${fds?.length} entries exceed the fd limit ${this.fds.limit}`);
      }
      for (const p of fds) {
        if (!Number.isInteger(p?.fd) || !Number.isInteger(p.events)) {
          throw new KernelError("EINVAL", `poll: entry ${JSON.stringify(p)} is not { fd, events }`);
        }
      }
      if (timeoutNs !== undefined && !Number.isFinite(timeoutNs)) {
        throw new KernelError("EINVAL", `poll: timeout ${timeoutNs} ns`);
      }
      const wqs = new Set<WaitQueue>([this.#exitWq]);
      const first = pollScan(this.fds, fds, { wait: (wq) => wqs.add(wq) });
      if (first.some((r) => r !== 0) || timeoutNs === 0) return Promise.resolve(first);
      const timeout = timeoutNs === undefined || timeoutNs < 0 ? undefined : timeoutNs;
      const scan = (): number[] =>
        this.#state === "dead"
          ? fds.map(() => POLLNVAL)
          : this.kernel.withCurrent(this, () => pollScan(this.fds, fds, null));
      return pollWait(this.kernel.clock, wqs, scan, timeout);
    });
  }

  // ---- lifetime ---------------------------------------------------------------------------

  /**
   * Registers `fn` to run when this process exits (before its memory and files go, the way a
   * driver's task-exit notifier sees a whole task). Returns the function that unregisters it.
   * ESRCH when the process has exited.
   */
  onExit(fn: ExitCallback): () => void {
    return this.#sys(() => {
      const entry = { fn };
      this.#onExit.add(entry);
      return () => {
        this.#onExit.delete(entry);
      };
    });
  }

  /**
   * `execve` of a new program: closes every FD_CLOEXEC fd, replaces the address space with an
   * empty one (dropping the old mappings and their file references) and renames the process.
   */
  exec(comm: string): void {
    this.#sys(() => {
      if (typeof comm !== "string" || comm.length === 0) {
        throw new KernelError("EINVAL", `exec: comm ${JSON.stringify(comm)} must be a non-empty string`);
      }
      for (const fd of this.fds.fds()) if (this.fds.cloexec(fd)) this.#closeFd(fd);
      const old = this.#space;
      this.#space = mmOf(this.kernel).createUserSpace(`pid ${this.pid}`);
      old.destroy();
      this.#comm = comm;
      const tp = this.#st.tp.exec;
      if (tp.enabled) tp.emit({ pid: this.pid, comm });
    });
  }

  /**
   * `do_exit`: runs the `onExit` callbacks, destroys the address space (dropping every mapping
   * and the file references they hold), closes every fd (releasing files, sockets — which
   * unbinds their paths and drops the files in flight to them), then marks the process dead and
   * removes it from the process table. Every step runs even if one fails; a `KernelError` from a
   * callback is reported as `proc_warn`, any other error is rethrown at the end. ESRCH when the
   * process has already exited; EINVAL for a code that is not an integer.
   */
  exit(code = 0): void {
    if (this.#state !== "running") {
      throw new KernelError("ESRCH", `exit: pid ${this.pid} (${this.#comm}) has exited`);
    }
    if (!Number.isInteger(code)) throw new KernelError("EINVAL", `exit: code ${code} is not an integer`);
    this.#state = "exiting";
    const errors: unknown[] = [];
    const step = (what: string, fn: () => void): void => {
      try {
        fn();
      } catch (e) {
        if (e instanceof KernelError) procWarn(this.#st, `exit of pid ${this.pid}: ${what}: ${e.message}`);
        else errors.push(e);
      }
    };
    this.kernel.withCurrent(this, () => {
      for (const cb of [...this.#onExit]) step("onExit callback", () => cb.fn(this));
      this.#onExit.clear();
      step("exit_mm", () => this.#space.destroy());
      for (const fd of this.fds.fds()) step(`close fd ${fd}`, () => this.#closeFd(fd));
      this.#state = "dead";
      this.#exitCode = code;
      this.#st.procs.delete(this.pid);
      const tp = this.#st.tp.exit;
      if (tp.enabled) tp.emit({ pid: this.pid, comm: this.#comm, code });
    });
    this.#exitWq.wakeUp();
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1)
      throw new AggregateError(errors, `exit of pid ${this.pid}: ${errors.length} steps failed`);
  }
}

/**
 * `fork` + `exec` of a fresh program: a new process with the next pid (from 1), an empty fd
 * table and its own empty address space. The kernel's mm must be booted (`mmInit`,
 * `memblockFreeAll`). EINVAL for an empty `comm` or a bad uid/gid.
 */
export function spawn(kernel: Kernel, opts: SpawnOpts): Process {
  if (typeof opts?.comm !== "string" || opts.comm.length === 0) {
    throw new KernelError("EINVAL", `spawn: comm ${JSON.stringify(opts?.comm)} must be a non-empty string`);
  }
  checkId("uid", opts.uid ?? 0);
  checkId("gid", opts.gid ?? 0);
  const st = procLayer(kernel);
  const pid = st.nextPid;
  const p = new Process(st, pid, opts);
  st.nextPid++;
  st.procs.set(pid, p);
  if (st.tp.spawn.enabled) st.tp.spawn.emit({ pid, comm: p.comm });
  return p;
}

/** The live process `pid` of `kernel`, or undefined (never spawned, or exited). */
export function findProcess(kernel: Kernel, pid: number): Process | undefined {
  return procLayer(kernel).procs.get(pid);
}

/** Live processes of `kernel`, by ascending pid. */
export function processes(kernel: Kernel): Process[] {
  return [...procLayer(kernel).procs.values()];
}

/**
 * `fget(fd)` as a driver calls it inside a system call (`dma_buf_get`): the file of fd `fd` of
 * the current process, with a new reference the caller must `fput`. EBADF when the fd is not open
 * or no process is current.
 */
export function fget(kernel: Kernel, fd: number): File {
  const p = currentProcess(kernel);
  if (!p) throw new KernelError("EBADF", `fget: fd ${fd} outside any process`);
  return p.fget(fd);
}

/**
 * The process whose system call is running now (`current`), or undefined outside any (in
 * kernel context: timers, device completions). Drivers use it to install fds (`dma_buf_fd`).
 */
export function currentProcess(kernel: Kernel): Process | undefined {
  const pid = kernel.current.pid;
  return pid === 0 ? undefined : procLayer(kernel).procs.get(pid);
}
