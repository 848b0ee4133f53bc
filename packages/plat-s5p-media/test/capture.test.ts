// Sensor + FIMC capture: frames written by DMA through the SysMMU into vb2 buffers.

import {
  DRM_CLOEXEC,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_RDWR,
} from "@umm/drm-gem";
import { TraceRecorder } from "@umm/kernel-core";
import { firstDiff } from "@umm/kernel-core/testing";
import { O_RDWR } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ } from "@umm/mm-core";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_MEMORY_USERPTR,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  VIDIOC_QBUF,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2MmapPlanes,
  v4l2MplaneBuffer,
  v4l2QbufDmabuf,
  v4l2QbufMmap,
  v4l2Querybuf,
  v4l2Reqbufs,
  v4l2SFmt,
} from "@umm/v4l2-videobuf";
import { afterEach, describe, expect, it } from "vitest";
import { fimcOf, fimdOf, testPatternFrame } from "../src/index.js";
import { bootMedia, expectAllReturned, expectNoHazards, sha256 } from "./helpers.js";
import { runDqbuf } from "./v4l2.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
const W = 320;
const H = 240;

afterEach(expectNoHazards);

describe("FIMC capture", () => {
  it("golden: MMAP NV12 frames 0, 1 and 7 are the sensor's pattern, with sequence, timestamp, bytesused", async () => {
    const r = bootMedia({ devices: ["sensor0", "fimc0"] });
    const rec = new TraceRecorder(r.kernel.trace, { events: ["fimc_capture_frame", "dma_xfer"] });
    const app = r.spawn("capture");
    const path = fimcOf(r.dev("fimc0"))!.path;
    expect(path).toBe("/dev/video0");
    const fd = app.open(path, O_RDWR);
    const f = v4l2SFmt(app, fd, CAP, V4L2_PIX_FMT_NV12, W, H);
    expect(f.fmt.pix_mp!.num_planes).toBe(1);
    const n = v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_MMAP, 4);
    const maps: number[] = [];
    for (let i = 0; i < n; i++) {
      maps.push(v4l2MmapPlanes(app, fd, v4l2Querybuf(app, fd, CAP, V4L2_MEMORY_MMAP, i, 1), PROT_READ)[0]!);
      v4l2QbufMmap(app, fd, CAP, i, 1);
    }
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    const sums: string[] = [];
    for (let k = 0; k < 8; k++) {
      const b = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_MMAP, 1);
      expect(b.sequence).toBe(k);
      expect(b.m.planes![0]!.bytesused).toBe((W * H * 3) / 2);
      expect(b.timestamp.tv_sec * 1e9 + b.timestamp.tv_usec * 1e3).toBe(
        Math.floor(Math.round(((k + 1) * 1e9) / 30) / 1000) * 1000,
      );
      const bytes = app.memRead(maps[b.index]!, (W * H * 3) / 2);
      expect(firstDiff(bytes, testPatternFrame(W, H, k))).toBe(-1);
      if (k === 0 || k === 1 || k === 7) sums.push(sha256(bytes));
      v4l2QbufMmap(app, fd, CAP, b.index, 1);
    }
    expect(sums).toEqual([0, 1, 7].map((k) => sha256(testPatternFrame(W, H, k))));
    const frames = rec.of("fimc_capture_frame").slice(0, 8);
    expect(frames.map((e) => e.data.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(frames.every((e) => e.data.bytes === (W * H * 3) / 2 && e.data.daddr >= 0x20000000)).toBe(true);
    // the FIMC writes through its SysMMU: D.V addresses in its IOVA window
    const writes = rec.of("dma_xfer").filter((e) => e.data.device === "fimc0" && e.data.dir === "write");
    expect(writes.length).toBeGreaterThanOrEqual(8);
    app.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    await r.teardown();
    expectAllReturned(r);
  });

  it("NV12M: Y and CbCr land in their own buffers", async () => {
    const r = bootMedia({ devices: ["sensor0", "fimc0"] });
    const app = r.spawn();
    const fd = app.open(fimcOf(r.dev("fimc0"))!.path, O_RDWR);
    const f = v4l2SFmt(app, fd, CAP, V4L2_PIX_FMT_NV12M, W, H);
    expect(f.fmt.pix_mp!.plane_fmt.map((p) => p.sizeimage)).toEqual([W * H, (W * H) / 2]);
    v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_MMAP, 2);
    const maps: number[][] = [];
    for (let i = 0; i < 2; i++) {
      maps.push(v4l2MmapPlanes(app, fd, v4l2Querybuf(app, fd, CAP, V4L2_MEMORY_MMAP, i, 2), PROT_READ));
      v4l2QbufMmap(app, fd, CAP, i, 2);
    }
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    for (let k = 0; k < 3; k++) {
      const b = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_MMAP, 2);
      expect(b.m.planes!.map((p) => p.bytesused)).toEqual([W * H, (W * H) / 2]);
      const want = testPatternFrame(W, H, b.sequence);
      expect(firstDiff(app.memRead(maps[b.index]![0]!, W * H), want.subarray(0, W * H))).toBe(-1);
      expect(firstDiff(app.memRead(maps[b.index]![1]!, (W * H) / 2), want.subarray(W * H))).toBe(-1);
      v4l2QbufMmap(app, fd, CAP, b.index, 2);
    }
    await r.teardown();
    expectAllReturned(r);
  });

  it("USERPTR: frames land in a process's own (cacheable) memory, synced by vb2, with no hazard", async () => {
    const r = bootMedia({ devices: ["sensor0", "fimc0"] });
    const app = r.spawn();
    const fd = app.open(fimcOf(r.dev("fimc0"))!.path, O_RDWR);
    v4l2SFmt(app, fd, CAP, V4L2_PIX_FMT_NV12, W, H);
    v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_USERPTR, 2);
    const size = (W * H * 3) / 2;
    const mem = [app.malloc(size), app.malloc(size)];
    const q = (i: number) => {
      const b = v4l2MplaneBuffer(CAP, V4L2_MEMORY_USERPTR, 1, { index: i });
      b.m.planes![0] = { bytesused: 0, length: size, m: { userptr: mem[i]! }, data_offset: 0 };
      app.ioctl(fd, VIDIOC_QBUF, b);
    };
    q(0);
    q(1);
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    for (let k = 0; k < 4; k++) {
      const b = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_USERPTR, 1);
      expect(firstDiff(app.memRead(mem[b.index]!, size), testPatternFrame(W, H, b.sequence))).toBe(-1);
      q(b.index);
    }
    await r.teardown();
    expectAllReturned(r);
  });

  it("DMABUF: the camera writes straight into a DRM dumb buffer exported by PRIME", async () => {
    const r = bootMedia({ devices: ["sensor0", "fimc0", "fimd0"] });
    const app = r.spawn();
    const card = app.open(fimdOf(r.dev("fimd0"))!.drm.path, O_RDWR);
    const d = { width: W, height: (H * 3) / 2, bpp: 8, handle: 0, pitch: 0, size: 0 };
    app.ioctl(card, DRM_IOCTL_MODE_CREATE_DUMB, d);
    const prime = { handle: d.handle, flags: DRM_CLOEXEC | DRM_RDWR, fd: -1 };
    app.ioctl(card, DRM_IOCTL_PRIME_HANDLE_TO_FD, prime);
    const fd = app.open(fimcOf(r.dev("fimc0"))!.path, O_RDWR);
    v4l2SFmt(app, fd, CAP, V4L2_PIX_FMT_NV12, W, H);
    v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_DMABUF, 1);
    v4l2QbufDmabuf(app, fd, CAP, 0, [prime.fd]);
    app.ioctl(fd, VIDIOC_STREAMON, CAP);
    const b = await runDqbuf(r.kernel, app, fd, CAP, V4L2_MEMORY_DMABUF, 1);
    const m = { handle: d.handle, offset: 0 };
    app.ioctl(card, DRM_IOCTL_MODE_MAP_DUMB, m);
    const va = app.mmap({ fd: card, length: d.size, prot: PROT_READ, flags: MAP_SHARED, offset: m.offset });
    expect(firstDiff(app.memRead(va, (W * H * 3) / 2), testPatternFrame(W, H, b.sequence))).toBe(-1);
    await r.teardown();
    expectAllReturned(r);
  });
});
