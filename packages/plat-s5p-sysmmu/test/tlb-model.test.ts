// The SysMMU's TLB (micro-TLB, counting filter, held-back fills) against a plain reference
// model of a fully associative TLB: the same translations, faults and entries after any
// sequence of page-table changes without flushes, flushes and transfers.
import { isKernelError, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { RunList } from "@umm/mm-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CTRL_ENABLE,
  REG_INT_CLEAR,
  REG_MMU_CTRL,
  REG_MMU_FLUSH,
  REG_MMU_FLUSH_ENTRY,
  SysMmu,
  type SysMmuVersion,
} from "../src/index.js";
import { allocPa, boot, enable, Tables } from "./helpers.js";

const BASE = 0x10000000;
const SECTIONS = 3;

interface Ent {
  base: number;
  len: number;
  pa: number;
  perm: number;
  fbase: number;
  flen: number;
}

/** A fully associative TLB, most recent first, as the hardware is specified. */
class RefTlb {
  ents: Ent[] = [];
  readonly cap: number;
  readonly lru: boolean;
  readonly v2: boolean;

  constructor(cap: number, lru: boolean, v2: boolean) {
    this.cap = cap;
    this.lru = lru;
    this.v2 = v2;
  }

  lookup(iova: number): Ent | "multi" | null {
    const hits = this.ents.filter((e) => iova >= e.base && iova < e.base + e.len);
    if (hits.length > 1) return "multi";
    const e = hits[0];
    if (!e) return null;
    if (this.lru) this.ents = [e, ...this.ents.filter((x) => x !== e)];
    return e;
  }

  fill(e: Ent): void {
    this.ents.unshift(e);
    if (this.ents.length > this.cap) this.ents.pop();
  }

  flushEntry(iova: number): void {
    this.ents = this.ents.filter(
      (e) =>
        !(
          iova >= e.fbase &&
          iova < e.fbase + e.flen &&
          (!this.v2 || ((e.base >>> 12) & 63) === ((iova >>> 12) & 63))
        ),
    );
  }
}

type Op =
  | { op: "section"; s: number; pa: number; prot: number }
  | { op: "small"; s: number; i: number; pa: number; prot: number }
  | { op: "large"; s: number; i: number; pa: number; prot: number }
  | { op: "clear"; s: number; i: number }
  | { op: "clearSection"; s: number }
  | { op: "xfer"; page: number; pages: number; off: number; write: boolean }
  | { op: "flushEntry"; page: number }
  | { op: "flushAll" };

const prot = fc.constantFrom(3, 3, 3, 1);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("section" as const),
      s: fc.nat(SECTIONS - 1),
      pa: fc.nat(3),
      prot,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("small" as const),
      s: fc.nat(SECTIONS - 1),
      i: fc.oneof(fc.nat(47), fc.nat(255)),
      pa: fc.nat(255),
      prot,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("large" as const),
      s: fc.nat(SECTIONS - 1),
      i: fc.oneof(fc.nat(2), fc.nat(15)),
      pa: fc.nat(15),
      prot,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("clear" as const),
      s: fc.nat(SECTIONS - 1),
      i: fc.oneof(fc.nat(47), fc.nat(255)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clearSection" as const), s: fc.nat(SECTIONS - 1) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("xfer" as const),
      page: fc.oneof(fc.nat(47), fc.nat(SECTIONS * 256 - 1)),
      pages: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 })),
      off: fc.constantFrom(0, 0x10, 0xff0),
      write: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("flushEntry" as const), page: fc.nat(SECTIONS * 256 - 1) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("flushAll" as const) }) },
);

/** How each section starts: one section, 16 large pages, or 256 small pages (scattered). */
type Init = "section" | "large" | "small";

function run(
  version: SysMmuVersion,
  cap: number,
  lru: boolean,
  init: readonly Init[],
  ops: readonly Op[],
): void {
  const { mm } = boot({ banks: [{ start: 0x40000000, size: 16 * SZ_1M }] });
  const mmu = new SysMmu(mm, { name: "m", version, tlbEntries: cap });
  const t = new Tables(mm, mmu.version);
  const data = allocPa(mm, 10); // 4 MiB for pages
  for (let s = 0; s < SECTIONS; s++) t.lv2Entry(BASE + s * SZ_1M); // creates the tables
  const links = Array.from({ length: SECTIONS }, (_, s) => mm.phys.read32(t.lv1Entry(BASE + s * SZ_1M)));
  init.forEach((kind, s) => {
    const va = BASE + s * SZ_1M;
    if (kind === "section") t.section(va, data + s * SZ_1M);
    else if (kind === "large")
      for (let i = 0; i < 16; i++) t.large(va + i * SZ_64K, data + ((i * 7) % 16) * SZ_64K);
    else for (let i = 0; i < 256; i++) t.small(va + i * SZ_4K, data + ((i * 37 + s) % 256) * SZ_4K);
  });
  enable(mmu, t.lv1, (lru ? 1 : 0) | 4);
  const ref = new RefTlb(cap, lru, version === "2.0");

  // the reference walker reads the same DRAM (v1 encoding)
  const walk = (iova: number): Ent | null => {
    const sent = mm.phys.read32(t.lv1 + (iova >>> 20) * 4);
    let page: Ent;
    const ap = (e: number, ap0: number, ap2: number) => ((e & ap0) === 0 ? 0 : (e & ap2) !== 0 ? 1 : 3);
    if ((sent & 3) === 2) {
      page = {
        base: iova - (iova % SZ_1M),
        len: SZ_1M,
        pa: (sent & 0xfff00000) >>> 0,
        perm: ap(sent, 1 << 10, 1 << 15),
        fbase: 0,
        flen: 0,
      };
    } else if ((sent & 3) === 1) {
      const pent = mm.phys.read32(((sent & 0xfffffc00) >>> 0) + ((iova >>> 12) & 255) * 4);
      if ((pent & 3) === 0) return null;
      const len = (pent & 2) !== 0 ? SZ_4K : SZ_64K;
      page = {
        base: iova - (iova % len),
        len,
        pa: (pent & (len === SZ_4K ? 0xfffff000 : 0xffff0000)) >>> 0,
        perm: ap(pent, 1 << 4, 1 << 9),
        fbase: 0,
        flen: 0,
      };
    } else return null;
    page.fbase = page.base;
    page.flen = page.len;
    if (version === "2.0") {
      const g = iova - (iova % SZ_4K);
      return { ...page, base: g, len: SZ_4K, pa: page.pa + (g - page.base) };
    }
    return page;
  };
  const refXfer = (start: number, len: number, write: boolean): string => {
    const runs: [number, number][] = [];
    let iova = start;
    while (iova < start + len) {
      let e = ref.lookup(iova);
      if (e === "multi") return `fault MULTI-HIT ${iova}`;
      if (e === null) {
        const w = walk(iova);
        if (!w) return `fault PAGE ${iova}`;
        ref.fill(w);
        e = w;
      }
      if ((e.perm & (write ? 2 : 1)) === 0) return `fault ACCESS ${iova}`;
      const n = Math.min(e.base + e.len, start + len) - iova;
      const pa = e.pa + (iova - e.base);
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === pa) last[1] += n;
      else runs.push([pa, n]);
      iova += n;
    }
    return runs.map(([p, n]) => `${p}+${n}`).join(",");
  };
  const realRuns = new RunList(8);
  const realXfer = (start: number, len: number, write: boolean): string => {
    try {
      mmu.translate(start, len, write, realRuns.clear());
    } catch (e) {
      if (!isKernelError(e)) throw e;
      const m = /(PAGE|MULTI-HIT|ACCESS PROTECTION) FAULT at (0x[0-9a-f]+)/.exec(e.message);
      mmu.write32(REG_INT_CLEAR, 0xff);
      mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
      const kind = m?.[1] === "PAGE" ? "PAGE" : m?.[1] === "MULTI-HIT" ? "MULTI-HIT" : "ACCESS";
      return `fault ${kind} ${Number(m?.[2])}`;
    }
    return realRuns
      .toArray()
      .map((r) => `${r.paddr}+${r.len}`)
      .join(",");
  };

  for (const o of ops) {
    const sva = (s: number) => BASE + s * SZ_1M;
    switch (o.op) {
      case "section":
        t.section(sva(o.s), data + o.pa * SZ_1M, o.prot);
        break;
      case "clearSection":
        mm.phys.write32(t.lv1Entry(sva(o.s)), 0);
        break;
      case "small":
      case "large":
      case "clear": {
        mm.phys.write32(t.lv1Entry(sva(o.s)), links[o.s]!);
        const iova = sva(o.s) + (o.op === "large" ? o.i * SZ_64K : o.i * SZ_4K);
        if (o.op === "small") t.small(iova, data + o.pa * SZ_4K, o.prot);
        else if (o.op === "large") t.large(iova, data + o.pa * SZ_64K, o.prot);
        else t.clearSmall(iova);
        break;
      }
      case "xfer": {
        const start = BASE + o.page * SZ_4K + o.off;
        const len = Math.min(o.pages * SZ_4K, BASE + SECTIONS * SZ_1M - start);
        expect(realXfer(start, len, o.write), `xfer ${start.toString(16)}+${len}`).toBe(
          refXfer(start, len, o.write),
        );
        break;
      }
      case "flushEntry":
        mmu.write32(REG_MMU_FLUSH_ENTRY, (BASE + o.page * SZ_4K) | 1);
        ref.flushEntry(BASE + o.page * SZ_4K);
        break;
      case "flushAll":
        mmu.write32(REG_MMU_FLUSH, 1);
        ref.ents = [];
        break;
    }
    expect(mmu.tlbEntries().map((e) => [e.iova, e.size, e.paddr])).toEqual(
      ref.ents.map((e) => [e.base, e.len, e.pa]),
    );
  }
}

describe("TLB against a reference model", () => {
  for (const version of ["1.0", "2.0"] as const) {
    for (const lru of [true, false]) {
      it(`v${version}, ${lru ? "LRU" : "round-robin"}: same translations, faults and entries`, () => {
        fc.assert(
          fc.property(
            fc.constantFrom(1, 2, 4, 8, 64),
            fc.array(fc.constantFrom<Init>("section", "large", "small"), {
              minLength: SECTIONS,
              maxLength: SECTIONS,
            }),
            fc.array(opArb, { minLength: 20, maxLength: 80 }),
            (cap, init, ops) => run(version, cap, lru, init, ops),
          ),
          { numRuns: 80, seed: 4242 },
        );
      });
    }
  }
});
