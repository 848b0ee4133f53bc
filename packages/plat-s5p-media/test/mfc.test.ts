// The MFC: firmware from CMA kind "f", instance contexts in bank A (kind "a", port 0 / MFC_L),
// picture buffers in bank B (kind "b", port 1 / MFC_R), and V4L2 encoder/decoder nodes whose
// encode -> decode round trip is bit-exact.
import { TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_RDWR, type Process } from "@umm/kernel-process";
import { cmaRegionFind } from "@umm/mm-cma";
import { PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  V4L2_BUF_FLAG_KEYFRAME,
  V4L2_BUF_FLAG_PFRAME,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12M,
  VIDIOC_STREAMON,
  v4l2GFmt,
  v4l2MmapPlanes,
  v4l2QbufMmap,
  v4l2Querybuf,
  v4l2Reqbufs,
  v4l2SFmt,
} from "@umm/v4l2-videobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  MFC_CODED_BUF_SIZE,
  MFC_ENC_GOP_SIZE,
  mfcOf,
  testPatternFrame,
  UMMV_FRAME_I,
  UMMV_FRAME_P,
  ummvParseHeader,
} from "../src/index.js";
import { bootMedia, expectAllReturned, expectNoHazards, type MediaRig, sha256 } from "./helpers.js";
import { runDqbuf } from "./v4l2.js";

const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
const W = 320;
const H = 240;
const FRAMES = 10;

afterEach(expectNoHazards);

function mapAll(
  app: Process,
  fd: number,
  type: number,
  count: number,
  planes: number,
  prot: number,
): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < count; i++) {
    out.push(v4l2MmapPlanes(app, fd, v4l2Querybuf(app, fd, type, V4L2_MEMORY_MMAP, i, planes), prot));
  }
  return out;
}

function inRegion(r: MediaRig, name: string, paddr: number, size: number): boolean {
  const reg = cmaRegionFind(r.kernel, name)!;
  return paddr >= reg.base && paddr + size <= reg.base + reg.size;
}

async function encodeAll(r: MediaRig): Promise<{ bits: Uint8Array[]; flags: number[] }> {
  const mfc = mfcOf(r.dev("mfc"))!;
  const app = r.spawn("encoder");
  const fd = app.open(mfc.encoder!.vdev.path, O_RDWR);
  v4l2SFmt(app, fd, OUT, V4L2_PIX_FMT_NV12M, W, H);
  v4l2Reqbufs(app, fd, OUT, V4L2_MEMORY_MMAP, 2);
  v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_MMAP, 2);
  const raw = mapAll(app, fd, OUT, 2, 2, PROT_READ | PROT_WRITE);
  const coded = mapAll(app, fd, CAP, 2, 1, PROT_READ);
  const bits: Uint8Array[] = [];
  const flags: number[] = [];
  for (let n = 0; n < FRAMES; n++) {
    const i = n % 2;
    const f = testPatternFrame(W, H, n);
    app.memWrite(raw[i]![0]!, f.subarray(0, W * H));
    app.memWrite(raw[i]![1]!, f.subarray(W * H));
    v4l2QbufMmap(app, fd, OUT, i, 2, [W * H, (W * H) / 2]);
    v4l2QbufMmap(app, fd, CAP, i, 1);
    if (n === 0) {
      app.ioctl(fd, VIDIOC_STREAMON, OUT);
      app.ioctl(fd, VIDIOC_STREAMON, CAP);
    }
    const c = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_MMAP, 1);
    await runDqbuf(r.kernel, app, fd, OUT, V4L2_MEMORY_MMAP, 2);
    expect(c.sequence).toBe(n);
    bits.push(app.memRead(coded[c.index]![0]!, c.m.planes![0]!.bytesused));
    flags.push(c.flags & (V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_PFRAME));
  }
  // an instance's context buffer lives in bank A, its reference picture in bank B
  const live = [...mfc.bufs];
  expect(live.filter((b) => b.what === "context").every((b) => inRegion(r, "mfc_b1", b.paddr, b.size))).toBe(
    true,
  );
  expect(live.filter((b) => b.what === "dpb").every((b) => inRegion(r, "mfc_b2", b.paddr, b.size))).toBe(
    true,
  );
  expect(live.filter((b) => b.what === "dpb").length).toBe(1);
  app.exit(0);
  return { bits, flags };
}

describe("MFC", () => {
  it("probe: firmware in kind f (mfc_fw) loaded by the CPU, cleaned by the map, booted through port 0", () => {
    const r = bootMedia({ devices: ["mfc"] });
    const mfc = mfcOf(r.dev("mfc"))!;
    expect(mfc.hw.running).toBe(true);
    expect(mfc.sources).toEqual({ f: "map", a: "map", b: "map" });
    expect(inRegion(r, "mfc_fw", mfc.fw!.paddr, mfc.fw!.size)).toBe(true);
    expect(mfc.fw!.daddr).toBeGreaterThanOrEqual(0x20000000); // an IOVA of the MFC's domain
    expect(r.masters.get("mfc")!.ports[0]!.bytesRead).toBeGreaterThanOrEqual(256 * 1024);
    expect(r.masters.get("mfc")!.ports[1]!.bytesRead).toBe(0);
    expect(mfc.decoder!.vdev.path).not.toBe(mfc.encoder!.vdev.path);
  });

  it("encode -> decode is bit-exact; golden checksums of the bitstream and the decoded frames", async () => {
    const r = bootMedia({ devices: ["mfc"] });
    const rec = new TraceRecorder(r.kernel.trace, { events: ["mfc_job"] });
    const [left, right] = r.masters.get("mfc")!.ports;
    const { bits, flags } = await encodeAll(r);
    expect(flags).toEqual(
      Array.from({ length: FRAMES }, (_, n) =>
        n % MFC_ENC_GOP_SIZE === 0 ? V4L2_BUF_FLAG_KEYFRAME : V4L2_BUF_FLAG_PFRAME,
      ),
    );
    expect(bits.map((b) => ummvParseHeader(b).type)).toEqual(
      Array.from({ length: FRAMES }, (_, n) => (n % MFC_ENC_GOP_SIZE === 0 ? UMMV_FRAME_I : UMMV_FRAME_P)),
    );

    const mfc = mfcOf(r.dev("mfc"))!;
    const app = r.spawn("decoder");
    const fd = app.open(mfc.decoder!.vdev.path, O_RDWR);
    expect(() => v4l2GFmt(app, fd, OUT)).toThrow(kerr("EINVAL")); // no compressed formats in the format table
    v4l2Reqbufs(app, fd, OUT, V4L2_MEMORY_MMAP, 2);
    const coded = mapAll(app, fd, OUT, 2, 1, PROT_READ | PROT_WRITE);
    expect(v4l2Querybuf(app, fd, OUT, V4L2_MEMORY_MMAP, 0, 1).m.planes![0]!.length).toBe(MFC_CODED_BUF_SIZE);
    app.ioctl(fd, VIDIOC_STREAMON, OUT);
    app.memWrite(coded[0]![0]!, bits[0]!);
    v4l2QbufMmap(app, fd, OUT, 0, 1, [bits[0]!.length]);
    // the header was parsed: the CAPTURE format is the stream's
    const f = v4l2GFmt(app, fd, CAP).fmt.pix_mp!;
    expect([f.width, f.height, f.pixelformat, f.num_planes]).toEqual([W, H, V4L2_PIX_FMT_NV12M, 2]);
    v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_MMAP, 2);
    const raw = mapAll(app, fd, CAP, 2, 2, PROT_READ);
    v4l2QbufMmap(app, fd, CAP, 0, 2);
    v4l2QbufMmap(app, fd, CAP, 1, 2);
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    const sums: string[] = [];
    for (let n = 0; n < FRAMES; n++) {
      if (n > 0) {
        app.memWrite(coded[n % 2]![0]!, bits[n]!);
        v4l2QbufMmap(app, fd, OUT, n % 2, 1, [bits[n]!.length]);
      }
      const d = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_MMAP, 2);
      await runDqbuf(r.kernel, app, fd, OUT, V4L2_MEMORY_MMAP, 1);
      expect(d.m.planes!.map((p) => p.bytesused)).toEqual([W * H, (W * H) / 2]);
      const y = app.memRead(raw[d.index]![0]!, W * H);
      const uv = app.memRead(raw[d.index]![1]!, (W * H) / 2);
      const want = testPatternFrame(W, H, n);
      expect(firstDiff(y, want.subarray(0, W * H))).toBe(-1);
      expect(firstDiff(uv, want.subarray(W * H))).toBe(-1);
      sums.push(sha256(new Uint8Array([...y, ...uv])));
      v4l2QbufMmap(app, fd, CAP, d.index, 2);
    }
    expect(sha256(new Uint8Array(bits.flatMap((b) => [...b])))).toMatchInlineSnapshot(
      `"3c7f22aad6236b00fc58a9597328ce61a9f45f6913a17129b961a8742a3cb677"`,
    );
    expect(sums[FRAMES - 1]).toMatchInlineSnapshot(
      `"ee24538809b3f8af0708af96bfcdbc328cc2d4e8b0f50f6a2fbeb564a9fb2cf7"`,
    );
    // every byte moved by DMA: encode + decode jobs, through both ports
    const jobs = rec.of("mfc_job").map((e) => e.data);
    expect(jobs.filter((j) => j.op === "encode").length).toBe(FRAMES);
    expect(jobs.filter((j) => j.op === "decode").map((j) => j.out_bytes)).toEqual(
      Array(FRAMES).fill((W * H * 3) / 2),
    );
    expect(left!.bytesWritten).toBeGreaterThan(0);
    expect(right!.bytesWritten).toBeGreaterThanOrEqual(2 * FRAMES * W * H); // luma + DPB
    await r.teardown();
    expectAllReturned(r);
  });

  it("a corrupt frame comes back ERROR and the next key frame decodes again", async () => {
    const r = bootMedia({ devices: ["mfc"] });
    const { bits } = await encodeAll(r);
    const mfc = mfcOf(r.dev("mfc"))!;
    const app = r.spawn("decoder");
    const fd = app.open(mfc.decoder!.vdev.path, O_RDWR);
    v4l2Reqbufs(app, fd, OUT, V4L2_MEMORY_MMAP, 1);
    const coded = mapAll(app, fd, OUT, 1, 1, PROT_READ | PROT_WRITE);
    app.ioctl(fd, VIDIOC_STREAMON, OUT);
    const bad = bits[1]!.slice();
    bad[40]! ^= 0xff;
    app.memWrite(coded[0]![0]!, bits[0]!);
    v4l2QbufMmap(app, fd, OUT, 0, 1, [bits[0]!.length]);
    v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_MMAP, 1);
    v4l2QbufMmap(app, fd, CAP, 0, 2);
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    const results: number[] = [];
    for (const b of [bad, bits[8]!]) {
      const ok = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_MMAP, 2);
      results.push(ok.flags & 0x40); // V4L2_BUF_FLAG_ERROR
      await runDqbuf(r.kernel, app, fd, OUT, V4L2_MEMORY_MMAP, 1);
      app.memWrite(coded[0]![0]!, b);
      v4l2QbufMmap(app, fd, OUT, 0, 1, [b.length]);
      v4l2QbufMmap(app, fd, CAP, 0, 2);
    }
    const last = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_MMAP, 2);
    results.push(last.flags & 0x40);
    expect(results).toEqual([0, 0x40, 0]);
    await r.teardown();
    expectAllReturned(r);
  });
});
