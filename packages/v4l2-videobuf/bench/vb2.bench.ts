// A 1080p NV12 capture loop through the V4L2 ioctls of a process: QBUF → the device's DMA write
// of the frame through its SysMMU → DQBUF (O_NONBLOCK), with MMAP buffers. Frames per second, and
// the ratio to writing the same bytes with raw Uint8Array.set in the same run (no goal).
import { defineBench } from "@umm/bench";
import { O_NONBLOCK, O_RDWR, spawn } from "@umm/kernel-process";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  VIDIOC_DQBUF,
  VIDIOC_QBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMON,
  v4l2Buffer,
} from "../src/index.js";
import { TestCapture } from "../test/capture-driver.js";
import { boot, sysmmuDevice } from "../test/helpers.js";

const W = 1920;
const H = 1080;
const FRAME = (W * H * 3) / 2; // 3 110 400 bytes

export default defineBench((b) => {
  const src = new Uint8Array(FRAME).map((_, i) => (i * 7) & 0xff);
  for (const memops of ["dma-contig", "dma-sg"] as const) {
    const r = boot({ dramMiB: 256, cmaMiB: 64 });
    const { dev, port } = sysmmuDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port, {
      memops,
      width: W,
      height: H,
      pixelformats: [V4L2_PIX_FMT_NV12],
      payload: [src],
    });
    const proc = spawn(r.kernel, { comm: "capture" });
    const fd = proc.open(cam.vdev.path, O_RDWR | O_NONBLOCK);
    const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    proc.ioctl(fd, VIDIOC_REQBUFS, {
      count: 4,
      type: CAP,
      memory: V4L2_MEMORY_MMAP,
      capabilities: 0,
      flags: 0,
    });
    for (let i = 0; i < 3; i++)
      proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: V4L2_MEMORY_MMAP }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    let next = 3;
    const buf = v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP });
    // one frame: QBUF the free buffer, the device fills the oldest queued one, DQBUF it
    const frame = (): void => {
      proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: next, type: CAP, memory: V4L2_MEMORY_MMAP }));
      if (!cam.completeNext()) throw new Error("no buffer for the device");
      buf.m = {};
      proc.ioctl(fd, VIDIOC_DQBUF, buf);
      next = buf.index;
    };
    const bank = r.mm.phys.banks[0]!;
    const label = memops === "dma-contig" ? "dma-contig (coherent, uncached)" : "dma-sg (cacheable, synced)";
    if (memops === "dma-contig") {
      b.rate({ name: `1080p NV12 capture frames per second, MMAP ${label}, SysMMU`, ops: 1, run: frame });
    }
    b.throughput({
      name: `QBUF + DMA write of a 1080p NV12 frame through the SysMMU + DQBUF, MMAP ${label}`,
      bytes: FRAME,
      run: frame,
      baseline: { name: "Uint8Array.set of the frame", run: () => bank.u8.set(src, 0) },
    });
  }
});
