// mm-core's hot paths against the physical limit measured in the same run.
import { defineBench } from "@umm/bench";
import { createKernel, DMA_BIT_MASK, SZ_1M } from "@umm/kernel-core";
import { DmaPort, GFP_KERNEL, mmInit, PROT_READ, PROT_WRITE, RunList } from "../src/index.js";

const FRAME = 3_110_400; // 1080p NV12

export default defineBench((b) => {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 256 * SZ_1M }] });
  mm.memblockFreeAll();
  const port = new DmaPort(mm, { id: 1, name: "fimc0", dmaMask: DMA_BIT_MASK(32) });
  const src = new Uint8Array(FRAME).map((_, i) => i * 7);
  const dst = new Uint8Array(FRAME);
  const pa = 0x48000000;
  const bank = mm.phys.banks[0]!.u8;
  const off = pa - 0x40000000;

  b.throughput({
    name: "device DMA write+read of a 1080p NV12 frame, no translation",
    bytes: 2 * FRAME,
    run: () => {
      port.write(pa, src);
      port.read(pa, dst);
    },
    baseline: {
      name: "Uint8Array.set (write + read)",
      run: () => {
        bank.set(src, off);
        dst.set(bank.subarray(off, off + FRAME));
      },
    },
    goal: { op: ">=", value: 0.8 },
  });

  const space = mm.createUserSpace("bench");
  const vma = space.mmap({ length: FRAME, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
  const runs = new RunList(1024);
  b.rate({
    name: "translate a 1080p frame of anonymous memory (760 pages) into runs",
    ops: 1,
    run: () => {
      space.translateRange(vma.start, FRAME, true, runs);
    },
  });

  const buddy = mm.buddy;
  b.rate({
    name: "buddy alloc+free order 0",
    ops: 1000,
    run: () => {
      for (let i = 0; i < 1000; i++) buddy.freePages(buddy.allocPages(0, GFP_KERNEL)!, 0);
    },
  });
  const held: number[] = [];
  b.rate({
    name: "buddy alloc+free order 0, 1000 live (allocate all, then free all)",
    ops: 1000,
    run: () => {
      for (let i = 0; i < 1000; i++) held.push(buddy.allocPages(0, GFP_KERNEL)!);
      while (held.length) buddy.freePages(held.pop()!, 0);
    },
  });
  b.rate({
    name: "buddy alloc+free order 8",
    ops: 100,
    run: () => {
      for (let i = 0; i < 100; i++) held.push(buddy.allocPages(8, GFP_KERNEL)!);
      while (held.length) buddy.freePages(held.pop()!, 8);
    },
  });
});
