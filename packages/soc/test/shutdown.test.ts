// What shutdown finds: leaks injected on purpose show up; drivers plugged into the driver list
// are unbound in reverse probe order before their masters lose their IOMMU; two boots with one
// seed are the same run.
import { DMA_HEAP_IOCTL_ALLOC, dmaBufGet } from "@umm/dma-buf";
import {
  DMA_TO_DEVICE,
  dmaAllocCoherent,
  dmaFreeCoherent,
  dmaMappingError,
  dmaMapSingle,
} from "@umm/dma-mapping-arm";
import { iommuGetDomainForDev, iommuUnmap } from "@umm/iommu-core";
import { type Device, type DeviceDriver, PAGE_SIZE, SZ_1M, SZ_64K } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDWR, type Process } from "@umm/kernel-process";
import { cmaAlloc } from "@umm/mm-cma";
import {
  GFP_KERNEL,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  pinUserPages,
} from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { bootBoard, EXYNOS4210_BOARD, S5PV210_BOARD } from "../src/index.js";

/** A dma-buf fd of `size` bytes from heap `heap`, in `proc`. */
function heapAlloc(proc: Process, heap: string, size: number): number {
  const fd = proc.open(`/dev/dma_heap/${heap}`, O_RDWR);
  const req = { len: size, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
  proc.ioctl(fd, DMA_HEAP_IOCTL_ALLOC, req);
  proc.close(fd);
  return req.fd;
}

describe("leaks injected on purpose show up in the shutdown report", () => {
  it("a CMA allocation never freed", () => {
    const m = bootBoard(EXYNOS4210_BOARD);
    expect(cmaAlloc(m.cmaRegion("common"), 16, 0)).not.toBeNull();
    const { leaks } = m.shutdown();
    expect(leaks).toContainEqual({
      what: "cma",
      detail: expect.stringMatching(/^common: 16 page\(s\) in use, 0 at boot/),
    });
    expect(leaks).toContainEqual({ what: "buddy", detail: expect.stringMatching(/16 × cma:common/) });
  });

  it("an fd left open in a process that was not exited", () => {
    const m = bootBoard(EXYNOS4210_BOARD);
    const camera = m.spawn("camera");
    const fd = heapAlloc(camera, "system", SZ_1M);
    const { leaks } = m.shutdown();
    expect(leaks).toEqual([
      { what: "open file", detail: `pid ${camera.pid} (camera) fd ${fd}: anon_inode:dmabuf` },
    ]);
  });

  it("a dma-buf the kernel still holds after its process exited", () => {
    const m = bootBoard(EXYNOS4210_BOARD);
    const camera = m.spawn("camera");
    const fd = heapAlloc(camera, "default_cma_region", SZ_1M);
    const buf = m.kernel.withCurrent(camera, () => dmaBufGet(m.kernel, fd));
    expect(buf.size).toBe(SZ_1M);
    camera.exit(0);
    const { leaks, warnings } = m.shutdown();
    expect(leaks.map((l) => l.what)).toEqual(["dma-buf", "open file", "cma", "buddy"]);
    expect(leaks[0]!.detail).toMatch(/default_cma_region, 1048576 bytes\) has 1 reference/);
    expect(leaks[2]!.detail).toMatch(/^common: 256 page\(s\) in use/);
    expect(warnings.some((w) => w.startsWith("dma_buf_warn: leak: dma-buf"))).toBe(true);
  });

  it("a streaming mapping never unmapped, a page never freed, a pinned page", () => {
    const m = bootBoard(EXYNOS4210_BOARD);
    const pfn = m.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "forgotten" })!;
    const fimc = m.devices.get("fimc0")!;
    const daddr = dmaMapSingle(fimc, m.mm.kspace.physToVirt(pfn * PAGE_SIZE), 64, DMA_TO_DEVICE);
    expect(dmaMappingError(fimc, daddr)).toBe(0);
    const p = m.spawn("app");
    const va = p.mmap({
      length: PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
    });
    p.memWrite(va, new Uint8Array([1]));
    pinUserPages(p.space, va, PAGE_SIZE, { write: true }); // never unpinned
    const { leaks } = m.shutdown();
    expect(leaks).toEqual([
      {
        what: "iommu mapping",
        detail: "fimc0: 1 IOVA range(s), 1 page(s), still mapped in its ARM IOMMU mapping at 0x20000000",
      },
      {
        what: "buddy",
        detail: expect.stringMatching(/^2 page\(s\) fewer free .*; held: 1 × forgotten, 1 × pid \d+:anon$/),
      },
      { what: "pinned pages", detail: expect.stringMatching(/^1 page\(s\) still pinned, the first at 0x/) },
      { what: "iommu", detail: "0x1000 bytes mapped by iommu_map were never unmapped" },
    ]);
  });

  it("an unmap of a range never mapped is a warning, not a leak (the driver reports the page size, as upstream)", () => {
    const m = bootBoard(EXYNOS4210_BOARD);
    const domain = iommuGetDomainForDev(m.devices.get("fimc0")!)!;
    expect(iommuUnmap(domain, 0x7ff00000, PAGE_SIZE)).toBe(PAGE_SIZE);
    const { leaks, warnings } = m.shutdown();
    expect(leaks).toEqual([]);
    expect(warnings).toContain(
      "iommu: iommu_unmap reported 0x1000 bytes more than iommu_map mapped (unmaps of ranges that were never mapped)",
    );
  });

  it("a clean workload leaves nothing", () => {
    const m = bootBoard(S5PV210_BOARD);
    const camera = m.spawn("camera");
    const display = m.spawn("display");
    const fd = heapAlloc(camera, "default_cma_region", SZ_1M);
    const va = camera.mmap({ fd, length: SZ_1M, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    camera.memWrite(va, new Uint8Array([1, 2, 3]));
    const listen = display.listen("/run/frames");
    camera.sendmsg(camera.connect("/run/frames"), { fds: [fd] });
    const [got] = display.recvmsg(display.accept(listen)).fds;
    expect(got).toBeGreaterThan(0);
    camera.exit(0);
    display.exit(0);
    expect(m.shutdown()).toEqual({ leaks: [], warnings: [] });
  });
});

describe("the driver list: drivers bind after the masters are set up and unbind before they go", () => {
  function fimcDriver(log: string[], leak = false): DeviceDriver {
    return {
      name: "test-fimc",
      compatible: ["samsung,exynos4210-fimc"],
      probe(dev: Device) {
        const buf = dmaAllocCoherent(dev, SZ_64K);
        if (!buf) throw new Error("no coherent memory");
        dev.driverData = buf;
        log.push(`probe ${dev.name}`);
      },
      remove(dev: Device) {
        const buf = dev.driverData as { cpuAddr: number; dmaAddr: number };
        if (!leak) dmaFreeCoherent(dev, SZ_64K, buf.cpuAddr, buf.dmaAddr);
        log.push(`remove ${dev.name}`);
      },
    };
  }

  it("probes every compatible master with its DMA already going through its SysMMU", () => {
    const log: string[] = [];
    const m = bootBoard(EXYNOS4210_BOARD, { drivers: [fimcDriver(log)] });
    expect(
      m
        .describe()
        .devices.filter((d) => d.driver === "test-fimc")
        .map((d) => d.name),
    ).toEqual(["fimc0", "fimc1", "fimc2", "fimc3"]);
    // the coherent buffer lives in the master's IOVA window
    const buf = m.devices.get("fimc2")!.driverData as { dmaAddr: number };
    expect(buf.dmaAddr).toBe(m.iommuMapping("fimc2")!.base);
    m.dmaPort("fimc2").write(buf.dmaAddr, new Uint8Array([7]));
    expect(m.shutdown().leaks).toEqual([]);
    expect(log).toEqual([
      "probe fimc0",
      "probe fimc1",
      "probe fimc2",
      "probe fimc3",
      "remove fimc3",
      "remove fimc2",
      "remove fimc1",
      "remove fimc0",
    ]);
  });

  it("a driver that forgets to free in remove shows in the report", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { drivers: [fimcDriver([], true)] });
    const leaks = m.shutdown().leaks;
    // reported as the teardown meets them: last probed first
    expect(leaks.filter((l) => l.what === "iommu mapping").map((l) => l.detail.split(":")[0])).toEqual([
      "fimc3",
      "fimc2",
      "fimc1",
      "fimc0",
    ]);
    expect(leaks.map((l) => l.what)).toContain("buddy");
  });
});

describe("determinism", () => {
  function run(seed: number) {
    const m = bootBoard(EXYNOS4210_BOARD, { seed, trace: true, dmaDebug: true });
    const p = m.spawn("camera");
    const fd = heapAlloc(p, "system", 3 * SZ_64K);
    const fd2 = heapAlloc(p, "default_cma_region", SZ_1M);
    p.close(fd2);
    const fimc = m.devices.get("fimc1")!;
    const pfn = m.mm.buddy.allocPages(2, GFP_KERNEL)!;
    const daddr = dmaMapSingle(fimc, m.mm.kspace.physToVirt(pfn * PAGE_SIZE), 4 * PAGE_SIZE, DMA_TO_DEVICE);
    dmaMappingError(fimc, daddr);
    m.dmaPort("fimc1").read(daddr, new Uint8Array(16));
    expect(() => m.dmaPort("fimc0").read(daddr, new Uint8Array(16))).toThrow();
    p.close(fd);
    p.exit(0);
    const stats = m.stats();
    const report = m.shutdown();
    const records = m.recorder!.records();
    return { stats, report, records };
  }

  it("two boots with the same seed give identical stats and traces", () => {
    const a = run(11);
    const b = run(11);
    expect(b.stats).toEqual(a.stats);
    expect(b.records).toEqual(a.records);
    expect(a.records.length).toBeGreaterThan(300);
    expect(a.stats.faults.sysmmu).toEqual({ PAGE: 1 });
    expect(a.stats.cma.find((r) => r.name === "common")?.peakPages).toBe(256);
    expect(a.report.leaks.map((l) => l.what)).toEqual(["iommu mapping", "buddy", "iommu"]);
  });
});
