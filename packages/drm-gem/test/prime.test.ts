import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufFromFile,
  dmaBufMapAttachment,
  dmaBufStats,
  dmaBufUnmapAttachment,
  systemHeapCreate,
} from "@umm/dma-buf";
import { DMA_FROM_DEVICE, dmaSetMaxSegSize } from "@umm/dma-mapping-arm";
import { kerr } from "@umm/kernel-core/testing";
import { FD_CLOEXEC, O_CLOEXEC, O_RDONLY, O_RDWR, type Process } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DRM_CLOEXEC,
  DRM_FORMAT_NV12,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_RMFB,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_IOCTL_WAIT_VBLANK,
  DRM_RDWR,
  DRM_VBLANK_RELATIVE,
  type DrmPrimeHandle,
} from "../src/index.js";
import { type CamBuf, TestCamera } from "./exporter.js";
import {
  addFb,
  boot,
  card,
  createDumb,
  directDevice,
  drmFileAt,
  expectClean,
  flip,
  mapDumb,
  openCard,
  pattern,
  type Rig,
  SMALL_MODE,
  setCrtc,
  sysmmuDevice,
} from "./helpers.js";

afterEach(expectClean);

const W = SMALL_MODE.hdisplay;
const H = SMALL_MODE.vdisplay;
const XRGB_FRAME = W * H * 4;

function fdToHandle(proc: Process, fd: number, bufFd: number): number {
  const a: DrmPrimeHandle = { fd: bufFd, flags: 0, handle: 0 };
  proc.ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, a);
  return a.handle;
}

function handleToFd(proc: Process, fd: number, handle: number, flags = DRM_CLOEXEC | DRM_RDWR): number {
  const a: DrmPrimeHandle = { handle, flags, fd: -1 };
  proc.ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, a);
  return a.fd;
}

function camera(r: Rig, kind: "direct" | "sysmmu"): TestCamera {
  const { dev, port } = kind === "direct" ? directDevice(r, `fimc-${kind}`) : sysmmuDevice(r, `fimc-${kind}`);
  return new TestCamera(r.mm, dev, port);
}

/** Keeps the vblank interrupt running for `n` more vblanks (the display reads a frame at each). */
async function vblanks(r: Rig, proc: Process, fd: number, n: number): Promise<void> {
  await r.kernel.clock.runUntil(
    proc.ioctl(fd, DRM_IOCTL_WAIT_VBLANK, { type: DRM_VBLANK_RELATIVE, sequence: n }) as Promise<number>,
  );
}

describe("PRIME: V4L2 → DRM", () => {
  for (const disp of ["direct", "sysmmu"] as const) {
    // a SysMMU camera's buffers are contiguous only in its own D.V: a direct display refuses them (below)
    for (const cam of disp === "direct" ? (["direct"] as const) : (["direct", "sysmmu"] as const)) {
      it(`a ${cam} camera's buffer imported by a ${disp} display, flipped and scanned out byte-exact`, async () => {
        const r = boot();
        const { ddev, display, dev } = card(r, disp);
        if (disp === "sysmmu") dmaSetMaxSegSize(dev, 0xffffffff); // exynos_drm_register_dma
        const camDev = camera(r, cam);
        const imports: { ino: number; handle: number }[] = [];
        r.kernel.trace.on("drm_prime_import", (rec) =>
          imports.push({ ino: rec.data.ino, handle: rec.data.handle }),
        );
        const p = openCard(r, ddev, "display");
        const frames = [camDev.alloc(XRGB_FRAME), camDev.alloc(XRGB_FRAME)];
        const bytes = [pattern(XRGB_FRAME, 1), pattern(XRGB_FRAME, 2)];
        const fbs: number[] = [];
        for (let i = 0; i < 2; i++) {
          camDev.capture(frames[i]!, bytes[i]!);
          const bufFd = camDev.expbuf(p.proc, frames[i]!);
          const handle = fdToHandle(p.proc, p.fd, bufFd);
          expect(imports.at(-1)).toEqual({ ino: frames[i]!.dmabuf.ino, handle });
          expect(frames[i]!.mappedBy).toEqual([dev.name]);
          fbs.push(addFb(p.proc, p.fd, W, H, [handle], [W * 4]));
          p.proc.close(bufFd);
        }
        setCrtc(p.proc, p.fd, ddev, fbs[0]!);
        await r.kernel.clock.runUntilIdle();
        expect(display.last!.planes[0]).toEqual(bytes[0]);
        flip(p.proc, p.fd, ddev, fbs[1]!);
        await r.kernel.clock.runUntilIdle();
        expect(display.last!.fb).toBe(fbs[1]);
        expect(display.last!.planes[0]).toEqual(bytes[1]);
        // the camera captures into the buffer on screen: the next frame shows it
        const again = pattern(XRGB_FRAME, 3);
        camDev.capture(frames[1]!, again);
        await vblanks(r, p.proc, p.fd, 1);
        expect(display.last!.planes[0]).toEqual(again);
        p.proc.exit(0);
        await r.kernel.clock.runUntilIdle();
        expect(ddev.objectCount).toBe(0);
        for (const f of frames) expect(f.dmabuf.attachments).toEqual([]);
        for (const f of frames) f.dmabuf.file.put(); // the camera drops its buffers
        expect(camDev.live).toBe(0);
        expect(dmaBufStats(r.kernel)).toEqual([]);
      });
    }
  }

  it("a buffer the display cannot reach contiguously (scattered pages, direct display) is refused with EINVAL; nothing stays attached", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const camDev = camera(r, "sysmmu");
    const buf = camDev.alloc(4 * 4096, "scattered");
    const p = openCard(r, ddev);
    const bufFd = camDev.expbuf(p.proc, buf);
    expect(() => fdToHandle(p.proc, p.fd, bufFd)).toThrow(
      kerr("EINVAL", /contiguous for only 0x1000 of 0x4000 bytes/),
    );
    expect(buf.dmabuf.attachments).toEqual([]);
    expect(ddev.objectCount).toBe(0);
    expect(drmFileAt(p.proc, p.fd).handleCount).toBe(0);
    expect(buf.dmabuf.file.refcount).toBe(2); // the camera's and the fd's
    p.proc.exit(0);
    buf.dmabuf.file.put();
    expect(camDev.live).toBe(0);
  });

  it("the same scattered buffer is contiguous behind the display's SysMMU and scans out byte-exact", async () => {
    const r = boot();
    const { ddev, display, dev } = card(r, "sysmmu");
    dmaSetMaxSegSize(dev, 0xffffffff);
    const camDev = camera(r, "sysmmu");
    // NV12 in one scattered buffer: luma then chroma
    const buf = camDev.alloc(W * H * 2, "scattered");
    const bytes = pattern(buf.size, 4);
    camDev.capture(buf, bytes);
    const p = openCard(r, ddev);
    const bufFd = camDev.expbuf(p.proc, buf);
    const handle = fdToHandle(p.proc, p.fd, bufFd);
    const fb = addFb(p.proc, p.fd, W, H, [handle, handle], [W, W], [0, W * H], DRM_FORMAT_NV12);
    setCrtc(p.proc, p.fd, ddev, fb);
    await r.kernel.clock.runUntilIdle();
    expect(display.last!.planes[0]).toEqual(bytes.subarray(0, W * H));
    expect(display.last!.planes[1]).toEqual(bytes.subarray(W * H, W * H + (W * H) / 2));
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    buf.dmabuf.file.put();
    expect(camDev.live).toBe(0);
  });

  it("importing the same dma-buf twice in one file gives the same handle (one GEM object); another file gets its own", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const camDev = camera(r, "direct");
    const buf = camDev.alloc(8192);
    const a = openCard(r, ddev, "a");
    const b = openCard(r, ddev, "b");
    const fd1 = camDev.expbuf(a.proc, buf);
    const fd2 = camDev.expbuf(a.proc, buf);
    const h1 = fdToHandle(a.proc, a.fd, fd1);
    expect(fdToHandle(a.proc, a.fd, fd2)).toBe(h1);
    expect(fdToHandle(a.proc, a.fd, fd1)).toBe(h1);
    expect(drmFileAt(a.proc, a.fd).handleCount).toBe(1);
    expect(ddev.objectCount).toBe(1);
    // exporting the imported handle gives back the original dma-buf
    const re = handleToFd(a.proc, a.fd, h1);
    expect(dmaBufFromFile(a.proc.fds.get(re)!)).toBe(buf.dmabuf);
    // MAP_DUMB of an import is refused
    expect(() => a.proc.ioctl(a.fd, DRM_IOCTL_MODE_MAP_DUMB, { handle: h1, offset: 0 })).toThrow(
      kerr("EINVAL", /imported/),
    );
    const fdB = camDev.expbuf(b.proc, buf);
    fdToHandle(b.proc, b.fd, fdB);
    expect(buf.dmabuf.attachments.length).toBe(2);
    a.proc.exit(0);
    expect(buf.dmabuf.attachments.length).toBe(1);
    b.proc.exit(0);
    expect(buf.dmabuf.attachments.length).toBe(0);
    expect(ddev.objectCount).toBe(0);
    buf.dmabuf.file.put();
    expect(camDev.live).toBe(0);
  });

  it("no buffer is freed while scanned out: every handle, fd and fb reference of it closed, it stays until the next flip completes", async () => {
    const r = boot();
    const { ddev, display, dev } = card(r, "sysmmu");
    dmaSetMaxSegSize(dev, 0xffffffff);
    const camDev = camera(r, "direct");
    const p = openCard(r, ddev);
    const [a, b] = [camDev.alloc(XRGB_FRAME), camDev.alloc(XRGB_FRAME)] as [CamBuf, CamBuf];
    const bytesA = pattern(XRGB_FRAME, 5);
    camDev.capture(a, bytesA);
    camDev.capture(b, pattern(XRGB_FRAME, 6));
    const fdA = camDev.expbuf(p.proc, a);
    const fdB = camDev.expbuf(p.proc, b);
    const hA = fdToHandle(p.proc, p.fd, fdA);
    const hB = fdToHandle(p.proc, p.fd, fdB);
    const fbA = addFb(p.proc, p.fd, W, H, [hA], [W * 4]);
    const fbB = addFb(p.proc, p.fd, W, H, [hB], [W * 4]);
    setCrtc(p.proc, p.fd, ddev, fbA);
    await r.kernel.clock.runUntilIdle();
    // close every user-space reference to A: fd, GEM handle, and the camera's own reference
    p.proc.close(fdA);
    p.proc.ioctl(p.fd, DRM_IOCTL_GEM_CLOSE, { handle: hA });
    a.dmabuf.file.put();
    expect(a.released).toBe(false);
    await vblanks(r, p.proc, p.fd, 3);
    expect(display.last!.fb).toBe(fbA);
    expect(display.last!.planes[0]).toEqual(bytesA); // still intact
    // flip away and remove the fb: A goes at the vblank that completes the flip
    flip(p.proc, p.fd, ddev, fbB);
    expect(p.proc.ioctl(p.fd, DRM_IOCTL_MODE_RMFB, fbA)).toBe(0);
    expect(a.released).toBe(false);
    let releasedAt = -1;
    r.kernel.trace.on("drm_gem_free", (rec) => {
      if (releasedAt < 0) releasedAt = rec.ts;
    });
    const flipAt = ddev.crtc.vblankCount().seq + 1;
    await r.kernel.clock.runUntilIdle();
    expect(a.released).toBe(true);
    expect(display.history.find((h) => h.fb === fbB)!.seq).toBe(flipAt);
    expect(releasedAt).toBe(display.last!.time);
    expect(a.dmabuf.released).toBe(true);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    b.dmabuf.file.put();
    expect(camDev.live).toBe(0);
    expect(dmaBufStats(r.kernel)).toEqual([]);
  });

  for (const order of ["exporter first", "importer first"] as const) {
    it(`release order does not matter (${order})`, async () => {
      const r = boot();
      const { ddev } = card(r, "direct");
      const camDev = camera(r, "direct");
      const buf = camDev.alloc(8192);
      const p = openCard(r, ddev);
      const bufFd = camDev.expbuf(p.proc, buf);
      const h = fdToHandle(p.proc, p.fd, bufFd);
      p.proc.close(bufFd);
      if (order === "exporter first") {
        buf.dmabuf.file.put();
        expect(buf.released).toBe(false); // the import holds it
        p.proc.ioctl(p.fd, DRM_IOCTL_GEM_CLOSE, { handle: h });
        expect(buf.released).toBe(true);
      } else {
        p.proc.ioctl(p.fd, DRM_IOCTL_GEM_CLOSE, { handle: h });
        expect(buf.dmabuf.attachments).toEqual([]);
        expect(buf.released).toBe(false);
        buf.dmabuf.file.put();
        expect(buf.released).toBe(true);
      }
      expect(ddev.objectCount).toBe(0);
      p.proc.exit(0);
      expect(dmaBufStats(r.kernel)).toEqual([]);
    });
  }
});

describe("PRIME: DRM → dma-buf", () => {
  it("export → import in another process (passed over a Unix socket) is the same GEM object; exporting twice gives the same dma-buf", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const a = openCard(r, ddev, "renderer");
    const b = openCard(r, ddev, "compositor");
    const d = createDumb(a.proc, a.fd, W, H);
    const va = mapDumb(a.proc, a.fd, d.handle, d.size);
    a.proc.memWrite(va, pattern(64, 7));
    const exports: number[] = [];
    r.kernel.trace.on("drm_prime_export", (rec) => exports.push(rec.data.ino));
    const fd1 = handleToFd(a.proc, a.fd, d.handle);
    const fd2 = handleToFd(a.proc, a.fd, d.handle, 0);
    expect(exports[0]).toBe(exports[1]);
    expect(dmaBufFromFile(a.proc.fds.get(fd1)!)).toBe(dmaBufFromFile(a.proc.fds.get(fd2)!));
    expect(a.proc.getFdFlags(fd1)).toBe(FD_CLOEXEC);
    expect(a.proc.getFdFlags(fd2)).toBe(0);
    expect(a.proc.getFileFlags(fd1) & 3).toBe(O_RDWR);
    // pass it to the compositor
    const listen = b.proc.listen("/run/frames");
    const conn = a.proc.connect("/run/frames");
    a.proc.sendmsg(conn, { data: new Uint8Array([1]), fds: [fd1] });
    const { fds } = b.proc.recvmsg(b.proc.accept(listen));
    const hb = fdToHandle(b.proc, b.fd, fds[0]!);
    expect(drmFileAt(b.proc, b.fd).objectOf(hb)).toBe(drmFileAt(a.proc, a.fd).objectOf(d.handle));
    expect(ddev.objectCount).toBe(1);
    expect(dmaBufFromFile(b.proc.fds.get(fds[0]!)!)!.attachments).toEqual([]); // a self-import attaches nothing
    // the renderer goes away; the compositor's handle keeps the memory
    a.proc.exit(0);
    expect(ddev.objectCount).toBe(1);
    b.proc.exit(0);
    expect(ddev.objectCount).toBe(0);
    expect(dmaBufStats(r.kernel)).toEqual([]);
  });

  it("a dumb buffer exported to a camera is mapped for it (its writes land in the buffer); mmap of the dma-buf fd shares the bytes", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const camDev = camera(r, "sysmmu");
    const p = openCard(r, ddev);
    const d = createDumb(p.proc, p.fd, W, H);
    const fd = handleToFd(p.proc, p.fd, d.handle);
    const buf = dmaBufFromFile(p.proc.fds.get(fd)!)!;
    // the camera imports the display's buffer and captures into it
    const att = dmaBufAttach(buf, camDev.dev);
    const sgt = dmaBufMapAttachment(att, DMA_FROM_DEVICE);
    expect(sgt.nents).toBe(1);
    const bytes = pattern(d.size, 8);
    camDev.port.write(sgt.sgl[0]!.dmaAddress, bytes);
    dmaBufUnmapAttachment(att, sgt, DMA_FROM_DEVICE);
    dmaBufDetach(buf, att);
    const dumbVa = mapDumb(p.proc, p.fd, d.handle, d.size);
    expect(p.proc.memRead(dumbVa, d.size)).toEqual(bytes);
    // user space maps the dma-buf itself: write-combining, the same memory
    const va = p.proc.mmap({ fd, length: d.size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    expect(p.proc.space.findVma(va)!.memtypeName).toBe("writecombine");
    p.proc.memWrite(va + 100, new Uint8Array([1, 2, 3]));
    expect([...p.proc.memRead(dumbVa + 100, 3)]).toEqual([1, 2, 3]);
    // the GEM handle goes, the dma-buf mapping alone keeps the object
    p.proc.ioctl(p.fd, DRM_IOCTL_GEM_CLOSE, { handle: d.handle });
    p.proc.munmap(dumbVa, d.size);
    p.proc.close(fd);
    expect(ddev.objectCount).toBe(1);
    expect([...p.proc.memRead(va + 100, 3)]).toEqual([1, 2, 3]);
    p.proc.munmap(va, d.size);
    expect(ddev.objectCount).toBe(0);
    expect(dmaBufStats(r.kernel)).toEqual([]);
    p.proc.exit(0);
  });

  it("errors: EBADF / EINVAL for fds that are not dma-bufs, ENOENT for a bad handle, EINVAL for bad flags", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const p = openCard(r, ddev);
    expect(() => fdToHandle(p.proc, p.fd, 99)).toThrow(kerr("EBADF"));
    expect(() => fdToHandle(p.proc, p.fd, p.fd)).toThrow(kerr("EINVAL", /not a dma-buf/));
    expect(() => handleToFd(p.proc, p.fd, 5)).toThrow(kerr("ENOENT", /handle 5/));
    const d = createDumb(p.proc, p.fd, 8, 8);
    expect(() => handleToFd(p.proc, p.fd, d.handle, 0x4)).toThrow(kerr("EINVAL", /flags 0x4/));
    expect(dmaBufStats(r.kernel)).toEqual([]);
    p.proc.exit(0);
  });

  it("a dma-heap buffer written by the CPU (with DMA_BUF_IOCTL_SYNC) is scanned out byte-exact through the SysMMU", async () => {
    const r = boot();
    systemHeapCreate(r.kernel);
    const { ddev, display, dev } = card(r, "sysmmu");
    dmaSetMaxSegSize(dev, 0xffffffff);
    const p = openCard(r, ddev);
    const heap = p.proc.open("/dev/dma_heap/system", O_RDONLY);
    const alloc = { len: XRGB_FRAME, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
    p.proc.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, alloc);
    const handle = fdToHandle(p.proc, p.fd, alloc.fd);
    const fb = addFb(p.proc, p.fd, W, H, [handle], [W * 4]);
    const va = p.proc.mmap({
      fd: alloc.fd,
      length: XRGB_FRAME,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_SHARED,
    });
    const bytes = pattern(XRGB_FRAME, 9);
    p.proc.ioctl(alloc.fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
    p.proc.memWrite(va, bytes); // cacheable: dirty in the CPU cache
    p.proc.ioctl(alloc.fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });
    setCrtc(p.proc, p.fd, ddev, fb);
    await r.kernel.clock.runUntilIdle();
    expect(display.last!.planes[0]).toEqual(bytes);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    expect(dmaBufStats(r.kernel)).toEqual([]);
  });

  it("a dma-buf of another DRM device is a real import (attached, mapped for this display)", async () => {
    const r = boot();
    const gpu = card(r, "direct");
    const disp = card(r, "sysmmu");
    dmaSetMaxSegSize(disp.dev, 0xffffffff);
    const g = openCard(r, gpu.ddev, "renderer");
    const d = createDumb(g.proc, g.fd, W, H);
    const va = mapDumb(g.proc, g.fd, d.handle, d.size);
    const bytes = pattern(d.size, 10);
    g.proc.memWrite(va, bytes);
    const bufFd = handleToFd(g.proc, g.fd, d.handle);
    const c = openCard(r, disp.ddev, "compositor");
    const cfd = c.proc.fdInstall(g.proc.fget(bufFd));
    const h = fdToHandle(c.proc, c.fd, cfd);
    const buf = dmaBufFromFile(c.proc.fds.get(cfd)!)!;
    expect(buf.attachments.map((x) => x.dev.name)).toEqual([disp.dev.name]);
    const fb = addFb(c.proc, c.fd, W, H, [h], [d.pitch]);
    setCrtc(c.proc, c.fd, disp.ddev, fb);
    await r.kernel.clock.runUntilIdle();
    expect(disp.display.last!.planes[0]).toEqual(bytes.subarray(0, XRGB_FRAME));
    g.proc.exit(0); // the renderer goes first: the import keeps the buffer
    expect(gpu.ddev.objectCount).toBe(1);
    c.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
    expect(gpu.ddev.objectCount).toBe(0);
    expect(disp.ddev.objectCount).toBe(0);
    expect(dmaBufStats(r.kernel)).toEqual([]);
  });
});
