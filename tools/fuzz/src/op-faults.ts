/**
 * Fault injection per operation: every allocating entry point of the stack, run on the populated
 * testbed with each of its allocation calls failing in turn — page, CMA, IOVA and page-table
 * sites (swiotlb slots only exist on the S5PV210, where the pipeline campaign fails them). A call whose allocation fails must fail cleanly (ENOMEM, or the errno or sentinel its
 * interface documents) and give back everything it took on the way: the machine's state after is
 * the state before (canonically: pages come back, but the free lists' order and the pageblocks a
 * fallback stole stay as they are, as in the kernel). A call that survives the failure (a
 * fallback) is undone and must leave the same state. The pipeline campaign (`faults.ts`) shows
 * the stack's users end cleanly; this one shows each operation rolls back.
 *
 * @module
 */
import {
  DMA_HEAP_IOCTL_ALLOC,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufMapAttachment,
  dmaBufUnmapAttachment,
} from "@umm/dma-buf";
import { DMA_BIDIRECTIONAL, dmaAllocCoherent, dmaFreeCoherent } from "@umm/dma-mapping-arm";
import { DRM_IOCTL_MODE_CREATE_DUMB, DRM_IOCTL_MODE_DESTROY_DUMB } from "@umm/drm-gem";
import { IOMMU_READ, iommuMap, iommuUnmap } from "@umm/iommu-core";
import {
  FAULT_SITES,
  faultInjectClear,
  faultInjectSet,
  faultInjectStats,
  isKernelError,
  PAGE_SIZE,
  SZ_1M,
} from "@umm/kernel-core";
import { O_CLOEXEC, O_RDONLY, O_RDWR } from "@umm/kernel-process";
import { vcmDestroyBinding, vcmMakeBinding } from "@umm/mm-vcm";
import { IOCTL_PMM_ALLOC, PMM_MAGIC, PMM_MEM_GENERAL } from "@umm/pmm";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_DMABUF,
  VIDIOC_QBUF,
  VIDIOC_REQBUFS,
  v4l2Buffer,
} from "@umm/v4l2-videobuf";
import { captureState, diffStates, formatDiffs } from "./snapshot.js";
import type { Testbed } from "./testbed.js";

/** One allocating operation: `run` does it and returns how to undo it (after a success). */
export interface FaultOp {
  readonly name: string;
  /** errnos a failed allocation may surface as (ENOMEM unless the interface says otherwise) */
  readonly errnos: readonly string[];
  /** does the operation; returns its undo; throws a KernelError (or returns null: a sentinel) on failure */
  readonly run: (tb: Testbed) => (() => void) | null;
}

/** What failing one operation's allocations did. */
export interface OpFaultReport {
  readonly op: string;
  /** per site, the allocation calls the operation makes */
  readonly calls: Readonly<Record<string, number>>;
  /** runs with one call failing (one fault injected each) */
  readonly runs: number;
  readonly injected: number;
  /** faults injected, per site */
  readonly injectedBySite: Readonly<Record<string, number>>;
  /** how they ended: "ENOMEM", "survived", ... */
  readonly outcomes: Readonly<Record<string, number>>;
  /** a state not given back, a wrong errno, a non-kernel exception (must be empty) */
  readonly failures: readonly string[];
}

const heapAlloc =
  (heap: string, len: number) =>
  (tb: Testbed): (() => void) => {
    const a = tb.a;
    const fd = a.open(`/dev/dma_heap/${heap}`, O_RDONLY);
    try {
      const req = { len, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
      a.ioctl(fd, DMA_HEAP_IOCTL_ALLOC, req);
      return () => a.close(req.fd);
    } finally {
      a.close(fd);
    }
  };

/** The operations (each a call a process or driver makes on the testbed). */
export const FAULT_OPS: readonly FaultOp[] = [
  {
    name: "DMA_HEAP_IOCTL_ALLOC system, 80 pages",
    errnos: ["ENOMEM"],
    run: heapAlloc("system", 80 * PAGE_SIZE),
  },
  {
    name: "DMA_HEAP_IOCTL_ALLOC common (CMA), 4 pages",
    errnos: ["ENOMEM"],
    run: heapAlloc("common", 4 * PAGE_SIZE),
  },
  {
    name: "IOCTL_PMM_ALLOC, 4 pages",
    errnos: ["ENOMEM"],
    run: (tb) => {
      const fd = tb.b.open("/dev/pmm", O_RDWR);
      try {
        tb.b.ioctl(fd, IOCTL_PMM_ALLOC, {
          magic: PMM_MAGIC,
          size: 4 * PAGE_SIZE,
          type: PMM_MEM_GENERAL,
          flags: 0,
          alignment: 0,
        });
      } catch (e) {
        tb.b.close(fd);
        throw e;
      }
      return () => tb.b.close(fd);
    },
  },
  {
    name: "DRM_IOCTL_MODE_CREATE_DUMB, 128 × 64",
    errnos: ["ENOMEM"],
    run: (tb) => {
      const cd = { height: 64, width: 128, bpp: 32, flags: 0, handle: 0, pitch: 0, size: 0 };
      tb.a.ioctl(tb.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, cd);
      return () => tb.a.ioctl(tb.fd.card, DRM_IOCTL_MODE_DESTROY_DUMB, { handle: cd.handle });
    },
  },
  {
    name: "dma_buf_attach + map_attachment (jpeg, behind its SysMMU)",
    errnos: ["ENOMEM"],
    run: (tb) => {
      const att = dmaBufAttach(tb.dmabuf, tb.machine.devices.get("jpeg")!);
      try {
        const sgt = dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
        return () => {
          dmaBufUnmapAttachment(att, sgt, DMA_BIDIRECTIONAL);
          dmaBufDetach(tb.dmabuf, att);
        };
      } catch (e) {
        dmaBufDetach(tb.dmabuf, att);
        throw e;
      }
    },
  },
  {
    name: "VIDIOC_REQBUFS + QBUF of a dma-buf (vb2 DMABUF import on g2d)",
    errnos: ["ENOMEM", "EINVAL"],
    run: (tb) => {
      // the intruder's own queue (2 DMABUF buffers, none queued) imports a dma-buf of its own
      const b = tb.b;
      const heap = b.open("/dev/dma_heap/system", O_RDONLY);
      const req = { len: 2 * PAGE_SIZE, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
      try {
        b.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req);
      } finally {
        b.close(heap);
      }
      const qb = v4l2Buffer({
        index: 1,
        type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
        memory: V4L2_MEMORY_DMABUF,
        m: { fd: req.fd },
      });
      try {
        b.ioctl(tb.bOwnVideo, VIDIOC_QBUF, qb);
      } catch (e) {
        b.close(req.fd);
        throw e;
      }
      return () => {
        // REQBUFS again: the queue lets the imported dma-buf go and has 2 empty buffers
        b.ioctl(tb.bOwnVideo, VIDIOC_REQBUFS, {
          count: 2,
          type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
          memory: V4L2_MEMORY_DMABUF,
          capabilities: 0,
          flags: 0,
        });
        b.close(req.fd);
      };
    },
  },
  {
    name: "dma_alloc_coherent (rotator), 64 KiB",
    errnos: ["ENOMEM"],
    run: (tb) => {
      const dev = tb.coherent.dev;
      const r = dmaAllocCoherent(dev, 16 * PAGE_SIZE);
      if (!r) return null;
      return () => dmaFreeCoherent(dev, 16 * PAGE_SIZE, r.cpuAddr, r.dmaAddr);
    },
  },
  {
    name: "iommu_map of 2 MiB + 8 KiB (mdma's domain)",
    errnos: ["ENOMEM"],
    run: (tb) => {
      const d = tb.machine.iommuMapping("mdma")!.domain;
      const iova = 0x5e000000;
      iommuMap(d, iova, 0x40000000, 2 * SZ_1M + 2 * PAGE_SIZE, IOMMU_READ);
      return () => void iommuUnmap(d, iova, 2 * SZ_1M + 2 * PAGE_SIZE);
    },
  },
  {
    name: "vcm_make_binding (JPEG's S5P context), 1 MiB + 16 KiB",
    errnos: ["ENOMEM"],
    run: (tb) => {
      const res = vcmMakeBinding(tb.vcm.ctx, SZ_1M + 4 * PAGE_SIZE);
      return () => vcmDestroyBinding(res);
    },
  },
];

/** Runs every operation with each of its allocation calls failing (see the module comment). */
export function runOpFaults(tb: Testbed, ops: readonly FaultOp[] = FAULT_OPS): OpFaultReport[] {
  const k = tb.machine.kernel;
  const snap = () => captureState(tb.machine, { mode: "canonical", extra: tb.extra });
  const basePfn = tb.machine.mm.frames.basePfn;
  const reports: OpFaultReport[] = [];
  for (const op of ops) {
    const failures: string[] = [];
    const outcomes = new Map<string, number>();
    // a clean run, counting every site's calls
    for (const s of FAULT_SITES) faultInjectSet(k, s);
    const before = snap();
    const undo = op.run(tb);
    const calls = Object.fromEntries(faultInjectStats(k).map((s) => [s.site, s.calls]));
    faultInjectClear(k);
    if (!undo) throw new Error(`${op.name}: fails without a fault`);
    undo();
    const back = formatDiffs(diffStates(before, snap(), basePfn));
    if (back) throw new Error(`${op.name}: its undo does not restore the state:\n${back}`);
    let runs = 0;
    let injected = 0;
    const bySite: Record<string, number> = {};
    for (const site of FAULT_SITES) {
      for (let nth = 1; nth <= (calls[site] ?? 0); nth++) {
        const tag = `${op.name}: ${site} call ${nth} failing`;
        const pre = snap();
        faultInjectSet(k, site, { failNth: nth });
        let outcome: string;
        let u: (() => void) | null = null;
        try {
          u = op.run(tb);
          outcome = u ? "survived" : "sentinel";
        } catch (e) {
          if (!isKernelError(e)) {
            outcome = `threw ${(e as Error).name}`;
            failures.push(`${tag}: ${(e as Error).name}: ${(e as Error).message}`);
          } else {
            outcome = e.errno;
            if (!op.errnos.includes(e.errno)) failures.push(`${tag}: ${e.errno} (${e.message})`);
          }
        }
        const hit = faultInjectStats(k).find((s) => s.site === site)?.injected ?? 0;
        injected += hit;
        bySite[site] = (bySite[site] ?? 0) + hit;
        // the clean run made something that stays (an lv2 table, a slab page): this time the
        // site was not called that often
        if (hit === 0) outcome = "not reached";
        faultInjectClear(k);
        runs++;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (u) u();
        const d = formatDiffs(diffStates(pre, snap(), basePfn));
        if (d) failures.push(`${tag} (${outcome}): the state did not come back:\n${d}`);
      }
    }
    reports.push({
      op: op.name,
      calls,
      runs,
      injected,
      injectedBySite: bySite,
      outcomes: Object.fromEntries(outcomes),
      failures,
    });
  }
  return reports;
}
