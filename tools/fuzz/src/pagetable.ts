/**
 * Reading a SysMMU domain's page tables straight from simulated DRAM, the way the hardware walker
 * does: every mapped IOVA page and the physical page it reaches. The invariants use it to prove
 * that a device can reach exactly what its live mappings say, and the snapshots digest it.
 *
 * @module
 */
import type { IommuDomain } from "@umm/iommu-core";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import {
  exynosIommuState,
  lpagePhys,
  lv1entPageZero,
  lv1entSection,
  lv2entFault,
  lv2entLarge,
  lv2tableBase,
  type S5pDomain,
  sectionPhys,
  spagePhys,
} from "@umm/plat-s5p-sysmmu";
import type { Machine } from "@umm/soc";

/** The 256 entries of the lv2 table at `pa`, as a view of DRAM. */
function lv2Words(machine: Machine, pa: number): Uint32Array {
  const v = machine.mm.phys.view(pa, 1024);
  return new Uint32Array(v.buffer, v.byteOffset, 256);
}

/**
 * Every mapped 4 KiB IOVA page of `domain` → the physical address it translates to, read from
 * the tables in DRAM as the SysMMU walks them. With `trustCounts`, lv2 tables whose `lv2entcnt`
 * says they are empty are skipped (fast, for every step); without it every table is read and its
 * count checked against its entries (an `Error` when they disagree).
 */
export function walkDomain(machine: Machine, domain: IommuDomain, trustCounts = false): Map<number, number> {
  const d = domain as S5pDomain;
  const out = new Map<number, number>();
  const st = exynosIommuState(machine.kernel);
  if (!st || !d.lv1) return out;
  const fmt = st.fmt;
  const zero = st.zeroLv2Link;
  const lv1 = d.lv1;
  const free = d.lv2entcnt;
  for (let i = 0; i < lv1.length; i++) {
    const sent = lv1[i]! >>> 0;
    // most entries fault or link the shared zero table; an lv2 table all free maps nothing
    if (sent === 0 || sent === zero || (trustCounts && free[i] === 256 && !lv1entSection(sent))) continue;
    const base = i * SZ_1M;
    if (lv1entSection(sent)) {
      const pa = sectionPhys(fmt, sent);
      for (let k = 0; k < SZ_1M / PAGE_SIZE; k++) out.set(base + k * PAGE_SIZE, pa + k * PAGE_SIZE);
      continue;
    }
    if (!lv1entPageZero(sent)) continue;
    const words = lv2Words(machine, lv2tableBase(fmt, sent));
    let used = 0;
    for (let j = 0; j < 256; j++) {
      const pent = words[j]! >>> 0;
      if (lv2entFault(pent)) continue;
      used++;
      const iova = base + j * PAGE_SIZE;
      if (lv2entLarge(pent)) out.set(iova, lpagePhys(fmt, pent) + (iova % 0x10000));
      else out.set(iova, spagePhys(fmt, pent));
    }
    if (!trustCounts && d.lv2entcnt[i] !== 256 - used) {
      throw new Error(
        `section ${i}: lv2entcnt says ${d.lv2entcnt[i]} free entries, the table has ${256 - used}`,
      );
    }
  }
  return out;
}

/**
 * The page tables of `domain` as one word array: the lv1 table followed by every lv2 table it
 * links to (the zero table excluded), for snapshots.
 */
export function domainTableWords(machine: Machine, domain: IommuDomain): Uint32Array {
  const d = domain as S5pDomain;
  const st = exynosIommuState(machine.kernel);
  if (!st || !d.lv1) return new Uint32Array(0);
  const words: number[] = [];
  for (let i = 0; i < d.lv1.length; i++) {
    const sent = d.lv1[i]! >>> 0;
    if (!lv1entPageZero(sent) || sent === st.zeroLv2Link) continue;
    words.push(i, ...lv2Words(machine, lv2tableBase(st.fmt, sent)));
  }
  const out = new Uint32Array(d.lv1.length + words.length);
  out.set(d.lv1);
  out.set(words, d.lv1.length);
  return out;
}
