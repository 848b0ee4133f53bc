/**
 * DRM devices and files (drivers/gpu/drm/drm_drv.c, drm_file.c, drm_auth.c): `drmDevRegister`
 * makes a display device a DRM device with a `/dev/dri/cardN` node; every open of it is a
 * `DrmFile` with its own GEM handle table, framebuffer list, PRIME table and event queue. The
 * first file opened becomes the DRM master, the one client allowed to set modes and flip.
 *
 * Closing a file (its last reference: fds, mappings, in-flight copies) removes its framebuffers
 * — turning the CRTC off if one was on screen, at the next vblank — and drops its handles; the
 * objects themselves live on while a framebuffer, a mapping, a dma-buf or the scanout holds them.
 *
 * @module
 */
import {
  type Device,
  defineSlot,
  hex,
  type Kernel,
  KernelError,
  type Tracepoint,
  WaitQueue,
} from "@umm/kernel-core";
import {
  type Chrdev,
  type File,
  type FileOps,
  type MmapContext,
  POLLIN,
  POLLRDNORM,
  type PollTable,
  registerChrdev,
} from "@umm/kernel-process";
import { DRM_EVENT_SPACE, drmReadEvents, type PendingEvent } from "./event.js";
import { type DrmFramebuffer, drmFbReleaseFile } from "./framebuffer.js";
import { type DrmGemObject, drmGemMmap, drmGemReleaseFile, VmaOffsetManager } from "./gem.js";
import { drmIoctl } from "./ioctl.js";
import {
  type DrmConnector,
  type DrmCrtc,
  type DrmEncoder,
  type DrmPlane,
  drmKmsInit,
  drmKmsShutdown,
} from "./kms.js";
import type { DrmDriverDesc } from "./ops.js";
import { drmPrimeReleaseFile, type PrimeFileState } from "./prime.js";
import "./trace.js";
import { DRIVER_GEM, DRIVER_MODESET } from "./types.js";

/** Options of `drmDevRegister`. */
export interface DrmDevRegisterOpts {
  /** the driver's name (`DRM_IOCTL_VERSION`), e.g. "exynos" */
  readonly name: string;
  /**
   * the display controller: GEM objects are allocated for it (`dma_alloc_wc`), imported
   * dma-bufs are attached and mapped for it, and scanout addresses are in its D.V
   */
  readonly dev: Device;
  /** the driver's description, limits and display hardware model */
  readonly driver?: DrmDriverDesc;
  /** permission bits of the node (default 0o666) */
  readonly mode?: number;
  /**
   * `drm_vblank_offdelay` in ms: how long the vblank interrupt (and with it the display model's
   * per-vblank scanout) keeps running after its last user; 0 turns it off at once, a negative
   * value never (then `clock.runUntilIdle` never returns while the CRTC is on). Default 5000.
   */
  readonly vblankOffdelayMs?: number;
}

/** @internal tracepoints a device emits on hot paths */
export interface DrmTracepoints {
  readonly gemCreate: Tracepoint<"drm_gem_create">;
  readonly gemFree: Tracepoint<"drm_gem_free">;
  readonly vblank: Tracepoint<"drm_vblank_event">;
  readonly scanout: Tracepoint<"drm_scanout">;
  readonly flip: Tracepoint<"drm_page_flip">;
  readonly queued: Tracepoint<"drm_vblank_event_queued">;
  readonly delivered: Tracepoint<"drm_vblank_event_delivered">;
}

interface DrmCoreState {
  readonly devices: DrmDevice[];
  nextMinor: number;
}

const DRM = defineSlot<DrmCoreState>("drm");

function drmCore(kernel: Kernel): DrmCoreState {
  let st = kernel.trySlot(DRM);
  if (!st) {
    const s: DrmCoreState = { devices: [], nextMinor: 0 };
    st = s;
    kernel.setSlot(DRM, s);
    kernel.onShutdown("drm", () => {
      for (const d of [...s.devices]) drmDevShutdownReport(d);
    });
  }
  return st;
}

/** A registered DRM device (`struct drm_device`). */
export class DrmDevice {
  /** the kernel it lives in */
  readonly kernel: Kernel;
  /** the driver's name */
  readonly name: string;
  /** the display controller (allocations, imports and scanout addresses are its) */
  readonly dev: Device;
  /** the driver description */
  readonly driver: DrmDriverDesc;
  /** the card's minor number (N of /dev/dri/cardN) */
  readonly minor: number;
  /** "/dev/dri/cardN" */
  readonly path: string;
  /** `driver_features`: DRIVER_GEM | DRIVER_MODESET */
  readonly features: number = DRIVER_GEM | DRIVER_MODESET;
  /** the character device node */
  readonly chrdev: Chrdev;
  /** the CRTC (one per device in this model) */
  readonly crtc: DrmCrtc;
  /** its primary plane */
  readonly plane: DrmPlane;
  /** the encoder between CRTC and connector */
  readonly encoder: DrmEncoder;
  /** the connector (always connected) */
  readonly connector: DrmConnector;
  /** `drm_vblank_offdelay` in ns; negative: never */
  readonly vblankOffdelay: number;
  /** @internal */
  readonly _objects = new Set<DrmGemObject>();
  /** @internal */
  _nextObj = 1;
  /** @internal the fake mmap offsets of GEM objects */
  readonly _offsets = new VmaOffsetManager();
  /** @internal mode objects by id (CRTC, plane, encoder, connector, framebuffers) */
  readonly _modeObjects = new Map<number, DrmModeObject>();
  /** @internal every framebuffer alive, registered or not */
  readonly _liveFbs = new Set<DrmFramebuffer>();
  /** @internal */
  readonly _files = new Set<DrmFile>();
  /** @internal */
  _master: DrmFile | null = null;
  /** @internal */
  _registered = true;
  /** @internal */
  readonly _tp: DrmTracepoints;

  /** @internal use `drmDevRegister` */
  constructor(kernel: Kernel, opts: DrmDevRegisterOpts, minor: number) {
    this.kernel = kernel;
    this.name = opts.name;
    this.dev = opts.dev;
    this.driver = opts.driver ?? {};
    this.minor = minor;
    this.path = `/dev/dri/card${minor}`;
    const off = opts.vblankOffdelayMs ?? 5000;
    this.vblankOffdelay = off < 0 ? -1 : off * 1_000_000;
    const t = kernel.trace;
    this._tp = {
      gemCreate: t.tracepoint("drm_gem_create"),
      gemFree: t.tracepoint("drm_gem_free"),
      vblank: t.tracepoint("drm_vblank_event"),
      scanout: t.tracepoint("drm_scanout"),
      flip: t.tracepoint("drm_page_flip"),
      queued: t.tracepoint("drm_vblank_event_queued"),
      delivered: t.tracepoint("drm_vblank_event_delivered"),
    };
    const kms = drmKmsInit(this);
    this.crtc = kms.crtc;
    this.plane = kms.plane;
    this.encoder = kms.encoder;
    this.connector = kms.connector;
    this.chrdev = registerChrdev(kernel, this.path, {
      ops: DRM_FOPS,
      mode: opts.mode ?? 0o666,
      privateData: this,
    });
  }

  /** GEM objects alive (held by a handle, a framebuffer, a mapping, a dma-buf or the scanout). */
  get objectCount(): number {
    return this._objects.size;
  }

  /** Framebuffers alive (registered with an id, or still referenced by the scanout). */
  get fbCount(): number {
    return this._liveFbs.size;
  }

  /** Files open on the device. */
  get fileCount(): number {
    return this._files.size;
  }

  /** Bytes of GEM memory alive (sum of object sizes). */
  get objectBytes(): number {
    let n = 0;
    for (const o of this._objects) n += o.size;
    return n;
  }

  /** @internal `idr_alloc(&object_idr, obj, 1, 0)`: the lowest free mode object id */
  _allocModeId(obj: DrmModeObject): number {
    let id = 1;
    while (this._modeObjects.has(id)) id++;
    this._modeObjects.set(id, obj);
    return id;
  }

  /** @internal emits drm_warn */
  _warn(message: string): void {
    this.kernel.trace.emit("drm_warn", { dev: this.name, message });
  }
}

/** Anything with a mode object id: `kind` says which. */
export interface DrmModeObject {
  readonly kind: "crtc" | "plane" | "encoder" | "connector" | "fb";
}

/** An open file of a DRM device (`struct drm_file`). */
export class DrmFile {
  /** the device */
  readonly dev: DrmDevice;
  /** the open file (`filp`) */
  readonly file: File;
  /** pid of the process that opened it (0 outside any) */
  readonly pid: number;
  /** @internal GEM handles (`object_idr`) */
  readonly _handles = new Map<number, DrmGemObject>();
  /** @internal framebuffers this file created and has not removed (`fbs`) */
  readonly _fbs = new Set<DrmFramebuffer>();
  /** @internal events delivered, waiting to be read */
  readonly _events: PendingEvent[] = [];
  /** @internal events reserved, not yet delivered */
  readonly _pending = new Set<PendingEvent>();
  /** @internal `event_space` */
  _eventSpace = DRM_EVENT_SPACE;
  /** @internal */
  readonly _eventWq: WaitQueue;
  /** @internal `prime` */
  readonly _prime: PrimeFileState = { byBuf: new Map(), byHandle: new Map() };
  /** @internal this file has been the master */
  _wasMaster = false;
  /** @internal */
  _closed = false;

  /** @internal made by the open op */
  constructor(dev: DrmDevice, file: File, pid: number) {
    this.dev = dev;
    this.file = file;
    this.pid = pid;
    this._eventWq = new WaitQueue(dev.kernel.clock);
  }

  /** True while this file is the device's DRM master. */
  get isMaster(): boolean {
    return this.dev._master === this;
  }

  /** GEM handles the file holds. */
  get handleCount(): number {
    return this._handles.size;
  }

  /** Framebuffers the file created and has not removed. */
  get fbCount(): number {
    return this._fbs.size;
  }

  /** Events delivered and not yet read. */
  get eventCount(): number {
    return this._events.length;
  }

  /** The GEM object of `handle`, or undefined (a view for tests and drivers; takes no reference). */
  objectOf(handle: number): DrmGemObject | undefined {
    return this._handles.get(handle);
  }
}

/** The DrmFile of an open card file (`file->private_data`); EBADF for another kind of file. */
export function drmFileOf(file: File): DrmFile {
  const f = file.privateData;
  if (!(f instanceof DrmFile)) throw new KernelError("EBADF", `${file.path} is not an open DRM device`);
  return f;
}

function open(file: File): void {
  const dev = file.privateData as DrmDevice;
  if (!dev._registered) throw new KernelError("ENODEV", `${dev.path}: the device was unregistered`);
  const pid = dev.kernel.current.pid;
  const f = new DrmFile(dev, file, pid);
  // drm_master_open: the first client of a primary node without a master becomes the master
  if (!dev._master) {
    dev._master = f;
    f._wasMaster = true;
  }
  dev._files.add(f);
  file.privateData = f;
}

/** `drm_file_free` / `drm_postclose`: fbs first, then handles, PRIME state, master, events. */
function release(file: File): void {
  const f = file.privateData as DrmFile;
  f._closed = true;
  const dev = f.dev;
  drmFbReleaseFile(f);
  drmGemReleaseFile(f);
  drmPrimeReleaseFile(f);
  if (dev._master === f) dev._master = null;
  for (const e of [...f._pending]) e.file = null; // the flip still happens; nobody reads its event
  f._pending.clear();
  for (const e of f._events) e.file = null;
  f._events.length = 0;
  dev._files.delete(f);
}

function poll(file: File, pt: PollTable | null): number {
  const f = file.privateData as DrmFile;
  pt?.wait(f._eventWq);
  return f._events.length > 0 ? POLLIN | POLLRDNORM : 0;
}

/** The card node's file operations (`drm_driver.fops` of a GEM DMA driver). */
const DRM_FOPS: FileOps = Object.freeze({
  open: (file: File) => open(file),
  release: (file: File) => release(file),
  ioctl: (file: File, cmd: number, arg: unknown) => drmIoctl(file.privateData as DrmFile, cmd, arg),
  read: (file: File, len: number) => drmReadEvents(file.privateData as DrmFile, len),
  poll: (file: File, pt: PollTable | null) => poll(file, pt),
  mmap: (file: File, ctx: MmapContext) => drmGemMmap(file.privateData as DrmFile, ctx),
}) satisfies FileOps;

/**
 * `drm_dev_alloc` + `drm_dev_register` of a GEM DMA / KMS driver: one CRTC with a primary plane,
 * an encoder and an always-connected connector reporting the driver's modes, and the node
 * `/dev/dri/cardN` (N from 0 per kernel). EINVAL for an empty name, a device without DMA, or
 * bad driver limits; EEXIST when the node exists.
 */
export function drmDevRegister(kernel: Kernel, opts: DrmDevRegisterOpts): DrmDevice {
  if (typeof opts?.name !== "string" || opts.name.length === 0) {
    throw new KernelError("EINVAL", `drm_dev_register: name ${JSON.stringify(opts?.name)} is empty`);
  }
  if (!opts.dev || opts.dev.kernel !== kernel) {
    throw new KernelError("EINVAL", `drm_dev_register(${opts.name}): dev is not a device of this kernel`);
  }
  if (opts.dev.dmaMask === null) {
    throw new KernelError("EINVAL", `drm_dev_register(${opts.name}): ${opts.dev.name} does no DMA`);
  }
  const d = opts.driver ?? {};
  const pa = d.pitchAlign ?? 1;
  if (!Number.isInteger(pa) || pa < 1 || (pa & (pa - 1)) !== 0) {
    throw new KernelError("EINVAL", `drm_dev_register(${opts.name}): pitchAlign ${pa} is not a power of two`);
  }
  for (const k of ["minWidth", "maxWidth", "minHeight", "maxHeight"] as const) {
    const v = d[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffff)) {
      throw new KernelError("EINVAL", `drm_dev_register(${opts.name}): ${k} ${v} is not in [0, 65535]`);
    }
  }
  if (opts.vblankOffdelayMs !== undefined && !Number.isFinite(opts.vblankOffdelayMs)) {
    throw new KernelError(
      "EINVAL",
      `drm_dev_register(${opts.name}): vblankOffdelayMs ${opts.vblankOffdelayMs}`,
    );
  }
  const st = drmCore(kernel);
  const ddev = new DrmDevice(kernel, opts, st.nextMinor);
  st.nextMinor++;
  st.devices.push(ddev);
  return ddev;
}

/**
 * `drm_dev_unplug`: removes the node (later opens fail with ENOENT) and turns the CRTC off (the
 * display stops, the vblank timer stops, pending flips complete). Open files then get ENODEV from
 * every ioctl and mmap; closing them still releases what they hold, and objects shared as
 * dma-bufs live on with their importers. EINVAL when already unregistered.
 */
export function drmDevUnregister(ddev: DrmDevice): void {
  if (!ddev._registered)
    throw new KernelError("EINVAL", `drm_dev_unregister: ${ddev.path} is not registered`);
  ddev._registered = false;
  ddev.chrdev.unregister();
  drmKmsShutdown(ddev);
  const st = drmCore(ddev.kernel);
  const i = st.devices.indexOf(ddev);
  if (i >= 0) st.devices.splice(i, 1);
}

/** The registered DRM devices of `kernel`, by minor. */
export function drmDevices(kernel: Kernel): readonly DrmDevice[] {
  return [...(kernel.trySlot(DRM)?.devices ?? [])];
}

function drmDevShutdownReport(ddev: DrmDevice): void {
  drmKmsShutdown(ddev);
  for (const o of ddev._objects) {
    ddev._warn(`shutdown: GEM object ${o.name} (${hex(o.size)} bytes) is still alive (${o.refcount} refs)`);
  }
}
