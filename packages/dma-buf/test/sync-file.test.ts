// sync_file (drivers/dma-buf/sync_file.c), with ideas from tools/testing/selftests/sync
// (sync_merge, sync_fence_info, poll on a fence fd).
import { createKernel, ERRNO } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { _IO, POLLIN, spawn } from "@umm/kernel-process";
import { mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  DmaFence,
  dmaFenceContextAlloc,
  dmaFenceSetError,
  dmaFenceSignal,
  isSyncFile,
  mockFenceOps,
  SYNC_IOC_FILE_INFO,
  SYNC_IOC_MERGE,
  SYNC_IOC_SET_DEADLINE,
  type SyncFileInfo,
  type SyncMergeData,
  syncFileCreate,
  syncFileGetFence,
  syncFileGetName,
} from "../src/index.js";

function setup() {
  const kernel = createKernel({ seed: 1 });
  mmInit(kernel, { banks: [{ start: 0x40000000, size: 0x1000000 }] }).memblockFreeAll();
  const p = spawn(kernel, { comm: "app" });
  const fence = (seqno = 1, ctx = dmaFenceContextAlloc(kernel)) =>
    new DmaFence(kernel, mockFenceOps("drv", "tl"), ctx, seqno);
  const install = (f: DmaFence) => p.fdInstall(syncFileCreate(f).file);
  return { kernel, p, fence, install };
}

const emptyInfo = (): SyncFileInfo => ({
  name: "",
  status: 0,
  flags: 0,
  num_fences: 0,
  pad: 0,
  sync_fence_info: null,
});

describe("sync_file", () => {
  it("wraps a fence in a file; sync_file_get_fence finds it by fd, null for anything else", () => {
    const { kernel, p, fence, install } = setup();
    const f = fence();
    const fd = install(f);
    const file = p.fds.get(fd)!;
    expect(isSyncFile(file)).toBe(true);
    expect(file.path).toBe("anon_inode:sync_file");
    expect(kernel.withCurrent(p, () => syncFileGetFence(kernel, fd))).toBe(f);
    expect(kernel.withCurrent(p, () => syncFileGetFence(kernel, 33))).toBeNull();
    expect(syncFileGetFence(kernel, fd)).toBeNull(); // no process current
  });

  it("is named after its fence unless a merge named it", () => {
    const { fence } = setup();
    const f = fence(5);
    expect(syncFileGetName(syncFileCreate(f))).toBe(`drv-tl${f.context}-5`);
  });

  it("poll reports POLLIN once the fence signalled, and wakes a poller", async () => {
    const { kernel, p, fence, install } = setup();
    const f = fence();
    const fd = install(f);
    expect(await p.poll([{ fd, events: POLLIN }], 0)).toEqual([0]);
    kernel.clock.after(2000, () => dmaFenceSignal(f));
    const got = await kernel.clock.runUntil(p.poll([{ fd, events: POLLIN }]));
    expect(got).toEqual([POLLIN]);
    expect(kernel.clock.now()).toBe(2000);
  });

  it("travels between processes: the receiver waits on the sender's fence", async () => {
    const { kernel, p, fence, install } = setup();
    const q = spawn(kernel, { comm: "consumer" });
    const l = q.listen("/run/fence");
    const f = fence();
    const fd = install(f);
    const s = p.connect("/run/fence");
    p.sendmsg(s, { fds: [fd] });
    p.exit(0);
    const { fds } = q.recvmsg(q.accept(l));
    kernel.clock.after(10, () => dmaFenceSignal(f));
    expect(await kernel.clock.runUntil(q.poll([{ fd: fds[0]!, events: POLLIN }]))).toEqual([POLLIN]);
  });
});

describe("SYNC_IOC_MERGE", () => {
  it("makes a new close-on-exec sync_file for both fences, with the given name", () => {
    const { kernel, p, fence, install } = setup();
    const a = fence();
    const b = fence();
    const fa = install(a);
    const data: SyncMergeData = { name: "both", fd2: install(b), fence: -1, flags: 0, pad: 0 };
    p.ioctl(fa, SYNC_IOC_MERGE, data);
    expect(data.fence).toBeGreaterThan(0);
    expect(p.getFdFlags(data.fence)).toBe(1);
    const info = emptyInfo();
    p.ioctl(data.fence, SYNC_IOC_FILE_INFO, info);
    expect(info).toMatchObject({ name: "both", num_fences: 2, status: 0 });
    dmaFenceSignal(a);
    dmaFenceSignal(b);
    info.num_fences = 0;
    p.ioctl(data.fence, SYNC_IOC_FILE_INFO, info);
    expect(info.status).toBe(1);
    // merging with a signalled fence drops it; same context keeps the later seqno
    const ctx = dmaFenceContextAlloc(kernel);
    const early = fence(1, ctx);
    const late = fence(2, ctx);
    const d2: SyncMergeData = { name: "x".repeat(40), fd2: install(late), fence: -1, flags: 0, pad: 0 };
    p.ioctl(install(early), SYNC_IOC_MERGE, d2);
    expect(kernel.withCurrent(p, () => syncFileGetFence(kernel, d2.fence))).toBe(late);
    info.num_fences = 0;
    p.ioctl(d2.fence, SYNC_IOC_FILE_INFO, info);
    expect(info.name).toBe("x".repeat(31));
  });

  it("EINVAL for flags or pad, ENOENT when fd2 is not a sync_file", () => {
    const { p, fence, install } = setup();
    const fa = install(fence());
    const fb = install(fence());
    expect(() => p.ioctl(fa, SYNC_IOC_MERGE, { name: "", fd2: fb, fence: 0, flags: 1, pad: 0 })).toThrow(
      kerr("EINVAL"),
    );
    expect(() => p.ioctl(fa, SYNC_IOC_MERGE, { name: "", fd2: fb, fence: 0, flags: 0, pad: 1 })).toThrow(
      kerr("EINVAL"),
    );
    expect(() => p.ioctl(fa, SYNC_IOC_MERGE, { name: "", fd2: 77, fence: 0, flags: 0, pad: 0 })).toThrow(
      kerr("ENOENT"),
    );
    expect(p.fds.count).toBe(2);
  });
});

describe("SYNC_IOC_FILE_INFO", () => {
  it("num_fences 0 only counts; enough room fills one entry per fence with names, status and timestamp", async () => {
    const { kernel, p, fence, install } = setup();
    const a = fence(3);
    const b = fence(4);
    const fa = install(a);
    const merged: SyncMergeData = { name: "m", fd2: install(b), fence: -1, flags: 0, pad: 0 };
    p.ioctl(fa, SYNC_IOC_MERGE, merged);
    kernel.clock.after(500, () => dmaFenceSignal(a));
    await kernel.clock.runUntilIdle();
    const info = emptyInfo();
    p.ioctl(merged.fence, SYNC_IOC_FILE_INFO, info);
    expect(info.num_fences).toBe(2);
    expect(info.sync_fence_info).toBeNull();
    info.sync_fence_info = [];
    p.ioctl(merged.fence, SYNC_IOC_FILE_INFO, info);
    expect(info.status).toBe(0);
    expect(info.sync_fence_info).toEqual([
      { obj_name: "tl", driver_name: "drv", status: 1, flags: 0, timestamp_ns: 500 },
      { obj_name: "tl", driver_name: "drv", status: 0, flags: 0, timestamp_ns: 0 },
    ]);
    info.num_fences = 1;
    expect(() => p.ioctl(merged.fence, SYNC_IOC_FILE_INFO, info)).toThrow(kerr("EINVAL", /room for 1/));
    expect(() => p.ioctl(merged.fence, SYNC_IOC_FILE_INFO, { ...emptyInfo(), flags: 1 })).toThrow(
      kerr("EINVAL"),
    );
    expect(() => p.ioctl(merged.fence, SYNC_IOC_FILE_INFO, { ...emptyInfo(), num_fences: 2 })).toThrow(
      kerr("EFAULT"),
    );
  });

  it("reports a fence error as a negative status", () => {
    const { p, fence, install } = setup();
    const f = fence();
    dmaFenceSetError(f, -ERRNO.EIO);
    dmaFenceSignal(f);
    const info = emptyInfo();
    p.ioctl(install(f), SYNC_IOC_FILE_INFO, info);
    expect(info.status).toBe(-ERRNO.EIO);
  });
});

describe("other sync_file ioctls", () => {
  it("SET_DEADLINE is accepted (no umm fence has a deadline op) with pad 0; unknown ioctls are ENOTTY", () => {
    const { p, fence, install } = setup();
    const fd = install(fence());
    expect(p.ioctl(fd, SYNC_IOC_SET_DEADLINE, { deadline_ns: 1000, pad: 0 })).toBe(0);
    expect(() => p.ioctl(fd, SYNC_IOC_SET_DEADLINE, { deadline_ns: 1000, pad: 1 })).toThrow(kerr("EINVAL"));
    expect(() => p.ioctl(fd, _IO(">", 9))).toThrow(kerr("ENOTTY"));
  });
});
