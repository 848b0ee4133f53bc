// The V4L2 buffer ioctls and the errno matrix v4l2-compliance enforces
// (utils/v4l2-compliance/v4l2-test-buffers.cpp: testReqBufs, testCreateBufs, testQueryBuf,
// testMmap, testRemoveBufs), on a /dev/videoN node opened by processes.
import { kerr } from "@umm/kernel-core/testing";
import { O_NONBLOCK, O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_CAP_SUPPORTS_DMABUF,
  V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS,
  V4L2_BUF_CAP_SUPPORTS_MMAP,
  V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS,
  V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS,
  V4L2_BUF_CAP_SUPPORTS_USERPTR,
  V4L2_BUF_FLAG_DONE,
  V4L2_BUF_FLAG_ERROR,
  V4L2_BUF_FLAG_LAST,
  V4L2_BUF_FLAG_MAPPED,
  V4L2_BUF_FLAG_PREPARED,
  V4L2_BUF_FLAG_QUEUED,
  V4L2_BUF_FLAG_REQUEST_FD,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_CAP_DEVICE_CAPS,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_MEMORY_OVERLAY,
  V4L2_MEMORY_USERPTR,
  V4L2_PIX_FMT_GREY,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_YUYV,
  type V4l2Capability,
  type V4l2CreateBuffers,
  type V4l2Format,
  type V4l2RequestBuffers,
  VB2_MMAP,
  VIDIOC_CREATE_BUFS,
  VIDIOC_CREATE_BUFS32,
  VIDIOC_DQBUF,
  VIDIOC_ENUM_FMT,
  VIDIOC_EXPBUF,
  VIDIOC_G_FMT,
  VIDIOC_G_FMT32,
  VIDIOC_PREPARE_BUF,
  VIDIOC_QBUF,
  VIDIOC_QBUF32,
  VIDIOC_QUERYBUF,
  VIDIOC_QUERYBUF32,
  VIDIOC_QUERYCAP,
  VIDIOC_REMOVE_BUFS,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  VIDIOC_TRY_FMT,
  v4l2Buffer,
  v4l2Planes,
  vb2MmapOffset,
  vb2QueueError,
} from "../src/index.js";
import { TestCapture, type TestCaptureOpts } from "./capture-driver.js";
import { boot, directDevice, type Rig, record } from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const MMAP = V4L2_MEMORY_MMAP;

function setup(opts: TestCaptureOpts = {}): { r: Rig; cam: TestCapture; proc: Process; fd: number } {
  const r = boot({ dramMiB: 64, cmaMiB: 16 });
  const { dev, port } = directDevice(r, "fimc0");
  const cam = new TestCapture(r.kernel, dev, port, opts);
  const proc = spawn(r.kernel, { comm: "app" });
  const fd = proc.open(cam.vdev.path, O_RDWR);
  return { r, cam, proc, fd };
}

function reqbufs(count: number, memory = MMAP, type = CAP): V4l2RequestBuffers {
  return { count, type, memory, capabilities: 0, flags: 0 };
}

function createBufs(count: number, sizeimage: number, memory = MMAP): V4l2CreateBuffers {
  return {
    index: 0,
    count,
    memory,
    format: {
      type: CAP,
      fmt: {
        pix: {
          width: 320,
          height: 240,
          pixelformat: V4L2_PIX_FMT_NV12,
          field: 1,
          bytesperline: 320,
          sizeimage,
          colorspace: 0,
          priv: 0,
          flags: 0,
          ycbcr_enc: 0,
          quantization: 0,
          xfer_func: 0,
        },
      },
    },
    capabilities: 0,
    flags: 0,
    max_num_buffers: 0,
  };
}

const NV12_320x240 = (320 * 240 * 3) / 2;

describe("ioctl numbers and QUERYCAP", () => {
  it("uses the 64-bit kernel's ioctl numbers", () => {
    expect(VIDIOC_QUERYCAP).toBe(0x80685600);
    expect(VIDIOC_ENUM_FMT).toBe(0xc0405602);
    expect(VIDIOC_G_FMT).toBe(0xc0d05604);
    expect(VIDIOC_S_FMT).toBe(0xc0d05605);
    expect(VIDIOC_REQBUFS).toBe(0xc0145608);
    expect(VIDIOC_QUERYBUF).toBe(0xc0585609);
    expect(VIDIOC_QBUF).toBe(0xc058560f);
    expect(VIDIOC_EXPBUF).toBe(0xc0405610);
    expect(VIDIOC_DQBUF).toBe(0xc0585611);
    expect(VIDIOC_STREAMON).toBe(0x40045612);
    expect(VIDIOC_STREAMOFF).toBe(0x40045613);
    expect(VIDIOC_TRY_FMT).toBe(0xc0d05640);
    expect(VIDIOC_CREATE_BUFS).toBe(0xc100565c);
    expect(VIDIOC_PREPARE_BUF).toBe(0xc058565d);
    expect(VIDIOC_REMOVE_BUFS).toBe(0xc0405668);
    // what an ARM32 program passes (v4l2-compat-ioctl32.c)
    expect(VIDIOC_QBUF32).toBe(0xc044560f);
    expect(VIDIOC_G_FMT32).toBe(0xc0cc5604);
    expect(VIDIOC_CREATE_BUFS32).toBe(0xc0f8565c);
  });

  it("accepts the ARM32 encodings of the size-dependent ioctls", () => {
    const { proc, fd } = setup();
    const f: V4l2Format = { type: CAP, fmt: {} };
    proc.ioctl(fd, VIDIOC_G_FMT32, f);
    expect(f.fmt.pix!.sizeimage).toBe(NV12_320x240);
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    const b = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF32, b);
    expect(b.m.offset).toBe(vb2MmapOffset(1, 0));
    proc.ioctl(fd, VIDIOC_QBUF32, b);
    expect(b.flags & V4L2_BUF_FLAG_QUEUED).toBeTruthy();
  });

  it("QUERYCAP names the driver and reports device caps; an unknown ioctl is ENOTTY", () => {
    const { proc, fd } = setup();
    const cap = {} as V4l2Capability;
    proc.ioctl(fd, VIDIOC_QUERYCAP, cap);
    expect(cap).toMatchObject({
      driver: "vb2-test-cap",
      card: "fimc0",
      bus_info: "platform:fimc0",
      device_caps: V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING,
      capabilities: V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING | V4L2_CAP_DEVICE_CAPS,
    });
    expect(() => proc.ioctl(fd, 0xc0105603, {})).toThrow(kerr("ENOTTY"));
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, null)).toThrow(kerr("EFAULT"));
  });
});

describe("formats", () => {
  it("G_FMT gives the default NV12 layout; TRY_FMT adjusts; S_FMT stores; ENUM_FMT lists", () => {
    const { proc, fd } = setup();
    const f: V4l2Format = { type: CAP, fmt: {} };
    proc.ioctl(fd, VIDIOC_G_FMT, f);
    expect(f.fmt.pix).toMatchObject({
      width: 320,
      height: 240,
      pixelformat: V4L2_PIX_FMT_NV12,
      bytesperline: 320,
    });
    expect(f.fmt.pix!.sizeimage).toBe(NV12_320x240);
    const t: V4l2Format = {
      type: CAP,
      fmt: { pix: { ...f.fmt.pix!, width: 1921, height: 1081, pixelformat: V4L2_PIX_FMT_YUYV } },
    };
    proc.ioctl(fd, VIDIOC_TRY_FMT, t);
    expect(t.fmt.pix).toMatchObject({ width: 1922, height: 1082, pixelformat: V4L2_PIX_FMT_NV12 });
    const s: V4l2Format = {
      type: CAP,
      fmt: { pix: { ...f.fmt.pix!, width: 640, height: 480, pixelformat: V4L2_PIX_FMT_GREY } },
    };
    proc.ioctl(fd, VIDIOC_S_FMT, s);
    expect(s.fmt.pix).toMatchObject({ bytesperline: 640, sizeimage: 640 * 480 });
    const g: V4l2Format = { type: CAP, fmt: {} };
    proc.ioctl(fd, VIDIOC_G_FMT, g);
    expect(g.fmt.pix!.pixelformat).toBe(V4L2_PIX_FMT_GREY);
    const d = { index: 1, type: CAP, flags: 0, description: "", pixelformat: 0, mbus_code: 0 };
    proc.ioctl(fd, VIDIOC_ENUM_FMT, d);
    expect(d.pixelformat).toBe(V4L2_PIX_FMT_GREY);
    expect(() => proc.ioctl(fd, VIDIOC_ENUM_FMT, { ...d, index: 2 })).toThrow(kerr("EINVAL"));
    expect(() => proc.ioctl(fd, VIDIOC_G_FMT, { type: V4L2_BUF_TYPE_VIDEO_OUTPUT, fmt: {} })).toThrow(
      kerr("EINVAL"),
    );
  });

  it("S_FMT with buffers allocated is EBUSY and changes nothing", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    const s: V4l2Format = {
      type: CAP,
      fmt: { pix: { width: 64, height: 64, pixelformat: V4L2_PIX_FMT_GREY } as never },
    };
    expect(() => proc.ioctl(fd, VIDIOC_S_FMT, s)).toThrow(kerr("EBUSY"));
    expect(s.fmt.pix!.width).toBe(64);
    const g: V4l2Format = { type: CAP, fmt: {} };
    proc.ioctl(fd, VIDIOC_G_FMT, g);
    expect(g.fmt.pix!.width).toBe(320);
  });
});

describe("REQBUFS", () => {
  it("reports the capabilities and allocates at most 32 buffers", () => {
    const { proc, fd } = setup();
    const req = reqbufs(100);
    proc.ioctl(fd, VIDIOC_REQBUFS, req);
    expect(req.count).toBe(32);
    expect(req.capabilities).toBe(
      V4L2_BUF_CAP_SUPPORTS_MMAP |
        V4L2_BUF_CAP_SUPPORTS_USERPTR |
        V4L2_BUF_CAP_SUPPORTS_DMABUF |
        V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS |
        V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS,
    );
  });

  it("rejects bad memory and type with EINVAL, leaving the struct as it was", () => {
    const { proc, fd } = setup();
    for (const memory of [0, V4L2_MEMORY_OVERLAY, 5]) {
      const req = reqbufs(2, memory);
      expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, req)).toThrow(kerr("EINVAL"));
      expect(req).toEqual(reqbufs(2, memory));
    }
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2, MMAP, V4L2_BUF_TYPE_VIDEO_OUTPUT))).toThrow(
      kerr("EINVAL"),
    );
    expect(() =>
      proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2, MMAP, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE)),
    ).toThrow(kerr("EINVAL"));
  });

  it("a memory type the queue's io modes lack is EINVAL", () => {
    const { proc, fd } = setup({ ioModes: VB2_MMAP });
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2, V4L2_MEMORY_USERPTR))).toThrow(
      kerr("EINVAL", /USERPTR/),
    );
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2, V4L2_MEMORY_DMABUF))).toThrow(
      kerr("EINVAL", /DMABUF/),
    );
  });

  it("a second file handle gets EBUSY while the first owns the queue, and may query", () => {
    const { r, cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    const other = spawn(r.kernel, { comm: "other" });
    const fd2 = other.open(cam.vdev.path, O_RDWR);
    expect(() => other.ioctl(fd2, VIDIOC_REQBUFS, reqbufs(2))).toThrow(kerr("EBUSY"));
    expect(() => other.ioctl(fd2, VIDIOC_REQBUFS, reqbufs(0))).toThrow(kerr("EBUSY"));
    expect(() => other.ioctl(fd2, VIDIOC_QBUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(
      kerr("EBUSY"),
    );
    expect(() => other.ioctl(fd2, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(
      kerr("EBUSY"),
    );
    expect(() => other.ioctl(fd2, VIDIOC_STREAMON, CAP)).toThrow(kerr("EBUSY"));
    expect(() => other.ioctl(fd2, VIDIOC_CREATE_BUFS, createBufs(1, NV12_320x240))).toThrow(kerr("EBUSY"));
    expect(() => other.ioctl(fd2, VIDIOC_PREPARE_BUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(
      kerr("EBUSY"),
    );
    const b = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    other.ioctl(fd2, VIDIOC_QUERYBUF, b);
    expect(b.m.offset).toBe(vb2MmapOffset(1, 0));
    // once the owner frees the buffers, the queue is free for anyone
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(0));
    other.ioctl(fd2, VIDIOC_REQBUFS, reqbufs(3));
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(1))).toThrow(kerr("EBUSY"));
    // the owner's close releases the queue
    other.close(fd2);
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(1));
  });

  it("is EBUSY while streaming", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(0))).toThrow(kerr("EBUSY", /streaming/));
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(4))).toThrow(kerr("EBUSY"));
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(0));
  });

  it("REQBUFS(0) while buffers are mapped orphans them (modern vb2): the memory lives until munmap", () => {
    const { r, proc, fd } = setup();
    const before = r.mm.buddy.nrFreePages;
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    const b = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    const va = proc.mmap({ fd, length: b.length, prot: PROT_READ, flags: MAP_SHARED, offset: b.m.offset });
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(0));
    expect(() => proc.ioctl(fd, VIDIOC_QUERYBUF, b)).toThrow(kerr("EINVAL"));
    expect(proc.memRead(va, 4)).toEqual(new Uint8Array(4)); // still mapped and readable
    expect(r.mm.buddy.nrFreePages).toBeLessThan(before);
    proc.munmap(va, b.length);
    expect(r.mm.buddy.nrFreePages).toBe(before);
  });

  it("REQBUFS(0) while buffers are mapped is EBUSY on a queue without orphaned-buffer support (pre-5.0 vb2)", () => {
    const { proc, fd } = setup({ supportsOrphanedBufs: false });
    const req = reqbufs(2);
    proc.ioctl(fd, VIDIOC_REQBUFS, req);
    expect(req.capabilities & V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS).toBe(0);
    const b = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    const va = proc.mmap({ fd, length: b.length, prot: PROT_READ, flags: MAP_SHARED, offset: b.m.offset });
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(0))).toThrow(kerr("EBUSY", /in use/));
    expect(() => proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(4))).toThrow(kerr("EBUSY"));
    proc.ioctl(fd, VIDIOC_QUERYBUF, b); // nothing changed
    expect(b.flags & V4L2_BUF_FLAG_MAPPED).toBeTruthy();
    proc.munmap(va, b.length);
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(0));
  });
});

describe("CREATE_BUFS", () => {
  it("count 0 only validates and reports index, capabilities and the maximum", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(3));
    const c = createBufs(0, NV12_320x240);
    proc.ioctl(fd, VIDIOC_CREATE_BUFS, c);
    expect(c.index).toBe(3);
    expect(c.max_num_buffers).toBe(32);
    expect(c.capabilities & V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS).toBeTruthy();
    expect(() => proc.ioctl(fd, VIDIOC_CREATE_BUFS, { ...createBufs(0, 1), memory: 7 })).toThrow(
      kerr("EINVAL"),
    );
  });

  it("adds buffers with the sizes asked for; sizes below the format or 0 are EINVAL", () => {
    const { proc, fd } = setup();
    const c = createBufs(2, NV12_320x240 + 4096);
    proc.ioctl(fd, VIDIOC_CREATE_BUFS, c);
    expect(c).toMatchObject({ index: 0, count: 2 });
    const b = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    expect(b.length).toBe(NV12_320x240 + 4096);
    expect(() => proc.ioctl(fd, VIDIOC_CREATE_BUFS, createBufs(1, 100))).toThrow(kerr("EINVAL", /too small/));
    expect(() => proc.ioctl(fd, VIDIOC_CREATE_BUFS, createBufs(1, 0))).toThrow(kerr("EINVAL", /sizeimage 0/));
    expect(() =>
      proc.ioctl(fd, VIDIOC_CREATE_BUFS, createBufs(1, NV12_320x240, V4L2_MEMORY_USERPTR)),
    ).toThrow(kerr("EINVAL", /differs/));
  });

  it("ENOBUFS once the queue holds 32 buffers; a larger count is cut to what is left", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(30));
    const c = createBufs(5, NV12_320x240);
    proc.ioctl(fd, VIDIOC_CREATE_BUFS, c);
    expect(c).toMatchObject({ index: 30, count: 2 });
    const full = createBufs(1, NV12_320x240);
    expect(() => proc.ioctl(fd, VIDIOC_CREATE_BUFS, full)).toThrow(kerr("ENOBUFS"));
    expect(full.index).toBe(0); // not copied back
  });
});

describe("QUERYBUF", () => {
  it("describes a buffer; bad index, type and planes arrays are EINVAL", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    const b = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    expect(b).toMatchObject({
      index: 1,
      length: NV12_320x240,
      bytesused: 0,
      flags: 0x2000,
      m: { offset: 0x8000 },
    });
    expect(() => proc.ioctl(fd, VIDIOC_QUERYBUF, { ...b, index: 2 })).toThrow(kerr("EINVAL", /index 2/));
    expect(() => proc.ioctl(fd, VIDIOC_QUERYBUF, { ...b, type: V4L2_BUF_TYPE_VIDEO_OUTPUT })).toThrow(
      kerr("EINVAL"),
    );
  });
});

describe("QBUF, PREPARE_BUF, DQBUF", () => {
  it("QBUF checks index, type, memory and state; a rejected QBUF changes nothing", () => {
    const { cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 5, type: CAP, memory: MMAP }))).toThrow(
      kerr("EINVAL", /index 5/),
    );
    expect(() =>
      proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_USERPTR })),
    ).toThrow(kerr("EINVAL", /memory/));
    const req = v4l2Buffer({ index: 0, type: CAP, memory: MMAP, flags: V4L2_BUF_FLAG_REQUEST_FD });
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, req)).toThrow(kerr("EBADR"));
    expect(req.flags).toBe(V4L2_BUF_FLAG_REQUEST_FD);
    const q0 = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QBUF, q0);
    expect(q0.flags & V4L2_BUF_FLAG_QUEUED).toBeTruthy();
    const again = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, again)).toThrow(kerr("EINVAL", /state queued/));
    expect(again.flags).toBe(0);
    expect(cam.queue.queuedCount).toBe(1);
  });

  it("PREPARE_BUF prepares once; QBUF of a prepared buffer queues it", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    const b = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_PREPARE_BUF, b);
    expect(b.flags & V4L2_BUF_FLAG_PREPARED).toBeTruthy();
    expect(() =>
      proc.ioctl(fd, VIDIOC_PREPARE_BUF, v4l2Buffer({ index: 1, type: CAP, memory: MMAP })),
    ).toThrow(kerr("EINVAL", /already prepared/));
    expect(() =>
      proc.ioctl(
        fd,
        VIDIOC_PREPARE_BUF,
        v4l2Buffer({ index: 0, type: CAP, memory: MMAP, flags: V4L2_BUF_FLAG_REQUEST_FD }),
      ),
    ).toThrow(kerr("EINVAL"));
    proc.ioctl(fd, VIDIOC_QBUF, b);
    expect(b.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_PREPARED)).toBe(V4L2_BUF_FLAG_QUEUED);
    expect(() =>
      proc.ioctl(fd, VIDIOC_PREPARE_BUF, v4l2Buffer({ index: 1, type: CAP, memory: MMAP })),
    ).toThrow(kerr("EINVAL", /state queued/));
  });

  it("DQBUF: EINVAL when not streaming, EAGAIN with O_NONBLOCK and nothing done, EINVAL for another type", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    expect(() => proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(
      kerr("EINVAL", /streaming off/),
    );
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    proc.setFileFlags(fd, O_NONBLOCK);
    expect(() => proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(
      kerr("EAGAIN"),
    );
    expect(() =>
      proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: V4L2_BUF_TYPE_VIDEO_OUTPUT, memory: MMAP })),
    ).toThrow(kerr("EINVAL"));
  });

  it("DQBUF returns an ERROR buffer as a success with V4L2_BUF_FLAG_ERROR and never DONE", async () => {
    const { r, cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    cam.failNext = true;
    const b = v4l2Buffer({ type: CAP, memory: MMAP });
    await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
    expect(b.flags & V4L2_BUF_FLAG_ERROR).toBeTruthy();
    expect(b.flags & V4L2_BUF_FLAG_DONE).toBe(0);
  });

  it("DQBUF after a LAST capture buffer fails EPIPE until STREAMOFF", async () => {
    const { r, cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(3));
    for (let i = 0; i < 3; i++)
      proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: MMAP }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    cam.lastFrame = 1;
    const dq = async () => {
      const b = v4l2Buffer({ type: CAP, memory: MMAP });
      await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
      return b;
    };
    expect((await dq()).flags & V4L2_BUF_FLAG_LAST).toBe(0);
    expect((await dq()).flags & V4L2_BUF_FLAG_LAST).toBeTruthy();
    await r.kernel.clock.runFor(cam.frameIntervalNs * 2); // frame 2 is done too
    expect(() => proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(
      kerr("EPIPE"),
    );
    expect(await proc.poll([{ fd, events: 1 }], 0)).toEqual([1]);
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    expect((await dq()).sequence).toBe(3);
  });

  it("QBUF, PREPARE_BUF and DQBUF fail EIO after vb2_queue_error until STREAMOFF", () => {
    const { cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    vb2QueueError(cam.queue);
    expect(() => proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }))).toThrow(
      kerr("EIO"),
    );
    expect(() =>
      proc.ioctl(fd, VIDIOC_PREPARE_BUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP })),
    ).toThrow(kerr("EIO"));
    expect(() => proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(kerr("EIO"));
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
  });
});

describe("trace events", () => {
  it("v4l2_qbuf / v4l2_dqbuf give the user-space view, vb2_* the queue's", async () => {
    const { r, cam, proc, fd } = setup();
    const rec = record(r.kernel, [
      "v4l2_qbuf",
      "v4l2_dqbuf",
      "vb2_qbuf",
      "vb2_buf_queue",
      "vb2_buf_done",
      "vb2_dqbuf",
    ]);
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(1));
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    const b = v4l2Buffer({ type: CAP, memory: MMAP });
    await r.kernel.clock.runUntil(Promise.resolve(proc.ioctl(fd, VIDIOC_DQBUF, b)));
    expect(rec.records().map((e) => e.name)).toEqual([
      "vb2_qbuf",
      "v4l2_qbuf",
      "vb2_buf_queue",
      "vb2_buf_done",
      "vb2_dqbuf",
      "v4l2_dqbuf",
    ]);
    expect(rec.of("v4l2_dqbuf")[0]!.data).toEqual({
      node: cam.vdev.path,
      index: 0,
      type: CAP,
      bytesused: NV12_320x240,
      flags: 0x2000,
      field: 0,
      timestamp: cam.frameIntervalNs - (cam.frameIntervalNs % 1000),
      sequence: 0,
    });
    expect(rec.of("vb2_buf_done")[0]!.data).toMatchObject({
      queue: "fimc0-cap",
      device: "fimc0",
      state: "done",
    });
  });
});

describe("STREAMON and STREAMOFF", () => {
  it("STREAMON: EINVAL for another type or no buffers; a second STREAMON is a no-op", () => {
    const { proc, fd } = setup();
    expect(() => proc.ioctl(fd, VIDIOC_STREAMON, CAP)).toThrow(kerr("EINVAL", /no buffers/));
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(1));
    expect(() => proc.ioctl(fd, VIDIOC_STREAMON, V4L2_BUF_TYPE_VIDEO_OUTPUT)).toThrow(kerr("EINVAL"));
    expect(proc.ioctl(fd, VIDIOC_STREAMON, CAP)).toBe(0);
    expect(proc.ioctl(fd, VIDIOC_STREAMON, CAP)).toBe(0);
  });

  it("start_streaming waits until min_queued_buffers are queued", () => {
    const { cam, proc, fd } = setup({ minQueuedBuffers: 2 });
    const req = reqbufs(1);
    proc.ioctl(fd, VIDIOC_REQBUFS, req);
    expect(req.count).toBe(3); // min_reqbufs_allocation = min_queued_buffers + 1
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
    expect(cam.log.filter((l) => l.startsWith("start_streaming"))).toEqual([]);
    expect(cam.active).toEqual([]);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 1, type: CAP, memory: MMAP }));
    expect(cam.log.filter((l) => l.startsWith("start_streaming") || l.startsWith("buf_queue"))).toEqual([
      "buf_queue(0)",
      "buf_queue(1)",
      "start_streaming(2)",
    ]);
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 2, type: CAP, memory: MMAP }));
    expect(cam.active.map((vb) => vb.index)).toEqual([0, 1, 2]);
  });

  it("STREAMON with fewer buffers allocated than min_queued_buffers is EINVAL", () => {
    const { proc, fd } = setup({ minQueuedBuffers: 2 });
    proc.ioctl(fd, VIDIOC_CREATE_BUFS, createBufs(1, NV12_320x240));
    expect(() => proc.ioctl(fd, VIDIOC_STREAMON, CAP)).toThrow(kerr("EINVAL", /at least 2/));
  });

  it("a failing start_streaming fails STREAMON (buffers stay queued) or the deferred QBUF (buffer back)", () => {
    const { cam, proc, fd } = setup({ failStart: "EIO" });
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: MMAP }));
    expect(() => proc.ioctl(fd, VIDIOC_STREAMON, CAP)).toThrow(kerr("EIO"));
    expect(cam.queue.streaming).toBe(false);
    const b = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    expect(b.flags & V4L2_BUF_FLAG_QUEUED).toBeTruthy();
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    const { cam: cam2, proc: p2, fd: fd2 } = setup({ failStart: "ENOMEM", minQueuedBuffers: 1 });
    p2.ioctl(fd2, VIDIOC_REQBUFS, reqbufs(2));
    p2.ioctl(fd2, VIDIOC_STREAMON, CAP);
    expect(() => p2.ioctl(fd2, VIDIOC_QBUF, v4l2Buffer({ index: 1, type: CAP, memory: MMAP }))).toThrow(
      kerr("ENOMEM"),
    );
    const b2 = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    p2.ioctl(fd2, VIDIOC_QUERYBUF, b2);
    expect(b2.flags & V4L2_BUF_FLAG_QUEUED).toBe(0);
    expect(cam2.queue.queuedCount).toBe(0);
  });

  it("STREAMOFF returns every buffer to DEQUEUED, done or not, and works when not streaming", async () => {
    const { r, cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(3));
    expect(() => proc.ioctl(fd, VIDIOC_STREAMOFF, V4L2_BUF_TYPE_VIDEO_OUTPUT)).toThrow(kerr("EINVAL"));
    for (let i = 0; i < 3; i++)
      proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: MMAP }));
    expect(proc.ioctl(fd, VIDIOC_STREAMOFF, CAP)).toBe(0); // not streaming: buffers come back anyway
    for (let i = 0; i < 3; i++)
      proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: MMAP }));
    proc.ioctl(fd, VIDIOC_STREAMON, CAP);
    await r.kernel.clock.runFor(cam.frameIntervalNs); // frame 0 done, 1 and 2 active
    proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
    for (let i = 0; i < 3; i++) {
      const b = v4l2Buffer({ index: i, type: CAP, memory: MMAP });
      proc.ioctl(fd, VIDIOC_QUERYBUF, b);
      expect(b.flags & (V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_ERROR)).toBe(0);
    }
    expect(cam.log).toContain("stop_streaming");
    expect(cam.queue.ownedByDrvCount).toBe(0);
  });
});

describe("REMOVE_BUFS", () => {
  function rm(index: number, count: number, type = CAP) {
    return { index, count, type };
  }

  it("frees a range, leaving a hole that CREATE_BUFS fills", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(4));
    proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(1, 2));
    expect(() => proc.ioctl(fd, VIDIOC_QUERYBUF, v4l2Buffer({ index: 1, type: CAP, memory: MMAP }))).toThrow(
      kerr("EINVAL"),
    );
    const c = createBufs(2, NV12_320x240);
    proc.ioctl(fd, VIDIOC_CREATE_BUFS, c);
    expect(c).toMatchObject({ index: 1, count: 2 });
  });

  it("checks type (even for count 0), count, range, holes and state", () => {
    const { r, cam, proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(4));
    expect(proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(999, 0))).toBe(0);
    expect(() => proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(0, 0, V4L2_BUF_TYPE_VIDEO_OUTPUT))).toThrow(
      kerr("EINVAL"),
    );
    expect(() => proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(0, 5))).toThrow(kerr("EINVAL", /exceeds/));
    expect(() => proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(31, 2))).toThrow(kerr("EINVAL", /out of range/));
    proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(3, 1));
    expect(() => proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(2, 2))).toThrow(
      kerr("EINVAL", /no buffer at index 3/),
    );
    proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: 1, type: CAP, memory: MMAP }));
    expect(() => proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(0, 2))).toThrow(kerr("EBUSY"));
    expect(cam.queue.numBuffers).toBe(3);
    const other = spawn(r.kernel, { comm: "other" });
    const fd2 = other.open(cam.vdev.path, O_RDWR);
    expect(() => other.ioctl(fd2, VIDIOC_REMOVE_BUFS, rm(0, 1))).toThrow(kerr("EBUSY"));
  });

  it("a node without REMOVE_BUFS answers ENOTTY and does not advertise it", () => {
    const { proc, fd } = setup({ removeBufs: false });
    const req = reqbufs(2);
    proc.ioctl(fd, VIDIOC_REQBUFS, req);
    expect(req.capabilities & V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS).toBe(0);
    expect(() => proc.ioctl(fd, VIDIOC_REMOVE_BUFS, rm(0, 1))).toThrow(kerr("ENOTTY"));
  });
});

describe("mmap", () => {
  it("needs MAP_SHARED, PROT_READ on a capture queue, an MMAP queue, a valid cookie and a length that fits", () => {
    const { proc, fd } = setup();
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(2));
    const b = v4l2Buffer({ index: 1, type: CAP, memory: MMAP });
    proc.ioctl(fd, VIDIOC_QUERYBUF, b);
    const map = (o: { length?: number; prot?: number; flags?: number; offset?: number }) =>
      proc.mmap({
        fd,
        length: o.length ?? b.length,
        prot: o.prot ?? PROT_READ,
        flags: o.flags ?? MAP_SHARED,
        offset: o.offset ?? b.m.offset!,
      });
    expect(() => map({ flags: MAP_PRIVATE })).toThrow(kerr("EINVAL", /MAP_SHARED/));
    expect(() => map({ prot: PROT_WRITE })).toThrow(kerr("EINVAL", /PROT_READ/));
    expect(() => map({ offset: vb2MmapOffset(2, 0) })).toThrow(kerr("EINVAL", /no buffer/));
    expect(() => map({ offset: vb2MmapOffset(1, 1) })).toThrow(kerr("EINVAL", /plane 1/));
    expect(() => map({ length: b.length + 8192 })).toThrow(kerr("EINVAL", /overflow/));
    const va = map({ length: 4096 });
    expect(proc.memRead(va, 4)).toEqual(new Uint8Array(4));
    proc.munmap(va, 4096);
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(0));
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(1, V4L2_MEMORY_USERPTR));
    expect(() => map({ offset: 0 })).toThrow(kerr("EINVAL", /not set up for MMAP/));
  });

  it("multi-planar QUERYBUF needs a planes array long enough", () => {
    const r = boot({ dramMiB: 64, cmaMiB: 16 });
    const { dev, port } = directDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port, { mplane: true });
    const proc = spawn(r.kernel, { comm: "app" });
    const fd = proc.open(cam.vdev.path, O_RDWR);
    const T = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
    proc.ioctl(fd, VIDIOC_REQBUFS, reqbufs(1, MMAP, T));
    expect(() => proc.ioctl(fd, VIDIOC_QUERYBUF, v4l2Buffer({ type: T, memory: MMAP }))).toThrow(
      kerr("EINVAL", /planes/),
    );
    expect(() =>
      proc.ioctl(
        fd,
        VIDIOC_QUERYBUF,
        v4l2Buffer({ type: T, memory: MMAP, length: 1, m: { planes: v4l2Planes(1) } }),
      ),
    ).toThrow(kerr("EINVAL", /planes array length/));
    expect(() =>
      proc.ioctl(
        fd,
        VIDIOC_QUERYBUF,
        v4l2Buffer({ type: T, memory: MMAP, length: 9, m: { planes: v4l2Planes(9) } }),
      ),
    ).toThrow(kerr("EINVAL"));
  });
});
