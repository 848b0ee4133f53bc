import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import { createKernel, Device, DMA_BIT_MASK, PAGE_SIZE, SZ_1M, SZ_4M, SZ_16M } from "@umm/kernel-core";
import { O_RDWR, spawn } from "@umm/kernel-process";
import { DmaPort, MAP_SHARED, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  IOCTL_PMM_ALLOC,
  IOCTL_PMM_SHMGET,
  PMM_MAGIC,
  PMM_MEM_DMA24,
  PMM_MEM_GENERAL,
  pmmInfo,
  pmmInit,
  pmmReserve,
  shmat,
  shmget,
  UPBUF_FINISH_TO_USER,
  UPBUF_PREPARE_FROM_USER,
  UPBUF_PREPARE_TO_USER,
  upbufBegin,
  upbufEnd,
  upbufSync,
} from "@umm/pmm";

// Boot: `pmm=32M` sizes the general pool; the board adds a 4 MiB pool for 24-bit DMA clients
// (below 16 MiB of bus space, bus 0 = start of RAM). Both are reserved before the page allocator.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 128 * SZ_1M }] });
pmmReserve(kernel, {
  cmdline: "console=ttySAC0 pmm=32M",
  types: [
    { type: PMM_MEM_GENERAL, name: "general" },
    {
      type: PMM_MEM_DMA24,
      name: "dma24",
      size: SZ_4M,
      busLimit: DMA_BIT_MASK(24),
      boundary: SZ_16M,
      dmaPfnOffset: 0x40000,
    },
  ],
});
mm.memblockFreeAll();
pmmInit(kernel); // /dev/pmm, SysV sharing
const cpu = cpuInit(kernel); // write-back cache, not coherent with DMA

// User space allocates a 1080p frame from /dev/pmm and maps it.
const player = spawn(kernel, { comm: "player", uid: 1000 });
const fd = player.open("/dev/pmm", O_RDWR);
const info = { magic: PMM_MAGIC, size: 3_110_400, type: PMM_MEM_GENERAL, flags: 0, alignment: SZ_1M };
player.ioctl(fd, IOCTL_PMM_ALLOC, info);
assert.equal(info.size, 760 * PAGE_SIZE);
const frame = player.mmap({ fd, length: info.size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
player.memWrite(frame, new TextEncoder().encode("decoded frame 1"));

// A driver gets the user pointer: UPBuffer locks the /dev/pmm file for the transaction.
const scaler = new Device(kernel, { name: "scaler", dmaMask: DMA_BIT_MASK(32) });
const job = upbufBegin(player, frame, info.size, 0, scaler);
assert.equal(job.mode, "pfnmap");
upbufSync(job, UPBUF_PREPARE_FROM_USER); // clean the CPU's dirty lines
const seen = new Uint8Array(15);
new DmaPort(mm, scaler).read(job.daddr, seen);
assert.equal(new TextDecoder().decode(seen), "decoded frame 1");

// The player quits mid-transaction: the frame stays until the driver ends it.
player.exit(0);
assert.equal(pmmInfo(kernel).types[0]!.free, 32 * SZ_1M - info.size);
upbufEnd(job);
assert.equal(pmmInfo(kernel).types[0]!.free, 32 * SZ_1M);

// A 24-bit DMA client handed ordinary memory gets a shadow below 16 MiB of bus space.
const app = spawn(kernel, { comm: "app" });
const heap = app.malloc(64 * 1024);
const dma24 = new Device(kernel, { name: "dma24", dmaMask: DMA_BIT_MASK(24), dmaPfnOffset: 0x40000 });
const bounce = upbufBegin(app, heap, 64 * 1024, 0, dma24);
assert.equal(bounce.mode, "shadow");
assert.ok(bounce.daddr + bounce.size <= SZ_16M);
upbufSync(bounce, UPBUF_PREPARE_TO_USER);
new DmaPort(mm, dma24).write(bounce.daddr, new TextEncoder().encode("from the device"));
upbufSync(bounce, UPBUF_FINISH_TO_USER); // copied back to the user's pages
assert.equal(new TextDecoder().decode(app.memRead(heap, 15)), "from the device");
upbufEnd(bounce);

// SysV sharing: the buffer becomes segment SYSV00000042, which the X server maps.
const fd2 = app.open("/dev/pmm", O_RDWR);
app.ioctl(fd2, IOCTL_PMM_ALLOC, {
  magic: PMM_MAGIC,
  size: SZ_1M,
  type: PMM_MEM_GENERAL,
  flags: 0,
  alignment: 0,
});
app.ioctl(fd2, IOCTL_PMM_SHMGET, { magic: PMM_MAGIC, key: 0x42, shmflg: 0o644 });
const xorg = spawn(kernel, { comm: "Xorg" });
const shown = shmat(xorg, shmget(xorg, 0x42, 0, 0));
assert.equal(xorg.space.findVma(shown)?.name, "SYSV00000042");
assert.equal(cpu.checker.total, 0); // every transfer was synced
