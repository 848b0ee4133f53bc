/**
 * The commands of the model-based fuzzer: fast-check `Command`s over the reference model
 * (`Model`) and the machine (`Real`). Each picks its objects by index among what the model has
 * when it runs (so shrinking keeps sequences meaningful), does the real thing, updates the
 * model, checks what the rules predict for that call, and then every per-step invariant.
 *
 * The users are legitimate: CPU access to dma-bufs is bracketed by DMA_BUF_IOCTL_SYNC, cached
 * UMP buffers are flushed around CPU access, devices reach buffers only through mapped
 * attachments or the capture queue's imports. So every byte read must be the last byte written,
 * and any coherency hazard is the stack's fault. The illegitimate attempts (`Probe`, `DevStray`,
 * denied UMP imports and exports, V4L2 calls from a file that does not own the queue or in the
 * wrong state) must be refused with the errno the model predicts, and leave everything as it was.
 *
 * @module
 */
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  type DmaBuf,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufFromFile,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufUnmapAttachment,
} from "@umm/dma-buf";
import { DMA_BIDIRECTIONAL } from "@umm/dma-mapping-arm";
import { isKernelError, PAGE_SIZE } from "@umm/kernel-core";
import { O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { IOCTL_PMM_ALLOC, PMM_MAGIC, PMM_MEM_GENERAL, PMM_NO_CACHE, pmmItems } from "@umm/pmm";
import {
  UMP_MSYNC_CLEAN_AND_INVALIDATE,
  UMP_OK,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  type UmpHandle,
  umpCpuMsyncNow,
  umpDdHandleGet,
  umpDeviceFd,
  umpDmaBufExport,
  umpGrant,
  umpHandleCreateFromSecureId,
  umpMappedPointerGet,
  umpOpen,
  umpRead,
  umpRefDrvAllocate,
  umpReferenceRelease,
  umpRevoke,
  umpSecureIdGet,
  umpSizeGet,
  umpWrite,
} from "@umm/ump";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_DMABUF,
  type Vb2Buffer,
  type Vb2DcBuf,
  VIDIOC_DQBUF,
  VIDIOC_QBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
  vb2DmaContigPlaneDmaAddr,
} from "@umm/v4l2-videobuf";
import fc from "fast-check";
import { captureFrame } from "./capture.js";
import { checkStep, InvariantError } from "./invariants.js";
import { type MBuf, type MBufKind, type MChan, Model, type MProc, type MStore } from "./model.js";
import {
  CAPTURE_DEVICE,
  DOMAIN_DEVICES,
  FUZZ_DEVICES,
  IOVA_WINDOW,
  pattern,
  type Real,
  spawnSlot,
} from "./session.js";

type Cmd = fc.Command<Model, Real>;

const hex = (n: number) => `0x${n.toString(16)}`;

/** A model/real disagreement found by a command itself. */
function expectThat(cond: boolean, invariant: string, detail: () => string): asserts cond {
  if (!cond) throw new InvariantError(invariant, detail());
}

const WHO_SEES = "a process reaches only what it holds";
const BYTES = "every byte read is the last byte legitimately written";
const DEVICE = "a device never reaches memory its domain does not map";
const REFS = "refcounts match live references";

/** The errno a call threw, or null when it returned. */
function errnoOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (isKernelError(e)) return e.errno;
    throw e;
  }
}

const pick = <T>(items: readonly T[], i: number): T => items[i % items.length]!;

/** Buffer fds of a process, in fd order. */
function bufFds(p: MProc, filter: (b: MBuf) => boolean = () => true): [number, MBuf][] {
  const out: [number, MBuf][] = [];
  for (const [fd, what] of [...p.fds].sort((a, b) => a[0] - b[0])) {
    if (what.kind === "buf" && filter(what.buf)) out.push([fd, what.buf]);
  }
  return out;
}

const isDmabuf = (b: MBuf) => b.dmabuf !== null;

/** Where CPU accesses of a process can go: its mappings, then its UMP handles. */
type Target =
  | { kind: "map"; buf: MBuf; va: number; len: number }
  | { kind: "ump"; buf: MBuf; h: UmpHandle; va: number; len: number };

function targets(model: Readonly<Model>, p: MProc): Target[] {
  // a legitimate user brackets CPU access to a dma-buf with DMA_BUF_IOCTL_SYNC, which needs an fd
  const held = new Set(bufFds(p).map(([, b]) => b));
  return [
    ...p.maps
      .filter((m) => !m.buf.dmabuf || held.has(m.buf))
      .map((m): Target => ({ kind: "map", buf: m.buf, va: m.va, len: m.len })),
    // ...and a cached UMP buffer with ump_cpu_msync_now, which a uid whose access was revoked
    // may no longer do (UMP_IOC_MSYNC checks it): its stores could stay in the cache
    ...p.handles
      .filter((h) => !h.buf.store.cached || model.umpMayImport(h.buf, p.uid))
      .map((h): Target => ({ kind: "ump", buf: h.buf, h: h.h, va: h.va, len: h.buf.store.size })),
  ];
}

/** The D.V chunks covering `[offset, offset + len)` of an attachment. */
function dvChunks(
  segs: readonly { iova: number; len: number }[],
  offset: number,
  len: number,
): [number, number, number][] {
  const out: [number, number, number][] = [];
  let o = offset;
  let done = 0;
  for (const s of segs) {
    if (done === len) break;
    if (o >= s.len) {
      o -= s.len;
      continue;
    }
    const n = Math.min(s.len - o, len - done);
    out.push([s.iova + o, n, done]);
    done += n;
    o = 0;
  }
  return out;
}

/** Reads the bytes of every live store straight from DRAM (no cache effect): for "nothing changed" checks. */
function liveBytes(model: Model, real: Real, extraPfns: readonly number[] = []): Uint8Array {
  const pfns: number[] = [];
  for (const b of model.bufs) if (b.alive && b.kind !== "ump-dmabuf") pfns.push(...b.store.pfns);
  pfns.push(...extraPfns);
  const out = new Uint8Array(pfns.length * PAGE_SIZE);
  pfns.forEach((pfn, i) => {
    real.machine.mm.phys.read(pfn * PAGE_SIZE, out.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
  });
  return out;
}

/** Commands run, by name (the runner reports them). */
export const commandCounts = new Map<string, number>();

/** Outcomes of the calls commands made, "<call> <errno or ok>" (the runner reports them). */
export const outcomeCounts = new Map<string, number>();

/** Counts one outcome. */
export function tally(what: string): void {
  outcomeCounts.set(what, (outcomeCounts.get(what) ?? 0) + 1);
}

abstract class Base implements Cmd {
  abstract check(m: Readonly<Model>): boolean;
  abstract exec(m: Model, r: Real): void;
  abstract describe(): string;
  /** what the last run resolved the indexes to (pids, fds, addresses) */
  detail = "";
  toString(): string {
    return this.detail ? `${this.describe()} /* ${this.detail} */` : this.describe();
  }
  note(what: string): void {
    this.detail = this.detail ? `${this.detail}, ${what}` : what;
  }
  run(m: Model, r: Real): void {
    this.detail = "";
    const name = this.constructor.name;
    commandCounts.set(name, (commandCounts.get(name) ?? 0) + 1);
    this.exec(m, r);
    m.settle();
    checkStep(m, r);
  }
}

/** A command acting for a process: `slot` picks among the live processes it can act for. */
interface ForProc {
  readonly slot: number;
  ok(m: Readonly<Model>, p: MProc): boolean;
}

function chooseProc(m: Readonly<Model>, cmd: ForProc): MProc | null {
  const who = m.procs.filter((p) => p.alive && cmd.ok(m, p));
  return who.length ? pick(who, cmd.slot) : null;
}

/**
 * A command acting for one of the live processes it can act for (`ok`, by default any): it runs
 * only while there is one, and `proc` resolves `slot` to it when it runs.
 */
abstract class ProcCmd extends Base implements ForProc {
  readonly slot: number;
  constructor(slot: number) {
    super();
    this.slot = slot;
  }
  ok(_m: Readonly<Model>, _p: MProc): boolean {
    return true;
  }
  check(m: Readonly<Model>) {
    return chooseProc(m, this) !== null;
  }
  /** The process this run acts for (noted by pid). */
  proc(m: Readonly<Model>): MProc {
    const p = chooseProc(m, this)!;
    this.note(`pid ${p.proc!.pid}`);
    return p;
  }
}

/** `[offset, offset + len)` clamped into a `size`-byte object: at least one byte, none past the end. */
function clampRange(size: number, offset: number, len: number): [number, number] {
  const off = offset % size;
  return [off, Math.max(1, Math.min(len, size - off))];
}

// ---- allocation ---------------------------------------------------------------------------

const KINDS: readonly MBufKind[] = ["system", "cma", "pmm", "ump"];

/**
 * Records a buffer `p` now owns in the model (the caller files it where `p` holds it). Its ID is
 * taken before `store` runs, so a new store's ID follows it.
 */
function addBuf(
  m: Model,
  p: MProc,
  kind: MBufKind,
  store: () => MStore,
  file: MBuf["file"],
  dmabuf: DmaBuf | null,
  secureId = 0,
  parent: MBuf | null = null,
): MBuf {
  const id = m.nextId();
  const buf: MBuf = {
    id,
    kind,
    store: store(),
    file,
    dmabuf,
    secureId,
    ownerUid: p.uid,
    grants: new Set(),
    parent,
    alive: true,
  };
  m.bufs.push(buf);
  return buf;
}

class Alloc extends ProcCmd {
  readonly kind: MBufKind;
  readonly npages: number;
  readonly flag: boolean;
  constructor(slot: number, kind: MBufKind, npages: number, flag: boolean) {
    super(slot);
    this.kind = kind;
    this.npages = npages;
    this.flag = flag;
  }
  describe() {
    return `Alloc(proc#${this.slot}, ${this.kind}, ${this.npages} page(s)${this.flag ? ", cached/no-cache flag" : ""})`;
  }
  exec(m: Model, r: Real) {
    const p = this.proc(m);
    const proc = p.proc!;
    const k = r.machine.kernel;
    const size = this.npages * PAGE_SIZE;
    const newStore = (pfns: number[], len: number, zeroed: boolean, cached: boolean): MStore => ({
      id: m.nextId(),
      pfns,
      size: len,
      data: new Uint8Array(len),
      known: new Uint8Array(len).fill(zeroed ? 1 : 0),
      cached,
      devWrote: false,
      alive: true,
    });
    if (this.kind === "system" || this.kind === "cma") {
      const heap = proc.open(`/dev/dma_heap/${this.kind === "system" ? "system" : "common"}`, O_RDONLY);
      const req = { len: size, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
      const err = errnoOf(() => proc.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req));
      proc.close(heap);
      if (err) {
        expectThat(err === "ENOMEM", REFS, () => `heap allocation of ${size} bytes failed with ${err}`);
        return;
      }
      const file = proc.fds.get(req.fd)!;
      const dmabuf = dmaBufFromFile(file)!;
      const hb = dmabuf.priv as { pfns: Int32Array };
      const buf = addBuf(m, p, this.kind, () => newStore([...hb.pfns], size, true, true), file, dmabuf);
      p.fds.set(req.fd, { kind: "buf", buf });
      return;
    }
    if (this.kind === "pmm") {
      const before = new Set(
        pmmItems(k)
          .filter((i) => i.kind === "area")
          .map((i) => i.start),
      );
      const fd = proc.open("/dev/pmm", O_RDWR);
      const info = {
        magic: PMM_MAGIC,
        size,
        type: PMM_MEM_GENERAL,
        flags: this.flag ? PMM_NO_CACHE : 0,
        alignment: 0,
      };
      const err = errnoOf(() => proc.ioctl(fd, IOCTL_PMM_ALLOC, info));
      if (err) {
        proc.close(fd);
        expectThat(err === "ENOMEM", REFS, () => `PMM allocation of ${size} bytes failed with ${err}`);
        return;
      }
      const area = pmmItems(k).find((i) => i.kind === "area" && !before.has(i.start))!;
      expectThat(
        area !== undefined && area.size === info.size,
        REFS,
        () => "PMM_ALLOC made no new area of the size it reported",
      );
      const pfns = Array.from({ length: info.size / PAGE_SIZE }, (_, i) => area.start / PAGE_SIZE + i);
      const store = () => newStore(pfns, info.size, false, !this.flag);
      const buf = addBuf(m, p, "pmm", store, proc.fds.get(fd)!, null);
      p.fds.set(fd, { kind: "buf", buf });
      return;
    }
    // UMP: libump allocates, maps and keeps only the mapping's reference
    openUmp(p);
    const h = umpRefDrvAllocate(proc, size, this.flag ? UMP_REF_DRV_CONSTRAINT_USE_CACHE : 0);
    if (!h) return; // the carve-out is full: nothing changes
    const id = umpSecureIdGet(h);
    const dd = umpDdHandleGet(k, id)!;
    const pfns: number[] = [];
    for (const b of dd.blocks)
      for (let o = 0; o < b.size; o += PAGE_SIZE) pfns.push((b.addr + o) / PAGE_SIZE);
    const len = umpSizeGet(h);
    const buf = addBuf(m, p, "ump", () => newStore(pfns, len, false, dd.isCached), null, null, id);
    p.handles.push({ buf, h, va: umpMappedPointerGet(h) });
  }
}

/** libump's per-process open of /dev/ump, recorded in the model's fd table. */
function openUmp(p: MProc): void {
  const proc = p.proc!;
  if ([...p.fds.values()].some((f) => f.kind === "ump")) return;
  const ok = umpOpen(proc);
  if (ok !== UMP_OK) throw new InvariantError(REFS, `umpOpen failed for pid ${proc.pid}`);
  p.fds.set(umpDeviceFd(proc), { kind: "ump" });
}

// ---- mappings and CPU access ------------------------------------------------------------------

class Mmap extends ProcCmd {
  readonly fdIdx: number;
  constructor(slot: number, fdIdx: number) {
    super(slot);
    this.fdIdx = fdIdx;
  }
  override ok(_m: Readonly<Model>, p: MProc): boolean {
    return bufFds(p).length > 0;
  }
  describe() {
    return `Mmap(proc#${this.slot}, fd#${this.fdIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const [fd, buf] = pick(bufFds(p), this.fdIdx);
    const len = buf.dmabuf ? buf.dmabuf.size : buf.store.size;
    const va = p.proc!.mmap({ fd, length: len, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    p.maps.push({ buf, va, len });
  }
}

class Munmap extends ProcCmd {
  readonly mapIdx: number;
  constructor(slot: number, mapIdx: number) {
    super(slot);
    this.mapIdx = mapIdx;
  }
  override ok(_m: Readonly<Model>, p: MProc): boolean {
    return p.maps.length > 0;
  }
  describe() {
    return `Munmap(proc#${this.slot}, map#${this.mapIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const i = this.mapIdx % p.maps.length;
    const map = p.maps[i]!;
    p.proc!.munmap(map.va, map.len);
    p.maps.splice(i, 1);
  }
}

/** DMA_BUF_IOCTL_SYNC through the process's fd of `buf` (a CPU target always has one). */
function dmabufSync(p: MProc, buf: MBuf, flags: number): void {
  const fd = bufFds(p).find(([, b]) => b === buf)![0];
  const ret = p.proc!.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags });
  expectThat(ret === 0, REFS, () => `DMA_BUF_IOCTL_SYNC returned ${String(ret)}`);
}

/**
 * Runs a CPU access to `t` bracketed the way a legitimate user does: a cached UMP buffer is taken
 * back from the devices with ump_cpu_msync_now first (and after a write given back), a dma-buf's
 * access sits between DMA_BUF_IOCTL_SYNC START and END; after either, no device write is pending.
 */
function bracketed<T>(p: MProc, t: Target, write: boolean, access: () => T): T {
  const store = t.buf.store;
  if (t.kind === "ump") {
    if (store.cached) umpCpuMsyncNow(t.h, UMP_MSYNC_CLEAN_AND_INVALIDATE, null, store.size);
    const out = access();
    if (write && store.cached) umpCpuMsyncNow(t.h, UMP_MSYNC_CLEAN_AND_INVALIDATE, null, store.size);
    store.devWrote = false;
    return out;
  }
  if (!t.buf.dmabuf) return access();
  const rw = !write ? DMA_BUF_SYNC_READ : store.devWrote ? DMA_BUF_SYNC_RW : DMA_BUF_SYNC_WRITE;
  dmabufSync(p, t.buf, DMA_BUF_SYNC_START | rw);
  const out = access();
  dmabufSync(p, t.buf, DMA_BUF_SYNC_END | rw);
  store.devWrote = false;
  return out;
}

/** A CPU access by a process to one of its targets (`targets`), at a clamped offset and length. */
abstract class CpuAccess extends ProcCmd {
  readonly tIdx: number;
  readonly offset: number;
  readonly len: number;
  constructor(slot: number, tIdx: number, offset: number, len: number) {
    super(slot);
    this.tIdx = tIdx;
    this.offset = offset;
    this.len = len;
  }
  override ok(m: Readonly<Model>, p: MProc): boolean {
    return targets(m, p).length > 0;
  }
  /** The process, its target and the byte range this run accesses. */
  where(m: Model): { p: MProc; t: Target; off: number; len: number } {
    const p = this.proc(m);
    const t = pick(targets(m, p), this.tIdx);
    const [off, len] = clampRange(t.len, this.offset, this.len);
    return { p, t, off, len };
  }
}

class CpuWrite extends CpuAccess {
  readonly seed: number;
  constructor(slot: number, tIdx: number, offset: number, len: number, seed: number) {
    super(slot, tIdx, offset, len);
    this.seed = seed;
  }
  describe() {
    return `CpuWrite(proc#${this.slot}, target#${this.tIdx}, offset ${this.offset}, ${this.len} B, seed ${this.seed})`;
  }
  exec(m: Model, _r: Real) {
    const { p, t, off, len } = this.where(m);
    const bytes = pattern(len, this.seed);
    bracketed(p, t, true, () =>
      t.kind === "ump" ? umpWrite(t.h, off, bytes, len) : p.proc!.memWrite(t.va + off, bytes),
    );
    Model.write(t.buf.store, off, bytes);
  }
}

class CpuRead extends CpuAccess {
  describe() {
    return `CpuRead(proc#${this.slot}, target#${this.tIdx}, offset ${this.offset}, ${this.len} B)`;
  }
  exec(m: Model, _r: Real) {
    const { p, t, off, len } = this.where(m);
    const got = bracketed(p, t, false, () => {
      if (t.kind !== "ump") return p.proc!.memRead(t.va + off, len);
      const into = new Uint8Array(len);
      umpRead(into, t.h, off, len);
      return into;
    });
    const bad = Model.mismatch(t.buf.store, off, got);
    expectThat(bad < 0, BYTES, () => {
      const s = t.buf.store;
      return `pid ${p.proc!.pid} read byte ${bad} of buffer #${t.buf.id} (${t.buf.kind}) as ${hex(got[bad - off]!)}, last written ${hex(s.data[bad]!)}`;
    });
  }
}

class SyncIoctl extends ProcCmd {
  readonly fdIdx: number;
  readonly which: number;
  constructor(slot: number, fdIdx: number, which: number) {
    super(slot);
    this.fdIdx = fdIdx;
    this.which = which;
  }
  override ok(_m: Readonly<Model>, p: MProc): boolean {
    return bufFds(p, isDmabuf).length > 0;
  }
  describe() {
    return `SyncIoctl(proc#${this.slot}, fd#${this.fdIdx}, ${this.flags().toString(16)})`;
  }
  flags() {
    const rw = [DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW][this.which % 3]!;
    return rw | (this.which >= 3 ? DMA_BUF_SYNC_END : DMA_BUF_SYNC_START);
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const [fd, buf] = pick(bufFds(p, isDmabuf), this.fdIdx);
    const flags = this.flags();
    const ret = p.proc!.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags });
    expectThat(ret === 0, REFS, () => `DMA_BUF_IOCTL_SYNC returned ${String(ret)}`);
    // a sync for reading takes the buffer back from the devices
    if (!(flags & DMA_BUF_SYNC_END) && flags & DMA_BUF_SYNC_READ) buf.store.devWrote = false;
  }
}

// ---- sharing by fd ------------------------------------------------------------------------

function openChannel(m: Model, from: MProc, to: MProc): MChan {
  const have = m.chans.find(
    (c) =>
      c.from === from &&
      c.to === to &&
      c.fromOpen &&
      c.toOpen &&
      c.fromPid === from.proc!.pid &&
      c.toPid === to.proc!.pid,
  );
  if (have) return have;
  const listenFd = [...to.fds].find(([, f]) => f.kind === "listen")![0];
  const fromFd = from.proc!.connect(to.listenPath);
  const toFd = to.proc!.accept(listenFd);
  const chan: MChan = {
    from,
    fromPid: from.proc!.pid,
    to,
    toPid: to.proc!.pid,
    fromFd,
    toFd,
    fromOpen: true,
    toOpen: true,
    queue: [],
  };
  from.fds.set(fromFd, { kind: "sock", chan });
  to.fds.set(toFd, { kind: "sock", chan });
  m.chans.push(chan);
  return chan;
}

class Send extends ProcCmd {
  readonly toSlot: number;
  readonly fdIdx: number;
  constructor(slot: number, toSlot: number, fdIdx: number) {
    super(slot);
    this.toSlot = toSlot;
    this.fdIdx = fdIdx;
  }
  override ok(m: Readonly<Model>, p: MProc): boolean {
    return bufFds(p).length > 0 && m.procs.some((q) => q.alive && q !== p);
  }
  describe() {
    return `Send(proc#${this.slot} → other#${this.toSlot}, fd#${this.fdIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const q = pick(
      m.procs.filter((o) => o.alive && o !== p),
      this.toSlot,
    );
    const [fd, buf] = pick(bufFds(p), this.fdIdx);
    const chan = openChannel(m, p, q);
    p.proc!.sendmsg(chan.fromFd, { data: new Uint8Array([1]), fds: [fd] });
    chan.queue.push([buf]);
  }
}

class Recv extends ProcCmd {
  readonly chanIdx: number;
  constructor(slot: number, chanIdx: number) {
    super(slot);
    this.chanIdx = chanIdx;
  }
  chans(m: Readonly<Model>, p: MProc) {
    return m.chans.filter((c) => c.to === p && c.toOpen && c.queue.length > 0 && c.toPid === p.proc!.pid);
  }
  override ok(m: Readonly<Model>, p: MProc): boolean {
    return this.chans(m, p).length > 0;
  }
  describe() {
    return `Recv(proc#${this.slot}, channel#${this.chanIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const chan = pick(this.chans(m, p), this.chanIdx);
    const msg = p.proc!.recvmsg(chan.toFd);
    const bufs = chan.queue.shift()!;
    expectThat(
      msg.fds.length === bufs.length,
      REFS,
      () => `received ${msg.fds.length} fd(s), sent ${bufs.length}`,
    );
    msg.fds.forEach((fd, i) => {
      const buf = bufs[i]!;
      expectThat(
        p.proc!.fds.get(fd) === buf.file,
        WHO_SEES,
        () => `fd ${fd} received is not buffer #${buf.id}`,
      );
      p.fds.set(fd, { kind: "buf", buf });
    });
  }
}

class Close extends ProcCmd {
  readonly fdIdx: number;
  constructor(slot: number, fdIdx: number) {
    super(slot);
    this.fdIdx = fdIdx;
  }
  closable(p: MProc): number[] {
    return [...p.fds]
      .filter(([, f]) => f.kind === "buf" || f.kind === "sock" || f.kind === "video")
      .map(([fd]) => fd)
      .sort((a, b) => a - b);
  }
  override ok(_m: Readonly<Model>, p: MProc): boolean {
    return this.closable(p).length > 0;
  }
  describe() {
    return `Close(proc#${this.slot}, fd#${this.fdIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const fd = pick(this.closable(p), this.fdIdx);
    const what = p.fds.get(fd)!;
    // the owner's last close releases the capture queue (vb2_fop_release)
    if (what.kind === "video" && ownsQueue(m, p, fd)) releaseVideo(m);
    p.proc!.close(fd);
    p.fds.delete(fd);
    if (what.kind === "sock") {
      if (what.chan.from === p && what.chan.fromFd === fd) what.chan.fromOpen = false;
      else what.chan.toOpen = false;
    }
  }
}

// ---- UMP: sharing by secure ID ------------------------------------------------------------

class UmpImport extends ProcCmd {
  readonly bufIdx: number;
  constructor(slot: number, bufIdx: number) {
    super(slot);
    this.bufIdx = bufIdx;
  }
  umps(m: Readonly<Model>) {
    return m.bufs.filter((b) => b.kind === "ump");
  }
  override ok(m: Readonly<Model>, _p: MProc): boolean {
    return this.umps(m).length > 0;
  }
  describe() {
    return `UmpImport(proc#${this.slot}, ump#${this.bufIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const target = pick(this.umps(m), this.bufIdx);
    // a dead ID may have been handed out again (random IDs): then it names the new buffer
    const named = m.bufs.find((b) => b.kind === "ump" && b.alive && b.secureId === target.secureId) ?? target;
    openUmp(p);
    const h = umpHandleCreateFromSecureId(p.proc!, named.secureId);
    const may = m.umpMayImport(named, p.uid);
    expectThat((h !== null) === may, WHO_SEES, () =>
      may
        ? `uid ${p.uid} may import UMP ID ${hex(named.secureId)} (buffer #${named.id}) but was refused`
        : `uid ${p.uid} imported UMP ID ${hex(named.secureId)} (buffer #${named.id}${named.alive ? `, owner ${named.ownerUid}, grants [${[...named.grants]}]` : ", released"})`,
    );
    if (h) p.handles.push({ buf: named, h, va: umpMappedPointerGet(h) });
  }
}

/** A UMP call through one of the process's handles (`hIdx`). */
abstract class UmpHandleCmd extends ProcCmd {
  readonly hIdx: number;
  constructor(slot: number, hIdx: number) {
    super(slot);
    this.hIdx = hIdx;
  }
  override ok(_m: Readonly<Model>, p: MProc): boolean {
    return p.handles.length > 0;
  }
}

class UmpGrant extends UmpHandleCmd {
  readonly toSlot: number;
  readonly revoke: boolean;
  constructor(slot: number, hIdx: number, toSlot: number, revoke: boolean) {
    super(slot, hIdx);
    this.toSlot = toSlot;
    this.revoke = revoke;
  }
  describe() {
    return `Ump${this.revoke ? "Revoke" : "Grant"}(proc#${this.slot}, handle#${this.hIdx}, uid of slot ${this.toSlot})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const { buf, h } = pick(p.handles, this.hIdx);
    const uid = m.procs[this.toSlot % m.procs.length]!.uid;
    const res = this.revoke ? umpRevoke(h, uid) : umpGrant(h, uid);
    const owner = p.uid === buf.ownerUid;
    expectThat((res === UMP_OK) === owner, WHO_SEES, () =>
      owner
        ? `the owner could not change the access list`
        : `uid ${p.uid} changed the access list of a buffer uid ${buf.ownerUid} owns`,
    );
    if (owner && this.revoke) buf.grants.delete(uid);
    else if (owner) buf.grants.add(uid);
  }
}

class UmpRelease extends UmpHandleCmd {
  describe() {
    return `UmpRelease(proc#${this.slot}, handle#${this.hIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const i = this.hIdx % p.handles.length;
    umpReferenceRelease(p.handles[i]!.h);
    p.handles.splice(i, 1);
  }
}

class UmpExport extends UmpHandleCmd {
  describe() {
    return `UmpExport(proc#${this.slot}, handle#${this.hIdx})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    const { buf: parent, h } = pick(p.handles, this.hIdx);
    const fd = umpDmaBufExport(h);
    // the export goes by secure ID: a holder whose access was revoked since is refused (EPERM)
    const may = m.umpMayImport(parent, p.uid);
    expectThat(fd >= 0 === may, WHO_SEES, () =>
      may
        ? `uid ${p.uid} may export UMP buffer #${parent.id} but was refused`
        : `uid ${p.uid} exported UMP buffer #${parent.id} after its access was revoked`,
    );
    if (fd < 0) return;
    const file = p.proc!.fds.get(fd)!;
    const buf = addBuf(m, p, "ump-dmabuf", () => parent.store, file, dmaBufFromFile(file), 0, parent);
    p.fds.set(fd, { kind: "buf", buf });
  }
}

// ---- devices ------------------------------------------------------------------------------

class Attach extends ProcCmd {
  readonly fdIdx: number;
  readonly devIdx: number;
  constructor(slot: number, fdIdx: number, devIdx: number) {
    super(slot);
    this.fdIdx = fdIdx;
    this.devIdx = devIdx;
  }
  override ok(_m: Readonly<Model>, p: MProc): boolean {
    return bufFds(p, isDmabuf).length > 0;
  }
  describe() {
    return `Attach(proc#${this.slot}, fd#${this.fdIdx}, ${pick(FUZZ_DEVICES, this.devIdx)})`;
  }
  exec(m: Model, r: Real) {
    const p = this.proc(m);
    const [fd, buf] = pick(bufFds(p, isDmabuf), this.fdIdx);
    const devName = pick(FUZZ_DEVICES, this.devIdx);
    const k = r.machine.kernel;
    // a driver imports the fd the process hands it (as VIDIOC_QBUF with DMABUF memory does)
    const dmabuf = k.withCurrent(p.proc!, () => dmaBufGet(k, fd));
    expectThat(
      dmabuf === buf.dmabuf,
      WHO_SEES,
      () => `fd ${fd} of pid ${p.proc!.pid} resolved to another dma-buf`,
    );
    const dev = r.machine.devices.get(devName)!;
    const att = dmaBufAttach(dmabuf, dev);
    const sgt = dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
    const segs = sgt.dmaSegments().map((s) => ({ iova: s.dmaAddress, len: s.dmaLength }));
    const total = segs.reduce((s, x) => s + x.len, 0);
    expectThat(
      total === buf.store.size,
      DEVICE,
      () => `${devName} got ${total} bytes of D.V for a ${buf.store.size}-byte buffer`,
    );
    m.atts.push({ buf, dev: devName, dmabuf, att, sgt, segs });
  }
}

class Detach extends Base {
  readonly attIdx: number;
  constructor(attIdx: number) {
    super();
    this.attIdx = attIdx;
  }
  check(m: Readonly<Model>) {
    return m.atts.length > 0;
  }
  describe() {
    return `Detach(attachment#${this.attIdx})`;
  }
  exec(m: Model, _r: Real) {
    const i = this.attIdx % m.atts.length;
    const a = m.atts[i]!;
    detachOne(m, a);
  }
}

/** Unmaps, detaches and drops an attachment; its D.V becomes a ghost. */
export function detachOne(m: Model, a: Model["atts"][number]): void {
  dmaBufUnmapAttachment(a.att, a.sgt, DMA_BIDIRECTIONAL);
  dmaBufDetach(a.dmabuf, a.att);
  dmaBufPut(a.dmabuf);
  m.atts.splice(m.atts.indexOf(a), 1);
  for (const s of a.segs) ghost(m, a.dev, s.iova, s.len);
}

/** Remembers D.V a device could reach and must not any more (the last 32 ranges). */
function ghost(m: Model, dev: string, iova: number, len: number): void {
  m.ghosts.push({ dev, iova, len });
  if (m.ghosts.length > 32) m.ghosts.shift();
}

/** DMA through a live attachment (`attIdx`), at a clamped offset and length of its buffer. */
abstract class DevAccess extends Base {
  readonly attIdx: number;
  readonly offset: number;
  readonly len: number;
  constructor(attIdx: number, offset: number, len: number) {
    super();
    this.attIdx = attIdx;
    this.offset = offset;
    this.len = len;
  }
  check(m: Readonly<Model>) {
    return m.atts.length > 0;
  }
  /** The attachment and the byte range of its buffer this run reaches. */
  where(m: Model): { a: Model["atts"][number]; off: number; len: number } {
    const a = pick(m.atts, this.attIdx);
    const [off, len] = clampRange(a.buf.store.size, this.offset, this.len);
    return { a, off, len };
  }
  /** The device writes `bytes` (or reads into them) from `off` on, chunk by chunk of its D.V. */
  dma(r: Real, a: Model["atts"][number], off: number, bytes: Uint8Array, write: boolean): void {
    const port = r.fm.ports.get(a.dev)!;
    for (const [iova, n, at] of dvChunks(a.segs, off, bytes.length)) {
      const chunk = bytes.subarray(at, at + n);
      if (write) port.write(iova, chunk);
      else port.read(iova, chunk);
    }
  }
}

class DevWrite extends DevAccess {
  readonly seed: number;
  constructor(attIdx: number, offset: number, len: number, seed: number) {
    super(attIdx, offset, len);
    this.seed = seed;
  }
  describe() {
    return `DevWrite(attachment#${this.attIdx}, offset ${this.offset}, ${this.len} B, seed ${this.seed})`;
  }
  exec(m: Model, r: Real) {
    const { a, off, len } = this.where(m);
    const bytes = pattern(len, this.seed);
    this.dma(r, a, off, bytes, true);
    Model.write(a.buf.store, off, bytes);
    a.buf.store.devWrote = true;
  }
}

class DevRead extends DevAccess {
  describe() {
    return `DevRead(attachment#${this.attIdx}, offset ${this.offset}, ${this.len} B)`;
  }
  exec(m: Model, r: Real) {
    const { a, off, len } = this.where(m);
    const got = new Uint8Array(len);
    this.dma(r, a, off, got, false);
    const bad = Model.mismatch(a.buf.store, off, got);
    expectThat(bad < 0, BYTES, () => {
      return `${a.dev} read byte ${bad} of buffer #${a.buf.id} (${a.buf.kind}) as ${hex(got[bad - off]!)}, last written ${hex(a.buf.store.data[bad]!)}`;
    });
  }
}

/** DMA by a device where it has no live mapping: a ghost of a detached attachment, just past a live one, or anywhere. */
class DevStray extends Base {
  readonly devIdx: number;
  readonly how: number;
  readonly param: number;
  readonly write: boolean;
  constructor(devIdx: number, how: number, param: number, write: boolean) {
    super();
    this.devIdx = devIdx;
    this.how = how;
    this.param = param;
    this.write = write;
  }
  check(_m: Readonly<Model>) {
    return true;
  }
  describe() {
    return `DevStray(${pick(DOMAIN_DEVICES, this.devIdx)}, ${["ghost", "past-end", "anywhere"][this.how % 3]}, ${this.param}, ${this.write ? "write" : "read"})`;
  }
  mapped(m: Model, dev: string, iova: number): boolean {
    for (const s of m.deviceRanges(dev)) if (iova >= s.iova && iova < s.iova + s.len) return true;
    return false;
  }
  exec(m: Model, r: Real) {
    const dev = pick(DOMAIN_DEVICES, this.devIdx);
    let iova: number;
    const how = this.how % 3;
    const ghosts = m.ghosts.filter((g) => g.dev === dev);
    const live = m.deviceRanges(dev);
    if (how === 0 && ghosts.length > 0) {
      const g = pick(ghosts, this.param);
      iova = g.iova + ((this.param * 97) % g.len);
    } else if (how === 1 && live.length > 0) {
      const s = pick(live, this.param);
      iova = s.iova + s.len + (this.param % PAGE_SIZE);
    } else {
      const span = IOVA_WINDOW.end - IOVA_WINDOW.start;
      iova = IOVA_WINDOW.start + ((this.param * 2654435761) % span);
    }
    iova -= iova % 4;
    if (this.mapped(m, dev, iova)) return; // legitimately mapped now: not a stray access
    const before = liveBytes(m, r);
    const faults = r.machine.stats().faults.iommu;
    const port = r.fm.ports.get(dev)!;
    const buf = pattern(16, this.param);
    const err = errnoOf(() => (this.write ? port.write(iova, buf) : port.read(iova, buf)));
    expectThat(
      err === "EFAULT",
      DEVICE,
      () => `${dev} ${this.write ? "wrote" : "read"} unmapped D.V ${hex(iova)}: ${err ?? "no fault"}`,
    );
    expectThat(
      r.machine.stats().faults.iommu === faults + 1,
      DEVICE,
      () => `the fault at ${hex(iova)} was not reported to the IOMMU layer`,
    );
    const after = liveBytes(m, r);
    expectThat(
      Buffer.compare(before, after) === 0,
      DEVICE,
      () => `a faulting DMA at ${hex(iova)} changed live memory`,
    );
  }
}

// ---- isolation probes ---------------------------------------------------------------------

/** A process asks the kernel for the dma-buf behind an fd number: its own, another's, or a guess. */
class Probe extends ProcCmd {
  readonly how: number;
  readonly param: number;
  constructor(slot: number, how: number, param: number) {
    super(slot);
    this.how = how;
    this.param = param;
  }
  describe() {
    return `Probe(proc#${this.slot}, ${["own", "foreign", "guess"][this.how % 3]} fd, ${this.param})`;
  }
  exec(m: Model, r: Real) {
    const p = this.proc(m);
    const k = r.machine.kernel;
    let fd: number;
    const how = this.how % 3;
    const others = m.liveProcs().filter((q) => q !== p);
    if (how === 0 && p.fds.size > 0)
      fd = pick(
        [...p.fds.keys()].sort((a, b) => a - b),
        this.param,
      );
    else if (how === 1 && others.length > 0) {
      const q = pick(others, this.param);
      const fds = [...q.fds.keys()].sort((a, b) => a - b);
      fd = fds.length ? pick(fds, this.param >> 3) : this.param % 64;
    } else fd = this.param % 64;
    const what = p.fds.get(fd);
    let got: DmaBuf | null = null;
    const err = errnoOf(() => {
      got = k.withCurrent(p.proc!, () => dmaBufGet(k, fd));
    });
    const expected = what === undefined ? "EBADF" : what.kind === "buf" && what.buf.dmabuf ? null : "EINVAL";
    expectThat(
      err === expected,
      WHO_SEES,
      () =>
        `dma_buf_get(fd ${fd}) in pid ${p.proc!.pid}: ${err ?? "a buffer"}, expected ${expected ?? "its buffer"}`,
    );
    if (got) {
      const b = got as DmaBuf;
      expectThat(
        what?.kind === "buf" && b === what.buf.dmabuf,
        WHO_SEES,
        () => `fd ${fd} resolved to a buffer the process does not hold there`,
      );
      dmaBufPut(b);
    }
  }
}

// ---- V4L2: queue and dequeue (the capture device imports dma-bufs) ---------------------------

/** The process's fds of the capture node, in fd order. */
function videoFds(p: MProc): number[] {
  return [...p.fds]
    .filter(([, f]) => f.kind === "video")
    .map(([fd]) => fd)
    .sort((a, b) => a - b);
}

/** The capture queue goes (REQBUFS, its owner's close or exit): its slots' D.V become ghosts. */
function releaseVideo(m: Model): void {
  for (const sl of m.video.slots) for (const s of sl.segs) ghost(m, CAPTURE_DEVICE, s.iova, s.len);
  m.releaseVideo();
}

/** The D.V segments of the dma-buf a capture buffer imported. */
function slotSegments(vb: Vb2Buffer): { iova: number; len: number }[] {
  const priv = vb.planes[0]!.memPriv as Vb2DcBuf;
  return priv.dmaSgt!.dmaSegments().map((s) => ({ iova: s.dmaAddress, len: s.dmaLength }));
}

/** Is `fd` of `p` the file that owns the capture queue? */
function ownsQueue(m: Readonly<Model>, p: MProc, fd: number): boolean {
  const o = m.video.owner;
  return o !== null && o.p === p && o.pid === p.proc!.pid && o.fd === fd;
}

/** The errno a queue operation by a file that does not own the queue gets, or null. */
function notOwner(m: Readonly<Model>, p: MProc, fd: number): "EBUSY" | null {
  return m.video.owner !== null && !ownsQueue(m, p, fd) ? "EBUSY" : null;
}

/** Does `p` hold the file that owns the capture queue? */
function isOwner(m: Readonly<Model>, p: MProc): boolean {
  const o = m.video.owner;
  return o !== null && o.p === p && o.pid === p.proc!.pid;
}

/**
 * A V4L2 command on one of a process's capture-node fds. An aimed one (`wild` false) acts for
 * the queue's owner, the way an application drives its own queue; a wild one picks any process
 * and any of its capture fds, so that other files' calls (EBUSY) and calls in the wrong state
 * run too.
 */
abstract class VideoCmd extends ProcCmd {
  readonly vIdx: number;
  readonly wild: boolean;
  constructor(slot: number, vIdx: number, wild: boolean) {
    super(slot);
    this.vIdx = vIdx;
    this.wild = wild;
  }
  /** what an aimed command needs besides an owner */
  aimed(_m: Readonly<Model>, _p: MProc): boolean {
    return true;
  }
  override ok(m: Readonly<Model>, p: MProc): boolean {
    return this.wild ? videoFds(p).length > 0 : isOwner(m, p) && this.aimed(m, p);
  }
  /** The process and its capture-node fd this command acts on. */
  target(m: Model): [MProc, number] {
    const p = this.proc(m);
    const fd = this.wild ? pick(videoFds(p), this.vIdx) : m.video.owner!.fd;
    this.note(`fd ${fd}`);
    return [p, fd];
  }
  /** Runs the ioctl, checking its errno against the model's. */
  expectErrno(what: string, want: string | null, fn: () => unknown): void {
    const got = errnoOf(fn);
    tally(`${what} ${got ?? "ok"}`);
    expectThat(
      got === want,
      REFS,
      () => `${what}: ${got ?? "success"}, the model expects ${want ?? "success"}`,
    );
  }
  tag(): string {
    return this.wild ? `proc#${this.slot}, video#${this.vIdx}` : "owner";
  }
}

/** Opens the capture node (non-blocking, so that DQBUF with nothing done answers EAGAIN). */
function openVideo(p: MProc, r: Real): number {
  const fd = p.proc!.open(r.fm.cap.vdev.path, O_RDWR | O_NONBLOCK);
  p.fds.set(fd, { kind: "video" });
  return fd;
}

class VideoOpen extends ProcCmd {
  override ok(_m: Readonly<Model>, p: MProc): boolean {
    return videoFds(p).length < 2;
  }
  describe() {
    return `VideoOpen(proc#${this.slot})`;
  }
  exec(m: Model, r: Real) {
    const p = this.proc(m);
    this.note(`fd ${openVideo(p, r)}`);
  }
}

/**
 * REQBUFS(DMABUF, count). Aimed: a process without a capture fd opens one first and takes an
 * unowned queue (or the owner re-sizes its own); wild: any process's capture fd.
 */
class Reqbufs extends VideoCmd {
  readonly count: number;
  constructor(slot: number, vIdx: number, wild: boolean, count: number) {
    super(slot, vIdx, wild);
    this.count = count;
  }
  override ok(m: Readonly<Model>, p: MProc): boolean {
    return this.wild ? videoFds(p).length > 0 : m.video.owner === null;
  }
  describe() {
    return `Reqbufs(${this.tag()}, DMABUF, count ${this.count})`;
  }
  exec(m: Model, r: Real) {
    let p: MProc;
    let fd: number;
    if (!this.wild && m.video.owner === null) {
      p = this.proc(m);
      fd = videoFds(p)[0] ?? openVideo(p, r);
      this.note(`fd ${fd}`);
    } else [p, fd] = this.target(m);
    const v = m.video;
    const req = {
      count: this.count,
      type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
      memory: V4L2_MEMORY_DMABUF,
      capabilities: 0,
      flags: 0,
    };
    // vb2_ioctl_reqbufs: another file's queue is busy; vb2_core_reqbufs: not while streaming
    const want = notOwner(m, p, fd) ?? (v.streaming ? "EBUSY" : null);
    this.expectErrno("REQBUFS", want, () => p.proc!.ioctl(fd, VIDIOC_REQBUFS, req));
    if (want) return;
    expectThat(req.count === this.count, REFS, () => `REQBUFS(${this.count}) granted ${req.count} buffers`);
    // every buffer (and the dma-buf each held) goes; `count` new empty ones come
    releaseVideo(m);
    if (this.count > 0) {
      v.owner = { p, pid: p.proc!.pid, fd };
      v.slots = Array.from({ length: this.count }, () => ({
        buf: null,
        segs: [],
        state: "dequeued" as const,
      }));
    }
  }
}

/**
 * QBUF(DMABUF) of one of the process's buffer fds. Aimed: the owner queues a dma-buf into a
 * dequeued slot; wild: any capture fd, any slot (one past the end too), any buffer fd.
 */
class Qbuf extends VideoCmd {
  readonly index: number;
  readonly fdIdx: number;
  constructor(slot: number, vIdx: number, wild: boolean, index: number, fdIdx: number) {
    super(slot, vIdx, wild);
    this.index = index;
    this.fdIdx = fdIdx;
  }
  override aimed(m: Readonly<Model>, p: MProc): boolean {
    return m.video.slots.some((s) => s.state === "dequeued") && bufFds(p, isDmabuf).length > 0;
  }
  override ok(m: Readonly<Model>, p: MProc): boolean {
    return super.ok(m, p) && bufFds(p).length > 0;
  }
  describe() {
    return `Qbuf(${this.tag()}, index#${this.index}, fd#${this.fdIdx})`;
  }
  exec(m: Model, r: Real) {
    const [p, fd] = this.target(m);
    const v = m.video;
    let index: number;
    let bfd: number;
    let buf: MBuf;
    if (this.wild) {
      index = this.index % (v.slots.length + 1);
      [bfd, buf] = pick(bufFds(p), this.fdIdx);
    } else {
      const free = v.slots.flatMap((s, i) => (s.state === "dequeued" ? [i] : []));
      index = pick(free, this.index);
      [bfd, buf] = pick(bufFds(p, isDmabuf), this.fdIdx);
    }
    const slot = v.slots[index];
    const b = v4l2Buffer({
      index,
      type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
      memory: V4L2_MEMORY_DMABUF,
      m: { fd: bfd },
    });
    // not a dma-buf: vb2's dma_buf_get fails (EINVAL); a queued or done slot: EINVAL
    const want = notOwner(m, p, fd) ?? (slot?.state !== "dequeued" || !buf.dmabuf ? "EINVAL" : null);
    this.note(`index ${index}, buffer #${buf.id}`);
    this.expectErrno("QBUF", want, () => p.proc!.ioctl(fd, VIDIOC_QBUF, b));
    if (want) return;
    const vb = r.fm.cap.queue.bufs[index]!;
    // the same dma-buf again keeps its attachment; another one is attached and mapped anew
    if (slot!.buf !== buf) {
      for (const s of slot!.segs) ghost(m, CAPTURE_DEVICE, s.iova, s.len);
      slot!.segs = slotSegments(vb);
      // mapped DMA_FROM_DEVICE: the CPU gives the memory to the device, whose writes are what
      // counts from now on. On ARM the map invalidates the CPU's lines without writing them back
      // (a heap buffer with no attachment yet was never cleaned by DMA_BUF_IOCTL_SYNC), so what
      // the CPU wrote before is forfeit until the device writes.
      buf.store.known.fill(0);
    }
    expectThat(
      vb2DmaContigPlaneDmaAddr(vb, 0) === slot!.segs[0]?.iova,
      DEVICE,
      () => `buffer ${index} moved in D.V while it kept its dma-buf`,
    );
    const total = slot!.segs.reduce((n, s) => n + s.len, 0);
    expectThat(
      total === buf.dmabuf!.size,
      DEVICE,
      () => `${CAPTURE_DEVICE} got ${total} bytes of D.V for buffer #${buf.id}`,
    );
    slot!.buf = buf;
    slot!.state = "queued";
    v.queued.push(index);
  }
}

class Streamon extends VideoCmd {
  readonly on: boolean;
  constructor(slot: number, vIdx: number, wild: boolean, on: boolean) {
    super(slot, vIdx, wild);
    this.on = on;
  }
  describe() {
    return `${this.on ? "Streamon" : "Streamoff"}(${this.tag()})`;
  }
  exec(m: Model, _r: Real) {
    const [p, fd] = this.target(m);
    const v = m.video;
    if (this.on) {
      // vb2_core_streamon: already streaming is success; no buffers is EINVAL
      const want = notOwner(m, p, fd) ?? (!v.streaming && v.slots.length === 0 ? "EINVAL" : null);
      this.expectErrno("STREAMON", want, () =>
        p.proc!.ioctl(fd, VIDIOC_STREAMON, V4L2_BUF_TYPE_VIDEO_CAPTURE),
      );
      if (!want) v.streaming = true;
      return;
    }
    // vb2_core_streamoff: cancels everything, streaming or not; the slots keep their dma-bufs
    const want = notOwner(m, p, fd);
    this.expectErrno("STREAMOFF", want, () =>
      p.proc!.ioctl(fd, VIDIOC_STREAMOFF, V4L2_BUF_TYPE_VIDEO_CAPTURE),
    );
    if (want) return;
    v.streaming = false;
    v.queued.length = 0;
    v.done.length = 0;
    for (const s of v.slots) s.state = "dequeued";
  }
}

class Dqbuf extends VideoCmd {
  override aimed(m: Readonly<Model>, _p: MProc): boolean {
    return m.video.streaming;
  }
  describe() {
    return `Dqbuf(${this.tag()})`;
  }
  exec(m: Model, _r: Real) {
    const [p, fd] = this.target(m);
    const v = m.video;
    const b = v4l2Buffer({ type: V4L2_BUF_TYPE_VIDEO_CAPTURE, memory: V4L2_MEMORY_DMABUF });
    // __vb2_wait_for_done_vb: not streaming is EINVAL; nothing done and O_NONBLOCK is EAGAIN
    const want = notOwner(m, p, fd) ?? (!v.streaming ? "EINVAL" : v.done.length === 0 ? "EAGAIN" : null);
    this.expectErrno("DQBUF", want, () => p.proc!.ioctl(fd, VIDIOC_DQBUF, b));
    if (want) return;
    const index = v.done.shift()!;
    expectThat(
      b.index === index,
      REFS,
      () => `DQBUF returned buffer ${b.index}, the oldest done is ${index}`,
    );
    v.slots[index]!.state = "dequeued";
  }
}

/** The capture hardware fills the oldest buffer it owns, through its SysMMU. */
class Frame extends Base {
  readonly seed: number;
  /** only when a buffer is queued and the queue streams */
  readonly aimed: boolean;
  constructor(seed: number, aimed: boolean) {
    super();
    this.seed = seed;
    this.aimed = aimed;
  }
  check(m: Readonly<Model>) {
    return !this.aimed || (m.video.streaming && m.video.queued.length > 0);
  }
  describe() {
    return `Frame(seed ${this.seed}${this.aimed ? "" : ", any time"})`;
  }
  exec(m: Model, r: Real) {
    const v = m.video;
    const bytes = pattern(61, this.seed);
    const vb = captureFrame(r.fm.cap, bytes);
    tally(`frame ${vb ? "filled" : "none queued"}`);
    if (!v.streaming || v.queued.length === 0) {
      expectThat(
        vb === null,
        DEVICE,
        () => `the capture device filled buffer ${vb!.index} it was never given`,
      );
      return;
    }
    const index = v.queued.shift()!;
    expectThat(
      vb?.index === index,
      DEVICE,
      () => `the capture device filled buffer ${vb?.index}, the oldest queued is ${index}`,
    );
    const slot = v.slots[index]!;
    const store = slot.buf!.store;
    this.note(`buffer ${index}: #${slot.buf!.id}`);
    const frame = new Uint8Array(slot.buf!.dmabuf!.size);
    for (let i = 0; i < frame.length; i += bytes.length)
      frame.set(bytes.subarray(0, Math.min(bytes.length, frame.length - i)), i);
    Model.write(store, 0, frame);
    store.devWrote = true;
    slot.state = "done";
    v.done.push(index);
  }
}

// ---- processes ----------------------------------------------------------------------------

class Exit extends ProcCmd {
  constructor(slot: number) {
    super(slot);
  }
  describe() {
    return `Exit(proc#${this.slot})`;
  }
  exec(m: Model, _r: Real) {
    const p = this.proc(m);
    exitSlot(m, p);
  }
}

/** A process exits: everything it held is dropped. */
export function exitSlot(m: Model, p: MProc): void {
  const o = m.video.owner;
  if (o && o.p === p && o.pid === p.proc!.pid) releaseVideo(m);
  p.proc!.exit(0);
  p.alive = false;
  for (const c of m.chans) {
    if (c.from === p && c.fromPid === p.proc!.pid) c.fromOpen = false;
    if (c.to === p && c.toPid === p.proc!.pid) c.toOpen = false;
  }
  p.fds.clear();
  p.maps.length = 0;
  p.handles.length = 0;
}

class Respawn extends Base {
  readonly slot: number;
  constructor(slot: number) {
    super();
    this.slot = slot;
  }
  check(m: Readonly<Model>) {
    return m.procs.some((p) => !p.alive);
  }
  describe() {
    return `Respawn(dead#${this.slot})`;
  }
  exec(m: Model, r: Real) {
    const p = pick(
      m.procs.filter((q) => !q.alive),
      this.slot,
    );
    const proc = spawnSlot(r, p);
    this.note(`slot ${p.slot}, pid ${proc.pid}`);
  }
}

// ---- the arbitrary ------------------------------------------------------------------------

const slot = fc.nat({ max: 2 });
const idx = fc.nat({ max: 15 });
const off = fc.nat({ max: 300_000 });
const len = fc.integer({ min: 1, max: 6000 });

const ALLOC = fc
  .tuple(slot, fc.constantFrom(...KINDS), fc.integer({ min: 1, max: 4 }), fc.boolean())
  .map(([s, kind, n, flag]) => new Alloc(s, kind, kind === "ump" ? n * 48 : n, flag));

/** `arb`, `n` times: `fc.commands` picks among its arbitraries evenly, so repeats weight it up. */
const times = (n: number, arb: fc.Arbitrary<Cmd>): fc.Arbitrary<Cmd>[] => Array(n).fill(arb);

const seed = fc.nat({ max: 255 });
/** QBUF, aimed (the owner, a dequeued slot, a dma-buf) or wild */
const qbuf = (wild: boolean) =>
  fc.tuple(slot, idx, idx, idx).map(([s, v, i, f]) => new Qbuf(s, v, wild, i, f));

/** Every command, as fast-check arbitraries; repeats weight the common operations up. */
export const COMMANDS: fc.Arbitrary<Cmd>[] = [
  ...times(3, ALLOC),
  ...times(
    2,
    fc.tuple(slot, idx).map(([s, i]) => new Mmap(s, i)),
  ),
  fc.tuple(slot, idx).map(([s, i]) => new Munmap(s, i)),
  ...times(
    2,
    fc.tuple(slot, idx, off, len, seed).map(([s, i, o, l, sd]) => new CpuWrite(s, i, o, l, sd)),
  ),
  ...times(
    2,
    fc.tuple(slot, idx, off, len).map(([s, i, o, l]) => new CpuRead(s, i, o, l)),
  ),
  fc.tuple(slot, idx, fc.nat({ max: 5 })).map(([s, i, w]) => new SyncIoctl(s, i, w)),
  ...times(
    2,
    fc.tuple(slot, slot, idx).map(([s, t, i]) => new Send(s, t, i)),
  ),
  ...times(
    2,
    fc.tuple(slot, idx).map(([s, i]) => new Recv(s, i)),
  ),
  fc.tuple(slot, idx).map(([s, i]) => new Close(s, i)),
  ...times(
    2,
    fc.tuple(slot, idx).map(([s, i]) => new UmpImport(s, i)),
  ),
  fc.tuple(slot, idx, slot, fc.boolean()).map(([s, i, t, rv]) => new UmpGrant(s, i, t, rv)),
  fc.tuple(slot, idx).map(([s, i]) => new UmpRelease(s, i)),
  fc.tuple(slot, idx).map(([s, i]) => new UmpExport(s, i)),
  ...times(
    2,
    fc.tuple(slot, idx, fc.nat({ max: 3 })).map(([s, i, d]) => new Attach(s, i, d)),
  ),
  idx.map((i) => new Detach(i)),
  ...times(
    2,
    fc.tuple(idx, off, len, seed).map(([i, o, l, sd]) => new DevWrite(i, o, l, sd)),
  ),
  ...times(
    2,
    fc.tuple(idx, off, len).map(([i, o, l]) => new DevRead(i, o, l)),
  ),
  fc
    .tuple(fc.nat({ max: DOMAIN_DEVICES.length - 1 }), fc.nat({ max: 2 }), fc.nat(), fc.boolean())
    .map(([d, h, p, w]) => new DevStray(d, h, p, w)),
  fc.tuple(slot, fc.nat({ max: 2 }), fc.nat({ max: 1000 })).map(([s, h, p]) => new Probe(s, h, p)),
  slot.map((s) => new VideoOpen(s)),
  fc.tuple(slot, idx, fc.integer({ min: 1, max: 4 })).map(([s, v, n]) => new Reqbufs(s, v, false, n)),
  fc.tuple(slot, idx, fc.nat({ max: 4 })).map(([s, v, n]) => new Reqbufs(s, v, true, n)),
  ...times(2, qbuf(false)),
  qbuf(true),
  fc.tuple(slot, idx, fc.boolean(), fc.boolean()).map(([s, v, w, on]) => new Streamon(s, v, w, on)),
  fc.tuple(slot, idx).map(([s, v]) => new Streamon(s, v, false, true)),
  seed.map((sd) => new Frame(sd, false)),
  ...times(
    2,
    seed.map((sd) => new Frame(sd, true)),
  ),
  fc.tuple(slot, idx, fc.boolean()).map(([s, v, w]) => new Dqbuf(s, v, w)),
  fc.tuple(slot, idx).map(([s, v]) => new Dqbuf(s, v, false)),
  slot.map((s) => new Exit(s)),
  ...times(
    2,
    slot.map((s) => new Respawn(s)),
  ),
];

/** The command classes, for tests that build sequences by hand. */
export const Commands = {
  Alloc,
  Mmap,
  Munmap,
  CpuWrite,
  CpuRead,
  SyncIoctl,
  Send,
  Recv,
  Close,
  UmpImport,
  UmpGrant,
  UmpRelease,
  UmpExport,
  Attach,
  Detach,
  DevWrite,
  DevRead,
  DevStray,
  Probe,
  VideoOpen,
  Reqbufs,
  Qbuf,
  Streamon,
  Dqbuf,
  Frame,
  Exit,
  Respawn,
} as const;
