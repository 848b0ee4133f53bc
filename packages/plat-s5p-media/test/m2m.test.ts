// The FIMC mem-to-mem scaler through V4L2: NV12 in, XRGB8888 out, real pixel arithmetic by DMA.
import { TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_RDWR } from "@umm/kernel-process";
import { PROT_READ } from "@umm/mm-core";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  V4L2_PIX_FMT_XRGB32,
  VIDIOC_STREAMON,
  v4l2MmapPlanes,
  v4l2QbufMmap,
  v4l2Querybuf,
  v4l2Reqbufs,
  v4l2SFmt,
} from "@umm/v4l2-videobuf";
import { afterEach, describe, expect, it } from "vitest";
import { fimcOf, nv12ToXrgb, testPatternFrame } from "../src/index.js";
import { bootMedia, expectAllReturned, expectNoHazards, type MediaRig, sha256 } from "./helpers.js";
import { runDqbuf } from "./v4l2.js";

const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

afterEach(expectNoHazards);

/** Opens the scaler, sets the formats and maps one MMAP buffer per side (OUTPUT planes: 1 or 2). */
function scaler(r: MediaRig, w: number, h: number, dw: number, dh: number, fourcc = V4L2_PIX_FMT_NV12) {
  const app = r.spawn("scale");
  const fd = app.open(fimcOf(r.dev("fimc1"))!.path, O_RDWR);
  const planes = fourcc === V4L2_PIX_FMT_NV12M ? 2 : 1;
  v4l2SFmt(app, fd, OUT, fourcc, w, h);
  const cf = v4l2SFmt(app, fd, CAP, V4L2_PIX_FMT_XRGB32, dw, dh);
  expect(cf.fmt.pix_mp!.plane_fmt[0]).toEqual({ bytesperline: dw * 4, sizeimage: dw * dh * 4 });
  v4l2Reqbufs(app, fd, OUT, V4L2_MEMORY_MMAP, 1);
  v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_MMAP, 1);
  const inMaps = v4l2MmapPlanes(app, fd, v4l2Querybuf(app, fd, OUT, V4L2_MEMORY_MMAP, 0, planes));
  const outMap = v4l2MmapPlanes(app, fd, v4l2Querybuf(app, fd, CAP, V4L2_MEMORY_MMAP, 0, 1), PROT_READ)[0]!;
  return { app, fd, inMaps, outMap, planes };
}

/** Converts `frame` (NV12 w x h) on the FIMC to dw x dh; returns the XRGB bytes read back. */
async function scale(
  r: MediaRig,
  frame: Uint8Array,
  w: number,
  h: number,
  dw: number,
  dh: number,
  fourcc = V4L2_PIX_FMT_NV12,
) {
  const s = scaler(r, w, h, dw, dh, fourcc);
  if (s.planes === 1) s.app.memWrite(s.inMaps[0]!, frame);
  else {
    s.app.memWrite(s.inMaps[0]!, frame.subarray(0, w * h));
    s.app.memWrite(s.inMaps[1]!, frame.subarray(w * h));
  }
  const sizes = s.planes === 1 ? [frame.length] : [w * h, (w * h) / 2];
  v4l2QbufMmap(s.app, s.fd, OUT, 0, s.planes, sizes);
  v4l2QbufMmap(s.app, s.fd, CAP, 0, 1);
  s.app.ioctl(s.fd, VIDIOC_STREAMON, OUT);
  s.app.ioctl(s.fd, VIDIOC_STREAMON, CAP);
  const t0 = r.kernel.clock.now();
  const d = await runDqbuf(r.kernel, s.app, s.fd, CAP, V4L2_MEMORY_MMAP, 1);
  const o = await runDqbuf(r.kernel, s.app, s.fd, OUT, V4L2_MEMORY_MMAP, s.planes);
  expect(d.m.planes![0]!.bytesused).toBe(dw * dh * 4);
  expect([d.sequence, o.sequence]).toEqual([0, 0]);
  return { bytes: s.app.memRead(s.outMap, dw * dh * 4), ns: r.kernel.clock.now() - t0, s };
}

function reference(frame: Uint8Array, w: number, h: number, dw: number, dh: number): Uint8Array {
  const out = new Uint32Array(dw * dh);
  nv12ToXrgb(
    { y: frame, yPitch: w, uv: frame.subarray(w * h), uvPitch: w, width: w, height: h },
    { data: out, pitch: dw, width: dw, height: dh },
  );
  return new Uint8Array(out.buffer);
}

describe("FIMC mem-to-mem scaler", () => {
  it("golden: pattern frame 3 at 320x240, converted 1:1 and scaled down to 160x90, by DMA through its SysMMU", async () => {
    const r = bootMedia({ devices: ["fimc1"] });
    const rec = new TraceRecorder(r.kernel.trace, { events: ["fimc_m2m_job"] });
    const frame = testPatternFrame(320, 240, 3);
    const one = await scale(r, frame, 320, 240, 320, 240);
    expect(firstDiff(one.bytes, reference(frame, 320, 240, 320, 240))).toBe(-1);
    const down = await scale(r, frame, 320, 240, 160, 90);
    expect(firstDiff(down.bytes, reference(frame, 320, 240, 160, 90))).toBe(-1);
    expect([sha256(one.bytes), sha256(down.bytes)]).toMatchInlineSnapshot(`
      [
        "76d0008c880bdad8be3f44c5f431cdbf946f90a3ed540d4fc28da13af72a23e4",
        "85aac9dc3d6a60b6dab6e53f8404b7989c4f4d88043ff46e7b7be72c308c5667",
      ]
    `);
    // 320 * 240 pixels at 6.25 ns each
    expect(one.ns).toBeGreaterThanOrEqual(480_000);
    const jobs = rec.of("fimc_m2m_job").map((e) => e.data);
    expect(jobs.map((j) => [j.width, j.height])).toEqual([
      [320, 240],
      [160, 90],
    ]);
    expect(jobs.every((j) => j.src >= 0x20000000 && j.dst >= 0x20000000)).toBe(true);
    await r.teardown();
    expectAllReturned(r);
  });

  it("NV12M (two planes) in gives the same picture as NV12", async () => {
    const r = bootMedia({ devices: ["fimc1"] });
    const frame = testPatternFrame(320, 240, 9);
    const a = await scale(r, frame, 320, 240, 200, 150, V4L2_PIX_FMT_NV12M);
    expect(firstDiff(a.bytes, reference(frame, 320, 240, 200, 150))).toBe(-1);
    await r.teardown();
    expectAllReturned(r);
  });

  it("successive jobs stay exact when only part of the picture changes (the FIMC reuses unchanged lines)", async () => {
    const r = bootMedia({ devices: ["fimc1"] });
    const s = scaler(r, 320, 240, 320, 240);
    s.app.ioctl(s.fd, VIDIOC_STREAMON, OUT);
    s.app.ioctl(s.fd, VIDIOC_STREAMON, CAP);
    for (const n of [0, 1, 2, 40, 41]) {
      const frame = testPatternFrame(320, 240, n);
      s.app.memWrite(s.inMaps[0]!, frame);
      v4l2QbufMmap(s.app, s.fd, OUT, 0, 1, [frame.length]);
      v4l2QbufMmap(s.app, s.fd, CAP, 0, 1);
      await runDqbuf(r.kernel, s.app, s.fd, CAP, V4L2_MEMORY_MMAP, 1);
      await runDqbuf(r.kernel, s.app, s.fd, OUT, V4L2_MEMORY_MMAP, 1);
      expect(firstDiff(s.app.memRead(s.outMap, 320 * 240 * 4), reference(frame, 320, 240, 320, 240))).toBe(
        -1,
      );
    }
    await r.teardown();
    expectAllReturned(r);
  });

  it("STREAMON refuses sizes beyond the scaler's ratios with EINVAL", () => {
    const r = bootMedia({ devices: ["fimc1"] });
    const s = scaler(r, 1920, 1080, 64, 64);
    expect(() => s.app.ioctl(s.fd, VIDIOC_STREAMON, OUT)).toThrow(
      kerr("EINVAL", /scales down more than 1\/16/),
    );
    expect(() => s.app.ioctl(s.fd, VIDIOC_STREAMON, CAP)).toThrow(kerr("EINVAL", /1920x1080 -> 64x64/));
  });
});
