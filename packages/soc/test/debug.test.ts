// The machine's debug seams for tools above soc (the umm CLI may not import plat-* packages):
// the SysMMU TLB sanitizer and skipped-invalidation bug, and the display's last frame.
import { DMA_TO_DEVICE, dmaMapSingle, dmaUnmapSingle } from "@umm/dma-mapping-arm";
import { PAGE_SIZE } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { bootBoard, EXYNOS4210_BOARD, type Machine, S5PV210_BOARD } from "../src/index.js";

/** A lowmem page filled with `byte`; its kernel address. */
function page(m: Machine, byte: number): number {
  const pfn = m.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "test page" })!;
  const va = m.mm.kspace.physToVirt(pfn * PAGE_SIZE);
  m.cpu.write(m.mm.kspace, va, new Uint8Array(PAGE_SIZE).fill(byte));
  return va;
}

describe("Machine.sysmmuDebug", () => {
  it("a skipped TLB invalidation serves the old page at a reused D.V, and the sanitizer names it", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 1, trace: true });
    expect(m.sysmmuDebug("fimc0", { tlbSanitizer: true, skipTlbInvalidations: 1 })).toEqual(["FIMC0"]);
    const fimc0 = m.devices.get("fimc0")!;
    const a = page(m, 0xaa);
    const b = page(m, 0xbb);
    const seen = new Uint8Array(16);
    const da = dmaMapSingle(fimc0, a, PAGE_SIZE, DMA_TO_DEVICE);
    m.dmaPort("fimc0").read(da, seen); // the TLB now holds da -> a
    dmaUnmapSingle(fimc0, da, PAGE_SIZE, DMA_TO_DEVICE); // its invalidation is left out
    const db = dmaMapSingle(fimc0, b, PAGE_SIZE, DMA_TO_DEVICE);
    expect(db).toBe(da); // the IOVA allocator hands the same D.V out again
    m.dmaPort("fimc0").read(db, seen);
    expect(seen[0]).toBe(0xaa); // the stale entry: the device reads the page it no longer maps
    const stale = m.recorder!.of("sysmmu_stale_tlb");
    expect(stale).toHaveLength(1);
    expect(stale[0]!.data).toMatchObject({
      master: "fimc0",
      iova: da,
      tlb_pa: m.mm.kspace.virtToPhys(a),
      pt_pa: m.mm.kspace.virtToPhys(b),
    });
    dmaUnmapSingle(fimc0, db, PAGE_SIZE, DMA_TO_DEVICE); // invalidated this time
    expect(m.sysmmuDebug(null, { tlbSanitizer: false })).toHaveLength(16);
    m.shutdown();
  });

  it("rejects unknown devices, masters without a SysMMU and bad counts, changing nothing", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 1 });
    expect(() => m.sysmmuDebug("nope", { tlbSanitizer: true })).toThrow(kerr("ENODEV", /no device "nope"/));
    expect(() => m.sysmmuDebug("fimc0", { skipTlbInvalidations: -1 })).toThrow(
      kerr("EINVAL", /skipTlbInvalidations -1/),
    );
    m.shutdown();
    expect(() => m.sysmmuDebug(null, {})).toThrow(kerr("ENODEV", /shut down/));
    const direct = bootBoard(S5PV210_BOARD, { seed: 1 });
    expect(() => direct.sysmmuDebug("fimc0", { tlbSanitizer: true })).toThrow(
      kerr("ENODEV", /fimc0 has no System MMU/),
    );
    expect(direct.sysmmuDebug(null, { tlbSanitizer: true })).toEqual([]);
    direct.shutdown();
  });
});

describe("Machine.displayLastFrame", () => {
  it("is null before the first vblank and ENODEV for a device without a display driver", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 1 });
    expect(m.displayLastFrame("fimd0")).toBeNull();
    expect(() => m.displayLastFrame("fimc0")).toThrow(kerr("ENODEV", /no FIMD driver/));
    m.shutdown();
  });
});
