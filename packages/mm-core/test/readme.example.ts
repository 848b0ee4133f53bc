import { strict as assert } from "node:assert";
import { createKernel, DMA_BIT_MASK, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { DmaPort, GFP_KERNEL, getUserPages, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";

// Boot: DRAM at 0x40000000, a carve-out reserved from memblock, then the buddy allocator.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
mm.memblock.reserve(0x43000000, 8 * SZ_1M, "mfc carve-out");
mm.memblockFreeAll();

// A driver allocates 16 contiguous pages; a device writes them by DMA.
const pfn = mm.buddy.allocPages(4, GFP_KERNEL, { tag: "demo buffer" });
assert.ok(pfn !== null);
const camera = new DmaPort(mm, { id: 1, name: "camera", dmaMask: DMA_BIT_MASK(32) });
camera.write(pfn * PAGE_SIZE, new Uint8Array([1, 2, 3, 4]));

// A process maps those pages (U.V), and the kernel sees them in its linear map (K.V).
const proc = mm.createUserSpace("pid 100");
const pfns = Array.from({ length: 16 }, (_, i) => pfn + i);
const vma = proc.mmap({
  length: 16 * PAGE_SIZE,
  prot: PROT_READ | PROT_WRITE,
  backing: { kind: "pages", pfns },
});
assert.equal(proc.translate(vma.start + 2), pfn * PAGE_SIZE + 2); // U.V -> P.A
assert.equal(mm.kspace.virtToPhys(mm.kspace.physToVirt(pfn * PAGE_SIZE)), pfn * PAGE_SIZE); // K.V <-> P.A
assert.equal(mm.phys.read8(proc.translate(vma.start + 3)), 4);

// get_user_pages holds the pages; the driver's free and the munmap do not release them yet.
const held = getUserPages(proc, vma.start, 16 * PAGE_SIZE);
mm.buddy.freePages(pfn, 4);
proc.munmap(vma.start, vma.size);
assert.equal(mm.buddy.isFree(pfn), false);
held.release();
assert.equal(mm.buddy.isFree(pfn), true);
