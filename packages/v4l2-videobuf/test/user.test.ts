// The user-space calls (src/user.ts) against the multi-planar test capture driver: formats,
// MMAP buffers queued and dequeued, and planes exported with EXPBUF then queued as DMABUF on a
// second node, as a camera → consumer pipeline does.
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_CLOEXEC, O_NONBLOCK, O_RDWR, spawn } from "@umm/kernel-process";
import { PROT_READ } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  VIDIOC_STREAMON,
  v4l2Dqbuf,
  v4l2Expbuf,
  v4l2GFmt,
  v4l2MmapPlanes,
  v4l2MplaneBuffer,
  v4l2QbufDmabuf,
  v4l2QbufMmap,
  v4l2Querybuf,
  v4l2Reqbufs,
  v4l2SFmt,
} from "../src/index.js";
import { TestCapture } from "./capture-driver.js";
import { boot, framePattern, freeCounts, type Rig, sysmmuDevice } from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
const MMAP = V4L2_MEMORY_MMAP;
const W = 320;
const H = 240;
const PLANES = [W * H, (W * H) / 2]; // NV12M: Y, then CbCr

function camera(r: Rig, name: string) {
  const { dev, port } = sysmmuDevice(r, name);
  return new TestCapture(r.kernel, dev, port, { mplane: true, width: W, height: H });
}

describe("user-space V4L2 calls", () => {
  it("v4l2SFmt returns the format the driver chose, v4l2GFmt reads it back", () => {
    const r = boot();
    const cam = camera(r, "fimc0");
    const app = spawn(r.kernel, { comm: "app" });
    const fd = app.open(cam.vdev.path, O_RDWR);
    expect(v4l2GFmt(app, fd, CAP).fmt.pix_mp).toMatchObject({
      pixelformat: V4L2_PIX_FMT_NV12M,
      num_planes: 2,
    });
    const f = v4l2SFmt(app, fd, CAP, V4L2_PIX_FMT_NV12, 640, 480);
    expect(f.type).toBe(CAP);
    expect(f.fmt.pix_mp).toMatchObject({
      width: 640,
      height: 480,
      pixelformat: V4L2_PIX_FMT_NV12,
      num_planes: 1,
    });
    expect(f.fmt.pix_mp!.plane_fmt[0]!.sizeimage).toBe((640 * 480 * 3) / 2);
    expect(v4l2GFmt(app, fd, CAP)).toEqual(f);
    expect(() => v4l2SFmt(app, fd, 0x7f, V4L2_PIX_FMT_NV12, 640, 480)).toThrow(kerr("EINVAL"));
  });

  it("v4l2MplaneBuffer: a zeroed buffer with its planes array, then the given fields", () => {
    const b = v4l2MplaneBuffer(CAP, MMAP, 2, { index: 3 });
    expect(b).toMatchObject({ type: CAP, memory: MMAP, index: 3, length: 2, bytesused: 0, flags: 0 });
    expect(b.m.planes).toEqual([
      { bytesused: 0, length: 0, m: {}, data_offset: 0 },
      { bytesused: 0, length: 0, m: {}, data_offset: 0 },
    ]);
    expect(v4l2MplaneBuffer(CAP, MMAP).m.planes).toHaveLength(1);
  });

  it("MMAP: v4l2Reqbufs, v4l2Querybuf + v4l2MmapPlanes, v4l2QbufMmap, then v4l2Dqbuf gives the frames in order", async () => {
    const r = boot();
    const cam = camera(r, "fimc0");
    const app = spawn(r.kernel, { comm: "app" });
    const fd = app.open(cam.vdev.path, O_RDWR);
    const before = freeCounts(r);
    const n = v4l2Reqbufs(app, fd, CAP, MMAP, 3);
    expect(n).toBe(3);
    const maps: number[][] = [];
    for (let i = 0; i < n; i++) {
      const q = v4l2Querybuf(app, fd, CAP, MMAP, i, 2);
      expect(q.index).toBe(i);
      expect(q.m.planes!.map((p) => p.length)).toEqual(PLANES);
      maps.push(v4l2MmapPlanes(app, fd, q, PROT_READ));
      v4l2QbufMmap(app, fd, CAP, i, 2);
    }
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    for (let frame = 0; frame < 5; frame++) {
      const b = await r.kernel.clock.runUntil(v4l2Dqbuf(app, fd, CAP, MMAP, 2));
      expect(b.sequence).toBe(frame);
      expect(b.index).toBe(frame % n);
      expect(b.m.planes!.map((p) => p.bytesused)).toEqual(PLANES);
      PLANES.forEach((size, p) => {
        expect(firstDiff(app.memRead(maps[b.index]![p]!, size), framePattern(frame, p, size))).toBe(-1);
      });
      v4l2QbufMmap(app, fd, CAP, b.index, 2);
    }
    expect(r.cpu.checker.total).toBe(0);
    app.exit(0);
    expect(freeCounts(r)).toEqual(before);
  });

  it("v4l2Dqbuf on an O_NONBLOCK file with nothing done rejects with EAGAIN", async () => {
    const r = boot();
    const cam = camera(r, "fimc0");
    const app = spawn(r.kernel, { comm: "app" });
    const fd = app.open(cam.vdev.path, O_RDWR | O_NONBLOCK);
    v4l2Reqbufs(app, fd, CAP, MMAP, 2);
    v4l2QbufMmap(app, fd, CAP, 0, 2);
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    // the ioctl's error comes as a rejected promise, as any error of an async call
    await expect(v4l2Dqbuf(app, fd, CAP, MMAP, 2)).rejects.toThrow(kerr("EAGAIN"));
    await r.kernel.clock.runUntilIdle({ until: r.kernel.clock.now() + cam.frameIntervalNs });
    expect((await v4l2Dqbuf(app, fd, CAP, MMAP, 2)).sequence).toBe(0);
  });

  it("v4l2Expbuf planes of one node's buffers, v4l2QbufDmabuf them on another: the second fills the first's memory", async () => {
    const r = boot();
    const cam0 = camera(r, "fimc0");
    const cam1 = camera(r, "fimc1");
    const app = spawn(r.kernel, { comm: "app" });
    const fd0 = app.open(cam0.vdev.path, O_RDWR);
    const fd1 = app.open(cam1.vdev.path, O_RDWR);
    const n = v4l2Reqbufs(app, fd0, CAP, MMAP, 2);
    const maps: number[][] = [];
    const fds: number[][] = [];
    for (let i = 0; i < n; i++) {
      maps.push(v4l2MmapPlanes(app, fd0, v4l2Querybuf(app, fd0, CAP, MMAP, i, 2)));
      fds.push([v4l2Expbuf(app, fd0, CAP, i), v4l2Expbuf(app, fd0, CAP, i, 1, O_RDWR | O_CLOEXEC)]);
    }
    expect(app.getFdFlags(fds[0]![0]!)).toBe(0);
    expect(app.getFdFlags(fds[0]![1]!)).toBe(1); // FD_CLOEXEC
    expect(v4l2Reqbufs(app, fd1, CAP, V4L2_MEMORY_DMABUF, n)).toBe(n);
    v4l2QbufDmabuf(app, fd1, CAP, 0, fds[0]!); // lengths 0: each dma-buf's size
    v4l2QbufDmabuf(app, fd1, CAP, 1, fds[1]!, PLANES);
    app.ioctl(fd1, VIDIOC_STREAMON, CAP);
    for (let frame = 0; frame < 4; frame++) {
      const b = await r.kernel.clock.runUntil(v4l2Dqbuf(app, fd1, CAP, V4L2_MEMORY_DMABUF, 2));
      expect(b.sequence).toBe(frame);
      expect(b.m.planes!.map((p) => p.m.fd)).toEqual(fds[b.index]);
      PLANES.forEach((size, p) => {
        expect(firstDiff(app.memRead(maps[b.index]![p]!, size), framePattern(frame, p, size))).toBe(-1);
      });
      v4l2QbufDmabuf(app, fd1, CAP, b.index, fds[b.index]!);
    }
    expect(cam0.frame).toBe(0); // the first node captured nothing: its buffers were the second's memory
    expect(r.cpu.checker.total).toBe(0);
  });
});
