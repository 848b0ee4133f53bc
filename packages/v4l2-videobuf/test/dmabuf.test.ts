// DMABUF import (a dma-heap buffer as capture memory, no user mapping needed by the driver) and
// EXPBUF (vb2 as a dma-buf exporter): the fd travels to another process over a Unix socket, which
// maps it and reads the captured frame between DMA_BUF_IOCTL_SYNC START and END.
import {
  addDefaultCmaHeap,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_HEAP_IOCTL_ALLOC,
  systemHeapCreate,
} from "@umm/dma-buf";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_CLOEXEC, O_RDONLY, O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_CAP_SUPPORTS_DMABUF,
  V4L2_BUF_FLAG_MAPPED,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_GREY,
  type V4l2ExportBuffer,
  type V4l2Format,
  type Vb2DcBuf,
  VIDIOC_DQBUF,
  VIDIOC_EXPBUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
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
  GFP_KERNEL,
  type Rig,
  scatter,
  sysmmuDevice,
  unscatter,
} from "./helpers.js";
import { TestInverter } from "./m2m-driver.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const DMABUF = V4L2_MEMORY_DMABUF;
const MMAP = V4L2_MEMORY_MMAP;
const SIZE = (320 * 240 * 3) / 2;

function camera(r: Rig, iommu: boolean, opts: TestCaptureOpts = {}) {
  const { dev, port } = iommu ? sysmmuDevice(r, "fimc0") : directDevice(r, "fimc0");
  const cam = new TestCapture(r.kernel, dev, port, opts);
  const proc = spawn(r.kernel, { comm: "camera" });
  const fd = proc.open(cam.vdev.path, O_RDWR);
  return { cam, proc, fd };
}

function heapAlloc(proc: Process, heap: string, len: number): number {
  const h = proc.open(`/dev/dma_heap/${heap}`, O_RDWR);
  const req = { len, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
  proc.ioctl(h, DMA_HEAP_IOCTL_ALLOC, req);
  proc.close(h);
  return req.fd;
}

async function dq(r: Rig, proc: Process, fd: number, memory: number, type = CAP) {
  const b = v4l2Buffer({ type, memory });
  await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
  return b;
}

/** Reads `len` bytes of a dma-buf fd through a fresh cacheable mapping, inside SYNC START/END. */
function readDmaBuf(proc: Process, fd: number, len: number): Uint8Array {
  const va = proc.mmap({ fd, length: len, prot: PROT_READ, flags: MAP_SHARED });
  proc.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ });
  const data = proc.memRead(va, len);
  proc.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ });
  proc.munmap(va, len);
  return data;
}

describe("DMABUF import", () => {
  it("captures into system-heap buffers through the SysMMU; the process reads them after SYNC START", async () => {
    const r = boot();
    systemHeapCreate(r.kernel);
    const { cam, proc, fd } = camera(r, true);
    const before = freeCounts(r);
    const req = { count: 2, type: CAP, memory: DMABUF, capabilities: 0, flags: 0 };
    proc.ioctl(fd, VIDIOC_REQBUFS, req);
    expect(req.capabilities & V4L2_BUF_CAP_SUPPORTS_DMABUF).toBeTruthy();
    const fds = [heapAlloc(proc, "system", SIZE), heapAlloc(proc, "system", SIZE)];
    fds.forEach((dfd, i) => {
      const b = v4l2Buffer({ index: i, type: CAP, memory: DMABUF, m: { fd: dfd } });
      proc.ioctl(fd, VIDIOC_QBUF, b);
      expect(b.length).toBe(Math.ceil(SIZE / 4096) * 4096); // length 0 means the dma-buf's size
    });
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    for (let frame = 0; frame < 4; frame++) {
      const b = await dq(r, proc, fd, DMABUF);
      expect(b.m.fd).toBe(fds[b.index]);
      expect(firstDiff(readDmaBuf(proc, b.m.fd!, SIZE), framePattern(frame, 0, SIZE))).toBe(-1);
      proc.ioctl(
        fd,
        VIDIOC_QBUF,
        v4l2Buffer({ index: b.index, type: CAP, memory: DMABUF, m: { fd: b.m.fd } }),
      );
    }
    expect(r.cpu.checker.total).toBe(0);
    // the same fd again reuses the attachment; DMABUF memory skips vb2's own cache syncs
    const vb0 = cam.queue.bufs[0]!;
    expect(vb0.skipCacheSyncOnPrepare && vb0.skipCacheSyncOnFinish).toBe(true);
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    proc.exit(0);
    expect(freeCounts(r)).toEqual(before);
  });

  it("a CMA-heap buffer is contiguous: usable by a direct (contiguous-only) device", async () => {
    const r = boot();
    addDefaultCmaHeap(r.kernel);
    const { proc, fd } = camera(r, false);
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: DMABUF, capabilities: 0, flags: 0 });
    const dfd = heapAlloc(proc, "default_cma_region", SIZE);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: DMABUF, m: { fd: dfd } }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    await dq(r, proc, fd, DMABUF);
    expect(readDmaBuf(proc, dfd, 16)).toEqual(framePattern(0, 0, 16));
    expect(r.cpu.checker.total).toBe(0);
    proc.exit(0);
  });

  it("a scattered system-heap buffer on a direct dma-contig device is EFAULT (contiguous chunk too small), nothing held", () => {
    const r = boot();
    systemHeapCreate(r.kernel);
    const kept = scatter(r, 512, GFP_KERNEL);
    const { cam, proc, fd } = camera(r, false);
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: DMABUF, capabilities: 0, flags: 0 });
    const dfd = heapAlloc(proc, "system", SIZE);
    const b = v4l2Buffer({ index: 0, type: CAP, memory: DMABUF, m: { fd: dfd } });
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, b)).toThrow(kerr("EFAULT", /contiguous chunk is too small/));
    const p = cam.queue.bufs[0]!.planes[0]!;
    expect(p.memPriv).toBeNull();
    expect(p.dbuf).toBeNull();
    proc.exit(0);
    unscatter(r, kept);
  });

  it("EINVAL for an fd that is not open or not a dma-buf, or a dma-buf smaller than the format", () => {
    const r = boot();
    systemHeapCreate(r.kernel);
    const { cam, proc, fd } = camera(r, true);
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: DMABUF, capabilities: 0, flags: 0 });
    const q = (m: { fd: number }, length = 0) =>
      v4l2Buffer({ index: 0, type: CAP, memory: DMABUF, m, length });
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, q({ fd: 99 }))).toThrow(kerr("EINVAL", /invalid dmabuf fd/));
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, q({ fd }))).toThrow(kerr("EINVAL", /invalid dmabuf fd/));
    const small = heapAlloc(proc, "system", 4096);
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, q({ fd: small }))).toThrow(
      kerr("EINVAL", /less than the setup size/),
    );
    const ok = heapAlloc(proc, "system", SIZE);
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, q({ fd: ok }, SIZE + 65536))).toThrow(kerr("EFAULT", /smaller/));
    expect(cam.queue.queuedCount).toBe(0);
    proc.ioctl(fd, VIDIOC_QBUF, q({ fd: ok }));
    proc.exit(0);
  });
});

describe("EXPBUF", () => {
  for (const memops of ["dma-sg", "dma-contig", "vmalloc"] as const) {
    it(`${memops}: another process gets the fd over a Unix socket and reads the captured frame after SYNC START`, async () => {
      const r = boot();
      const { cam, proc, fd } = camera(r, true, { memops });
      const viewer = spawn(r.kernel, { comm: "viewer" });
      const listen = viewer.listen("/run/frames");
      const before = freeCounts(r);
      proc.ioctl(fd, VIDIOC_REQBUFS, { count: 2, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
      const eb: V4l2ExportBuffer = { type: CAP, index: 0, plane: 0, flags: O_RDONLY | O_CLOEXEC, fd: -1 };
      proc.ioctl(fd, VIDIOC_EXPBUF, eb);
      expect(eb.fd).toBeGreaterThan(fd);
      expect(proc.getFdFlags(eb.fd)).toBe(1); // FD_CLOEXEC
      const q = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
      proc.ioctl(fd, VIDIOC_QUERYBUF, q);
      expect(q.flags & V4L2_BUF_FLAG_MAPPED).toBeTruthy(); // the export is a user of the memory
      proc.sendmsg(proc.connect("/run/frames"), { data: new Uint8Array([0]), fds: [eb.fd] });
      proc.close(eb.fd);
      const [vfd] = viewer.recvmsg(viewer.accept(listen)).fds;
      for (let i = 0; i < 2; i++)
        proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: MMAP }));
      proc.ioctl(fd, VIDIOC_STREAMON, CAP);
      let b = await dq(r, proc, fd, MMAP);
      expect(b.index).toBe(0);
      expect(firstDiff(readDmaBuf(viewer, vfd!, SIZE), framePattern(0, 0, SIZE))).toBe(-1);
      // the next capture into buffer 0 (frame 2) is what the viewer sees next
      proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
      b = await dq(r, proc, fd, MMAP);
      b = await dq(r, proc, fd, MMAP);
      expect(b).toMatchObject({ index: 0, sequence: 2 });
      expect(readDmaBuf(viewer, vfd!, 64)).toEqual(framePattern(2, 0, 64));
      expect(r.cpu.checker.total).toBe(0);
      // the camera goes away; the viewer's fd keeps the buffer (orphaned) until it closes it
      proc.exit(0);
      expect(cam.queue.numBuffers).toBe(0);
      expect(freeCounts(r)).not.toEqual(before);
      expect(readDmaBuf(viewer, vfd!, 8)).toEqual(framePattern(2, 0, 8));
      viewer.exit(0);
      expect(freeCounts(r)).toEqual(before);
    });
  }

  it("checks index, plane, flags, type and memory with EINVAL", () => {
    const r = boot();
    const { proc, fd } = camera(r, true);
    const eb = (o: Partial<V4l2ExportBuffer>): V4l2ExportBuffer => ({
      type: CAP,
      index: 0,
      plane: 0,
      flags: 0,
      fd: 0,
      ...o,
    });
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
    expect(() => proc.ioctl(fd, VIDIOC_EXPBUF, eb({ index: 1 }))).toThrow(kerr("EINVAL", /index 1/));
    expect(() => proc.ioctl(fd, VIDIOC_EXPBUF, eb({ plane: 1 }))).toThrow(kerr("EINVAL", /plane 1/));
    expect(() => proc.ioctl(fd, VIDIOC_EXPBUF, eb({ flags: 0o4000 }))).toThrow(kerr("EINVAL", /flags/));
    expect(() => proc.ioctl(fd, VIDIOC_EXPBUF, eb({ type: V4L2_BUF_TYPE_VIDEO_OUTPUT }))).toThrow(
      kerr("EINVAL"),
    );
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: 0, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
    proc.ioctl(fd, VIDIOC_REQBUFS, {
      count: 1,
      type: CAP,
      memory: V4L2_MEMORY_DMABUF,
      capabilities: 0,
      flags: 0,
    });
    expect(() => proc.ioctl(fd, VIDIOC_EXPBUF, eb({}))).toThrow(kerr("EINVAL", /not set up for MMAP/));
    proc.exit(0);
  });

  it("zero copy: a captured frame exported and imported into the m2m inverter's OUTPUT queue", async () => {
    const r = boot();
    const { cam, proc, fd } = camera(r, true);
    const { dev, port } = sysmmuDevice(r, "rotator");
    const inv = new TestInverter(r.kernel, dev, port);
    const m = proc.open(inv.vdev.path, O_RDWR);
    // the inverter works on GREY 320×360: the same 115200 bytes as an NV12 320×240 frame
    for (const type of [V4L2_BUF_TYPE_VIDEO_OUTPUT, CAP]) {
      const f: V4l2Format = {
        type,
        fmt: { pix: { width: 320, height: 360, pixelformat: V4L2_PIX_FMT_GREY } as never },
      };
      proc.ioctl(m, VIDIOC_S_FMT, f);
      expect(f.fmt.pix!.sizeimage).toBe(SIZE);
    }
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
    const eb: V4l2ExportBuffer = { type: CAP, index: 0, plane: 0, flags: O_RDWR, fd: 0 };
    proc.ioctl(fd, VIDIOC_EXPBUF, eb);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    await dq(r, proc, fd, MMAP);
    proc.ioctl(m, VIDIOC_REQBUFS, {
      count: 1,
      type: V4L2_BUF_TYPE_VIDEO_OUTPUT,
      memory: DMABUF,
      capabilities: 0,
      flags: 0,
    });
    proc.ioctl(m, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
    const out = v4l2Buffer({
      index: 0,
      type: V4L2_BUF_TYPE_VIDEO_OUTPUT,
      memory: DMABUF,
      m: { fd: eb.fd },
      bytesused: SIZE,
    });
    proc.ioctl(m, VIDIOC_QBUF, out);
    const capb = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
    proc.ioctl(m, VIDIOC_QUERYBUF, capb);
    const va = proc.mmap({
      fd: m,
      length: capb.length,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_SHARED,
      offset: capb.m.offset,
    });
    proc.ioctl(m, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
    proc.ioctl(m, VIDIOC_STREAMON, V4L2_BUF_TYPE_VIDEO_OUTPUT);
    proc.ioctl(m, VIDIOC_STREAMON, CAP);
    await dq(r, proc, m, MMAP, CAP);
    const want = framePattern(0, 0, SIZE).map((x) => 255 - x);
    expect(firstDiff(proc.memRead(va, SIZE), want)).toBe(-1);
    // the two devices saw the same pages at their own IOVAs
    const exported = cam.queue.bufs[0]!.planes[0]!.memPriv as Vb2DcBuf;
    expect(exported.refcount).toBe(2);
    proc.exit(0);
  });
});
