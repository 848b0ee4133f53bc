// CMA allocators on a video-sized alloc/free workload (workloads-and-costs.md §5): 1080p NV12
// frames (3,110,400 B), 4K NV12 frames (12,441,600 B), codec buffers of 1–8 MiB and control
// buffers of 4–64 KiB, freed in random order. The same seeded sequence of 10^5 operations runs
// on a 256 MiB non-reusable region managed by the merged bitmap first-fit and by the 2010 best
// fit, and on a @thi.ng/malloc MemPool over an ArrayBuffer of the same size (the peer):
// operations per second, and the largest chunk still allocatable after the sequence.

import { MemPool } from "@thi.ng/malloc";
import { defineBench } from "@umm/bench";
import { createKernel, PAGE_SIZE, Prng, SZ_1M } from "@umm/kernel-core";
import { GFP_KERNEL, type Mm, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  bestFitAllocator,
  bitmapAllocator,
  type CmaAllocator,
  type CmaAllocCtx,
  type CmaRegion,
  cmaAlloc,
  cmaDeclareContiguous,
  cmaInit,
  cmaInitReservedAreas,
  cmaRegionRegister,
  cmaRelease,
} from "../src/index.js";

const N = 100_000;
const REGION = 256 * SZ_1M;
const PEER = "@thi.ng/malloc MemPool";

/** Live bytes the workload keeps in the region: it allocates below this, frees above it. */
const TARGET = 0.75 * REGION;

/**
 * The operation sequence: step i allocates `pages[i]` while less than TARGET bytes are live,
 * otherwise frees the live buffer that `frac[i]` picks.
 */
function workload(seed: string): { pages: Uint32Array; frac: Float64Array } {
  const rng = new Prng(seed);
  const pages = new Uint32Array(N);
  const frac = new Float64Array(N);
  const pagesOf = (bytes: number) => Math.ceil(bytes / PAGE_SIZE);
  for (let i = 0; i < N; i++) {
    const r = rng.next();
    pages[i] =
      r < 0.35
        ? pagesOf(3_110_400) // 1080p NV12
        : r < 0.45
          ? pagesOf(12_441_600) // 4K NV12
          : r < 0.65
            ? rng.int(256, 2048) // codec buffer, 1–8 MiB
            : rng.int(1, 16); // control buffer, 4–64 KiB
    frac[i] = rng.next();
  }
  return { pages, frac };
}

/** An allocator under test: handles are numbers, 0/null means failure. */
interface Subject {
  alloc(pages: number): number | null;
  free(handle: number, pages: number): void;
}

/** Runs the sequence; returns the live handles (and their sizes) at the end. */
function run(
  w: ReturnType<typeof workload>,
  s: Subject,
): { handles: number[]; sizes: number[]; failed: number } {
  const handles: number[] = [];
  const sizes: number[] = [];
  let failed = 0;
  let live = 0;
  for (let i = 0; i < N; i++) {
    if (live < TARGET / PAGE_SIZE) {
      const h = s.alloc(w.pages[i]!);
      if (h === null) failed++;
      else {
        handles.push(h);
        sizes.push(w.pages[i]!);
        live += w.pages[i]!;
      }
    } else {
      const k = Math.floor(w.frac[i]! * handles.length);
      const h = handles[k]!;
      const n = sizes[k]!;
      handles[k] = handles[handles.length - 1]!;
      sizes[k] = sizes[sizes.length - 1]!;
      handles.pop();
      sizes.pop();
      live -= n;
      s.free(h, n);
    }
  }
  return { handles, sizes, failed };
}

function runAndEmpty(w: ReturnType<typeof workload>, s: Subject): void {
  const { handles, sizes } = run(w, s);
  for (let k = 0; k < handles.length; k++) s.free(handles[k]!, sizes[k]!);
}

/** Largest allocatable chunk in pages (binary search with alloc + free). */
function largest(s: Subject): number {
  let lo = 0;
  let hi = REGION / PAGE_SIZE;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const h = s.alloc(mid);
    if (h === null) hi = mid - 1;
    else {
      s.free(h, mid);
      lo = mid;
    }
  }
  return lo;
}

function cmaSubject(region: CmaRegion): Subject {
  return {
    alloc: (pages) => cmaAlloc(region, pages, 0, true),
    free: (pfn, pages) => {
      cmaRelease(region, pfn, pages);
    },
  };
}

const NO_BUSY: CmaAllocCtx = { busy: [], overlapsBusy: () => false };

/** The allocator alone: its ops on a region, without the framework (accounting, tags, trace). */
function allocatorSubject(a: CmaAllocator, region: CmaRegion): Subject {
  return {
    alloc: (pages) => a.alloc(region, pages * PAGE_SIZE, PAGE_SIZE, NO_BUSY)?.start ?? null,
    free: (start, pages) => a.free({ start, size: pages * PAGE_SIZE, region }),
  };
}

function peerSubject(pool: MemPool): Subject {
  return {
    alloc: (pages) => pool.malloc(pages * PAGE_SIZE) || null,
    free: (addr) => {
      pool.free(addr);
    },
  };
}

/**
 * A kernel with four 256 MiB carve-outs registered as non-reusable regions: two used through the
 * CMA API (`bitmap`, `bf`), two whose allocator is driven directly (`raw-bitmap`, `raw-bf`).
 */
function kernelWithRegions() {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 1280 * SZ_1M }] });
  cmaInit(kernel);
  const bases = [0x48000000, 0x58000000, 0x68000000, 0x78000000];
  for (const b of bases) mm.memblock.reserve(b, REGION, `bench ${b.toString(16)}`);
  mm.memblockFreeAll();
  cmaInitReservedAreas(kernel);
  const reg = (name: string, start: number, allocName: string) =>
    cmaRegionRegister(kernel, { name, start, size: REGION, allocName });
  const rawBitmap = reg("raw-bitmap", bases[2]!, "bitmap");
  const rawBf = reg("raw-bf", bases[3]!, "bf");
  bitmapAllocator.init!(rawBitmap);
  bestFitAllocator.init!(rawBf);
  return { bitmap: reg("bitmap", bases[0]!, "bitmap"), bf: reg("bf", bases[1]!, "bf"), rawBitmap, rawBf };
}

/** Puts movable user pages into every free page of a reusable area, then frees room elsewhere. */
function fillArea(mm: Mm, pages: number): void {
  const hog: number[] = [];
  for (let p = mm.buddy.allocPages(0, GFP_KERNEL); p !== null; p = mm.buddy.allocPages(0, GFP_KERNEL))
    hog.push(p);
  const s = mm.createUserSpace("filler");
  s.mmap({ length: pages * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
  for (let i = 0; i < pages + 256 && hog.length; i++) mm.buddy.freePages(hog.pop()!, 0);
}

export default defineBench((b) => {
  const w = workload("cma-bench");
  const { bitmap, bf, rawBitmap, rawBf } = kernelWithRegions();
  const pool = new MemPool({ buf: new ArrayBuffer(REGION) });
  const peer = peerSubject(pool);
  const time = { samples: 5, minSampleMs: 0 };

  // the allocators themselves (CmaAllocator ops), as the peer is an allocator
  for (const [label, subject] of [
    ["bitmap first-fit allocator", allocatorSubject(bitmapAllocator, rawBitmap)],
    ['best-fit "bf" allocator', allocatorSubject(bestFitAllocator, rawBf)],
  ] as const) {
    b.rate({
      name: `${label}: 10^5 alloc/free of a video buffer mix on a 256 MiB region`,
      ops: N,
      run: () => runAndEmpty(w, subject),
      baseline: { name: PEER, run: () => runAndEmpty(w, peer) },
      goal: { op: ">=", value: 1.0 },
      time,
    });
  }
  // the whole CMA path: accounting, chunk records, owner tags on every page (O(pages) per call)
  for (const [label, region] of [
    ["cma_alloc/cma_release, bitmap", bitmap],
    ['cma_alloc/cma_release, best-fit "bf"', bf],
  ] as const) {
    const subject = cmaSubject(region);
    b.rate({
      name: `${label}: 10^5 alloc/free of a video buffer mix on a 256 MiB region (pages tagged)`,
      ops: N,
      run: () => runAndEmpty(w, subject),
      baseline: { name: PEER, run: () => runAndEmpty(w, peer) },
      time,
    });
  }

  // fragmentation: the largest chunk still allocatable after the sequence
  const peerLeft = run(w, peer);
  const peerMiB = (largest(peer) * PAGE_SIZE) / SZ_1M;
  for (const peerLive of [peerLeft])
    for (let k = 0; k < peerLive.handles.length; k++) pool.free(peerLive.handles[k]!);
  for (const [label, region] of [
    ["bitmap first-fit", bitmap],
    ['best-fit "bf"', bf],
  ] as const) {
    const subject = cmaSubject(region);
    const left = run(w, subject);
    const mib = (largest(subject) * PAGE_SIZE) / SZ_1M;
    b.record({
      name: `${label}: largest allocatable chunk after 10^5 operations`,
      metric: "size",
      value: mib,
      unit: "MiB",
      baseline: PEER,
      baselineValue: peerMiB,
      goal: { op: ">=", value: 1.0 },
    });
    for (let k = 0; k < left.handles.length; k++) subject.free(left.handles[k]!, left.sizes[k]!);
  }

  // reusable area: allocation over movable user pages (migration by alloc_contig_range)
  const rates: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const kernel = createKernel({ seed: rep });
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
    cmaInit(kernel);
    const area = cmaDeclareContiguous(kernel, { size: 16 * SZ_1M, name: "area" });
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    fillArea(mm, area.count);
    const t0 = performance.now();
    const pfn = cmaAlloc(area, area.count, 0, true);
    const dt = performance.now() - t0;
    if (pfn === null) throw new Error("bench: the reusable allocation failed");
    rates.push(area.count / (dt / 1e3));
  }
  rates.sort((x, y) => x - y);
  b.record({
    name: "reusable 16 MiB area full of user pages: cma_alloc of all of it (migrates 4096 pages)",
    metric: "rate",
    value: rates[1]!,
    unit: "pages/s",
    baseline: null,
    baselineValue: null,
    goal: null,
  });
});
