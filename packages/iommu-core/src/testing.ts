/**
 * The conformance suite every IOMMU driver runs first (`describeIommuOps`), in the manner of
 * unstorage's `testDriver`: the driver's package hands in a function that builds a small system
 * with one probed master, and the suite checks, through the public iommu-core API only, that
 * the driver maps, translates, refuses, rolls back, unmaps, faults and attaches as the core
 * expects.
 *
 * ```ts
 * describeIommuOps("s5p-sysmmu v3.3", () => bootSysmmuRig(), {
 *   pgsizes: [SZ_4K, SZ_64K, SZ_1M], faults: true, unmapHole: "skip",
 * });
 * ```
 *
 * @module
 */
import { type Device, ERRNO, hex, isKernelError, type Kernel, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { iommuSetFaultHandler, reportIommuFault } from "./fault.js";
import {
  devIommuOps,
  deviceIommuMapped,
  iommuAttachDevice,
  iommuDetachDevice,
  iommuDomainAlloc,
  iommuDomainFree,
  iommuGetDmaDomain,
  iommuGetDomainForDev,
} from "./iommu.js";
import {
  iommuIotlbGatherInit,
  iommuIotlbSync,
  iommuIovaToPhys,
  iommuMap,
  iommuMapSg,
  iommuUnmap,
  iommuUnmapFast,
} from "./map.js";
import {
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDomain,
} from "./types.js";

/** What `makeRig` builds for one test. */
export interface IommuRig {
  readonly kernel: Kernel;
  /** a master already probed through the driver, attached to no domain but its default */
  readonly dev: Device;
  /** start of a physical window the suite may map (need not be backed by memory) */
  readonly physBase: number;
  /** its size in bytes: at least 4 of the largest page size */
  readonly physSize: number;
  /**
   * Makes the hardware fault: `dev` accesses `iova` (write or read) through `domain`, which the
   * suite has attached and left unmapped there. The driver's interrupt path is expected to call
   * `reportIommuFault` (it may settle later: a returned promise is awaited).
   */
  triggerFault?(domain: IommuDomain, iova: number, write: boolean): void | Promise<void>;
  /** releases what the rig built (after the suite freed its domains) */
  teardown?(): void | Promise<void>;
}

/** What the driver does, where drivers may differ. */
export interface IommuConformanceCaps {
  /** page sizes the driver maps, in bytes */
  readonly pgsizes: readonly number[];
  /** the rig can make the hardware fault (`triggerFault`) */
  readonly faults?: boolean;
  /**
   * The driver reports the direction of a fault (IOMMU_FAULT_WRITE for writes). Default true;
   * false for hardware that reports every fault as a read (SysMMU v1–v3 page faults): the suite
   * then checks only that the handler ran for the right device and address.
   */
  readonly faultDirection?: boolean;
  /** highest IOVA the suite may use (default 0xffffffff) */
  readonly maxIova?: number;
  /**
   * Unmap at an unmapped IOVA: "stop" — `unmapPages` returns 0 and the core stops there
   * (io-pgtable); "skip" — the driver reports the hole as unmapped and the core carries on
   * (Exynos returns 4K / 1M for an empty slot). Default "stop".
   */
  readonly unmapHole?: "stop" | "skip";
  /**
   * Unmap of the first smallest page of a larger page: "refuse" — returns 0, the page stays
   * (modern io-pgtable, Exynos); "whole" — removes the whole page and returns its size;
   * "split" — removes only the requested part. Default "refuse".
   */
  readonly partialUnmap?: "refuse" | "whole" | "split";
}

const RW = IOMMU_READ | IOMMU_WRITE;

/**
 * Declares the vitest suite "`name`: IOMMU driver conformance". `makeRig` runs before every
 * test (a fresh kernel each time is best); `caps` says what the driver supports. Every test
 * frees the domains it allocated before `teardown`.
 */
export function describeIommuOps(
  name: string,
  makeRig: () => IommuRig | Promise<IommuRig>,
  caps: IommuConformanceCaps,
): void {
  const sizes = [...caps.pgsizes].sort((a, b) => a - b);
  const min = sizes[0] as number;
  const max = sizes[sizes.length - 1] as number;
  const s1 = sizes[1] ?? max; // the second smallest size
  const multi = sizes.length > 1;
  const top = (caps.maxIova ?? 0xffffffff) + 1; // first IOVA past the usable space
  const unmapHole = caps.unmapHole ?? "stop";
  const partialUnmap = caps.partialUnmap ?? "refuse";

  describe(`${name}: IOMMU driver conformance`, () => {
    let rig: IommuRig;
    let domains: IommuDomain[] = [];
    const freed = new Set<IommuDomain>();

    beforeEach(async () => {
      rig = await makeRig();
      domains = [];
      freed.clear();
    });

    afterEach(async () => {
      for (const d of domains) {
        if (freed.has(d)) continue;
        if (iommuGetDomainForDev(rig.dev) === d) iommuDetachDevice(d, rig.dev);
        iommuDomainFree(d);
      }
      await rig.teardown?.();
    });

    const alloc = (): IommuDomain => {
      const d = iommuDomainAlloc(rig.dev, IOMMU_DOMAIN_UNMANAGED);
      domains.push(d);
      return d;
    };
    const free = (d: IommuDomain): void => {
      iommuDomainFree(d);
      freed.add(d);
    };
    /** The k-th physical page of `size` in the window (wrapping). */
    const pa = (size: number, k = 0): number => {
      const base = Math.ceil(rig.physBase / size) * size;
      const n = Math.floor((rig.physBase + rig.physSize - base) / size);
      return base + (k % n) * size;
    };
    /** Every smallest page of [iova, iova + size) translates to 0, except `keep` (iova → pa). */
    const expectUnmapped = (d: IommuDomain, iova: number, size: number, keep?: [number, number]): void => {
      for (let off = 0; off < size; off += min) {
        const at = iova + off;
        const want = keep && at >= keep[0] && at < keep[0] + min ? keep[1] + (at - keep[0]) : 0;
        if (iommuIovaToPhys(d, at) !== want) {
          expect.fail(`iova ${hex(at)} translates to ${hex(iommuIovaToPhys(d, at))}, expected ${hex(want)}`);
        }
      }
    };
    /** Every smallest page of [iova, iova + size) translates linearly to pa. */
    const expectMapped = (d: IommuDomain, iova: number, paddr: number, size: number): void => {
      for (let off = 0; off < size; off += min) {
        if (iommuIovaToPhys(d, iova + off) !== paddr + off) {
          expect.fail(
            `iova ${hex(iova + off)} translates to ${hex(iommuIovaToPhys(d, iova + off))}, expected ${hex(paddr + off)}`,
          );
        }
      }
    };

    describe("the rig and a new domain", () => {
      it("the master is probed and the physical window holds 4 pages of the largest size", () => {
        expect(deviceIommuMapped(rig.dev)).toBe(true);
        expect(devIommuOps(rig.dev)).not.toBeNull();
        const base = Math.ceil(rig.physBase / max) * max;
        expect(rig.physBase + rig.physSize - base).toBeGreaterThanOrEqual(4 * max);
        expect(top).toBeGreaterThanOrEqual(8 * max);
      });

      it("a new domain is an unmanaged paging domain of the master's driver with every page size and no mapping", () => {
        const d = alloc();
        expect(d.type).toBe(IOMMU_DOMAIN_UNMANAGED);
        expect(d.owner).toBe(devIommuOps(rig.dev));
        for (const s of sizes) expect(Math.floor(d.pgsizeBitmap / s) % 2, `page size ${hex(s)}`).toBe(1);
        for (const iova of [0, min, max, top - min]) expect(iommuIovaToPhys(d, iova)).toBe(0);
      });
    });

    describe("map and unmap", () => {
      for (const s of sizes) {
        it(`maps a ${hex(s)} page at aligned offsets; iovaToPhys inside; unmap returns ${hex(s)}`, () => {
          const d = alloc();
          iommuAttachDevice(d, rig.dev);
          const slots = [0, 1, 2, 3, 5, 8, 13, 21].map((k) => k * s);
          slots.push(Math.floor(top / 2 / s) * s, Math.floor(top / 3 / s) * s, top - s);
          const seen = new Set<number>();
          let k = 0;
          for (const iova of slots) {
            if (iova + s > top || seen.has(iova)) continue;
            seen.add(iova);
            const p = pa(s, k++);
            iommuMap(d, iova, p, s, RW);
            const half = Math.floor(s / 2);
            for (const off of [0, min - 1, half, half + 0x123, s - 1].filter((o) => o < s)) {
              expect(iommuIovaToPhys(d, iova + off), `iova ${hex(iova + off)}`).toBe(p + off);
            }
            if (iova >= min) expect(iommuIovaToPhys(d, iova - 1)).toBe(0);
            if (iova + s < top) expect(iommuIovaToPhys(d, iova + s)).toBe(0);
            expect(iommuUnmap(d, iova, s)).toBe(s);
            expect(iommuIovaToPhys(d, iova)).toBe(0);
            expect(iommuIovaToPhys(d, iova + s - 1)).toBe(0);
          }
        });
      }

      it.skipIf(!multi)(
        "maps a range of mixed sizes, split by the core; every page translates; one unmap removes it",
        () => {
          const d = alloc();
          // small page, then s1 pages up to the max boundary, a max page, then a small page
          const iova = 2 * max - s1 - min;
          const p = pa(max, 2) - s1 - min;
          const size = min + s1 + max + min;
          iommuMap(d, iova, p, size, RW);
          expectMapped(d, iova, p, size);
          expect(iommuIovaToPhys(d, iova - min)).toBe(0);
          expect(iommuIovaToPhys(d, iova + size)).toBe(0);
          expect(iommuUnmap(d, iova, size)).toBe(size);
          expectUnmapped(d, iova, size);
        },
      );

      it("rejects an unaligned iova, pa or size, or size 0, with EINVAL and maps nothing", () => {
        const d = alloc();
        const iova = 2 * max;
        const p = pa(max);
        if (min > 1) {
          expect(() => iommuMap(d, iova + min / 2, p, min, RW)).toThrow(kerr("EINVAL", /iova/));
          expect(() => iommuMap(d, iova, p + min / 2, min, RW)).toThrow(kerr("EINVAL", /pa/));
          expect(() => iommuMap(d, iova, p, min + min / 2, RW)).toThrow(kerr("EINVAL", /size/));
        }
        expect(() => iommuMap(d, iova, p, 0, RW)).toThrow(kerr("EINVAL", /size/));
        expectUnmapped(d, iova, 2 * min);
        iommuMap(d, iova, p, min, RW);
        expect(iommuIovaToPhys(d, iova)).toBe(p);
      });

      it("an unaligned unmap returns 0 and leaves the mapping", () => {
        const d = alloc();
        const iova = 2 * max;
        const p = pa(max);
        iommuMap(d, iova, p, min, RW);
        if (min > 1) {
          expect(iommuUnmap(d, iova + min / 2, min)).toBe(0);
          expect(iommuUnmap(d, iova, min / 2)).toBe(0);
        }
        expect(iommuIovaToPhys(d, iova)).toBe(p);
        expect(iommuUnmap(d, iova, min)).toBe(min);
      });

      for (const s of sizes) {
        it(`mapping a ${hex(s)} page over a mapped one fails and leaves the old mapping`, () => {
          const d = alloc();
          const iova = 3 * max;
          const p1 = pa(s, 0);
          const p2 = pa(s, 1);
          iommuMap(d, iova, p1, s, RW);
          let err: unknown = null;
          try {
            iommuMap(d, iova, p2, s, RW);
          } catch (e) {
            err = e;
          }
          expect(isKernelError(err), `remapping ${hex(iova)} must throw a KernelError`).toBe(true);
          expectMapped(d, iova, p1, s);
          expect(iommuUnmap(d, iova, s)).toBe(s);
        });
      }

      it.skipIf(!multi)(
        "mapping a small page inside a mapped large page fails and leaves the large one",
        () => {
          const d = alloc();
          const iova = 3 * max;
          const p = pa(max);
          iommuMap(d, iova, p, max, RW);
          expect(() => iommuMap(d, iova + min, pa(min, 7), min, RW)).toThrow();
          expectMapped(d, iova, p, max);
          expect(iommuUnmap(d, iova, max)).toBe(max);
        },
      );

      it("a map that fails part way unmaps what it mapped before the failure (core rollback)", () => {
        const d = alloc();
        const big = multi ? max : 2 * min;
        const iova = 2 * max;
        const p = pa(max, 0);
        const blocker = iova + big + Math.floor(big / 2 / min) * min;
        const bp = pa(max, 3);
        iommuMap(d, blocker, bp, min, RW);
        expect(() => iommuMap(d, iova, p, 2 * big, RW)).toThrow();
        expectUnmapped(d, iova, 2 * big, [blocker, bp]);
        expect(iommuUnmap(d, blocker, min)).toBe(min);
      });

      it("a run of small pages that hits a mapped page leaves none of the run mapped (driver rollback)", () => {
        const d = alloc();
        const iova = 2 * max;
        const p = pa(max, 0) + (multi ? min : 0); // misaligned to every larger size: only small pages
        const pages = Math.max(3, Math.min(8, max / min - 1));
        const blocker = iova + (pages - 2) * min;
        const bp = pa(max, 2);
        iommuMap(d, blocker, bp, min, RW);
        expect(() => iommuMap(d, iova, p, pages * min, RW)).toThrow();
        expectUnmapped(d, iova, pages * min, [blocker, bp]);
        expect(iommuUnmap(d, blocker, min)).toBe(min);
      });

      it(`unmap of an empty range ${unmapHole === "stop" ? "returns 0" : "reports it unmapped"}`, () => {
        const d = alloc();
        const n = iommuUnmap(d, 2 * max, min);
        if (unmapHole === "stop") expect(n).toBe(0);
        else expect(n).toBeGreaterThanOrEqual(min);
        expectUnmapped(d, 2 * max, min);
      });

      it(`unmap over a hole ${unmapHole === "stop" ? "stops at the hole" : "carries on past the hole"}`, () => {
        const d = alloc();
        const iova = 2 * max;
        const p = pa(max);
        iommuMap(d, iova, p, min, RW);
        iommuMap(d, iova + 2 * min, p + 2 * min, min, RW);
        const n = iommuUnmap(d, iova, 3 * min);
        if (unmapHole === "stop") {
          expect(n).toBe(min);
          expect(iommuIovaToPhys(d, iova)).toBe(0);
          expect(iommuIovaToPhys(d, iova + 2 * min)).toBe(p + 2 * min);
          expect(iommuUnmap(d, iova + 2 * min, min)).toBe(min);
        } else {
          expect(n).toBeGreaterThanOrEqual(3 * min);
          expectUnmapped(d, iova, 3 * min);
        }
      });

      it.skipIf(!multi)(`unmap of the first small page of a large page: ${partialUnmap}`, () => {
        const d = alloc();
        const iova = 2 * max;
        const p = pa(max);
        iommuMap(d, iova, p, max, RW);
        const n = iommuUnmap(d, iova, min);
        if (partialUnmap === "refuse") {
          expect(n).toBe(0);
          expectMapped(d, iova, p, max);
        } else if (partialUnmap === "whole") {
          expect(n).toBe(max);
          expectUnmapped(d, iova, max);
        } else {
          expect(n).toBe(min);
          expect(iommuIovaToPhys(d, iova)).toBe(0);
          expectMapped(d, iova + min, p + min, max - min);
        }
        iommuUnmap(d, iova, max);
        expectUnmapped(d, iova, max);
      });

      it("unmapFast leaves the invalidation in the gather; iotlbSync empties it", () => {
        const d = alloc();
        iommuAttachDevice(d, rig.dev);
        const iova = 2 * max;
        iommuMap(d, iova, pa(max), 2 * min, RW);
        const gather = iommuIotlbGatherInit();
        expect(iommuUnmapFast(d, iova, 2 * min, gather)).toBe(2 * min);
        expect(iommuIovaToPhys(d, iova)).toBe(0);
        iommuIotlbSync(d, gather);
        expect(gather).toEqual(iommuIotlbGatherInit());
      });

      it("mapSg coalesces contiguous entries, maps the list contiguously and rolls back on failure", () => {
        const d = alloc();
        const iova = 2 * max;
        const p0 = pa(max, 0);
        const p1 = pa(max, 2) + (multi ? min : 0);
        const sg = [
          { paddr: p0, length: min },
          { paddr: p0 + min, length: min },
          { paddr: p1, length: 2 * min },
        ];
        expect(iommuMapSg(d, iova, sg, RW)).toBe(4 * min);
        expectMapped(d, iova, p0, 2 * min);
        expectMapped(d, iova + 2 * min, p1, 2 * min);
        expect(iommuUnmap(d, iova, 4 * min)).toBe(4 * min);
        const bp = pa(max, 3);
        iommuMap(d, iova + 3 * min, bp, min, RW);
        expect(() => iommuMapSg(d, iova, sg, RW)).toThrow();
        expectUnmapped(d, iova, 4 * min, [iova + 3 * min, bp]);
      });
    });

    describe("faults", () => {
      it("reportIommuFault returns -ENOSYS without a handler, else the handler's result; io_page_fault either way", () => {
        const d = alloc();
        const rec = new TraceRecorder(rig.kernel.trace, { events: ["io_page_fault"] });
        expect(reportIommuFault(d, rig.dev, 0x1234, IOMMU_FAULT_READ)).toBe(-ERRNO.ENOSYS);
        const calls: unknown[][] = [];
        const token = { who: "conformance" };
        iommuSetFaultHandler(
          d,
          (...args) => {
            calls.push(args);
            return 0;
          },
          token,
        );
        expect(reportIommuFault(d, rig.dev, 0x5678, IOMMU_FAULT_WRITE)).toBe(0);
        expect(calls).toEqual([[d, rig.dev, 0x5678, IOMMU_FAULT_WRITE, token]]);
        expect(rec.of("io_page_fault").map((r) => r.data)).toEqual([
          { device: rig.dev.name, iova: 0x1234, flags: IOMMU_FAULT_READ },
          { device: rig.dev.name, iova: 0x5678, flags: IOMMU_FAULT_WRITE },
        ]);
        rec.stop();
      });

      for (const write of [true, false]) {
        it.skipIf(!caps.faults)(
          `a ${write ? "write" : "read"} to an unmapped IOVA reaches the domain's fault handler`,
          async () => {
            expect(rig.triggerFault, "caps.faults needs rig.triggerFault").toBeTypeOf("function");
            const d = alloc();
            iommuAttachDevice(d, rig.dev);
            iommuMap(d, 2 * max, pa(max), min, RW);
            const calls: { dev: Device; iova: number; flags: number }[] = [];
            iommuSetFaultHandler(
              d,
              (_d, dev, iova, flags) => {
                calls.push({ dev, iova, flags });
                return 0;
              },
              null,
            );
            const iova = 2 * max + 3 * min + 0x40;
            await rig.triggerFault?.(d, iova, write);
            expect(calls.length).toBeGreaterThanOrEqual(1);
            const c = calls[0]!;
            expect(c.dev).toBe(rig.dev);
            expect(Math.floor(c.iova / min)).toBe(Math.floor(iova / min));
            if (caps.faultDirection ?? true)
              expect(c.flags).toBe(write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ);
          },
        );
      }
    });

    describe("attach and detach", () => {
      it("attach makes the domain current; detach returns the master to its default domain", () => {
        const def = iommuGetDmaDomain(rig.dev);
        expect(iommuGetDomainForDev(rig.dev)).toBe(def);
        const d = alloc();
        iommuAttachDevice(d, rig.dev);
        expect(iommuGetDomainForDev(rig.dev)).toBe(d);
        iommuDetachDevice(d, rig.dev);
        expect(iommuGetDomainForDev(rig.dev)).toBe(def);
      });

      it("another domain cannot be attached over an attached one (EBUSY), nor the same one again", () => {
        const d1 = alloc();
        const d2 = alloc();
        iommuAttachDevice(d1, rig.dev);
        expect(() => iommuAttachDevice(d2, rig.dev)).toThrow(kerr("EBUSY"));
        expect(() => iommuAttachDevice(d1, rig.dev)).toThrow(kerr("EBUSY"));
        expect(iommuGetDomainForDev(rig.dev)).toBe(d1);
      });

      it("detaching a domain that is not the current one is EINVAL", () => {
        const d1 = alloc();
        const d2 = alloc();
        iommuAttachDevice(d1, rig.dev);
        expect(() => iommuDetachDevice(d2, rig.dev)).toThrow(kerr("EINVAL"));
        expect(iommuGetDomainForDev(rig.dev)).toBe(d1);
      });

      it("a domain cannot be freed while attached (EBUSY); after detach it can", () => {
        const d = alloc();
        iommuAttachDevice(d, rig.dev);
        expect(() => iommuDomainFree(d)).toThrow(kerr("EBUSY"));
        expect(iommuGetDomainForDev(rig.dev)).toBe(d);
        iommuDetachDevice(d, rig.dev);
        free(d);
      });

      it("mappings belong to the domain: they survive attach, detach and re-attach", () => {
        const d1 = alloc();
        const d2 = alloc();
        const iova = 2 * max;
        const p = pa(max);
        iommuMap(d1, iova, p, min, RW);
        iommuAttachDevice(d1, rig.dev);
        expect(iommuIovaToPhys(d1, iova)).toBe(p);
        expect(iommuIovaToPhys(d2, iova)).toBe(0);
        iommuDetachDevice(d1, rig.dev);
        iommuAttachDevice(d2, rig.dev);
        iommuDetachDevice(d2, rig.dev);
        iommuAttachDevice(d1, rig.dev);
        expect(iommuIovaToPhys(d1, iova)).toBe(p);
        expect(iommuUnmap(d1, iova, min)).toBe(min);
      });
    });
  });
}
