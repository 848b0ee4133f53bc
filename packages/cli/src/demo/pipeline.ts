/**
 * The demo's two programs, written against the uapi as user space is: a camera application and a
 * compositor, talking over a Unix socket.
 *
 * - **camera**: captures NV12 from the FIMC camera interface (`/dev/video0`) into V4L2 MMAP
 *   buffers, exports each one as a dma-buf (`VIDIOC_EXPBUF`) and passes the fds to the compositor
 *   (SCM_RIGHTS). Then, for every frame it dequeues, it sends the buffer's index and sequence; a
 *   buffer comes back to its queue when the compositor releases it. Frames the driver returns with
 *   `V4L2_BUF_FLAG_ERROR` are requeued, not sent.
 * - **compositor**: imports the camera's dma-bufs into a FIMC mem-to-mem scaler (`/dev/video1`,
 *   OUTPUT NV12, `V4L2_MEMORY_DMABUF`), allocates its scanout buffers from the CMA dma-heap, queues
 *   them on the scaler's CAPTURE side (XRGB8888 at the display's size, DMABUF) and imports them
 *   into the display (`DRM_IOCTL_PRIME_FD_TO_HANDLE`, `ADDFB2`). Per frame: scale, draw a
 *   head-up display with the CPU inside `DMA_BUF_IOCTL_SYNC` START/END, page flip, wait for the
 *   flip event, release the camera buffer.
 *
 * No frame byte is copied by a CPU: the camera's frames reach the scaler, and the scaler's the
 * display, by DMA through each device's System MMU.
 *
 * @module
 */
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_HEAP_IOCTL_ALLOC,
} from "@umm/dma-buf";
import {
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_GETCONNECTOR,
  DRM_IOCTL_MODE_GETRESOURCES,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_RMFB,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_WAIT_VBLANK,
  DRM_MODE_PAGE_FLIP_EVENT,
  DRM_VBLANK_RELATIVE,
  type DrmModeModeinfo,
  drmParseEvents,
} from "@umm/drm-gem";
import { KernelError } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDWR, POLLIN, type Process } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  V4L2_BUF_FLAG_ERROR,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_XRGB32,
  VIDIOC_DQBUF,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Dqbuf,
  v4l2Expbuf,
  v4l2MplaneBuffer,
  v4l2QbufDmabuf,
  v4l2QbufMmap,
  v4l2Reqbufs,
  v4l2SFmt,
} from "@umm/v4l2-videobuf";
import { hudBox, hudRow } from "./hud.js";
import { findVideoNode, packU32, unpackU32 } from "./uapi.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

/** The compositor's listening socket. */
export const COMPOSITOR_SOCKET = "/run/umm/compositor";

/** Message types on the socket (the first u32 of each message). */
const MSG_HELLO = 1; // width, height, fourcc, count, sizeimage + the dma-buf fds
const MSG_FRAME = 2; // index, sequence, bytesused
const MSG_RELEASE = 3; // index
const MSG_STOP = 4;

/** What the pipeline does, and with which nodes. */
export interface PipelineConfig {
  /** camera frame size (the scaler scales it to the display's mode) */
  readonly width: number;
  readonly height: number;
  /** frames to show */
  readonly frames: number;
  /** camera MMAP buffers (default 4) */
  readonly cameraBuffers?: number;
  /** scaler OUTPUT slots the camera's buffers go through (default one per camera buffer; fewer make the scaler re-import) */
  readonly scalerSlots?: number;
  /** scanout buffers (default and at least 3: one on screen, one being drawn, one being filled) */
  readonly displayBuffers?: number;
  /** the video nodes to look through for the camera and the scaler (`VIDIOC_QUERYCAP`) */
  readonly videoNodes: readonly string[];
  /** the DRM card and the dma-heap the scanout buffers come from */
  readonly cardNode: string;
  readonly heapNode: string;
}

/** What happened to one shown frame. */
export interface ShownFrame {
  /** 0-based count of frames shown */
  readonly n: number;
  /** the camera's frame number */
  readonly seq: number;
  /** the camera buffer it was captured into */
  readonly cameraIndex: number;
  /** the scanout buffer it was scaled into */
  readonly displayIndex: number;
}

/** Where the demo watches and bends the programs (progress, the `--bug` modes). */
export interface PipelineHooks {
  /** frame `f` is on screen (its flip completed) */
  readonly shown?: (f: ShownFrame) => void;
  /** the camera dequeued frame `seq` into buffer `index`, before it sends it */
  readonly captured?: (seq: number, index: number) => void;
  /** just before the compositor queues its `n`-th frame on the scaler */
  readonly beforeScale?: (n: number) => void;
  /** false: the compositor leaves out DMA_BUF_IOCTL_SYNC END after drawing frame `n`'s HUD */
  readonly syncEnd?: (n: number) => boolean;
  /**
   * true: once the last frame is on screen, the compositor frees its buffer (RMFB, GEM_CLOSE,
   * munmap, close) while it is still shown, waits a vblank and turns the display off
   */
  readonly freeOnScreen?: () => boolean;
}

/** The text of the HUD of frame `n` (`seq` the camera's number). */
export function hudText(n: number, frames: number, seq: number): string {
  return `UMM  FRAME ${String(n + 1).padStart(String(frames).length, "0")}/${frames}  CAMERA SEQ ${seq}`;
}

function rethrowUnlessAgain(e: unknown): void {
  if (!(e instanceof KernelError) || e.errno !== "EAGAIN") throw e;
}

/**
 * The camera application: connects to the compositor, captures into `cameraBuffers` MMAP
 * buffers, passes them as dma-bufs, then serves frames until the compositor says stop. Exits
 * (closing everything) when done.
 */
export async function cameraProgram(
  p: Process,
  cfg: PipelineConfig,
  hooks: PipelineHooks = {},
): Promise<void> {
  const sock = p.connect(COMPOSITOR_SOCKET);
  const cam = p.open(findVideoNode(p, cfg.videoNodes, "capture"), O_RDWR);
  const fmt = v4l2SFmt(p, cam, CAP, V4L2_PIX_FMT_NV12, cfg.width, cfg.height);
  const pix = fmt.fmt.pix_mp!;
  const count = v4l2Reqbufs(p, cam, CAP, V4L2_MEMORY_MMAP, cfg.cameraBuffers ?? 4);
  const fds: number[] = [];
  for (let i = 0; i < count; i++) fds.push(v4l2Expbuf(p, cam, CAP, i, 0, O_RDWR | O_CLOEXEC));
  const sizeimage = pix.plane_fmt[0]!.sizeimage;
  p.sendmsg(sock, {
    data: packU32(MSG_HELLO, pix.width, pix.height, pix.pixelformat, count, sizeimage),
    fds,
  });
  for (const fd of fds) p.close(fd); // the compositor holds them now; the queue keeps the memory
  for (let i = 0; i < count; i++) v4l2QbufMmap(p, cam, CAP, i);
  p.ioctl(cam, VIDIOC_STREAMON, CAP);
  let stop = false;
  while (!stop) {
    const [camEv, sockEv] = await p.poll([
      { fd: cam, events: POLLIN },
      { fd: sock, events: POLLIN },
    ]);
    if (sockEv! & POLLIN) {
      for (;;) {
        let msg: { data: Uint8Array };
        try {
          msg = p.recvmsg(sock);
        } catch (e) {
          rethrowUnlessAgain(e);
          break;
        }
        const [type, index] = unpackU32(msg.data);
        if (type === undefined || type === MSG_STOP) {
          stop = true;
          break;
        }
        if (type === MSG_RELEASE) v4l2QbufMmap(p, cam, CAP, index!);
      }
    }
    if (!stop && camEv! & POLLIN) {
      const b = v4l2MplaneBuffer(CAP, V4L2_MEMORY_MMAP);
      await p.ioctl(cam, VIDIOC_DQBUF, b);
      if (b.flags & V4L2_BUF_FLAG_ERROR) {
        v4l2QbufMmap(p, cam, CAP, b.index); // a frame the hardware could not write: try again
        continue;
      }
      hooks.captured?.(b.sequence, b.index);
      p.sendmsg(sock, { data: packU32(MSG_FRAME, b.index, b.sequence, b.m.planes![0]!.bytesused) });
    }
  }
  p.ioctl(cam, VIDIOC_STREAMOFF, CAP);
  p.exit(0);
}

/** What the compositor found out about the display. */
interface Display {
  readonly crtc: number;
  readonly connector: number;
  readonly mode: DrmModeModeinfo;
}

function findDisplay(p: Process, card: number): Display {
  const res = { count_fbs: 0, count_crtcs: 0, count_connectors: 0, count_encoders: 0 };
  p.ioctl(card, DRM_IOCTL_MODE_GETRESOURCES, res);
  const ids = {
    count_fbs: 0,
    count_crtcs: res.count_crtcs,
    count_connectors: res.count_connectors,
    count_encoders: 0,
    crtc_id_ptr: [] as number[],
    connector_id_ptr: [] as number[],
  };
  p.ioctl(card, DRM_IOCTL_MODE_GETRESOURCES, ids);
  const connector = ids.connector_id_ptr[0]!;
  const probe = { connector_id: connector, count_modes: 0, count_encoders: 0 };
  p.ioctl(card, DRM_IOCTL_MODE_GETCONNECTOR, probe);
  const conn = { connector_id: connector, count_modes: probe.count_modes, count_encoders: 0, modes_ptr: [] };
  p.ioctl(card, DRM_IOCTL_MODE_GETCONNECTOR, conn);
  const mode = (conn.modes_ptr as DrmModeModeinfo[])[0];
  if (!mode) throw new KernelError("ENODEV", `${connector}: the display offers no mode`);
  return { crtc: ids.crtc_id_ptr[0]!, connector, mode };
}

/** A scanout buffer of the compositor. */
interface ScanoutBuffer {
  /** the dma-buf from the heap */
  readonly fd: number;
  /** its mapping in the compositor (cacheable) */
  readonly va: number;
  /** while imported into DRM: the GEM handle and the framebuffer */
  handle: number;
  fb: number;
}

/**
 * The compositor: listens (call it before the camera connects), takes the camera's dma-bufs,
 * sets up the scaler and the display, and shows `cfg.frames` frames; then tells the camera to
 * stop and exits.
 *
 * A scanout buffer is written by the scaler, then by the CPU (the HUD), then read by the display.
 * The compositor keeps at most one device mapping of it at a time, as DMA-API debug wants (two
 * mappings a device may write through would share cache lines): the scaler's CAPTURE slot holds
 * the next buffer to fill (queueing it releases the one just filled), the display imports a
 * buffer (PRIME) just before it is drawn on and shown, and lets it go once a later flip took it
 * off the screen.
 */
export async function compositorProgram(
  p: Process,
  cfg: PipelineConfig,
  hooks: PipelineHooks = {},
): Promise<void> {
  const listening = p.listen(COMPOSITOR_SOCKET);
  await p.poll([{ fd: listening, events: POLLIN }]);
  const conn = p.accept(listening);
  p.close(listening);
  await p.poll([{ fd: conn, events: POLLIN }]);
  const hello = p.recvmsg(conn);
  const [type, width, height, , count, sizeimage] = unpackU32(hello.data);
  if (type !== MSG_HELLO) throw new KernelError("EPROTO", `compositor: expected HELLO, got message ${type}`);
  const camFds = hello.fds;

  const card = p.open(cfg.cardNode, O_RDWR);
  const display = findDisplay(p, card);
  const DW = display.mode.hdisplay;
  const DH = display.mode.vdisplay;
  const pitch = DW * 4;

  // the scaler: NV12 in (one OUTPUT slot per camera buffer), XRGB8888 out (one CAPTURE slot)
  const sc = p.open(findVideoNode(p, cfg.videoNodes, "m2m"), O_RDWR);
  v4l2SFmt(p, sc, OUT, V4L2_PIX_FMT_NV12, width!, height!);
  v4l2SFmt(p, sc, CAP, V4L2_PIX_FMT_XRGB32, DW, DH);
  const slots = v4l2Reqbufs(p, sc, OUT, V4L2_MEMORY_DMABUF, Math.min(cfg.scalerSlots ?? count!, count!));
  v4l2Reqbufs(p, sc, CAP, V4L2_MEMORY_DMABUF, 1);

  // scanout buffers from the CMA heap, mapped (cacheable) for the HUD
  const nd = Math.max(3, cfg.displayBuffers ?? 3);
  const heap = p.open(cfg.heapNode, O_RDWR);
  const bufs: ScanoutBuffer[] = [];
  for (let k = 0; k < nd; k++) {
    const alloc = { len: pitch * DH, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
    p.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, alloc);
    const va = p.mmap({ fd: alloc.fd, length: pitch * DH, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    bufs.push({ fd: alloc.fd, va, handle: 0, fb: 0 });
  }
  p.close(heap);
  const show = (b: ScanoutBuffer): void => {
    const prime = { fd: b.fd, flags: 0, handle: 0 };
    p.ioctl(card, DRM_IOCTL_PRIME_FD_TO_HANDLE, prime);
    const fb = {
      fb_id: 0,
      width: DW,
      height: DH,
      pixel_format: DRM_FORMAT_XRGB8888,
      handles: [prime.handle],
      pitches: [pitch],
      offsets: [0],
    };
    p.ioctl(card, DRM_IOCTL_MODE_ADDFB2, fb);
    b.handle = prime.handle;
    b.fb = fb.fb_id;
  };
  // RMFB of a framebuffer off the screen returns at once; of the one on screen it blocks until
  // the display is off (its promise)
  const unshow = (b: ScanoutBuffer): undefined | Promise<unknown> => {
    if (b.fb === 0) return undefined;
    const off = p.ioctl(card, DRM_IOCTL_MODE_RMFB, { fb_id: b.fb });
    p.ioctl(card, DRM_IOCTL_GEM_CLOSE, { handle: b.handle, pad: 0 });
    b.fb = 0;
    b.handle = 0;
    return off instanceof Promise ? off : undefined;
  };

  v4l2QbufDmabuf(p, sc, CAP, 0, [bufs[0]!.fd]);
  p.ioctl(sc, VIDIOC_STREAMON, OUT);
  p.ioctl(sc, VIDIOC_STREAMON, CAP);

  const box = hudBox(hudText(cfg.frames - 1, cfg.frames, 999999).length, DW, DH);
  const row = new Uint8Array(box.width * 4);
  for (let n = 0; n < cfg.frames; n++) {
    // the next frame from the camera
    let msg: { data: Uint8Array } | null = null;
    while (!msg) {
      await p.poll([{ fd: conn, events: POLLIN }]);
      try {
        msg = p.recvmsg(conn);
      } catch (e) {
        rethrowUnlessAgain(e);
      }
    }
    const [mt, index, seq, bytesused] = unpackU32(msg.data);
    if (mt !== MSG_FRAME) throw new KernelError("EPROTO", `compositor: expected FRAME, got message ${mt}`);
    if (sizeimage !== undefined && bytesused! > sizeimage) {
      throw new KernelError("EPROTO", `compositor: frame of ${bytesused} bytes, buffers of ${sizeimage}`);
    }

    // scale: camera buffer -> scanout buffer k (queued in the CAPTURE slot already)
    const k = n % nd;
    const b = bufs[k]!;
    hooks.beforeScale?.(n);
    v4l2QbufDmabuf(p, sc, OUT, index! % slots, [camFds[index!]!], [bytesused!]);
    await v4l2Dqbuf(p, sc, CAP, V4L2_MEMORY_DMABUF);
    await v4l2Dqbuf(p, sc, OUT, V4L2_MEMORY_DMABUF);
    p.sendmsg(conn, { data: packU32(MSG_RELEASE, index!) });

    // the next target: off the screen since the last flip; the display lets it go, the scaler
    // takes it (and lets go of k)
    const next = bufs[(n + 1) % nd]!;
    unshow(next);
    v4l2QbufDmabuf(p, sc, CAP, 0, [next.fd]);

    // k to the display, then the HUD, drawn by the CPU inside SYNC START / END
    show(b);
    p.ioctl(b.fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW });
    const text = hudText(n, cfg.frames, seq!);
    for (let line = 0; line < box.height; line++) {
      const va = b.va + (box.y + line) * pitch + box.x * 4;
      row.set(p.memRead(va, row.length));
      hudRow(row, line, box, text);
      p.memWrite(va, row);
    }
    if (hooks.syncEnd?.(n) ?? true) {
      p.ioctl(b.fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW });
    }

    // show it: the first frame turns the display on, the others are page flips
    if (n === 0) {
      await p.ioctl(card, DRM_IOCTL_MODE_SETCRTC, {
        crtc_id: display.crtc,
        fb_id: b.fb,
        x: 0,
        y: 0,
        mode_valid: 1,
        mode: display.mode,
        set_connectors_ptr: [display.connector],
      });
      // SETCRTC of a dark CRTC applies at once; the frame is read at the next vblank
      await p.ioctl(card, DRM_IOCTL_WAIT_VBLANK, { type: DRM_VBLANK_RELATIVE, sequence: 1 });
    } else {
      p.ioctl(card, DRM_IOCTL_MODE_PAGE_FLIP, {
        crtc_id: display.crtc,
        fb_id: b.fb,
        flags: DRM_MODE_PAGE_FLIP_EVENT,
        user_data: seq!,
      });
      await p.poll([{ fd: card, events: POLLIN }]);
      drmParseEvents(p.read(card, 4096));
    }
    hooks.shown?.({ n, seq: seq!, cameraIndex: index!, displayIndex: k });
  }

  // stop the camera, then take everything down: scaler, mappings, fds (closing the card turns
  // the display off)
  p.sendmsg(conn, { data: packU32(MSG_STOP) });
  p.ioctl(sc, VIDIOC_STREAMOFF, OUT);
  p.ioctl(sc, VIDIOC_STREAMOFF, CAP);
  if (cfg.frames > 0 && hooks.freeOnScreen?.()) {
    // a compositor bug: the buffer on screen is freed as if it were off it; a correct kernel
    // turns the display off first (RMFB blocks until then), a buggy one keeps scanning it out
    const b = bufs[(cfg.frames - 1) % nd]!;
    await unshow(b);
    p.munmap(b.va, pitch * DH);
    p.close(b.fd);
    bufs.splice(bufs.indexOf(b), 1);
    try {
      await p.ioctl(card, DRM_IOCTL_WAIT_VBLANK, { type: DRM_VBLANK_RELATIVE, sequence: 1 });
      await p.ioctl(card, DRM_IOCTL_MODE_SETCRTC, {
        crtc_id: display.crtc,
        fb_id: 0,
        x: 0,
        y: 0,
        mode_valid: 0,
        mode: display.mode,
        set_connectors_ptr: [],
      });
    } catch (e) {
      if (!(e instanceof KernelError) || e.errno !== "EINVAL") throw e; // the display is off already
    }
  }
  for (const b of bufs) p.munmap(b.va, pitch * DH);
  p.exit(0);
}
