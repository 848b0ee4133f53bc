/**
 * A minimal KMS (drivers/gpu/drm/drm_crtc.c, drm_plane.c, drm_atomic_helper.c semantics): one
 * CRTC with a primary plane, an encoder and an always-connected connector. The CRTC's state —
 * on or off, the mode, the framebuffer and its x/y — changes by commits that the hardware
 * latches at a vblank:
 *
 * - SETCRTC of a CRTC that is off applies at once (the display starts; the first frame is read
 *   at the first vblank); on a CRTC that is on it is a blocking commit — the ioctl's promise
 *   settles at the vblank that latches it, after any commit still pending.
 * - PAGE_FLIP is a non-blocking commit latched at the next vblank: the framebuffer becomes the
 *   scanout, the previous one is released, the DRM_EVENT_FLIP_COMPLETE event is sent and the
 *   out-fence signalled. A second flip while one is pending is EBUSY.
 * - RMFB (or closing the file) of the framebuffer on screen queues a commit that turns the CRTC
 *   off.
 *
 * At every vblank the core hands the latched framebuffer to the driver's `DrmDisplayHw`, which
 * reads it by DMA. A framebuffer — and so its GEM objects and their memory — stays referenced
 * for as long as a latched or queued state shows it: no buffer is freed while it is scanned out.
 *
 * @module
 */
import { DmaFence, type DmaFenceOps, dmaFenceContextAlloc, dmaFenceSignal } from "@umm/dma-buf";
import { hex, KernelError } from "@umm/kernel-core";
import { putArray, s32, struct, u32, u64 } from "./args.js";
import type { DrmDevice, DrmFile, DrmModeObject } from "./device.js";
import { drmEventCancel, drmEventReserve, drmSendEvent, type PendingEvent } from "./event.js";
import { drmOutFenceInstall } from "./fence.js";
import {
  DRM_FORMAT_ARGB8888,
  DRM_FORMAT_NV12,
  DRM_FORMAT_NV21,
  DRM_FORMAT_RGB565,
  DRM_FORMAT_XRGB8888,
  drmFormatPlaneHeight,
  drmFormatPlaneWidth,
} from "./fourcc.js";
import { type DrmFramebuffer, drmFramebufferLookup } from "./framebuffer.js";
import type { DrmScanout, DrmScanoutPlane } from "./ops.js";
import {
  DRM_DISPLAY_MODE_LEN,
  DRM_EVENT_FLIP_COMPLETE,
  DRM_MODE_1080P60,
  DRM_MODE_CONNECTED,
  DRM_MODE_CONNECTOR_HDMIA,
  DRM_MODE_ENCODER_TMDS,
  DRM_MODE_FLAG_INTERLACE,
  DRM_MODE_PAGE_FLIP_ASYNC,
  DRM_MODE_PAGE_FLIP_EVENT,
  DRM_MODE_PAGE_FLIP_FLAGS,
  DRM_MODE_PAGE_FLIP_OUT_FENCE,
  DRM_MODE_PAGE_FLIP_TARGET,
  DRM_PLANE_TYPE_PRIMARY,
  type DrmModeCardRes,
  type DrmModeCrtc,
  type DrmModeCrtcPageFlip,
  type DrmModeGetConnector,
  type DrmModeGetEncoder,
  type DrmModeGetPlane,
  type DrmModeGetPlaneRes,
  type DrmModeModeinfo,
} from "./types.js";
import { DrmVblank, drmVblankGet, drmVblankOff, drmVblankOn, drmVblankPut, vblankPassed } from "./vblank.js";

/** A CRTC's state: on with a mode and a framebuffer at (x, y), or off. */
export interface DrmCrtcState {
  /** the CRTC runs (scans out) */
  readonly active: boolean;
  /** the mode while on */
  readonly mode: Readonly<DrmModeModeinfo> | null;
  /** the primary plane's framebuffer while on */
  readonly fb: DrmFramebuffer | null;
  /** the viewport's origin in the framebuffer */
  readonly x: number;
  readonly y: number;
}

const OFF: DrmCrtcState = Object.freeze({ active: false, mode: null, fb: null, x: 0, y: 0 });

/** @internal a commit waiting for its vblank; its state holds a reference on its fb */
interface Commit {
  readonly state: DrmCrtcState;
  targetSeq: number;
  readonly event: PendingEvent | null;
  readonly fence: DmaFence | null;
  readonly done: (() => void) | null;
}

/** The CRTC (`struct drm_crtc`). */
export class DrmCrtc implements DrmModeObject {
  /** mode object kind */
  readonly kind = "crtc" as const;
  /** the device */
  readonly dev: DrmDevice;
  /** the mode object id */
  readonly id: number;
  /** index among the device's CRTCs (`drm_crtc_index`, the vblank pipe) */
  readonly index = 0;
  /** @internal the latched (hardware) state */
  _state: DrmCrtcState = OFF;
  /** @internal commits waiting for a vblank, oldest first */
  readonly _queue: Commit[] = [];
  /** @internal */
  readonly _vbl: DrmVblank;
  /** @internal the out-fence timeline */
  readonly _fenceContext: number;
  /** @internal */
  _fenceSeqno = 0;
  /** @internal a modeset from off holds a vblank reference until the first frame */
  _firstFrame = false;
  /** @internal the vblank count when that reference was taken */
  _firstFrameFrom = 0;
  /** @internal */
  readonly _fenceOps: DmaFenceOps;
  /**
   * @internal a framebuffer the latched state shows without holding a reference to it (only
   * after `drmDebugRmfbKeepsScanout` planted that bug)
   */
  _dangling: DrmFramebuffer | null = null;
  /** @internal RMFBs of the framebuffer on screen left to get wrong (`drmDebugRmfbKeepsScanout`) */
  _debugRmfbKeepsScanout = 0;

  /** @internal made by drmKmsInit */
  constructor(dev: DrmDevice) {
    this.dev = dev;
    this.id = dev._allocModeId(this);
    this._vbl = new DrmVblank(this);
    this._fenceContext = dmaFenceContextAlloc(dev.kernel);
    const timeline = `crtc-${this.index}`;
    this._fenceOps = Object.freeze({ getDriverName: () => dev.name, getTimelineName: () => timeline });
  }

  /** The state the hardware scans out now. */
  get state(): DrmCrtcState {
    return this._state;
  }

  /** The state after every queued commit (`crtc->state` of the atomic helpers). */
  get latest(): DrmCrtcState {
    return this._queue.length ? this._queue[this._queue.length - 1]!.state : this._state;
  }

  /** True while a commit (a flip, a modeset) waits for its vblank. */
  get commitPending(): boolean {
    return this._queue.length > 0;
  }

  /** The vblank count and its time (`drm_crtc_vblank_count_and_time`). */
  vblankCount(): { seq: number; time: number } {
    return this._vbl.countAndTime();
  }

  /** True while the vblank interrupt (the per-vblank timer) runs. */
  get vblankEnabled(): boolean {
    return this._vbl.enabled;
  }
}

/** The primary plane (`struct drm_plane`). */
export class DrmPlane implements DrmModeObject {
  /** mode object kind */
  readonly kind = "plane" as const;
  /** the mode object id */
  readonly id: number;
  /** DRM_PLANE_TYPE_PRIMARY */
  readonly type = DRM_PLANE_TYPE_PRIMARY;
  /** fourccs it can scan out */
  readonly formats: readonly number[];

  /** @internal */
  constructor(dev: DrmDevice) {
    this.id = dev._allocModeId(this);
    this.formats = Object.freeze([
      ...(dev.driver.planeFormats ?? [
        DRM_FORMAT_XRGB8888,
        DRM_FORMAT_ARGB8888,
        DRM_FORMAT_RGB565,
        DRM_FORMAT_NV12,
        DRM_FORMAT_NV21,
      ]),
    ]);
  }
}

/** The encoder (`struct drm_encoder`). */
export class DrmEncoder implements DrmModeObject {
  /** mode object kind */
  readonly kind = "encoder" as const;
  /** the mode object id */
  readonly id: number;
  /** DRM_MODE_ENCODER_* */
  readonly type = DRM_MODE_ENCODER_TMDS;

  /** @internal */
  constructor(dev: DrmDevice) {
    this.id = dev._allocModeId(this);
  }
}

/** The connector (`struct drm_connector`), always connected, reporting the driver's modes. */
export class DrmConnector implements DrmModeObject {
  /** mode object kind */
  readonly kind = "connector" as const;
  /** the mode object id */
  readonly id: number;
  /** DRM_MODE_CONNECTOR_* */
  readonly type: number;
  /** the modes, preferred first */
  readonly modes: readonly Readonly<DrmModeModeinfo>[];

  /** @internal */
  constructor(dev: DrmDevice) {
    this.id = dev._allocModeId(this);
    this.type = dev.driver.connectorType ?? DRM_MODE_CONNECTOR_HDMIA;
    this.modes = Object.freeze(
      [...(dev.driver.modes ?? [DRM_MODE_1080P60])].map((m) => Object.freeze({ ...m })),
    );
  }
}

/** @internal `drm_mode_config_init` + the objects of a one-pipe driver, ids in the kernel's order */
export function drmKmsInit(dev: DrmDevice): {
  crtc: DrmCrtc;
  plane: DrmPlane;
  encoder: DrmEncoder;
  connector: DrmConnector;
} {
  const plane = new DrmPlane(dev);
  const crtc = new DrmCrtc(dev);
  const encoder = new DrmEncoder(dev);
  const connector = new DrmConnector(dev);
  for (const m of connector.modes) {
    const why = checkMode(dev, m);
    if (why) throw new KernelError("EINVAL", `drm_dev_register(${dev.name}): mode ${m.name}: ${why}`);
  }
  return { crtc, plane, encoder, connector };
}

// ---- modes -----------------------------------------------------------------------------------

/** `drm_mode_validate_basic` + size limits + the display's `modeValid`: null or why not. */
function checkMode(dev: DrmDevice, m: Readonly<DrmModeModeinfo>): string | null {
  if (!(m.clock > 0)) return `clock ${m.clock} is too low`;
  if (m.clock > 0x7fffffff) return `clock ${m.clock} is out of range`;
  if (
    !(
      m.hdisplay > 0 &&
      m.hsync_start >= m.hdisplay &&
      m.hsync_end >= m.hsync_start &&
      m.htotal >= m.hsync_end
    )
  ) {
    return "horizontal timings are illegal (0 < hdisplay <= hsync_start <= hsync_end <= htotal)";
  }
  if (
    !(
      m.vdisplay > 0 &&
      m.vsync_start >= m.vdisplay &&
      m.vsync_end >= m.vsync_start &&
      m.vtotal >= m.vsync_end
    )
  ) {
    return "vertical timings are illegal (0 < vdisplay <= vsync_start <= vsync_end <= vtotal)";
  }
  if (m.flags & DRM_MODE_FLAG_INTERLACE) return "interlaced modes are not supported";
  const maxW = dev.driver.maxWidth ?? 4096;
  const maxH = dev.driver.maxHeight ?? 4096;
  if (m.hdisplay > maxW || m.vdisplay > maxH) return `${m.hdisplay}x${m.vdisplay} exceeds ${maxW}x${maxH}`;
  return dev.driver.display?.modeValid?.(m) ?? null;
}

/** `drm_mode_convert_umode`: a user's mode struct as a mode, or EINVAL / ERANGE naming the field. */
function convertUmode(dev: DrmDevice, raw: unknown, what: string): Readonly<DrmModeModeinfo> {
  const m = struct<DrmModeModeinfo>(raw, `${what}: mode`);
  const f = (n: keyof DrmModeModeinfo, opt = false): number => u32(m, n, `${what}: mode`, opt);
  const mode: DrmModeModeinfo = {
    clock: f("clock"),
    hdisplay: f("hdisplay"),
    hsync_start: f("hsync_start"),
    hsync_end: f("hsync_end"),
    htotal: f("htotal"),
    hskew: f("hskew", true),
    vdisplay: f("vdisplay"),
    vsync_start: f("vsync_start"),
    vsync_end: f("vsync_end"),
    vtotal: f("vtotal"),
    vscan: f("vscan", true),
    vrefresh: f("vrefresh", true),
    flags: f("flags", true),
    type: f("type", true),
    name: typeof m.name === "string" ? m.name : "",
  };
  if (mode.clock > 0x7fffffff || mode.vrefresh > 0x7fffffff) {
    throw new KernelError(
      "ERANGE",
      `${what}: mode clock ${mode.clock} or vrefresh ${mode.vrefresh} exceeds INT_MAX`,
    );
  }
  if (mode.name.length >= DRM_DISPLAY_MODE_LEN) {
    throw new KernelError(
      "EINVAL",
      `${what}: mode name is longer than ${DRM_DISPLAY_MODE_LEN - 1} characters`,
    );
  }
  const why = checkMode(dev, mode);
  if (why) throw new KernelError("EINVAL", `${what}: mode ${mode.hdisplay}x${mode.vdisplay}: ${why}`);
  return Object.freeze(mode);
}

function sameMode(a: Readonly<DrmModeModeinfo> | null, b: Readonly<DrmModeModeinfo> | null): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.clock === b.clock &&
    a.hdisplay === b.hdisplay &&
    a.hsync_start === b.hsync_start &&
    a.hsync_end === b.hsync_end &&
    a.htotal === b.htotal &&
    a.vdisplay === b.vdisplay &&
    a.vsync_start === b.vsync_start &&
    a.vsync_end === b.vsync_end &&
    a.vtotal === b.vtotal &&
    a.flags === b.flags
  );
}

/** `drm_crtc_check_viewport`: ENOSPC when the mode at (x, y) does not fit in `fb`. */
function checkViewport(
  fb: DrmFramebuffer,
  mode: Readonly<DrmModeModeinfo>,
  x: number,
  y: number,
  what: string,
): void {
  if (
    mode.hdisplay > fb.width ||
    mode.vdisplay > fb.height ||
    x > fb.width - mode.hdisplay ||
    y > fb.height - mode.vdisplay
  ) {
    throw new KernelError(
      "ENOSPC",
      `${what}: the ${mode.hdisplay}x${mode.vdisplay} viewport at (${x}, ${y}) does not fit in framebuffer ${fb.id} (${fb.width}x${fb.height})`,
    );
  }
}

function checkPlaneFormat(dev: DrmDevice, fb: DrmFramebuffer, what: string): void {
  if (!dev.plane.formats.includes(fb.format.format)) {
    throw new KernelError(
      "EINVAL",
      `${what}: the primary plane cannot scan out format ${fb.format.name} of framebuffer ${fb.id}`,
    );
  }
}

function lookupCrtc(dev: DrmDevice, id: number, what: string): DrmCrtc {
  const o = dev._modeObjects.get(id);
  if (!(o instanceof DrmCrtc)) throw new KernelError("ENOENT", `${what}: crtc_id ${id} is not a CRTC`);
  return o;
}

// ---- commits ---------------------------------------------------------------------------------

/** Applies `commit` to the hardware now (at vblank `seq`, time `time`). */
function latch(crtc: DrmCrtc, commit: Commit, seq: number, time: number): void {
  const dev = crtc.dev;
  const hw = dev.driver.display;
  const old = crtc._state;
  const neu = commit.state;
  crtc._state = neu;
  const modeset = old.active !== neu.active || (neu.active && !sameMode(old.mode, neu.mode));
  if (modeset) {
    if (old.active) {
      callHw(dev, "disable", () => hw?.disable?.());
      drmVblankOff(crtc._vbl);
    }
    if (neu.active) {
      callHw(dev, "enable", () => hw?.enable?.(neu.mode!));
      drmVblankOn(crtc._vbl, neu.mode!);
      firstFrame(crtc);
    }
  }
  if (old.fb === crtc._dangling) crtc._dangling = null;
  else if (old.fb) old.fb.put();
  if (commit.event) {
    const tp = dev._tp.delivered;
    if (tp.enabled && commit.event.file) tp.emit({ file: commit.event.file.pid, crtc: crtc.index, seq });
    drmSendEvent(commit.event, seq, time);
  }
  if (commit.fence) dmaFenceSignal(commit.fence);
  commit.done?.();
}

/** Latches, at once, every queued commit that needs no vblank: those behind a CRTC that is off. */
function drainWhileOff(crtc: DrmCrtc): void {
  while (crtc._queue.length && !crtc._state.active) {
    const c = crtc._queue.shift()!;
    const { seq, time } = crtc._vbl.countAndTime();
    latch(crtc, c, seq, time);
    drmVblankPut(crtc._vbl); // the commit's reference
  }
}

/** A modeset from off holds the vblank interrupt until the first frame has been read. */
function firstFrame(crtc: DrmCrtc): void {
  crtc._firstFrameFrom = crtc._vbl.countAndTime().seq;
  if (crtc._firstFrame) return;
  crtc._firstFrame = true;
  drmVblankGet(crtc._vbl);
}

/** @internal the vblank interrupt: latch the next commit, then scan out. Called by vblank.ts. */
export function drmCrtcVblank(crtc: DrmCrtc, seq: number, time: number): void {
  const head = crtc._queue[0];
  if (head && vblankPassed(seq, head.targetSeq)) {
    crtc._queue.shift();
    latch(crtc, head, seq, time);
    drmVblankPut(crtc._vbl); // the commit's reference
    drainWhileOff(crtc);
    const next = crtc._queue[0];
    if (next) next.targetSeq = (seq + 1) >>> 0;
  }
  if (crtc._state.active && crtc._vbl.on) scanout(crtc, seq, time);
  if (crtc._firstFrame && seq !== crtc._firstFrameFrom) {
    crtc._firstFrame = false;
    drmVblankPut(crtc._vbl);
  }
}

function callHw(dev: DrmDevice, what: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    dev._warn(`display ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The frame of `state` as the display fetches it. */
export function drmScanoutOf(
  crtc: DrmCrtc,
  state: DrmCrtcState,
  seq: number,
  time: number,
): DrmScanout | null {
  const fb = state.fb;
  const mode = state.mode;
  if (!state.active || !fb || !mode) return null;
  const info = fb.format;
  const planes: DrmScanoutPlane[] = [];
  for (let i = 0; i < info.numPlanes; i++) {
    const hsub = i ? info.hsub : 1;
    const vsub = i ? info.vsub : 1;
    const cpp = info.cpp[i]!;
    planes.push({
      daddr:
        fb.objs[i]!.dmaAddr +
        fb.offsets[i]! +
        Math.floor(state.y / vsub) * fb.pitches[i]! +
        Math.floor(state.x / hsub) * cpp,
      pitch: fb.pitches[i]!,
      rowBytes: drmFormatPlaneWidth(info, mode.hdisplay, i) * cpp,
      rows: drmFormatPlaneHeight(info, mode.vdisplay, i),
    });
  }
  return {
    crtc: crtc.id,
    fb: fb.id,
    format: info.format,
    width: mode.hdisplay,
    height: mode.vdisplay,
    planes,
    seq,
    time,
  };
}

function scanout(crtc: DrmCrtc, seq: number, time: number): void {
  const dev = crtc.dev;
  const hw = dev.driver.display;
  const frame = drmScanoutOf(crtc, crtc._state, seq, time);
  const tp = dev._tp.scanout;
  if (tp.enabled) tp.emit({ dev: dev.name, crtc: crtc.id, fb: frame?.fb ?? 0, seq });
  if (hw) callHw(dev, `scanout of frame ${seq}`, () => hw.scanout(frame));
}

/**
 * Queues `state` as a commit of `crtc`, latched at the next vblank (after those queued before).
 * The commit holds a vblank reference and, through `state`, a reference on its framebuffer
 * (which the caller has taken).
 */
function enqueue(
  crtc: DrmCrtc,
  state: DrmCrtcState,
  event: PendingEvent | null,
  fence: DmaFence | null,
  blocking: boolean,
): Promise<void> | null {
  drmVblankGet(crtc._vbl);
  const target = (crtc._vbl.countAndTime().seq + 1) >>> 0;
  let promise: Promise<void> | null = null;
  let done: (() => void) | null = null;
  if (blocking) promise = new Promise<void>((resolve) => (done = resolve));
  crtc._queue.push({ state, targetSeq: target, event, fence, done });
  return promise;
}

/**
 * Applies `state` at once on a CRTC that is off with nothing queued (a modeset from off, or a
 * disable of an off CRTC): `drm_atomic_helper_commit_modeset_enables` without a vblank to wait for.
 */
function applyNow(crtc: DrmCrtc, state: DrmCrtcState): void {
  const { seq, time } = crtc._vbl.countAndTime();
  latch(crtc, { state, targetSeq: seq, event: null, fence: null, done: null }, seq, time);
}

/**
 * @internal `drm_framebuffer_remove` for KMS: when the latest state scans out `fb`, queue a
 * commit turning the CRTC off and return its promise; else null.
 */
export function drmKmsRemoveFb(dev: DrmDevice, fb: DrmFramebuffer): Promise<void> | null {
  const crtc = dev.crtc;
  if (crtc.latest.fb !== fb) return null;
  if (!crtc._state.active && crtc._queue.length === 0) return null;
  if (crtc._debugRmfbKeepsScanout > 0 && crtc._queue.length === 0 && crtc._dangling === null) {
    // the planted bug: the plane is not turned off and its state lets go of its reference, so
    // the framebuffer (and, once unreferenced, its memory) goes while it is still scanned out
    crtc._debugRmfbKeepsScanout--;
    crtc._dangling = fb;
    fb.put();
    return null;
  }
  return enqueue(crtc, OFF, null, null, true);
}

/**
 * Debug knob: the next `count` RMFBs (or file closes) of the framebuffer on screen get
 * `drm_framebuffer_remove` wrong — the plane is not turned off and the latched state drops its
 * reference — so the display keeps scanning out a framebuffer whose GEM objects, D.V mappings
 * and memory may already be gone: the use after free `umm demo --bug use-after-free` shows, which
 * a display behind an IOMMU turns into a page fault at the next vblank. 0 turns it off. EINVAL
 * for a count that is not a non-negative integer.
 */
export function drmDebugRmfbKeepsScanout(dev: DrmDevice, count: number): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new KernelError("EINVAL", `drmDebugRmfbKeepsScanout: count ${count} is not a non-negative integer`);
  }
  dev.crtc._debugRmfbKeepsScanout = count;
}

/**
 * @internal device unregister / kernel shutdown: every queued commit is latched at once (events
 * sent, fences signalled), then the CRTC turns off and its framebuffer is released.
 */
export function drmKmsShutdown(dev: DrmDevice): void {
  const crtc = dev.crtc;
  while (crtc._queue.length) {
    const c = crtc._queue.shift()!;
    const { seq, time } = crtc._vbl.countAndTime();
    latch(crtc, c, seq, time);
    drmVblankPut(crtc._vbl);
  }
  if (crtc._state.active) {
    const { seq, time } = crtc._vbl.countAndTime();
    latch(crtc, { state: OFF, targetSeq: seq, event: null, fence: null, done: null }, seq, time);
  }
  if (crtc._firstFrame) {
    crtc._firstFrame = false;
    drmVblankPut(crtc._vbl);
  }
}

// ---- ioctls ----------------------------------------------------------------------------------

/**
 * @internal DRM_IOCTL_MODE_SETCRTC (`drm_mode_setcrtc`, master only): with `mode_valid`, the CRTC
 * shows framebuffer `fb_id` (-1: the current one) at (x, y) in `mode` on the listed connectors;
 * without, it turns off. ERANGE for x or y ≥ 65536; ENOENT for an unknown CRTC, framebuffer or
 * connector; EINVAL for a bad mode, no current fb for -1, a format the plane cannot scan out,
 * or connectors without a mode (and the reverse); ENOSPC when the viewport exceeds the
 * framebuffer. Returns 0 when applied at once (the CRTC was off), else a promise of 0 settled at
 * the vblank that latches it.
 */
export function drmModeSetcrtcIoctl(file: DrmFile, arg: unknown): number | Promise<number> {
  const what = "MODE_SETCRTC";
  const a = struct<DrmModeCrtc>(arg, what);
  const dev = file.dev;
  const crtcId = u32(a, "crtc_id", what);
  const fbId = s32(a, "fb_id", what, true);
  const x = u32(a, "x", what, true);
  const y = u32(a, "y", what, true);
  const modeValid = u32(a, "mode_valid", what, true);
  const connectors = Array.isArray(a.set_connectors_ptr) ? a.set_connectors_ptr : [];
  const countConnectors =
    a.count_connectors === undefined ? connectors.length : u32(a, "count_connectors", what);
  if (x & 0xffff0000 || y & 0xffff0000) {
    throw new KernelError("ERANGE", `${what}: x ${x} or y ${y} does not fit in 16 bits`);
  }
  const crtc = lookupCrtc(dev, crtcId, what);
  const latest = crtc.latest;
  let fb: DrmFramebuffer | null = null;
  let mode: Readonly<DrmModeModeinfo> | null = null;
  if (modeValid) {
    if (fbId === -1) {
      fb = latest.fb;
      if (!fb)
        throw new KernelError("EINVAL", `${what}: fb_id -1 but CRTC ${crtcId} has no current framebuffer`);
    } else {
      fb = drmFramebufferLookup(dev, fbId >>> 0) ?? null;
      if (!fb) throw new KernelError("ENOENT", `${what}: fb_id ${fbId} is not a framebuffer`);
    }
    mode = convertUmode(dev, a.mode, what);
    checkPlaneFormat(dev, fb, what);
    checkViewport(fb, mode, x, y, what);
  }
  if (countConnectors === 0 && mode) {
    throw new KernelError("EINVAL", `${what}: count_connectors is 0 but a mode is set`);
  }
  if (countConnectors > 0 && (!mode || !fb)) {
    throw new KernelError(
      "EINVAL",
      `${what}: count_connectors is ${countConnectors} but no mode or fb is set`,
    );
  }
  if (countConnectors > connectors.length) {
    throw new KernelError(
      "EFAULT",
      `${what}: set_connectors_ptr has ${connectors.length} ids, count_connectors says ${countConnectors}`,
    );
  }
  for (let i = 0; i < countConnectors; i++) {
    const id = connectors[i];
    if (typeof id !== "number" || dev._modeObjects.get(id) !== dev.connector) {
      throw new KernelError("ENOENT", `${what}: set_connectors_ptr[${i}] ${String(id)} is not a connector`);
    }
  }
  const state: DrmCrtcState = mode && fb ? Object.freeze({ active: true, mode, fb, x, y }) : OFF;
  const same =
    state.active === latest.active &&
    state.fb === latest.fb &&
    sameMode(state.mode, latest.mode) &&
    state.x === latest.x &&
    state.y === latest.y;
  if (same) return 0;
  state.fb?.get();
  if (crtc._queue.length === 0 && !crtc._state.active) {
    applyNow(crtc, state);
    return 0;
  }
  return enqueue(crtc, state, null, null, true)!.then(() => 0);
}

/** @internal DRM_IOCTL_MODE_GETCRTC: the latest state's fb, x, y and mode. ENOENT for an unknown CRTC. */
export function drmModeGetcrtcIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_GETCRTC";
  const a = struct<DrmModeCrtc>(arg, what);
  const crtc = lookupCrtc(file.dev, u32(a, "crtc_id", what), what);
  const st = crtc.latest;
  a.x = st.x;
  a.y = st.y;
  a.gamma_size = 0;
  a.fb_id = st.fb?.id ?? 0;
  a.mode_valid = st.active ? 1 : 0;
  if (st.mode) a.mode = { ...st.mode };
  return 0;
}

/**
 * @internal DRM_IOCTL_MODE_GETRESOURCES: the ids of this file's framebuffers and of the CRTC,
 * connector and encoder (each array filled when the count passed in is large enough), their
 * counts, and the size limits.
 */
export function drmModeGetresourcesIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_GETRESOURCES";
  const a = struct<DrmModeCardRes>(arg, what);
  const dev = file.dev;
  const counts = {
    fb: u32(a, "count_fbs", what, true),
    crtc: u32(a, "count_crtcs", what, true),
    conn: u32(a, "count_connectors", what, true),
    enc: u32(a, "count_encoders", what, true),
  };
  const fbs = [...file._fbs].map((f) => f.id);
  if (counts.fb >= fbs.length) putArray(a, "fb_id_ptr", fbs);
  if (counts.crtc >= 1) putArray(a, "crtc_id_ptr", [dev.crtc.id]);
  if (counts.conn >= 1) putArray(a, "connector_id_ptr", [dev.connector.id]);
  if (counts.enc >= 1) putArray(a, "encoder_id_ptr", [dev.encoder.id]);
  a.count_fbs = fbs.length;
  a.count_crtcs = 1;
  a.count_connectors = 1;
  a.count_encoders = 1;
  a.min_width = dev.driver.minWidth ?? 0;
  a.max_width = dev.driver.maxWidth ?? 4096;
  a.min_height = dev.driver.minHeight ?? 0;
  a.max_height = dev.driver.maxHeight ?? 4096;
  return 0;
}

/** @internal DRM_IOCTL_MODE_GETCONNECTOR: status, modes, encoders. ENOENT for an unknown id. */
export function drmModeGetconnectorIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_GETCONNECTOR";
  const a = struct<DrmModeGetConnector>(arg, what);
  const dev = file.dev;
  const id = u32(a, "connector_id", what);
  if (dev._modeObjects.get(id) !== dev.connector)
    throw new KernelError("ENOENT", `${what}: connector_id ${id} is not a connector`);
  const c = dev.connector;
  const countModes = u32(a, "count_modes", what, true);
  const countEncoders = u32(a, "count_encoders", what, true);
  if (countModes >= c.modes.length)
    putArray(
      a,
      "modes_ptr",
      c.modes.map((m) => ({ ...m })),
    );
  if (countEncoders >= 1) putArray(a, "encoders_ptr", [dev.encoder.id]);
  a.count_modes = c.modes.length;
  a.count_encoders = 1;
  a.count_props = 0;
  a.encoder_id = dev.encoder.id;
  a.connector_type = c.type;
  a.connector_type_id = 1;
  a.connection = DRM_MODE_CONNECTED;
  a.mm_width = 0;
  a.mm_height = 0;
  a.subpixel = 0;
  return 0;
}

/** @internal DRM_IOCTL_MODE_GETENCODER. ENOENT for an unknown id. */
export function drmModeGetencoderIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_GETENCODER";
  const a = struct<DrmModeGetEncoder>(arg, what);
  const dev = file.dev;
  const id = u32(a, "encoder_id", what);
  if (dev._modeObjects.get(id) !== dev.encoder)
    throw new KernelError("ENOENT", `${what}: encoder_id ${id} is not an encoder`);
  a.encoder_type = dev.encoder.type;
  a.crtc_id = dev.crtc.latest.active ? dev.crtc.id : 0;
  a.possible_crtcs = 1;
  a.possible_clones = 0;
  return 0;
}

/** @internal DRM_IOCTL_MODE_GETPLANERESOURCES. */
export function drmModeGetplaneResourcesIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_GETPLANERESOURCES";
  const a = struct<DrmModeGetPlaneRes>(arg, what);
  if (u32(a, "count_planes", what, true) >= 1) putArray(a, "plane_id_ptr", [file.dev.plane.id]);
  a.count_planes = 1;
  return 0;
}

/** @internal DRM_IOCTL_MODE_GETPLANE. ENOENT for an unknown id. */
export function drmModeGetplaneIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_GETPLANE";
  const a = struct<DrmModeGetPlane>(arg, what);
  const dev = file.dev;
  const id = u32(a, "plane_id", what);
  if (dev._modeObjects.get(id) !== dev.plane)
    throw new KernelError("ENOENT", `${what}: plane_id ${id} is not a plane`);
  const st = dev.crtc.latest;
  if (u32(a, "count_format_types", what, true) >= dev.plane.formats.length)
    putArray(a, "format_type_ptr", dev.plane.formats);
  a.count_format_types = dev.plane.formats.length;
  a.crtc_id = st.fb ? dev.crtc.id : 0;
  a.fb_id = st.fb?.id ?? 0;
  a.possible_crtcs = 1;
  a.gamma_size = 0;
  return 0;
}

/**
 * @internal DRM_IOCTL_MODE_PAGE_FLIP (`drm_mode_page_flip_ioctl` + `drm_atomic_helper_page_flip`,
 * master only): framebuffer `fb_id` replaces the CRTC's at the next vblank. EINVAL for unknown
 * flags, target or async flips (not supported), or a format other than the current
 * framebuffer's; ENOENT for an unknown CRTC or framebuffer; EBUSY when the CRTC has no
 * framebuffer (it is off) or a commit is still pending; ENOSPC when the viewport exceeds the
 * framebuffer; ENOMEM when the file's event space is full. With DRM_MODE_PAGE_FLIP_EVENT a
 * DRM_EVENT_FLIP_COMPLETE carrying `user_data` is sent at completion; with
 * DRM_MODE_PAGE_FLIP_OUT_FENCE `out_fence_fd` gets a sync_file of the flip's fence.
 */
export function drmModePageFlipIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_PAGE_FLIP";
  const a = struct<DrmModeCrtcPageFlip>(arg, what);
  const dev = file.dev;
  const crtcId = u32(a, "crtc_id", what);
  const fbId = u32(a, "fb_id", what);
  const flags = u32(a, "flags", what);
  const sequence = u32(a, "sequence", what, true);
  const userData = u64(a, "user_data", what, true);
  if (flags & ~DRM_MODE_PAGE_FLIP_FLAGS)
    throw new KernelError("EINVAL", `${what}: flags ${hex(flags)} has unknown bits`);
  if (sequence !== 0 && !(flags & DRM_MODE_PAGE_FLIP_TARGET)) {
    throw new KernelError("EINVAL", `${what}: sequence ${sequence} without a DRM_MODE_PAGE_FLIP_TARGET flag`);
  }
  if (flags & DRM_MODE_PAGE_FLIP_TARGET) {
    throw new KernelError(
      "EINVAL",
      `${what}: flags ${hex(flags)}: the driver has no page_flip_target (DRM_CAP_PAGE_FLIP_TARGET is 0)`,
    );
  }
  if (flags & DRM_MODE_PAGE_FLIP_ASYNC) {
    throw new KernelError(
      "EINVAL",
      `${what}: flags has DRM_MODE_PAGE_FLIP_ASYNC: async flips are not supported`,
    );
  }
  const crtc = lookupCrtc(dev, crtcId, what);
  const latest = crtc.latest;
  if (!latest.fb || !latest.mode) {
    throw new KernelError("EBUSY", `${what}: CRTC ${crtcId} has no framebuffer (it is off)`);
  }
  const fb = drmFramebufferLookup(dev, fbId);
  if (!fb) throw new KernelError("ENOENT", `${what}: fb_id ${fbId} is not a framebuffer`);
  checkViewport(fb, latest.mode, latest.x, latest.y, what);
  if (latest.fb.format !== fb.format) {
    throw new KernelError(
      "EINVAL",
      `${what}: framebuffer ${fbId} is ${fb.format.name}, the CRTC scans out ${latest.fb.format.name}: a page flip may not change the format`,
    );
  }
  if (crtc._queue.length > 0) {
    throw new KernelError("EBUSY", `${what}: CRTC ${crtcId} still has a flip or modeset pending`);
  }
  const event =
    flags & DRM_MODE_PAGE_FLIP_EVENT
      ? drmEventReserve(file, DRM_EVENT_FLIP_COMPLETE, userData, crtc.id)
      : null;
  const seqno = crtc._fenceSeqno + 1;
  const fence = new DmaFence(dev.kernel, crtc._fenceOps, crtc._fenceContext, seqno);
  let fd = -1;
  if (flags & DRM_MODE_PAGE_FLIP_OUT_FENCE) {
    try {
      fd = drmOutFenceInstall(file, fence);
    } catch (e) {
      if (event) drmEventCancel(event);
      throw e;
    }
  }
  crtc._fenceSeqno = seqno;
  fb.get();
  enqueue(crtc, Object.freeze({ ...latest, fb }), event, fence, false);
  const target = crtc._queue[crtc._queue.length - 1]!.targetSeq;
  if (event) {
    const tp = dev._tp.queued;
    if (tp.enabled) tp.emit({ file: file.pid, crtc: crtc.index, seq: target });
  }
  const tp = dev._tp.flip;
  if (tp.enabled) tp.emit({ dev: dev.name, crtc: crtc.id, fb: fb.id, seqno, target });
  a.out_fence_fd = fd;
  return 0;
}
