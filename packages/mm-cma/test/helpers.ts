import { type Kernel, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { pattern } from "@umm/kernel-core/testing";
import { type AddressSpace, GFP_KERNEL, type Mm, PROT_READ, PROT_WRITE, type Vma } from "@umm/mm-core";
import { bootCma } from "../src/testing.js";

export const DRAM = 0x40000000;

/** A booted 64 MiB kernel with carve-outs reserved by the platform (no CMA). */
export function board2010(reserve: readonly [number, number, string][] = [], cmdline = "") {
  return bootCma({
    size: 64 * SZ_1M,
    cmdline,
    setup: (_k, mm) => {
      for (const [base, size, name] of reserve) mm.memblock.reserve(base, size, name);
    },
  });
}

/** User pages holding known bytes, mapped in one VMA of a process. */
export interface UserFill {
  readonly space: AddressSpace;
  readonly vma: Vma;
  readonly pages: number;
  readonly data: Uint8Array;
  /** pfn of page k */
  pfnOf(k: number): number;
  /** first page k whose bytes differ from the pattern through the mapping, or -1 */
  firstBadPage(): number;
}

/**
 * Puts `pages` movable user pages into CMA memory: ordinary memory is used up by unmovable
 * allocations first (so the buddy allocator serves movable faults from MIGRATE_CMA pageblocks),
 * the pages are written with a pattern, then `room` ordinary pages are given back so migration
 * has somewhere to go. Returns the fill and the hog pages still held.
 */
export function fillCmaWithUserPages(mm: Mm, pages: number, room = pages + 64, seed = 7): UserFill {
  const buddy = mm.buddy;
  const hog: number[] = [];
  for (let p = buddy.allocPages(0, GFP_KERNEL); p !== null; p = buddy.allocPages(0, GFP_KERNEL)) hog.push(p);
  const space = mm.createUserSpace(`filler ${seed}`);
  const vma = space.mmap({
    length: pages * PAGE_SIZE,
    prot: PROT_READ | PROT_WRITE,
    backing: { kind: "anon" },
  });
  const data = pattern(pages * PAGE_SIZE, seed);
  for (let k = 0; k < pages; k++) {
    mm.phys.write(space.translate(vma.start + k * PAGE_SIZE, true), data, k * PAGE_SIZE, PAGE_SIZE);
  }
  for (let i = 0; i < room && hog.length > 0; i++) buddy.freePages(hog.pop()!, 0);
  return {
    space,
    vma,
    pages,
    data,
    pfnOf: (k) => space.translate(vma.start + k * PAGE_SIZE) / PAGE_SIZE,
    firstBadPage: () => {
      for (let k = 0; k < pages; k++) {
        const pa = space.translate(vma.start + k * PAGE_SIZE);
        const got = mm.phys.view(pa, PAGE_SIZE);
        const want = data.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE);
        if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0) return k;
      }
      return -1;
    },
  };
}

/** Every trace record of `kernel` from now on, by name. */
export function recordAll(kernel: Kernel) {
  const recs: { name: string; data: Record<string, unknown> }[] = [];
  kernel.trace.on("*", (r) => recs.push({ name: r.name, data: r.data as Record<string, unknown> }));
  return {
    recs,
    of: (name: string) => recs.filter((r) => r.name === name).map((r) => r.data),
  };
}
