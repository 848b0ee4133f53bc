/**
 * The dedicated backend (`ump_kernel_memory_backend_dedicated.c`, `ump_backend=0`): a fixed
 * physical window (`ump_memory_address`, `ump_memory_size`) carved into 256 KiB blocks kept on a
 * LIFO free list. A buffer takes ceil(size / 256 KiB) blocks, not necessarily contiguous; when the
 * list runs short every block taken goes back and the allocation fails. Buffers are always
 * allocated uncached.
 *
 * The window is memory the kernel does not map: `umpReserve` removes it from memblock at boot
 * (no-map), so no cacheable linear-map alias exists for the write-combined user mappings.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { type Mm, PG_reserved } from "@umm/mm-core";
import type { UmpAllocRequest, UmpBackendAllocation, UmpMemoryBackend } from "./ops.js";
import { UMP_BLOCK_SIZE, type UmpDdPhysicalBlock } from "./types.js";

/** The dedicated backend, with its free list exposed for reports and tests. */
export interface UmpDedicatedBackend extends UmpMemoryBackend {
  readonly name: "dedicated";
  /** physical start of the window */
  readonly base: number;
  /** blocks in the window */
  readonly numBlocks: number;
  /** blocks on the free list */
  readonly numFree: number;
  /** The free list as block indices, the next to be handed out last. */
  freeList(): number[];
}

interface DedicatedInfo {
  /** block indices in allocation order (`last_allocated` reversed) */
  readonly chain: readonly number[];
}

/**
 * `ump_block_allocator_create(base, size)`: the backend over `[base, base + size)`. EINVAL when
 * the window is not page-aligned, smaller than one block, not a multiple of 256 KiB (ARM rounds
 * up and hands out memory past the window's end), not RAM, or memory the kernel uses or maps
 * (it must be reserved and out of the linear map: `umpReserve`).
 */
export function umpDedicatedBackend(mm: Mm, base: number, size: number): UmpDedicatedBackend {
  if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
    throw new KernelError("EINVAL", `ump dedicated: ump_memory_address ${hex(base)} is not page-aligned`);
  }
  if (!Number.isSafeInteger(size) || size < UMP_BLOCK_SIZE || size % UMP_BLOCK_SIZE !== 0) {
    throw new KernelError(
      "EINVAL",
      `ump dedicated: ump_memory_size ${hex(size)} is not a positive multiple of 256 KiB (UMP_BLOCK_SIZE)`,
    );
  }
  if (!mm.phys.isRam(base, size)) {
    throw new KernelError("EINVAL", `ump dedicated: [${hex(base)}, ${hex(base + size)}) is not all RAM`);
  }
  const f = mm.frames;
  for (let pfn = base / PAGE_SIZE; pfn < (base + size) / PAGE_SIZE; pfn++) {
    if ((f.flags[f.index(pfn)]! & PG_reserved) === 0) {
      throw new KernelError(
        "EINVAL",
        `ump dedicated: page ${hex(pfn * PAGE_SIZE)} of [${hex(base)}, ${hex(base + size)}) belongs to the page allocator (reserve the window at boot: umpReserve)`,
      );
    }
    if (mm.kspace.linearMemtype(pfn) !== undefined) {
      throw new KernelError(
        "EINVAL",
        `ump dedicated: page ${hex(pfn * PAGE_SIZE)} is in the cacheable linear map; uncached user mappings would alias it (reserve the window no-map: umpReserve)`,
      );
    }
  }
  const numBlocks = size / UMP_BLOCK_SIZE;
  // the constructor pushes blocks 0..n-1, so the highest block is handed out first
  const free: number[] = Array.from({ length: numBlocks }, (_, i) => i);
  const backend: UmpDedicatedBackend = {
    name: "dedicated",
    base,
    numBlocks,
    get numFree() {
      return free.length;
    },
    freeList: () => [...free],
    allocate(req: UmpAllocRequest): UmpBackendAllocation | null {
      const n = Math.ceil(req.size / UMP_BLOCK_SIZE);
      // ARM takes blocks until the list runs dry and then pushes them all back in the same
      // order: the list ends as it began, so checking first changes nothing observable
      if (n > free.length) return null;
      const chain: number[] = [];
      const blocks: UmpDdPhysicalBlock[] = [];
      for (let k = 0; k < n; k++) {
        const i = free.pop()!;
        chain.push(i);
        blocks.push({ addr: base + i * UMP_BLOCK_SIZE, size: UMP_BLOCK_SIZE });
      }
      const info: DedicatedInfo = { chain };
      return { blocks, size: n * UMP_BLOCK_SIZE, cached: false, info };
    },
    release(alloc: UmpBackendAllocation): void {
      const { chain } = alloc.info as DedicatedInfo;
      // block_allocator_release walks last_allocated → first: the first block ends on top
      for (let k = chain.length - 1; k >= 0; k--) free.push(chain[k]!);
    },
    stat: () => (numBlocks - free.length) * UMP_BLOCK_SIZE,
    info: () => ({
      base,
      size,
      blockSize: UMP_BLOCK_SIZE,
      blocks: numBlocks,
      freeBlocks: free.length,
      bytesInUse: (numBlocks - free.length) * UMP_BLOCK_SIZE,
    }),
  };
  return backend;
}
