import { createKernel, type Kernel, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { type BankSpec, GFP_KERNEL, type Mm, mmInit } from "@umm/mm-core";
import {
  CTRL_ENABLE,
  LV1TABLE_SIZE,
  LV2TABLE_SIZE,
  lv1entOffset,
  lv2entOffset,
  mkLv1entPage,
  mkLv1entSect,
  mkLv2entLpage,
  mkLv2entSpage,
  pteFormatOf,
  REG_MMU_CFG,
  REG_MMU_CTRL,
  REG_MMU_FLUSH,
  REG_PT_BASE_ADDR,
  REG_V5_MMU_FLUSH_ALL,
  REG_V5_PT_BASE_PFN,
  type SysMmu,
  type SysMmuPteFormat,
} from "../src/index.js";

export { pattern } from "@umm/kernel-core/testing";

/** A booted Mm over 64 MiB of DRAM at 0x40000000 (or the given banks). */
export function boot(opts: { banks?: BankSpec[]; seed?: number } = {}): { kernel: Kernel; mm: Mm } {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, { banks: opts.banks ?? [{ start: 0x40000000, size: 64 * SZ_1M }] });
  mm.memblockFreeAll();
  return { kernel, mm };
}

/** Physical address of freshly allocated, zeroed pages. */
export function allocPa(mm: Mm, order: number): number {
  const pfn = mm.buddy.allocPages(order, GFP_KERNEL, { tag: "test" });
  if (pfn === null) throw new Error("out of pages");
  mm.phys.fill(pfn * PAGE_SIZE, 0, PAGE_SIZE << order);
  return pfn * PAGE_SIZE;
}

/**
 * Hand-written page tables for register-level tests (what a driver would build), in the format
 * of hardware version `ver` (`makeMmuVer`).
 */
export class Tables {
  readonly mm: Mm;
  readonly f: SysMmuPteFormat;
  readonly lv1: number;
  readonly #lv2 = new Map<number, number>();

  constructor(mm: Mm, ver: number) {
    this.mm = mm;
    this.f = pteFormatOf(ver);
    this.lv1 = allocPa(mm, 2);
    if (this.lv1 % LV1TABLE_SIZE !== 0) throw new Error("lv1 not aligned");
  }

  /** Address of the lv1 entry of `iova`. */
  lv1Entry(iova: number): number {
    return this.lv1 + lv1entOffset(iova) * 4;
  }

  /** Address of the lv2 entry of `iova` (allocating its table). */
  lv2Entry(iova: number): number {
    const i = lv1entOffset(iova);
    let t = this.#lv2.get(i);
    if (t === undefined) {
      t = allocPa(this.mm, 0);
      if (t % LV2TABLE_SIZE !== 0) throw new Error("lv2 not aligned");
      this.#lv2.set(i, t);
      this.mm.phys.write32(this.lv1Entry(iova), mkLv1entPage(this.f, t));
    }
    return t + lv2entOffset(iova) * 4;
  }

  section(iova: number, pa: number, prot = 3): void {
    this.mm.phys.write32(this.lv1Entry(iova), mkLv1entSect(this.f, pa, prot));
  }

  large(iova: number, pa: number, prot = 3): void {
    const e = this.lv2Entry(iova);
    for (let k = 0; k < 16; k++) this.mm.phys.write32(e + 4 * k, mkLv2entLpage(this.f, pa, prot));
  }

  small(iova: number, pa: number, prot = 3): void {
    this.mm.phys.write32(this.lv2Entry(iova), mkLv2entSpage(this.f, pa, prot));
  }

  clearSmall(iova: number): void {
    this.mm.phys.write32(this.lv2Entry(iova), 0);
  }

  clearLarge(iova: number): void {
    const e = this.lv2Entry(iova);
    for (let k = 0; k < 16; k++) this.mm.phys.write32(e + 4 * k, 0);
  }
}

/** What exynos-iommu's __sysmmu_enable writes: block, config, table base, flush all, enable. */
export function enable(mmu: SysMmu, pgd: number, cfg = 0x1 | (15 << 7) | (1 << 2)): void {
  mmu.write32(REG_MMU_CTRL, 0x7);
  mmu.write32(REG_MMU_CFG, cfg);
  if (mmu.major >= 5) {
    mmu.write32(REG_V5_PT_BASE_PFN, Math.floor(pgd / 4096));
    mmu.write32(REG_V5_MMU_FLUSH_ALL, 1);
  } else {
    mmu.write32(REG_PT_BASE_ADDR, pgd);
    mmu.write32(REG_MMU_FLUSH, 1);
  }
  mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
}
