/**
 * DMA-BUF heaps (drivers/dma-buf/dma-heap.c): the generic char-device interface for creating
 * buffer objects that the 2011 Linaro summit asked for (seeds/002). Each heap is a node
 * `/dev/dma_heap/<name>`; DMA_HEAP_IOCTL_ALLOC on it returns a new dma-buf fd of zeroed memory
 * from that heap's allocator (system: scattered pages, CMA: one contiguous chunk).
 *
 * The ioctl copes with older and newer user structs the way the kernel does: it copies
 * `_IOC_SIZE(cmd)` bytes in (nothing without `_IOC_WRITE`), zero-fills up to the kernel's size,
 * and copies the same size back (nothing without `_IOC_READ`); only the command number is
 * checked. A struct may be given as the object `{ len, fd, fd_flags, heap_flags }` or as raw
 * little-endian bytes (`Uint8Array`).
 *
 * @module
 */
import { alignUp, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import {
  _IOC_NR,
  _IOC_SIZE,
  type Chrdev,
  currentProcess,
  type File,
  type FileOps,
  IOC_IN,
  IOC_OUT,
  registerChrdev,
} from "@umm/kernel-process";
import { mmOf } from "@umm/mm-core";
import { type DmaBuf, dmaBufFd, dmaBufPut } from "./dma-buf.js";
import type { DmaHeapOps } from "./ops.js";
import { dmaBufState } from "./state.js";
import {
  bitsOutside,
  copyStructFromUser,
  copyStructToUser,
  decodeStruct,
  type UField,
  writeStruct,
} from "./uaccess.js";
import { DMA_HEAP_IOCTL_ALLOC, DMA_HEAP_VALID_FD_FLAGS, DMA_HEAP_VALID_HEAP_FLAGS } from "./uapi.js";

/** What `dmaHeapAdd` needs (`struct dma_heap_export_info`). */
export interface DmaHeapExportInfo {
  /** the heap's name: its node is /dev/dma_heap/<name> */
  readonly name: string;
  /** the allocator */
  readonly ops: DmaHeapOps;
  /** the heap driver's data (`dmaHeapGetDrvdata`) */
  readonly priv?: unknown;
  /** permission bits of the node (default 0o444, as Android's ueventd gives heaps) */
  readonly mode?: number;
}

/** A registered heap (`struct dma_heap`). */
export class DmaHeap {
  /** the kernel it is registered in */
  readonly kernel: Kernel;
  /** its name */
  readonly name: string;
  /** its allocator */
  readonly ops: DmaHeapOps;
  /** the heap driver's data */
  readonly priv: unknown;
  /** @internal set once the node exists */
  _cdev: Chrdev | null = null;

  /** @internal use `dmaHeapAdd` */
  constructor(kernel: Kernel, info: DmaHeapExportInfo) {
    this.kernel = kernel;
    this.name = info.name;
    this.ops = info.ops;
    this.priv = info.priv;
  }

  /** Its node, /dev/dma_heap/<name>. */
  get cdev(): Chrdev {
    return this._cdev!;
  }
}

/** `dma_heap_get_name`. */
export function dmaHeapGetName(heap: DmaHeap): string {
  return heap.name;
}

/** `dma_heap_get_drvdata`. */
export function dmaHeapGetDrvdata(heap: DmaHeap): unknown {
  return heap.priv;
}

/** The heaps registered in `kernel`, by name (what `ls /dev/dma_heap` shows). */
export function dmaHeaps(kernel: Kernel): string[] {
  return [...dmaBufState(kernel).heaps.keys()];
}

/** `struct dma_heap_allocation_data` as bytes. */
const ALLOC_LAYOUT: readonly UField[] = Object.freeze([
  { name: "len", offset: 0, size: 8 },
  { name: "fd", offset: 8, size: 4 },
  { name: "fd_flags", offset: 12, size: 4 },
  { name: "heap_flags", offset: 16, size: 8 },
]);

/** The kernel's table of heap ioctls, indexed by `_IOC_NR`. */
const HEAP_IOCTL_CMDS = [DMA_HEAP_IOCTL_ALLOC];

/**
 * `dma_heap_buffer_alloc`: validated arguments → the heap's allocator → a dma-buf fd in the
 * current process. `len` is a `size_t` here (ARM32: 32 bits) and rounded up to pages; 0 after
 * that is EINVAL. More pages than the page allocator manages (`totalram_pages()`) is ENOMEM before
 * the heap allocates anything (vendor kernels' and a 2023 proposal's check): otherwise the heap
 * would take every free page, fail, and give them back, leaving the allocator's pageblocks
 * converted — a rejected call must change nothing.
 */
function heapBufferAlloc(heap: DmaHeap, len: number, fdFlags: number, heapFlags: number): number {
  const size = alignUp(len % 2 ** 32, PAGE_SIZE) % 2 ** 32;
  if (size === 0) throw new KernelError("EINVAL", `DMA_HEAP_IOCTL_ALLOC: len ${len} is 0 once page-aligned`);
  const totalram = mmOf(heap.kernel).buddy.zones.reduce((n, z) => n + z.managedPages, 0);
  if (size / PAGE_SIZE > totalram) {
    throw new KernelError(
      "ENOMEM",
      `DMA_HEAP_IOCTL_ALLOC: len ${size} is more than the ${totalram} pages of RAM`,
    );
  }
  const buf: DmaBuf = heap.ops.allocate(heap, size, fdFlags, heapFlags);
  let fd: number;
  try {
    fd = dmaBufFd(buf, fdFlags);
  } catch (e) {
    dmaBufPut(buf);
    throw e;
  }
  const tp = dmaBufState(heap.kernel).tp.heapAlloc;
  if (tp.enabled) tp.emit({ heap: heap.name, len: size });
  return fd;
}

function heapIoctl(file: File, ucmd: number, arg: unknown): number {
  const heap = file.privateData as DmaHeap;
  const nr = _IOC_NR(ucmd);
  const kcmd = HEAP_IOCTL_CMDS[nr];
  if (kcmd === undefined) throw new KernelError("EINVAL", `dma_heap: ioctl number ${nr} is not known`);
  const drvSize = _IOC_SIZE(kcmd);
  let outSize = _IOC_SIZE(ucmd);
  let inSize = outSize;
  if ((ucmd & kcmd & IOC_IN) === 0) inSize = 0;
  if ((ucmd & kcmd & IOC_OUT) === 0) outSize = 0;
  const ksize = Math.max(inSize, outSize, drvSize);
  const what = "DMA_HEAP_IOCTL_ALLOC";
  const kdata = new Uint8Array(ksize);
  kdata.set(copyStructFromUser(arg, ALLOC_LAYOUT, inSize, what));
  const d = decodeStruct(kdata, ALLOC_LAYOUT);
  if (d.fd !== 0) throw new KernelError("EINVAL", `${what}: fd ${d.fd} must be 0 on the way in`);
  if (bitsOutside(d.fd_flags!, DMA_HEAP_VALID_FD_FLAGS)) {
    throw new KernelError(
      "EINVAL",
      `${what}: fd_flags ${d.fd_flags!.toString(8)} (octal) has bits besides O_CLOEXEC and the access mode`,
    );
  }
  if (bitsOutside(d.heap_flags!, DMA_HEAP_VALID_HEAP_FLAGS)) {
    throw new KernelError("EINVAL", `${what}: heap_flags ${d.heap_flags} must be 0`);
  }
  if (!currentProcess(heap.kernel)) throw new KernelError("ESRCH", `${what}: no process is current`);
  const fd = heapBufferAlloc(heap, d.len!, d.fd_flags!, d.heap_flags!);
  writeStruct(kdata, ALLOC_LAYOUT, { ...d, fd });
  copyStructToUser(arg, ALLOC_LAYOUT, kdata, outSize, what);
  return 0;
}

/** The file operations of a heap node (`dma_heap_fops`). */
const HEAP_FOPS: FileOps = Object.freeze({ ioctl: heapIoctl });

/**
 * `dma_heap_add`: registers a heap and its node /dev/dma_heap/<name>. EINVAL for an empty name,
 * ops without `allocate`, or a name already registered; or what `registerChrdev` throws for the
 * path (EEXIST, EINVAL).
 */
export function dmaHeapAdd(kernel: Kernel, info: DmaHeapExportInfo): DmaHeap {
  const name = info?.name;
  if (typeof name !== "string" || name.length === 0) {
    throw new KernelError("EINVAL", `dma_heap_add: name ${JSON.stringify(name)} is empty`);
  }
  if (typeof info.ops?.allocate !== "function") {
    throw new KernelError("EINVAL", `dma_heap_add: heap ${name} has no allocate op`);
  }
  const st = dmaBufState(kernel);
  if (st.heaps.has(name))
    throw new KernelError("EINVAL", `dma_heap_add: Already registered heap named ${name}`);
  const heap = new DmaHeap(kernel, info);
  heap._cdev = registerChrdev(kernel, `/dev/dma_heap/${name}`, {
    ops: HEAP_FOPS,
    mode: info.mode ?? 0o444,
    privateData: heap,
  });
  st.heaps.set(name, heap);
  return heap;
}
