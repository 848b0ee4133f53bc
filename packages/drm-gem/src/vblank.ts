/**
 * Vertical blanking (drivers/gpu/drm/drm_vblank.c): per CRTC a vblank counter and timestamps
 * derived from the mode's timing on the virtual clock, an "interrupt" (a `kernel.clock` timer
 * firing at each vblank) that runs while anyone needs it — a pending flip or modeset, a
 * WAIT_VBLANK waiter or event — and for `drm_vblank_offdelay` after the last user, and
 * DRM_IOCTL_WAIT_VBLANK.
 *
 * Vblank k after the CRTC turned on at time T happens at T + round(k × frame), frame =
 * htotal × vtotal / pixel clock. The counter is exact while the interrupt is off too (the
 * kernel reads a hardware counter for that): it is computed from the clock.
 *
 * @module
 */
import { KernelBug, KernelError, type TimerHandle, WaitQueue } from "@umm/kernel-core";
import { struct, u32, u64 } from "./args.js";
import type { DrmFile } from "./device.js";
import { drmEventReserve, drmSendEvent, type PendingEvent } from "./event.js";
import { type DrmCrtc, drmCrtcVblank } from "./kms.js";
import {
  DRM_EVENT_VBLANK,
  DRM_VBLANK_EVENT,
  DRM_VBLANK_FLAGS_MASK,
  DRM_VBLANK_FLIP,
  DRM_VBLANK_HIGH_CRTC_MASK,
  DRM_VBLANK_HIGH_CRTC_SHIFT,
  DRM_VBLANK_NEXTONMISS,
  DRM_VBLANK_RELATIVE,
  DRM_VBLANK_SECONDARY,
  DRM_VBLANK_SIGNAL,
  DRM_VBLANK_TYPES_MASK,
  type DrmModeModeinfo,
  type DrmWaitVblank,
} from "./types.js";

/** How long a blocking WAIT_VBLANK waits before EBUSY (the kernel's 3 s). */
export const DRM_WAIT_VBLANK_TIMEOUT_NS = 3_000_000_000;

/** The frame period of `mode` in ns (htotal × vtotal / clock, clock in kHz). */
export function drmModeFramePeriod(mode: Readonly<DrmModeModeinfo>): number {
  return (mode.htotal * mode.vtotal * 1e6) / mode.clock;
}

/** `vblank_passed(seq, ref)`: `seq` is at or after `ref` (u32 arithmetic, as the kernel). */
export function vblankPassed(seq: number, ref: number): boolean {
  return (seq - ref) >>> 0 <= 1 << 23;
}

/** @internal per-CRTC vblank state (`struct drm_vblank_crtc`) */
export class DrmVblank {
  readonly crtc: DrmCrtc;
  /** the CRTC is on (timing runs) */
  on = false;
  /** the interrupt is on (the timer runs) */
  enabled = false;
  /** users (`refcount`) */
  refcount = 0;
  /** the count at k = 0 (when the CRTC turned on) */
  base = 0;
  /** vblanks processed since the CRTC turned on (valid while enabled) */
  k = 0;
  /** time of the last counted vblank */
  time = 0;
  onTime = 0;
  period = 0;
  /** the interrupt may stop once the clock reaches this (no users) */
  offAt = Number.POSITIVE_INFINITY;
  timer: TimerHandle | null = null;
  /** WAIT_VBLANK waiters sleep here */
  readonly wq: WaitQueue;
  /** WAIT_VBLANK events not yet delivered */
  readonly events: { e: PendingEvent; seq: number }[] = [];

  constructor(crtc: DrmCrtc) {
    this.crtc = crtc;
    this.wq = new WaitQueue(crtc.dev.kernel.clock);
  }

  /** time of vblank k since on */
  tAt(k: number): number {
    return this.onTime + Math.round(k * this.period);
  }

  /** the last k with tAt(k) <= now */
  kAt(now: number): number {
    let k = Math.max(0, Math.floor((now - this.onTime) / this.period));
    while (this.tAt(k + 1) <= now) k++;
    while (k > 0 && this.tAt(k) > now) k--;
    return k;
  }

  /** `drm_vblank_count_and_time` */
  countAndTime(): { seq: number; time: number } {
    if (!this.on) return { seq: this.base >>> 0, time: this.time };
    const k = this.enabled ? this.k : this.kAt(this.crtc.dev.kernel.clock.now());
    return { seq: (this.base + k) >>> 0, time: this.tAt(k) };
  }
}

function clockOf(v: DrmVblank) {
  return v.crtc.dev.kernel.clock;
}

function schedule(v: DrmVblank): void {
  if (v.timer) return;
  v.timer = clockOf(v).at(v.tAt(v.k + 1), () => tick(v), `vblank ${v.crtc.dev.name}:${v.crtc.id}`);
}

/** `drm_vblank_enable`: the interrupt on, the counter caught up with the clock. */
function enable(v: DrmVblank): void {
  if (v.enabled) return;
  v.enabled = true;
  v.k = v.kAt(clockOf(v).now());
  v.time = v.tAt(v.k);
  schedule(v);
}

function disable(v: DrmVblank): void {
  if (!v.enabled) return;
  const now = clockOf(v).now();
  v.k = v.kAt(now);
  v.time = v.tAt(v.k);
  v.enabled = false;
  v.timer?.cancel();
  v.timer = null;
}

/** The interrupt handler: one vblank. */
function tick(v: DrmVblank): void {
  v.timer = null;
  if (!v.on || !v.enabled) return;
  v.k++;
  const seq = (v.base + v.k) >>> 0;
  const time = v.tAt(v.k);
  v.time = time;
  const dev = v.crtc.dev;
  const tp = dev._tp.vblank;
  if (tp.enabled) tp.emit({ crtc: v.crtc.index, seq, time, high_prec: true });
  deliverEvents(v, seq, time);
  drmCrtcVblank(v.crtc, seq, time);
  v.wq.wakeUp();
  if (!v.on || !v.enabled || v.timer) return;
  const off = dev.vblankOffdelay;
  if (v.refcount > 0 || off < 0 || clockOf(v).now() < v.offAt) schedule(v);
  else v.enabled = false;
}

function deliverEvents(v: DrmVblank, seq: number, time: number): void {
  if (v.events.length === 0) return;
  const due = v.events.filter((x) => vblankPassed(seq, x.seq));
  if (due.length === 0) return;
  const tp = v.crtc.dev._tp.delivered;
  for (const x of due) {
    v.events.splice(v.events.indexOf(x), 1);
    if (tp.enabled && x.e.file) tp.emit({ file: x.e.file.pid, crtc: v.crtc.index, seq });
    drmSendEvent(x.e, seq, time);
    drmVblankPut(v);
  }
}

/** @internal `drm_crtc_vblank_on`: the CRTC runs `mode` from now (the count goes on from where it was). */
export function drmVblankOn(v: DrmVblank, mode: Readonly<DrmModeModeinfo>): void {
  const now = clockOf(v).now();
  v.on = true;
  v.onTime = now;
  v.period = drmModeFramePeriod(mode);
  v.k = 0;
  v.time = now;
  if (v.refcount > 0 || v.crtc.dev.vblankOffdelay < 0 || now < v.offAt) enable(v);
}

/**
 * @internal `drm_crtc_vblank_off`: the CRTC stopped. The interrupt stops, pending vblank events
 * are sent with the last count (as the kernel does), waiters wake up.
 */
export function drmVblankOff(v: DrmVblank): void {
  if (!v.on) return;
  const { seq, time } = v.countAndTime();
  disable(v);
  v.on = false;
  v.base = seq;
  v.k = 0;
  v.time = time;
  for (const x of v.events.splice(0)) {
    drmSendEvent(x.e, seq, time);
    drmVblankPut(v);
  }
  v.wq.wakeUp();
}

/** @internal `drm_vblank_get`: EINVAL when the CRTC is off. */
export function drmVblankGet(v: DrmVblank): void {
  if (!v.on) throw new KernelError("EINVAL", `vblank: CRTC ${v.crtc.id} is off`);
  v.refcount++;
  v.offAt = Number.POSITIVE_INFINITY;
  enable(v);
}

/** @internal `drm_vblank_put`: after the last user, the interrupt stops after the off delay. */
export function drmVblankPut(v: DrmVblank): void {
  if (v.refcount <= 0) throw new KernelBug(`vblank: put of CRTC ${v.crtc.id} without a get`);
  if (--v.refcount > 0) return;
  const off = v.crtc.dev.vblankOffdelay;
  v.offAt = off < 0 ? Number.POSITIVE_INFINITY : clockOf(v).now() + off;
  if (off === 0) disable(v);
}

/**
 * @internal DRM_IOCTL_WAIT_VBLANK (`drm_wait_vblank_ioctl`): RELATIVE or ABSOLUTE target, with
 * NEXTONMISS; with DRM_VBLANK_EVENT queues a DRM_EVENT_VBLANK (user data `signal`) and returns at
 * once, else blocks until the count is reached (a promise; EBUSY after 3 s). EINVAL for
 * DRM_VBLANK_SIGNAL, unknown bits, a CRTC index other than 0, or a CRTC that is off; ENOMEM when
 * the file's event space is full. Writes `sequence`, `tval_sec`, `tval_usec` (and clears
 * RELATIVE / NEXTONMISS from `type`, as the kernel rewrites the request for restarts).
 */
export function drmWaitVblankIoctl(file: DrmFile, arg: unknown): number | Promise<number> {
  const what = "WAIT_VBLANK";
  const a = struct<DrmWaitVblank>(arg, what);
  const type = u32(a, "type", what);
  const sequence = u32(a, "sequence", what);
  const signal = u64(a, "signal", what, true);
  if (type & DRM_VBLANK_SIGNAL)
    throw new KernelError("EINVAL", `${what}: type has _DRM_VBLANK_SIGNAL (not supported)`);
  if (type & ~(DRM_VBLANK_TYPES_MASK | DRM_VBLANK_FLAGS_MASK | DRM_VBLANK_HIGH_CRTC_MASK | DRM_VBLANK_FLIP)) {
    throw new KernelError("EINVAL", `${what}: type 0x${type.toString(16)} has unknown bits`);
  }
  const flags = type & DRM_VBLANK_FLAGS_MASK;
  const high = (type & DRM_VBLANK_HIGH_CRTC_MASK) >>> DRM_VBLANK_HIGH_CRTC_SHIFT;
  const pipe = high ? high : flags & DRM_VBLANK_SECONDARY ? 1 : 0;
  if (pipe !== 0) throw new KernelError("EINVAL", `${what}: CRTC index ${pipe} does not exist (one CRTC)`);
  const crtc = file.dev.crtc;
  const v = crtc._vbl;
  drmVblankGet(v); // EINVAL when the CRTC is off
  const { seq } = v.countAndTime();
  let req = (type & DRM_VBLANK_TYPES_MASK) === DRM_VBLANK_RELATIVE ? (seq + sequence) >>> 0 : sequence;
  let outType = type & ~DRM_VBLANK_RELATIVE;
  if (flags & DRM_VBLANK_NEXTONMISS && vblankPassed(seq, req)) {
    req = (seq + 1) >>> 0;
    outType &= ~DRM_VBLANK_NEXTONMISS;
  }
  const reply = (): void => {
    const now = v.countAndTime();
    a.type = outType;
    a.sequence = now.seq;
    a.tval_sec = Math.floor(now.time / 1e9);
    a.tval_usec = Math.floor((now.time % 1e9) / 1e3);
  };
  if (flags & DRM_VBLANK_EVENT) {
    let e: PendingEvent;
    try {
      e = drmEventReserve(file, DRM_EVENT_VBLANK, signal, crtc.id);
    } catch (err) {
      drmVblankPut(v);
      throw err;
    }
    a.type = outType;
    a.sequence = req;
    const tp = file.dev._tp.queued;
    if (tp.enabled) tp.emit({ file: file.pid, crtc: crtc.index, seq: req });
    if (vblankPassed(seq, req)) {
      const t = v.countAndTime();
      drmSendEvent(e, t.seq, t.time);
      drmVblankPut(v);
    } else {
      v.events.push({ e, seq: req }); // the event keeps the vblank reference until delivered
    }
    return 0;
  }
  if (req === seq) {
    reply();
    drmVblankPut(v);
    return 0;
  }
  return v.wq
    .wait(() => !v.on || vblankPassed(v.countAndTime().seq, req), DRM_WAIT_VBLANK_TIMEOUT_NS)
    .then((ok) => {
      drmVblankPut(v);
      if (!ok) throw new KernelError("EBUSY", `${what}: vblank ${req} did not come within 3 s`);
      reply();
      return 0;
    });
}
