// The invariant the seed asks for: every byte written by one side (a process through its mapping,
// a device by DMA) is read back by the other after the right DMA_BUF_IOCTL_SYNC, whatever the
// heap, the device's path to memory (direct or SysMMU) and the order of accesses — and the
// coherency checker finds nothing to report.
import { cpuOf } from "@umm/arch-arm";
import { PAGE_SIZE } from "@umm/kernel-core";
import { O_RDWR } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
} from "../src/index.js";
import {
  boot,
  cmaUsed,
  expectNoBuffers,
  IMP_IMPORT,
  IMP_READ,
  IMP_WRITE,
  importer,
  pattern,
  proc,
} from "./helpers.js";

const LEN = 24 * PAGE_SIZE + 100;
const PAGES = Math.ceil(LEN / PAGE_SIZE);

const op = fc.record({
  cpu: fc.boolean(),
  offset: fc.integer({ min: 0, max: LEN - 1 }),
  len: fc.integer({ min: 1, max: 3 * PAGE_SIZE }),
  seed: fc.integer({ min: 1, max: 1 << 20 }),
});

describe("CPU and device see each other's bytes after SYNC", () => {
  it("holds for both heaps and both device paths, with no coherency hazard", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("system", "default_cma_region"),
        fc.constantFrom<"direct" | "sysmmu">("direct", "sysmmu"),
        fc.array(op, { minLength: 1, maxLength: 12 }),
        (heap, kind, ops) => {
          const r = boot();
          const used0 = cmaUsed(r);
          const p = proc(r, "app");
          const h = p.open(`/dev/dma_heap/${heap}`, O_RDWR);
          const req = { len: LEN, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
          p.ioctl(h, DMA_HEAP_IOCTL_ALLOC, req);
          const fd = req.fd;
          const imp = importer(r, "dev", kind);
          const ifd = p.open(imp.path, O_RDWR);
          p.ioctl(ifd, IMP_IMPORT, { fd, dir: 0 });
          const va = p.mmap({
            fd,
            length: PAGES * PAGE_SIZE,
            prot: PROT_READ | PROT_WRITE,
            flags: MAP_SHARED,
          });
          const model = new Uint8Array(LEN);
          const sync = (flags: number) => p.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags });
          for (const o of ops) {
            const n = Math.min(o.len, LEN - o.offset);
            const bytes = pattern(n, o.seed);
            if (o.cpu) {
              sync(DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
              p.memWrite(va + o.offset, bytes);
              sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
            } else {
              p.ioctl(ifd, IMP_WRITE, { offset: o.offset, data: bytes });
            }
            model.set(bytes, o.offset);
            // the device's view
            const rd = { offset: 0, len: LEN, data: new Uint8Array(0) };
            p.ioctl(ifd, IMP_READ, rd);
            expect(Buffer.compare(rd.data, model)).toBe(0);
            // the CPU's view
            sync(DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
            expect(Buffer.compare(p.memRead(va, LEN), model)).toBe(0);
            sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
          }
          expect(cpuOf(r.kernel).checker.total).toBe(0);
          p.exit(0);
          expectNoBuffers(r);
          expect(cmaUsed(r)).toBe(used0);
        },
      ),
      { numRuns: 24, seed: 2011 },
    );
  });
});
