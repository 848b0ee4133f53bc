// PMM and UPBuffer costs (no goal named; rates only):
// - IOCTL_PMM_ALLOC + close on a 64 MiB pool for a video-sized mix — 1080p NV12 frames
//   (3,110,400 B), 720p NV12 frames (1,382,400 B), codec buffers of 1–4 MiB and control buffers
//   of 4–64 KiB — kept below 75 % occupancy by closing a random buffer, so the RFC's best fit
//   works on a fragmented pool; one operation is one open + ioctl + close;
// - upbufBegin + upbufEnd of a 1080p frame in each of the three ways: pfnmap (a /dev/pmm mapping,
//   a file reference), pinned (contiguous driver pages, pin_user_pages), shadow (scattered pages:
//   a bounce buffer from the pool).

import { cpuInit } from "@umm/arch-arm";
import { defineBench } from "@umm/bench";
import { createKernel, type Kernel, PAGE_SIZE, Prng, SZ_1M } from "@umm/kernel-core";
import { O_RDWR, type Process, registerChrdev, spawn } from "@umm/kernel-process";
import { GFP_KERNEL, MAP_SHARED, type Mm, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  IOCTL_PMM_ALLOC,
  PMM_MAGIC,
  PMM_MEM_GENERAL,
  pmmInit,
  pmmReserve,
  upbufBegin,
  upbufEnd,
} from "../src/index.js";

const FRAME_1080P = 3_110_400;
const BATCH = 2000;

function boot(pmm: string): { kernel: Kernel; mm: Mm } {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 256 * SZ_1M }] });
  pmmReserve(kernel, { cmdline: `pmm=${pmm}` });
  mm.memblockFreeAll();
  pmmInit(kernel);
  cpuInit(kernel);
  return { kernel, mm };
}

function mix(n: number): number[] {
  const rng = new Prng("pmm-bench");
  return Array.from({ length: n }, () => {
    const r = rng.next();
    if (r < 0.35) return FRAME_1080P;
    if (r < 0.55) return 1_382_400;
    if (r < 0.75) return rng.int(256, 1024) * PAGE_SIZE;
    return rng.int(1, 16) * PAGE_SIZE;
  });
}

/** A device whose mmap maps driver pages (vm_insert_pages) in the given order. */
function pagesNode(kernel: Kernel, path: string, pfns: number[]): void {
  registerChrdev(kernel, path, {
    ops: { mmap: (_f, ctx) => ctx.setPages(pfns.slice(0, ctx.length / PAGE_SIZE)) },
  });
}

function mapNode(proc: Process, path: string, length: number): number {
  return proc.mmap({ fd: proc.open(path, O_RDWR), length, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
}

export default defineBench((b) => {
  // ---- IOCTL_PMM_ALLOC + close, video mix, 64 MiB pool ----------------------------------------
  {
    const { kernel } = boot("64M");
    const proc = spawn(kernel, { comm: "bench" });
    const sizes = mix(BATCH);
    const pick = mix(BATCH).map((s) => s % 7919);
    const target = 0.75 * 64 * SZ_1M;
    const info = { magic: PMM_MAGIC, size: 0, type: PMM_MEM_GENERAL, flags: 0, alignment: 0 };
    const liveFd: number[] = [];
    const liveSize: number[] = [];
    /** One batch: BATCH opens + allocs, closes to stay under the target, then closes the rest. */
    const batch = (): number => {
      let failed = 0;
      let live = 0;
      for (let i = 0; i < BATCH; i++) {
        while (live > target) {
          const k = pick[i]! % liveFd.length;
          proc.close(liveFd[k]!);
          live -= liveSize[k]!;
          liveFd[k] = liveFd[liveFd.length - 1]!;
          liveSize[k] = liveSize[liveSize.length - 1]!;
          liveFd.pop();
          liveSize.pop();
        }
        const fd = proc.open("/dev/pmm", O_RDWR);
        info.magic = PMM_MAGIC;
        info.size = sizes[i]!;
        info.type = PMM_MEM_GENERAL;
        info.flags = 0;
        info.alignment = 0;
        try {
          proc.ioctl(fd, IOCTL_PMM_ALLOC, info);
          liveFd.push(fd);
          liveSize.push(info.size);
          live += info.size;
        } catch {
          failed++;
          proc.close(fd);
        }
      }
      for (const fd of liveFd) proc.close(fd);
      liveFd.length = 0;
      liveSize.length = 0;
      return failed;
    };
    const failed = batch();
    b.rate({
      name: "IOCTL_PMM_ALLOC + close, video mix on a 64 MiB pool",
      ops: BATCH,
      run: () => {
        batch();
      },
    });
    b.record({
      name: "IOCTL_PMM_ALLOC that found no room (ENOMEM) in one batch of 2000, video mix",
      metric: "count",
      value: failed,
      unit: "failures",
      baseline: null,
      baselineValue: null,
      goal: null,
    });
  }

  // ---- upbufBegin + upbufEnd of a 1080p frame in each mode -------------------------------------
  {
    const { kernel, mm } = boot("32M");
    const proc = spawn(kernel, { comm: "bench" });
    const pages = Math.ceil(FRAME_1080P / PAGE_SIZE);
    // pfnmap: a /dev/pmm buffer
    const fd = proc.open("/dev/pmm", O_RDWR);
    const info = { magic: PMM_MAGIC, size: FRAME_1080P, type: PMM_MEM_GENERAL, flags: 0, alignment: 0 };
    proc.ioctl(fd, IOCTL_PMM_ALLOC, info);
    const pfnmapVa = proc.mmap({ fd, length: info.size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    // pinned: contiguous driver pages
    const block = mm.buddy.allocPages(10, GFP_KERNEL, { tag: "bench:contig" })!;
    pagesNode(
      kernel,
      "/dev/contig",
      Array.from({ length: pages }, (_, k) => block + k),
    );
    const pinnedVa = mapNode(proc, "/dev/contig", FRAME_1080P);
    // shadow: the same number of pages, in reverse order
    const block2 = mm.buddy.allocPages(10, GFP_KERNEL, { tag: "bench:scatter" })!;
    pagesNode(
      kernel,
      "/dev/scatter",
      Array.from({ length: pages }, (_, k) => block2 + pages - 1 - k),
    );
    const shadowVa = mapNode(proc, "/dev/scatter", FRAME_1080P);
    for (const [mode, va] of [
      ["pfnmap", pfnmapVa],
      ["pinned", pinnedVa],
      ["shadow", shadowVa],
    ] as const) {
      const probe = upbufBegin(proc, va, FRAME_1080P);
      if (probe.mode !== mode) throw new Error(`bench setup: ${mode} buffer resolved as ${probe.mode}`);
      upbufEnd(probe);
      b.rate({
        name: `upbufBegin + upbufEnd of a 1080p frame (3,110,400 B), ${mode}`,
        ops: 1,
        run: () => upbufEnd(upbufBegin(proc, va, FRAME_1080P)),
      });
    }
  }
});
