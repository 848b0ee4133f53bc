// Nothing leaks: a capture pipeline with MMAP (mapped), USERPTR, EXPBUF and a mem2mem context,
// torn down by process exit in any order, gives every page back to the buddy allocator and the
// CMA area; the kernel's shutdown then reports nothing held. Unregistering a node releases its
// queue while open files get ENODEV.
import { kerr } from "@umm/kernel-core/testing";
import { O_RDWR, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_MEMORY_MMAP,
  V4L2_MEMORY_USERPTR,
  VIDIOC_DQBUF,
  VIDIOC_EXPBUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMON,
  v4l2Buffer,
  v4l2DeviceUnregister,
} from "../src/index.js";
import { TestCapture } from "./capture-driver.js";
import { boot, directDevice, freeCounts, type Rig, record, sysmmuDetach, sysmmuDevice } from "./helpers.js";
import { TestInverter } from "./m2m-driver.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const MMAP = V4L2_MEMORY_MMAP;
const WARNINGS = ["vb2_warn", "dma_warn", "proc_warn", "dma_buf_warn", "iommu_warn", "cma_warn"] as const;

async function pipeline(
  r: Rig,
  cams: TestCapture[],
  inv: TestInverter,
  exitOrder: "camera-first" | "viewer-first",
) {
  const camera = spawn(r.kernel, { comm: "camera" });
  const viewer = spawn(r.kernel, { comm: "viewer" });
  const listen = viewer.listen(`/run/frames-${exitOrder}`);
  // camera 0: MMAP, all buffers mapped, one exported to the viewer
  const fd0 = camera.open(cams[0]!.vdev.path, O_RDWR);
  camera.ioctl(fd0, VIDIOC_REQBUFS, { count: 3, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
  for (let i = 0; i < 3; i++) {
    const b = v4l2Buffer({ index: i, type: CAP, memory: MMAP });
    camera.ioctl(fd0, VIDIOC_QUERYBUF, b);
    camera.mmap({ fd: fd0, length: b.length, prot: PROT_READ, flags: MAP_SHARED, offset: b.m.offset });
    camera.ioctl(fd0, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: MMAP }));
  }
  const eb = { type: CAP, index: 1, plane: 0, flags: 0, fd: 0 };
  camera.ioctl(fd0, VIDIOC_EXPBUF, eb);
  camera.sendmsg(camera.connect(`/run/frames-${exitOrder}`), { fds: [eb.fd] });
  const [vfd] = viewer.recvmsg(viewer.accept(listen)).fds;
  viewer.mmap({ fd: vfd!, length: 4096, prot: PROT_READ, flags: MAP_SHARED });
  camera.ioctl(fd0, VIDIOC_STREAMON, CAP);
  // camera 1: USERPTR
  const fd1 = camera.open(cams[1]!.vdev.path, O_RDWR);
  camera.ioctl(fd1, VIDIOC_REQBUFS, {
    count: 2,
    type: CAP,
    memory: V4L2_MEMORY_USERPTR,
    capabilities: 0,
    flags: 0,
  });
  const size = (320 * 240 * 3) / 2;
  for (let i = 0; i < 2; i++) {
    const va = camera.malloc(size);
    camera.ioctl(
      fd1,
      VIDIOC_QBUF,
      v4l2Buffer({ index: i, type: CAP, memory: V4L2_MEMORY_USERPTR, m: { userptr: va }, length: size }),
    );
  }
  camera.ioctl(fd1, VIDIOC_STREAMON, CAP);
  // the viewer runs a mem2mem context with a job in flight
  const m = viewer.open(inv.vdev.path, O_RDWR);
  for (const type of [V4L2_BUF_TYPE_VIDEO_OUTPUT, CAP]) {
    viewer.ioctl(m, VIDIOC_REQBUFS, { count: 2, type, memory: MMAP, capabilities: 0, flags: 0 });
    viewer.ioctl(m, VIDIOC_QBUF, v4l2Buffer({ index: 0, type, memory: MMAP, bytesused: 1 }));
    viewer.ioctl(m, VIDIOC_STREAMON, type);
  }
  await r.kernel.clock.runFor(cams[0]!.frameIntervalNs * 2.5);
  const b = v4l2Buffer({ type: CAP, memory: MMAP });
  await r.kernel.clock.runUntil(Promise.resolve(camera.ioctl(fd0, VIDIOC_DQBUF, b)));
  // a job runs now in the inverter, DQBUFs may be pending: exit anyway
  viewer.ioctl(
    m,
    VIDIOC_QBUF,
    v4l2Buffer({ index: 1, type: V4L2_BUF_TYPE_VIDEO_OUTPUT, memory: MMAP, bytesused: 1 }),
  );
  viewer.ioctl(m, VIDIOC_QBUF, v4l2Buffer({ index: 1, type: CAP, memory: MMAP }));
  if (exitOrder === "camera-first") {
    camera.exit(0);
    viewer.exit(0);
  } else {
    viewer.exit(0);
    camera.exit(0);
  }
  await r.kernel.clock.runUntilIdle({ until: r.kernel.clock.now() + 1_000_000_000 });
}

describe("teardown", () => {
  for (const order of ["camera-first", "viewer-first"] as const) {
    it(`process exit (${order}) frees every page: buddy and CMA counts back to the start`, async () => {
      const r = boot();
      const a = sysmmuDevice(r, "fimc0");
      const bdev = directDevice(r, "fimc1");
      const c = sysmmuDevice(r, "rotator");
      const cams = [
        new TestCapture(r.kernel, a.dev, a.port, { memops: "dma-sg", name: "fimc0" }),
        new TestCapture(r.kernel, bdev.dev, bdev.port, { name: "fimc1" }),
      ];
      const inv = new TestInverter(r.kernel, c.dev, c.port);
      await pipeline(r, cams, inv, order); // warm: IOMMU page tables, bitmaps
      const before = freeCounts(r);
      const rec = record(r.kernel, [...WARNINGS]);
      await pipeline(r, cams, inv, order);
      expect(freeCounts(r)).toEqual(before);
      expect(cams.map((cam) => cam.queue.numBuffers)).toEqual([0, 0]);
      expect(inv.m2m.currCtx).toBeNull();
      expect(r.cpu.checker.total).toBe(0);
      sysmmuDetach(a.dev);
      sysmmuDetach(c.dev);
      r.kernel.shutdown();
      expect(rec.records().map((e) => `${e.name}: ${JSON.stringify(e.data)}`)).toEqual([]);
    });
  }

  it("v4l2DeviceUnregister releases the queue; open files get ENODEV and mappings stay valid", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port);
    const before = freeCounts(r);
    const proc = spawn(r.kernel, { comm: "app" });
    const fd = proc.open(cam.vdev.path, O_RDWR);
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: 2, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
    const b = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    const va = proc.mmap({ fd, length: b.length, prot: PROT_READ, flags: MAP_SHARED, offset: b.m.offset });
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    v4l2DeviceUnregister(cam.vdev);
    expect(cam.queue.numBuffers).toBe(0);
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }))).toThrow(
      kerr("ENODEV"),
    );
    expect(() => proc.open(cam.vdev.path, O_RDWR)).toThrow(kerr("ENOENT"));
    expect(proc.memRead(va, 4)).toEqual(new Uint8Array(4));
    expect(() => v4l2DeviceUnregister(cam.vdev)).toThrow(kerr("ENOENT"));
    proc.exit(0);
    expect(freeCounts(r)).toEqual(before);
  });
});
