// The multi-planar API: NV12M (Y and CbCr in two memory planes), offsets per plane, planes
// arrays in QUERYBUF/QBUF/DQBUF, CREATE_BUFS with num_planes.
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_NONBLOCK, O_RDWR, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_MEMORY_MMAP,
  V4L2_MEMORY_USERPTR,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  type V4l2Format,
  VIDIOC_CREATE_BUFS,
  VIDIOC_DQBUF,
  VIDIOC_G_FMT,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  VIDIOC_STREAMON,
  v4l2Buffer,
  v4l2Planes,
  vb2MmapOffset,
} from "../src/index.js";
import { TestCapture } from "./capture-driver.js";
import { boot, framePattern, sysmmuDevice } from "./helpers.js";

const T = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
const W = 640;
const H = 480;

function setup() {
  const r = boot();
  const { dev, port } = sysmmuDevice(r, "fimc1");
  const cam = new TestCapture(r.kernel, dev, port, { mplane: true, width: W, height: H });
  const proc = spawn(r.kernel, { comm: "app" });
  const fd = proc.open(cam.vdev.path, O_RDWR);
  return { r, cam, proc, fd };
}

describe("multi-planar NV12M", () => {
  it("G_FMT gives two planes: Y (w×h) and CbCr (w×h/2)", () => {
    const { proc, fd } = setup();
    const f: V4l2Format = { type: T, fmt: {} };
    proc.ioctl(fd, VIDIOC_G_FMT, f);
    expect(f.fmt.pix_mp).toMatchObject({
      width: W,
      height: H,
      pixelformat: V4L2_PIX_FMT_NV12M,
      num_planes: 2,
    });
    expect(f.fmt.pix_mp!.plane_fmt).toEqual([
      { bytesperline: W, sizeimage: W * H },
      { bytesperline: W, sizeimage: (W * H) / 2 },
    ]);
    // NV12 through the multi-planar API is one memory plane
    const s: V4l2Format = { type: T, fmt: { pix_mp: { ...f.fmt.pix_mp!, pixelformat: V4L2_PIX_FMT_NV12 } } };
    proc.ioctl(fd, VIDIOC_S_FMT, s);
    expect(s.fmt.pix_mp!.num_planes).toBe(1);
    expect(s.fmt.pix_mp!.plane_fmt[0]!.sizeimage).toBe((W * H * 3) / 2);
  });

  it("MMAP capture of two-plane frames: each plane mapped by its offset, read back by the process", async () => {
    const { r, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, {
      count: 3,
      type: T,
      memory: V4L2_MEMORY_MMAP,
      capabilities: 0,
      flags: 0,
    });
    const maps: number[][] = [];
    for (let i = 0; i < 3; i++) {
      const b = v4l2Buffer({
        index: i,
        type: T,
        memory: V4L2_MEMORY_MMAP,
        length: 2,
        m: { planes: v4l2Planes(2) },
      });
      proc.ioctl(fd, VIDIOC_QUERYBUF, b);
      expect(b.length).toBe(2);
      expect(b.m.planes!.map((p) => p.length)).toEqual([W * H, (W * H) / 2]);
      expect(b.m.planes!.map((p) => p.m.mem_offset)).toEqual([vb2MmapOffset(i, 0), vb2MmapOffset(i, 1)]);
      maps.push(
        b.m.planes!.map((p) =>
          proc.mmap({ fd, length: p.length, prot: PROT_READ, flags: MAP_SHARED, offset: p.m.mem_offset }),
        ),
      );
      proc.ioctl(
        fd,
        VIDIOC_QBUF,
        v4l2Buffer({ index: i, type: T, memory: V4L2_MEMORY_MMAP, length: 2, m: { planes: v4l2Planes(2) } }),
      );
    }
    proc.ioctl(fd, VIDIOC_STREAMON, T);
    for (let frame = 0; frame < 5; frame++) {
      const b = v4l2Buffer({ type: T, memory: V4L2_MEMORY_MMAP, length: 2, m: { planes: v4l2Planes(2) } });
      await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
      expect(b.sequence).toBe(frame);
      expect(b.bytesused).toBe(0); // single-planar field, unused
      expect(b.m.planes!.map((p) => p.bytesused)).toEqual([W * H, (W * H) / 2]);
      for (let p = 0; p < 2; p++) {
        const size = b.m.planes![p]!.bytesused;
        expect(firstDiff(proc.memRead(maps[b.index]![p]!, size), framePattern(frame, p, size))).toBe(-1);
      }
      proc.ioctl(
        fd,
        VIDIOC_QBUF,
        v4l2Buffer({
          index: b.index,
          type: T,
          memory: V4L2_MEMORY_MMAP,
          length: 2,
          m: { planes: v4l2Planes(2) },
        }),
      );
    }
    expect(r.cpu.checker.total).toBe(0);
    proc.exit(0);
  });

  it("USERPTR with one user buffer per plane", async () => {
    const { r, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, {
      count: 1,
      type: T,
      memory: V4L2_MEMORY_USERPTR,
      capabilities: 0,
      flags: 0,
    });
    const y = proc.malloc(W * H);
    const c = proc.malloc((W * H) / 2);
    const planes = v4l2Planes(2);
    planes[0] = { bytesused: 0, length: W * H, m: { userptr: y }, data_offset: 0 };
    planes[1] = { bytesused: 0, length: (W * H) / 2, m: { userptr: c }, data_offset: 0 };
    proc.ioctl(
      fd,
      VIDIOC_QBUF,
      v4l2Buffer({ index: 0, type: T, memory: V4L2_MEMORY_USERPTR, length: 2, m: { planes } }),
    );
    proc.ioctl(fd, VIDIOC_STREAMON, T);
    const b = v4l2Buffer({ type: T, memory: V4L2_MEMORY_USERPTR, length: 2, m: { planes: v4l2Planes(2) } });
    await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
    expect(b.m.planes!.map((p) => p.m.userptr)).toEqual([y, c]);
    expect(proc.memRead(c, 16)).toEqual(framePattern(0, 1, 16));
    proc.exit(0);
  });

  it("DQBUF with a planes array too short is EINVAL and the buffer stays done", async () => {
    const { r, cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, {
      count: 1,
      type: T,
      memory: V4L2_MEMORY_MMAP,
      capabilities: 0,
      flags: 0,
    });
    proc.ioctl(
      fd,
      VIDIOC_QBUF,
      v4l2Buffer({ index: 0, type: T, memory: V4L2_MEMORY_MMAP, length: 2, m: { planes: v4l2Planes(2) } }),
    );
    proc.ioctl(fd, VIDIOC_STREAMON, T);
    await r.kernel.clock.runFor(cam.frameIntervalNs);
    proc.setFileFlags(fd, O_NONBLOCK);
    const short = v4l2Buffer({ type: T, memory: V4L2_MEMORY_MMAP, length: 1, m: { planes: v4l2Planes(1) } });
    expect(() => proc.ioctl(fd, VIDIOC_DQBUF, short)).toThrow(kerr("EINVAL", /planes array length/));
    expect(cam.queue.doneList).toHaveLength(1);
    const ok = v4l2Buffer({ type: T, memory: V4L2_MEMORY_MMAP, length: 2, m: { planes: v4l2Planes(2) } });
    proc.ioctl(fd, VIDIOC_DQBUF, ok);
    expect(ok.index).toBe(0);
  });

  it("CREATE_BUFS: num_planes 0 or above 8 is EINVAL; a plane count unlike the format is refused by the driver", () => {
    const { proc, fd } = setup();
    const f: V4l2Format = { type: T, fmt: {} };
    proc.ioctl(fd, VIDIOC_G_FMT, f);
    const create = (num_planes: number) => ({
      index: 0,
      count: 1,
      memory: V4L2_MEMORY_MMAP,
      format: { type: T, fmt: { pix_mp: { ...f.fmt.pix_mp!, num_planes } } },
      capabilities: 0,
      flags: 0,
      max_num_buffers: 0,
    });
    expect(() => proc.ioctl(fd, VIDIOC_CREATE_BUFS, create(0))).toThrow(kerr("EINVAL", /num_planes 0/));
    expect(() => proc.ioctl(fd, VIDIOC_CREATE_BUFS, create(9))).toThrow(kerr("EINVAL"));
    expect(() => proc.ioctl(fd, VIDIOC_CREATE_BUFS, create(1))).toThrow(kerr("EINVAL", /queue_setup/));
    const c = create(2);
    proc.ioctl(fd, VIDIOC_CREATE_BUFS, c);
    expect(c.count).toBe(1);
  });
});
