import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import { createKernel, Device, DMA_BIT_MASK, SZ_1M } from "@umm/kernel-core";
import { spawn } from "@umm/kernel-process";
import { DmaPort, mmInit } from "@umm/mm-core";
import {
  UMP_INVALID_MEMORY_HANDLE,
  UMP_OK,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  UMP_USED_BY_CPU,
  UMP_USED_BY_MALI,
  type UmpDdPhysicalBlock,
  umpBackendInfo,
  umpDdHandleCreateFromSecureId,
  umpDdPhysBlockCountGet,
  umpDdPhysBlocksGet,
  umpDdReferenceRelease,
  umpGrant,
  umpHandleCreateFromSecureId,
  umpInit,
  umpOpen,
  umpRead,
  umpRefDrvAllocate,
  umpReferenceRelease,
  umpReserve,
  umpSecureIdGet,
  umpSwitchHwUsage,
  umpWrite,
} from "@umm/ump";

// Boot: 64 MiB of DRAM, 8 MiB of it carved out (no-map) for UMP's dedicated backend.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
umpReserve(kernel, { size: 8 * SZ_1M });
mm.memblockFreeAll();
const cpu = cpuInit(kernel); // write-back data cache, not coherent with DMA
umpInit(kernel); // the dedicated backend over the carve-out, /dev/ump

// A video decoder (uid 1000) allocates a 1080p frame, cached, and writes it through the cache.
const decoder = spawn(kernel, { comm: "decoder", uid: 1000 });
assert.equal(umpOpen(decoder), UMP_OK);
const frame = umpRefDrvAllocate(decoder, 3_110_400, UMP_REF_DRV_CONSTRAINT_USE_CACHE)!;
assert.equal(frame.size, 12 * 256 * 1024); // twelve 256 KiB blocks
umpWrite(frame, 0, new TextEncoder().encode("frame 1"), 7);
const id = umpSecureIdGet(frame); // a random 32-bit name, not a guessable table slot

// The compositor (uid 1001) may import the frame only once the decoder grants it.
const compositor = spawn(kernel, { comm: "compositor", uid: 1001 });
umpOpen(compositor);
assert.equal(umpHandleCreateFromSecureId(compositor, id), UMP_INVALID_MEMORY_HANDLE); // EPERM
assert.equal(umpGrant(frame, 1001), UMP_OK);
const view = umpHandleCreateFromSecureId(compositor, id)!;
const text = new Uint8Array(7);
umpRead(text, view, 0, 7);
assert.equal(new TextDecoder().decode(text), "frame 1");

// To the GPU: switching to MALI cleans the CPU's lines; the Mali driver finds the buffer by ID
// and reads its physical blocks by DMA.
umpSwitchHwUsage(view, UMP_USED_BY_MALI);
const mali = new DmaPort(mm, new Device(kernel, { name: "mali", dmaMask: DMA_BIT_MASK(32) }));
const handle = umpDdHandleCreateFromSecureId(kernel, id)!;
const blocks: UmpDdPhysicalBlock[] = [];
umpDdPhysBlocksGet(handle, blocks, umpDdPhysBlockCountGet(handle));
const seen = new Uint8Array(7);
mali.read(blocks[0]!.addr, seen);
assert.equal(new TextDecoder().decode(seen), "frame 1");

// The GPU writes; switching back to the CPU invalidates, so the CPU reads what the GPU wrote.
mali.write(blocks[0]!.addr, new TextEncoder().encode("FRAME 2"));
umpSwitchHwUsage(view, UMP_USED_BY_CPU);
umpRead(text, frame, 0, 7);
assert.equal(new TextDecoder().decode(text), "FRAME 2");
assert.equal(cpu.checker.total, 0); // no coherency hazard anywhere

// Everyone lets go: the blocks return to the carve-out's free list.
umpDdReferenceRelease(handle);
umpReferenceRelease(view);
umpReferenceRelease(frame);
assert.equal(umpBackendInfo(kernel).freeBlocks, 32);
