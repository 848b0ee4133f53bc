// MMAP capture end to end in a process: REQBUFS → QUERYBUF → mmap → QBUF → STREAMON → frames
// arrive by DMA → DQBUF → the process reads the pattern through its mapping, with no hazard
// from the coherency checker; the same over dma-sg (cacheable mappings), vmalloc, NON_COHERENT
// dma-contig, direct and SysMMU devices.
import { firstDiff } from "@umm/kernel-core/testing";
import { O_NONBLOCK, O_RDWR, POLLERR, POLLIN, type Process, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_FLAG_MAPPED,
  V4L2_BUF_FLAG_NO_CACHE_CLEAN,
  V4L2_BUF_FLAG_NO_CACHE_INVALIDATE,
  V4L2_BUF_FLAG_QUEUED,
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_FLAG_NON_COHERENT,
  V4L2_MEMORY_MMAP,
  type V4l2Buffer,
  type V4l2Format,
  VIDIOC_DQBUF,
  VIDIOC_G_FMT,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
} from "../src/index.js";
import { TestCapture, type TestCaptureOpts } from "./capture-driver.js";
import { boot, directDevice, framePattern, freeCounts, type Rig, record, sysmmuDevice } from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;

interface Session {
  proc: Process;
  fd: number;
  maps: { va: number; length: number }[];
  sizeimage: number;
}

/** REQBUFS(n) + QUERYBUF + mmap of every buffer + QBUF of every buffer + STREAMON. */
function startMmap(cam: TestCapture, n: number, flags = 0): Session {
  const proc = spawn(cam.kernel, { comm: "capture" });
  const fd = proc.open(cam.vdev.path, O_RDWR);
  const fmt: V4l2Format = { type: CAP, fmt: {} };
  proc.ioctl(fd, VIDIOC_G_FMT, fmt);
  const req = { count: n, type: CAP, memory: V4L2_MEMORY_MMAP, capabilities: 0, flags };
  proc.ioctl(fd, VIDIOC_REQBUFS, req);
  const maps: Session["maps"] = [];
  for (let i = 0; i < req.count; i++) {
    const b = v4l2Buffer({ index: i, type: CAP, memory: V4L2_MEMORY_MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    const va = proc.mmap({
      fd,
      length: b.length,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_SHARED,
      offset: b.m.offset,
    });
    maps.push({ va, length: b.length });
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: V4L2_MEMORY_MMAP }));
  }
  proc.ioctl(fd, VIDIOC_STREAMON, CAP);
  return { proc, fd, maps, sizeimage: fmt.fmt.pix!.sizeimage };
}

async function dqbuf(r: Rig, s: Session, flags = 0): Promise<V4l2Buffer> {
  const b = v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP, flags });
  await r.kernel.clock.runUntil(Promise.resolve(s.proc.ioctl(s.fd, VIDIOC_DQBUF, b)));
  return b;
}

const cases: { label: string; iommu: boolean; opts: TestCaptureOpts; reqFlags?: number }[] = [
  { label: "dma-contig coherent, direct device", iommu: false, opts: {} },
  { label: "dma-contig coherent, SysMMU device", iommu: true, opts: {} },
  {
    label: "dma-contig NON_COHERENT, SysMMU device",
    iommu: true,
    opts: { allowCacheHints: true },
    reqFlags: V4L2_MEMORY_FLAG_NON_COHERENT,
  },
  { label: "dma-sg, SysMMU device", iommu: true, opts: { memops: "dma-sg" } },
  { label: "dma-sg, direct device", iommu: false, opts: { memops: "dma-sg" } },
  { label: "vmalloc (CPU copy)", iommu: false, opts: { memops: "vmalloc" } },
];

describe("MMAP capture end to end", () => {
  for (const c of cases) {
    it(`frames arrive by DMA and the process reads the pattern through its mapping: ${c.label}`, async () => {
      const r = boot();
      const { dev, port } = c.iommu ? sysmmuDevice(r, "fimc0") : directDevice(r, "fimc0");
      const cam = new TestCapture(r.kernel, dev, port, c.opts);
      const before = freeCounts(r);
      const rec = record(r.kernel, ["vb2_qbuf", "vb2_dqbuf", "vb2_buf_queue", "vb2_buf_done"]);
      const s = startMmap(cam, 4, c.reqFlags);
      expect(s.maps).toHaveLength(4);
      for (let frame = 0; frame < 10; frame++) {
        const b = await dqbuf(r, s);
        expect(b.sequence).toBe(frame);
        expect(b.index).toBe(frame % 4);
        expect(b.bytesused).toBe(s.sizeimage);
        expect(b.flags & V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC).toBeTruthy();
        expect(b.timestamp.tv_sec * 1e9 + b.timestamp.tv_usec * 1000).toBe(
          Math.floor(((frame + 1) * cam.frameIntervalNs) / 1000) * 1000,
        );
        const data = s.proc.memRead(s.maps[b.index]!.va, s.sizeimage);
        expect(firstDiff(data, framePattern(frame, 0, s.sizeimage))).toBe(-1);
        s.proc.ioctl(s.fd, VIDIOC_QBUF, v4l2Buffer({ index: b.index, type: CAP, memory: V4L2_MEMORY_MMAP }));
      }
      expect(r.cpu.checker.total).toBe(0);
      expect(rec.of("vb2_buf_done")).toHaveLength(10);
      expect(rec.of("vb2_dqbuf")[0]?.data).toMatchObject({
        queue: "fimc0-cap",
        index: 0,
        state: "dequeued",
        bytesused: s.sizeimage,
      });
      s.proc.ioctl(s.fd, VIDIOC_STREAMOFF, CAP);
      s.proc.exit(0);
      expect(freeCounts(r)).toEqual(before);
    });
  }

  it("cache hints: NO_CACHE_INVALIDATE alone is safe for capture; with NO_CACHE_CLEAN too the process reads stale lines", async () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port, { memops: "dma-sg", allowCacheHints: true });
    const s = startMmap(cam, 1);
    const q = (flags: number): void => {
      s.proc.ioctl(s.fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_MMAP, flags }));
    };
    let b = await dqbuf(r, s);
    expect(s.proc.memRead(s.maps[0]!.va, 8)).toEqual(framePattern(0, 0, 8)); // the lines are cached now
    // skip the invalidate at DQBUF: prepare (FROM_DEVICE) still invalidated at QBUF, so frame 1 is right
    q(V4L2_BUF_FLAG_NO_CACHE_INVALIDATE);
    b = await dqbuf(r, s);
    expect(b.sequence).toBe(1);
    expect(s.proc.memRead(s.maps[0]!.va, 8)).toEqual(framePattern(1, 0, 8));
    expect(r.cpu.checker.total).toBe(0);
    // skip both syncs: the lines of frame 1 stay cached over the DMA of frame 2
    q(V4L2_BUF_FLAG_NO_CACHE_INVALIDATE | V4L2_BUF_FLAG_NO_CACHE_CLEAN);
    b = await dqbuf(r, s);
    expect(b.sequence).toBe(2);
    expect(b.flags & V4L2_BUF_FLAG_NO_CACHE_INVALIDATE).toBeTruthy();
    expect(s.proc.memRead(s.maps[0]!.va, 8)).toEqual(framePattern(1, 0, 8));
    const [hazard] = r.cpu.checker.reports;
    expect(hazard?.kind).toBe("stale-read");
    expect(hazard?.missing).toMatch(/invalidate/);
    // without hints the next frame is right again
    q(0);
    b = await dqbuf(r, s);
    expect(s.proc.memRead(s.maps[0]!.va, 8)).toEqual(framePattern(3, 0, 8));
    s.proc.exit(0);
  });

  it("a queue without cache hints clears the hint flags and reports no NON_COHERENT support", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port);
    const proc = spawn(r.kernel, { comm: "app" });
    const fd = proc.open(cam.vdev.path, O_RDWR);
    const req = {
      count: 2,
      type: CAP,
      memory: V4L2_MEMORY_MMAP,
      capabilities: 0,
      flags: V4L2_MEMORY_FLAG_NON_COHERENT,
    };
    proc.ioctl(fd, VIDIOC_REQBUFS, req);
    expect(req.flags).toBe(0);
    expect(cam.queue.nonCoherentMem).toBe(false);
    const b = v4l2Buffer({
      index: 0,
      type: CAP,
      memory: V4L2_MEMORY_MMAP,
      flags: V4L2_BUF_FLAG_NO_CACHE_INVALIDATE,
    });
    proc.ioctl(fd, VIDIOC_QBUF, b);
    expect(b.flags & V4L2_BUF_FLAG_NO_CACHE_INVALIDATE).toBe(0);
    expect(b.flags & V4L2_BUF_FLAG_QUEUED).toBeTruthy();
    proc.exit(0);
  });

  it("QUERYBUF reports MAPPED while the process maps the buffer", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port);
    const s = startMmap(cam, 2);
    const b = v4l2Buffer({ index: 1, type: CAP, memory: V4L2_MEMORY_MMAP });
    s.proc.ioctl(s.fd, VIDIOC_QUERYBUF, b);
    expect(b.flags & V4L2_BUF_FLAG_MAPPED).toBeTruthy();
    s.proc.munmap(s.maps[1]!.va, s.maps[1]!.length);
    s.proc.ioctl(s.fd, VIDIOC_QUERYBUF, b);
    expect(b.flags & V4L2_BUF_FLAG_MAPPED).toBe(0);
    s.proc.exit(0);
  });

  it("poll: POLLERR before STREAMON, POLLIN when a frame is done", async () => {
    const r = boot();
    const { dev, port } = directDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port);
    const proc = spawn(r.kernel, { comm: "app" });
    const fd = proc.open(cam.vdev.path, O_RDWR | O_NONBLOCK);
    expect(await proc.poll([{ fd, events: POLLIN }], 0)).toEqual([POLLERR]);
    proc.ioctl(fd, VIDIOC_REQBUFS, {
      count: 2,
      type: CAP,
      memory: V4L2_MEMORY_MMAP,
      capabilities: 0,
      flags: 0,
    });
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    // streaming but no QBUF yet: the vb1 compatibility quirk says POLLERR
    expect(await proc.poll([{ fd, events: POLLIN }], 0)).toEqual([POLLERR]);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_MMAP }));
    expect(await proc.poll([{ fd, events: POLLIN }], 0)).toEqual([0]);
    const p = proc.poll([{ fd, events: POLLIN }]);
    const revents = await r.kernel.clock.runUntil(p);
    expect(revents[0]! & POLLIN).toBeTruthy();
    expect(r.kernel.clock.now()).toBe(cam.frameIntervalNs);
    proc.exit(0);
  });
});
