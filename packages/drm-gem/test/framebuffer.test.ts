import { kerr } from "@umm/kernel-core/testing";
import { afterEach, describe, expect, it } from "vitest";
import {
  DRM_FORMAT_NV12,
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_GETRESOURCES,
  DRM_IOCTL_MODE_RMFB,
  DRM_MODE_FB_MODIFIERS,
  type DrmModeFbCmd2,
  fourccCode,
} from "../src/index.js";
import { addFb, boot, card, createDumb, drmFileAt, expectClean, openCard } from "./helpers.js";

afterEach(expectClean);

describe("framebuffers (ADDFB2 / RMFB)", () => {
  it("ADDFB2 validation: each rejected call names the field, uses DRM's errno and changes nothing", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const { proc, fd } = openCard(r, ddev);
    const d = createDumb(proc, fd, 64, 32, 32); // pitch 256, 8 KiB
    const small = createDumb(proc, fd, 16, 16, 32); // 1 KiB → 4 KiB object
    const obj = drmFileAt(proc, fd).objectOf(d.handle)!;
    const refs = obj.refcount;
    const base: DrmModeFbCmd2 = {
      fb_id: 0,
      width: 64,
      height: 32,
      pixel_format: DRM_FORMAT_XRGB8888,
      handles: [d.handle],
      pitches: [256],
      offsets: [0],
    };
    const add = (x: Partial<DrmModeFbCmd2>) => () => proc.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, { ...base, ...x });
    expect(add({ pixel_format: fourccCode("ZZ99") })).toThrow(kerr("EINVAL", /bad framebuffer format ZZ99/));
    expect(add({ pixel_format: 0 })).toThrow(kerr("EINVAL", /format/));
    expect(add({ width: 0 })).toThrow(kerr("EINVAL", /width 0/));
    expect(add({ height: 0 })).toThrow(kerr("EINVAL", /height 0/));
    expect(add({ width: 5000 })).toThrow(kerr("EINVAL", /width 5000, should be/));
    expect(add({ flags: 0x10 })).toThrow(kerr("EINVAL", /flags 0x10/));
    expect(add({ flags: DRM_MODE_FB_MODIFIERS })).toThrow(kerr("EINVAL", /modifiers/));
    expect(add({ modifier: [5] })).toThrow(kerr("EINVAL", /modifier\[0\]/));
    expect(add({ modifier: [0, 7] })).toThrow(kerr("EINVAL", /modifier\[1\] .*unused plane/));
    expect(add({ handles: [0] })).toThrow(kerr("EINVAL", /handles\[0\] is 0/));
    expect(add({ handles: [42] })).toThrow(kerr("ENOENT", /handles\[0\] 42/));
    expect(add({ pitches: [255] })).toThrow(kerr("EINVAL", /pitches\[0\] 255 is below 256/));
    expect(add({ offsets: [4096] })).toThrow(kerr("EINVAL", /offsets\[0\] 0x1000 .* beyond GEM object/));
    expect(add({ pitches: [512] })).toThrow(kerr("EINVAL", /beyond GEM object/));
    expect(add({ handles: [small.handle] })).toThrow(kerr("EINVAL", /beyond GEM object/));
    expect(add({ pitches: [0x1000000], height: 300 })).toThrow(kerr("ERANGE", /pitches\[0\]/));
    expect(add({ pitches: [-4] as number[] })).toThrow(kerr("EINVAL", /pitches\[0\] -4/));
    expect(add({ handles: undefined as unknown as number[] })).toThrow(
      kerr("EINVAL", /handles must be an array/),
    );
    expect(() => proc.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, null)).toThrow(kerr("EFAULT"));
    // NV12: two planes, the chroma plane checked against its own object and offset
    const nv = (x: Partial<DrmModeFbCmd2>) => add({ pixel_format: DRM_FORMAT_NV12, ...x });
    expect(nv({ handles: [d.handle], pitches: [64, 64], offsets: [0, 2048] })).toThrow(
      kerr("EINVAL", /handles\[1\] is 0: no buffer object handle for plane 1/),
    );
    expect(nv({ handles: [d.handle, d.handle], pitches: [64, 32], offsets: [0, 2048] })).toThrow(
      kerr("EINVAL", /pitches\[1\] 32 is below 64/),
    );
    expect(nv({ handles: [d.handle, d.handle], pitches: [64, 64], offsets: [0, 7200] })).toThrow(
      kerr("EINVAL", /offsets\[1\] .* plane 1/),
    );
    expect(nv({ handles: [d.handle, 9], pitches: [64, 64], offsets: [0, 0] })).toThrow(
      kerr("ENOENT", /handles\[1\] 9/),
    );
    expect(ddev.fbCount).toBe(0);
    expect(obj.refcount).toBe(refs);
    // the same NV12 layouts that fit are accepted
    const ok = {
      ...base,
      pixel_format: DRM_FORMAT_NV12,
      handles: [d.handle, d.handle],
      pitches: [64, 64],
      offsets: [0, 2048],
    };
    proc.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, ok);
    expect(ok.fb_id).toBeGreaterThan(0);
    expect(obj.refcount).toBe(refs + 2); // one per plane
    proc.exit(0);
    expect(ddev.fbCount).toBe(0);
    expect(ddev.objectCount).toBe(0);
  });

  it("a framebuffer holds its objects after GEM_CLOSE; RMFB frees them; RMFB by another file or of an unknown id is ENOENT", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const a = openCard(r, ddev, "a");
    const b = openCard(r, ddev, "b");
    const d = createDumb(a.proc, a.fd, 64, 32);
    const fb = addFb(a.proc, a.fd, 64, 32, [d.handle], [d.pitch]);
    const events: string[] = [];
    r.kernel.trace.on(["drm_rmfb", "drm_gem_free"], (rec) => events.push(rec.name));
    a.proc.ioctl(a.fd, 0x40086409, { handle: d.handle }); // DRM_IOCTL_GEM_CLOSE
    expect(ddev.objectCount).toBe(1);
    expect(() => b.proc.ioctl(b.fd, DRM_IOCTL_MODE_RMFB, fb)).toThrow(
      kerr("ENOENT", /not created by this file/),
    );
    expect(() => a.proc.ioctl(a.fd, DRM_IOCTL_MODE_RMFB, 999)).toThrow(kerr("ENOENT", /999/));
    const res = { count_fbs: 4, count_crtcs: 0, count_connectors: 0, count_encoders: 0 } as Record<
      string,
      unknown
    >;
    a.proc.ioctl(a.fd, DRM_IOCTL_MODE_GETRESOURCES, res);
    expect(res.fb_id_ptr).toEqual([fb]);
    expect(a.proc.ioctl(a.fd, DRM_IOCTL_MODE_RMFB, fb)).toBe(0);
    expect(events).toEqual(["drm_rmfb", "drm_gem_free"]);
    expect(ddev.fbCount).toBe(0);
    expect(ddev.objectCount).toBe(0);
    // ids are reused lowest first
    const d2 = createDumb(a.proc, a.fd, 64, 32);
    expect(addFb(a.proc, a.fd, 64, 32, [d2.handle], [d2.pitch])).toBe(fb);
    a.proc.exit(0);
    b.proc.exit(0);
  });

  it("driver limits apply to the framebuffer size", () => {
    const r = boot();
    const { ddev } = card(r, "direct", { maxWidth: 128, maxHeight: 64, minWidth: 16 });
    const { proc, fd } = openCard(r, ddev);
    const d = createDumb(proc, fd, 256, 16);
    expect(() => addFb(proc, fd, 256, 16, [d.handle], [d.pitch])).toThrow(
      kerr("EINVAL", /width 256, should be >= 16 && <= 128/),
    );
    expect(() => addFb(proc, fd, 8, 16, [d.handle], [d.pitch])).toThrow(kerr("EINVAL", /width 8/));
    expect(addFb(proc, fd, 128, 16, [d.handle], [d.pitch])).toBeGreaterThan(0);
    proc.exit(0);
  });
});
