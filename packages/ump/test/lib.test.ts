// libump as a process runs it: open/close, allocation, import, access, references, msync,
// cache-operation batches, the hardware-usage state machine, locks, and the v1 fallback.
import { fc, test } from "@fast-check/vitest";
import { createKernel, KernelBug, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { spawn } from "@umm/kernel-process";
import { mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  UMP_CACHE_OP_FINISH,
  UMP_CACHE_OP_START,
  UMP_ERROR,
  UMP_INVALID_SECURE_ID,
  UMP_IOC_MSYNC,
  UMP_MSYNC_CLEAN,
  UMP_MSYNC_CLEAN_AND_INVALIDATE,
  UMP_MSYNC_INVALIDATE,
  UMP_MSYNC_READOUT_CACHE_ENABLED,
  UMP_OK,
  UMP_READ,
  UMP_REF_DRV_CONSTRAINT_NONE,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  UMP_USED_BY_CPU,
  UMP_USED_BY_MALI,
  UMP_USED_BY_UNKNOWN_DEVICE,
  umpCacheOperationsControl,
  umpClose,
  umpCpuMsyncNow,
  umpDdHandleGet,
  umpDeviceFd,
  umpHandleCreateFromSecureId,
  umpInit,
  umpLiveHandles,
  umpLock,
  umpLockSecureId,
  umpMappedPointerGet,
  umpMappedPointerRelease,
  umpOpen,
  umpOpenCount,
  umpRead,
  umpRefDrvAllocate,
  umpReferenceAdd,
  umpReferenceRelease,
  umpSecureIdGet,
  umpSizeGet,
  umpSwitchHwUsage,
  umpUnlock,
  umpWrite,
} from "../src/index.js";
import { bootUmp, expectUmpConsistent, umpRefAudit } from "../src/testing.js";
import { dec, enc, maintOps, recording } from "./helpers.js";

describe("umpOpen / umpClose", () => {
  test.prop([fc.array(fc.boolean(), { maxLength: 40 })], { numRuns: 40 })(
    "balance: /dev/ump is open in the process exactly while opens outnumber closes",
    (ops) => {
      const { kernel } = bootUmp({ cpu: false, ramSize: 16 * SZ_1M });
      const p = spawn(kernel, { comm: "app" });
      let n = 0;
      for (const open of ops) {
        if (open) {
          expect(umpOpen(p)).toBe(UMP_OK);
          n++;
        } else if (n > 0) {
          umpClose(p);
          n--;
        }
        expect(umpOpenCount(p)).toBe(n);
        const fds = p.fds.fds();
        expect(fds.length).toBe(n > 0 ? 1 : 0);
        expect(umpDeviceFd(p) >= 0).toBe(n > 0);
      }
    },
  );

  it("fails without a /dev/ump, and a close without an open is a bug", () => {
    const kernel = createKernel({ seed: 1 });
    mmInit(kernel, { banks: [{ start: 0x40000000, size: 16 * SZ_1M }] }).memblockFreeAll();
    const p = spawn(kernel, { comm: "app" });
    expect(umpOpen(p)).toBe(UMP_ERROR);
    expect(() => umpClose(p)).toThrow(KernelBug);
    expect(umpRefDrvAllocate(p, PAGE_SIZE, 0)).toBeNull();
  });
});

describe("umpRefDrvAllocate", () => {
  it("gives a handle whose mapping is the buffer's only kernel reference", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app", uid: 1000 });
    umpOpen(p);
    const { result: h, events } = recording(kernel, ["ump_alloc", "ump_map", "ump_msync"], () =>
      umpRefDrvAllocate(p, 10_000, UMP_REF_DRV_CONSTRAINT_USE_CACHE),
    );
    expect(h).not.toBeNull();
    expect(events.map((e) => e.name)).toEqual(["ump_alloc", "ump_map", "ump_msync"]);
    expect(umpSizeGet(h!)).toBe(3 * PAGE_SIZE);
    expect(h!.refCount).toBe(1);
    expect(h!.isCached).toBe(1);
    expect(umpRefAudit(kernel)).toEqual([
      {
        secureId: h!.secureId,
        size: 3 * PAGE_SIZE,
        refCount: 1,
        sessionEntries: 0,
        mappings: 1,
        kernelRefs: 0,
      },
    ]);
    const plain = umpRefDrvAllocate(p, 1, UMP_REF_DRV_CONSTRAINT_NONE)!;
    expect(plain.isCached).toBe(0);
    expectUmpConsistent(kernel);
  });

  it("undoes everything and returns UMP_INVALID_MEMORY_HANDLE when memory runs out", () => {
    const { kernel, mm } = bootUmp({ ramSize: 8 * SZ_1M });
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const free = mm.buddy.nrFreePages;
    expect(umpRefDrvAllocate(p, 64 * SZ_1M, 0)).toBeNull();
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(mm.buddy.nrFreePages).toBe(free);
  });

  it("frees the buffer when the last user reference goes; using the handle afterwards is a bug", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, PAGE_SIZE, 0)!;
    umpReferenceAdd(h);
    umpReferenceRelease(h);
    expect(umpDdHandleGet(kernel, h.secureId)).not.toBeNull();
    const { events } = recording(kernel, ["ump_unmap", "ump_release"], () => umpReferenceRelease(h));
    expect(events.map((e) => e.name)).toEqual(["ump_unmap", "ump_release"]);
    expect(umpLiveHandles(kernel)).toEqual([]);
    expect(() => umpSecureIdGet(h)).toThrow(KernelBug);
    expect(() => umpReferenceRelease(h)).toThrow(KernelBug);
  });
});

describe("umpHandleCreateFromSecureId", () => {
  it("makes a new handle (and mapping) per call; each holds one kernel reference", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, 2 * PAGE_SIZE, 0)!;
    const a = umpHandleCreateFromSecureId(p, h.secureId)!;
    const b = umpHandleCreateFromSecureId(p, h.secureId)!;
    expect(a).not.toBe(b);
    expect(umpMappedPointerGet(a)).not.toBe(umpMappedPointerGet(b));
    expect(umpDdHandleGet(kernel, h.secureId)!.refCount).toBe(3);
    umpWrite(a, 100, enc("shared"), 6);
    const out = new Uint8Array(6);
    umpRead(out, b, 100, 6);
    expect(dec(out)).toBe("shared");
    umpMappedPointerRelease(a); // a no-op, as in the reference library
    expect(umpDdHandleGet(kernel, h.secureId)!.refCount).toBe(3);
    expectUmpConsistent(kernel);
  });

  it("returns UMP_INVALID_MEMORY_HANDLE for UMP_INVALID_SECURE_ID and unknown IDs", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    expect(umpHandleCreateFromSecureId(p, UMP_INVALID_SECURE_ID)).toBeNull();
    expect(umpHandleCreateFromSecureId(p, 42)).toBeNull();
    expect(p.space.vmas.length).toBe(0);
  });

  it("reads and writes are bounded: past the end is a bug (ARM's debug assert)", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, PAGE_SIZE, 0)!;
    expect(() => umpWrite(h, PAGE_SIZE - 2, enc("abc"), 3)).toThrow(KernelBug);
    expect(() => umpRead(new Uint8Array(8), h, 0, 9)).toThrow(KernelBug);
  });
});

describe("umpCpuMsyncNow", () => {
  it("on an uncached handle returns 0 without asking the kernel or touching the cache", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, 4 * PAGE_SIZE, 0)!;
    const { events } = recording(kernel, ["ump_msync", "cpu_cache_maint"], () => {
      for (const op of [UMP_MSYNC_CLEAN, UMP_MSYNC_CLEAN_AND_INVALIDATE, UMP_MSYNC_INVALIDATE]) {
        expect(umpCpuMsyncNow(h, op, null, 0)).toBe(0);
      }
    });
    expect(events).toEqual([]);
    // READOUT still asks
    const r = recording(kernel, ["ump_msync", "cpu_cache_maint"], () =>
      umpCpuMsyncNow(h, UMP_MSYNC_READOUT_CACHE_ENABLED, null, 0),
    );
    expect(r.result).toBe(0);
    expect(r.events.map((e) => e.data)).toEqual([{ secure_id: h.secureId, op: "readout" }]);
  });

  it("cleans, flushes or invalidates exactly the asked range, block by block, clamped to the end", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, 4 * PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    const blocks = umpDdHandleGet(kernel, h.secureId)!.blocks;
    const base = umpMappedPointerGet(h);
    const { result, events } = recording(kernel, ["cpu_cache_maint"], () =>
      umpCpuMsyncNow(h, UMP_MSYNC_CLEAN, base + PAGE_SIZE + 100, 2 * PAGE_SIZE),
    );
    expect(result).toBe(1);
    expect(events.map((e) => e.data)).toEqual([
      { op: "clean", scope: "range", paddr: blocks[1]!.addr + 100, size: PAGE_SIZE - 100 },
      { op: "clean", scope: "range", paddr: blocks[2]!.addr, size: PAGE_SIZE },
      { op: "clean", scope: "range", paddr: blocks[3]!.addr, size: 100 },
    ]);
    const whole = recording(kernel, ["cpu_cache_maint"], () =>
      umpCpuMsyncNow(h, UMP_MSYNC_CLEAN_AND_INVALIDATE, base + 3 * PAGE_SIZE, 0),
    );
    // size 0 means the whole buffer, clamped to the end by the library
    expect(whole.events.map((e) => [e.data.op, e.data.paddr, e.data.size])).toEqual([
      ["flush", blocks[3]!.addr, PAGE_SIZE],
    ]);
    const inv = recording(kernel, ["cpu_cache_maint"], () =>
      umpCpuMsyncNow(h, UMP_MSYNC_INVALIDATE, null, 0),
    );
    expect(inv.events.map((e) => e.data.op)).toEqual([
      "invalidate",
      "invalidate",
      "invalidate",
      "invalidate",
    ]);
  });
});

describe("umpCacheOperationsControl", () => {
  it("returns 1; FINISH flushes level 1 and START defers the flushes of usage switches", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    const { events } = recording(kernel, ["ump_msync"], () => {
      expect(umpCacheOperationsControl(p, UMP_CACHE_OP_START)).toBe(1);
      umpSwitchHwUsage(h, UMP_USED_BY_MALI);
      expect(umpCacheOperationsControl(p, UMP_CACHE_OP_FINISH)).toBe(1);
      umpSwitchHwUsage(h, UMP_USED_BY_CPU);
      expect(umpCacheOperationsControl(p, 7)).toBe(1); // illegal op: logged, ignored
    });
    // the switch inside the batch deferred its level-1 flush; FINISH did it; the one outside
    // flushed at once
    expect(events.map((e) => e.data)).toEqual([
      { secure_id: 0, op: "flush_l1" },
      { secure_id: 0, op: "flush_l1" },
    ]);
  });
});

type User = typeof UMP_USED_BY_CPU | typeof UMP_USED_BY_MALI | typeof UMP_USED_BY_UNKNOWN_DEVICE;
const user = fc.constantFrom<User>(UMP_USED_BY_CPU, UMP_USED_BY_MALI, UMP_USED_BY_UNKNOWN_DEVICE);

describe("umpSwitchHwUsage", () => {
  test.prop([fc.boolean(), fc.array(user, { maxLength: 20 })], { numRuns: 60 })(
    "follows §1.7: uncached or same or device→device nothing; device→CPU invalidate; CPU→device flush",
    (cached, users) => {
      const { kernel } = bootUmp({ ramSize: 16 * SZ_1M });
      const p = spawn(kernel, { comm: "app" });
      umpOpen(p);
      const h = umpRefDrvAllocate(p, 2 * PAGE_SIZE, cached ? UMP_REF_DRV_CONSTRAINT_USE_CACHE : 0)!;
      const mem = umpDdHandleGet(kernel, h.secureId)!;
      let now: number = UMP_USED_BY_CPU;
      for (const to of users) {
        const { result, events } = recording(kernel, ["cpu_cache_maint", "ump_switch_hw_usage"], () =>
          umpSwitchHwUsage(h, to),
        );
        expect(result).toBe(1);
        const expected =
          !cached || now === to || (now !== UMP_USED_BY_CPU && to !== UMP_USED_BY_CPU)
            ? []
            : now !== UMP_USED_BY_CPU
              ? ["invalidate", "invalidate"]
              : ["flush", "flush"];
        expect(maintOps(events)).toEqual(expected);
        expect(events.filter((e) => e.name === "ump_switch_hw_usage").map((e) => e.data)).toEqual([
          { secure_id: h.secureId, from: now, to },
        ]);
        now = to;
        expect(mem.hwDevice).toBe(now);
      }
    },
  );
});

describe("umpLock / umpUnlock", () => {
  it("return 1, never block, and only record the usage", () => {
    const { kernel } = bootUmp();
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, PAGE_SIZE, 0)!;
    expect(umpLock(h, UMP_READ)).toBe(1);
    expect(umpLockSecureId(p, h.secureId, UMP_READ)).toBe(1);
    expect(umpDdHandleGet(kernel, h.secureId)!.lockUsage).toBe(UMP_READ);
    expect(umpUnlock(h)).toBe(1);
    expect(umpDdHandleGet(kernel, h.secureId)!.lockUsage).toBe(0);
  });
});

describe("a v1 driver", () => {
  it("is used without cache support: mappings uncached, msync 0 without a call", () => {
    const kernel = createKernel({ seed: 1 });
    mmInit(kernel, { banks: [{ start: 0x40000000, size: 16 * SZ_1M }] }).memblockFreeAll();
    umpInit(kernel, { backend: "os", apiVersion: 1 });
    const p = spawn(kernel, { comm: "legacy" });
    expect(umpOpen(p)).toBe(UMP_OK);
    const h = umpRefDrvAllocate(p, PAGE_SIZE, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
    expect(h.isCached).toBe(0);
    expect(umpDdHandleGet(kernel, h.secureId)!.isCached).toBe(false);
    expect(p.space.findVma(h.mappedMem)?.memtype).toBe(1); // write-combined
    const { events } = recording(kernel, ["ump_msync"], () =>
      expect(umpCpuMsyncNow(h, UMP_MSYNC_READOUT_CACHE_ENABLED, null, 0)).toBe(0),
    );
    expect(events).toEqual([]);
  });
});

describe("msync on an uncached buffer", () => {
  test.prop(
    [
      fc.array(
        fc.record({
          op: fc.constantFrom(0, 1, 2, 3, 128),
          offset: fc.integer({ min: -PAGE_SIZE, max: 5 * PAGE_SIZE }),
          size: fc.nat(5 * PAGE_SIZE),
          raw: fc.boolean(),
        }),
        { maxLength: 12 },
      ),
    ],
    { numRuns: 40 },
  )("never maintains the cache, through the library or the raw ioctl", (calls) => {
    const { kernel } = bootUmp({ ramSize: 16 * SZ_1M });
    const p = spawn(kernel, { comm: "app" });
    umpOpen(p);
    const h = umpRefDrvAllocate(p, 4 * PAGE_SIZE, 0)!;
    const { events } = recording(kernel, ["cpu_cache_maint"], () => {
      for (const c of calls) {
        const address = h.mappedMem + c.offset;
        if (c.raw) {
          const a = {
            mapping: h.mappedMem,
            address,
            size: c.size,
            op: c.op,
            cookie: 0,
            secure_id: h.secureId,
            is_cached: 7,
          };
          p.ioctl(umpDeviceFd(p), UMP_IOC_MSYNC, a);
          expect(a.is_cached).toBe(0);
        } else {
          expect(umpCpuMsyncNow(h, c.op, address, Math.min(c.size, h.size))).toBe(0);
        }
      }
    });
    expect(events).toEqual([]);
  });
});
