/**
 * Unix domain sockets (net/unix/af_unix.c) with fd passing (net/core/scm.c SCM_RIGHTS) and the
 * in-flight garbage collector (net/unix/garbage.c).
 *
 * Sockets are connection-oriented and keep message boundaries (SOCK_SEQPACKET): one `sendmsg`
 * is one `recvmsg`. A message may carry files: each holds a reference while in flight, which the
 * receiver's new fd takes over. Closing an end releases the files still queued to it; a cycle of
 * sockets reachable only through each other's queues is collected when its last outside
 * reference goes.
 *
 * @module
 */
import { KernelError, WaitQueue } from "@umm/kernel-core";
import { File } from "./file.js";
import type { FileOps, PollTable } from "./ops.js";
import type { ProcLayer } from "./state.js";
import { O_RDWR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRNORM } from "./types.js";

/** `struct ucred`: who is at the other end (SO_PEERCRED). */
export interface UnixCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** @internal a message in a socket's receive queue */
interface UnixMsg {
  readonly data: Uint8Array;
  readonly files: File[];
  readonly fromPid: number;
}

/** @internal one end of a Unix socket (`struct unix_sock`) */
export class UnixSock {
  readonly st: ProcLayer;
  /** the inode number in the file's path "socket:[ino]" */
  readonly ino: number;
  state: "listening" | "connected" | "closed" = "connected";
  /** the file of this end; null for a connection not yet accepted */
  file: File | null = null;
  peer: UnixSock | null = null;
  /** the peer end was closed (RCV_SHUTDOWN | SEND_SHUTDOWN) */
  peerGone = false;
  readonly queue: UnixMsg[] = [];
  /** listening: connections waiting for accept */
  readonly backlog: UnixSock[] = [];
  maxBacklog = 0;
  /** listening: the bound path */
  path: string | null = null;
  /** who created this end (what the peer's SO_PEERCRED reports) */
  readonly cred: UnixCred;
  /** who was at the other end when the connection was made */
  peerCred: UnixCred | null = null;
  /** woken when a message or a connection arrives, or the peer goes */
  readonly wq: WaitQueue;

  constructor(st: ProcLayer, cred: UnixCred) {
    this.st = st;
    this.ino = st.nextIno++;
    this.cred = cred;
    this.wq = new WaitQueue(st.kernel.clock);
  }
}

function sockOf(file: File): UnixSock {
  return file.privateData as UnixSock;
}

/** The file operations of a Unix socket. */
export const UNIX_SOCKET_OPS: FileOps = Object.freeze({
  release: (file: File) => unixRelease(sockOf(file)),
  read: (file: File, len: number) => {
    const sock = sockOf(file);
    const msg = unixDequeue(sock);
    if (!msg) return new Uint8Array(0);
    dropFiles(msg.files);
    return msg.data.length > len ? msg.data.slice(0, len) : msg.data;
  },
  write: (file: File, data: Uint8Array) => {
    unixSend(sockOf(file), data, [], file.kernel.current.pid);
    return data.length;
  },
  poll: (file: File, pt: PollTable | null) => unixPoll(sockOf(file), pt),
} satisfies FileOps);

/** True when `file` is a Unix socket. */
export function isUnixSocket(file: File): boolean {
  return file.ops === UNIX_SOCKET_OPS;
}

/** @internal a file for `sock` (one reference, owned by the caller) */
export function unixFile(sock: UnixSock): File {
  const file = new File(sock.st.kernel, {
    ops: UNIX_SOCKET_OPS,
    flags: O_RDWR,
    path: `socket:[${sock.ino}]`,
    privateData: sock,
  });
  sock.file = file;
  ensureGc(sock.st);
  return file;
}

/** @internal two connected ends (`socketpair(AF_UNIX, SOCK_SEQPACKET)`) */
export function unixPair(st: ProcLayer, cred: UnixCred): [UnixSock, UnixSock] {
  const a = new UnixSock(st, cred);
  const b = new UnixSock(st, cred);
  a.peer = b;
  b.peer = a;
  a.peerCred = cred;
  b.peerCred = cred;
  return [a, b];
}

/** @internal a listening socket bound to `path` (checked free by the caller) */
export function unixListen(st: ProcLayer, path: string, backlog: number, cred: UnixCred): UnixSock {
  const s = new UnixSock(st, cred);
  s.state = "listening";
  s.path = path;
  s.maxBacklog = backlog;
  st.paths.set(path, { kind: "unix", sock: s });
  return s;
}

/**
 * @internal `connect` to the socket listening at `path`: the client end, its server end queued
 * for accept. ECONNREFUSED when nothing listens there, EAGAIN when its backlog is full.
 */
export function unixConnect(st: ProcLayer, path: string, cred: UnixCred): UnixSock {
  const e = st.paths.get(path);
  if (e?.kind !== "unix") throw new KernelError("ECONNREFUSED", `connect: nothing listens at ${path}`);
  const l = e.sock;
  if (l.backlog.length >= l.maxBacklog) {
    throw new KernelError("EAGAIN", `connect: the backlog of ${path} is full (${l.maxBacklog})`);
  }
  const client = new UnixSock(st, cred);
  const server = new UnixSock(st, l.cred);
  client.peer = server;
  server.peer = client;
  client.peerCred = l.cred;
  server.peerCred = cred;
  l.backlog.push(server);
  l.wq.wakeUp();
  return client;
}

/** @internal the next connection of listener `l`, or null */
export function unixAccept(l: UnixSock): UnixSock | null {
  return l.backlog.shift() ?? null;
}

/**
 * @internal queues a copy of `data` with `files` (each gets a reference while in flight) to the
 * peer. ENOTCONN for a listening socket, EPIPE when the peer is gone; nothing is queued then.
 */
export function unixSend(sock: UnixSock, data: Uint8Array, files: File[], fromPid: number): void {
  if (sock.state !== "connected")
    throw new KernelError("ENOTCONN", `sendmsg: socket:[${sock.ino}] is listening`);
  const peer = sock.peer;
  if (!peer || sock.peerGone)
    throw new KernelError("EPIPE", `sendmsg: the peer of socket:[${sock.ino}] is closed`);
  for (const f of files) {
    f.get();
    f._inflightAdd(1);
  }
  peer.queue.push({ data: data.slice(), files, fromPid });
  peer.wq.wakeUp();
}

/**
 * @internal the next message of `sock`, or null at end of stream (queue empty, peer gone).
 * EAGAIN when nothing is queued yet, EINVAL for a listening socket.
 */
export function unixDequeue(sock: UnixSock): UnixMsg | null {
  if (sock.state === "listening") {
    throw new KernelError("EINVAL", `recvmsg: socket:[${sock.ino}] is listening, not connected`);
  }
  const msg = sock.queue.shift();
  if (msg) return msg;
  if (sock.peerGone || !sock.peer) return null;
  throw new KernelError("EAGAIN", `recvmsg: nothing queued on socket:[${sock.ino}]`);
}

/** @internal puts a message back at the head (a receive that could not install its fds) */
export function unixRequeue(sock: UnixSock, msg: UnixMsg): void {
  sock.queue.unshift(msg);
}

/** @internal the in-flight references of a received message's files now belong to new fds */
export function unixLanded(files: readonly File[]): void {
  for (const f of files) f._inflightAdd(-1);
}

function dropFiles(files: readonly File[]): void {
  for (const f of files) {
    f._inflightAdd(-1);
    f.put();
  }
}

function unixPoll(sock: UnixSock, pt: PollTable | null): number {
  pt?.wait(sock.wq);
  if (sock.state === "listening") return sock.backlog.length > 0 ? POLLIN | POLLRDNORM : 0;
  if (sock.state === "closed") return POLLHUP;
  let mask = 0;
  if (sock.queue.length > 0) mask |= POLLIN | POLLRDNORM;
  if (sock.peerGone) mask |= POLLHUP | POLLRDHUP | POLLIN | POLLRDNORM;
  mask |= POLLOUT | POLLWRNORM;
  return mask;
}

/** Detaches every queued message of `sock` (and of its pending connections); returns their files. */
function detachQueued(sock: UnixSock): File[] {
  const out: File[] = [];
  for (const m of sock.queue.splice(0)) out.push(...m.files);
  return out;
}

function peerClosed(sock: UnixSock): void {
  const p = sock.peer;
  sock.peer = null;
  if (p) {
    p.peerGone = true;
    p.wq.wakeUp();
  }
}

/** `unix_release_sock`: unbinds, disconnects, and drops what was queued to this end. */
function unixRelease(sock: UnixSock): void {
  const st = sock.st;
  const drop: File[] = [];
  if (sock.state === "listening") {
    if (sock.path !== null) {
      const e = st.paths.get(sock.path);
      if (e?.kind === "unix" && e.sock === sock) st.paths.delete(sock.path);
    }
    for (const embryo of sock.backlog.splice(0)) {
      embryo.state = "closed";
      drop.push(...detachQueued(embryo));
      peerClosed(embryo);
    }
  } else {
    peerClosed(sock);
  }
  sock.state = "closed";
  drop.push(...detachQueued(sock));
  sock.wq.wakeUp();
  dropFiles(drop);
}

/** Files a socket's queues hold in flight (its own queue and, listening, its pending connections'). */
function queuedFiles(sock: UnixSock): File[] {
  const out: File[] = [];
  for (const m of sock.queue) out.push(...m.files);
  for (const e of sock.backlog) for (const m of e.queue) out.push(...m.files);
  return out;
}

function ensureGc(st: ProcLayer): void {
  if (st.gc) return;
  let running = false;
  st.gc = (file) => {
    if (running || file.ops !== UNIX_SOCKET_OPS) return;
    running = true;
    try {
      // one pass frees every cycle it finds; releasing them may orphan more
      while (unixGc(st)) {}
    } finally {
      running = false;
    }
  };
}

/**
 * One pass of `unix_gc`: a socket file whose every reference is in flight is a candidate;
 * candidates reached from outside (a live fd, a queue of a socket that is not a candidate)
 * survive together with everything their queues hold; the rest is a cycle nobody can receive
 * from, and is released. True when it dropped anything.
 */
function unixGc(st: ProcLayer): boolean {
  const cands = new Set<File>();
  for (const f of st.files) {
    if (f.ops === UNIX_SOCKET_OPS && f.inflight > 0 && f.refcount === f.inflight) cands.add(f);
  }
  if (cands.size === 0) return false;
  const outside = new Map<File, number>();
  for (const c of cands) outside.set(c, c.inflight);
  for (const c of cands) {
    for (const child of queuedFiles(sockOf(c))) {
      if (cands.has(child)) outside.set(child, outside.get(child)! - 1);
    }
  }
  const reachable = new Set<File>();
  const stack = [...cands].filter((c) => outside.get(c)! > 0);
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (reachable.has(c)) continue;
    reachable.add(c);
    for (const child of queuedFiles(sockOf(c)))
      if (cands.has(child) && !reachable.has(child)) stack.push(child);
  }
  const drop: File[] = [];
  for (const c of cands) {
    if (reachable.has(c)) continue;
    const s = sockOf(c);
    drop.push(...detachQueued(s));
    for (const e of s.backlog) drop.push(...detachQueued(e));
  }
  dropFiles(drop);
  return drop.length > 0;
}
