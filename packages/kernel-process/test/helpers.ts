import {
  createKernel,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  SZ_1M,
  type TraceEventName,
  TraceRecorder,
  WaitQueue,
} from "@umm/kernel-core";
import { GFP_KERNEL, type Mm, mmInit } from "@umm/mm-core";
import {
  _IO,
  _IOR,
  _IOW,
  type Chrdev,
  type File,
  type FileOps,
  POLLIN,
  POLLOUT,
  registerChrdev,
} from "../src/index.js";

/** A booted kernel with `size` bytes of DRAM at 0x40000000. */
export function boot(opts: { size?: number; seed?: number } = {}): { kernel: Kernel; mm: Mm } {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: opts.size ?? 16 * SZ_1M }] });
  mm.memblockFreeAll();
  return { kernel, mm };
}

/** Records of `names` from now on. */
export function record(kernel: Kernel, names?: TraceEventName[]): TraceRecorder {
  return new TraceRecorder(kernel.trace, names ? { events: names } : {});
}

/** The test device's ioctls: GET reads `value` back, SET writes it, WAIT blocks 1 µs. */
export const TEST_GET = _IOR("t", 1, 8);
export const TEST_SET = _IOW("t", 2, 8);
export const TEST_WAIT = _IO("t", 3);

/** A scratch device: a buffer of `pages` pages that read, write and mmap reach. */
export interface TestDev {
  readonly cdev: Chrdev;
  readonly pfn: number;
  readonly pages: number;
  readonly wq: WaitQueue;
  /** what the driver saw */
  readonly log: {
    opens: number;
    releases: File[];
    vmaOpens: number;
    vmaCloses: number;
    ioctls: number[];
  };
  /** poll reports POLLIN while true */
  ready: boolean;
  /** the value GET/SET work on */
  value: number;
  /** when set, open throws this */
  failOpen: KernelError | null;
}

/** Registers a test device at `path` (default /dev/test). */
export function testDev(
  kernel: Kernel,
  mm: Mm,
  opts: { path?: string; mode?: number; uid?: number; gid?: number; pages?: number; noMmap?: boolean } = {},
): TestDev {
  const pages = opts.pages ?? 2;
  const order = Math.ceil(Math.log2(pages));
  const pfn = mm.buddy.allocPages(order, GFP_KERNEL, { tag: "testdev" })!;
  const wq = new WaitQueue(kernel.clock);
  const size = pages * PAGE_SIZE;
  const dev: TestDev = {
    cdev: undefined as unknown as Chrdev,
    pfn,
    pages,
    wq,
    log: { opens: 0, releases: [], vmaOpens: 0, vmaCloses: 0, ioctls: [] },
    ready: false,
    value: 0,
    failOpen: null,
  };
  const ops: FileOps = {
    open: () => {
      if (dev.failOpen) throw dev.failOpen;
      dev.log.opens++;
    },
    release: (file) => {
      dev.log.releases.push(file);
    },
    read: (file, len) => {
      const n = Math.max(0, Math.min(len, size - file.pos));
      const out = new Uint8Array(n);
      mm.phys.read(pfn * PAGE_SIZE + file.pos, out);
      file.pos += n;
      return out;
    },
    write: (file, data) => {
      const n = Math.max(0, Math.min(data.length, size - file.pos));
      mm.phys.write(pfn * PAGE_SIZE + file.pos, data, 0, n);
      file.pos += n;
      return n;
    },
    llseek: (file, offset, whence) => {
      const base = whence === 0 ? 0 : whence === 1 ? file.pos : size;
      const p = base + offset;
      if (p < 0) throw new KernelError("EINVAL", `position ${p}`);
      file.pos = p;
      return p;
    },
    ioctl: (_file, cmd, arg) => {
      dev.log.ioctls.push(cmd);
      switch (cmd) {
        case TEST_GET:
          (arg as { value: number }).value = dev.value;
          return 0;
        case TEST_SET:
          dev.value = (arg as { value: number }).value;
          return 0;
        case TEST_WAIT:
          return kernel.clock.sleep(1000).then(() => 7);
        default:
          throw new KernelError("ENOTTY", `unknown ioctl ${cmd}`);
      }
    },
    poll: (_file, pt) => {
      pt?.wait(wq);
      return (dev.ready ? POLLIN : 0) | POLLOUT;
    },
  };
  if (!opts.noMmap) {
    (ops as { mmap?: FileOps["mmap"] }).mmap = (_file, ctx) => {
      const first = ctx.pgoff;
      const n = ctx.length / PAGE_SIZE;
      if (first + n > pages) throw new KernelError("EINVAL", `pages [${first}, +${n}) beyond ${pages}`);
      ctx.setPages(Array.from({ length: n }, (_, i) => pfn + first + i));
      ctx.setOps({
        open: () => {
          dev.log.vmaOpens++;
        },
        close: () => {
          dev.log.vmaCloses++;
        },
      });
    };
  }
  (dev as { cdev: Chrdev }).cdev = registerChrdev(kernel, opts.path ?? "/dev/test", {
    ops,
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    privateData: dev,
  });
  return dev;
}

/** Bytes 0, 1, 2, ... (mod 256), offset by `seed`. */
export function bytes(len: number, seed = 0): Uint8Array {
  const a = new Uint8Array(len);
  for (let i = 0; i < len; i++) a[i] = (i + seed) & 0xff;
  return a;
}
