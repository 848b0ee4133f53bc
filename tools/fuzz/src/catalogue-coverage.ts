/**
 * What the catalogue must cover, and why a cell is empty where it is: every ioctl of the stack
 * (`IOCTLS`, the compat aliases aside) and every public allocator entry point
 * (`ENTRY_POINTS`), each with the seven classes of bad argument the issue names. A cell is either
 * at least one catalogue entry or a reason in `NOT_APPLICABLE` — never both, never neither
 * (`coverageGaps`).
 *
 * @module
 */
import type { BadClass, BadInput } from "./catalogue.js";
import { IOCTLS } from "./catalogue-ioctls.js";

/** The classes every interface is held to. */
export const REQUIRED_CLASSES: readonly BadClass[] = [
  "wrong fd",
  "wrong size field",
  "unaligned",
  "overflow",
  "negative",
  "unknown flags",
  "foreign handle",
];

/** The public allocator entry points the catalogue covers besides the ioctls. */
export const ENTRY_POINTS: readonly string[] = [
  "allocPages",
  "freePages",
  "cmaAlloc (2010)",
  "cmaAlloc (merged)",
  "cmaRelease",
  "cmaFree",
  "cmaAllocFrom",
  "iommuMap",
  "iommuUnmap",
  "dmaAllocCoherent",
  "dmaFreeCoherent",
  "dmaMapSingle",
  "dmaUnmapSingle",
  "dmaMapSg",
  "dmaUnmapSg",
  "vcmAlloc",
  "vcmFree",
  "vcmReserve",
  "vcmBind",
  "vcmUnbind",
  "vcmMap",
  "vcmMakeBinding",
  "pmmGet",
  "pmmPut",
];

/** Every interface the coverage is checked for. */
export const INTERFACES: readonly string[] = [
  ...IOCTLS.filter((i) => !i.aliasOf).map((i) => i.name),
  ...ENTRY_POINTS,
];

// the reasons, shared
const NO_ADDR = "no address, offset or alignment in the argument: nothing to misalign";
const NO_SIZE = "no size, count or index in the argument: nothing to overflow";
const NO_FLAGS = "no flags, type or op field";
const NO_HANDLE = "no handle or fd in the argument (the file it runs on is covered by 'wrong fd')";
const OUT = "the struct is output only: the kernel reads nothing from it";
const DRM_SIZE =
  "drm_ioctl copies _IOC_SIZE bytes and zero-fills the rest: a size is not refused as such. umm's drm_ioctl ignores _IOC_SIZE (a discrepancy, see tools/fuzz/README.md)";
const SECURE_ID = "the only input is a secure ID, a handle: covered by 'foreign handle' and 'wrong fd'";
const ID_ONLY = "the only input is an object id, a handle: covered by 'foreign handle'";
const VB2_ADJUSTS =
  "vb2 and the driver adjust counts and sizes to what they support (the V4L2 spec: never an error for a size)";
const QUERY = "a query: counts are capacities, and any capacity (0 included) is valid";
const KERNEL_NO_FLAGS = "the entry point takes no flags";
const KERNEL_NO_SIZE = "the entry point takes no size: the object it names carries it";
const KERNEL_ONE_ALLOCATOR = "the allocator is global: there is no object of the wrong kind to pass";

type Cells = Partial<Record<BadClass, string>>;
const all = (reason: string, ...classes: BadClass[]): Cells =>
  Object.fromEntries(classes.map((c) => [c, reason])) as Cells;

/** The empty cells, each with its reason. */
export const NOT_APPLICABLE: Readonly<Record<string, Cells>> = {
  DMA_BUF_IOCTL_SYNC: {
    unaligned: NO_ADDR,
    overflow: "flags is a bit set: bits beyond the known ones are 'unknown flags'",
    "foreign handle": NO_HANDLE,
  },
  DMA_BUF_SET_NAME_A: {
    ...all("the argument is a string", "unaligned", "negative", "unknown flags"),
    "foreign handle": NO_HANDLE,
  },
  DMA_BUF_SET_NAME_B: {
    ...all("the argument is a string", "unaligned", "negative", "unknown flags"),
    "foreign handle": NO_HANDLE,
  },
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE: {
    unaligned: NO_ADDR,
    overflow: NO_SIZE,
    "foreign handle": "the fd field is output",
  },
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE: { unaligned: NO_ADDR, overflow: NO_SIZE },
  SYNC_IOC_MERGE: {
    unaligned: NO_ADDR,
    overflow: "name is a fixed 32-byte array the kernel copies with strscpy: a long name is cut",
  },
  SYNC_IOC_FILE_INFO: {
    unaligned: NO_ADDR,
    overflow: "num_fences is a capacity: more than the fences is valid, fewer (not 0) needs a merged fence",
    negative: "num_fences -1 is a large capacity (u32), valid",
    "foreign handle": NO_HANDLE,
  },
  SYNC_IOC_SET_DEADLINE: {
    unaligned: NO_ADDR,
    overflow: "any deadline_ns (u64) is a valid time",
    negative: "any deadline_ns (u64) is a valid time",
    "unknown flags": NO_FLAGS,
    "foreign handle": NO_HANDLE,
  },
  DMA_HEAP_IOCTL_ALLOC: {
    unaligned: "dma_heap_buffer_alloc rounds len up to pages (PAGE_ALIGN)",
    "foreign handle": "the fd field is output",
  },
  UMP_IOC_QUERY_API_VERSION: {
    ...all(
      "the version is data: an unknown one is answered with compatible = 0, not an error",
      "unaligned",
      "overflow",
      "negative",
      "unknown flags",
    ),
    "foreign handle": NO_HANDLE,
  },
  UMP_IOC_ALLOCATE: {
    unaligned: "_ump_ukk_allocate rounds the size up to pages",
    "unknown flags": "constraints bits other than USE_CACHE are ignored by the backends",
    "foreign handle": "the secure_id field is output",
  },
  UMP_IOC_RELEASE: all(SECURE_ID, "unaligned", "overflow", "negative", "unknown flags"),
  UMP_IOC_SIZE_GET: all(SECURE_ID, "unaligned", "overflow", "negative", "unknown flags"),
  UMP_IOC_MSYNC: { unaligned: "cache maintenance takes any byte range" },
  UMP_IOC_CACHE_OPERATIONS_CONTROL: {
    ...all("op is the only field", "unaligned", "overflow", "negative"),
    "foreign handle": NO_HANDLE,
  },
  UMP_IOC_SWITCH_HW_USAGE: {
    ...all(SECURE_ID, "unaligned", "overflow", "negative"),
    "unknown flags": "_ump_ukk_switch_hw_usage stores any new_user",
  },
  UMP_IOC_LOCK: {
    ...all(SECURE_ID, "unaligned", "overflow", "negative"),
    "unknown flags": "_ump_ukk_lock stores any lock_usage",
  },
  UMP_IOC_UNLOCK: all(SECURE_ID, "unaligned", "overflow", "negative", "unknown flags"),
  UMP_IOC_GRANT: { unaligned: NO_ADDR, "unknown flags": NO_FLAGS },
  UMP_IOC_REVOKE: { unaligned: NO_ADDR, "unknown flags": NO_FLAGS },
  UMP_IOC_DMABUF_IMPORT: {
    unaligned: NO_ADDR,
    overflow: "size is output",
    "unknown flags": NO_FLAGS,
  },
  UMP_IOC_DMABUF_EXPORT: { unaligned: NO_ADDR, overflow: NO_SIZE },
  IOCTL_PMM_ALLOC: { "foreign handle": NO_HANDLE },
  IOCTL_PMM_SHMGET: {
    unaligned: NO_ADDR,
    overflow: "the segment's size is the area's: there is no size field",
    negative: "key is a key_t: every value but IPC_PRIVATE names a segment",
    "unknown flags": "shmflg bits beyond the permissions are ignored, as by shmget(2)",
    "foreign handle": "the key is shared by design (SysV): access is checked at shmat",
  },
  DRM_IOCTL_VERSION: {
    "wrong size field": DRM_SIZE,
    ...all(QUERY, "unaligned", "overflow", "negative", "unknown flags"),
    "foreign handle": NO_HANDLE,
  },
  DRM_IOCTL_GET_CAP: {
    "wrong size field": DRM_SIZE,
    ...all(
      "capability is the only input (an id, covered by 'unknown flags')",
      "unaligned",
      "overflow",
      "negative",
    ),
    "foreign handle": NO_HANDLE,
  },
  DRM_IOCTL_SET_MASTER: {
    "wrong size field": "_IO: no argument",
    ...all("_IO: no argument", "unaligned", "overflow", "negative", "unknown flags"),
  },
  DRM_IOCTL_DROP_MASTER: {
    "wrong size field": "_IO: no argument",
    ...all("_IO: no argument", "unaligned", "overflow", "negative", "unknown flags"),
  },
  DRM_IOCTL_GEM_CLOSE: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow"),
    "unknown flags": "drm_gem_close_ioctl does not read pad",
  },
  DRM_IOCTL_PRIME_HANDLE_TO_FD: { "wrong size field": DRM_SIZE, ...all(ID_ONLY, "unaligned", "overflow") },
  DRM_IOCTL_PRIME_FD_TO_HANDLE: {
    "wrong size field": DRM_SIZE,
    ...all("the fd is the only input", "unaligned", "overflow"),
    "unknown flags": "drm_prime_fd_to_handle_ioctl does not read flags",
  },
  DRM_IOCTL_WAIT_VBLANK: {
    "wrong size field": DRM_SIZE,
    unaligned: NO_ADDR,
    ...all("sequence is a u32 counter that wraps: every value is a valid target", "overflow", "negative"),
  },
  DRM_IOCTL_MODE_GETRESOURCES: {
    "wrong size field": DRM_SIZE,
    ...all(QUERY, "unaligned", "overflow", "negative", "unknown flags"),
    "foreign handle": NO_HANDLE,
  },
  DRM_IOCTL_MODE_GETCRTC: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow", "unknown flags"),
  },
  DRM_IOCTL_MODE_SETCRTC: {
    "wrong size field": DRM_SIZE,
    unaligned: "x and y may be any pixel",
    "unknown flags": "mode flags are the mode's description, validated as a mode, not as flags",
  },
  DRM_IOCTL_MODE_GETENCODER: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow", "unknown flags"),
  },
  DRM_IOCTL_MODE_GETCONNECTOR: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow", "unknown flags"),
  },
  DRM_IOCTL_MODE_RMFB: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow", "unknown flags"),
  },
  DRM_IOCTL_MODE_PAGE_FLIP: {
    "wrong size field": DRM_SIZE,
    unaligned: NO_ADDR,
    ...all("user_data is opaque, returned in the event", "overflow", "negative"),
  },
  DRM_IOCTL_MODE_CREATE_DUMB: {
    "wrong size field": DRM_SIZE,
    unaligned: "any width, height and bpp is a size (rounded up to bytes and pages)",
    "unknown flags": "drm_mode_create_dumb does not read flags (upstream)",
    "foreign handle": "the handle field is output",
  },
  DRM_IOCTL_MODE_MAP_DUMB: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow"),
    "unknown flags": "drm_mode_mmap_dumb_ioctl does not read pad",
  },
  DRM_IOCTL_MODE_DESTROY_DUMB: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow", "unknown flags"),
  },
  DRM_IOCTL_MODE_GETPLANERESOURCES: {
    "wrong size field": DRM_SIZE,
    ...all(QUERY, "unaligned", "overflow", "negative", "unknown flags"),
    "foreign handle": NO_HANDLE,
  },
  DRM_IOCTL_MODE_GETPLANE: {
    "wrong size field": DRM_SIZE,
    ...all(ID_ONLY, "unaligned", "overflow", "unknown flags"),
  },
  DRM_IOCTL_MODE_ADDFB2: { unaligned: "offsets and pitches need no alignment beyond the format's cpp" },
  VIDIOC_QUERYCAP: all(OUT, "unaligned", "overflow", "negative", "unknown flags", "foreign handle"),
  VIDIOC_ENUM_FMT: { unaligned: NO_ADDR, "foreign handle": "any file may enumerate formats" },
  VIDIOC_G_FMT: {
    ...all("type is the only input (covered by 'unknown flags')", "unaligned", "overflow", "negative"),
    "foreign handle": "any file may read the format",
  },
  VIDIOC_S_FMT: all(VB2_ADJUSTS, "unaligned", "overflow", "negative"),
  VIDIOC_TRY_FMT: {
    ...all(VB2_ADJUSTS, "unaligned", "overflow", "negative"),
    "foreign handle": "any file may try a format",
  },
  VIDIOC_REQBUFS: { unaligned: NO_ADDR, ...all(VB2_ADJUSTS, "overflow", "negative") },
  VIDIOC_QUERYBUF: {
    unaligned: NO_ADDR,
    "foreign handle": "any file may query a buffer (vb2_ioctl_querybuf)",
  },
  VIDIOC_DQBUF: {
    unaligned: NO_ADDR,
    ...all("the kernel fills the struct: only type is read", "overflow", "negative"),
  },
  VIDIOC_EXPBUF: { unaligned: NO_ADDR },
  VIDIOC_STREAMON: {
    unaligned: NO_ADDR,
    overflow: "the type is the only input (covered by 'unknown flags')",
  },
  VIDIOC_STREAMOFF: {
    unaligned: NO_ADDR,
    overflow: "the type is the only input (covered by 'unknown flags')",
  },
  VIDIOC_CREATE_BUFS: { unaligned: NO_ADDR, ...all(VB2_ADJUSTS, "overflow", "negative") },
  VIDIOC_PREPARE_BUF: { unaligned: "MMAP buffers: no user address to misalign" },
  VIDIOC_REMOVE_BUFS: { unaligned: NO_ADDR },

  allocPages: {
    "wrong fd": KERNEL_ONE_ALLOCATOR,
    "wrong size field": "the order is the size (overflow, negative, unaligned)",
    "unknown flags": "alloc_pages does not refuse GFP bits it does not know",
    "foreign handle": "nothing to hand in",
  },
  freePages: {
    "wrong fd": KERNEL_ONE_ALLOCATOR,
    "unknown flags": KERNEL_NO_FLAGS,
  },
  "cmaAlloc (2010)": {
    "wrong size field": "size is the request (zero, negative, overflow)",
    "unknown flags":
      "the kind selects a rule of the cma.map parameter; a kind no rule names falls back to the device's catch-all rule",
    "foreign handle": "any device may allocate through the map",
  },
  "cmaAlloc (merged)": {
    "wrong fd": "cmaAlloc(null, …) is the 2010 form (no device: EINVAL, in its row)",
    "wrong size field": "count is the request (zero, negative)",
    "unknown flags": "no_warn is a boolean",
    "foreign handle": "any caller may allocate from an area",
  },
  cmaRelease: {
    "wrong size field":
      "count past the area is 'overflow'; a count splitting a chunk is released in part (order_per_bit 0)",
    unaligned: "pfn and count are page numbers",
    "unknown flags": KERNEL_NO_FLAGS,
  },
  cmaFree: {
    "wrong fd": "the kernel is the only object",
    "wrong size field": KERNEL_NO_SIZE,
    overflow: "an address past every region is a 'foreign handle'",
    "unknown flags": KERNEL_NO_FLAGS,
  },
  cmaAllocFrom: {
    "wrong size field": "size is the request (zero, negative, overflow)",
    "unknown flags": "the region list is names, covered by 'wrong fd'",
    "foreign handle": "any caller may allocate from named regions",
  },
  iommuMap: {
    "wrong size field": "size is the request (zero, negative, overflow)",
    "unknown flags": "iommu_map passes prot to the driver unchecked; unknown bits are ignored",
  },
  iommuUnmap: {
    "wrong size field": "size is the request (negative, unaligned)",
    overflow: "a range past what is mapped unmaps what is there and reports it",
    "unknown flags": KERNEL_NO_FLAGS,
    "foreign handle":
      "exynos_iommu_unmap reports the page size for an unmapped page (as upstream); umm's soc counter of mapped bytes would then go below zero (see tools/fuzz/README.md)",
  },
  dmaAllocCoherent: {
    "wrong fd": "every device has DMA ops (the direct ones by default)",
    "wrong size field": "size is the request (zero, negative, overflow)",
    unaligned: "the size is rounded up to pages",
    "unknown flags": "gfp bits are passed to the allocator, which ignores what it does not know",
    "foreign handle": "nothing to hand in",
  },
  dmaFreeCoherent: {
    "wrong fd": "a device that did not allocate it is the 'foreign handle'",
    overflow: "a size other than the buffer's is the 'wrong size field'",
    "unknown flags": KERNEL_NO_FLAGS,
  },
  dmaMapSingle: {
    "wrong size field": "size is the request (zero, negative)",
    unaligned: "any byte address maps",
    overflow: "the range is checked against the linear map ('wrong fd')",
    "foreign handle": "any kernel buffer may be mapped",
  },
  dmaUnmapSingle: {
    "wrong fd": "a device that did not map it is the 'foreign handle'",
    unaligned: "the address is looked up as given ('foreign handle')",
    overflow: "a size other than the mapping's is the 'wrong size field'",
    negative: "a size other than the mapping's is the 'wrong size field'",
  },
  dmaMapSg: {
    "wrong fd": "every device has DMA ops (the direct ones by default)",
    "wrong size field": "nents is the size (zero, negative, overflow)",
    unaligned: "entries carry their own offsets",
    "foreign handle": "any pages may be mapped",
  },
  dmaUnmapSg: {
    "wrong fd": "a list another device mapped is the 'foreign handle'",
    "wrong size field": "nents past the list is 'overflow'",
    unaligned: "entries carry their own offsets",
    negative: "nents past the list is 'overflow'",
  },
  vcmAlloc: {
    "wrong size field": "size is the request (zero, negative, overflow)",
    unaligned: "vcm_alloc rounds the size up to pages",
    "unknown flags": "flags are passed to the driver's phys allocator, which ignores what it does not know",
    "foreign handle": "nothing to hand in",
  },
  vcmFree: {
    "wrong size field": KERNEL_NO_SIZE,
    ...all(KERNEL_NO_SIZE, "unaligned", "overflow", "negative"),
    "unknown flags": KERNEL_NO_FLAGS,
    "foreign handle": "a bound allocation is the 'wrong state' (refused with a WARN)",
  },
  vcmReserve: {
    "wrong size field": "size is the request (zero, negative, overflow)",
    unaligned: "vcm_reserve rounds the size up to pages",
    "unknown flags": "flags are passed to the driver, which ignores what it does not know",
    "foreign handle": "nothing to hand in",
  },
  vcmBind: {
    "wrong size field": "a larger allocation than the reservation is 'overflow'",
    ...all(KERNEL_NO_SIZE, "unaligned", "negative"),
    "unknown flags": KERNEL_NO_FLAGS,
  },
  vcmUnbind: {
    "wrong size field": KERNEL_NO_SIZE,
    ...all(KERNEL_NO_SIZE, "unaligned", "overflow", "negative"),
    "unknown flags": KERNEL_NO_FLAGS,
    "foreign handle": "an unbound reservation is the 'wrong state' (WARN, null)",
  },
  vcmMap: {
    "wrong size field": "the allocation carries the size",
    ...all("the allocation carries the size", "unaligned", "overflow", "negative"),
    "unknown flags": "flags are passed to the driver, which ignores what it does not know",
    "foreign handle": "an allocation may be mapped in any context (that is VCM's point)",
  },
  vcmMakeBinding: {
    "wrong size field": "size is the request (zero, negative, unaligned, overflow)",
    "unknown flags": "flags are passed to the driver, which ignores what it does not know",
    "foreign handle": "nothing to hand in",
  },
  pmmGet: {
    "wrong fd": "the kernel is the only object",
    "wrong size field": KERNEL_NO_SIZE,
    overflow: "an address past every area is a 'foreign handle'",
    "unknown flags": KERNEL_NO_FLAGS,
  },
  pmmPut: {
    "wrong fd": "the kernel is the only object",
    "wrong size field": KERNEL_NO_SIZE,
    overflow: "an address past every area is a 'foreign handle'",
    "unknown flags": KERNEL_NO_FLAGS,
  },
};

/** What is wrong with the coverage of `entries`: empty cells without a reason, and cells with both. */
export function coverageGaps(entries: readonly BadInput[]): {
  missing: string[];
  both: string[];
  unknown: string[];
} {
  const have = new Map<string, Set<BadClass>>();
  for (const e of entries) {
    const s = have.get(e.api) ?? new Set<BadClass>();
    s.add(e.cls);
    have.set(e.api, s);
  }
  const missing: string[] = [];
  const both: string[] = [];
  for (const api of INTERFACES) {
    const na = NOT_APPLICABLE[api] ?? {};
    for (const cls of REQUIRED_CLASSES) {
      const entry = have.get(api)?.has(cls) ?? false;
      if (!entry && !na[cls]) missing.push(`${api} × ${cls}`);
      if (entry && na[cls]) both.push(`${api} × ${cls}`);
    }
  }
  const unknown = Object.keys(NOT_APPLICABLE).filter((api) => !INTERFACES.includes(api));
  return { missing, both, unknown };
}
