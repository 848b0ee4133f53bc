/**
 * DRM events (drivers/gpu/drm/drm_file.c): completions a client asked to hear about — a page
 * flip done, a vblank reached — queued on its file and read(2) from the card fd as packed
 * `struct drm_event_vblank` records, with poll(2) reporting POLLIN while any wait.
 *
 * Each file has 4096 bytes of event space; reserving an event takes its length and reading it
 * gives it back (`drm_event_reserve_init` fails with ENOMEM when the space is gone, so a client
 * that never reads cannot make the kernel queue without bound).
 *
 * @module
 */
import { KernelError, NSEC_PER_SEC, NSEC_PER_USEC } from "@umm/kernel-core";
import type { DrmFile } from "./device.js";
import { DRM_EVENT_VBLANK_SIZE, type DrmEventVblank } from "./types.js";

/** `file_priv->event_space` at open. */
export const DRM_EVENT_SPACE = 4096;

/** @internal a reserved event (`struct drm_pending_vblank_event`) */
export interface PendingEvent {
  /** the file that will read it; null once the file is gone (the event is dropped) */
  file: DrmFile | null;
  readonly type: number;
  readonly userData: number;
  readonly crtcId: number;
  /** filled at delivery */
  sequence: number;
  time: number;
}

/**
 * @internal `drm_event_reserve_init`: takes event space for one event of `file`. ENOMEM when the
 * file's space is used up by events it has not read.
 */
export function drmEventReserve(file: DrmFile, type: number, userData: number, crtcId: number): PendingEvent {
  if (file._eventSpace < DRM_EVENT_VBLANK_SIZE) {
    throw new KernelError(
      "ENOMEM",
      `drm event: no event space left on the file (${DRM_EVENT_SPACE - file._eventSpace} bytes of unread events)`,
    );
  }
  file._eventSpace -= DRM_EVENT_VBLANK_SIZE;
  const e: PendingEvent = { file, type, userData, crtcId, sequence: 0, time: 0 };
  file._pending.add(e);
  return e;
}

/** @internal `drm_event_cancel_free`: gives a reserved, undelivered event's space back. */
export function drmEventCancel(e: PendingEvent): void {
  const f = e.file;
  if (!f) return;
  f._pending.delete(e);
  f._eventSpace += DRM_EVENT_VBLANK_SIZE;
  e.file = null;
}

/**
 * @internal `drm_send_event_helper`: stamps the event with `sequence` and `time` and queues it on
 * its file (dropped when the file was closed meanwhile); wakes readers and pollers once the
 * current interrupt handler is done (a microtask later).
 */
export function drmSendEvent(e: PendingEvent, sequence: number, time: number): void {
  e.sequence = sequence >>> 0;
  e.time = time;
  const f = e.file;
  if (!f) return;
  f._pending.delete(e);
  f._events.push(e);
  // pollers run after the interrupt handler, which may still signal the flip's out-fence
  const wq = f._eventWq;
  queueMicrotask(() => wq.wakeUp());
}

/** @internal encodes one event as `struct drm_event_vblank` (little endian). */
export function encodeEvent(e: PendingEvent, out: DataView, off: number): void {
  out.setUint32(off, e.type, true);
  out.setUint32(off + 4, DRM_EVENT_VBLANK_SIZE, true);
  out.setUint32(off + 8, (e.userData % 2 ** 32) >>> 0, true);
  out.setUint32(off + 12, Math.floor(e.userData / 2 ** 32) >>> 0, true);
  out.setUint32(off + 16, Math.floor(e.time / NSEC_PER_SEC) >>> 0, true);
  out.setUint32(off + 20, Math.floor((e.time % NSEC_PER_SEC) / NSEC_PER_USEC) >>> 0, true);
  out.setUint32(off + 24, e.sequence >>> 0, true);
  out.setUint32(off + 28, e.crtcId >>> 0, true);
}

/**
 * @internal `drm_read`: as many whole events as fit in `len` bytes, oldest first, each giving its
 * event space back. An event that does not fit stays queued (if it is the first, the read
 * returns 0 bytes). EAGAIN when none is queued.
 */
export function drmReadEvents(file: DrmFile, len: number): Uint8Array {
  if (file._events.length === 0) {
    throw new KernelError(
      "EAGAIN",
      "drm read: no event queued (a blocking read cannot sleep in this model: poll for POLLIN first)",
    );
  }
  const n = Math.min(file._events.length, Math.floor(len / DRM_EVENT_VBLANK_SIZE));
  const out = new Uint8Array(n * DRM_EVENT_VBLANK_SIZE);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const e = file._events.shift()!;
    encodeEvent(e, view, i * DRM_EVENT_VBLANK_SIZE);
    file._eventSpace += DRM_EVENT_VBLANK_SIZE;
    e.file = null;
  }
  return out;
}

/**
 * Decodes the bytes read(2) returned from a card fd into events (what libdrm's `drmHandleEvent`
 * does before calling the handlers). EINVAL when the bytes are not whole events.
 */
export function drmParseEvents(bytes: Uint8Array): DrmEventVblank[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: DrmEventVblank[] = [];
  let off = 0;
  while (off < bytes.length) {
    if (off + 8 > bytes.length)
      throw new KernelError("EINVAL", `drm events: ${bytes.length - off} stray bytes`);
    const type = view.getUint32(off, true);
    const length = view.getUint32(off + 4, true);
    if (length < DRM_EVENT_VBLANK_SIZE || off + length > bytes.length) {
      throw new KernelError("EINVAL", `drm events: event at ${off} has length ${length}`);
    }
    out.push({
      type,
      length,
      user_data: view.getUint32(off + 8, true) + view.getUint32(off + 12, true) * 2 ** 32,
      tv_sec: view.getUint32(off + 16, true),
      tv_usec: view.getUint32(off + 20, true),
      sequence: view.getUint32(off + 24, true),
      crtc_id: view.getUint32(off + 28, true),
    });
    off += length;
  }
  return out;
}
