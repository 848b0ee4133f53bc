/**
 * Video device nodes (drivers/media/v4l2-core/v4l2-dev.c, v4l2-ioctl.c, v4l2-fh.c) and the vb2
 * file helpers (videobuf2-v4l2.c `vb2_ioctl_*`, `vb2_fop_*`): `v4l2DeviceRegister` makes a
 * `/dev/videoN` character device whose file operations are vb2's (a capture or output device
 * with one queue shared by all open files, owned by the file that allocated buffers) or
 * mem2mem's (a context with two queues per open file).
 *
 * Every ioctl works on a kernel copy of the uapi struct (`video_usercopy`): the struct is read,
 * the call runs, and the struct is written back only when the call succeeds — a rejected call
 * leaves the caller's struct as it was.
 *
 * @module
 */
import { dmaBufFd, dmaBufPut } from "@umm/dma-buf";
import { hex, type Kernel, KernelError } from "@umm/kernel-core";
import {
  type Chrdev,
  type File,
  type FileOps,
  type MmapContext,
  O_ACCMODE,
  O_NONBLOCK,
  type PollTable,
  registerChrdev,
} from "@umm/kernel-process";
import {
  type Vb2Queue,
  vb2CoreExpbuf,
  vb2CorePoll,
  vb2CoreQueueRelease,
  vb2CoreRemoveBufs,
  vb2CoreReqbufs,
  vb2GetBuffer,
  vb2IsBusy,
  vb2Mmap,
  vb2VerifyMemoryType,
} from "./core.js";
import {
  type V4l2FormatCaps,
  v4l2CopyFormat,
  v4l2DefaultFormat,
  v4l2FormatInfo,
  v4l2TryFormat,
} from "./format.js";
import {
  type V4l2M2mCtx,
  type V4l2M2mDev,
  v4l2M2mCreateBufs,
  v4l2M2mCtxInit,
  v4l2M2mCtxRelease,
  v4l2M2mDqbuf,
  v4l2M2mExpbufQueue,
  v4l2M2mGetVq,
  v4l2M2mMmap,
  v4l2M2mPoll,
  v4l2M2mPrepareBuf,
  v4l2M2mQbuf,
  v4l2M2mQuerybuf,
  v4l2M2mRemoveBufs,
  v4l2M2mReqbufs,
  v4l2M2mStreamoff,
  v4l2M2mStreamon,
} from "./mem2mem.js";
import { vb2State } from "./state.js";
import {
  V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_CAP_DEVICE_CAPS,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_CAPTURE_MPLANE,
  V4L2_CAP_VIDEO_M2M,
  V4L2_CAP_VIDEO_M2M_MPLANE,
  V4L2_CAP_VIDEO_OUTPUT,
  V4L2_CAP_VIDEO_OUTPUT_MPLANE,
  V4L2_TYPE_IS_MULTIPLANAR,
  V4L2_TYPE_IS_OUTPUT,
  type V4l2Buffer,
  type V4l2Capability,
  type V4l2CreateBuffers,
  type V4l2ExportBuffer,
  type V4l2Fmtdesc,
  type V4l2Format,
  type V4l2Plane,
  type V4l2RemoveBuffers,
  type V4l2RequestBuffers,
  VIDEO_MAX_PLANES,
  VIDIOC_CREATE_BUFS,
  VIDIOC_DQBUF,
  VIDIOC_ENUM_FMT,
  VIDIOC_EXPBUF,
  VIDIOC_G_FMT,
  VIDIOC_PREPARE_BUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_QUERYCAP,
  VIDIOC_REMOVE_BUFS,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  VIDIOC_TRY_FMT,
  v4l2CompatTranslateCmd,
} from "./uapi.js";
import {
  v4l2TimevalToNs,
  vb2CreateBufs,
  vb2Dqbuf,
  vb2PrepareBuf,
  vb2Qbuf,
  vb2Querybuf,
  vb2SetFlagsAndCaps,
  vb2Streamoff,
  vb2Streamon,
} from "./v4l2.js";

/** `KERNEL_VERSION(6, 16, 0)`: what QUERYCAP reports as `version`. */
export const V4L2_KERNEL_VERSION = (6 << 16) | (16 << 8);

/** The current format of each buffer type of a device (or of a mem2mem context). */
export class V4l2FormatStore {
  /** what S_FMT accepts per direction */
  readonly caps: { readonly capture?: V4l2FormatCaps; readonly output?: V4l2FormatCaps };
  readonly #formats = new Map<number, V4l2Format>();

  /** A store with the default format of each type. */
  constructor(caps: { readonly capture?: V4l2FormatCaps; readonly output?: V4l2FormatCaps }) {
    this.caps = caps;
  }

  /** The format caps of `type`, or undefined when the device has none for it. */
  capsOf(type: number): V4l2FormatCaps | undefined {
    return V4L2_TYPE_IS_OUTPUT(type) ? this.caps.output : this.caps.capture;
  }

  /** The current format of `type` (the default until S_FMT). EINVAL for a type without caps. */
  get(type: number): V4l2Format {
    let f = this.#formats.get(type);
    if (!f) {
      const caps = this.capsOf(type);
      if (!caps) throw new KernelError("EINVAL", `format: buffer type ${type} is not supported`);
      f = v4l2DefaultFormat(caps, type);
      this.#formats.set(type, f);
    }
    return f;
  }

  /** Stores `f` as the current format of its type. */
  set(f: V4l2Format): void {
    this.#formats.set(f.type, v4l2CopyFormat(f));
  }
}

/** Driver hooks of a video device beyond what the core does itself. */
export interface V4l2DeviceHooks {
  /** a file opened the node (after the core made its file handle and m2m context) */
  readonly open?: (fh: V4l2Fh) => void;
  /** a file handle goes (before the core releases its queue or context) */
  readonly release?: (fh: V4l2Fh) => void;
  /** S_FMT passed the core's checks: the driver may refuse (throw) or note the new format */
  readonly sFmt?: (fh: V4l2Fh, f: V4l2Format) => void;
}

/** What a mem2mem device node needs: the device and how to make a context's two queues. */
export interface V4l2DeviceM2m {
  /** the mem2mem device (`v4l2M2mInit`) */
  readonly dev: V4l2M2mDev;
  /**
   * makes the OUTPUT (`src`) and CAPTURE (`dst`) queues of a new context; `fh.m2mCtx` is not set
   * yet, `fh.formats` is the context's format store
   */
  readonly queueInit: (fh: V4l2Fh) => { src: Vb2Queue; dst: Vb2Queue };
}

/** Options of `v4l2DeviceRegister`. */
export interface VideoDeviceOpts {
  /** the device's name: QUERYCAP `card`, and `driver` unless given */
  readonly name: string;
  /** QUERYCAP `driver` */
  readonly driver?: string;
  /** QUERYCAP `bus_info` (default "platform:<name>") */
  readonly busInfo?: string;
  /** the node (default the next free /dev/videoN) */
  readonly path?: string;
  /** V4L2_CAP_* of this node (`device_caps`), with V4L2_CAP_STREAMING */
  readonly deviceCaps: number;
  /** the queue of a capture or output device (shared by every open file) */
  readonly queue?: Vb2Queue;
  /** a mem2mem device: a context per open file */
  readonly m2m?: V4l2DeviceM2m;
  /** the formats of each direction */
  readonly formats: { readonly capture?: V4l2FormatCaps; readonly output?: V4l2FormatCaps };
  /** VIDIOC_REMOVE_BUFS is available (default true) */
  readonly removeBufs?: boolean;
  /** driver hooks */
  readonly hooks?: V4l2DeviceHooks;
}

/** `struct video_device`: a registered node. */
export class VideoDevice {
  /** the kernel */
  readonly kernel: Kernel;
  /** `name` */
  readonly name: string;
  /** the node, e.g. "/dev/video0" */
  readonly path: string;
  /** `device_caps` */
  readonly deviceCaps: number;
  /** the options it was registered with */
  readonly opts: VideoDeviceOpts;
  /** the shared queue (capture/output devices), or null (mem2mem) */
  readonly queue: Vb2Queue | null;
  /** the mem2mem device, or null */
  readonly m2m: V4l2DeviceM2m | null;
  /** the formats of a capture/output device (mem2mem contexts have their own) */
  readonly formats: V4l2FormatStore;
  /** open file handles */
  readonly fhs = new Set<V4l2Fh>();
  /** the character device */
  readonly cdev: Chrdev;
  /** until `v4l2DeviceUnregister` */
  registered = true;

  /** @internal use `v4l2DeviceRegister` */
  constructor(kernel: Kernel, path: string, opts: VideoDeviceOpts, ops: FileOps) {
    this.kernel = kernel;
    this.name = opts.name;
    this.path = path;
    this.deviceCaps = opts.deviceCaps;
    this.opts = opts;
    this.queue = opts.queue ?? null;
    this.m2m = opts.m2m ?? null;
    this.formats = new V4l2FormatStore(opts.formats);
    this.cdev = registerChrdev(kernel, path, { ops, privateData: this });
  }
}

/** `struct v4l2_fh`: one open file of a video node. */
export class V4l2Fh {
  /** the node */
  readonly vdev: VideoDevice;
  /** the file */
  readonly file: File;
  /** the mem2mem context, or null */
  m2mCtx: V4l2M2mCtx | null = null;
  /** the formats this handle sees (a mem2mem context's own, else the device's) */
  readonly formats: V4l2FormatStore;
  /** the driver's per-handle data */
  drvPriv: unknown = null;

  /** @internal */
  constructor(vdev: VideoDevice, file: File) {
    this.vdev = vdev;
    this.file = file;
    this.formats = vdev.m2m ? new V4l2FormatStore(vdev.opts.formats) : vdev.formats;
  }
}

/** `video_devdata`: the node a file was opened on. EINVAL for another file. */
export function videoDevdata(file: File): VideoDevice {
  const fh = file.privateData;
  if (!(fh instanceof V4l2Fh)) throw new KernelError("EINVAL", `${file.path} is not a video device file`);
  return fh.vdev;
}

function fhOf(file: File): V4l2Fh {
  const fh = file.privateData;
  if (!(fh instanceof V4l2Fh)) throw new KernelError("EINVAL", `${file.path} is not a video device file`);
  return fh;
}

function queueOf(file: File): Vb2Queue {
  const q = videoDevdata(file).queue;
  if (!q) throw new KernelError("ENOTTY", `${file.path}: no vb2 queue`);
  return q;
}

/** `vb2_queue_is_busy`: another file handle owns the queue. */
export function vb2QueueIsBusy(q: Vb2Queue, file: File): boolean {
  return q.owner !== null && q.owner !== file.privateData;
}

function checkBusy(q: Vb2Queue, file: File, op: string): void {
  if (vb2QueueIsBusy(q, file)) {
    throw new KernelError("EBUSY", `${q.name}: ${op}: the queue is owned by another file handle`);
  }
}

// ---- vb2_ioctl_* ----------------------------------------------------------------------------

/**
 * `vb2_ioctl_reqbufs`: REQBUFS on the node's queue; the file becomes its owner (none after
 * REQBUFS(0)). EBUSY when another file handle owns it; see `vb2Reqbufs`.
 */
export function vb2IoctlReqbufs(file: File, p: V4l2RequestBuffers): void {
  const q = queueOf(file);
  let res: unknown = null;
  try {
    vb2VerifyMemoryType(q, p.memory, p.type);
  } catch (e) {
    res = e;
  }
  const { flags, caps } = vb2SetFlagsAndCaps(q, p.memory, p.flags, false);
  p.flags = flags;
  p.capabilities |= caps;
  if (res) throw res;
  checkBusy(q, file, "REQBUFS");
  p.count = vb2CoreReqbufs(q, p.memory, p.flags, p.count);
  q.owner = p.count ? file.privateData : null;
}

/**
 * `vb2_ioctl_create_bufs`: CREATE_BUFS; the file becomes the owner. Count 0 only validates.
 * EBUSY for a non-owner; see `vb2CreateBufs`.
 */
export function vb2IoctlCreateBufs(file: File, p: V4l2CreateBuffers): void {
  const q = queueOf(file);
  const asked = p.count;
  if (asked !== 0) {
    vb2VerifyMemoryType(q, p.memory, p.format?.type);
    checkBusy(q, file, "CREATE_BUFS");
  }
  vb2CreateBufs(q, p);
  if (asked !== 0) q.owner = file.privateData;
}

/** `vb2_ioctl_prepare_buf`. EBUSY for a non-owner. */
export function vb2IoctlPrepareBuf(file: File, p: V4l2Buffer): void {
  const q = queueOf(file);
  checkBusy(q, file, "PREPARE_BUF");
  vb2PrepareBuf(q, p);
}

/** `vb2_ioctl_querybuf`: anyone may query. */
export function vb2IoctlQuerybuf(file: File, p: V4l2Buffer): void {
  vb2Querybuf(queueOf(file), p);
}

/** `vb2_ioctl_qbuf`. EBUSY for a non-owner. */
export function vb2IoctlQbuf(file: File, p: V4l2Buffer): void {
  const q = queueOf(file);
  checkBusy(q, file, "QBUF");
  vb2Qbuf(q, p);
}

/** `vb2_ioctl_dqbuf`: blocking unless the file is O_NONBLOCK. EBUSY for a non-owner. */
export function vb2IoctlDqbuf(file: File, p: V4l2Buffer): undefined | Promise<void> {
  const q = queueOf(file);
  checkBusy(q, file, "DQBUF");
  return vb2Dqbuf(q, p, (file.flags & O_NONBLOCK) !== 0);
}

/** `vb2_ioctl_streamon`. EBUSY for a non-owner. */
export function vb2IoctlStreamon(file: File, type: number): void {
  const q = queueOf(file);
  checkBusy(q, file, "STREAMON");
  vb2Streamon(q, type);
}

/** `vb2_ioctl_streamoff`. EBUSY for a non-owner. */
export function vb2IoctlStreamoff(file: File, type: number): void {
  const q = queueOf(file);
  checkBusy(q, file, "STREAMOFF");
  vb2Streamoff(q, type);
}

/** `vb2_ioctl_remove_bufs`: EINVAL for another type (even with count 0); EBUSY for a non-owner. */
export function vb2IoctlRemoveBufs(file: File, d: V4l2RemoveBuffers): void {
  const q = queueOf(file);
  if (q.type !== d.type)
    throw new KernelError("EINVAL", `${q.name}: REMOVE_BUFS: type ${d.type} is not ${q.type}`);
  if (d.count === 0) return;
  checkBusy(q, file, "REMOVE_BUFS");
  vb2CoreRemoveBufs(q, d.index, d.count);
}

/**
 * `vb2_expbuf`: exports a plane of an MMAP buffer as a dma-buf and installs an fd for it in the
 * current process (`eb.fd`). EINVAL for no buffer at the index and the errors of
 * `vb2CoreExpbuf`; EMFILE when the process has no free fd (the export is undone).
 */
export function vb2Expbuf(q: Vb2Queue, eb: V4l2ExportBuffer): void {
  const vb = vb2GetBuffer(q, eb.index);
  if (!vb) throw new KernelError("EINVAL", `${q.name}: EXPBUF: no buffer at index ${eb.index}`);
  const dbuf = vb2CoreExpbuf(q, eb.type, vb, eb.plane, eb.flags);
  try {
    eb.fd = dmaBufFd(dbuf, eb.flags & ~O_ACCMODE);
  } catch (e) {
    dmaBufPut(dbuf);
    throw e;
  }
}

/** `vb2_ioctl_expbuf`. EBUSY for a non-owner. */
export function vb2IoctlExpbuf(file: File, p: V4l2ExportBuffer): void {
  const q = queueOf(file);
  checkBusy(q, file, "EXPBUF");
  vb2Expbuf(q, p);
}

// ---- vb2_fop_* ------------------------------------------------------------------------------

/** `vb2_fop_mmap`. */
export function vb2FopMmap(file: File, ctx: MmapContext): void {
  vb2Mmap(queueOf(file), ctx);
}

/** `vb2_fop_poll`. */
export function vb2FopPoll(file: File, pt: PollTable | null): number {
  return vb2CorePoll(queueOf(file), pt);
}

/** `vb2_fop_release`: the owner's (or an unowned queue's) last close releases the queue. */
export function vb2FopRelease(file: File): void {
  const q = videoDevdata(file).queue;
  if (q && (!q.owner || q.owner === file.privateData)) {
    vb2CoreQueueRelease(q);
    q.owner = null;
  }
}

// ---- user copies ----------------------------------------------------------------------------

function u32(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n >>> 0 : 0;
}

function s32(v: unknown): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n | 0 : 0;
}

function needObject(arg: unknown, what: string): Record<string, unknown> {
  if (typeof arg !== "object" || arg === null) {
    throw new KernelError("EFAULT", `${what}: argument ${String(arg)} is not a readable struct`);
  }
  return arg as Record<string, unknown>;
}

/** Writes `src` into `dst` in place, keeping the caller's objects and arrays. */
function copyOut(dst: Record<string, unknown>, src: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(src)) {
    const d = dst[k];
    if (Array.isArray(v) && Array.isArray(d)) {
      v.forEach((e, i) => {
        if (e && typeof e === "object" && d[i] && typeof d[i] === "object") {
          copyOut(d[i] as Record<string, unknown>, e as Record<string, unknown>);
        } else {
          d[i] = e;
        }
      });
    } else if (
      v &&
      typeof v === "object" &&
      !Array.isArray(v) &&
      d &&
      typeof d === "object" &&
      !Array.isArray(d)
    ) {
      copyOut(d as Record<string, unknown>, v as Record<string, unknown>);
    } else {
      dst[k] = v && typeof v === "object" ? structuredClone(v) : v;
    }
  }
}

function readPlanes(a: Record<string, unknown>, type: number, length: number): V4l2Plane[] | undefined {
  if (!V4L2_TYPE_IS_MULTIPLANAR(type)) return undefined;
  if (length > VIDEO_MAX_PLANES) {
    throw new KernelError("EINVAL", `v4l2_buffer: length ${length} exceeds VIDEO_MAX_PLANES`);
  }
  const m = a.m as Record<string, unknown> | undefined;
  const planes = m?.planes;
  if (!Array.isArray(planes) || length === 0) return undefined;
  if (planes.length < length) {
    throw new KernelError(
      "EFAULT",
      `v4l2_buffer: m.planes has ${planes.length} entries, length says ${length}`,
    );
  }
  return planes.slice(0, length).map((p: Record<string, unknown>) => {
    const pm = (p?.m ?? {}) as Record<string, unknown>;
    return {
      bytesused: u32(p?.bytesused),
      length: u32(p?.length),
      m: { mem_offset: u32(pm.mem_offset), userptr: Number(pm.userptr ?? 0), fd: s32(pm.fd) },
      data_offset: u32(p?.data_offset),
    };
  });
}

function readBuffer(arg: unknown): V4l2Buffer {
  const a = needObject(arg, "v4l2_buffer");
  const type = u32(a.type);
  const length = u32(a.length);
  const m = (a.m ?? {}) as Record<string, unknown>;
  const ts = (a.timestamp ?? {}) as Record<string, unknown>;
  const tc = (a.timecode ?? {}) as Record<string, unknown>;
  const planes = readPlanes(a, type, length);
  return {
    index: u32(a.index),
    type,
    bytesused: u32(a.bytesused),
    flags: u32(a.flags),
    field: u32(a.field),
    timestamp: { tv_sec: Number(ts.tv_sec ?? 0), tv_usec: Number(ts.tv_usec ?? 0) },
    timecode: {
      type: u32(tc.type),
      flags: u32(tc.flags),
      frames: u32(tc.frames),
      seconds: u32(tc.seconds),
      minutes: u32(tc.minutes),
      hours: u32(tc.hours),
    },
    sequence: u32(a.sequence),
    memory: u32(a.memory),
    m: planes ? { planes } : { offset: u32(m.offset), userptr: Number(m.userptr ?? 0), fd: s32(m.fd) },
    length,
    reserved2: 0,
    request_fd: s32(a.request_fd),
  };
}

function readFormat(arg: unknown, what: string): V4l2Format {
  const a = needObject(arg, what);
  const f = structuredClone({ type: u32(a.type), fmt: (a.fmt ?? {}) as V4l2Format["fmt"] });
  return f;
}

function usercopy<T extends object>(
  arg: unknown,
  read: (a: unknown) => T,
  fn: (k: T) => unknown,
  after?: (k: T) => void,
): number | Promise<number> {
  const k = read(arg);
  const r = fn(k);
  const done = (): number => {
    copyOut(arg as Record<string, unknown>, k as unknown as Record<string, unknown>);
    after?.(k);
    return 0;
  };
  if (r instanceof Promise) return r.then(done);
  return done();
}

// ---- the ioctl dispatcher (video_ioctl2) ----------------------------------------------------

/** The buffer types a node serves (v4l2-ioctl.c `check_fmt` by device caps). */
export function v4l2ValidTypes(vdev: VideoDevice): number[] {
  const c = vdev.deviceCaps;
  const out: number[] = [];
  if (c & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_M2M) && vdev.opts.formats.capture) {
    out.push(V4L2_BUF_TYPE_VIDEO_CAPTURE);
  }
  if (c & (V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_M2M) && vdev.opts.formats.output) {
    out.push(V4L2_BUF_TYPE_VIDEO_OUTPUT);
  }
  if (c & (V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_VIDEO_M2M_MPLANE) && vdev.opts.formats.capture) {
    out.push(V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE);
  }
  if (c & (V4L2_CAP_VIDEO_OUTPUT_MPLANE | V4L2_CAP_VIDEO_M2M_MPLANE) && vdev.opts.formats.output) {
    out.push(V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE);
  }
  return out;
}

function checkFmt(vdev: VideoDevice, type: number, op: string): void {
  if (!v4l2ValidTypes(vdev).includes(type)) {
    throw new KernelError("EINVAL", `${vdev.path}: ${op}: buffer type ${type} is not supported by this node`);
  }
}

function queueOfType(fh: V4l2Fh, type: number): Vb2Queue | null {
  if (fh.m2mCtx) return v4l2M2mGetVq(fh.m2mCtx, type);
  return fh.vdev.queue && fh.vdev.queue.type === type ? fh.vdev.queue : null;
}

function traceBuf(fh: V4l2Fh, name: "v4l2Qbuf" | "v4l2Dqbuf", b: V4l2Buffer): void {
  const tp = vb2State(fh.vdev.kernel).tp[name];
  if (!tp.enabled) return;
  tp.emit({
    node: fh.vdev.path,
    index: b.index,
    type: b.type,
    bytesused: b.bytesused,
    flags: b.flags,
    field: b.field,
    timestamp: v4l2TimevalToNs(b.timestamp),
    sequence: b.sequence,
  });
}

/**
 * `video_ioctl2` for a vb2 / mem2mem node: QUERYCAP, ENUM_FMT, G/S/TRY_FMT, REQBUFS,
 * CREATE_BUFS, QUERYBUF, PREPARE_BUF, QBUF, DQBUF, EXPBUF, STREAMON, STREAMOFF, REMOVE_BUFS, in
 * the 64-bit encoding and in the ARM32 one (`VIDIOC_QBUF32`, ...) alike.
 * ENOTTY for anything else; ENODEV after the node was unregistered; EFAULT for an argument that
 * is not a struct.
 */
export function v4l2Ioctl(file: File, cmd: number, arg: unknown): number | Promise<number> {
  const fh = fhOf(file);
  const vdev = fh.vdev;
  if (!vdev.registered) throw new KernelError("ENODEV", `${vdev.path} was unregistered`);
  const ctx = fh.m2mCtx;
  switch (v4l2CompatTranslateCmd(cmd)) {
    case VIDIOC_QUERYCAP:
      return usercopy(
        arg,
        (a) => ({ ...(needObject(a, "v4l2_capability") as unknown as V4l2Capability) }),
        (cap) => {
          cap.driver = vdev.opts.driver ?? vdev.name;
          cap.card = vdev.name;
          cap.bus_info = vdev.opts.busInfo ?? `platform:${vdev.name}`;
          cap.version = V4L2_KERNEL_VERSION;
          cap.device_caps = vdev.deviceCaps;
          cap.capabilities = vdev.deviceCaps | V4L2_CAP_DEVICE_CAPS;
        },
      );
    case VIDIOC_ENUM_FMT:
      return usercopy(
        arg,
        (a) => {
          const o = needObject(a, "v4l2_fmtdesc");
          return {
            index: u32(o.index),
            type: u32(o.type),
            flags: 0,
            description: "",
            pixelformat: 0,
            mbus_code: u32(o.mbus_code),
          } as V4l2Fmtdesc;
        },
        (f) => {
          checkFmt(vdev, f.type, "ENUM_FMT");
          const caps = fh.formats.capsOf(f.type)!;
          const list = caps.pixelformats.filter((p) => {
            const info = v4l2FormatInfo(p);
            return info && (V4L2_TYPE_IS_MULTIPLANAR(f.type) || info.memPlanes === 1);
          });
          const fourcc = list[f.index];
          if (fourcc === undefined) {
            throw new KernelError(
              "EINVAL",
              `${vdev.path}: ENUM_FMT: index ${f.index} is past the ${list.length} formats`,
            );
          }
          f.pixelformat = fourcc;
          f.description = v4l2FormatInfo(fourcc)!.description;
        },
      );
    case VIDIOC_G_FMT:
      return usercopy(
        arg,
        (a) => readFormat(a, "v4l2_format"),
        (f) => {
          checkFmt(vdev, f.type, "G_FMT");
          f.fmt = v4l2CopyFormat(fh.formats.get(f.type)).fmt;
        },
      );
    case VIDIOC_TRY_FMT:
      return usercopy(
        arg,
        (a) => readFormat(a, "v4l2_format"),
        (f) => {
          checkFmt(vdev, f.type, "TRY_FMT");
          f.fmt = v4l2TryFormat(fh.formats.capsOf(f.type)!, f).fmt;
        },
      );
    case VIDIOC_S_FMT:
      return usercopy(
        arg,
        (a) => readFormat(a, "v4l2_format"),
        (f) => {
          checkFmt(vdev, f.type, "S_FMT");
          const q = queueOfType(fh, f.type);
          if (q && vb2IsBusy(q))
            throw new KernelError("EBUSY", `${q.name}: S_FMT while buffers are allocated`);
          const next = v4l2TryFormat(fh.formats.capsOf(f.type)!, f);
          vdev.opts.hooks?.sFmt?.(fh, next);
          fh.formats.set(next);
          f.fmt = next.fmt;
        },
      );
    case VIDIOC_REQBUFS:
      return usercopy(
        arg,
        (a) => {
          const o = needObject(a, "v4l2_requestbuffers");
          return {
            count: u32(o.count),
            type: u32(o.type),
            memory: u32(o.memory),
            capabilities: 0,
            flags: u32(o.flags) & 0xff,
          } as V4l2RequestBuffers;
        },
        (p) => {
          checkFmt(vdev, p.type, "REQBUFS");
          if (vdev.opts.removeBufs !== false) p.capabilities |= V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS;
          if (ctx) v4l2M2mReqbufs(file, ctx, p);
          else vb2IoctlReqbufs(file, p);
        },
      );
    case VIDIOC_CREATE_BUFS:
      return usercopy(
        arg,
        (a) => {
          const o = needObject(a, "v4l2_create_buffers");
          return {
            index: 0,
            count: u32(o.count),
            memory: u32(o.memory),
            format: readFormat(o.format ?? {}, "v4l2_create_buffers.format"),
            capabilities: 0,
            flags: u32(o.flags) & 0xff,
            max_num_buffers: 0,
          } as V4l2CreateBuffers;
        },
        (p) => {
          checkFmt(vdev, p.format.type, "CREATE_BUFS");
          if (vdev.opts.removeBufs !== false) p.capabilities |= V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS;
          if (ctx) v4l2M2mCreateBufs(file, ctx, p);
          else vb2IoctlCreateBufs(file, p);
        },
      );
    case VIDIOC_QUERYBUF:
      return usercopy(arg, readBuffer, (b) => {
        checkFmt(vdev, b.type, "QUERYBUF");
        if (ctx) v4l2M2mQuerybuf(file, ctx, b);
        else vb2IoctlQuerybuf(file, b);
      });
    case VIDIOC_PREPARE_BUF:
      return usercopy(arg, readBuffer, (b) => {
        checkFmt(vdev, b.type, "PREPARE_BUF");
        if (ctx) v4l2M2mPrepareBuf(file, ctx, b);
        else vb2IoctlPrepareBuf(file, b);
      });
    case VIDIOC_QBUF:
      return usercopy(
        arg,
        readBuffer,
        (b) => {
          checkFmt(vdev, b.type, "QBUF");
          if (ctx) v4l2M2mQbuf(file, ctx, b);
          else vb2IoctlQbuf(file, b);
        },
        (b) => traceBuf(fh, "v4l2Qbuf", b),
      );
    case VIDIOC_DQBUF:
      return usercopy(
        arg,
        readBuffer,
        (b) => {
          checkFmt(vdev, b.type, "DQBUF");
          return ctx ? v4l2M2mDqbuf(file, ctx, b) : vb2IoctlDqbuf(file, b);
        },
        (b) => traceBuf(fh, "v4l2Dqbuf", b),
      );
    case VIDIOC_EXPBUF:
      return usercopy(
        arg,
        (a) => {
          const o = needObject(a, "v4l2_exportbuffer");
          return { type: u32(o.type), index: u32(o.index), plane: u32(o.plane), flags: u32(o.flags), fd: 0 };
        },
        (p) => {
          if (ctx) vb2Expbuf(v4l2M2mExpbufQueue(ctx, p), p);
          else vb2IoctlExpbuf(file, p);
        },
      );
    case VIDIOC_STREAMON:
    case VIDIOC_STREAMOFF: {
      if (typeof arg !== "number")
        throw new KernelError("EFAULT", `${vdev.path}: STREAMON/OFF: the argument is the buffer type`);
      const type = arg >>> 0;
      if (cmd === VIDIOC_STREAMON) {
        if (ctx) v4l2M2mStreamon(file, ctx, type);
        else vb2IoctlStreamon(file, type);
        return 0;
      }
      if (ctx) {
        const r = v4l2M2mStreamoff(file, ctx, type);
        return r ? r.then(() => 0) : 0;
      }
      vb2IoctlStreamoff(file, type);
      return 0;
    }
    case VIDIOC_REMOVE_BUFS:
      if (vdev.opts.removeBufs === false) {
        throw new KernelError("ENOTTY", `${vdev.path}: VIDIOC_REMOVE_BUFS is not supported`);
      }
      return usercopy(
        arg,
        (a) => {
          const o = needObject(a, "v4l2_remove_buffers");
          return { index: u32(o.index), count: u32(o.count), type: u32(o.type) } as V4l2RemoveBuffers;
        },
        (d) => {
          if (ctx) v4l2M2mRemoveBufs(file, ctx, d);
          else vb2IoctlRemoveBufs(file, d);
        },
      );
    default:
      throw new KernelError("ENOTTY", `${vdev.path}: unknown ioctl ${hex(cmd)}`);
  }
}

// ---- registration ---------------------------------------------------------------------------

function fileOps(): FileOps {
  return Object.freeze({
    open: (file: File, cdev: Chrdev) => {
      const vdev = cdev.privateData as VideoDevice;
      if (!vdev.registered) throw new KernelError("ENODEV", `${vdev.path} was unregistered`);
      const fh = new V4l2Fh(vdev, file);
      if (vdev.m2m) {
        const m2m = vdev.m2m;
        fh.m2mCtx = v4l2M2mCtxInit(m2m.dev, fh, () => m2m.queueInit(fh));
      }
      try {
        vdev.opts.hooks?.open?.(fh);
      } catch (e) {
        if (fh.m2mCtx) v4l2M2mCtxRelease(fh.m2mCtx);
        throw e;
      }
      vdev.fhs.add(fh);
      file.privateData = fh;
    },
    release: (file: File) => {
      const fh = fhOf(file);
      fh.vdev.opts.hooks?.release?.(fh);
      if (fh.m2mCtx) v4l2M2mCtxRelease(fh.m2mCtx);
      else vb2FopRelease(file);
      fh.vdev.fhs.delete(fh);
    },
    ioctl: v4l2Ioctl,
    mmap: (file: File, ctx: MmapContext) => {
      const fh = fhOf(file);
      if (!fh.vdev.registered) throw new KernelError("ENODEV", `${fh.vdev.path} was unregistered`);
      if (fh.m2mCtx) v4l2M2mMmap(file, fh.m2mCtx, ctx);
      else vb2FopMmap(file, ctx);
    },
    poll: (file: File, pt: PollTable | null) => {
      const fh = fhOf(file);
      if (fh.m2mCtx) return v4l2M2mPoll(file, fh.m2mCtx, pt);
      return vb2FopPoll(file, pt);
    },
  });
}

/**
 * `video_register_device` for a vb2 driver: registers a `/dev/videoN` node (or `opts.path`)
 * whose files run the V4L2 buffer ioctls on `opts.queue` (capture/output devices) or on a
 * mem2mem context per file (`opts.m2m`). EINVAL without exactly one of `queue` / `m2m`, without
 * V4L2_CAP_STREAMING-style caps for the queue's type, or with formats missing for a direction
 * the caps name; EEXIST when the path is taken.
 */
export function v4l2DeviceRegister(kernel: Kernel, opts: VideoDeviceOpts): VideoDevice {
  if (!opts || typeof opts.name !== "string" || opts.name === "") {
    throw new KernelError("EINVAL", "v4l2DeviceRegister: a name is required");
  }
  if (!opts.queue === !opts.m2m) {
    throw new KernelError("EINVAL", `v4l2DeviceRegister(${opts.name}): give exactly one of queue and m2m`);
  }
  const st = vb2State(kernel);
  let path = opts.path;
  if (!path) {
    do path = `/dev/video${st.nextMinor++}`;
    while (st.nodes.has(path));
  }
  const vdev = new VideoDevice(kernel, path, opts, fileOps());
  const types = v4l2ValidTypes(vdev);
  const bad =
    (opts.queue && !types.includes(opts.queue.type)) ||
    (opts.m2m && !(types.some((t) => V4L2_TYPE_IS_OUTPUT(t)) && types.some((t) => !V4L2_TYPE_IS_OUTPUT(t))));
  if (bad) {
    vdev.cdev.unregister();
    throw new KernelError(
      "EINVAL",
      `v4l2DeviceRegister(${opts.name}): device caps ${hex(opts.deviceCaps)} and formats do not cover the queue type`,
    );
  }
  st.nodes.set(path, vdev);
  return vdev;
}

/**
 * `vb2_video_unregister_device`: removes the node (later opens fail ENOENT; ioctls and mmap on
 * files still open fail ENODEV) and releases the shared queue (MMAP memory still mapped or
 * exported lives on until its last user goes).
 */
export function v4l2DeviceUnregister(vdev: VideoDevice): void {
  if (!vdev.registered) throw new KernelError("ENOENT", `${vdev.path} is not registered`);
  vdev.registered = false;
  vdev.cdev.unregister();
  vb2State(vdev.kernel).nodes.delete(vdev.path);
  if (vdev.queue) {
    vb2CoreQueueRelease(vdev.queue);
    vdev.queue.owner = null;
  }
}
