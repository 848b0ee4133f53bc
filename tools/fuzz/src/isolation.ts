/**
 * The isolation suite: an unprivileged process (uid 2000) tries, thousands of times, to reach
 * memory it was never given — UMP buffers by guessed, foreign, revoked and released secure IDs,
 * buffers behind stale or foreign fd numbers or behind files that only pretend to be dma-bufs,
 * SysV segments by guessed keys — and drivers pass forged dma-buf and attachment objects; devices
 * do DMA to memory their domain does not map (freed buffers, other masters' mappings, anywhere).
 * Every attempt must be refused with an error, and a refused attempt moves no byte: a faulting DMA
 * changes neither live memory nor the pages it once reached.
 *
 * @module
 */
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_HEAP_IOCTL_ALLOC,
  type DmaBuf,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufUnmapAttachment,
} from "@umm/dma-buf";
import { DMA_BIDIRECTIONAL } from "@umm/dma-mapping-arm";
import { DRM_IOCTL_PRIME_FD_TO_HANDLE } from "@umm/drm-gem";
import { iommuIovaToPhys } from "@umm/iommu-core";
import { isKernelError, PAGE_SIZE, Prng } from "@umm/kernel-core";
import { MFD_ALLOW_SEALING, memfdCreate, O_CLOEXEC, O_RDONLY, O_RDWR } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ } from "@umm/mm-core";
import { shmat, shmget } from "@umm/pmm";
import {
  UMP_IOC_DMABUF_EXPORT,
  UMP_IOC_DMABUF_IMPORT,
  UMP_IOC_MSYNC,
  UMP_IOC_SIZE_GET,
  UMP_MSYNC_CLEAN,
  umpDeviceFd,
  umpGrant,
  umpHandleCreateFromSecureId,
  umpRefDrvAllocate,
  umpReferenceRelease,
  umpRevoke,
  umpSecureIdGet,
} from "@umm/ump";
import { V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_MEMORY_DMABUF, VIDIOC_QBUF, v4l2Buffer } from "@umm/v4l2-videobuf";
import { captureState, diffStates, formatDiffs } from "./snapshot.js";
import type { Testbed } from "./testbed.js";

/** The kinds of attempt, each refused in its own way. */
export const ISOLATION_KINDS = [
  "ump guessed ID",
  "ump foreign ID",
  "ump revoked ID",
  "ump released ID",
  "stale fd",
  "foreign fd number",
  "file posing as a dma-buf",
  "forged dma-buf object",
  "forged attachment",
  "SysV guessed key",
  "DMA to freed memory",
  "DMA to another master's mapping",
  "DMA anywhere unmapped",
] as const;
export type IsolationKind = (typeof ISOLATION_KINDS)[number];

/** What a run found. */
export interface IsolationResult {
  readonly attempts: number;
  readonly refused: number;
  readonly byKind: Readonly<Record<string, number>>;
  /** attempts that were not refused, or refused but changed something */
  readonly failures: readonly string[];
}

/** A QBUF of `fd` as DMABUF memory into buffer 0 of a capture queue. */
const dmabufQbuf = (fd: number) =>
  v4l2Buffer({ index: 0, type: V4L2_BUF_TYPE_VIDEO_CAPTURE, memory: V4L2_MEMORY_DMABUF, m: { fd } });

/** Thrown inside an attempt when it was not refused. */
class Breach extends Error {}

/** The errno `fn` threw (the attempt was refused), else a `Breach`. Non-kernel errors propagate. */
function refused(what: string, fn: () => unknown, allowed?: readonly string[]): string {
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    if (isKernelError(e)) {
      if (allowed && !allowed.includes(e.errno))
        throw new Breach(`${what}: refused with ${e.errno}, expected ${allowed.join("/")}`);
      return e.errno;
    }
    if ((e as Error).name === "KernelBug") return "KernelBug";
    throw e;
  }
  throw new Breach(`${what}: not refused (returned ${String(r)})`);
}

/** Runs `attempts` isolation attempts on `tb` (its `b` is the intruder), seeded. */
export function runIsolation(tb: Testbed, attempts: number, seed: number): IsolationResult {
  const k = tb.machine.kernel;
  const rng = new Prng(`isolation/${seed}`);
  const b = tb.b;
  const a = tb.a;
  const failures: string[] = [];
  const byKind = new Map<string, number>();
  let refusedCount = 0;

  const snap = () => captureState(tb.machine, { mode: "canonical", extra: tb.extra });
  const before = snap();
  // what the intruder holds, and what was taken away from it
  const bUmp = umpDeviceFd(b);
  const bFds = new Set(b.fds.fds());
  const stale: number[] = [];
  const released: number[] = [];
  const revoked: number[] = [];
  // a's buffers granted to someone else, then revoked from the intruder
  const shared = umpRefDrvAllocate(a, 256 * 1024, 0)!;
  umpGrant(shared, 1001);
  umpGrant(shared, 2000);
  umpRevoke(shared, 2000);
  revoked.push(umpSecureIdGet(shared));
  // posing files: a memfd, a sync_file, a socket and a PMM file in the intruder's table
  const poser = [memfdCreate(b, "dmabuf", MFD_ALLOW_SEALING), tb.fd.bPmm, ...b.socketpair()];
  const rotator = tb.machine.dmaPort("rotator");
  const rotatorDomain = tb.machine.iommuMapping("rotator")!.domain;
  const jpeg = tb.machine.dmaPort("jpeg");

  // a buffer that lived and died: its secure ID, and for DMA its old D.V and pages
  const churnUmp = () => {
    const h = umpRefDrvAllocate(a, 256 * 1024, 0)!;
    released.push(umpSecureIdGet(h));
    umpReferenceRelease(h);
    if (released.length > 64) released.shift();
  };
  const heap = a.open("/dev/dma_heap/system", O_RDONLY);
  let freed: { iova: number; pfns: number[] } | null = null;
  const churnDma = () => {
    const req = { len: 2 * PAGE_SIZE, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
    a.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req);
    const buf = k.withCurrent(a, () => dmaBufGet(k, req.fd));
    const att = dmaBufAttach(buf, tb.machine.devices.get("rotator")!);
    const sgt = dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
    freed = { iova: sgt.sgl[0]!.dmaAddress, pfns: [...(buf.priv as { pfns: Int32Array }).pfns] };
    dmaBufUnmapAttachment(att, sgt, DMA_BIDIRECTIONAL);
    dmaBufDetach(buf, att);
    dmaBufPut(buf);
    a.close(req.fd);
  };
  // the intruder once held an fd and closed it
  const churnStale = () => {
    const h = b.open("/dev/dma_heap/system", O_RDONLY);
    const req = { len: PAGE_SIZE, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
    b.ioctl(h, DMA_HEAP_IOCTL_ALLOC, req);
    b.close(req.fd);
    b.close(h);
    if (!bFds.has(req.fd)) stale.push(req.fd);
  };
  churnUmp();
  churnDma();
  churnStale();

  /** Bytes of every page that a stray DMA could hit: the testbed's buffers and the freed pages. */
  const memory = (extra: readonly number[]): Buffer => {
    const pfns = [
      ...(tb.dmabuf.priv as { pfns: Int32Array }).pfns,
      ...extra,
      ...tb.sgt.sgl.map((s) => s.pfn),
    ];
    return Buffer.concat(pfns.map((pfn) => Buffer.from(tb.machine.mm.phys.view(pfn * PAGE_SIZE, PAGE_SIZE))));
  };
  const dmaRefused = (what: string, port: typeof rotator, iova: number, pfns: readonly number[]) => {
    const mem = memory(pfns);
    const faults = tb.machine.stats().faults.iommu;
    const write = rng.chance(0.5);
    const data = new Uint8Array(rng.int(1, 64)).fill(0xa5);
    const errno = refused(what, () => (write ? port.write(iova, data) : port.read(iova, data)), ["EFAULT"]);
    if (tb.machine.stats().faults.iommu !== faults + 1)
      throw new Breach(`${what}: the fault was not reported`);
    if (Buffer.compare(mem, memory(pfns)) !== 0) throw new Breach(`${what}: a refused DMA changed memory`);
    return errno;
  };

  const liveIds = () => [tb.umpId, ...revoked];
  for (let i = 0; i < attempts; i++) {
    const kind = ISOLATION_KINDS[i % ISOLATION_KINDS.length]!;
    if (i % 200 === 0) {
      churnUmp();
      churnDma();
      churnStale();
    }
    try {
      switch (kind) {
        case "ump guessed ID": {
          let id = rng.int(1, 0xfffffffe);
          while (liveIds().includes(id)) id = rng.int(1, 0xfffffffe);
          if (umpHandleCreateFromSecureId(b, id) !== null) throw new Breach(`ump guessed ID ${id}: imported`);
          refused(
            "SIZE_GET of a guessed ID",
            () => b.ioctl(bUmp, UMP_IOC_SIZE_GET, { secure_id: id, size: 0 }),
            ["EFAULT"],
          );
          refused(
            "mmap of a guessed ID",
            () =>
              b.mmap({
                fd: bUmp,
                length: 256 * 1024,
                prot: PROT_READ,
                flags: MAP_SHARED,
                offset: id * PAGE_SIZE,
              }),
            ["EFAULT"],
          );
          break;
        }
        case "ump foreign ID":
        case "ump revoked ID": {
          const id = kind === "ump foreign ID" ? tb.umpId : rng.pick(revoked);
          if (umpHandleCreateFromSecureId(b, id) !== null) throw new Breach(`${kind} ${id}: imported`);
          const op = rng.int(0, 3);
          if (op === 0)
            refused(kind, () => b.ioctl(bUmp, UMP_IOC_SIZE_GET, { secure_id: id, size: 0 }), ["EPERM"]);
          else if (op === 1)
            refused(
              kind,
              () =>
                b.mmap({
                  fd: bUmp,
                  length: 256 * 1024,
                  prot: PROT_READ,
                  flags: MAP_SHARED,
                  offset: id * PAGE_SIZE,
                }),
              ["EPERM"],
            );
          else if (op === 2)
            refused(kind, () => b.ioctl(bUmp, UMP_IOC_DMABUF_EXPORT, { secure_id: id, flags: 0, fd: 0 }), [
              "EPERM",
            ]);
          else
            refused(
              kind,
              () =>
                b.ioctl(bUmp, UMP_IOC_MSYNC, {
                  mapping: 0,
                  address: 0,
                  size: PAGE_SIZE,
                  op: UMP_MSYNC_CLEAN,
                  cookie: 0,
                  secure_id: id,
                  is_cached: 0,
                }),
              ["EPERM"],
            );
          break;
        }
        case "ump released ID": {
          const id = rng.pick(released);
          if (liveIds().includes(id)) break;
          if (umpHandleCreateFromSecureId(b, id) !== null) throw new Breach(`released ID ${id}: imported`);
          refused(kind, () => b.ioctl(bUmp, UMP_IOC_SIZE_GET, { secure_id: id, size: 0 }), ["EFAULT"]);
          break;
        }
        case "stale fd":
        case "foreign fd number": {
          const fd =
            kind === "stale fd"
              ? rng.pick(stale.length ? stale : [99])
              : rng.pick([tb.fd.sys, tb.fd.cma, tb.fd.udmabuf, tb.fd.pmm, tb.fd.video, tb.fd.card]);
          // the number may name one of the intruder's own files (none of them a dma-buf): then
          // the importers refuse it as not a dma-buf, and it never reaches the holder's buffer
          // (what the intruder's own file does with an ioctl or mmap is its own business: a DRM
          // node, like Linux's, dispatches by number alone)
          const mine = b.fds.get(fd) !== undefined;
          const op = rng.int(0, mine ? 3 : 5);
          if (op === 0)
            refused(kind, () => k.withCurrent(b, () => dmaBufGet(k, fd)), mine ? ["EINVAL"] : ["EBADF"]);
          else if (op === 1)
            refused(
              kind,
              () => b.ioctl(bUmp, UMP_IOC_DMABUF_IMPORT, { fd, size: 0, secure_id: 0 }),
              mine ? ["EINVAL"] : ["EBADF"],
            );
          else if (op === 2)
            refused(
              kind,
              () => b.ioctl(tb.fd.bCard, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd, flags: 0, handle: 0 }),
              mine ? ["EINVAL"] : ["EBADF"],
            );
          else if (op === 3)
            // vb2's DMABUF import: "invalid dmabuf fd" (EINVAL) whatever the fd names
            refused(kind, () => b.ioctl(tb.bOwnVideo, VIDIOC_QBUF, dmabufQbuf(fd)), ["EINVAL"]);
          else if (op === 4)
            refused(
              kind,
              () => b.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ }),
              ["EBADF"],
            );
          else
            refused(kind, () => b.mmap({ fd, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }), [
              "EBADF",
            ]);
          break;
        }
        case "file posing as a dma-buf": {
          const fd = rng.pick(poser);
          const op = rng.int(0, 3);
          if (op === 0) refused(kind, () => k.withCurrent(b, () => dmaBufGet(k, fd)), ["EINVAL"]);
          else if (op === 1)
            refused(kind, () => b.ioctl(bUmp, UMP_IOC_DMABUF_IMPORT, { fd, size: 0, secure_id: 0 }), [
              "EINVAL",
            ]);
          else if (op === 2)
            refused(
              kind,
              () => b.ioctl(tb.fd.bCard, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd, flags: 0, handle: 0 }),
              ["EINVAL"],
            );
          // queued to the intruder's own capture queue: vb2's dma_buf_get refuses it
          else refused(kind, () => b.ioctl(tb.bOwnVideo, VIDIOC_QBUF, dmabufQbuf(fd)), ["EINVAL"]);
          break;
        }
        case "forged dma-buf object": {
          const real = tb.dmabuf;
          const forged = { ...real, ino: real.ino + rng.int(1, 100) } as unknown as DmaBuf;
          const dev = tb.machine.devices.get(rng.pick(["rotator", "jpeg", "mdma"]))!;
          const op = rng.int(0, 2);
          if (op === 0) refused(kind, () => dmaBufAttach(forged, dev), ["EINVAL"]);
          else if (op === 1) refused(kind, () => dmaBufPut(forged), ["EINVAL"]);
          else refused(kind, () => dmaBufDetach(forged, tb.att), ["EINVAL"]);
          break;
        }
        case "forged attachment": {
          const forged = { ...tb.att } as never;
          const op = rng.int(0, 2);
          if (op === 0) refused(kind, () => dmaBufMapAttachment(forged, DMA_BIDIRECTIONAL), ["EINVAL"]);
          else if (op === 1)
            refused(kind, () => dmaBufUnmapAttachment(forged, tb.sgt, DMA_BIDIRECTIONAL), ["EINVAL"]);
          else refused(kind, () => dmaBufDetach(tb.dmabuf, forged), ["EINVAL"]);
          break;
        }
        case "SysV guessed key": {
          const key = rng.int(1, 0x7fffffff);
          if (rng.chance(0.5)) refused(kind, () => shmget(b, key, PAGE_SIZE, 0), ["ENOENT"]);
          else refused(kind, () => shmat(b, rng.int(0, 1 << 20)), ["EINVAL"]);
          break;
        }
        case "DMA to freed memory": {
          const f = freed as { iova: number; pfns: number[] } | null;
          if (!f) break;
          const iova = f.iova + rng.int(0, 2 * PAGE_SIZE - 64);
          if (iommuIovaToPhys(rotatorDomain, iova) !== 0)
            throw new Breach(`${kind}: ${iova} is still mapped after the free`);
          dmaRefused(kind, rotator, iova, f.pfns);
          break;
        }
        case "DMA to another master's mapping": {
          const s = rng.pick(tb.sgt.dmaSegments());
          dmaRefused(kind, jpeg, s.dmaAddress + rng.int(0, s.dmaLength - 64), []);
          break;
        }
        case "DMA anywhere unmapped": {
          let iova = 0x20000000 + rng.int(0, (1 << 30) / 4 - 1) * 4;
          // skip what rotator legitimately maps (the attachment, the coherent buffer)
          while (
            iommuIovaToPhys(rotatorDomain, iova) !== 0 ||
            iommuIovaToPhys(rotatorDomain, iova + 63) !== 0
          ) {
            iova = 0x20000000 + ((iova - 0x20000000 + 0x10000) % (1 << 30));
          }
          dmaRefused(kind, rotator, iova, []);
          break;
        }
      }
      refusedCount++;
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    } catch (e) {
      if (!(e instanceof Breach)) throw e;
      failures.push(`attempt ${i} (${kind}): ${e.message}`);
    }
  }

  a.close(heap);
  umpReferenceRelease(shared);
  for (const fd of poser) if (fd !== tb.fd.bPmm) b.close(fd);
  const diffs = diffStates(before, snap(), tb.machine.mm.frames.basePfn);
  if (diffs.length) failures.push(`the attempts left the machine changed:\n${formatDiffs(diffs)}`);
  return {
    attempts,
    refused: refusedCount,
    byKind: Object.fromEntries(byKind),
    failures,
  };
}
