// The cache model against a plain reference: per line valid/dirty/stale/data and a memory array,
// written from the rules in the README, checked step by step for what the CPU reads, what the
// device reads, what memory holds, each line's state, and which hazards are reported.
import { fc, test } from "@fast-check/vitest";
import { PAGE_SIZE } from "@umm/kernel-core";
import { firstDiff } from "@umm/kernel-core/testing";
import { describe, expect } from "vitest";
import type { HazardKind } from "../src/index.js";
import { boot, buffer, device, pattern } from "./helpers.js";

const L = 32;
const SIZE = 2 * PAGE_SIZE;
const LINES = SIZE / L;
/** the properties step through thousands of operations; 2-core CI machines need the margin */
const PROP_TIMEOUT = 30_000;

type Op =
  | { op: "cpuWrite" | "devWrite"; off: number; len: number; seed: number }
  | { op: "cpuRead" | "devRead"; off: number; len: number }
  | { op: "clean" | "invalidate" | "flush"; off: number; len: number; byVa: boolean }
  | { op: "cleanAll" | "invalidateAll" | "flushAll" };

/** Where small ranges start: mostly in two hot spots (so that operations meet), or anywhere. */
const hot = fc.oneof(
  fc.integer({ min: 0, max: 400 }),
  fc.integer({ min: PAGE_SIZE - 200, max: PAGE_SIZE + 200 }),
  fc.integer({ min: 0, max: SIZE - 1 }),
);

/** A range inside the region: mostly small and unaligned, sometimes whole pages or whole lines. */
const range = fc.oneof(
  fc
    .tuple(hot, fc.integer({ min: 1, max: 300 }))
    .map(([off, len]) => ({ off, len: Math.min(len, SIZE - off) })),
  fc
    .tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 2 }))
    .map(([p, n]) => ({ off: p * PAGE_SIZE, len: Math.min(n, 2 - p) * PAGE_SIZE })),
  fc
    .tuple(fc.integer({ min: 0, max: LINES - 1 }), fc.integer({ min: 1, max: 64 }))
    .map(([l, n]) => ({ off: l * L, len: Math.min(n, LINES - l) * L })),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc
    .tuple(fc.constantFrom("cpuWrite" as const, "devWrite" as const), range, fc.nat(1000))
    .map(([op, r, seed]) => ({ op, ...r, seed })),
  fc.tuple(fc.constantFrom("cpuRead" as const, "devRead" as const), range).map(([op, r]) => ({ op, ...r })),
  fc
    .tuple(fc.constantFrom("clean" as const, "invalidate" as const, "flush" as const), range, fc.boolean())
    .map(([op, r, byVa]) => ({ op, ...r, byVa })),
  fc.constantFrom<Op>({ op: "cleanAll" }, { op: "invalidateAll" }, { op: "flushAll" }),
);

/** The reference: what the rules say, one line at a time. */
class Model {
  readonly mem = new Uint8Array(SIZE);
  readonly valid = new Array<boolean>(LINES).fill(false);
  readonly dirty = new Array<boolean>(LINES).fill(false);
  readonly stale = new Array<boolean>(LINES).fill(false);
  readonly data = Array.from({ length: LINES }, () => new Uint8Array(L));

  lines(off: number, len: number): number[] {
    const out = [];
    for (let i = Math.floor(off / L); i * L < off + len; i++) out.push(i);
    return out;
  }
  fill(i: number): void {
    if (this.valid[i]) return;
    this.data[i]!.set(this.mem.subarray(i * L, i * L + L));
    this.valid[i] = true;
    this.dirty[i] = false;
    this.stale[i] = false;
  }
  cpuRead(off: number, len: number): { out: Uint8Array; stale: number[] } {
    const stale = this.lines(off, len).filter((i) => this.stale[i]);
    const out = new Uint8Array(len);
    for (const i of this.lines(off, len)) {
      this.fill(i);
      const s = Math.max(off, i * L);
      const e = Math.min(off + len, i * L + L);
      out.set(this.data[i]!.subarray(s - i * L, e - i * L), s - off);
    }
    return { out, stale };
  }
  cpuWrite(off: number, bytes: Uint8Array): void {
    for (const i of this.lines(off, bytes.length)) {
      this.fill(i);
      const s = Math.max(off, i * L);
      const e = Math.min(off + bytes.length, i * L + L);
      this.data[i]!.set(bytes.subarray(s - off, e - off), s - i * L);
      this.dirty[i] = true;
      if (s === i * L && e === i * L + L) this.stale[i] = false;
    }
  }
  devWrite(off: number, bytes: Uint8Array): number[] {
    this.mem.set(bytes, off);
    const dirty = this.lines(off, bytes.length).filter((i) => this.dirty[i]);
    for (const i of this.lines(off, bytes.length)) if (this.valid[i]) this.stale[i] = true;
    return dirty;
  }
  devRead(off: number, len: number): { out: Uint8Array; dirty: number[] } {
    return { out: this.mem.slice(off, off + len), dirty: this.lines(off, len).filter((i) => this.dirty[i]) };
  }
  cleanLine(i: number): void {
    if (!this.dirty[i]) return;
    this.mem.set(this.data[i]!, i * L);
    this.dirty[i] = false;
    this.stale[i] = false;
  }
  dropLine(i: number): void {
    this.valid[i] = this.dirty[i] = this.stale[i] = false;
  }
  clean(off: number, len: number): void {
    for (const i of this.lines(off, len)) this.cleanLine(i);
  }
  flush(off: number, len: number): void {
    for (const i of this.lines(off, len)) {
      this.cleanLine(i);
      this.dropLine(i);
    }
  }
  invalidate(off: number, len: number): void {
    const ls = this.lines(off, len);
    const first = ls[0]!;
    const last = ls[ls.length - 1]!;
    for (const i of ls) {
      const partial = (i === first && off % L !== 0) || (i === last && (off + len) % L !== 0);
      if (partial) this.cleanLine(i);
      this.dropLine(i);
    }
  }
}

/** The P.A extent a report must cover: from the first hazardous line to the end of the last. */
function extent(lines: number[], base: number): { paddr: number; size: number } {
  return { paddr: base + lines[0]! * L, size: (lines[lines.length - 1]! - lines[0]! + 1) * L };
}

describe("the cache against a reference model", () => {
  test.prop([fc.array(opArb, { minLength: 1, maxLength: 60, size: "max" })], { numRuns: 120 })(
    "random CPU and device accesses and maintenance: every observer sees what the model says",
    (ops) => {
      const { kernel, mm, cpu } = boot({ size: 4 * 1024 * 1024 });
      const { port } = device(kernel, mm, "dev0");
      const b = buffer(mm, 1, "region");
      const k = mm.kspace;
      const model = new Model();
      // memory starts non-zero, so that a line filled from the wrong place shows
      const initial = pattern(SIZE, 99);
      mm.phys.write(b.pa, initial);
      model.mem.set(initial);
      const checker = cpu.checker;
      for (const o of ops) {
        const before = checker.total;
        const expected: { kind: HazardKind; device: string; paddr: number; size: number }[] = [];
        switch (o.op) {
          case "cpuWrite": {
            const bytes = pattern(o.len, o.seed);
            cpu.write(k, b.va + o.off, bytes);
            model.cpuWrite(o.off, bytes);
            break;
          }
          case "devWrite": {
            const bytes = pattern(o.len, o.seed + 5000);
            port.write(b.pa + o.off, bytes);
            const dirty = model.devWrite(o.off, bytes);
            if (dirty.length)
              expected.push({ kind: "dirty-overwrite", device: "dev0", ...extent(dirty, b.pa) });
            break;
          }
          case "cpuRead": {
            const out = new Uint8Array(o.len);
            cpu.read(k, b.va + o.off, out);
            const m = model.cpuRead(o.off, o.len);
            if (m.stale.length)
              expected.push({ kind: "stale-read", device: "dev0", ...extent(m.stale, b.pa) });
            expect(firstDiff(out, m.out)).toBe(-1);
            break;
          }
          case "devRead": {
            const out = new Uint8Array(o.len);
            port.read(b.pa + o.off, out);
            const m = model.devRead(o.off, o.len);
            if (m.dirty.length)
              expected.push({ kind: "dirty-read", device: "dev0", ...extent(m.dirty, b.pa) });
            expect(firstDiff(out, m.out)).toBe(-1);
            break;
          }
          case "clean":
          case "invalidate":
          case "flush": {
            if (o.byVa) cpu[`${o.op}Range`](k, b.va + o.off, o.len);
            else cpu[`${o.op}Phys`](b.pa + o.off, o.len);
            model[o.op](o.off, o.len);
            break;
          }
          case "cleanAll":
            cpu.cleanAll();
            model.clean(0, SIZE);
            break;
          case "invalidateAll":
            cpu.invalidateAll();
            for (let i = 0; i < LINES; i++) model.dropLine(i);
            break;
          case "flushAll":
            cpu.flushAll();
            model.flush(0, SIZE);
            break;
        }
        const fresh = checker.total - before;
        const got = (fresh === 0 ? [] : checker.reports.slice(-fresh)).map(
          ({ kind, device, paddr, size }) => ({ kind, device, paddr, size }),
        );
        expect(got).toEqual(expected);
        const memory = new Uint8Array(SIZE);
        mm.phys.read(b.pa, memory);
        expect(firstDiff(memory, model.mem)).toBe(-1);
        let lines = "";
        let want = "";
        for (let i = 0; i < LINES; i++) {
          const s = cpu.lineState(b.pa + i * L);
          lines += `${+s.valid}${+s.dirty}${+s.stale} `;
          want += `${+model.valid[i]!}${+model.dirty[i]!}${+model.stale[i]!} `;
        }
        expect(lines).toBe(want);
        const count = (a: boolean[]) => a.filter(Boolean).length;
        expect(cpu.stats()).toMatchObject({
          validLines: count(model.valid),
          dirtyLines: count(model.dirty),
          staleLines: count(model.stale),
        });
      }
    },
    PROP_TIMEOUT,
  );
});

describe("sized mode against ideal mode", () => {
  const cpuOnly: fc.Arbitrary<Op> = opArb.filter(
    (o) =>
      o.op === "cpuWrite" ||
      o.op === "cpuRead" ||
      o.op === "clean" ||
      o.op === "flush" ||
      o.op === "cleanAll" ||
      o.op === "flushAll",
  );

  test.prop([fc.array(cpuOnly, { minLength: 1, maxLength: 60, size: "max" }), fc.nat()], { numRuns: 60 })(
    "without invalidates or devices, evictions never change what the CPU reads or what memory ends up with",
    (ops, seed) => {
      const sides = [
        boot({ size: 4 * 1024 * 1024 }),
        boot({ size: 4 * 1024 * 1024, cpu: { mode: "sized", l1Size: 256, l2Size: 256, seed } }),
      ].map(({ mm, cpu }) => ({ mm, cpu, b: buffer(mm, 1, "region") }));
      for (const s of sides) s.mm.phys.write(s.b.pa, pattern(SIZE, 98));
      for (const o of ops) {
        const outs = sides.map(({ mm, cpu, b }) => {
          const k = mm.kspace;
          switch (o.op) {
            case "cpuWrite":
              cpu.write(k, b.va + o.off, pattern(o.len, o.seed));
              return null;
            case "cpuRead": {
              const out = new Uint8Array(o.len);
              cpu.read(k, b.va + o.off, out);
              return out;
            }
            case "clean":
              cpu.cleanPhys(b.pa + o.off, o.len);
              return null;
            case "flush":
              cpu.flushRange(k, b.va + o.off, o.len);
              return null;
            case "cleanAll":
              cpu.cleanAll();
              return null;
            default:
              cpu.flushAll();
              return null;
          }
        });
        if (outs[0]) expect(firstDiff(outs[1]!, outs[0])).toBe(-1);
        expect(sides[1]!.cpu.stats().validLines).toBeLessThanOrEqual(16);
      }
      const finals = sides.map(({ mm, cpu, b }) => {
        cpu.flushAll();
        const m = new Uint8Array(SIZE);
        mm.phys.read(b.pa, m);
        return m;
      });
      expect(firstDiff(finals[1]!, finals[0]!)).toBe(-1);
      expect(sides[1]!.cpu.checker.total).toBe(0);
    },
    PROP_TIMEOUT,
  );

  test.prop([fc.array(opArb, { minLength: 1, maxLength: 60, size: "max" }), fc.nat()], { numRuns: 40 })(
    "with devices and invalidates: at most capacity lines, counters agree with line states, clean lines match memory",
    (ops, seed) => {
      const { kernel, mm, cpu } = boot({
        size: 4 * 1024 * 1024,
        cpu: { mode: "sized", l1Size: 256, l2Size: 256, seed },
      });
      const { port } = device(kernel, mm, "dev0");
      const b = buffer(mm, 1, "region");
      const k = mm.kspace;
      for (const o of ops) {
        switch (o.op) {
          case "cpuWrite":
            cpu.write(k, b.va + o.off, pattern(o.len, o.seed));
            break;
          case "devWrite":
            port.write(b.pa + o.off, pattern(o.len, o.seed + 5000));
            break;
          case "cpuRead":
            cpu.read(k, b.va + o.off, new Uint8Array(o.len));
            break;
          case "devRead":
            port.read(b.pa + o.off, new Uint8Array(o.len));
            break;
          case "clean":
          case "invalidate":
          case "flush":
            cpu[`${o.op}Phys`](b.pa + o.off, o.len);
            break;
          case "cleanAll":
            cpu.cleanAll();
            break;
          case "invalidateAll":
            cpu.invalidateAll();
            break;
          case "flushAll":
            cpu.flushAll();
            break;
        }
        let valid = 0;
        let dirty = 0;
        let stale = 0;
        const line = new Uint8Array(L);
        const memLine = new Uint8Array(L);
        for (let i = 0; i < LINES; i++) {
          const s = cpu.lineState(b.pa + i * L);
          valid += +s.valid;
          dirty += +s.dirty;
          stale += +s.stale;
          expect(s.valid || (!s.dirty && !s.stale)).toBe(true);
          if (s.valid && !s.dirty && !s.stale) {
            cpu.read(k, b.va + i * L, line);
            mm.phys.read(b.pa + i * L, memLine);
            expect(firstDiff(line, memLine)).toBe(-1);
          }
        }
        expect(cpu.stats()).toMatchObject({ validLines: valid, dirtyLines: dirty, staleLines: stale });
        expect(valid).toBeLessThanOrEqual(16);
      }
    },
    PROP_TIMEOUT,
  );
});
