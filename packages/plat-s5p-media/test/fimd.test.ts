// The FIMD display: a DRM device whose model reads the scanout frame by DMA at each vblank.
import {
  DRM_FORMAT_NV12,
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_MODE_1080P60,
  drmModeFramePeriod,
} from "@umm/drm-gem";
import { TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_RDWR, type Process } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import { fimdLastFrame, fimdOf, testPatternFrame } from "../src/index.js";
import { bootMedia, expectAllReturned, expectNoHazards, type MediaRig, sha256 } from "./helpers.js";

afterEach(expectNoHazards);

const W = 1920;
const H = 1080;

/** A dumb buffer `width` x `height` at `bpp`, filled by the process with `fill` through its WC mapping. */
function dumb(app: Process, fd: number, width: number, height: number, bpp: number, fill: Uint8Array) {
  const d = { width, height, bpp, handle: 0, pitch: 0, size: 0 };
  app.ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, d);
  const m = { handle: d.handle, offset: 0 };
  app.ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, m);
  const va = app.mmap({
    fd,
    length: d.size,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_SHARED,
    offset: m.offset,
  });
  app.memWrite(va, fill);
  return d;
}

function show(r: MediaRig, app: Process, fd: number, fb: number): number | Promise<number> {
  const drm = fimdOf(r.dev("fimd0"))!.drm;
  return app.ioctl(fd, DRM_IOCTL_MODE_SETCRTC, {
    crtc_id: drm.crtc.id,
    fb_id: fb,
    x: 0,
    y: 0,
    mode_valid: 1,
    mode: DRM_MODE_1080P60,
    set_connectors_ptr: [drm.connector.id],
  });
}

function xrgbPattern(width: number, height: number, pitch: number): Uint8Array {
  const b = new Uint8Array(pitch * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = y * pitch + x * 4;
      b[o] = x & 255;
      b[o + 1] = y & 255;
      b[o + 2] = (x ^ y) & 255;
      b[o + 3] = 0xff;
    }
  return b;
}

describe("FIMD", () => {
  it("registers the exynos DRM device with one 1920x1080@60 mode", () => {
    const r = bootMedia({ devices: ["fimd0"] });
    const f = fimdOf(r.dev("fimd0"))!;
    expect(f.drm.path).toBe("/dev/dri/card0");
    expect(f.drm.connector.modes.map((m) => [m.hdisplay, m.vdisplay, m.vrefresh])).toEqual([
      [1920, 1080, 60],
    ]);
    expect(fimdLastFrame(r.dev("fimd0"))).toBeNull();
  });

  it("golden: at each vblank the FIMD reads the XRGB8888 framebuffer through its SysMMU and keeps it", async () => {
    const r = bootMedia({ devices: ["fimd0"] });
    const rec = new TraceRecorder(r.kernel.trace, { events: ["fimd_scanout", "dma_xfer"] });
    const app = r.spawn("compositor");
    const fd = app.open(fimdOf(r.dev("fimd0"))!.drm.path, O_RDWR);
    const pix = xrgbPattern(W, H, W * 4);
    const d = dumb(app, fd, W, H, 32, pix);
    const fb = {
      fb_id: 0,
      width: W,
      height: H,
      pixel_format: DRM_FORMAT_XRGB8888,
      handles: [d.handle],
      pitches: [d.pitch],
    };
    app.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, fb);
    show(r, app, fd, fb.fb_id);
    await r.kernel.clock.runFor(3 * drmModeFramePeriod(DRM_MODE_1080P60) + 1000);
    const last = fimdLastFrame(r.dev("fimd0"))!;
    expect(last).toMatchObject({ format: DRM_FORMAT_XRGB8888, width: W, height: H, fb: fb.fb_id });
    expect(firstDiff(last.data, pix)).toBe(-1);
    expect(sha256(last.data)).toMatchInlineSnapshot(
      `"96a54c28df14935f8d96fab384a6e6b5695e2c9f8f5292628e461a1ae64e21e9"`,
    );
    const scans = rec.of("fimd_scanout");
    expect(scans.length).toBeGreaterThanOrEqual(3);
    expect(scans.every((e) => e.data.bytes === W * H * 4)).toBe(true);
    const reads = rec.of("dma_xfer").filter((e) => e.data.device === "fimd0");
    expect(reads.every((e) => e.data.dir === "read" && e.data.daddr >= 0x20000000)).toBe(true);
    app.exit(0);
    await r.teardown();
    expectAllReturned(r);
  });

  it("reads line by line when the pitch is wider than the line, and scans out NV12", async () => {
    const r = bootMedia({ devices: ["fimd0"] });
    const app = r.spawn("compositor");
    const fd = app.open(fimdOf(r.dev("fimd0"))!.drm.path, O_RDWR);
    // a 2048-pixel-wide buffer: each displayed line is 7680 of its 8192 bytes
    const wide = xrgbPattern(2048, H, 2048 * 4);
    const d = dumb(app, fd, 2048, H, 32, wide);
    const fb = {
      fb_id: 0,
      width: 2048,
      height: H,
      pixel_format: DRM_FORMAT_XRGB8888,
      handles: [d.handle],
      pitches: [d.pitch],
    };
    app.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, fb);
    show(r, app, fd, fb.fb_id);
    await r.kernel.clock.runFor(drmModeFramePeriod(DRM_MODE_1080P60) + 1000);
    expect(firstDiff(fimdLastFrame(r.dev("fimd0"))!.data, xrgbPattern(W, H, W * 4))).toBe(-1);
    // NV12: the test pattern, one object for both planes
    const nv12 = testPatternFrame(W, H, 4);
    const n = dumb(app, fd, W, (H * 3) / 2, 8, nv12);
    const fb2 = {
      fb_id: 0,
      width: W,
      height: H,
      pixel_format: DRM_FORMAT_NV12,
      handles: [n.handle, n.handle],
      pitches: [W, W],
      offsets: [0, W * H],
    };
    app.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, fb2);
    await r.kernel.clock.runUntil(Promise.resolve(show(r, app, fd, fb2.fb_id)));
    await r.kernel.clock.runFor(drmModeFramePeriod(DRM_MODE_1080P60) + 1000);
    const last = fimdLastFrame(r.dev("fimd0"))!;
    expect(last.format).toBe(DRM_FORMAT_NV12);
    expect(firstDiff(last.data, nv12)).toBe(-1);
    app.exit(0);
    await r.teardown();
    expectAllReturned(r);
  });

  it("a DMA fault ends the fetch: the frame goes out black and the fault reaches the caller", () => {
    const r = bootMedia({ devices: ["fimd0"] });
    const hw = fimdOf(r.dev("fimd0"))!.hw;
    const frame = {
      crtc: 1,
      fb: 7,
      format: DRM_FORMAT_XRGB8888,
      width: 64,
      height: 2,
      planes: [{ daddr: 0x2000_0000, pitch: 256, rowBytes: 256, rows: 2 }],
      seq: 3,
      time: 1000,
    };
    // nothing is mapped at that D.V in the FIMD's domain: a SysMMU page fault
    expect(() => hw.scanout(frame)).toThrow(kerr("EFAULT", /PAGE FAULT/));
    const last = fimdLastFrame(r.dev("fimd0"))!;
    expect(last).toMatchObject({ format: DRM_FORMAT_XRGB8888, width: 64, height: 2, seq: 3, fb: 7 });
    expect(last.data).toEqual(new Uint8Array(512));
  });

  it("fimdLastFrame of a device without the FIMD driver is ENODEV", () => {
    const r = bootMedia({ devices: ["fimc1"] });
    expect(() => fimdLastFrame(r.dev("fimc1"))).toThrow(kerr("ENODEV"));
  });
});
