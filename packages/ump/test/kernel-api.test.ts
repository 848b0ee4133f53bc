// The kernel API (ump_kernel_interface.h) and module lifetime.
import { KernelBug, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { O_RDWR, spawn } from "@umm/kernel-process";
import { describe, expect, it } from "vitest";
import {
  UMP_DD_INVALID,
  UMP_DD_SUCCESS,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  UMP_USED_BY_CPU,
  type UmpDdPhysicalBlock,
  umpDdHandleCreateFromPhysBlocks,
  umpDdHandleCreateFromSecureId,
  umpDdHandleGet,
  umpDdPhysBlockCountGet,
  umpDdPhysBlockGet,
  umpDdPhysBlocksGet,
  umpDdReferenceAdd,
  umpDdReferenceRelease,
  umpDdSecureIdGet,
  umpDdSizeGet,
  umpExit,
  umpInit,
  umpLiveHandles,
  umpMemoryUsage,
} from "../src/index.js";
import { bootUmp, expectUmpConsistent, umpRefAudit } from "../src/testing.js";
import { rawAlloc, rawClient, rawMap, rawRelease, recording } from "./helpers.js";

describe("handles from secure IDs", () => {
  it("add a reference; the last release of any kind frees the ID and the memory", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 3 * PAGE_SIZE);
    const h = umpDdHandleCreateFromSecureId(kernel, a.secure_id)!;
    expect([umpDdSecureIdGet(h), umpDdSizeGet(h), umpDdPhysBlockCountGet(h), h.refCount]).toEqual([
      a.secure_id,
      3 * PAGE_SIZE,
      3,
      2,
    ]);
    umpDdReferenceAdd(h);
    expect(umpRefAudit(kernel)[0]).toMatchObject({ refCount: 3, sessionEntries: 1, kernelRefs: 2 });
    rawRelease(proc, fd, a.secure_id);
    umpDdReferenceRelease(h);
    expect(umpDdHandleGet(kernel, a.secure_id)).toBe(h);
    const { events } = recording(kernel, ["ump_release"], () => umpDdReferenceRelease(h));
    expect(events.length).toBe(1);
    expect(h.released).toBe(true);
    expect(umpDdHandleCreateFromSecureId(kernel, a.secure_id)).toBeNull();
    expect(umpMemoryUsage(kernel)).toBe(0);
    expect(() => umpDdSizeGet(h)).toThrow(KernelBug);
  });

  it("release of a reference the kernel API never took is a bug, and changes nothing", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, PAGE_SIZE);
    const h = umpDdHandleGet(kernel, a.secure_id)!;
    expect(() => umpDdReferenceRelease(h)).toThrow(KernelBug);
    expect(h.refCount).toBe(1);
    expect(() => umpDdSecureIdGet(null as never)).toThrow(KernelBug);
  });

  it("unknown IDs give UMP_DD_HANDLE_INVALID", () => {
    const { kernel } = bootUmp();
    expect(umpDdHandleCreateFromSecureId(kernel, 1)).toBeNull();
    expect(umpDdHandleGet(kernel, 0xffffffff)).toBeNull();
  });
});

describe("physical blocks", () => {
  it("ump_dd_phys_blocks_get wants the exact count; ump_dd_phys_block_get an index in range", () => {
    const { kernel } = bootUmp({ backend: "dedicated" });
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 600 * 1024);
    const h = umpDdHandleGet(kernel, a.secure_id)!;
    expect(umpDdPhysBlockCountGet(h)).toBe(3);
    const out: UmpDdPhysicalBlock[] = [];
    expect(umpDdPhysBlocksGet(h, out, 2)).toBe(UMP_DD_INVALID);
    expect(umpDdPhysBlocksGet(h, out, 4)).toBe(UMP_DD_INVALID);
    expect(umpDdPhysBlocksGet(h, null, 3)).toBe(UMP_DD_INVALID);
    expect(out).toEqual([]);
    expect(umpDdPhysBlocksGet(h, out, 3)).toBe(UMP_DD_SUCCESS);
    expect(out.map((b) => b.size)).toEqual([256 * 1024, 256 * 1024, 256 * 1024]);
    const one = { addr: 0, size: 0 };
    expect(umpDdPhysBlockGet(h, 3, one)).toBe(UMP_DD_INVALID);
    expect(umpDdPhysBlockGet(h, 0, null)).toBe(UMP_DD_INVALID);
    expect(one).toEqual({ addr: 0, size: 0 });
    expect(umpDdPhysBlockGet(h, 2, one)).toBe(UMP_DD_SUCCESS);
    expect(one).toEqual(out[2]);
    out[0]!.addr = 0; // a copy: the descriptor is untouched
    expect(h.blocks[0]!.addr).not.toBe(0);
  });

  it("a driver's blocks become a buffer: uncached, used by the CPU, the caller's one reference", () => {
    const { kernel, mm } = bootUmp();
    const pfn = mm.buddy.allocPages(4, 0)!;
    const blocks = [
      { addr: pfn * PAGE_SIZE + 8 * PAGE_SIZE, size: 8 * PAGE_SIZE },
      { addr: pfn * PAGE_SIZE, size: 8 * PAGE_SIZE },
    ];
    const { result: h, events } = recording(
      kernel,
      ["ump_alloc"],
      () => umpDdHandleCreateFromPhysBlocks(kernel, blocks)!,
    );
    expect(events.map((e) => e.data)).toEqual([
      { secure_id: h.secureId, size: 16 * PAGE_SIZE, backend: "phys_blocks", cached: false },
    ]);
    expect([h.isCached, h.hwDevice, h.lockUsage, h.refCount, h.kernelRefs]).toEqual([
      false,
      UMP_USED_BY_CPU,
      0,
      1,
      1,
    ]);
    blocks[0]!.addr = 0; // the array was copied
    expect(h.blocks[0]!.addr).toBe(pfn * PAGE_SIZE + 8 * PAGE_SIZE);
    // user space maps it in block order
    const { proc, fd } = rawClient(kernel, "app", 0);
    const va = rawMap(proc, fd, h.secureId, 16 * PAGE_SIZE);
    expect(proc.space.translate(va)).toBe(pfn * PAGE_SIZE + 8 * PAGE_SIZE);
    expect(proc.space.translate(va + 8 * PAGE_SIZE)).toBe(pfn * PAGE_SIZE);
    expectUmpConsistent(kernel);
    umpDdReferenceRelease(h);
    expect(umpLiveHandles(kernel).length).toBe(1); // the mapping holds it
    proc.exit(0);
    expect(umpLiveHandles(kernel)).toEqual([]);
  });
});

describe("module lifetime", () => {
  it("umpExit refuses while anything lives, then removes /dev/ump; umpInit twice is EBUSY", () => {
    const { kernel } = bootUmp();
    expect(() => umpInit(kernel)).toThrow(kerr("EBUSY"));
    const { proc, fd } = rawClient(kernel, "app");
    rawAlloc(proc, fd, PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE);
    expect(() => umpExit(kernel)).toThrow(kerr("EBUSY", /1 buffer/));
    proc.exit(0);
    umpExit(kernel);
    expect(() => proc.open("/dev/ump", O_RDWR)).toThrow(kerr("ESRCH"));
    expect(() => spawn(kernel, { comm: "late" }).open("/dev/ump", O_RDWR)).toThrow(kerr("ENOENT"));
    expect(() => umpDdHandleGet(kernel, 1)).toThrow(kerr("ENODEV"));
    umpInit(kernel, { backend: "os", memorySize: SZ_1M });
    expect(() => rawClient(kernel, "again")).not.toThrow();
  });

  it("kernel shutdown reports buffers still held through the kernel API (ump_warn)", () => {
    const { kernel } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, PAGE_SIZE);
    rawAlloc(proc, fd, PAGE_SIZE); // held by the session only: the process layer's business
    umpDdHandleCreateFromSecureId(kernel, a.secure_id);
    const warnings: string[] = [];
    kernel.trace.on("ump_warn", (r) => warnings.push(r.data.message));
    kernel.shutdown();
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/leak: secure ID .* 1 through the kernel API/);
  });
});
