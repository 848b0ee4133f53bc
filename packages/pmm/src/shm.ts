/**
 * SysV shared memory over PMM areas (the RFC's `ipc/shm.c` and `mm/shmem.c` patches):
 * `IOCTL_PMM_SHMGET` turns the area of a /dev/pmm file into a segment named `SYSV%08x` whose size
 * is the area's and which holds its own reference on the area; other processes find it by key
 * (`shmget`), map it (`shmat`: the mapping maps the area itself, VM_PFNMAP, write-combined for a
 * PMM_NO_CACHE area), unmap it (`shmdt`) and remove it (`shmctl(IPC_RMID)`). The area goes back
 * to the pool when the segment is removed and its last attach is gone (and every other holder —
 * the /dev/pmm file, transactions — let go). This is how X-SHM clients hand frames to the X
 * server without a copy.
 *
 * Only PMM segments exist in umm's SysV layer: creating an ordinary shmem segment is ENOSYS.
 *
 * @module
 */
import { hex, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { File, O_RDWR, type Process } from "@umm/kernel-process";
import { PROT_READ, PROT_WRITE, type Vma, type VmaOps } from "@umm/mm-core";
import { areaPut } from "./core.js";
import type { PmmArea, PmmState, ShmSegment, ShmState } from "./state.js";
import { pmmState } from "./state.js";
import {
  IPC_CREAT,
  IPC_EXCL,
  IPC_PRIVATE,
  IPC_RMID,
  IPC_STAT,
  IPCMNI,
  PMM_NO_CACHE,
  SHM_DEST,
  SHM_RDONLY,
  SHM_RND,
  SHMALL_DEFAULT,
  SHMLBA,
  SHMMAX_DEFAULT,
  SHMMNI_DEFAULT,
  type ShmidDs,
} from "./types.js";

/** Quotas of the SysV namespace (`kernel.shmmax`, `kernel.shmall`, `kernel.shmmni`). */
export interface PmmShmOpts {
  /** largest segment in bytes (default 32 MiB, the 2009 SHMMAX) */
  readonly shmmax?: number;
  /** most pages in all segments (default SHMALL) */
  readonly shmall?: number;
  /** most segments (default 4096) */
  readonly shmmni?: number;
}

/** @internal a new namespace */
export function newShmState(kernel: Kernel, opts: PmmShmOpts): ShmState {
  const check = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new KernelError("EINVAL", `pmm shm: ${name} ${v} must be a positive integer`);
    }
  };
  const ctlmax = opts.shmmax ?? SHMMAX_DEFAULT;
  const ctlall = opts.shmall ?? SHMALL_DEFAULT;
  const ctlmni = opts.shmmni ?? SHMMNI_DEFAULT;
  check("shmmax", ctlmax);
  check("shmall", ctlall);
  check("shmmni", ctlmni);
  if (ctlmni > IPCMNI) throw new KernelError("EINVAL", `pmm shm: shmmni ${ctlmni} exceeds IPCMNI ${IPCMNI}`);
  const t = kernel.trace;
  return {
    ctlmax,
    ctlall,
    ctlmni,
    tot: 0,
    byIndex: new Map(),
    byKey: new Map(),
    seq: 0,
    tp: {
      create: t.tracepoint("pmm_shm_create"),
      attach: t.tracepoint("pmm_shm_attach"),
      detach: t.tracepoint("pmm_shm_detach"),
      destroy: t.tracepoint("pmm_shm_destroy"),
    },
  };
}

/** `SYSV%08x` */
function shmName(key: number): string {
  return `SYSV${(key >>> 0).toString(16).padStart(8, "0")}`;
}

/** `ipcperms`: may `uid`/`gid` have the access `flag`'s rwx bits ask for? uid 0 may (CAP_IPC_OWNER). */
function ipcperms(seg: ShmSegment, uid: number, gid: number, flag: number): boolean {
  const requested = (flag >> 6) | (flag >> 3) | flag;
  let granted = seg.mode;
  if (uid === seg.cuid || uid === seg.uid) granted >>= 6;
  else if (gid === seg.cgid || gid === seg.gid) granted >>= 3;
  return (requested & ~granted & 0o7) === 0 || uid === 0;
}

function destroy(seg: ShmSegment): void {
  const ns = seg.ns;
  seg.destroyed = true;
  ns.byIndex.delete(seg.id % IPCMNI);
  if (ns.byKey.get(seg.key) === seg) ns.byKey.delete(seg.key);
  ns.tot -= seg.size / PAGE_SIZE;
  if (ns.tp.destroy.enabled) ns.tp.destroy.emit({ shmid: seg.id, key: seg.key });
  seg.file.put();
}

/** Every attach (VMA) of a segment counts in `nattch`, splits included (`shm_open`/`shm_close`). */
const SHM_VM_OPS: VmaOps = Object.freeze<VmaOps>({
  open(vma: Vma) {
    (vma.privateData as ShmSegment).nattch++;
  },
  close(vma: Vma) {
    const seg = vma.privateData as ShmSegment;
    seg.nattch--;
    seg.lpid = vma.space.mm.kernel.current.pid;
    seg.dtime = vma.space.mm.kernel.clock.now();
    if (seg.nattch === 0 && seg.dest && !seg.destroyed) destroy(seg);
  },
});

/**
 * @internal `IOCTL_PMM_SHMGET`'s `newseg`: a segment over `area` for `proc` with `key` (IPC_CREAT
 * | IPC_EXCL implied) and the mode bits of `shmflg`. EEXIST for a key in use; EINVAL for a
 * segment above `shmmax`; ENOSPC above `shmall` pages or `shmmni` segments. Returns the shmid.
 */
export function shmCreate(
  st: PmmState,
  ns: ShmState,
  proc: Process,
  area: PmmArea,
  key: number,
  shmflg: number,
): number {
  const k = key | 0;
  if (k !== IPC_PRIVATE && ns.byKey.has(k)) {
    throw new KernelError("EEXIST", `IOCTL_PMM_SHMGET: key ${hex(k >>> 0)} is in use`);
  }
  const pages = area.size / PAGE_SIZE;
  if (area.size > ns.ctlmax) {
    throw new KernelError(
      "EINVAL",
      `IOCTL_PMM_SHMGET: ${hex(area.size)} bytes exceed shmmax ${hex(ns.ctlmax)}`,
    );
  }
  if (ns.tot + pages > ns.ctlall) {
    throw new KernelError(
      "ENOSPC",
      `IOCTL_PMM_SHMGET: ${pages} pages would exceed shmall (${ns.tot} of ${ns.ctlall} in use)`,
    );
  }
  if (ns.byIndex.size >= ns.ctlmni) {
    throw new KernelError("ENOSPC", `IOCTL_PMM_SHMGET: all ${ns.ctlmni} segments (shmmni) are in use`);
  }
  let idx = 0;
  while (ns.byIndex.has(idx)) idx++;
  const id = (ns.seq++ % 0x10000) * IPCMNI + idx;
  const now = st.kernel.clock.now();
  area.kref.get();
  const seg: ShmSegment = {
    id,
    key: k,
    size: area.size,
    area,
    file: new File(st.kernel, {
      ops: { release: () => areaPut(st, area) },
      flags: O_RDWR,
      path: shmName(k),
    }),
    cuid: proc.uid,
    cgid: proc.gid,
    uid: proc.uid,
    gid: proc.gid,
    mode: shmflg & 0o777,
    nattch: 0,
    dest: false,
    cpid: proc.pid,
    lpid: 0,
    atime: 0,
    dtime: 0,
    ctime: now,
    destroyed: false,
    ns,
  };
  seg.file.privateData = seg;
  ns.byIndex.set(idx, seg);
  if (k !== IPC_PRIVATE) ns.byKey.set(k, seg);
  ns.tot += pages;
  if (ns.tp.create.enabled) ns.tp.create.emit({ shmid: id, key: k, size: area.size, paddr: area.start });
  return id;
}

function nsOf(kernel: Kernel, what: string): ShmState {
  const ns = pmmState(kernel).shm;
  if (!ns) throw new KernelError("ENOSYS", `${what}: PMM was set up without SysV sharing (CONFIG_PMM_SHM)`);
  return ns;
}

function running(proc: Process, what: string): void {
  if (proc.state !== "running") throw new KernelError("ESRCH", `${what}: pid ${proc.pid} has exited`);
}

function segOf(ns: ShmState, shmid: number, what: string): ShmSegment {
  const seg = Number.isSafeInteger(shmid) && shmid >= 0 ? ns.byIndex.get(shmid % IPCMNI) : undefined;
  if (!seg || seg.id !== shmid) throw new KernelError("EINVAL", `${what}: shmid ${shmid} is not a segment`);
  return seg;
}

/**
 * `shmget(key, size, shmflg)` in process `proc`: the id of the PMM segment created with `key`.
 * ENOENT when no segment has the key and IPC_CREAT is not set; EEXIST with IPC_CREAT|IPC_EXCL;
 * EACCES when the segment's mode bits deny the access `shmflg & 0777` asks for; EINVAL when
 * `size` is larger than the segment; ENOSYS for IPC_PRIVATE or IPC_CREAT of a missing key (umm
 * holds only PMM segments, which IOCTL_PMM_SHMGET creates) or without CONFIG_PMM_SHM; ESRCH
 * for a dead process.
 */
export function shmget(proc: Process, key: number, size: number, shmflg: number): number {
  running(proc, "shmget");
  const ns = nsOf(proc.kernel, "shmget");
  const k = key | 0;
  const seg = k === IPC_PRIVATE ? undefined : ns.byKey.get(k);
  if (!seg) {
    if (k === IPC_PRIVATE || shmflg & IPC_CREAT) {
      throw new KernelError(
        "ENOSYS",
        `shmget: key ${hex(k >>> 0)}: umm's SysV layer only holds PMM segments (create them with IOCTL_PMM_SHMGET)`,
      );
    }
    throw new KernelError("ENOENT", `shmget: no segment has key ${hex(k >>> 0)}`);
  }
  if ((shmflg & (IPC_CREAT | IPC_EXCL)) === (IPC_CREAT | IPC_EXCL)) {
    throw new KernelError("EEXIST", `shmget: key ${hex(k >>> 0)} exists (IPC_CREAT|IPC_EXCL)`);
  }
  if (!ipcperms(seg, proc.uid, proc.gid, shmflg & 0o777)) {
    throw new KernelError(
      "EACCES",
      `shmget: ${seg.file.path} (mode ${seg.mode.toString(8)}, uid ${seg.uid}, gid ${seg.gid}) denies ${(shmflg & 0o777).toString(8)} to uid ${proc.uid} gid ${proc.gid}`,
    );
  }
  if (size > seg.size) {
    throw new KernelError("EINVAL", `shmget: size ${hex(size)} exceeds the segment's ${hex(seg.size)}`);
  }
  return seg.id;
}

/**
 * `shmat(shmid, shmaddr, shmflg)` in process `proc`: maps the whole segment (the PMM area,
 * VM_PFNMAP, write-combined for a PMM_NO_CACHE area, read-only with SHM_RDONLY) and returns the
 * user address. `shmaddr` 0 lets the kernel choose; otherwise it must be a multiple of SHMLBA
 * (SHM_RND rounds it down) and the range must be free. EINVAL for a bad shmid or address or an
 * occupied range; EACCES when the mode bits deny read (and write without SHM_RDONLY); ENOMEM
 * when no range is free; ESRCH for a dead process. A segment marked for destruction can still be
 * attached while attached elsewhere (as Linux allows).
 */
export function shmat(proc: Process, shmid: number, shmaddr = 0, shmflg = 0): number {
  running(proc, "shmat");
  const ns = nsOf(proc.kernel, "shmat");
  const seg = segOf(ns, shmid, "shmat");
  let addr = shmaddr;
  if (addr !== 0) {
    if (!Number.isSafeInteger(addr) || addr < 0) throw new KernelError("EINVAL", `shmat: address ${addr}`);
    if (addr % SHMLBA !== 0) {
      if (shmflg & SHM_RND) addr -= addr % SHMLBA;
      else throw new KernelError("EINVAL", `shmat: address ${hex(addr)} is not a multiple of SHMLBA`);
    }
  }
  const rdonly = (shmflg & SHM_RDONLY) !== 0;
  if (!ipcperms(seg, proc.uid, proc.gid, rdonly ? 0o444 : 0o666)) {
    throw new KernelError(
      "EACCES",
      `shmat: ${seg.file.path} (mode ${seg.mode.toString(8)}, uid ${seg.uid}, gid ${seg.gid}) denies ${rdonly ? "read" : "read-write"} access to uid ${proc.uid} gid ${proc.gid}`,
    );
  }
  const space = proc.space;
  if (addr !== 0) {
    if (addr < space.lo || addr + seg.size > space.hi) {
      throw new KernelError(
        "EINVAL",
        `shmat: [${hex(addr)}, +${hex(seg.size)}) is outside the address space`,
      );
    }
    if (space.vmas.some((v) => v.start < addr + seg.size && addr < v.end)) {
      throw new KernelError("EINVAL", `shmat: [${hex(addr)}, +${hex(seg.size)}) is already mapped`);
    }
  }
  const start = proc.kernel.withCurrent(proc, () => {
    seg.file.get();
    try {
      return space.mmap({
        ...(addr !== 0 ? { addr, fixed: true } : {}),
        length: seg.size,
        prot: rdonly ? PROT_READ : PROT_READ | PROT_WRITE,
        memtype: seg.area.flags & PMM_NO_CACHE ? "writecombine" : "cacheable",
        shared: true,
        backing: { kind: "pfn", pfn: seg.area.start / PAGE_SIZE },
        name: seg.file.path,
        ops: SHM_VM_OPS,
        file: seg.file,
        privateData: seg,
      }).start;
    } catch (e) {
      seg.file.put();
      throw e;
    }
  });
  seg.nattch++;
  seg.lpid = proc.pid;
  seg.atime = proc.kernel.clock.now();
  if (ns.tp.attach.enabled) ns.tp.attach.emit({ shmid: seg.id, pid: proc.pid, uaddr: start, size: seg.size });
  return start;
}

/**
 * `shmdt(shmaddr)` in process `proc`: unmaps the attach that starts at `shmaddr` (every piece
 * of it, if mprotect or munmap split it). EINVAL when no attach starts there; ESRCH for a dead
 * process. The last detach of a removed segment destroys it.
 */
export function shmdt(proc: Process, shmaddr: number): void {
  running(proc, "shmdt");
  const space = proc.space;
  const vma = Number.isSafeInteger(shmaddr) ? space.findVma(shmaddr) : undefined;
  if (!vma || vma.start !== shmaddr || vma.ops !== SHM_VM_OPS || vma.pgoff !== 0) {
    throw new KernelError("EINVAL", `shmdt: no segment is attached at ${hex(shmaddr)}`);
  }
  const seg = vma.privateData as ShmSegment;
  const end = shmaddr + seg.size;
  const pieces = space.vmas.filter(
    (v) =>
      v.start >= shmaddr &&
      v.end <= end &&
      v.ops === SHM_VM_OPS &&
      v.privateData === seg &&
      v.start - shmaddr === v.pgoff * PAGE_SIZE,
  );
  proc.kernel.withCurrent(proc, () => {
    if (seg.ns.tp.detach.enabled) seg.ns.tp.detach.emit({ shmid: seg.id, pid: proc.pid, uaddr: shmaddr });
    for (const v of pieces) space.munmap(v.start, v.size);
  });
}

function stat(seg: ShmSegment): ShmidDs {
  return {
    key: seg.key,
    uid: seg.uid,
    gid: seg.gid,
    cuid: seg.cuid,
    cgid: seg.cgid,
    mode: seg.mode | (seg.dest ? SHM_DEST : 0),
    size: seg.size,
    nattch: seg.nattch,
    cpid: seg.cpid,
    lpid: seg.lpid,
    atime: seg.atime,
    dtime: seg.dtime,
    ctime: seg.ctime,
  };
}

/** `shmctl(shmid, IPC_STAT)`: the segment's `shmid_ds`. */
export function shmctl(proc: Process, shmid: number, cmd: typeof IPC_STAT): ShmidDs;
/** `shmctl(shmid, IPC_RMID)`: marks the segment for destruction; returns 0. */
export function shmctl(proc: Process, shmid: number, cmd: typeof IPC_RMID): 0;
/**
 * `shmctl(shmid, cmd)` in process `proc`. IPC_STAT returns the `shmid_ds` (EACCES without read
 * permission). IPC_RMID marks the segment for destruction: its key becomes IPC_PRIVATE at once
 * (the key can be reused), and it is destroyed — dropping its area reference — when its last
 * attach goes (at once when unattached); only the owner, the creator or uid 0 may (EPERM).
 * EINVAL for a bad shmid or an unknown command; ESRCH for a dead process.
 */
export function shmctl(proc: Process, shmid: number, cmd: number): ShmidDs | 0;
export function shmctl(proc: Process, shmid: number, cmd: number): ShmidDs | 0 {
  running(proc, "shmctl");
  const ns = nsOf(proc.kernel, "shmctl");
  if (cmd !== IPC_STAT && cmd !== IPC_RMID) throw new KernelError("EINVAL", `shmctl: unknown command ${cmd}`);
  const seg = segOf(ns, shmid, "shmctl");
  if (cmd === IPC_STAT) {
    if (!ipcperms(seg, proc.uid, proc.gid, 0o444)) {
      throw new KernelError("EACCES", `shmctl(IPC_STAT): ${seg.file.path} denies read to uid ${proc.uid}`);
    }
    return stat(seg);
  }
  if (proc.uid !== 0 && proc.uid !== seg.uid && proc.uid !== seg.cuid) {
    throw new KernelError(
      "EPERM",
      `shmctl(IPC_RMID): uid ${proc.uid} neither owns (${seg.uid}) nor created (${seg.cuid}) ${seg.file.path}`,
    );
  }
  if (!seg.dest) {
    seg.dest = true;
    if (ns.byKey.get(seg.key) === seg) ns.byKey.delete(seg.key);
    seg.key = IPC_PRIVATE;
    seg.ctime = proc.kernel.clock.now();
  }
  if (seg.nattch === 0) destroy(seg);
  return 0;
}

/** @internal live segments (shutdown report, debug views) */
export function liveSegments(ns: ShmState): ShmSegment[] {
  return [...ns.byIndex.values()].sort((a, b) => a.id - b.id);
}
