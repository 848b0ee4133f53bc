import { kerr } from "@umm/kernel-core/testing";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DRM_FILE_PAGE_OFFSET_START,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_DESTROY_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
} from "../src/index.js";
import {
  boot,
  card,
  cmaUsed,
  createDumb,
  drmFileAt,
  expectClean,
  mapDumb,
  openCard,
  pattern,
} from "./helpers.js";

afterEach(expectClean);

describe("dumb buffers", () => {
  for (const kind of ["direct", "sysmmu"] as const) {
    it(`${kind}: create, map, write through the mapping, destroy; the memory goes back (${kind})`, () => {
      const r = boot();
      const { ddev, port, display } = card(r, kind);
      void display;
      const cma0 = cmaUsed(r);
      const { proc, fd } = openCard(r, ddev);
      const frees: number[] = [];
      r.kernel.trace.on("drm_gem_free", (rec) => frees.push(rec.data.obj));
      const d = createDumb(proc, fd, 100, 30, 32);
      expect(d).toMatchObject({ handle: 1, pitch: 400, size: 12288 });
      const obj = drmFileAt(proc, fd).objectOf(d.handle)!;
      expect(obj.size).toBe(12288);
      expect(ddev.objectCount).toBe(1);
      if (kind === "direct") expect(cmaUsed(r)).toBe(cma0 + 3);
      else expect(obj.dmaAddr).toBeGreaterThanOrEqual(0x20000000);

      const va = mapDumb(proc, fd, d.handle, d.size);
      const vma = proc.space.findVma(va)!;
      expect(vma.memtypeName).toBe("writecombine");
      const bytes = pattern(d.size, 3);
      proc.memWrite(va, bytes);
      // write-combining: the bytes are in memory at once, the display sees them by DMA
      const seen = new Uint8Array(d.size);
      port.read(obj.dmaAddr, seen);
      expect(Buffer.from(seen).equals(Buffer.from(bytes))).toBe(true);

      // destroy drops the handle; the mapping still holds the object
      proc.ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, { handle: d.handle });
      expect(ddev.objectCount).toBe(1);
      expect(frees).toEqual([]);
      expect(proc.memRead(va + 5, 3)).toEqual(bytes.subarray(5, 8));
      proc.munmap(va, d.size);
      expect(frees).toEqual([obj.name]);
      expect(ddev.objectCount).toBe(0);
      expect(obj.freed).toBe(true);
      if (kind === "direct") expect(cmaUsed(r)).toBe(cma0);
      proc.exit(0);
    });
  }

  it("sysmmu: repeated create/destroy leaves the IOVA window and the buddy allocator where they were", () => {
    const r = boot();
    const { ddev } = card(r, "sysmmu");
    const { proc, fd } = openCard(r, ddev);
    const cycle = (): void => {
      const d = createDumb(proc, fd, 640, 480, 32);
      const va = mapDumb(proc, fd, d.handle, d.size);
      proc.memFill(va, 0x5a, d.size);
      proc.ioctl(fd, DRM_IOCTL_GEM_CLOSE, { handle: d.handle });
      proc.munmap(va, d.size);
    };
    cycle(); // the SysMMU's second-level tables stay allocated after the first use
    const free = r.mm.buddy.nrFreePages;
    for (let i = 0; i < 3; i++) cycle();
    expect(r.mm.buddy.nrFreePages).toBe(free);
    expect(ddev.objectCount).toBe(0);
    proc.exit(0);
  });

  it("CREATE_DUMB rejects zero and overflowing sizes with EINVAL naming the field, changing nothing", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const { proc, fd } = openCard(r, ddev);
    const bad = (a: object, re: RegExp) =>
      expect(() =>
        proc.ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, { handle: 0, pitch: 0, size: 0, ...a }),
      ).toThrow(kerr("EINVAL", re));
    bad({ width: 0, height: 10, bpp: 32 }, /width is 0/);
    bad({ width: 10, height: 0, bpp: 32 }, /height is 0/);
    bad({ width: 10, height: 10, bpp: 0 }, /bpp is 0/);
    bad({ width: 0xffffffff, height: 1, bpp: 32 }, /width .* overflows/);
    bad({ width: 0x10000, height: 0x10000, bpp: 32 }, /height .* overflows/);
    bad({ width: 10, height: 10, bpp: 0xfffffff8 }, /bpp .* overflows/);
    bad({ width: -1, height: 10, bpp: 32 }, /width -1/);
    expect(() => proc.ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, 5)).toThrow(kerr("EFAULT"));
    // too large for the display's memory
    expect(() => createDumb(proc, fd, 4096, 4096, 32)).toThrow(kerr("ENOMEM", /failed to allocate/));
    expect(ddev.objectCount).toBe(0);
    expect(drmFileAt(proc, fd).handleCount).toBe(0);
    proc.exit(0);
  });

  it("bpp rounds up to whole bytes; 16 bpp halves the pitch; the driver's pitch alignment applies", () => {
    const r = boot();
    const { ddev } = card(r, "direct", { pitchAlign: 64 });
    const { proc, fd } = openCard(r, ddev);
    expect(createDumb(proc, fd, 33, 2, 16)).toMatchObject({ pitch: 128, size: 4096 });
    expect(createDumb(proc, fd, 10, 10, 12)).toMatchObject({ pitch: 64 });
    expect(createDumb(proc, fd, 1, 1, 1)).toMatchObject({ pitch: 64, size: 4096 });
    proc.exit(0);
    expect(ddev.objectCount).toBe(0);
  });

  it("handles are per file, lowest free first; bad handles: MAP_DUMB ENOENT, DESTROY_DUMB and GEM_CLOSE EINVAL", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const a = openCard(r, ddev, "a");
    const b = openCard(r, ddev, "b");
    expect(createDumb(a.proc, a.fd, 8, 8).handle).toBe(1);
    expect(createDumb(a.proc, a.fd, 8, 8).handle).toBe(2);
    expect(createDumb(b.proc, b.fd, 8, 8).handle).toBe(1);
    a.proc.ioctl(a.fd, DRM_IOCTL_GEM_CLOSE, { handle: 1 });
    expect(createDumb(a.proc, a.fd, 8, 8).handle).toBe(1);
    expect(() => a.proc.ioctl(a.fd, DRM_IOCTL_MODE_MAP_DUMB, { handle: 9, offset: 0 })).toThrow(
      kerr("ENOENT", /handle 9/),
    );
    expect(() => a.proc.ioctl(a.fd, DRM_IOCTL_MODE_DESTROY_DUMB, { handle: 9 })).toThrow(
      kerr("EINVAL", /handle 9/),
    );
    expect(() => a.proc.ioctl(a.fd, DRM_IOCTL_GEM_CLOSE, { handle: 0 })).toThrow(kerr("EINVAL", /handle 0/));
    expect(() => a.proc.ioctl(a.fd, DRM_IOCTL_GEM_CLOSE, { handle: "1" })).toThrow(
      kerr("EINVAL", /handle "?1"?/),
    );
    expect(ddev.objectCount).toBe(3);
    a.proc.exit(0);
    b.proc.exit(0);
    expect(ddev.objectCount).toBe(0);
  });

  it("mmap: the fake offset is page-aligned above DRM_FILE_PAGE_OFFSET_START; EINVAL off any object or past its end; EACCES without a handle", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const a = openCard(r, ddev, "a");
    const b = openCard(r, ddev, "b");
    const d = createDumb(a.proc, a.fd, 64, 32);
    const m = { handle: d.handle, offset: 0 };
    a.proc.ioctl(a.fd, DRM_IOCTL_MODE_MAP_DUMB, m);
    expect(m.offset).toBe(DRM_FILE_PAGE_OFFSET_START * 4096);
    const again = { handle: d.handle, offset: 0 };
    a.proc.ioctl(a.fd, DRM_IOCTL_MODE_MAP_DUMB, again);
    expect(again.offset).toBe(m.offset);
    const map = (p: typeof a, length: number, offset: number) =>
      p.proc.mmap({ fd: p.fd, length, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, offset });
    expect(() => map(a, 4096, 0)).toThrow(kerr("EINVAL", /not inside a GEM object/));
    expect(() => map(a, d.size + 4096, m.offset)).toThrow(kerr("EINVAL", /not inside/));
    expect(() => map(b, d.size, m.offset)).toThrow(kerr("EACCES", /no handle/));
    // a mapping of the second page only
    const va = map(a, 4096, m.offset + 4096);
    a.proc.memWrite(va, new Uint8Array([7, 8, 9]));
    const full = map(a, d.size, m.offset);
    expect([...a.proc.memRead(full + 4096, 3)]).toEqual([7, 8, 9]);
    a.proc.exit(0);
    b.proc.exit(0);
    expect(ddev.objectCount).toBe(0);
  });

  it("process exit releases handles and mappings (the memory goes back)", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const cma0 = cmaUsed(r);
    const { proc, fd } = openCard(r, ddev);
    for (let i = 0; i < 3; i++) {
      const d = createDumb(proc, fd, 128, 64);
      mapDumb(proc, fd, d.handle, d.size);
    }
    expect(ddev.objectCount).toBe(3);
    expect(cmaUsed(r)).toBeGreaterThan(cma0);
    proc.exit(0);
    expect(ddev.objectCount).toBe(0);
    expect(ddev.fileCount).toBe(0);
    expect(cmaUsed(r)).toBe(cma0);
  });
});
