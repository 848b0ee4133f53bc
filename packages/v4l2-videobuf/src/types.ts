/**
 * Plain types and constants of `include/media/videobuf2-core.h`: buffer states, memory types,
 * io modes, limits and the mmap offset cookie.
 *
 * @module
 */
import { PAGE_SHIFT } from "@umm/kernel-core";

/** `enum vb2_buffer_state`. */
export const Vb2BufferState = {
  /** owned by user space (after REQBUFS, DQBUF, STREAMOFF) */
  DEQUEUED: 0,
  /** bound to a media request, not yet queued */
  IN_REQUEST: 1,
  /** transient: being prepared (user memory acquired, driver buf_prepare) */
  PREPARING: 2,
  /** queued in vb2, not yet handed to the driver (start_streaming not called) */
  QUEUED: 3,
  /** owned by the driver (buf_queue called) */
  ACTIVE: 4,
  /** the driver finished it; on the done list, waiting for DQBUF */
  DONE: 5,
  /** the driver finished it with an error; on the done list */
  ERROR: 6,
} as const;

/** A buffer state value. */
export type Vb2BufferStateValue = (typeof Vb2BufferState)[keyof typeof Vb2BufferState];

const STATE_NAMES = ["dequeued", "in request", "preparing", "queued", "active", "done", "error"] as const;

/** `vb2_state_name`: "dequeued", "in request", "preparing", "queued", "active", "done", "error". */
export function vb2StateName(s: number): string {
  return STATE_NAMES[s] ?? "unknown";
}

/** `VB2_MEMORY_UNKNOWN`: no buffers allocated. */
export const VB2_MEMORY_UNKNOWN = 0;
/** `VB2_MEMORY_MMAP` (= V4L2_MEMORY_MMAP). */
export const VB2_MEMORY_MMAP = 1;
/** `VB2_MEMORY_USERPTR` (= V4L2_MEMORY_USERPTR). */
export const VB2_MEMORY_USERPTR = 2;
/** `VB2_MEMORY_DMABUF` (= V4L2_MEMORY_DMABUF). */
export const VB2_MEMORY_DMABUF = 4;

/** io mode: driver-allocated buffers mapped by mmap. */
export const VB2_MMAP = 1 << 0;
/** io mode: user pointers. */
export const VB2_USERPTR = 1 << 1;
/** io mode: imported dma-bufs. */
export const VB2_DMABUF = 1 << 4;

/** `VB2_MAX_FRAME`: default maximum number of buffers (and the least `maxNumBuffers` may be). */
export const VB2_MAX_FRAME = 32;
/** `VB2_MAX_PLANES`. */
export const VB2_MAX_PLANES = 8;

/** `PLANE_INDEX_BITS`: bits of the plane number in the offset cookie. */
export const PLANE_INDEX_BITS = 3;
/** `PLANE_INDEX_SHIFT`: the buffer index starts at this bit of the offset cookie. */
export const PLANE_INDEX_SHIFT = PAGE_SHIFT + PLANE_INDEX_BITS;
/** `PLANE_INDEX_MASK`. */
export const PLANE_INDEX_MASK = (1 << PLANE_INDEX_BITS) - 1;
/** `MAX_BUFFER_INDEX`: `1 << (30 - PLANE_INDEX_SHIFT)` (bit 30 belongs to mem2mem). */
export const MAX_BUFFER_INDEX = 1 << (30 - PLANE_INDEX_SHIFT);
/** `BUFFER_INDEX_MASK`. */
export const BUFFER_INDEX_MASK = MAX_BUFFER_INDEX - 1;

/** The mmap offset cookie of `plane` of buffer `index` (`__setup_offsets`). */
export function vb2MmapOffset(index: number, plane: number): number {
  return index * (1 << PLANE_INDEX_SHIFT) + plane * (1 << PAGE_SHIFT);
}
