// USERPTR: a process's own memory as capture buffers. Through the SysMMU a physically scattered
// buffer is one D.V range and works with dma-contig; on a direct (contiguous-only) device the
// same buffer is refused, as vb2_dc_get_userptr refuses it ("contiguous mapping is too small").
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { getUserPages } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_USERPTR,
  Vb2DcBuf,
  VIDIOC_DQBUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
} from "../src/index.js";
import { TestCapture, type TestCaptureOpts } from "./capture-driver.js";
import {
  boot,
  directDevice,
  framePattern,
  freeCounts,
  type Rig,
  scatter,
  sysmmuDevice,
  unscatter,
} from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const UP = V4L2_MEMORY_USERPTR;
const SIZE = (320 * 240 * 3) / 2;

function open(r: Rig, iommu: boolean, opts: TestCaptureOpts = {}) {
  const { dev, port } = iommu ? sysmmuDevice(r, "fimc0") : directDevice(r, "fimc0");
  const cam = new TestCapture(r.kernel, dev, port, opts);
  const proc = spawn(r.kernel, { comm: "app" });
  const fd = proc.open(cam.vdev.path, O_RDWR);
  proc.ioctl(fd, VIDIOC_REQBUFS, { count: 2, type: CAP, memory: UP, capabilities: 0, flags: 0 });
  return { cam, proc, fd };
}

function qbuf(proc: Process, fd: number, index: number, userptr: number, length = SIZE): void {
  proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index, type: CAP, memory: UP, m: { userptr }, length }));
}

function isScattered(proc: Process, va: number, size: number): boolean {
  const pages = getUserPages(proc.space, va, size);
  const c = pages.contiguous();
  pages.release();
  return !c;
}

describe("USERPTR", () => {
  it("a physically scattered process buffer works on a SysMMU device (one D.V range) and the process reads the frame", async () => {
    const r = boot();
    const kept = scatter(r, 512);
    const { cam, proc, fd } = open(r, true);
    const before = freeCounts(r);
    const bufs = [proc.malloc(SIZE), proc.malloc(SIZE)];
    expect(isScattered(proc, bufs[0]!, SIZE)).toBe(true);
    qbuf(proc, fd, 0, bufs[0]!);
    qbuf(proc, fd, 1, bufs[1]!);
    const priv = cam.queue.bufs[0]!.planes[0]!.memPriv as Vb2DcBuf;
    expect(priv).toBeInstanceOf(Vb2DcBuf);
    expect(priv.dmaSgt!.nents).toBe(1); // merged into one IOVA segment
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    for (let frame = 0; frame < 4; frame++) {
      const b = v4l2Buffer({ type: CAP, memory: UP });
      await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
      expect(b.m.userptr).toBe(bufs[b.index]);
      expect(b.length).toBe(SIZE);
      expect(firstDiff(proc.memRead(b.m.userptr!, SIZE), framePattern(frame, 0, SIZE))).toBe(-1);
      qbuf(proc, fd, b.index, b.m.userptr!);
    }
    expect(r.cpu.checker.total).toBe(0);
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    proc.exit(0);
    expect(freeCounts(r)).toEqual(before);
    unscatter(r, kept);
  });

  it("the same scattered buffer on a direct device is refused (not contiguous in D.V): EFAULT, nothing held", () => {
    const r = boot();
    const kept = scatter(r, 512);
    const { cam, proc, fd } = open(r, false);
    const va = proc.malloc(SIZE);
    expect(isScattered(proc, va, SIZE)).toBe(true);
    const free = r.mm.buddy.nrFreePages;
    const b = v4l2Buffer({ index: 0, type: CAP, memory: UP, m: { userptr: va }, length: SIZE });
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, b)).toThrow(kerr("EFAULT", /contiguous mapping is too small/));
    expect(cam.queue.bufs[0]!.planes[0]!.memPriv).toBeNull();
    expect(r.mm.buddy.nrFreePages).toBe(free);
    const q = v4l2Buffer({ index: 0, type: CAP, memory: UP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, q);
    expect(q.flags & 2).toBe(0);
    unscatter(r, kept);
  });

  it("a physically contiguous process buffer works on a direct device", async () => {
    const r = boot();
    const { proc, fd } = open(r, false);
    const va = proc.malloc(SIZE);
    expect(isScattered(proc, va, SIZE)).toBe(false); // a fresh buddy allocator hands out runs
    qbuf(proc, fd, 0, va);
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    const b = v4l2Buffer({ type: CAP, memory: UP });
    await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
    expect(proc.memRead(va, 8)).toEqual(framePattern(0, 0, 8));
    proc.exit(0);
  });

  it("dma-sg takes a scattered buffer on a direct device (scatter-gather DMA)", async () => {
    const r = boot();
    const kept = scatter(r, 512);
    const { proc, fd } = open(r, false, { memops: "dma-sg" });
    const va = proc.malloc(SIZE);
    expect(isScattered(proc, va, SIZE)).toBe(true);
    qbuf(proc, fd, 0, va);
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    const b = v4l2Buffer({ type: CAP, memory: UP });
    await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
    expect(firstDiff(proc.memRead(va, SIZE), framePattern(0, 0, SIZE))).toBe(-1);
    expect(r.cpu.checker.total).toBe(0);
    proc.exit(0);
    unscatter(r, kept);
  });

  it("vmalloc USERPTR: the driver writes through vm_map_ram of the pinned pages", async () => {
    const r = boot();
    const { proc, fd } = open(r, false, { memops: "vmalloc" });
    const va = proc.malloc(SIZE + 4096) + 100; // any alignment is fine for vmalloc
    qbuf(proc, fd, 0, va);
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    const b = v4l2Buffer({ type: CAP, memory: UP });
    await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
    expect(firstDiff(proc.memRead(va, SIZE), framePattern(0, 0, SIZE))).toBe(-1);
    proc.exit(0);
  });

  it("EINVAL for a buffer smaller than the format or misaligned for DMA; EFAULT for unmapped memory", () => {
    const r = boot();
    const { proc, fd } = open(r, true);
    const va = proc.malloc(SIZE + 4096);
    const bad = (userptr: number, length: number) =>
      v4l2Buffer({ index: 0, type: CAP, memory: UP, m: { userptr }, length });
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, bad(va, SIZE - 64))).toThrow(
      kerr("EINVAL", /less than the setup size/),
    );
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, bad(va + 8, SIZE))).toThrow(kerr("EINVAL", /aligned/));
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, bad(0x1000, SIZE))).toThrow(kerr("EFAULT"));
    qbuf(proc, fd, 0, va);
  });

  it("the same pointer reuses the pinned memory; a new one re-acquires (buf_cleanup, buf_init)", () => {
    const r = boot();
    const { cam, proc, fd } = open(r, true);
    const a = proc.malloc(SIZE);
    const b = proc.malloc(SIZE);
    qbuf(proc, fd, 0, a);
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    const first = cam.queue.bufs[0]!.planes[0]!.memPriv;
    qbuf(proc, fd, 0, a);
    expect(cam.queue.bufs[0]!.planes[0]!.memPriv).toBe(first);
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    cam.log.length = 0;
    qbuf(proc, fd, 0, b);
    expect(cam.queue.bufs[0]!.planes[0]!.memPriv).not.toBe(first);
    expect(cam.log.slice(0, 2)).toEqual(["buf_cleanup(0)", "buf_init(0)"]);
    // a failed re-acquire keeps the previous memory
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    const cur = cam.queue.bufs[0]!.planes[0]!.memPriv;
    expect(() =>
      proc.ioctl(
        fd,
        VIDIOC_QBUF,
        v4l2Buffer({ index: 0, type: CAP, memory: UP, m: { userptr: 0x1000 }, length: SIZE }),
      ),
    ).toThrow(kerr("EFAULT"));
    expect(cam.queue.bufs[0]!.planes[0]!.memPriv).toBe(cur);
    proc.exit(0);
  });

  it("pages stay pinned while queued and are unpinned when the process exits", async () => {
    const r = boot();
    const { proc, fd } = open(r, true);
    const before = freeCounts(r);
    const va = proc.malloc(SIZE);
    qbuf(proc, fd, 0, va);
    const pfn = getUserPages(proc.space, va, 4096);
    const f = r.mm.frames;
    expect(f.pincount[pfn.pfns[0]! - f.basePfn]).toBe(1);
    pfn.release();
    proc.munmap(va, SIZE); // the pin keeps the pages
    proc.exit(0);
    expect(freeCounts(r)).toEqual(before);
  });
});
