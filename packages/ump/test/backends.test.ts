// The three backends: dedicated carve-out, OS pages, VCM bindings; their stats and cleanup.
import { cpuOf } from "@umm/arch-arm";
import { createKernel, PAGE_SIZE, SZ_1M, SZ_4M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { type Mm, mmInit } from "@umm/mm-core";
import { VCM_DEV_G2D, VCM_DEV_JPEG, VCM_DEV_MFC, vcmFindVcm } from "@umm/mm-vcm";
import { describe, expect, it } from "vitest";
import {
  UMP_BLOCK_SIZE,
  UMP_IOC_ALLOCATE,
  UMP_OS_PAGE_TAG,
  UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  type UmpDdMem,
  type UmpDedicatedBackend,
  type UmpMemoryBackend,
  umpBackendInfo,
  umpDdHandleGet,
  umpInit,
  umpMemoryUsage,
  umpReserve,
  umpVcmConstraints,
  umpVcmDeviceId,
} from "../src/index.js";
import { bootUmp, expectUmpConsistent } from "../src/testing.js";
import { rawAlloc, rawClient, rawMap, rawRelease } from "./helpers.js";

function pagesFree(mm: Mm, mem: UmpDdMem): boolean {
  return mem.blocks.every((b) =>
    Array.from({ length: b.size / PAGE_SIZE }, (_, k) => b.addr / PAGE_SIZE + k).every((p) =>
      mm.buddy.isFree(p),
    ),
  );
}

describe("dedicated backend", () => {
  it("carves 256 KiB blocks from a no-map window reserved at boot", () => {
    const { kernel, mm, carveout, driver } = bootUmp({ backend: "dedicated", carveoutSize: 2 * SZ_1M });
    expect(driver.backend.name).toBe("dedicated");
    expect(mm.memblock.removed.some((r) => r.base === carveout!.base && r.size === 2 * SZ_1M)).toBe(true);
    expect(mm.kspace.linearMemtype(carveout!.base / PAGE_SIZE)).toBeUndefined();
    expect(umpBackendInfo(kernel)).toMatchObject({
      name: "dedicated",
      blocks: 8,
      freeBlocks: 8,
      blockSize: UMP_BLOCK_SIZE,
    });
  });

  it("rounds sizes up to 256 KiB, hands out the highest block first, LIFO, and forces uncached", () => {
    const { kernel, carveout, driver } = bootUmp({ backend: "dedicated", carveoutSize: 2 * SZ_1M });
    const be = driver.backend as UmpDedicatedBackend;
    const base = carveout!.base;
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 300_000, UMP_REF_DRV_CONSTRAINT_USE_CACHE);
    expect(a.size).toBe(2 * UMP_BLOCK_SIZE);
    const mem = umpDdHandleGet(kernel, a.secure_id)!;
    expect(mem.isCached).toBe(false);
    expect(mem.blocks).toEqual([
      { addr: base + 7 * UMP_BLOCK_SIZE, size: UMP_BLOCK_SIZE },
      { addr: base + 6 * UMP_BLOCK_SIZE, size: UMP_BLOCK_SIZE },
    ]);
    expect(be.freeList()).toEqual([0, 1, 2, 3, 4, 5]);
    rawRelease(proc, fd, a.secure_id);
    expect(be.freeList()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const b = rawAlloc(proc, fd, UMP_BLOCK_SIZE);
    expect(umpDdHandleGet(kernel, b.secure_id)!.blocks[0]!.addr).toBe(base + 7 * UMP_BLOCK_SIZE);
    expect(umpMemoryUsage(kernel)).toBe(UMP_BLOCK_SIZE);
  });

  it("on a shortfall gives every block back and fails with ENOTTY, the free list unchanged", () => {
    const { kernel, driver } = bootUmp({ backend: "dedicated", carveoutSize: SZ_1M });
    const be = driver.backend as UmpDedicatedBackend;
    const { proc, fd } = rawClient(kernel, "app");
    rawAlloc(proc, fd, UMP_BLOCK_SIZE);
    const before = be.freeList();
    expect(() => rawAlloc(proc, fd, 4 * UMP_BLOCK_SIZE)).toThrow(kerr("ENOTTY"));
    expect(be.freeList()).toEqual(before);
    expect(be.numFree).toBe(3);
  });

  it("gets the free list back to where it started when the session goes", () => {
    const { kernel, driver } = bootUmp({ backend: "dedicated", carveoutSize: 4 * SZ_1M });
    const be = driver.backend as UmpDedicatedBackend;
    const start = be.freeList();
    const { proc, fd } = rawClient(kernel, "app");
    const ids = [1, 3, 2, 5].map((n) => rawAlloc(proc, fd, n * UMP_BLOCK_SIZE - 100));
    rawMap(proc, fd, ids[1]!.secure_id, ids[1]!.size);
    rawRelease(proc, fd, ids[2]!.secure_id);
    expect(be.numFree).toBe(16 - 1 - 3 - 5);
    proc.exit(0);
    expect(be.numFree).toBe(16);
    expect(umpMemoryUsage(kernel)).toBe(0);
    expect([...be.freeList()].sort((x, y) => x - y)).toEqual(start);
  });

  it("maps uncached buffers write-combined without any cacheable alias", () => {
    const { kernel } = bootUmp({ backend: "dedicated" });
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, SZ_1M);
    const va = rawMap(proc, fd, a.secure_id, a.size);
    proc.memWrite(va, new Uint8Array(SZ_1M).fill(3));
    expect(cpuOf(kernel).checker.total).toBe(0);
  });

  it("umpReserve: EINVAL for a size not a multiple of 256 KiB, EBUSY after boot or twice", () => {
    const kernel = createKernel({ seed: 1 });
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 32 * SZ_1M }] });
    expect(() => umpReserve(kernel, { size: 100 * 1024 })).toThrow(kerr("EINVAL"));
    const c = umpReserve(kernel, { size: SZ_1M, base: 0x41000000 });
    expect(c).toEqual({ base: 0x41000000, size: SZ_1M });
    expect(() => umpReserve(kernel, { size: SZ_1M })).toThrow(kerr("EBUSY"));
    mm.memblockFreeAll();
    expect(mm.buddy.isFree(0x41000000 / PAGE_SIZE)).toBe(false);
  });

  it("umpInit refuses a window the kernel maps or owns (EINVAL) and needs one (EINVAL)", () => {
    const kernel = createKernel({ seed: 1 });
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 32 * SZ_1M }] });
    mm.memblock.reserve(0x41000000, SZ_1M, "reserved but mapped");
    mm.memblockFreeAll();
    expect(() => umpInit(kernel, { backend: "dedicated" })).toThrow(kerr("EINVAL", /ump_memory_address/));
    expect(() => umpInit(kernel, { memoryAddress: 0x41000000, memorySize: SZ_1M })).toThrow(
      kerr("EINVAL", /linear map/),
    );
    expect(() => umpInit(kernel, { memoryAddress: 0x41800000, memorySize: SZ_1M })).toThrow(
      kerr("EINVAL", /page allocator/),
    );
  });
});

describe("OS backend", () => {
  it("takes one zeroed page per 4 KiB: as many single-page blocks", () => {
    const { kernel, mm } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 10 * PAGE_SIZE - 1);
    const mem = umpDdHandleGet(kernel, a.secure_id)!;
    expect(mem.nrBlocks).toBe(10);
    expect(mem.blocks.every((b) => b.size === PAGE_SIZE)).toBe(true);
    expect(mm.frames.ownerOf(mem.blocks[0]!.addr / PAGE_SIZE)).toBe(UMP_OS_PAGE_TAG);
    expect(umpBackendInfo(kernel)).toMatchObject({
      name: "os",
      pagesAllocated: 10,
      bytesInUse: 10 * PAGE_SIZE,
    });
  });

  it("remaps an uncached buffer write-combined in the linear map while it lives, so no alias", () => {
    const { kernel, mm } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 4 * PAGE_SIZE);
    const mem = umpDdHandleGet(kernel, a.secure_id)!;
    const pfn = mem.blocks[0]!.addr / PAGE_SIZE;
    expect(mm.kspace.linearMemtype(pfn)).toBe("writecombine");
    const va = rawMap(proc, fd, a.secure_id, a.size);
    proc.memWrite(va, new Uint8Array(100).fill(1));
    expect(cpuOf(kernel).checker.total).toBe(0);
    proc.munmap(va, a.size);
    rawRelease(proc, fd, a.secure_id);
    expect(mm.kspace.linearMemtype(pfn)).toBe("cacheable");
  });

  it("leaves cached buffers cacheable, and flips an uncached one back when MAP_PRIVATE caches it", () => {
    const { kernel, mm } = bootUmp();
    const { proc, fd } = rawClient(kernel, "app");
    const c = rawAlloc(proc, fd, PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE);
    expect(mm.kspace.linearMemtype(umpDdHandleGet(kernel, c.secure_id)!.blocks[0]!.addr / PAGE_SIZE)).toBe(
      "cacheable",
    );
    const u = rawAlloc(proc, fd, PAGE_SIZE);
    const pfn = umpDdHandleGet(kernel, u.secure_id)!.blocks[0]!.addr / PAGE_SIZE;
    rawMap(proc, fd, u.secure_id, PAGE_SIZE, true);
    expect(mm.kspace.linearMemtype(pfn)).toBe("cacheable");
    expect(cpuOf(kernel).checker.total).toBe(0);
  });

  it("gives every page back to the buddy allocator, also when it runs out half way", () => {
    const { kernel, mm } = bootUmp({ ramSize: 16 * SZ_1M });
    const free = mm.buddy.nrFreePages;
    const { proc, fd } = rawClient(kernel, "app");
    expect(() => rawAlloc(proc, fd, 32 * SZ_1M)).toThrow(kerr("ENOTTY"));
    expect(mm.buddy.nrFreePages).toBe(free);
    const a = rawAlloc(proc, fd, SZ_1M);
    const mem = umpDdHandleGet(kernel, a.secure_id)!;
    rawMap(proc, fd, a.secure_id, a.size, true);
    proc.close(fd);
    proc.exit(0);
    expect(pagesFree(mm, mem)).toBe(true);
    expect(mm.buddy.nrFreePages).toBe(free);
  });

  it("records ump_memory_size as num_pages_max without enforcing it (as ARM)", () => {
    const { kernel, driver } = bootUmp({ memorySize: 64 * 1024 });
    const { proc, fd } = rawClient(kernel, "app");
    rawAlloc(proc, fd, SZ_1M);
    expect(umpBackendInfo(kernel)).toMatchObject({ pagesMax: 16, pagesAllocated: 256 });
    expect(driver.backend.name).toBe("os");
  });
});

describe("VCM backend", () => {
  const contexts = [
    [VCM_DEV_G2D, 64 * SZ_1M],
    [VCM_DEV_MFC, 64 * SZ_1M],
  ] as const;

  it("decodes constraints: 0 → G2D, 1 → refused, c → device c - 2, USE_CACHE masked out", () => {
    expect(umpVcmDeviceId(0)).toBe(VCM_DEV_G2D);
    expect(umpVcmDeviceId(UMP_REF_DRV_CONSTRAINT_USE_CACHE)).toBe(VCM_DEV_G2D);
    expect(umpVcmDeviceId(UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR)).toBeNull();
    expect(umpVcmDeviceId(VCM_DEV_MFC + 2)).toBe(VCM_DEV_MFC);
    expect(umpVcmDeviceId(umpVcmConstraints(VCM_DEV_MFC, true))).toBe(VCM_DEV_MFC);
    // 12 (Samsung's "G2D" constant) loses bit 2 to the mask: it decodes to JPEG
    expect(umpVcmDeviceId(12)).toBe(VCM_DEV_JPEG);
    expect(() => umpVcmConstraints(VCM_DEV_G2D)).toThrow(kerr("EINVAL", /USE_CACHE/));
  });

  it("binds each buffer in the chosen device's context; the blocks are the binding's parts", () => {
    const { kernel } = bootUmp({ backend: "vcm", vcmContexts: contexts });
    const { proc, fd } = rawClient(kernel, "app");
    const g2d = rawAlloc(proc, fd, 2 * SZ_1M + 3 * PAGE_SIZE);
    const mfc = rawAlloc(proc, fd, SZ_4M, umpVcmConstraints(VCM_DEV_MFC, true));
    const gRes = vcmFindVcm(kernel, VCM_DEV_G2D)!.reservations;
    const mRes = vcmFindVcm(kernel, VCM_DEV_MFC)!.reservations;
    expect(gRes.length).toBe(1);
    expect(mRes.length).toBe(1);
    const gMem = umpDdHandleGet(kernel, g2d.secure_id)!;
    expect(gMem.blocks).toEqual(gRes[0]!.phys!.parts.map((p) => ({ addr: p.start, size: p.size })));
    expect(gMem.blocks.map((b) => b.size)).toEqual([SZ_1M, SZ_1M, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE]);
    expect(umpDdHandleGet(kernel, mfc.secure_id)!.isCached).toBe(true);
    expect(umpBackendInfo(kernel)).toMatchObject({
      name: "vcm",
      vcmBlocks: 5 + 4,
      bytesInUse: g2d.size + mfc.size,
    });
    expectUmpConsistent(kernel);
  });

  it("refuses PHYSICALLY_LINEAR and devices without a context with ENOTTY", () => {
    const { kernel } = bootUmp({ backend: "vcm", vcmContexts: contexts });
    const { proc, fd } = rawClient(kernel, "app");
    expect(() => rawAlloc(proc, fd, SZ_1M, UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR)).toThrow(
      kerr("ENOTTY", /PHYSICALLY_LINEAR/),
    );
    expect(() => rawAlloc(proc, fd, SZ_1M, umpVcmConstraints(VCM_DEV_JPEG))).toThrow(
      kerr("ENOTTY", /no VCM context/),
    );
    expect(umpMemoryUsage(kernel)).toBe(0);
  });

  it("destroys the binding at the last reference: pages back to the buddy allocator", () => {
    const { kernel, mm } = bootUmp({ backend: "vcm", vcmContexts: contexts });
    const { proc, fd } = rawClient(kernel, "app");
    const a = rawAlloc(proc, fd, 3 * SZ_1M);
    const mem = umpDdHandleGet(kernel, a.secure_id)!;
    const va = rawMap(proc, fd, a.secure_id, a.size);
    proc.memWrite(va, new Uint8Array(16).fill(9));
    proc.exit(0);
    expect(pagesFree(mm, mem)).toBe(true);
    expect(vcmFindVcm(kernel, VCM_DEV_G2D)!.reservations).toEqual([]);
    expect(umpMemoryUsage(kernel)).toBe(0);
  });
});

describe("a custom backend", () => {
  it("plugs in through the ops seam", () => {
    const kernel = createKernel({ seed: 1 });
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 16 * SZ_1M }] });
    mm.memblockFreeAll();
    let used = 0;
    const backend: UmpMemoryBackend = {
      name: "one-block",
      allocate: (req) => {
        const pfn = mm.buddy.allocPages(8, 0);
        if (pfn === null || req.size > SZ_1M) return null;
        used += SZ_1M;
        return {
          blocks: [{ addr: pfn * PAGE_SIZE, size: SZ_1M }],
          size: SZ_1M,
          cached: req.cached,
          info: pfn,
        };
      },
      release: (alloc) => {
        used -= SZ_1M;
        mm.buddy.freePages(alloc.info as number, 8);
      },
      stat: () => used,
    };
    umpInit(kernel, { backend });
    const { proc, fd } = rawClient(kernel, "app");
    const a = { secure_id: 0, size: 5000, constraints: 0 };
    proc.ioctl(fd, UMP_IOC_ALLOCATE, a);
    expect(a.size).toBe(SZ_1M);
    expect(umpMemoryUsage(kernel)).toBe(SZ_1M);
    proc.exit(0);
    expect(umpMemoryUsage(kernel)).toBe(0);
  });
});
