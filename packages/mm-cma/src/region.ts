/**
 * `CmaRegion`: the one region model both APIs share. The 2010 framework calls it a region
 * (`struct cma_region`: name, start, size, alignment, allocator, users, free space); merged CMA
 * calls it an area (`struct cma`: base_pfn, count, order_per_bit, bitmap, available_count). A
 * region created by `cmaDeclareContiguous`, a `reusable` device-tree node or `cma=` is a merged
 * area; one created by the 2010 `cma=` grammar, `cmaSetDefaults` or `cmaRegionRegister` is a
 * 2010 region. Either kind answers to either API.
 *
 * @module
 */
import { type Kernel, PAGE_SIZE } from "@umm/kernel-core";
import type { CmaAllocator } from "./ops.js";

/** A live allocation: the framework's `struct cma_chunk`. */
export interface CmaLiveChunk {
  /** physical address of the first byte */
  start: number;
  /** bytes */
  size: number;
  readonly region: CmaRegion;
  /** owner tag of its pages (`cma:<region>:<device>`) */
  readonly owner: string;
}

/** Constructor fields of a `CmaRegion` (internal: regions are made by the declaring APIs). */
export interface CmaRegionInit {
  readonly kernel: Kernel;
  readonly name: string | null;
  readonly base: number;
  readonly size: number;
  readonly alignment: number;
  readonly reusable: boolean;
  readonly orderPerBit: number;
  readonly allocName: string | null;
  readonly alloc: CmaAllocator | null;
  /** "2010" for framework regions, "merged" for CMA areas, "dt-pool" for no-map DT pools */
  readonly origin: CmaRegionOrigin;
}

/** How a region came to be. */
export type CmaRegionOrigin = "2010" | "merged" | "dt-pool";

/** A contiguous memory region / CMA area. */
export class CmaRegion {
  /** the kernel it belongs to */
  readonly kernel: Kernel;
  /** null: a private region (2010), reachable only through `cmaAllocFromRegion` */
  readonly name: string | null;
  /** start alignment the region was placed with (bytes) */
  readonly alignment: number;
  /** merged-CMA behaviour: free pages serve movable allocations; allocation migrates them away */
  readonly reusable: boolean;
  /** bitmap granularity: one bit per 2^orderPerBit pages */
  readonly orderPerBit: number;
  /** how the region was declared */
  readonly origin: CmaRegionOrigin;
  /**
   * Private data of the attached allocator (`private_data`): the allocator owns it between its
   * `init` and `cleanup`.
   */
  priv: unknown = null;

  /** @internal */ _base: number;
  /** @internal */ _size: number;
  /** @internal */ _count: number;
  /** @internal */ _free: number;
  /** @internal */ _users = 0;
  /** @internal */ _allocName: string | null;
  /** @internal */ _alloc: CmaAllocator | null;
  /** @internal an allocator was asked for and could not be attached (the 2010 `used` bit) */
  _attachFailed = false;
  /** @internal */ _reserved = false;
  /** @internal */ _registered = false;
  /** @internal */ _activated = false;
  /** @internal owner tag of the region's free pages (non-reusable regions) */
  _resTag = "";
  /** @internal */ _succeeded = 0;
  /** @internal */ _failed = 0;
  /** @internal */ _released = 0;
  /** @internal live chunks of this region by start address (`cma_chunks_by_start`) */
  readonly _chunks = new Map<number, CmaLiveChunk>();
  /** @internal owner tag of allocations made without a device */
  readonly _owner: string;

  /** @internal use the declaring APIs (`cmaDeclareContiguous`, `cmaRegionRegister`, ...) */
  constructor(init: CmaRegionInit) {
    this.kernel = init.kernel;
    this.name = init.name;
    this._base = init.base;
    this._size = init.size;
    this._count = init.size / PAGE_SIZE;
    this._free = init.size;
    this.alignment = init.alignment;
    this.reusable = init.reusable;
    this.orderPerBit = init.orderPerBit;
    this._allocName = init.allocName;
    this._alloc = init.alloc;
    this.origin = init.origin;
    this._owner = `cma:${this.label}`;
  }

  /** Physical start (`reg->start`, `cma_get_base`). */
  get base(): number {
    return this._base;
  }

  /** Bytes (`reg->size`, `cma_get_size`). */
  get size(): number {
    return this._size;
  }

  /** One past the last byte. */
  get end(): number {
    return this._base + this._size;
  }

  /** First page frame (`base_pfn`). */
  get basePfn(): number {
    return this._base / PAGE_SIZE;
  }

  /** Pages (`cma->count`); 0 for a merged area whose activation failed. */
  get count(): number {
    return this._count;
  }

  /** Free bytes (`free_space`; `available_count` × PAGE_SIZE). */
  get free(): number {
    return this._free;
  }

  /** Free pages (`available_count`). */
  get availableCount(): number {
    return this._free / PAGE_SIZE;
  }

  /** Live chunks (`users`). */
  get users(): number {
    return this._users;
  }

  /** The attached allocator, or null until the first allocation attaches one. */
  get allocator(): CmaAllocator | null {
    return this._alloc;
  }

  /** The allocator the region asks for by name (null: the default, the first registered). */
  get allocName(): string | null {
    return this._allocName;
  }

  /** True once memory was reserved for it at boot (or it was registered over reserved memory). */
  get reserved(): boolean {
    return this._reserved;
  }

  /** True while registered: allocations may be made from it. */
  get registered(): boolean {
    return this._registered;
  }

  /** True once a reusable region's pages were handed to the buddy allocator as MIGRATE_CMA. */
  get activated(): boolean {
    return this._activated;
  }

  /** Name for messages, tags and trace events: the name, or "(private)". */
  get label(): string {
    return this.name ?? "(private)";
  }

  /** Live chunks, lowest address first. */
  chunks(): readonly CmaLiveChunk[] {
    return [...this._chunks.values()].sort((a, b) => a.start - b.start);
  }

  /** `cma_get_name` style text for reports: `name [base, end) size`. */
  toString(): string {
    return `${this.label} [0x${this._base.toString(16)}, 0x${this.end.toString(16)})`;
  }
}
