// /dev/ump: the ioctl ABI of §1.6, mmap by secure ID, sessions and their cleanup.
import { fc, test } from "@fast-check/vitest";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { _IOC_DIR, _IOC_NR, _IOC_READ, _IOC_SIZE, _IOC_TYPE, _IOC_WRITE, O_RDWR } from "@umm/kernel-process";
import { describe, expect, it } from "vitest";
import {
  UMP_IOC_ALLOCATE,
  UMP_IOC_CACHE_OPERATIONS_CONTROL,
  UMP_IOC_LOCK,
  UMP_IOC_MSYNC,
  UMP_IOC_QUERY_API_VERSION,
  UMP_IOC_RELEASE,
  UMP_IOC_SIZE_GET,
  UMP_IOC_SWITCH_HW_USAGE,
  UMP_IOC_UNLOCK,
  UMP_IOCTL_API_VERSION,
  UMP_MSYNC_READOUT_CACHE_ENABLED,
  UMP_READ_WRITE,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  umpDdHandleGet,
  umpLiveHandles,
  umpMemoryUsage,
} from "../src/index.js";
import { bootUmp, expectUmpConsistent, umpRefAudit } from "../src/testing.js";
import { rawAlloc, rawClient, rawMap, rawRelease, recording } from "./helpers.js";

describe("ioctl numbers", () => {
  it("use magic 0x90 with ARM's numbers, directions and 32-bit struct sizes", () => {
    const table: [number, number, number, number][] = [
      [UMP_IOC_QUERY_API_VERSION, 1, _IOC_READ, 12],
      [UMP_IOC_ALLOCATE, 2, _IOC_READ | _IOC_WRITE, 16],
      [UMP_IOC_RELEASE, 3, _IOC_READ, 8],
      [UMP_IOC_SIZE_GET, 4, _IOC_READ | _IOC_WRITE, 12],
      [UMP_IOC_MSYNC, 7, _IOC_WRITE, 32],
      [UMP_IOC_CACHE_OPERATIONS_CONTROL, 8, _IOC_WRITE, 8],
      [UMP_IOC_SWITCH_HW_USAGE, 9, _IOC_WRITE, 12],
      [UMP_IOC_LOCK, 10, _IOC_WRITE, 12],
      [UMP_IOC_UNLOCK, 11, _IOC_WRITE, 8],
    ];
    for (const [cmd, nr, dir, size] of table) {
      expect([_IOC_TYPE(cmd), _IOC_NR(cmd), _IOC_DIR(cmd), _IOC_SIZE(cmd)]).toEqual([0x90, nr, dir, size]);
    }
  });
});

describe("UMP_IOC_QUERY_API_VERSION", () => {
  it("accepts v2 and v1 and reports the driver's version to anything else", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const v2 = { version: UMP_IOCTL_API_VERSION, compatible: 0 };
    proc.ioctl(fd, UMP_IOC_QUERY_API_VERSION, v2);
    expect(v2).toEqual({ version: 0x00020002, compatible: 1 });
    const v1 = { version: 0x00010001, compatible: 0 };
    proc.ioctl(fd, UMP_IOC_QUERY_API_VERSION, v1);
    expect(v1.compatible).toBe(1);
    const v3 = { version: 0x00030003, compatible: 1 };
    proc.ioctl(fd, UMP_IOC_QUERY_API_VERSION, v3);
    expect(v3).toEqual({ version: 0x00020002, compatible: 0 });
  });
});

describe("UMP_IOC_ALLOCATE", () => {
  it("makes size 0 one page and page-aligns the rest; the session holds the only reference", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    for (const [asked, got] of [
      [0, PAGE_SIZE],
      [1, PAGE_SIZE],
      [4096, 4096],
      [4097, 8192],
      [100_000, 102_400],
    ] as const) {
      const a = rawAlloc(proc, fd, asked);
      expect(a.size).toBe(got);
      expect(umpDdHandleGet(kernel, a.secure_id)?.refCount).toBe(1);
    }
    expect(umpRefAudit(kernel).every((e) => e.sessionEntries === 1 && e.mappings === 0)).toBe(true);
    expectUmpConsistent(kernel);
  });

  it("is cached exactly when USE_CACHE is set", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const plain = rawAlloc(proc, fd, PAGE_SIZE);
    const cached = rawAlloc(proc, fd, PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE);
    expect(umpDdHandleGet(kernel, plain.secure_id)?.isCached).toBe(false);
    expect(umpDdHandleGet(kernel, cached.secure_id)?.isCached).toBe(true);
  });

  it("fails with ENOTTY when the backend has no memory (ARM's INVALID_FUNC quirk) and changes nothing", () => {
    const { kernel, mm } = bootUmp({ ramSize: 8 * SZ_1M });
    const { proc, fd } = rawClient(kernel, "app");
    const free = mm.buddy.nrFreePages;
    const arg = { secure_id: 7, size: 64 * SZ_1M, constraints: 0 };
    const { events } = recording(kernel, ["ump_alloc"], () =>
      expect(() => proc.ioctl(fd, UMP_IOC_ALLOCATE, arg)).toThrow(kerr("ENOTTY", /no os memory/)),
    );
    expect(events).toEqual([]);
    expect(arg).toEqual({ secure_id: 7, size: 64 * SZ_1M, constraints: 0 });
    expect(mm.buddy.nrFreePages).toBe(free);
    expect(umpLiveHandles(kernel)).toEqual([]);
  });

  it("rejects NULL with ENOTTY, a non-struct with EFAULT and a non-u32 field with EINVAL", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    expect(() => proc.ioctl(fd, UMP_IOC_ALLOCATE, null)).toThrow(kerr("ENOTTY", /NULL/));
    expect(() => proc.ioctl(fd, UMP_IOC_ALLOCATE, 42)).toThrow(kerr("EFAULT"));
    expect(() => proc.ioctl(fd, UMP_IOC_ALLOCATE, { size: -1, constraints: 0 })).toThrow(
      kerr("EINVAL", /size/),
    );
    expect(() => proc.ioctl(fd, UMP_IOC_ALLOCATE, { size: 4096 })).toThrow(kerr("EINVAL", /constraints/));
    expect(umpLiveHandles(kernel)).toEqual([]);
  });
});

describe("UMP_IOC_RELEASE", () => {
  it("drops this session's reference and frees the buffer at 0", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, SZ_1M);
    expect(umpMemoryUsage(kernel)).toBe(SZ_1M);
    const { events } = recording(kernel, ["ump_release"], () => rawRelease(proc, fd, a.secure_id));
    expect(events.map((e) => e.data)).toEqual([{ secure_id: a.secure_id }]);
    expect(umpDdHandleGet(kernel, a.secure_id)).toBeNull();
    expect(umpMemoryUsage(kernel)).toBe(0);
  });

  it("refuses, with ENOTTY, an ID another session allocated or one released already", () => {
    const { kernel } = bootUmp();
    const a = rawClient(kernel, "a");
    const b = rawClient(kernel, "b");
    const buf = rawAlloc(a.proc, a.fd, PAGE_SIZE);
    expect(() => rawRelease(b.proc, b.fd, buf.secure_id)).toThrow(kerr("ENOTTY", /does not belong/));
    // a second fd of the same process is another session
    const fd2 = a.proc.open("/dev/ump", O_RDWR);
    expect(() => rawRelease(a.proc, fd2, buf.secure_id)).toThrow(kerr("ENOTTY"));
    rawRelease(a.proc, a.fd, buf.secure_id);
    expect(() => rawRelease(a.proc, a.fd, buf.secure_id)).toThrow(kerr("ENOTTY"));
  });
});

describe("UMP_IOC_SIZE_GET", () => {
  it("answers any session for an ID it may import; EFAULT for an unknown ID, the arg untouched", () => {
    const { kernel } = bootUmp();
    const a = rawClient(kernel, "a", 0);
    const buf = rawAlloc(a.proc, a.fd, 3 * PAGE_SIZE);
    const b = rawClient(kernel, "b", 0);
    const q = { secure_id: buf.secure_id, size: 0 };
    b.proc.ioctl(b.fd, UMP_IOC_SIZE_GET, q);
    expect(q.size).toBe(3 * PAGE_SIZE);
    const unknown = { secure_id: buf.secure_id ^ 1, size: 5 };
    expect(() => b.proc.ioctl(b.fd, UMP_IOC_SIZE_GET, unknown)).toThrow(kerr("EFAULT"));
    expect(unknown.size).toBe(5);
  });
});

describe("unknown commands", () => {
  it("are EFAULT, as in Samsung's ump_file_ioctl (not ENOTTY)", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    expect(() => proc.ioctl(fd, 0xc0109005, {})).toThrow(kerr("EFAULT", /no handler/));
  });
});

describe("MSYNC, SWITCH_HW_USAGE, LOCK and UNLOCK on an unknown ID", () => {
  it("return 0 and change nothing", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const m = { mapping: 0, address: 0, size: 0, op: 0, cookie: 0, secure_id: 12345, is_cached: 9 };
    expect(proc.ioctl(fd, UMP_IOC_MSYNC, m)).toBe(0);
    expect(m.is_cached).toBe(9);
    expect(proc.ioctl(fd, UMP_IOC_SWITCH_HW_USAGE, { secure_id: 12345, new_user: 1 })).toBe(0);
    expect(proc.ioctl(fd, UMP_IOC_LOCK, { secure_id: 12345, lock_usage: UMP_READ_WRITE })).toBe(0);
    expect(proc.ioctl(fd, UMP_IOC_UNLOCK, { secure_id: 12345 })).toBe(0);
  });

  it("LOCK records the usage and never blocks; UNLOCK clears it", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, PAGE_SIZE);
    proc.ioctl(fd, UMP_IOC_LOCK, { secure_id: a.secure_id, lock_usage: UMP_READ_WRITE });
    proc.ioctl(fd, UMP_IOC_LOCK, { secure_id: a.secure_id, lock_usage: UMP_READ_WRITE });
    expect(umpDdHandleGet(kernel, a.secure_id)?.lockUsage).toBe(UMP_READ_WRITE);
    proc.ioctl(fd, UMP_IOC_UNLOCK, { secure_id: a.secure_id });
    expect(umpDdHandleGet(kernel, a.secure_id)?.lockUsage).toBe(0);
  });
});

describe("mmap", () => {
  it("maps the buffer named by the page offset; the mapping takes a reference (VMA named ump:<id>)", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 2 * PAGE_SIZE);
    const { result: va, events } = recording(kernel, ["ump_map"], () =>
      rawMap(proc, fd, a.secure_id, a.size),
    );
    expect(events.map((e) => e.data)).toEqual([{ secure_id: a.secure_id, pid: proc.pid }]);
    expect(umpDdHandleGet(kernel, a.secure_id)?.refCount).toBe(2);
    expect(proc.space.findVma(va)?.name).toBe(`ump:0x${a.secure_id.toString(16)}`);
    proc.memWrite(va + PAGE_SIZE, new Uint8Array([7]));
    const mem = umpDdHandleGet(kernel, a.secure_id)!;
    expect(proc.space.translate(va + PAGE_SIZE)).toBe(mem.blocks[1]!.addr);
    expectUmpConsistent(kernel);
  });

  it("refuses a length other than the buffer's size and an unknown ID with EFAULT", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 2 * PAGE_SIZE);
    expect(() => rawMap(proc, fd, a.secure_id, PAGE_SIZE)).toThrow(kerr("EFAULT", /too much or little/));
    expect(() => rawMap(proc, fd, a.secure_id, 3 * PAGE_SIZE)).toThrow(kerr("EFAULT"));
    expect(() => rawMap(proc, fd, a.secure_id + 1, 2 * PAGE_SIZE)).toThrow(kerr("EFAULT", /unknown/));
    expect(umpDdHandleGet(kernel, a.secure_id)?.refCount).toBe(1);
    expect(proc.space.vmas.length).toBe(0);
  });

  it("MAP_SHARED of an uncached buffer is write-combined; MAP_PRIVATE makes it cached for good", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, PAGE_SIZE);
    const wc = rawMap(proc, fd, a.secure_id, a.size);
    expect(proc.space.findVma(wc)?.memtype).toBe(1); // MT_WRITECOMBINE
    const mem = umpDdHandleGet(kernel, a.secure_id)!;
    expect(mem.isCached).toBe(false);
    const cached = rawMap(proc, fd, a.secure_id, a.size, true);
    expect(proc.space.findVma(cached)?.memtype).toBe(0); // MT_CACHEABLE
    expect(mem.isCached).toBe(true);
    proc.munmap(cached, a.size);
    expect(mem.isCached).toBe(true);
    // from now on even an uncached request maps it cached
    const again = rawMap(proc, fd, a.secure_id, a.size);
    expect(proc.space.findVma(again)?.memtype).toBe(0);
    const m = {
      mapping: again,
      address: 0,
      size: 0,
      op: UMP_MSYNC_READOUT_CACHE_ENABLED,
      cookie: 0,
      secure_id: a.secure_id,
      is_cached: 0,
    };
    proc.ioctl(fd, UMP_IOC_MSYNC, m);
    expect(m.is_cached).toBe(1);
  });

  it("holds its reference until its last piece is unmapped", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 4 * PAGE_SIZE);
    const va = rawMap(proc, fd, a.secure_id, a.size);
    rawRelease(proc, fd, a.secure_id);
    proc.munmap(va + PAGE_SIZE, PAGE_SIZE); // splits into two pieces
    proc.munmap(va, PAGE_SIZE);
    expect(umpDdHandleGet(kernel, a.secure_id)?.refCount).toBe(1);
    const { events } = recording(kernel, ["ump_unmap", "ump_release"], () => proc.munmap(va, 4 * PAGE_SIZE));
    expect(events.map((e) => e.name)).toEqual(["ump_unmap", "ump_release"]);
    expect(umpLiveHandles(kernel)).toEqual([]);
  });
});

describe("session cleanup", () => {
  it("close releases every allocation reference; the mappings keep the session until they go", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const kept = rawAlloc(proc, fd, PAGE_SIZE);
    const mapped = rawAlloc(proc, fd, PAGE_SIZE);
    const va = rawMap(proc, fd, mapped.secure_id, PAGE_SIZE);
    proc.close(fd);
    // the mapping holds the file: nothing is released yet
    expect(umpDdHandleGet(kernel, kept.secure_id)?.refCount).toBe(1);
    expect(umpDdHandleGet(kernel, mapped.secure_id)?.refCount).toBe(2);
    proc.munmap(va, PAGE_SIZE);
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(umpMemoryUsage(kernel)).toBe(0);
  });

  it("process exit unmaps and closes: every block goes back", () => {
    const { kernel, mm } = bootUmp();
    const free = mm.buddy.nrFreePages;
    const { proc, fd } = rawClient(kernel, "app");
    for (let i = 0; i < 4; i++) {
      const a = rawAlloc(proc, fd, (i + 1) * 5000, i % 2 ? UMP_REF_DRV_CONSTRAINT_USE_CACHE : 0);
      if (i < 2) rawMap(proc, fd, a.secure_id, a.size, i === 1);
    }
    expect(umpMemoryUsage(kernel)).toBeGreaterThan(0);
    proc.exit(0);
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(umpMemoryUsage(kernel)).toBe(0);
    expect(mm.buddy.nrFreePages).toBe(free);
  });
});

describe("allocation sizes", () => {
  test.prop(
    [
      fc.constantFrom("os" as const, "dedicated" as const),
      fc.array(fc.nat(3 * SZ_1M), { minLength: 1, maxLength: 8 }),
    ],
    {
      numRuns: 30,
    },
  )(
    "size ≥ max(requested, 1), page-aligned (256 KiB multiples on dedicated), blocks 4 KiB-aligned summing to it",
    (backend, sizes) => {
      const { kernel } = bootUmp({ backend, cpu: false, carveoutSize: 32 * SZ_1M, ramSize: 96 * SZ_1M });
      const { proc, fd } = rawClient(kernel, "app");
      for (const asked of sizes) {
        const a = rawAlloc(proc, fd, asked);
        expect(a.size).toBeGreaterThanOrEqual(Math.max(asked, 1));
        expect(a.size % (backend === "dedicated" ? 256 * 1024 : PAGE_SIZE)).toBe(0);
        expect(a.size - Math.max(asked, 1)).toBeLessThan(backend === "dedicated" ? 256 * 1024 : PAGE_SIZE);
        const mem = umpDdHandleGet(kernel, a.secure_id)!;
        expect(mem.blocks.reduce((s, b) => s + b.size, 0)).toBe(a.size);
        expect(mem.blocks.every((b) => b.addr % PAGE_SIZE === 0 && b.size % PAGE_SIZE === 0)).toBe(true);
      }
      expectUmpConsistent(kernel);
    },
  );
});
