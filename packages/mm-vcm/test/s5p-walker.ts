// The test side of the S5P unified address space: a System MMU model per master that reads the
// shared page table from DRAM (SysMMU v1–v3 descriptors), with a TLB the driver's
// tlbInvalidator empties, plus an S5pVcmDriver wired to those models.
import { DMA_BIT_MASK, hex, type Kernel, KernelError, SZ_4K } from "@umm/kernel-core";
import { DmaPort, type Mm, mmOf, type RunList, type Translator } from "@umm/mm-core";
import type { S5pVcmDriver } from "../src/index.js";

/** Decodes `va` through the lv1 table at `pgd`; null on a fault. */
export function walk(mm: Mm, pgd: number, va: number): number | null {
  const e1 = mm.phys.read32(pgd + Math.floor(va / 0x100000) * 4);
  switch (e1 & 3) {
    case 2:
      return (e1 & 0xfff00000) + (va % 0x100000);
    case 1: {
      const table = (e1 & 0xfffffc00) >>> 0;
      const e2 = mm.phys.read32(table + Math.floor((va % 0x100000) / SZ_4K) * 4);
      if ((e2 & 3) === 0) return null;
      if ((e2 & 3) === 1) return ((e2 & 0xffff0000) >>> 0) + (va % 0x10000);
      return ((e2 & 0xfffff000) >>> 0) + (va % SZ_4K);
    }
    default:
      return null;
  }
}

/** What kind of descriptor maps `va`: "section", "large", "small" or "fault". */
export function kindAt(mm: Mm, pgd: number, va: number): "section" | "large" | "small" | "fault" {
  const e1 = mm.phys.read32(pgd + Math.floor(va / 0x100000) * 4);
  if ((e1 & 3) === 2) return "section";
  if ((e1 & 3) !== 1) return "fault";
  const e2 = mm.phys.read32(((e1 & 0xfffffc00) >>> 0) + Math.floor((va % 0x100000) / SZ_4K) * 4);
  return (e2 & 3) === 0 ? "fault" : (e2 & 3) === 1 ? "large" : "small";
}

/**
 * Checks the structure of every lv2 table the lv1 table links: large-page descriptors come in
 * 16 identical entries, 16-entry aligned, their base 64 KiB-aligned. Returns the problems.
 */
export function lv2Problems(mm: Mm, pgd: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < 4096; i++) {
    const e1 = mm.phys.read32(pgd + i * 4);
    if ((e1 & 3) !== 1) continue;
    const table = (e1 & 0xfffffc00) >>> 0;
    for (let j = 0; j < 256; j++) {
      const e = mm.phys.read32(table + j * 4);
      if ((e & 3) !== 1) continue;
      const g = j - (j % 16);
      for (let k = g; k < g + 16; k++) {
        if (mm.phys.read32(table + k * 4) !== e) out.push(`slot ${i} entry ${k}: broken large-page group`);
      }
      if ((e & 0xffff) !== 1) out.push(`slot ${i} entry ${j}: large page base not 64 KiB aligned`);
    }
  }
  return out;
}

/** One master's System MMU as the test sees it. */
export interface SysmmuModel {
  readonly id: number;
  /** lv1 base the driver set (null: translation off) */
  pgd: number | null;
  /** cached translations, 4 KiB slot → page paddr */
  readonly tlb: Map<number, number>;
  invalidations: number;
  readonly port: DmaPort;
}

/** The S5P rig: a model per id and the S5pVcmDriver that drives them. */
export interface S5pRig {
  readonly models: Map<number, SysmmuModel>;
  readonly log: string[];
  /** driver for device `id` (creates its model); `extra` adds physAlloc/physFree */
  driver(id: number, extra?: Partial<S5pVcmDriver>): S5pVcmDriver;
}

export function s5pRig(kernel: Kernel): S5pRig {
  const mm = mmOf(kernel);
  const models = new Map<number, SysmmuModel>();
  const log: string[] = [];
  const model = (id: number): SysmmuModel => {
    let m = models.get(id);
    if (m) return m;
    const tlb = new Map<number, number>();
    const translator: Translator = {
      translate(daddr: number, len: number, write: boolean, out: RunList) {
        const self = models.get(id) as SysmmuModel;
        if (self.pgd === null) throw new KernelError("EFAULT", `sysmmu ${id}: translation is off`);
        let va = daddr;
        const end = daddr + len;
        while (va < end) {
          const slot = Math.floor(va / SZ_4K);
          let page = tlb.get(slot);
          if (page === undefined) {
            const pa = walk(mm, self.pgd, slot * SZ_4K);
            if (pa === null) {
              throw new KernelError(
                "EFAULT",
                `sysmmu ${id}: ${write ? "write" : "read"} page fault at ${hex(va)}`,
              );
            }
            page = pa;
            tlb.set(slot, page);
          }
          const n = Math.min(end - va, (slot + 1) * SZ_4K - va);
          out.push(page + (va % SZ_4K), n);
          va += n;
        }
      },
    };
    m = {
      id,
      pgd: null,
      tlb,
      invalidations: 0,
      port: new DmaPort(mm, { id: 100 + id, name: `sysmmu${id}`, dmaMask: DMA_BIT_MASK(32) }, translator),
    };
    models.set(id, m);
    return m;
  };
  return {
    models,
    log,
    driver(id, extra = {}) {
      model(id);
      return {
        tlbInvalidator: (i) => {
          const m = model(i);
          m.tlb.clear();
          m.invalidations++;
          log.push(`tlb ${i}`);
        },
        pgdBaseSpecifier: (i, base) => {
          model(i).pgd = base;
          log.push(`pgd ${i} ${hex(base)}`);
        },
        ...extra,
      };
    },
  };
}
