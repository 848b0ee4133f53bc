import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import { createKernel, Device, DMA_BIT_MASK, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { DmaPort, GFP_KERNEL, mmInit } from "@umm/mm-core";

const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
mm.memblockFreeAll();
const cpu = cpuInit(kernel); // write-back data cache, 32-byte lines, non-coherent with DMA

const port = new DmaPort(mm, new Device(kernel, { name: "fimc0", dmaMask: DMA_BIT_MASK(32) }));
const pfn = mm.buddy.allocPages(0, GFP_KERNEL, { tag: "vb2:fimc0:0" })!;
const pa = pfn * PAGE_SIZE;
const va = mm.kspace.physToVirt(pa); // the kernel linear map: cacheable

// The CPU's store sits dirty in the cache; the device reads memory and misses it.
cpu.write(mm.kspace, va, new Uint8Array([1, 2, 3, 4]));
const seen = new Uint8Array(4);
port.read(pa, seen);
assert.deepEqual([...seen], [0, 0, 0, 0]);
const [hazard] = cpu.checker.reports;
assert.equal(hazard?.kind, "dirty-read");
assert.equal(hazard?.owner, "vb2:fimc0:0");
assert.equal(hazard?.missing, "clean (dma_sync_*_for_device)");

// The clean that dma_map_single(DMA_TO_DEVICE) does on ARM makes the bytes reach memory.
cpu.cleanRange(mm.kspace, va, 4);
port.read(pa, seen);
assert.deepEqual([...seen], [1, 2, 3, 4]);

// The device writes; the CPU invalidates (dma_sync_single_for_cpu) before it reads.
port.write(pa, new Uint8Array([9, 8, 7, 6]));
cpu.invalidateRange(mm.kspace, va, PAGE_SIZE);
const got = new Uint8Array(4);
cpu.read(mm.kspace, va, got);
assert.deepEqual([...got], [9, 8, 7, 6]);
assert.equal(cpu.checker.total, 1);
