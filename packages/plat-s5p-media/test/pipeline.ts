// The camera -> scaler -> display pipeline as an application runs it, one process, no CPU copy:
// the camera's MMAP buffers are exported (EXPBUF) and queued on the scaler's OUTPUT as DMABUF;
// DRM dumb buffers are exported by PRIME and queued on the scaler's CAPTURE as DMABUF, wrapped in
// framebuffers (ADDFB2) and flipped to; the FIMD reads them at each vblank.
import {
  DRM_CLOEXEC,
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_MODE_1080P60,
  DRM_MODE_PAGE_FLIP_EVENT,
  DRM_RDWR,
  drmParseEvents,
} from "@umm/drm-gem";
import { O_RDWR, POLLIN, type Process } from "@umm/kernel-process";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_XRGB32,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Expbuf,
  v4l2QbufDmabuf,
  v4l2QbufMmap,
  v4l2Reqbufs,
  v4l2SFmt,
} from "@umm/v4l2-videobuf";
import { fimcOf, fimdOf } from "../src/index.js";
import type { MediaRig } from "./rig.js";
import { runDqbuf } from "./v4l2.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

/** Options of a pipeline. */
export interface PipelineOpts {
  /** camera size (default 1920x1080) */
  readonly width?: number;
  readonly height?: number;
  /** camera buffers (default 4) and dumb buffers (default 3) */
  readonly camBufs?: number;
  readonly dumbBufs?: number;
}

/** What one step showed. */
export interface Shown {
  /** the camera frame number */
  readonly seq: number;
  /** the dumb buffer (framebuffer index) it went to */
  readonly fb: number;
}

/** A running pipeline. The display is 1920x1080 (the FIMD's mode), the scaler's output too. */
export class Pipeline {
  readonly r: MediaRig;
  readonly app: Process;
  readonly cam: number;
  readonly sc: number;
  readonly card: number;
  readonly camFds: number[] = [];
  readonly dumbFds: number[] = [];
  readonly fbIds: number[] = [];
  readonly width: number;
  readonly height: number;
  onScreen = -1;
  #crtc: number;
  #connector: number;

  constructor(r: MediaRig, opts: PipelineOpts = {}) {
    this.r = r;
    this.width = opts.width ?? 1920;
    this.height = opts.height ?? 1080;
    const W = this.width;
    const H = this.height;
    const DW = DRM_MODE_1080P60.hdisplay;
    const DH = DRM_MODE_1080P60.vdisplay;
    this.app = r.spawn("pipeline");
    const app = this.app;
    // camera
    this.cam = app.open(fimcOf(r.dev("fimc0"))!.path, O_RDWR);
    v4l2SFmt(app, this.cam, CAP, V4L2_PIX_FMT_NV12, W, H);
    const nc = v4l2Reqbufs(app, this.cam, CAP, V4L2_MEMORY_MMAP, opts.camBufs ?? 4);
    for (let i = 0; i < nc; i++) this.camFds.push(v4l2Expbuf(app, this.cam, CAP, i));
    // scaler
    this.sc = app.open(fimcOf(r.dev("fimc1"))!.path, O_RDWR);
    v4l2SFmt(app, this.sc, OUT, V4L2_PIX_FMT_NV12, W, H);
    v4l2SFmt(app, this.sc, CAP, V4L2_PIX_FMT_XRGB32, DW, DH);
    v4l2Reqbufs(app, this.sc, OUT, V4L2_MEMORY_DMABUF, nc);
    const nd = opts.dumbBufs ?? 3;
    v4l2Reqbufs(app, this.sc, CAP, V4L2_MEMORY_DMABUF, nd);
    // display
    const drm = fimdOf(r.dev("fimd0"))!.drm;
    this.#crtc = drm.crtc.id;
    this.#connector = drm.connector.id;
    this.card = app.open(drm.path, O_RDWR);
    for (let k = 0; k < nd; k++) {
      const d = { width: DW, height: DH, bpp: 32, handle: 0, pitch: 0, size: 0 };
      app.ioctl(this.card, DRM_IOCTL_MODE_CREATE_DUMB, d);
      const prime = { handle: d.handle, flags: DRM_CLOEXEC | DRM_RDWR, fd: -1 };
      app.ioctl(this.card, DRM_IOCTL_PRIME_HANDLE_TO_FD, prime);
      this.dumbFds.push(prime.fd);
      const fb = {
        fb_id: 0,
        width: DW,
        height: DH,
        pixel_format: DRM_FORMAT_XRGB8888,
        handles: [d.handle],
        pitches: [d.pitch],
      };
      app.ioctl(this.card, DRM_IOCTL_MODE_ADDFB2, fb);
      this.fbIds.push(fb.fb_id);
    }
    app.ioctl(this.sc, VIDIOC_STREAMON, OUT);
    app.ioctl(this.sc, VIDIOC_STREAMON, CAP);
    for (let i = 0; i < nc; i++) v4l2QbufMmap(app, this.cam, CAP, i, 1);
    app.ioctl(this.cam, VIDIOC_STREAMON, CAP);
  }

  /** One frame: capture -> scale (DMABUF both sides) -> flip; resolves when it is on screen. */
  async step(): Promise<Shown> {
    const { r, app } = this;
    const k8 = r.kernel;
    const c = await runDqbuf(k8, app, this.cam, CAP, V4L2_MEMORY_MMAP, 1);
    const i = c.index;
    v4l2QbufDmabuf(app, this.sc, OUT, i, [this.camFds[i]!], [c.m.planes![0]!.bytesused]);
    const k = (this.onScreen + 1) % this.dumbFds.length;
    v4l2QbufDmabuf(app, this.sc, CAP, k, [this.dumbFds[k]!]);
    const d = await runDqbuf(k8, app, this.sc, CAP, V4L2_MEMORY_DMABUF, 1);
    const o = await runDqbuf(k8, app, this.sc, OUT, V4L2_MEMORY_DMABUF, 1);
    v4l2QbufMmap(app, this.cam, CAP, o.index, 1);
    if (this.onScreen < 0) {
      const hw = fimdOf(r.dev("fimd0"))!.hw;
      const before = hw.frames;
      await k8.clock.runUntil(
        Promise.resolve(
          app.ioctl(this.card, DRM_IOCTL_MODE_SETCRTC, {
            crtc_id: this.#crtc,
            fb_id: this.fbIds[d.index]!,
            x: 0,
            y: 0,
            mode_valid: 1,
            mode: DRM_MODE_1080P60,
            set_connectors_ptr: [this.#connector],
          }),
        ),
      );
      while (hw.frames === before) await k8.clock.runUntilIdle({ maxTimers: 1 });
    } else {
      app.ioctl(this.card, DRM_IOCTL_MODE_PAGE_FLIP, {
        crtc_id: this.#crtc,
        fb_id: this.fbIds[d.index]!,
        flags: DRM_MODE_PAGE_FLIP_EVENT,
        user_data: c.sequence,
      });
      await k8.clock.runUntil(app.poll([{ fd: this.card, events: POLLIN }]));
      drmParseEvents(app.read(this.card, 4096));
    }
    this.onScreen = d.index;
    return { seq: c.sequence, fb: d.index };
  }

  /** Stops the queues (the files stay open until the process exits). */
  stop(): void {
    this.app.ioctl(this.cam, VIDIOC_STREAMOFF, CAP);
    this.app.ioctl(this.sc, VIDIOC_STREAMOFF, OUT);
    this.app.ioctl(this.sc, VIDIOC_STREAMOFF, CAP);
  }
}
