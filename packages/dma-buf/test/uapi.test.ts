// The dma-buf uapi (§7.2): DMA_BUF_IOCTL_SYNC flag rules (as tools/testing/selftests/dmabuf-heaps
// dmabuf_sync and igt's dmabuf sync tests check them), SET_NAME, EXPORT/IMPORT_SYNC_FILE, unknown
// ioctls, and how fences on the reservation object gate begin_cpu_access and poll.
import { DMA_FROM_DEVICE } from "@umm/dma-mapping-arm";
import { NSEC_PER_USEC, PAGE_SIZE } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { _IO, _IOW, O_RDWR, POLLIN, POLLOUT, type Process } from "@umm/kernel-process";
import { describe, expect, it } from "vitest";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  DMA_RESV_USAGE_READ,
  DMA_RESV_USAGE_WRITE,
  type DmaBuf,
  DmaFence,
  dmaBufBeginCpuAccess,
  dmaBufGet,
  dmaBufPut,
  dmaBufShowFdinfo,
  dmaFenceContextAlloc,
  dmaFenceSignal,
  dmaResvAddFence,
  dmaResvGetFences,
  dmaResvLock,
  dmaResvReserveFences,
  dmaResvUnlock,
  mockFenceOps,
  SYNC_IOC_FILE_INFO,
  type SyncFileInfo,
  syncFileCreate,
} from "../src/index.js";
import { boot, proc, record } from "./helpers.js";

function alloc(p: Process, heap = "system", len = 4 * PAGE_SIZE): number {
  const h = p.open(`/dev/dma_heap/${heap}`, O_RDWR);
  const req = { len, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
  p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, req);
  p.close(h);
  return req.fd;
}

function setup() {
  const r = boot();
  const p = proc(r, "app");
  const fd = alloc(p);
  const buf = r.kernel.withCurrent(p, () => dmaBufGet(r.kernel, fd));
  dmaBufPut(buf); // the fd keeps it; tests use the handle to add fences
  return { r, p, fd, buf };
}

function addFence(buf: DmaBuf, usage: 1 | 2): DmaFence {
  const f = new DmaFence(buf.kernel, mockFenceOps("gpu", "ring0"), dmaFenceContextAlloc(buf.kernel), 1);
  dmaResvLock(buf.resv);
  dmaResvReserveFences(buf.resv, 1);
  dmaResvAddFence(buf.resv, f, usage);
  dmaResvUnlock(buf.resv);
  return f;
}

describe("DMA_BUF_IOCTL_SYNC", () => {
  it("accepts READ, WRITE and RW with START or END, and maps them to begin/end with the right direction", async () => {
    const { r, p, fd } = setup();
    const rec = record(r.kernel, ["dma_buf_begin_cpu_access", "dma_buf_end_cpu_access"]);
    for (const rw of [DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW]) {
      expect(await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | rw })).toBe(0);
      expect(await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | rw })).toBe(0);
    }
    const seen = rec.records().map((e) => `${e.name} ${(e.data as { dir: string }).dir}`);
    expect(seen).toEqual([
      "dma_buf_begin_cpu_access FROM_DEVICE",
      "dma_buf_end_cpu_access FROM_DEVICE",
      "dma_buf_begin_cpu_access TO_DEVICE",
      "dma_buf_end_cpu_access TO_DEVICE",
      "dma_buf_begin_cpu_access BIDIRECTIONAL",
      "dma_buf_end_cpu_access BIDIRECTIONAL",
    ]);
  });

  it("EINVAL for unknown bits or neither READ nor WRITE; EFAULT for a bad pointer", () => {
    const { p, fd } = setup();
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: 1 << 3 })).toThrow(kerr("EINVAL", /bits outside/));
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_RW + 2 ** 40 })).toThrow(
      kerr("EINVAL"),
    );
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START })).toThrow(
      kerr("EINVAL", /neither/),
    );
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END })).toThrow(
      kerr("EINVAL", /neither/),
    );
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, {})).toThrow(kerr("EINVAL"));
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, null)).toThrow(kerr("EFAULT"));
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: "rw" })).toThrow(kerr("EFAULT"));
  });

  it("does not check that START and END pair up", async () => {
    const { p, fd } = setup();
    expect(await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW })).toBe(0);
    expect(await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW })).toBe(0);
    expect(await p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW })).toBe(0);
  });
});

describe("fences gate CPU access and poll", () => {
  it("a read waits for the write fence; a write waits for read fences too", async () => {
    const { r, p, fd, buf } = setup();
    const writer = addFence(buf, DMA_RESV_USAGE_WRITE);
    const reader = addFence(buf, DMA_RESV_USAGE_READ);
    r.kernel.clock.after(5 * NSEC_PER_USEC, () => dmaFenceSignal(writer));
    r.kernel.clock.after(9 * NSEC_PER_USEC, () => dmaFenceSignal(reader));
    const read = p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ });
    expect(read).toBeInstanceOf(Promise);
    await r.kernel.clock.runUntil(read as Promise<number>);
    expect(r.kernel.clock.now()).toBe(5 * NSEC_PER_USEC);
    const write = p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
    await r.kernel.clock.runUntil(write as Promise<number>);
    expect(r.kernel.clock.now()).toBe(9 * NSEC_PER_USEC);
    // nothing pending: a plain number, no promise
    expect(p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW })).toBe(0);
  });

  it("dma_buf_begin_cpu_access runs the exporter hook at once and resolves when the fences signal", async () => {
    const { r, buf } = setup();
    const f = addFence(buf, DMA_RESV_USAGE_WRITE);
    let done = false;
    const wait = dmaBufBeginCpuAccess(buf, DMA_FROM_DEVICE).then(() => {
      done = true;
    });
    await r.kernel.clock.runUntilIdle();
    expect(done).toBe(false);
    dmaFenceSignal(f);
    await r.kernel.clock.runUntil(wait);
    expect(done).toBe(true);
  });

  it("poll: POLLIN once the write fences signalled, POLLOUT once every fence did; a poller wakes", async () => {
    const { r, p, fd, buf } = setup();
    expect(await p.poll([{ fd, events: POLLIN | POLLOUT }], 0)).toEqual([POLLIN | POLLOUT]);
    const w = addFence(buf, DMA_RESV_USAGE_WRITE);
    const rd = addFence(buf, DMA_RESV_USAGE_READ);
    expect(await p.poll([{ fd, events: POLLIN | POLLOUT }], 0)).toEqual([0]);
    r.kernel.clock.after(1000, () => dmaFenceSignal(w));
    const waitIn = p.poll([{ fd, events: POLLIN }]);
    expect(await r.kernel.clock.runUntil(waitIn)).toEqual([POLLIN]);
    expect(await p.poll([{ fd, events: POLLOUT }], 0)).toEqual([0]);
    r.kernel.clock.after(1000, () => dmaFenceSignal(rd));
    expect(await r.kernel.clock.runUntil(p.poll([{ fd, events: POLLOUT }]))).toEqual([POLLOUT]);
  });
});

describe("DMA_BUF_SET_NAME", () => {
  it("names the buffer (fdinfo shows it) through _A and _B; names of 32 bytes or more are EINVAL", () => {
    const { p, fd, buf } = setup();
    expect(DMA_BUF_SET_NAME).toBe(DMA_BUF_SET_NAME_A);
    p.ioctl(fd, DMA_BUF_SET_NAME_A, "camera-frame-0");
    expect(buf.name).toBe("camera-frame-0");
    p.ioctl(fd, DMA_BUF_SET_NAME_B, "x".repeat(31));
    expect(buf.name).toBe("x".repeat(31));
    expect(() => p.ioctl(fd, DMA_BUF_SET_NAME, "y".repeat(32))).toThrow(kerr("EINVAL", /DMA_BUF_NAME_LEN/));
    expect(() => p.ioctl(fd, DMA_BUF_SET_NAME, 42)).toThrow(kerr("EFAULT"));
    expect(buf.name).toBe("x".repeat(31));
    const file = p.fget(fd);
    expect(dmaBufShowFdinfo(file)).toContain(`name:\t${"x".repeat(31)}\n`);
    file.put();
  });
});

describe("sync files", () => {
  it("EXPORT_SYNC_FILE: READ gives the writers, WRITE every fence; no fence gives a signalled stub", () => {
    const { p, fd, buf } = setup();
    const none = { flags: DMA_BUF_SYNC_READ, fd: -1 };
    p.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, none);
    expect(p.getFdFlags(none.fd)).toBe(1); // O_CLOEXEC
    const info: SyncFileInfo = {
      name: "",
      status: 0,
      flags: 0,
      num_fences: 0,
      pad: 0,
      sync_fence_info: null,
    };
    const query = (sfd: number) => {
      info.num_fences = 0; // count only
      p.ioctl(sfd, SYNC_IOC_FILE_INFO, info);
    };
    query(none.fd);
    expect(info.status).toBe(1);
    const w = addFence(buf, DMA_RESV_USAGE_WRITE);
    addFence(buf, DMA_RESV_USAGE_READ);
    const rd = { flags: DMA_BUF_SYNC_READ, fd: -1 };
    p.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, rd);
    query(rd.fd);
    expect(info.num_fences).toBe(1);
    expect(info.status).toBe(0);
    const wr = { flags: DMA_BUF_SYNC_WRITE, fd: -1 };
    p.ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, wr);
    query(wr.fd);
    expect(info.num_fences).toBe(2);
    dmaFenceSignal(w);
    query(rd.fd);
    expect(info.status).toBe(1);
  });

  it("EXPORT and IMPORT: EINVAL for flags outside RW or empty; IMPORT EINVAL for an fd that is not a sync_file", () => {
    const { p, fd } = setup();
    for (const cmd of [DMA_BUF_IOCTL_EXPORT_SYNC_FILE, DMA_BUF_IOCTL_IMPORT_SYNC_FILE]) {
      expect(() => p.ioctl(fd, cmd, { flags: 0, fd: 0 })).toThrow(kerr("EINVAL"));
      expect(() => p.ioctl(fd, cmd, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ, fd: 0 })).toThrow(
        kerr("EINVAL"),
      );
      expect(() => p.ioctl(fd, cmd, 7)).toThrow(kerr("EFAULT"));
    }
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_READ, fd })).toThrow(
      kerr("EINVAL", /not a sync_file/),
    );
    expect(() => p.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_READ, fd: 99 })).toThrow(
      kerr("EINVAL"),
    );
  });

  it("IMPORT_SYNC_FILE adds the fence as a writer (WRITE) or a reader (READ), which then gates SYNC START", async () => {
    const { r, p, fd, buf } = setup();
    const gpu = new DmaFence(r.kernel, mockFenceOps("gpu", "ring0"), dmaFenceContextAlloc(r.kernel), 7);
    const sf = syncFileCreate(gpu);
    const sfd = p.fdInstall(sf.file);
    p.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_WRITE, fd: sfd });
    expect(dmaResvGetFences(buf.resv, DMA_RESV_USAGE_WRITE)).toEqual([gpu]);
    const start = p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ });
    expect(start).toBeInstanceOf(Promise);
    r.kernel.clock.after(100, () => dmaFenceSignal(gpu));
    await r.kernel.clock.runUntil(start as Promise<number>);
    const other = new DmaFence(r.kernel, mockFenceOps(), dmaFenceContextAlloc(r.kernel), 1);
    const ofd = p.fdInstall(syncFileCreate(other).file);
    p.ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_READ, fd: ofd });
    expect(dmaResvGetFences(buf.resv, DMA_RESV_USAGE_WRITE)).not.toContain(other);
    expect(dmaResvGetFences(buf.resv, DMA_RESV_USAGE_READ)).toContain(other);
  });
});

describe("unknown ioctls", () => {
  it("are ENOTTY", () => {
    const { p, fd } = setup();
    expect(() => p.ioctl(fd, _IO("b", 9))).toThrow(kerr("ENOTTY"));
    expect(() => p.ioctl(fd, _IOW("b", 0, 16), { flags: 1 })).toThrow(kerr("ENOTTY"));
  });
});
