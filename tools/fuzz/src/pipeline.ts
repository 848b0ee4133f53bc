/**
 * A camera → compositor pipeline assembled from the board's own media drivers, for fault
 * injection and reclamation: what the `umm demo` pipeline does, at a small size.
 *
 * - **camera** (uid 1000): the FIMC0 capture node fed by the test-pattern sensor, NV12 MMAP
 *   buffers exported with VIDIOC_EXPBUF and passed to the compositor over a Unix socket; then per
 *   frame DQBUF, a message "buffer i is ready", the compositor's "done with i", QBUF.
 * - **compositor** (uid 1001): the FIMC1 mem-to-mem scaler converts each camera buffer
 *   (DMABUF in) into a DRM dumb buffer exported with PRIME (DMABUF out, XRGB8888); the FIMD
 *   shows it (SETCRTC, then PAGE_FLIP with an event).
 *
 * Each process is an async function of its system calls; a `KernelError` in either ends that
 * process the way an application would (it exits), and the other sees the socket close and exits
 * too. The run's outcome says which: every frame shown and right (`complete`), fewer or wrong
 * frames (`degraded`), or a process gave up on an error (`error`, with the errno and the call).
 *
 * @module
 */

import {
  DMA_HEAP_IOCTL_ALLOC,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufUnmapAttachment,
} from "@umm/dma-buf";
import { DMA_TO_DEVICE, type SgTable } from "@umm/dma-mapping-arm";
import {
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_MODE_PAGE_FLIP_EVENT,
  DRM_RDWR,
  type DrmModeModeinfo,
  drmParseEvents,
  drmSimpleMode,
} from "@umm/drm-gem";
import { type Device, isKernelError, type Kernel } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDONLY, O_RDWR, POLLHUP, POLLIN, type Process } from "@umm/kernel-process";
import { fimcOf, fimdLastFrame, fimdOf, nv12ToXrgb, testPatternFrame } from "@umm/plat-s5p-media";
import type { Machine } from "@umm/soc";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE as CAP,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE as OUT,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_XRGB32,
  VIDIOC_DQBUF,
  VIDIOC_EXPBUF,
  VIDIOC_QBUF,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
  v4l2Planes,
} from "@umm/v4l2-videobuf";

/** Options of `runPipeline`. */
export interface PipelineOpts {
  /** frames to show (default 3) */
  readonly frames?: number;
  /** frame size (default 64 × 48; width a multiple of 16) */
  readonly width?: number;
  readonly height?: number;
  /** called before every system call a process makes, e.g. to kill one at a random point */
  readonly onStep?: (who: "camera" | "compositor", step: string, procs: PipelineProcs) => void;
}

/** The pipeline's processes. */
export interface PipelineProcs {
  readonly camera: Process;
  readonly compositor: Process;
}

/** How a run ended. */
export interface PipelineOutcome {
  readonly kind: "complete" | "degraded" | "error";
  /** frames the display showed with the right pixels */
  readonly shown: number;
  /** frames asked for */
  readonly frames: number;
  /** each process's end: "ok", or "<errno> at <step>" */
  readonly camera: string;
  readonly compositor: string;
  /** the processes (for reclamation tests that kill them) */
  readonly procs: PipelineProcs;
}

/** A process gave up (an error the pipeline treats as the end of that process). */
class Gone extends Error {
  readonly why: string;
  constructor(why: string) {
    super(why);
    this.why = why;
  }
}

const SOCKET = "/run/fuzz-compositor";

/** Message bytes: [kind, index]: 1 = ready, 2 = done. */
const msg = (kind: number, index: number) => new Uint8Array([kind, index]);

/** A process waits at most this long for its peer (1 s of virtual time) before it gives up. */
const PEER_TIMEOUT_NS = 1_000_000_000;

async function waitReadable(proc: Process, fd: number): Promise<number> {
  const [ev] = await proc.poll([{ fd, events: POLLIN }], PEER_TIMEOUT_NS);
  if (!ev) throw new Gone("the peer did not answer within 1 s");
  return ev;
}

/** Runs the pipeline on `machine` (booted with the media drivers) until it ends; never throws a KernelError. */
export async function runPipeline(machine: Machine, opts: PipelineOpts = {}): Promise<PipelineOutcome> {
  const frames = opts.frames ?? 3;
  const width = opts.width ?? 64;
  const height = opts.height ?? 48;
  const k = machine.kernel;
  const fimc0 = fimcOf(machine.devices.get("fimc0")!)!;
  const fimc1 = fimcOf(machine.devices.get("fimc1")!)!;
  const fimd = machine.devices.get("fimd0")!;
  const card = fimdOf(fimd)!.drm;
  const camera = machine.spawn("camera", { uid: 1000, gid: 1000 });
  const compositor = machine.spawn("compositor", { uid: 1001, gid: 1001 });
  const listen = compositor.listen(SOCKET);
  const end = { camera: "running", compositor: "running" };
  const dma24 = machine.devices.get("dma24") ?? null;
  let shown = 0;
  const expected = new Map<number, Uint8Array>();
  const step = (who: "camera" | "compositor", s: string) => opts.onStep?.(who, s, { camera, compositor });

  /** Runs `fn` as `who`'s system call `name`: a KernelError ends the process. */
  const sys = <T>(who: "camera" | "compositor", name: string, fn: () => T): T => {
    step(who, name);
    try {
      return fn();
    } catch (e) {
      if (isKernelError(e)) throw new Gone(`${e.errno} at ${name}`);
      throw e;
    }
  };
  const wait = async <T>(
    who: "camera" | "compositor",
    name: string,
    fn: () => T | Promise<T>,
  ): Promise<T> => {
    step(who, name);
    try {
      return await fn();
    } catch (e) {
      if (isKernelError(e)) throw new Gone(`${e.errno} at ${name}`);
      throw e;
    }
  };
  const pix = (pixelformat: number) => ({ pix_mp: { width, height, pixelformat } });
  const buf = (type: number, memory: number, index = 0) =>
    v4l2Buffer({ type, memory, index, length: 1, m: { planes: v4l2Planes(1) } });

  const cameraMain = async (): Promise<void> => {
    const p = camera;
    const cam = sys("camera", "open", () => p.open(fimc0.path!, O_RDWR));
    sys("camera", "s_fmt", () => p.ioctl(cam, VIDIOC_S_FMT, { type: CAP, fmt: pix(V4L2_PIX_FMT_NV12) }));
    sys("camera", "reqbufs", () =>
      p.ioctl(cam, VIDIOC_REQBUFS, { count: 2, type: CAP, memory: V4L2_MEMORY_MMAP }),
    );
    const fds: number[] = [];
    for (let i = 0; i < 2; i++) {
      const exp = { type: CAP, index: i, plane: 0, flags: O_RDWR | O_CLOEXEC, fd: -1 };
      sys("camera", "expbuf", () => p.ioctl(cam, VIDIOC_EXPBUF, exp));
      fds.push(exp.fd);
    }
    const sock = sys("camera", "connect", () => p.connect(SOCKET));
    sys("camera", "send fds", () => p.sendmsg(sock, { data: msg(0, 0), fds }));
    for (const fd of fds) sys("camera", "close", () => p.close(fd));
    for (let i = 0; i < 2; i++)
      sys("camera", "qbuf", () => p.ioctl(cam, VIDIOC_QBUF, buf(CAP, V4L2_MEMORY_MMAP, i)));
    sys("camera", "streamon", () => p.ioctl(cam, VIDIOC_STREAMON, CAP));
    for (let n = 0; n < frames; n++) {
      const b = buf(CAP, V4L2_MEMORY_MMAP);
      await wait("camera", "dqbuf", () => p.ioctl(cam, VIDIOC_DQBUF, b));
      expected.set(n, testPatternFrame(width, height, b.sequence));
      sys("camera", "send ready", () => p.sendmsg(sock, { data: msg(1, b.index) }));
      const ev = await wait("camera", "wait done", () => waitReadable(p, sock));
      if (!(ev & POLLIN)) throw new Gone("the compositor went away");
      const r = sys("camera", "recv done", () => p.recvmsg(sock));
      if (r.data.length === 0) throw new Gone("the compositor went away");
      sys("camera", "qbuf", () => p.ioctl(cam, VIDIOC_QBUF, buf(CAP, V4L2_MEMORY_MMAP, b.index)));
    }
    sys("camera", "streamoff", () => p.ioctl(cam, VIDIOC_STREAMOFF, CAP));
  };

  const compositorMain = async (): Promise<void> => {
    const p = compositor;
    const ev0 = await wait("compositor", "wait camera", () => waitReadable(p, listen));
    if (!(ev0 & POLLIN)) throw new Gone("no camera");
    const sock = sys("compositor", "accept", () => p.accept(listen));
    await wait("compositor", "wait fds", () => waitReadable(p, sock));
    const camFds = sys("compositor", "recv fds", () => p.recvmsg(sock)).fds;
    if (camFds.length !== 2) throw new Gone("the camera sent no buffers");
    const drm = sys("compositor", "open card", () => p.open(card.path, O_RDWR));
    const fbs: number[] = [];
    const dumbFds: number[] = [];
    // framebuffer 0: a dumb buffer exported with PRIME; framebuffer 1: a CMA-heap buffer imported
    // with PRIME (both ways of sharing a scanout buffer, and both allocators)
    {
      const cd = { height, width, bpp: 32, flags: 0, handle: 0, pitch: 0, size: 0 };
      sys("compositor", "create_dumb", () => p.ioctl(drm, DRM_IOCTL_MODE_CREATE_DUMB, cd));
      const prime = { handle: cd.handle, flags: DRM_RDWR | O_CLOEXEC, fd: -1 };
      sys("compositor", "prime export", () => p.ioctl(drm, DRM_IOCTL_PRIME_HANDLE_TO_FD, prime));
      dumbFds.push(prime.fd);
      const fb = {
        fb_id: 0,
        width,
        height,
        pixel_format: DRM_FORMAT_XRGB8888,
        handles: [cd.handle],
        pitches: [cd.pitch],
      };
      sys("compositor", "addfb2", () => p.ioctl(drm, DRM_IOCTL_MODE_ADDFB2, fb));
      fbs.push(fb.fb_id);
    }
    {
      const heap = sys("compositor", "open heap", () => p.open("/dev/dma_heap/common", O_RDONLY));
      const req = { len: width * height * 4, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
      sys("compositor", "heap alloc", () => p.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req));
      sys("compositor", "close heap", () => p.close(heap));
      dumbFds.push(req.fd);
      const prime = { fd: req.fd, flags: 0, handle: 0 };
      sys("compositor", "prime import", () => p.ioctl(drm, DRM_IOCTL_PRIME_FD_TO_HANDLE, prime));
      const fb = {
        fb_id: 0,
        width,
        height,
        pixel_format: DRM_FORMAT_XRGB8888,
        handles: [prime.handle],
        pitches: [width * 4],
      };
      sys("compositor", "addfb2", () => p.ioctl(drm, DRM_IOCTL_MODE_ADDFB2, fb));
      fbs.push(fb.fb_id);
    }
    const sc = sys("compositor", "open scaler", () => p.open(fimc1.path!, O_RDWR));
    sys("compositor", "s_fmt out", () =>
      p.ioctl(sc, VIDIOC_S_FMT, { type: OUT, fmt: pix(V4L2_PIX_FMT_NV12) }),
    );
    sys("compositor", "s_fmt cap", () =>
      p.ioctl(sc, VIDIOC_S_FMT, { type: CAP, fmt: pix(V4L2_PIX_FMT_XRGB32) }),
    );
    sys("compositor", "reqbufs out", () =>
      p.ioctl(sc, VIDIOC_REQBUFS, { count: 2, type: OUT, memory: V4L2_MEMORY_DMABUF }),
    );
    sys("compositor", "reqbufs cap", () =>
      p.ioctl(sc, VIDIOC_REQBUFS, { count: 2, type: CAP, memory: V4L2_MEMORY_DMABUF }),
    );
    sys("compositor", "streamon out", () => p.ioctl(sc, VIDIOC_STREAMON, OUT));
    sys("compositor", "streamon cap", () => p.ioctl(sc, VIDIOC_STREAMON, CAP));
    const mode: DrmModeModeinfo = drmSimpleMode(width, height, 60);
    for (let n = 0; n < frames; n++) {
      const ev = await wait("compositor", "wait ready", () => waitReadable(p, sock));
      if (!(ev & POLLIN) && ev & POLLHUP) throw new Gone("the camera went away");
      const m = sys("compositor", "recv ready", () => p.recvmsg(sock));
      if (m.data.length === 0) throw new Gone("the camera went away");
      const idx = m.data[1]!;
      const target = n % 2;
      const src = buf(OUT, V4L2_MEMORY_DMABUF, idx);
      src.m.planes![0] = {
        bytesused: width * height * 1.5,
        length: width * height * 1.5,
        m: { fd: camFds[idx]! },
        data_offset: 0,
      };
      sys("compositor", "qbuf out", () => p.ioctl(sc, VIDIOC_QBUF, src));
      const dst = buf(CAP, V4L2_MEMORY_DMABUF, target);
      dst.m.planes![0] = {
        bytesused: 0,
        length: width * height * 4,
        m: { fd: dumbFds[target]! },
        data_offset: 0,
      };
      sys("compositor", "qbuf cap", () => p.ioctl(sc, VIDIOC_QBUF, dst));
      await wait("compositor", "dqbuf cap", () => p.ioctl(sc, VIDIOC_DQBUF, buf(CAP, V4L2_MEMORY_DMABUF)));
      await wait("compositor", "dqbuf out", () => p.ioctl(sc, VIDIOC_DQBUF, buf(OUT, V4L2_MEMORY_DMABUF)));
      if (n === 0) {
        const crtc = {
          crtc_id: card.crtc.id,
          fb_id: fbs[target]!,
          x: 0,
          y: 0,
          set_connectors_ptr: [card.connector.id],
          count_connectors: 1,
          mode_valid: 1,
          mode,
        };
        await wait("compositor", "setcrtc", () => p.ioctl(drm, DRM_IOCTL_MODE_SETCRTC, crtc));
        // the first frame shows at the next vblank
        await wait("compositor", "vblank", () => sleep(k, 20_000_000));
      } else {
        const flip = {
          crtc_id: card.crtc.id,
          fb_id: fbs[target]!,
          flags: DRM_MODE_PAGE_FLIP_EVENT,
          user_data: n,
        };
        sys("compositor", "page_flip", () => p.ioctl(drm, DRM_IOCTL_MODE_PAGE_FLIP, flip));
        await wait("compositor", "wait flip", () => waitReadable(p, drm));
        sys("compositor", "read event", () => drmParseEvents(p.read(drm, 4096)));
      }
      const seen = fimdLastFrame(fimd);
      const want = expected.get(n);
      let good = !!(seen && want && frameMatches(seen.data, want, width, height));
      // the overlay engine (a 24-bit master, where the board has one) reads the frame through
      // swiotlb; when it cannot map it the frame goes out without its overlay: degraded
      if (good && dma24 && target === 1) good = overlayRead(k, p, dumbFds[1]!, dma24, machine, seen!.data);
      if (good) shown++;
      sys("compositor", "send done", () => p.sendmsg(sock, { data: msg(2, idx) }));
    }
  };

  const proc = async (who: "camera" | "compositor", main: () => Promise<void>, self: Process) => {
    try {
      await main();
      end[who] = "ok";
    } catch (e) {
      if (!(e instanceof Gone)) throw e;
      end[who] = e.why;
    } finally {
      if (self.state === "running") self.exit(end[who] === "ok" ? 0 : 1);
    }
  };
  await k.clock.runUntil(
    Promise.all([proc("camera", cameraMain, camera), proc("compositor", compositorMain, compositor)]),
  );
  const kind =
    end.camera === "ok" && end.compositor === "ok" ? (shown === frames ? "complete" : "degraded") : "error";
  return {
    kind,
    shown,
    frames,
    camera: end.camera,
    compositor: end.compositor,
    procs: { camera, compositor },
  };
}

/**
 * A kernel driver of the 24-bit master maps the compositor's CMA-heap frame for reading (its pages
 * lie beyond the master's 16 MiB, so they bounce through swiotlb) and checks the first bytes it
 * reads by DMA. False when the mapping failed (the overlay is skipped: a degraded frame).
 */
function overlayRead(
  k: Kernel,
  p: Process,
  fd: number,
  dev: Device,
  machine: Machine,
  frame: Uint8Array,
): boolean {
  const buf = k.withCurrent(p, () => dmaBufGet(k, fd));
  const att = dmaBufAttach(buf, dev);
  try {
    let sgt: SgTable;
    try {
      sgt = dmaBufMapAttachment(att, DMA_TO_DEVICE);
    } catch (e) {
      if (isKernelError(e)) return false;
      throw e;
    }
    const seen = new Uint8Array(64);
    machine.dmaPort(dev.name).read(sgt.sgl[0]!.dmaAddress, seen);
    dmaBufUnmapAttachment(att, sgt, DMA_TO_DEVICE);
    return Buffer.compare(seen, frame.subarray(0, 64)) === 0;
  } finally {
    dmaBufDetach(buf, att);
    dmaBufPut(buf);
  }
}

function sleep(k: Kernel, ns: number): Promise<void> {
  return new Promise((resolve) => k.clock.after(ns, () => resolve()));
}

/** The XRGB8888 frame the display read equals the NV12 frame converted 1:1. */
function frameMatches(xrgb: Uint8Array, nv12: Uint8Array, width: number, height: number): boolean {
  const want = new Uint32Array(width * height);
  nv12ToXrgb(
    { y: nv12, yPitch: width, uv: nv12.subarray(width * height), uvPitch: width, width, height },
    { data: want, pitch: width, width, height },
  );
  return (
    Buffer.compare(
      Buffer.from(xrgb.buffer, xrgb.byteOffset, width * height * 4),
      Buffer.from(want.buffer),
    ) === 0
  );
}
