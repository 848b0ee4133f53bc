// The scenario (seeds/002): a buffer the kernel recognises, referred to by an fd, passed
// between processes over a Unix socket, with an explicit cache-coherency story.
import { cpuOf } from "@umm/arch-arm";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { O_CLOEXEC, O_RDWR, openFiles } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  type DmaHeapAllocationData,
  dmaBufGet,
  dmaBufStats,
} from "../src/index.js";
import {
  boot,
  cmaUsed,
  expectNoBuffers,
  IMP_IMPORT,
  IMP_READ,
  importer,
  pattern,
  proc,
  type Rig,
} from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;
const LEN = 2 * SZ_1M + 3 * PAGE_SIZE;

/** A allocates from the CMA heap, imports into `kind` device, passes the fd to B. */
function scenario(r: Rig, kind: "direct" | "sysmmu", name: string) {
  const imp = importer(r, name, kind);
  const a = proc(r, "A");
  const b = proc(r, "B");
  const listen = b.listen(`/run/${name}`);
  const heapFd = a.open("/dev/dma_heap/default_cma_region", O_RDWR);
  const req: DmaHeapAllocationData = { len: LEN, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
  a.ioctl(heapFd, DMA_HEAP_IOCTL_ALLOC, req);
  const bufFd = req.fd;
  // A's driver attaches its device and maps the buffer (through the SysMMU or directly)
  const impFd = a.open(imp.path, O_RDWR);
  a.ioctl(impFd, IMP_IMPORT, { fd: bufFd, dir: 1 /* DMA_TO_DEVICE */ });
  // ... and A hands the buffer to B
  const sock = a.connect(`/run/${name}`);
  a.sendmsg(sock, { data: new Uint8Array([1]), fds: [bufFd] });
  const conn = b.accept(listen);
  const { fds } = b.recvmsg(conn);
  const fd = fds[0]!;
  return { imp, a, b, impFd, fd };
}

describe("two processes share a CMA heap buffer", () => {
  for (const kind of ["sysmmu", "direct"] as const) {
    it(`B's bytes written between SYNC START and END reach a ${kind} device of A by DMA; the buffer outlives A`, async () => {
      const r = boot();
      const used0 = cmaUsed(r);
      const { a, b, impFd, fd } = scenario(r, kind, `${kind}0`);
      expect(cmaUsed(r)).toBe(used0 + LEN / PAGE_SIZE);

      const va = b.mmap({ fd, length: LEN, prot: RW, flags: MAP_SHARED });
      const bytes = pattern(LEN, 7);
      await b.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
      b.memWrite(va, bytes);
      await b.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });

      const rd = { offset: 0, len: LEN, data: new Uint8Array(0) };
      a.ioctl(impFd, IMP_READ, rd);
      expect(Buffer.compare(rd.data, bytes)).toBe(0);
      expect(cpuOf(r.kernel).checker.total).toBe(0);

      a.exit(0); // A first: its fd, its import (attachment + reference) go
      expect(dmaBufStats(r.kernel)).toHaveLength(1);
      expect(cmaUsed(r)).toBe(used0 + LEN / PAGE_SIZE);
      expect(b.memRead(va, 16)).toEqual(bytes.subarray(0, 16));

      b.close(fd);
      expect(dmaBufStats(r.kernel)).toHaveLength(1); // the mapping still holds it
      b.munmap(va, LEN);
      expectNoBuffers(r);
      expect(cmaUsed(r)).toBe(used0);
      expect(cpuOf(r.kernel).checker.total).toBe(0);
    });
  }

  it("the coherency checker reports the device reading stale memory when B skips SYNC END", async () => {
    const r = boot();
    const { a, b, impFd, fd } = scenario(r, "sysmmu", "skip0");
    const va = b.mmap({ fd, length: LEN, prot: RW, flags: MAP_SHARED });
    await b.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
    b.memWrite(va, pattern(PAGE_SIZE, 3));
    // no SYNC END: B's bytes are still dirty in the CPU cache
    const rd = { offset: 0, len: PAGE_SIZE, data: new Uint8Array(0) };
    a.ioctl(impFd, IMP_READ, rd);
    expect(rd.data).toEqual(new Uint8Array(PAGE_SIZE)); // the device sees the zeros in memory
    const reports = cpuOf(r.kernel).checker.reports;
    expect(reports.length).toBeGreaterThan(0);
    expect(reports[0]!.kind).toBe("dirty-read");
    expect(reports[0]!.missing).toMatch(/clean/);
  });

  it("release does not depend on who goes first: importer first or exporter first", () => {
    for (const order of ["importer-first", "exporter-first"] as const) {
      const r = boot();
      const used0 = cmaUsed(r);
      const { a, b, fd } = scenario(r, "direct", `order-${order}`);
      if (order === "importer-first") {
        a.exit(0);
        expect(dmaBufStats(r.kernel)).toHaveLength(1);
        b.exit(0);
      } else {
        b.close(fd);
        expect(dmaBufStats(r.kernel)).toHaveLength(1); // A's fd and A's import hold it
        a.exit(0);
        b.exit(0);
      }
      expectNoBuffers(r);
      expect(cmaUsed(r)).toBe(used0);
      expect(openFiles(r.kernel)).toHaveLength(0);
    }
  });

  it("a third process that never received the fd cannot reach the buffer", () => {
    const r = boot();
    const { b, fd } = scenario(r, "direct", "third0");
    const c = proc(r, "C");
    // C has no fd for it; the same number in C's table is not open, or is something else
    expect(() => r.kernel.withCurrent(c, () => dmaBufGet(r.kernel, fd))).toThrow(kerr("EBADF"));
    const other = c.open("/dev/dma_heap/system", O_RDWR);
    expect(() => r.kernel.withCurrent(c, () => dmaBufGet(r.kernel, other))).toThrow(
      kerr("EINVAL", /not a dma-buf/),
    );
    for (let n = 0; n < 8; n++) {
      expect(() => c.mmap({ fd: n, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED })).toThrow();
    }
    // B can
    expect(r.kernel.withCurrent(b, () => dmaBufGet(r.kernel, fd)).size).toBe(LEN);
  });
});
