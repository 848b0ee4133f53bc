// Bad descriptions fail with clear errors before any kernel exists; a failure during boot shuts
// the half-built kernel down.
import { type Kernel, KernelError } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { boardFromDt, bootBoard, EXYNOS4210_BOARD, S5PV210_BOARD } from "../src/index.js";
import { at, blob, clone, mini } from "./helpers.js";

// every kernel bootBoard creates goes through this spy
vi.mock("@umm/kernel-core", async (importOriginal) => {
  const mod = await importOriginal<typeof import("@umm/kernel-core")>();
  return { ...mod, createKernel: vi.fn(mod.createKernel) };
});
const { createKernel } = await import("@umm/kernel-core");
const created = vi.mocked(createKernel);
beforeEach(() => created.mockClear());

describe("bad descriptions boot nothing", () => {
  it("overlapping reserved regions", () => {
    const b = clone(EXYNOS4210_BOARD);
    b.reservedMemory[2]!.reg = { base: 0x4c000000, size: 0x800000 }; // inside mfc-left@4a000000
    expect(() => bootBoard(b)).toThrow(
      kerr(
        "EINVAL",
        '/reserved-memory/mfc-right@6a000000: property "reg": [0x4c000000, 0x4c800000) overlaps /reserved-memory/mfc-left@4a000000',
      ),
    );
    expect(created).not.toHaveBeenCalled();
  });

  it("a region outside DRAM", () => {
    const b = clone(S5PV210_BOARD);
    b.reservedMemory[1]!.reg = { base: 0x60000000, size: 0x2400000 }; // the hole above bank1
    expect(() => bootBoard(b)).toThrow(
      kerr("EINVAL", /mfc-left@2a000000: property "reg": .* is outside DRAM/),
    );
    expect(created).not.toHaveBeenCalled();
  });

  it("a missing phandle (device tree) and a missing SysMMU (data)", () => {
    const root = mini();
    at(root, "/soc/fimc@11800000").props.iommus = [0x17];
    expect(() => bootBoard(boardFromDt(blob(root), { name: "broken" }))).toThrow(
      kerr("EINVAL", '/soc/fimc@11800000: property "iommus" references phandle 0x17, which no node has'),
    );
    const b = clone(EXYNOS4210_BOARD);
    b.devices[0]!.iommus = ["FIMC9"];
    expect(() => bootBoard(b)).toThrow(
      kerr("EINVAL", 'device "fimc0": iommus: names SysMMU "FIMC9", which the board does not have'),
    );
    expect(created).not.toHaveBeenCalled();
  });

  it("what only booting needs: a UMP carve-out in UMP's blocks, a reachable swiotlb, sane options", () => {
    const b = clone(EXYNOS4210_BOARD);
    b.ump = { base: 0x5e000000, size: 0x1fff000 };
    expect(() => bootBoard(b)).toThrow(kerr("EINVAL", /ump: the carve-out size 0x1fff000 is not a multiple/));
    const tight = clone(S5PV210_BOARD);
    tight.reservedMemory[3]!.reg = { base: 0x20000000, size: 0x1000000 }; // dma24's whole window
    tight.devices[7]!.memoryRegions = [];
    expect(() => bootBoard(tight)).toThrow(
      kerr("EINVAL", /swiotlb: .*reaches \(dma24 \[0x20000000, 0x21000000\)/),
    );
    expect(() => bootBoard(EXYNOS4210_BOARD, { cache: "huge" as "sized" })).toThrow(
      kerr("EINVAL", 'cache "huge" is not "ideal" or "sized"'),
    );
    expect(() => bootBoard(EXYNOS4210_BOARD, { iommuWindow: { base: 0x1001, size: 0x1000 } })).toThrow(
      kerr("EINVAL", /iommuWindow/),
    );
    expect(() => bootBoard(EXYNOS4210_BOARD, { trace: { capacity: 0 } })).toThrow(
      kerr("EINVAL", /trace.capacity 0/),
    );
    const named = clone(EXYNOS4210_BOARD);
    named.devices[4]!.name = "udmabuf";
    named.devices[0]!.properties["umm,sensor"] = "udmabuf";
    expect(() => bootBoard(named)).toThrow(kerr("EINVAL", /"udmabuf": the machine registers/));
    expect(created).not.toHaveBeenCalled();
  });
});

describe("a failure during boot", () => {
  it("shuts the half-built kernel down before the error propagates", () => {
    const broken = {
      name: "broken",
      compatible: ["samsung,mfc-v5"],
      probe: () => {
        throw new Error("probe exploded"); // not a KernelError: the bus rethrows it
      },
    };
    expect(() => bootBoard(EXYNOS4210_BOARD, { drivers: [broken] })).toThrow("probe exploded");
    expect(created).toHaveBeenCalledTimes(1);
    const kernel = created.mock.results[0]!.value as Kernel;
    expect(kernel.isDown).toBe(true);
  });

  it("a driver that refuses a device (a KernelError) is logged and the boot goes on", () => {
    const refuse = {
      name: "refuse",
      compatible: ["samsung,mfc-v5"],
      probe: () => {
        throw new KernelError("ENODEV", "no firmware");
      },
    };
    const m = bootBoard(EXYNOS4210_BOARD, { drivers: [refuse], trace: true });
    expect(m.recorder!.of("device_probe_failed").map((r) => r.data)).toEqual([
      { device: "mfc", driver: "refuse", errno: "ENODEV" },
    ]);
    expect(m.describe().devices.find((d) => d.name === "mfc")?.driver).toBeNull();
    expect(m.shutdown().leaks).toEqual([]);
  });
});
