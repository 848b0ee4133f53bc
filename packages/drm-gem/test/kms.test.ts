import { dmaFenceIsSignaled, syncFileGetFence } from "@umm/dma-buf";
import { kerr } from "@umm/kernel-core/testing";
import { FD_CLOEXEC, O_NONBLOCK, POLLIN, POLLRDNORM } from "@umm/kernel-process";
import { afterEach, describe, expect, it } from "vitest";
import {
  DRM_CAP_CRTC_IN_VBLANK_EVENT,
  DRM_CAP_DUMB_BUFFER,
  DRM_CAP_PRIME,
  DRM_EVENT_FLIP_COMPLETE,
  DRM_EVENT_VBLANK,
  DRM_EVENT_VBLANK_SIZE,
  DRM_FORMAT_NV12,
  DRM_FORMAT_RGB565,
  DRM_FORMAT_YUYV,
  DRM_IOCTL_DROP_MASTER,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_GET_CAP,
  DRM_IOCTL_MODE_GETCONNECTOR,
  DRM_IOCTL_MODE_GETCRTC,
  DRM_IOCTL_MODE_GETENCODER,
  DRM_IOCTL_MODE_GETPLANE,
  DRM_IOCTL_MODE_GETPLANERESOURCES,
  DRM_IOCTL_MODE_GETRESOURCES,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_RMFB,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_SET_MASTER,
  DRM_IOCTL_VERSION,
  DRM_IOCTL_WAIT_VBLANK,
  DRM_MODE_PAGE_FLIP_ASYNC,
  DRM_MODE_PAGE_FLIP_EVENT,
  DRM_MODE_PAGE_FLIP_OUT_FENCE,
  DRM_MODE_PAGE_FLIP_TARGET_RELATIVE,
  DRM_VBLANK_EVENT,
  DRM_VBLANK_NEXTONMISS,
  DRM_VBLANK_RELATIVE,
  DRM_VBLANK_SECONDARY,
  DRM_VBLANK_SIGNAL,
  type DrmDevice,
  type DrmModeGetConnector,
  type DrmWaitVblank,
  drmDebugRmfbKeepsScanout,
  drmModeFramePeriod,
  drmParseEvents,
  drmSimpleMode,
} from "../src/index.js";
import {
  addFb,
  boot,
  card,
  createDumb,
  drmFileAt,
  expectClean,
  flip,
  mapDumb,
  openCard,
  packRows,
  pattern,
  type Rig,
  SMALL_MODE,
  setCrtc,
} from "./helpers.js";

afterEach(expectClean);

const PERIOD = drmModeFramePeriod(SMALL_MODE);
const vbl = (k: number, on = 0) => on + Math.round(k * PERIOD);

/** A dumb XRGB8888 framebuffer of the small mode filled with `pattern(seed)`; returns ids and bytes. */
function dumbFb(
  r: Rig,
  ddev: DrmDevice,
  p: { proc: import("@umm/kernel-process").Process; fd: number },
  seed: number,
) {
  void r;
  void ddev;
  const d = createDumb(p.proc, p.fd, SMALL_MODE.hdisplay, SMALL_MODE.vdisplay, 32);
  const va = mapDumb(p.proc, p.fd, d.handle, d.size);
  const bytes = pattern(d.size, seed);
  p.proc.memWrite(va, bytes);
  const fb = addFb(p.proc, p.fd, SMALL_MODE.hdisplay, SMALL_MODE.vdisplay, [d.handle], [d.pitch]);
  return { handle: d.handle, fb, va, size: d.size, bytes, pitch: d.pitch };
}

describe("KMS: modeset, flips, vblank", () => {
  for (const kind of ["direct", "sysmmu"] as const) {
    it(`${kind}: SETCRTC of an off CRTC applies at once; the display reads the exact bytes at the first vblank`, async () => {
      const r = boot();
      const { ddev, display } = card(r, kind);
      const p = openCard(r, ddev);
      const a = dumbFb(r, ddev, p, 1);
      expect(setCrtc(p.proc, p.fd, ddev, a.fb)).toBe(0);
      expect(display.events).toEqual(["enable 64x32"]);
      expect(ddev.crtc.state.fb?.id).toBe(a.fb);
      await r.kernel.clock.runUntilIdle();
      expect(r.kernel.clock.now()).toBe(vbl(1));
      expect(display.frames).toBe(1);
      expect(display.last!.fb).toBe(a.fb);
      expect(display.last!.seq).toBe(1);
      expect(Buffer.from(display.last!.planes[0]!).equals(Buffer.from(a.bytes))).toBe(true);
      p.proc.exit(0);
      await r.kernel.clock.runUntilIdle();
      expect(display.events).toEqual(["enable 64x32", "disable"]);
      expect(ddev.objectCount).toBe(0);
      expect(ddev.fbCount).toBe(0);
    });
  }

  it("page flips complete at successive vblanks in order: event, out-fence and scanout; the old fb is held until then", async () => {
    const r = boot();
    const { ddev, display } = card(r, "sysmmu");
    const p = openCard(r, ddev);
    const fbs = [dumbFb(r, ddev, p, 1), dumbFb(r, ddev, p, 2), dumbFb(r, ddev, p, 3)];
    setCrtc(p.proc, p.fd, ddev, fbs[0]!.fb);
    await r.kernel.clock.runUntilIdle();
    const fences: { seqno: number; ts: number }[] = [];
    r.kernel.trace.on("dma_fence_signaled", (rec) => {
      if (rec.data.context === ddev.crtc._fenceContext) fences.push({ seqno: rec.data.seqno, ts: rec.ts });
    });
    const flips: number[] = [];
    r.kernel.trace.on("drm_page_flip", (rec) => flips.push(rec.data.target));
    for (let i = 1; i <= 4; i++) {
      const next = fbs[i % 3]!;
      flip(p.proc, p.fd, ddev, next.fb, DRM_MODE_PAGE_FLIP_EVENT, 1000 + i);
      expect(() => flip(p.proc, p.fd, ddev, next.fb)).toThrow(kerr("EBUSY", /pending/));
      const [rev] = await r.kernel.clock.runUntil(p.proc.poll([{ fd: p.fd, events: POLLIN }]));
      expect(rev).toBe(POLLIN);
      const k = i + 1;
      expect(r.kernel.clock.now()).toBe(vbl(k));
      const evs = drmParseEvents(p.proc.read(p.fd, 4096));
      expect(evs).toEqual([
        {
          type: DRM_EVENT_FLIP_COMPLETE,
          length: DRM_EVENT_VBLANK_SIZE,
          user_data: 1000 + i,
          tv_sec: 0,
          tv_usec: Math.floor(vbl(k) / 1000),
          sequence: k,
          crtc_id: ddev.crtc.id,
        },
      ]);
      expect(display.last!.fb).toBe(next.fb);
      expect(Buffer.from(display.last!.planes[0]!).equals(Buffer.from(next.bytes))).toBe(true);
    }
    expect(fences).toEqual([1, 2, 3, 4].map((s) => ({ seqno: s, ts: vbl(s + 1) })));
    expect(flips).toEqual([2, 3, 4, 5]);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    expect(ddev.objectCount).toBe(0);
  });

  it("DRM_MODE_PAGE_FLIP_OUT_FENCE: a sync_file fd (FD_CLOEXEC) that polls readable at the flip's vblank", async () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    const b = dumbFb(r, ddev, p, 2);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    await r.kernel.clock.runUntilIdle();
    const f = flip(p.proc, p.fd, ddev, b.fb, DRM_MODE_PAGE_FLIP_OUT_FENCE);
    expect(f.out_fence_fd).toBeGreaterThan(p.fd);
    expect(p.proc.getFdFlags(f.out_fence_fd!)).toBe(FD_CLOEXEC);
    const fence = r.kernel.withCurrent(p.proc, () => syncFileGetFence(r.kernel, f.out_fence_fd!))!;
    expect(fence.context).toBe(ddev.crtc._fenceContext);
    expect(dmaFenceIsSignaled(fence)).toBe(false);
    const [rev] = await r.kernel.clock.runUntil(p.proc.poll([{ fd: f.out_fence_fd!, events: POLLIN }]));
    expect(rev).toBe(POLLIN);
    expect(r.kernel.clock.now()).toBe(vbl(2));
    expect(fence.timestamp).toBe(vbl(2));
    expect(ddev.crtc.state.fb?.id).toBe(b.fb);
    // without the flag no fd is made
    expect(flip(p.proc, p.fd, ddev, a.fb).out_fence_fd).toBe(-1);
    p.proc.close(f.out_fence_fd!);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
  });

  it("a flipped-away framebuffer and its buffer stay until the flip completes, even after RMFB and GEM_CLOSE", async () => {
    const r = boot();
    const { ddev, display } = card(r, "direct");
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    const b = dumbFb(r, ddev, p, 2);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    await r.kernel.clock.runUntilIdle();
    p.proc.munmap(a.va, a.size);
    flip(p.proc, p.fd, ddev, b.fb);
    // remove every user reference to A while it is still on screen
    expect(p.proc.ioctl(p.fd, DRM_IOCTL_MODE_RMFB, a.fb)).toBe(0);
    p.proc.ioctl(p.fd, DRM_IOCTL_GEM_CLOSE, { handle: a.handle });
    expect(ddev.objectCount).toBe(2);
    expect(ddev.fbCount).toBe(2);
    const freed: number[] = [];
    r.kernel.trace.on("drm_gem_free", (rec) => freed.push(rec.ts));
    await r.kernel.clock.runUntilIdle();
    expect(freed).toEqual([vbl(2)]);
    expect(ddev.objectCount).toBe(1);
    expect(ddev.fbCount).toBe(1);
    expect(display.last!.fb).toBe(b.fb);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
  });

  it("RMFB of the framebuffer on screen turns the CRTC off at the next vblank (a blocking call)", async () => {
    const r = boot();
    const { ddev, display } = card(r, "direct");
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    await r.kernel.clock.runUntilIdle();
    const ret = p.proc.ioctl(p.fd, DRM_IOCTL_MODE_RMFB, a.fb) as Promise<number>;
    expect(ret).toBeInstanceOf(Promise);
    expect(ddev.fbCount).toBe(1); // the scanout still holds it
    expect(await r.kernel.clock.runUntil(ret)).toBe(0);
    expect(r.kernel.clock.now()).toBe(vbl(2));
    expect(display.events).toEqual(["enable 64x32", "disable"]);
    expect(ddev.crtc.state.active).toBe(false);
    expect(ddev.fbCount).toBe(0);
    expect(() => flip(p.proc, p.fd, ddev, a.fb)).toThrow(kerr("EBUSY", /off/));
    p.proc.exit(0);
  });

  it("drmDebugRmfbKeepsScanout: RMFB of the framebuffer on screen leaves it scanned out unreferenced; behind a SysMMU the freed buffer faults at the next vblank", async () => {
    const r = boot();
    const { ddev, display } = card(r, "sysmmu", {}, { vblankOffdelayMs: 1000 }); // scanning out
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    const b = dumbFb(r, ddev, p, 2);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    await r.kernel.clock.runFor(vbl(1) + 1000);
    expect(() => drmDebugRmfbKeepsScanout(ddev, -1)).toThrow(kerr("EINVAL", /count -1/));
    drmDebugRmfbKeepsScanout(ddev, 1);
    const warnings: string[] = [];
    r.kernel.trace.on("drm_warn", (e) => warnings.push(e.data.message));
    // the bug: no disable commit, the call does not block, the framebuffer is destroyed at once
    expect(p.proc.ioctl(p.fd, DRM_IOCTL_MODE_RMFB, a.fb)).toBe(0);
    expect(ddev.crtc.state.active).toBe(true);
    p.proc.munmap(a.va, a.size);
    p.proc.ioctl(p.fd, DRM_IOCTL_GEM_CLOSE, { handle: a.handle, pad: 0 }); // its memory goes
    expect(ddev.fbCount).toBe(1); // only b's
    const frames = display.frames;
    await r.kernel.clock.runFor(Math.round(PERIOD));
    expect(display.frames).toBe(frames); // the fetch faulted
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^display scanout of frame \d+: EFAULT: .*PAGE FAULT/);
    // a flip to another framebuffer ends it; nothing is released twice, b is shown
    flip(p.proc, p.fd, ddev, b.fb);
    await r.kernel.clock.runFor(Math.round(PERIOD) + 1000);
    expect(display.last?.fb).toBe(b.fb);
    expect(warnings).toHaveLength(1);
    // the knob was used up: this RMFB of the framebuffer on screen turns the CRTC off again
    const ret = p.proc.ioctl(p.fd, DRM_IOCTL_MODE_RMFB, b.fb);
    expect(ret).toBeInstanceOf(Promise);
    await r.kernel.clock.runUntil(ret as Promise<number>);
    expect(ddev.crtc.state.active).toBe(false);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    expect(ddev.objectCount).toBe(0);
    expect(ddev.fbCount).toBe(0);
  });

  it("closing the card while its framebuffer is on screen turns the CRTC off at the next vblank and frees everything", async () => {
    const r = boot();
    const { ddev, display } = card(r, "sysmmu");
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    await r.kernel.clock.runUntilIdle();
    p.proc.exit(0);
    expect(ddev.objectCount).toBe(1); // still scanned out
    expect(ddev.fileCount).toBe(0);
    await r.kernel.clock.runUntilIdle();
    expect(display.events.at(-1)).toBe("disable");
    expect(ddev.objectCount).toBe(0);
    expect(ddev.fbCount).toBe(0);
  });

  it("SETCRTC on a running CRTC is a blocking commit latched at the next vblank, after a pending flip", async () => {
    const r = boot();
    const { ddev, display } = card(r, "direct");
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    const b = dumbFb(r, ddev, p, 2);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    flip(p.proc, p.fd, ddev, b.fb);
    const ret = setCrtc(p.proc, p.fd, ddev, a.fb) as Promise<number>;
    expect(ret).toBeInstanceOf(Promise);
    let settledAt = -1;
    void ret.then(() => (settledAt = r.kernel.clock.now()));
    await r.kernel.clock.runUntilIdle();
    expect(settledAt).toBe(vbl(2));
    expect(display.history).toEqual([
      { fb: b.fb, seq: 1 },
      { fb: a.fb, seq: 2 },
    ]);
    // SETCRTC to the same state is a no-op
    expect(setCrtc(p.proc, p.fd, ddev, a.fb)).toBe(0);
    // turning off
    const off = p.proc.ioctl(p.fd, DRM_IOCTL_MODE_SETCRTC, {
      crtc_id: ddev.crtc.id,
      fb_id: 0,
      mode_valid: 0,
    });
    await r.kernel.clock.runUntil(off as Promise<number>);
    expect(ddev.crtc.state.active).toBe(false);
    expect(display.events).toEqual(["enable 64x32", "disable"]);
    p.proc.exit(0);
  });

  it("a mode change on a running CRTC re-enables the display and restarts vblank timing at the latch", async () => {
    const r = boot();
    const big = drmSimpleMode(64, 32, 30);
    const { ddev, display } = card(r, "direct", { modes: [SMALL_MODE, big] });
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    await r.kernel.clock.runUntil(setCrtc(p.proc, p.fd, ddev, a.fb, big) as Promise<number>);
    expect(display.events).toEqual(["enable 64x32", "disable", "enable 64x32"]);
    const t0 = r.kernel.clock.now();
    expect(t0).toBe(vbl(1));
    await r.kernel.clock.runUntilIdle();
    expect(r.kernel.clock.now()).toBe(t0 + Math.round(drmModeFramePeriod(big)));
    expect(ddev.crtc.vblankCount().seq).toBe(2);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
  });

  it("PAGE_FLIP errors: EINVAL flags/target/async/format, ENOENT crtc/fb, EBUSY off or pending, ENOSPC small fb, EACCES non-master", async () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const p = openCard(r, ddev);
    const other = openCard(r, ddev, "other");
    const a = dumbFb(r, ddev, p, 1);
    expect(() => flip(p.proc, p.fd, ddev, a.fb)).toThrow(kerr("EBUSY", /no framebuffer/));
    setCrtc(p.proc, p.fd, ddev, a.fb);
    const small = createDumb(p.proc, p.fd, 32, 32);
    const smallFb = addFb(p.proc, p.fd, 32, 32, [small.handle], [small.pitch]);
    const d16 = createDumb(p.proc, p.fd, 64, 32, 16);
    const fb16 = addFb(p.proc, p.fd, 64, 32, [d16.handle], [d16.pitch], [], DRM_FORMAT_RGB565);
    const f = (a2: object) => () =>
      p.proc.ioctl(p.fd, DRM_IOCTL_MODE_PAGE_FLIP, { crtc_id: ddev.crtc.id, fb_id: a.fb, flags: 0, ...a2 });
    expect(f({ flags: 0x80 })).toThrow(kerr("EINVAL", /flags/));
    expect(f({ sequence: 3 })).toThrow(kerr("EINVAL", /sequence/));
    expect(f({ flags: DRM_MODE_PAGE_FLIP_TARGET_RELATIVE })).toThrow(kerr("EINVAL", /page_flip_target/));
    expect(f({ flags: DRM_MODE_PAGE_FLIP_ASYNC })).toThrow(kerr("EINVAL", /async/));
    expect(f({ crtc_id: 999 })).toThrow(kerr("ENOENT", /crtc_id 999/));
    expect(f({ crtc_id: ddev.plane.id })).toThrow(kerr("ENOENT", /not a CRTC/));
    expect(f({ fb_id: 999 })).toThrow(kerr("ENOENT", /fb_id 999/));
    expect(f({ fb_id: smallFb })).toThrow(kerr("ENOSPC", /viewport/));
    expect(f({ fb_id: fb16 })).toThrow(kerr("EINVAL", /format/));
    expect(() => flip(other.proc, other.fd, ddev, a.fb)).toThrow(kerr("EACCES", /master/));
    flip(p.proc, p.fd, ddev, a.fb, DRM_MODE_PAGE_FLIP_EVENT);
    expect(f({ flags: DRM_MODE_PAGE_FLIP_EVENT })).toThrow(kerr("EBUSY"));
    await r.kernel.clock.runUntilIdle();
    expect(drmFileAt(p.proc, p.fd).eventCount).toBe(1); // the rejected flip reserved nothing
    p.proc.exit(0);
    other.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    expect(ddev.objectCount).toBe(0);
  });

  it("SETCRTC errors: ERANGE x, ENOENT crtc/fb/connector, EINVAL mode/connectors/format/-1, ENOSPC viewport; nothing changes", () => {
    const r = boot();
    const { ddev, display } = card(r, "direct", { display: undefined });
    void display;
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    const yuyv = createDumb(p.proc, p.fd, 64, 32, 16);
    const fbYuyv = addFb(p.proc, p.fd, 64, 32, [yuyv.handle], [yuyv.pitch], [], DRM_FORMAT_YUYV);
    const s = (x: object) => () =>
      p.proc.ioctl(p.fd, DRM_IOCTL_MODE_SETCRTC, {
        crtc_id: ddev.crtc.id,
        fb_id: a.fb,
        x: 0,
        y: 0,
        mode_valid: 1,
        mode: SMALL_MODE,
        set_connectors_ptr: [ddev.connector.id],
        ...x,
      });
    expect(s({ x: 0x10000 })).toThrow(kerr("ERANGE"));
    expect(s({ crtc_id: 77 })).toThrow(kerr("ENOENT", /crtc_id 77/));
    expect(s({ fb_id: 77 })).toThrow(kerr("ENOENT", /fb_id 77/));
    expect(s({ fb_id: -1 })).toThrow(kerr("EINVAL", /no current framebuffer/));
    expect(s({ mode: { ...SMALL_MODE, clock: 0 } })).toThrow(kerr("EINVAL", /clock/));
    expect(s({ mode: { ...SMALL_MODE, hsync_start: 10 } })).toThrow(kerr("EINVAL", /horizontal/));
    expect(s({ mode: { ...SMALL_MODE, flags: 16 } })).toThrow(kerr("EINVAL", /interlaced/));
    expect(s({ mode: undefined })).toThrow(kerr("EFAULT"));
    expect(s({ set_connectors_ptr: [] })).toThrow(kerr("EINVAL", /count_connectors is 0/));
    expect(s({ set_connectors_ptr: [ddev.crtc.id] })).toThrow(kerr("ENOENT", /not a connector/));
    expect(s({ mode_valid: 0 })).toThrow(kerr("EINVAL", /no mode or fb/));
    expect(s({ fb_id: fbYuyv })).toThrow(kerr("EINVAL", /cannot scan out format YUYV/));
    expect(s({ x: 1 })).toThrow(kerr("ENOSPC", /viewport/));
    expect(s({ mode: drmSimpleMode(128, 32) })).toThrow(kerr("ENOSPC"));
    expect(ddev.crtc.state.active).toBe(false);
    expect(ddev.fbCount).toBe(2);
    p.proc.exit(0);
  });

  it("the first opener is the master; others get EACCES for SETCRTC; SET_MASTER/DROP_MASTER rules", async () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const m = openCard(r, ddev, "compositor", 1000);
    const c = openCard(r, ddev, "client", 1000);
    const a = dumbFb(r, ddev, m, 1);
    expect(drmFileAt(m.proc, m.fd).isMaster).toBe(true);
    expect(() => setCrtc(c.proc, c.fd, ddev, a.fb)).toThrow(kerr("EACCES", /SETCRTC/));
    // the permission check comes first (drm_setmaster_ioctl): a client that may not be master
    // hears EACCES even while another file is master (found by tools/fuzz's catalogue)
    expect(() => c.proc.ioctl(c.fd, DRM_IOCTL_SET_MASTER)).toThrow(kerr("EACCES"));
    expect(m.proc.ioctl(m.fd, DRM_IOCTL_SET_MASTER)).toBe(0); // the master itself: 0
    const su = openCard(r, ddev, "root-client", 0);
    expect(() => su.proc.ioctl(su.fd, DRM_IOCTL_SET_MASTER)).toThrow(kerr("EBUSY")); // root: busy
    su.proc.exit(0);
    expect(() => c.proc.ioctl(c.fd, DRM_IOCTL_DROP_MASTER)).toThrow(kerr("EACCES"));
    expect(m.proc.ioctl(m.fd, DRM_IOCTL_DROP_MASTER)).toBe(0);
    expect(() => setCrtc(m.proc, m.fd, ddev, a.fb)).toThrow(kerr("EACCES"));
    // a non-root client that was never master may not take over
    expect(() => c.proc.ioctl(c.fd, DRM_IOCTL_SET_MASTER)).toThrow(kerr("EACCES"));
    expect(m.proc.ioctl(m.fd, DRM_IOCTL_SET_MASTER)).toBe(0);
    expect(setCrtc(m.proc, m.fd, ddev, a.fb)).toBe(0);
    // any client may use the master's framebuffer ids in queries
    const res = { count_fbs: 0, count_crtcs: 1, count_connectors: 1, count_encoders: 1 } as Record<
      string,
      unknown
    >;
    c.proc.ioctl(c.fd, DRM_IOCTL_MODE_GETRESOURCES, res);
    expect(res).toMatchObject({
      count_fbs: 0,
      crtc_id_ptr: [ddev.crtc.id],
      connector_id_ptr: [ddev.connector.id],
    });
    m.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    const root = openCard(r, ddev, "root", 0);
    expect(drmFileAt(root.proc, root.fd).isMaster).toBe(true); // no master left: the next opener
    c.proc.exit(0);
    root.proc.exit(0);
  });

  it("WAIT_VBLANK: relative waits block until the count, events arrive as DRM_EVENT_VBLANK, NEXTONMISS, errors", async () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const p = openCard(r, ddev);
    const w = (x: Partial<DrmWaitVblank>): DrmWaitVblank => ({
      type: DRM_VBLANK_RELATIVE,
      sequence: 0,
      ...x,
    });
    expect(() => p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, w({}))).toThrow(kerr("EINVAL", /off/));
    const a = dumbFb(r, ddev, p, 1);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    const q = w({});
    expect(p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, q)).toBe(0);
    expect(q).toMatchObject({ sequence: 0, tval_sec: 0, tval_usec: 0 });
    const two = w({ sequence: 2 });
    await r.kernel.clock.runUntil(p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, two) as Promise<number>);
    expect(r.kernel.clock.now()).toBe(vbl(2));
    expect(two).toMatchObject({ type: 0, sequence: 2, tval_usec: Math.floor(vbl(2) / 1000) });
    // an event three vblanks ahead, and one for a count that passed
    const ev = w({ type: DRM_VBLANK_RELATIVE | DRM_VBLANK_EVENT, sequence: 3, signal: 77 });
    p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, ev);
    expect(ev.sequence).toBe(5);
    const past = w({ type: DRM_VBLANK_EVENT, sequence: 1, signal: 78 });
    p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, past);
    const now = drmParseEvents(p.proc.read(p.fd, 64));
    expect(now).toMatchObject([{ type: DRM_EVENT_VBLANK, user_data: 78, sequence: 2 }]);
    await r.kernel.clock.runUntilIdle();
    expect(drmParseEvents(p.proc.read(p.fd, 64))).toMatchObject([
      {
        type: DRM_EVENT_VBLANK,
        user_data: 77,
        sequence: 5,
        tv_usec: Math.floor(vbl(5) / 1000),
        crtc_id: ddev.crtc.id,
      },
    ]);
    // NEXTONMISS: an absolute target in the past becomes the next vblank
    const miss = w({ type: DRM_VBLANK_NEXTONMISS, sequence: 1 });
    await r.kernel.clock.runUntil(p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, miss) as Promise<number>);
    expect(miss.sequence).toBe(6);
    expect(() => p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, w({ type: DRM_VBLANK_SIGNAL }))).toThrow(
      kerr("EINVAL", /SIGNAL/),
    );
    expect(() => p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, w({ type: DRM_VBLANK_SECONDARY }))).toThrow(
      kerr("EINVAL", /index 1/),
    );
    expect(() => p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, w({ type: 0x100 }))).toThrow(
      kerr("EINVAL", /unknown bits/),
    );
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
  });

  it("events: read returns whole events only, gives the event space back; EAGAIN when none; poll reports POLLIN", async () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    p.proc.setFileFlags(p.fd, O_NONBLOCK);
    expect(() => p.proc.read(p.fd, 64)).toThrow(kerr("EAGAIN"));
    for (let i = 0; i < 3; i++) {
      p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, {
        type: DRM_VBLANK_RELATIVE | DRM_VBLANK_EVENT,
        sequence: 1,
        signal: i,
      });
    }
    await r.kernel.clock.runUntilIdle();
    const [rev] = await p.proc.poll([{ fd: p.fd, events: POLLIN | POLLRDNORM }], 0);
    expect(rev).toBe(POLLIN | POLLRDNORM);
    expect(p.proc.read(p.fd, 31).length).toBe(0); // the first event does not fit
    expect(drmParseEvents(p.proc.read(p.fd, 70)).map((e) => e.user_data)).toEqual([0, 1]);
    expect(drmParseEvents(p.proc.read(p.fd, 4096)).map((e) => e.user_data)).toEqual([2]);
    // 4096 bytes of event space: 128 unread events, then ENOMEM
    for (let i = 0; i < 128; i++) {
      p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, {
        type: DRM_VBLANK_RELATIVE | DRM_VBLANK_EVENT,
        sequence: 1,
      });
    }
    expect(() =>
      p.proc.ioctl(p.fd, DRM_IOCTL_WAIT_VBLANK, {
        type: DRM_VBLANK_RELATIVE | DRM_VBLANK_EVENT,
        sequence: 1,
      }),
    ).toThrow(kerr("ENOMEM", /event space/));
    await r.kernel.clock.runUntilIdle();
    expect(p.proc.read(p.fd, 8192).length).toBe(128 * 32);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
  });

  it("the vblank interrupt runs only while needed, plus the off delay (runUntilIdle returns)", async () => {
    const r = boot();
    const { ddev, display } = card(r, "direct", {}, { vblankOffdelayMs: 100 });
    const p = openCard(r, ddev);
    const a = dumbFb(r, ddev, p, 1);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    await r.kernel.clock.runUntilIdle();
    // the first frame at vblank 1, then 100 ms more of vblanks: 7 in all
    expect(display.frames).toBe(1 + Math.floor(100e6 / PERIOD));
    expect(ddev.crtc.vblankEnabled).toBe(false);
    // the count stays exact while the interrupt is off
    await r.kernel.clock.runFor(1e9);
    const now = r.kernel.clock.now();
    expect(ddev.crtc.vblankCount().seq).toBe(Math.floor(now / PERIOD));
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
  });

  it("NV12 with one handle and offsets, and with two handles: both planes scanned out byte-exact", async () => {
    const r = boot();
    const { ddev, display } = card(r, "sysmmu");
    const p = openCard(r, ddev);
    const W = SMALL_MODE.hdisplay;
    const H = SMALL_MODE.vdisplay;
    // one object, luma at 0 with pitch 128, chroma at offset 8192 with pitch 96
    const one = createDumb(p.proc, p.fd, 64, 64, 32); // 16 KiB
    const va = mapDumb(p.proc, p.fd, one.handle, one.size);
    const bytes = pattern(one.size, 9);
    p.proc.memWrite(va, bytes);
    const fb1 = addFb(p.proc, p.fd, W, H, [one.handle, one.handle], [128, 96], [0, 8192], DRM_FORMAT_NV12);
    setCrtc(p.proc, p.fd, ddev, fb1);
    await r.kernel.clock.runUntilIdle();
    expect(display.last!.planes[0]).toEqual(packRows(bytes, 128, W, H));
    expect(display.last!.planes[1]).toEqual(packRows(bytes, 96, W, H / 2, 8192));
    // two objects
    const y = createDumb(p.proc, p.fd, W, H, 8);
    const c = createDumb(p.proc, p.fd, W, H / 2, 8);
    const vy = mapDumb(p.proc, p.fd, y.handle, y.size);
    const vc = mapDumb(p.proc, p.fd, c.handle, c.size);
    const by = pattern(y.size, 10);
    const bc = pattern(c.size, 11);
    p.proc.memWrite(vy, by);
    p.proc.memWrite(vc, bc);
    const fb2 = addFb(p.proc, p.fd, W, H, [y.handle, c.handle], [y.pitch, c.pitch], [0, 0], DRM_FORMAT_NV12);
    flip(p.proc, p.fd, ddev, fb2);
    await r.kernel.clock.runUntilIdle();
    expect(display.last!.fb).toBe(fb2);
    expect(display.last!.planes[0]).toEqual(by.subarray(0, W * H));
    expect(display.last!.planes[1]).toEqual(bc.subarray(0, (W * H) / 2));
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    expect(ddev.objectCount).toBe(0);
  });

  it("queries: VERSION, GET_CAP, GETCONNECTOR modes, GETENCODER, GETPLANE formats, GETCRTC", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const p = openCard(r, ddev);
    const v = {} as Record<string, unknown>;
    p.proc.ioctl(p.fd, DRM_IOCTL_VERSION, v);
    expect(v).toMatchObject({ name: "exynos", version_major: 1 });
    const cap = (c: number) => {
      const x = { capability: c, value: -1 };
      p.proc.ioctl(p.fd, DRM_IOCTL_GET_CAP, x);
      return x.value;
    };
    expect(cap(DRM_CAP_DUMB_BUFFER)).toBe(1);
    expect(cap(DRM_CAP_PRIME)).toBe(3);
    expect(cap(DRM_CAP_CRTC_IN_VBLANK_EVENT)).toBe(1);
    expect(() => cap(0x999)).toThrow(kerr("EINVAL", /capability/));
    const conn: DrmModeGetConnector = { connector_id: ddev.connector.id, count_modes: 0, count_encoders: 0 };
    p.proc.ioctl(p.fd, DRM_IOCTL_MODE_GETCONNECTOR, conn);
    expect(conn).toMatchObject({ count_modes: 1, connection: 1, encoder_id: ddev.encoder.id });
    expect(conn.modes_ptr).toBeUndefined();
    p.proc.ioctl(p.fd, DRM_IOCTL_MODE_GETCONNECTOR, conn);
    expect(conn.modes_ptr).toEqual([SMALL_MODE]);
    const enc = { encoder_id: ddev.encoder.id } as Record<string, unknown>;
    p.proc.ioctl(p.fd, DRM_IOCTL_MODE_GETENCODER, enc);
    expect(enc).toMatchObject({ possible_crtcs: 1, crtc_id: 0 });
    const pr = { count_planes: 1 } as Record<string, unknown>;
    p.proc.ioctl(p.fd, DRM_IOCTL_MODE_GETPLANERESOURCES, pr);
    expect(pr.plane_id_ptr).toEqual([ddev.plane.id]);
    const pl = { plane_id: ddev.plane.id, count_format_types: 10 } as Record<string, unknown>;
    p.proc.ioctl(p.fd, DRM_IOCTL_MODE_GETPLANE, pl);
    expect(pl.count_format_types).toBe(5);
    const a = dumbFb(r, ddev, p, 1);
    setCrtc(p.proc, p.fd, ddev, a.fb);
    const c = { crtc_id: ddev.crtc.id } as Record<string, unknown>;
    p.proc.ioctl(p.fd, DRM_IOCTL_MODE_GETCRTC, c);
    expect(c).toMatchObject({ fb_id: a.fb, mode_valid: 1, mode: SMALL_MODE, x: 0, y: 0 });
    expect(() => p.proc.ioctl(p.fd, DRM_IOCTL_MODE_GETCRTC, { crtc_id: 12345 })).toThrow(kerr("ENOENT"));
    expect(() => p.proc.ioctl(p.fd, 0xc0106499, {})).toThrow(kerr("EINVAL", /not a DRM ioctl/));
    p.proc.exit(0);
  });
});
