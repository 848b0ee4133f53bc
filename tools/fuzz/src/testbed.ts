/**
 * A populated machine for the bad-input catalogue and the isolation suite: two processes holding
 * one of everything — dma-bufs from both heaps (mapped, one attached to a SysMMU master and
 * mapped there), a PMM area, a UMP buffer, a sealed memfd and a udmabuf over it, a capture
 * device's MMAP buffers (one queued), sockets with a buffer in flight — plus a coherent DMA
 * buffer a driver holds. A rejected call must leave all of it exactly as it was.
 *
 * @module
 */
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  type DmaBuf,
  type DmaBufAttachment,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufUnmapAttachment,
  UDMABUF_CREATE,
} from "@umm/dma-buf";
import { DMA_BIDIRECTIONAL, dmaAllocCoherent, dmaFreeCoherent, type SgTable } from "@umm/dma-mapping-arm";
import {
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  type DrmDevice,
  drmDevRegister,
  drmDevUnregister,
  drmSimpleMode,
} from "@umm/drm-gem";
import type { Device } from "@umm/kernel-core";
import {
  F_ADD_SEALS,
  F_SEAL_SHRINK,
  fcntl,
  ftruncate,
  MFD_ALLOW_SEALING,
  memfdCreate,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  type Process,
} from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  VCM_DEV_JPEG,
  VCM_DEV_ROTATOR,
  type Vcm,
  type VcmPhys,
  type VcmRes,
  vcmAlloc,
  vcmDestroyBinding,
  vcmFindVcm,
  vcmFree,
  vcmMakeBinding,
  vcmReserve,
  vcmUnreserve,
} from "@umm/mm-vcm";
import { IOCTL_PMM_ALLOC, PMM_MAGIC, PMM_MEM_GENERAL } from "@umm/pmm";
import { bootBoard, EXYNOS4210_BOARD, type Machine } from "@umm/soc";
import {
  type UmpHandle,
  umpClose,
  umpOpen,
  umpRefDrvAllocate,
  umpReferenceRelease,
  umpSecureIdGet,
} from "@umm/ump";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  v4l2Buffer,
} from "@umm/v4l2-videobuf";
import { captureExit, captureInit, type FuzzCapture } from "./capture.js";
import { vb2QueueState } from "./snapshot.js";

/** What the testbed holds. */
export interface Testbed {
  readonly machine: Machine;
  /** uid 1000: holds everything */
  readonly a: Process;
  /** uid 2000: an unprivileged process with device files open and nothing of its own */
  readonly b: Process;
  readonly fd: {
    /** a's system-heap dma-buf (mapped at `va.sys`, attached to rotator) */
    readonly sys: number;
    /** a's CMA-heap dma-buf */
    readonly cma: number;
    /** a's /dev/pmm file with a 2-page area (mapped at `va.pmm`) */
    readonly pmm: number;
    /** a's sealed 4-page memfd and its udmabuf */
    readonly memfd: number;
    readonly udmabuf: number;
    /** a's capture node (owns the queue: 2 MMAP buffers, 0 queued) */
    readonly video: number;
    /** a's end of a socket pair with its sys dma-buf in flight */
    readonly sock: number;
    readonly sockPeer: number;
    /** b's files: /dev/pmm without an area, the capture node, a socket */
    readonly bPmm: number;
    readonly bVideo: number;
    /** the heap device files of a (read-only, as Linux's 0444 nodes) */
    readonly heapSys: number;
    readonly udmabufDev: number;
    /** a's memfd without seals */
    readonly memfdUnsealed: number;
    /** a's sync_file (the sys dma-buf's fences, exported) */
    readonly syncFile: number;
    /** the DRM card: a's file (the master: a dumb buffer, a framebuffer), b's file */
    readonly card: number;
    readonly bCard: number;
    /** an fd number only b has open (its /dev/pmm file again): "another process's fd" for a */
    readonly bOnly: number;
  };
  /** a's dumb buffer: GEM handle, framebuffer id, mmap offset */
  readonly dumb: { readonly handle: number; readonly fb: number; readonly offset: number };
  readonly drm: DrmDevice;
  readonly va: { readonly sys: number; readonly pmm: number; readonly video: number };
  /** a's UMP buffer and its secure ID */
  readonly ump: UmpHandle;
  readonly umpId: number;
  /** the sys dma-buf as a driver attached it to rotator */
  readonly dmabuf: DmaBuf;
  readonly att: DmaBufAttachment;
  readonly sgt: SgTable;
  /** a coherent buffer a driver of rotator holds */
  readonly coherent: {
    readonly dev: Device;
    readonly size: number;
    readonly cpuAddr: number;
    readonly dmaAddr: number;
  };
  readonly cap: FuzzCapture;
  /** b's own capture device (on g2d): b owns its queue, 2 DMABUF buffers, none queued */
  readonly bCap: FuzzCapture;
  /** b's file of it */
  readonly bOwnVideo: number;
  /** the harness's own state for snapshots (`CaptureOpts.extra`): both capture queues */
  extra(): Record<string, unknown>;
  /**
   * VCM: JPEG's S5P context with an unbound physical allocation (2 pages), an unbound
   * reservation (1 page) and a binding (2 pages); ROTATOR's context (for foreign handles)
   */
  readonly vcm: {
    readonly ctx: Vcm;
    readonly other: Vcm;
    readonly phys: VcmPhys;
    readonly res: VcmRes;
    readonly bound: VcmRes;
  };
  /** tears everything down; returns machine.shutdown()'s leak lines */
  teardown(): string[];
}

/** Boots the testbed (see the module comment). */
export function bootTestbed(seed = 1): Testbed {
  const machine = bootBoard(EXYNOS4210_BOARD, { seed });
  const k = machine.kernel;
  const cap = captureInit(machine, "sss");
  const a = machine.spawn("holder", { uid: 1000, gid: 0 }); // group 0: /dev/udmabuf is 0660 root:root
  const b = machine.spawn("intruder", { uid: 2000, gid: 2000 });

  const heapSys = a.open("/dev/dma_heap/system", O_RDONLY);
  const heapCma = a.open("/dev/dma_heap/common", O_RDONLY);
  const alloc = (heap: number, len: number) => {
    const req = { len, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
    a.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req);
    return req.fd;
  };
  const sys = alloc(heapSys, 3 * 4096);
  const cma = alloc(heapCma, 2 * 4096);
  a.close(heapCma);
  const vaSys = a.mmap({ fd: sys, length: 3 * 4096, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
  a.memWrite(vaSys, new Uint8Array([1, 2, 3]));

  const pmm = a.open("/dev/pmm", O_RDWR);
  a.ioctl(pmm, IOCTL_PMM_ALLOC, {
    magic: PMM_MAGIC,
    size: 8192,
    type: PMM_MEM_GENERAL,
    flags: 0,
    alignment: 0,
  });
  const vaPmm = a.mmap({ fd: pmm, length: 8192, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });

  umpOpen(a);
  const ump = umpRefDrvAllocate(a, 256 * 1024, 0)!;
  const umpId = umpSecureIdGet(ump);

  const memfd = memfdCreate(a, "frames", MFD_ALLOW_SEALING);
  ftruncate(a, memfd, 4 * 4096);
  fcntl(a, memfd, F_ADD_SEALS, F_SEAL_SHRINK);
  const udmabufDev = a.open("/dev/udmabuf", O_RDWR);
  const udmabuf = a.ioctl(udmabufDev, UDMABUF_CREATE, {
    memfd,
    flags: 0,
    offset: 0,
    size: 4 * 4096,
  }) as number;

  const video = a.open(cap.vdev.path, O_RDWR);
  a.ioctl(video, VIDIOC_REQBUFS, {
    count: 2,
    type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
    memory: V4L2_MEMORY_MMAP,
    capabilities: 0,
    flags: 0,
  });
  const qb = v4l2Buffer({ index: 0, type: V4L2_BUF_TYPE_VIDEO_CAPTURE, memory: V4L2_MEMORY_MMAP });
  a.ioctl(video, VIDIOC_QUERYBUF, qb);
  const vaVideo = a.mmap({
    fd: video,
    length: qb.length,
    prot: PROT_READ,
    flags: MAP_SHARED,
    offset: qb.m.offset,
  });
  a.ioctl(video, VIDIOC_QBUF, qb);

  const memfdUnsealed = memfdCreate(a, "unsealed", MFD_ALLOW_SEALING);
  ftruncate(a, memfdUnsealed, 4096);
  const sf = { flags: DMA_BUF_SYNC_WRITE, fd: -1 };
  a.ioctl(sys, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, sf);

  // a display on the TV mixer's master (no driver claims it): a's card file is the master
  const drm = drmDevRegister(k, {
    name: "fuzz-mixer",
    dev: machine.devices.get("mixer")!,
    driver: { modes: [drmSimpleMode(64, 32, 60)], display: { scanout: () => {} } },
  });
  const card = a.open(drm.path, O_RDWR);
  const cd = { height: 32, width: 64, bpp: 32, flags: 0, handle: 0, pitch: 0, size: 0 };
  a.ioctl(card, DRM_IOCTL_MODE_CREATE_DUMB, cd);
  const md = { handle: cd.handle, pad: 0, offset: 0 };
  a.ioctl(card, DRM_IOCTL_MODE_MAP_DUMB, md);
  const fbc = {
    fb_id: 0,
    width: 64,
    height: 32,
    pixel_format: DRM_FORMAT_XRGB8888,
    handles: [cd.handle],
    pitches: [cd.pitch],
  };
  a.ioctl(card, DRM_IOCTL_MODE_ADDFB2, fbc);

  const [sock, sockPeer] = a.socketpair();
  a.sendmsg(sock, { data: new Uint8Array([1]), fds: [sys] });

  const bPmm = b.open("/dev/pmm", O_RDWR);
  const bVideo = b.open(cap.vdev.path, O_RDWR);
  const bOnly = b.dup2(bPmm, 60);
  const bCap = captureInit(machine, "g2d");
  const bOwnVideo = b.open(bCap.vdev.path, O_RDWR);
  b.ioctl(bOwnVideo, VIDIOC_REQBUFS, {
    count: 2,
    type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
    memory: V4L2_MEMORY_DMABUF,
    capabilities: 0,
    flags: 0,
  });
  const bCard = b.open(drm.path, O_RDWR);
  umpOpen(b);

  const dmabuf = k.withCurrent(a, () => dmaBufGet(k, sys));
  const rotator = machine.devices.get("rotator")!;
  const att = dmaBufAttach(dmabuf, rotator);
  const sgt = dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
  const coh = dmaAllocCoherent(rotator, 8192)!;

  const vcmCtx = vcmFindVcm(k, VCM_DEV_JPEG)!;
  const vcmOther = vcmFindVcm(k, VCM_DEV_ROTATOR)!;
  const vcm = {
    ctx: vcmCtx,
    other: vcmOther,
    phys: vcmAlloc(vcmCtx, 2 * 4096),
    res: vcmReserve(vcmCtx, 4096),
    bound: vcmMakeBinding(vcmCtx, 2 * 4096),
  };

  const tb: Testbed = {
    machine,
    a,
    b,
    fd: {
      sys,
      cma,
      pmm,
      memfd,
      udmabuf,
      video,
      sock,
      sockPeer,
      bPmm,
      bVideo,
      heapSys,
      udmabufDev,
      memfdUnsealed,
      syncFile: sf.fd,
      card,
      bCard,
      bOnly,
    },
    dumb: { handle: cd.handle, fb: fbc.fb_id, offset: md.offset },
    drm,
    va: { sys: vaSys, pmm: vaPmm, video: vaVideo },
    ump,
    umpId,
    dmabuf,
    att,
    sgt,
    coherent: { dev: rotator, size: 8192, cpuAddr: coh.cpuAddr, dmaAddr: coh.dmaAddr },
    cap,
    bCap,
    bOwnVideo,
    extra: () => ({ queue: vb2QueueState(cap.queue), bQueue: vb2QueueState(bCap.queue) }),
    vcm,
    teardown() {
      vcmDestroyBinding(vcm.bound);
      vcmUnreserve(vcm.res);
      vcmFree(vcm.phys);
      dmaFreeCoherent(rotator, 8192, coh.cpuAddr, coh.dmaAddr);
      dmaBufUnmapAttachment(att, sgt, DMA_BIDIRECTIONAL);
      dmaBufDetach(dmabuf, att);
      dmaBufPut(dmabuf);
      umpReferenceRelease(ump);
      umpClose(a);
      umpClose(b);
      a.exit(0);
      b.exit(0);
      captureExit(cap);
      captureExit(bCap);
      drmDevUnregister(drm);
      return machine.shutdown().leaks.map((l) => `${l.what}: ${l.detail}`);
    },
  };
  return tb;
}
