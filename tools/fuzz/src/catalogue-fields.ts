/**
 * The catalogue's entries for the argument fields of every ioctl that the first list
 * (`catalogue.ts`) left open: for each ioctl and each class of bad argument that its struct can
 * carry — a negative number in an unsigned field, a count or index past the end, bits no flag
 * has, a handle or fd that belongs to another file or process — the call and its errno. The
 * classes a struct cannot carry are listed, with the reason, in `NOT_APPLICABLE`
 * (`catalogue-coverage.ts`).
 *
 * @module
 */
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SYNC_WRITE,
  SYNC_IOC_MERGE,
  UDMABUF_CREATE,
  UDMABUF_CREATE_LIST,
} from "@umm/dma-buf";
import {
  DRM_IOCTL_DROP_MASTER,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_GET_CAP,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_DESTROY_DUMB,
  DRM_IOCTL_MODE_GETCONNECTOR,
  DRM_IOCTL_MODE_GETCRTC,
  DRM_IOCTL_MODE_GETENCODER,
  DRM_IOCTL_MODE_GETPLANE,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_RMFB,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_IOCTL_WAIT_VBLANK,
  drmSimpleMode,
} from "@umm/drm-gem";
import { PAGE_SIZE, SZ_4G } from "@umm/kernel-core";
import { IOCTL_PMM_ALLOC, PMM_MAGIC, PMM_MEM_GENERAL } from "@umm/pmm";
import {
  UMP_IOC_CACHE_OPERATIONS_CONTROL,
  UMP_IOC_DMABUF_EXPORT,
  UMP_IOC_DMABUF_IMPORT,
  UMP_IOC_GRANT,
  UMP_IOC_MSYNC,
  UMP_IOC_REVOKE,
} from "@umm/ump";
import {
  V4L2_BUF_FLAG_REQUEST_FD,
  V4L2_MEMORY_MMAP,
  VIDIOC_DQBUF,
  VIDIOC_ENUM_FMT,
  VIDIOC_EXPBUF,
  VIDIOC_PREPARE_BUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REMOVE_BUFS,
  VIDIOC_S_FMT,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  VIDIOC_TRY_FMT,
  v4l2Buffer,
} from "@umm/v4l2-videobuf";
import type { BadInput } from "./catalogue.js";
import { addfb, buf, CAP, dmabufBuf, e, msync, ump } from "./catalogue-entry.js";
import type { Testbed } from "./testbed.js";

const list = (t: Testbed, o: Record<string, number> = {}, item: Record<string, number> = {}) => ({
  flags: 0,
  count: 1,
  ...o,
  list: [{ memfd: t.fd.memfd, offset: 0, size: PAGE_SIZE, ...item }],
});
const fmt = (o: Record<string, number> = {}) => ({
  type: CAP,
  fmt: { pix: { width: 64, height: 32, pixelformat: 0x59455247 } },
  ...o,
});
const crtc = (t: Testbed, o: Record<string, unknown> = {}) => ({
  crtc_id: t.drm.crtc.id,
  fb_id: t.dumb.fb,
  x: 0,
  y: 0,
  set_connectors_ptr: [t.drm.connector.id],
  count_connectors: 1,
  mode_valid: 1,
  mode: drmSimpleMode(64, 32, 60),
  ...o,
});

/** The entries (see the module comment). */
export const FIELD_ENTRIES: readonly BadInput[] = [
  // ---- dma-buf and sync_file ----
  e("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "negative", "flags -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, { flags: -1, fd: -1 }),
  ),
  e("DMA_BUF_IOCTL_IMPORT_SYNC_FILE", "unknown flags", "flags 0x10", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: 0x10, fd: t.fd.syncFile }),
  ),
  e("DMA_BUF_IOCTL_IMPORT_SYNC_FILE", "negative", "fd -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_WRITE, fd: -1 }),
  ),
  e(
    "DMA_BUF_IOCTL_IMPORT_SYNC_FILE",
    "foreign handle",
    "an fd number only another process has",
    "EINVAL",
    (t) => t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_WRITE, fd: t.fd.bOnly }),
  ),
  e("DMA_BUF_SET_NAME_A", "overflow", "a 40-byte name", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_SET_NAME_A, "y".repeat(40)),
  ),
  e("SYNC_IOC_MERGE", "negative", "fd2 -1", "ENOENT", (t) =>
    t.a.ioctl(t.fd.syncFile, SYNC_IOC_MERGE, { name: "m", fd2: -1, fence: 0, flags: 0, pad: 0 }),
  ),
  e("SYNC_IOC_MERGE", "foreign handle", "fd2 an fd number only another process has", "ENOENT", (t) =>
    t.a.ioctl(t.fd.syncFile, SYNC_IOC_MERGE, { name: "m", fd2: t.fd.bOnly, fence: 0, flags: 0, pad: 0 }),
  ),

  // ---- udmabuf ----
  e("UDMABUF_CREATE", "foreign handle", "memfd an fd number only another process has", "EBADFD", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.bOnly, flags: 0, offset: 0, size: PAGE_SIZE }),
  ),
  e("UDMABUF_CREATE_LIST", "unaligned", "an item at offset 100", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, list(t, {}, { offset: 100 })),
  ),
  e("UDMABUF_CREATE_LIST", "overflow", "count 1025 (list_limit is 1024)", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, list(t, { count: 1025 })),
  ),
  e("UDMABUF_CREATE_LIST", "negative", "count -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, list(t, { count: -1 })),
  ),
  e("UDMABUF_CREATE_LIST", "unknown flags", "flags 2", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, list(t, { flags: 2 })),
  ),
  e("UDMABUF_CREATE_LIST", "foreign handle", "an item's memfd only another process has", "EBADFD", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, list(t, {}, { memfd: t.fd.bOnly })),
  ),

  // ---- UMP ----
  // _ump_ukk_msync is void: an op or range it does not know does nothing, and the ioctl returns 0
  e("UMP_IOC_MSYNC", "unknown flags", "op 99 (ignored)", "accepted", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_MSYNC, msync(t, { op: 99 })),
  ),
  e("UMP_IOC_MSYNC", "overflow", "a range past the buffer (ignored)", "accepted", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_MSYNC, msync(t, { address: 0, size: 512 * 1024 })),
  ),
  e(
    "UMP_IOC_MSYNC",
    "negative",
    "size -1, outside u32 (umm refuses it; C's void msync would ignore 0xffffffff)",
    "EINVAL",
    (t) => t.a.ioctl(ump(t), UMP_IOC_MSYNC, msync(t, { size: -1 })),
  ),
  // _ump_ukk_cache_operations_control only logs an op it does not know
  e("UMP_IOC_CACHE_OPERATIONS_CONTROL", "unknown flags", "op 7 (ignored)", "accepted", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_CACHE_OPERATIONS_CONTROL, { op: 7 }),
  ),
  e("UMP_IOC_GRANT", "overflow", "uid 2^32", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_GRANT, { secure_id: t.umpId, uid: SZ_4G }),
  ),
  e("UMP_IOC_REVOKE", "negative", "uid -1", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_REVOKE, { secure_id: t.umpId, uid: -1 }),
  ),
  e("UMP_IOC_REVOKE", "overflow", "uid 2^32", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_REVOKE, { secure_id: t.umpId, uid: SZ_4G }),
  ),
  e("UMP_IOC_DMABUF_IMPORT", "negative", "fd -1", "EBADF", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_DMABUF_IMPORT, { fd: -1, size: 0, secure_id: 0 }),
  ),
  e("UMP_IOC_DMABUF_IMPORT", "foreign handle", "an fd number only another process has", "EBADF", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_DMABUF_IMPORT, { fd: t.fd.bOnly, size: 0, secure_id: 0 }),
  ),
  e("UMP_IOC_DMABUF_EXPORT", "negative", "flags -1", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_DMABUF_EXPORT, { secure_id: t.umpId, flags: -1, fd: 0 }),
  ),

  // ---- PMM ----
  e("IOCTL_PMM_ALLOC", "negative", "size -4096", "ENOMEM", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, {
      magic: PMM_MAGIC,
      size: -PAGE_SIZE,
      type: PMM_MEM_GENERAL,
      flags: 0,
      alignment: 0,
    }),
  ),

  // ---- DRM ----
  // umm's DRM argument helpers refuse a field value outside u32 with EINVAL ("not a 32-bit
  // unsigned number"), where C would pass 0xffffffff on and get the lookup's ENOENT or ENOSPC
  e("DRM_IOCTL_GET_CAP", "unknown flags", "capability 0x99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_GET_CAP, { capability: 0x99, value: 0 }),
  ),
  e("DRM_IOCTL_DROP_MASTER", "foreign handle", "by a client that never was the master", "EACCES", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_DROP_MASTER),
  ),
  e("DRM_IOCTL_GEM_CLOSE", "foreign handle", "another file's handle", "EINVAL", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_GEM_CLOSE, { handle: t.dumb.handle, pad: 0 }),
  ),
  e("DRM_IOCTL_GEM_CLOSE", "negative", "handle -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_GEM_CLOSE, { handle: -1, pad: 0 }),
  ),
  e("DRM_IOCTL_PRIME_HANDLE_TO_FD", "negative", "handle -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_HANDLE_TO_FD, { handle: -1, flags: 0, fd: -1 }),
  ),
  e("DRM_IOCTL_PRIME_FD_TO_HANDLE", "negative", "fd -1", "EBADF", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd: -1, flags: 0, handle: 0 }),
  ),
  e("DRM_IOCTL_PRIME_FD_TO_HANDLE", "foreign handle", "an fd number only another process has", "EBADF", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd: t.fd.bOnly, flags: 0, handle: 0 }),
  ),
  e("DRM_IOCTL_WAIT_VBLANK", "unknown flags", "request type 0x4000", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_WAIT_VBLANK, { request: { type: 0x4000, sequence: 0, signal: 0 } }),
  ),
  e("DRM_IOCTL_WAIT_VBLANK", "foreign handle", "CRTC index 5 in the high bits", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_WAIT_VBLANK, { request: { type: 5 << 1, sequence: 0, signal: 0 } }),
  ),
  e("DRM_IOCTL_MODE_GETCRTC", "foreign handle", "the id of a connector", "ENOENT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETCRTC, { crtc_id: t.drm.connector.id }),
  ),
  e("DRM_IOCTL_MODE_GETCRTC", "negative", "crtc_id -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETCRTC, { crtc_id: -1 }),
  ),
  e("DRM_IOCTL_MODE_SETCRTC", "overflow", "a viewport past the framebuffer", "ENOSPC", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_SETCRTC, crtc(t, { x: 32 })),
  ),
  e("DRM_IOCTL_MODE_SETCRTC", "negative", "x -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_SETCRTC, crtc(t, { x: -1 })),
  ),
  e("DRM_IOCTL_MODE_GETENCODER", "foreign handle", "the id of a CRTC", "ENOENT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETENCODER, { encoder_id: t.drm.crtc.id }),
  ),
  e("DRM_IOCTL_MODE_GETENCODER", "negative", "encoder_id -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETENCODER, { encoder_id: -1 }),
  ),
  e("DRM_IOCTL_MODE_GETCONNECTOR", "foreign handle", "the id of a CRTC", "ENOENT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETCONNECTOR, { connector_id: t.drm.crtc.id }),
  ),
  e("DRM_IOCTL_MODE_GETCONNECTOR", "negative", "connector_id -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETCONNECTOR, { connector_id: -1 }),
  ),
  e("DRM_IOCTL_MODE_GETPLANE", "foreign handle", "the id of a CRTC", "ENOENT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETPLANE, { plane_id: t.drm.crtc.id }),
  ),
  e("DRM_IOCTL_MODE_GETPLANE", "negative", "plane_id -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETPLANE, { plane_id: -1 }),
  ),
  e("DRM_IOCTL_MODE_RMFB", "negative", "fb id -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_RMFB, -1),
  ),
  e("DRM_IOCTL_MODE_PAGE_FLIP", "foreign handle", "the id of a connector as the CRTC", "ENOENT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_PAGE_FLIP, {
      crtc_id: t.drm.connector.id,
      fb_id: t.dumb.fb,
      flags: 0,
      user_data: 0,
    }),
  ),
  e("DRM_IOCTL_MODE_MAP_DUMB", "negative", "handle -1, outside u32", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_MAP_DUMB, { handle: -1, pad: 0, offset: 0 }),
  ),
  e("DRM_IOCTL_MODE_DESTROY_DUMB", "negative", "handle -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_DESTROY_DUMB, { handle: -1 }),
  ),
  e("DRM_IOCTL_MODE_ADDFB2", "negative", "width -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_ADDFB2, addfb(t, { width: -1 })),
  ),

  // ---- V4L2 ----
  e("VIDIOC_ENUM_FMT", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_ENUM_FMT, { index: 0, type: 99 }),
  ),
  e("VIDIOC_S_FMT", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_S_FMT, fmt({ type: 99 })),
  ),
  e("VIDIOC_S_FMT", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_S_FMT, fmt()),
  ),
  e("VIDIOC_TRY_FMT", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_TRY_FMT, fmt({ type: 99 })),
  ),
  e("VIDIOC_QUERYBUF", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QUERYBUF, buf({ type: 99 })),
  ),
  e("VIDIOC_QBUF", "negative", "index -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QBUF, buf({ index: -1 })),
  ),
  e("VIDIOC_QBUF", "unknown flags", "V4L2_BUF_FLAG_REQUEST_FD on a queue without requests", "EBADR", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QBUF, buf({ flags: V4L2_BUF_FLAG_REQUEST_FD, request_fd: 3 })),
  ),
  e("VIDIOC_QBUF", "unaligned", "a DMABUF plane with data_offset past bytesused", "EINVAL", (t) =>
    t.b.ioctl(t.bOwnVideo, VIDIOC_QBUF, dmabufBuf(t.fd.bPmm, { bytesused: 16, data_offset: 100 })),
  ),
  e("VIDIOC_DQBUF", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_DQBUF, v4l2Buffer({ type: 99, memory: V4L2_MEMORY_MMAP })),
  ),
  e("VIDIOC_DQBUF", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP })),
  ),
  e("VIDIOC_EXPBUF", "negative", "index -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_EXPBUF, { type: CAP, index: -1, plane: 0, flags: 0, fd: -1 }),
  ),
  e("VIDIOC_EXPBUF", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_EXPBUF, { type: CAP, index: 0, plane: 0, flags: 0, fd: -1 }),
  ),
  e("VIDIOC_STREAMON", "negative", "type -1", "EINVAL", (t) => t.a.ioctl(t.fd.video, VIDIOC_STREAMON, -1)),
  e("VIDIOC_STREAMOFF", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_STREAMOFF, 99),
  ),
  e("VIDIOC_STREAMOFF", "negative", "type -1", "EINVAL", (t) => t.a.ioctl(t.fd.video, VIDIOC_STREAMOFF, -1)),
  e("VIDIOC_PREPARE_BUF", "negative", "index -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_PREPARE_BUF, buf({ index: -1 })),
  ),
  e("VIDIOC_PREPARE_BUF", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_PREPARE_BUF, buf({ type: 99 })),
  ),
  e("VIDIOC_PREPARE_BUF", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_PREPARE_BUF, buf()),
  ),
  e("VIDIOC_REMOVE_BUFS", "negative", "count -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_REMOVE_BUFS, { index: 0, count: -1, type: CAP }),
  ),
  e("VIDIOC_REMOVE_BUFS", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_REMOVE_BUFS, { index: 0, count: 1, type: 99 }),
  ),
  e("VIDIOC_REMOVE_BUFS", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_REMOVE_BUFS, { index: 0, count: 1, type: CAP }),
  ),
];
