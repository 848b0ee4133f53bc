/**
 * One run of the demo: boot the board, start the compositor and the camera application, drive
 * virtual time until both have exited, take the display's last frame, shut the machine down and
 * keep what the reports need: the trace, the counters, the shutdown report.
 *
 * @module
 */
import { drmDebugRmfbKeepsScanout, drmDevices } from "@umm/drm-gem";
import { isKernelError, type TraceRecord } from "@umm/kernel-core";
import {
  type BoardDescription,
  bootBoard,
  type FimdFrame,
  type Machine,
  type MachineStats,
  type ShutdownReport,
} from "@umm/soc";
import type { DemoOptions } from "./options.js";
import { DemoUsageError } from "./options.js";
import { cameraProgram, compositorProgram, type PipelineConfig, type PipelineHooks } from "./pipeline.js";

/** Trace ring size: enough for a long run (a 1080p frame is a few hundred events). */
export const DEMO_TRACE_CAPACITY = 1 << 22;

/** Scanout buffers the compositor cycles through (one shown, one drawn, one being filled). */
export const DEMO_SCANOUT_BUFFERS = 3;

/** What a run counts from trace events as they happen. */
export interface DemoCounts {
  /** bytes moved by device DMA (`dma_xfer`), by device */
  readonly dmaBytesByDevice: Map<string, number>;
  /** CPU copies (`cpu_copy`) and their bytes */
  cpuCopies: number;
  cpuCopyBytes: number;
  /** stale TLB translations the sanitizer reported (`sysmmu_stale_tlb`) */
  staleTlb: number;
}

/** Where the run reports progress. */
export interface DemoRunHooks {
  /** frame `n` (0-based) of `total` is on screen */
  readonly frameShown?: (n: number, total: number) => void;
}

/** What one run produced. */
export interface DemoRun {
  readonly opts: DemoOptions;
  /** the board as booted */
  readonly board: BoardDescription;
  /** the cache model it ran with */
  readonly cache: string;
  /** the display controller's board name (the FIMD) */
  readonly display: string;
  /** frames shown, and the virtual ns each was shown at */
  readonly shownAt: readonly number[];
  /** counted live from the trace events (exact even if the ring dropped records) */
  readonly counts: DemoCounts;
  /** counters when the last frame was on screen (CMA in use then) and after the programs exited */
  readonly statsAtLastFrame: MachineStats | null;
  readonly stats: MachineStats;
  /** the display's last frame, or null */
  readonly lastFrame: FimdFrame | null;
  /** what shutdown found still held */
  readonly shutdown: ShutdownReport;
  /** every trace record, in order */
  readonly records: readonly TraceRecord[];
  /** records lost to a full ring (0 unless the run outgrew `DEMO_TRACE_CAPACITY`) */
  readonly dropped: number;
  /** virtual ns at the end of the run (after shutdown) */
  readonly tEnd: number;
}

/** The board device the FIMD display driver binds (its compatible ends in "-fimd"). */
export function displayDeviceOf(board: BoardDescription): string {
  const d = board.devices.find((x) => x.compatible.some((c) => /-fimd$/.test(c)));
  if (!d) throw new DemoUsageError(`--board ${board.name}: the board has no FIMD display controller`);
  return d.name;
}

/** Checks that `opts.bug` can happen on `opts.board` (DemoUsageError otherwise). */
export function checkBugFits(opts: DemoOptions): void {
  if (opts.bug === null) return;
  const display = displayDeviceOf(opts.board);
  const iommus = opts.board.devices.find((d) => d.name === display)!.iommus;
  if ((opts.bug === "no-tlb-flush" || opts.bug === "use-after-free") && iommus.length === 0) {
    throw new DemoUsageError(
      `--bug ${opts.bug} needs a board whose display sits behind a System MMU (${opts.board.name}'s ${display} has none)`,
    );
  }
  if (opts.bug === "no-tlb-flush" && opts.frames < DEMO_SCANOUT_BUFFERS + 1) {
    throw new DemoUsageError(
      `--bug no-tlb-flush needs --frames ${DEMO_SCANOUT_BUFFERS + 1} or more (a scanout buffer must come round again)`,
    );
  }
}

/**
 * The bugs, planted where they live: `missing-sync` in the compositor (its last HUD is drawn
 * without DMA_BUF_IOCTL_SYNC END), `no-tlb-flush` in the exynos-iommu driver (the display's
 * SysMMU skips the TLB invalidation of the unmap just before the last frame re-uses that D.V),
 * `use-after-free` in the compositor (it frees the buffer on screen) and the DRM core (RMFB
 * neither turns the plane off nor keeps its reference, so the display fetches freed memory).
 */
function plantBug(m: Machine, opts: DemoOptions, display: string): PipelineHooks {
  const last = opts.frames - 1;
  switch (opts.bug) {
    case "missing-sync":
      return { syncEnd: (n) => n !== last };
    case "no-tlb-flush":
      return {
        beforeScale: (n) => {
          if (n === last) m.sysmmuDebug(display, { skipTlbInvalidations: 1 });
        },
      };
    case "use-after-free": {
      const drm = drmDevices(m.kernel).find((d) => d.dev === m.devices.get(display));
      if (drm) drmDebugRmfbKeepsScanout(drm, 1);
      return { freeOnScreen: () => true };
    }
    default:
      return {};
  }
}

/**
 * Runs the demo once. Throws the pipeline's `KernelError` when a program fails (the machine is
 * shut down first) and `DemoUsageError` when the options do not fit the board.
 */
export async function runDemo(opts: DemoOptions, hooks: DemoRunHooks = {}): Promise<DemoRun> {
  const display = displayDeviceOf(opts.board);
  checkBugFits(opts);
  const m = bootBoard(opts.board, {
    seed: opts.seed,
    ...(opts.cache === null ? {} : { cache: opts.cache }),
    dmaDebug: true,
    trace: { capacity: DEMO_TRACE_CAPACITY },
  });
  const shownAt: number[] = [];
  let statsAtLastFrame: MachineStats | null = null;
  const counts: DemoCounts = { dmaBytesByDevice: new Map(), cpuCopies: 0, cpuCopyBytes: 0, staleTlb: 0 };
  const unsubscribe = [
    m.trace.on("dma_xfer", (r) => {
      const dev = r.data.device;
      counts.dmaBytesByDevice.set(dev, (counts.dmaBytesByDevice.get(dev) ?? 0) + r.data.size);
    }),
    m.trace.on("cpu_copy", (r) => {
      counts.cpuCopies++;
      counts.cpuCopyBytes += r.data.size;
    }),
    m.trace.on("sysmmu_stale_tlb", () => {
      counts.staleTlb++;
    }),
  ];
  try {
    m.sysmmuDebug(null, { tlbSanitizer: true });
    const bug = plantBug(m, opts, display);
    const paths = m.devPaths;
    const card = paths.find((p) => p.startsWith("/dev/dri/card"));
    if (!card) throw new DemoUsageError(`--board ${opts.board.name}: no DRM card was registered`);
    const cfg: PipelineConfig = {
      width: opts.width,
      height: opts.height,
      frames: opts.frames,
      displayBuffers: DEMO_SCANOUT_BUFFERS,
      videoNodes: paths.filter((p) => p.startsWith("/dev/video")),
      cardNode: card,
      heapNode: "/dev/dma_heap/default_cma_region",
    };
    const pipelineHooks: PipelineHooks = {
      ...bug,
      shown: (f) => {
        shownAt.push(m.kernel.clock.now());
        if (f.n === opts.frames - 1) statsAtLastFrame = m.stats();
        hooks.frameShown?.(f.n, opts.frames);
      },
    };
    const compositor = compositorProgram(m.spawn("compositor"), cfg, pipelineHooks);
    const camera = cameraProgram(m.spawn("camera"), cfg, pipelineHooks);
    try {
      await m.kernel.clock.runUntil(Promise.all([compositor, camera]));
    } catch (e) {
      if (isKernelError(e) && e.errno === "EINVAL" && /scales (up|down)/.test(e.message)) {
        throw new DemoUsageError(`--size ${opts.width}x${opts.height}: the scaler refuses it (${e.message})`);
      }
      throw e;
    }
    await m.kernel.clock.runUntilIdle();
    const lastFrame = m.displayLastFrame(display);
    const stats = m.stats();
    const shutdown = m.shutdown();
    for (const u of unsubscribe) u();
    return {
      opts,
      board: m.board,
      cache: opts.cache ?? m.board.cache.mode,
      display,
      shownAt,
      counts,
      statsAtLastFrame,
      stats,
      lastFrame,
      shutdown,
      records: m.recorder!.records(),
      dropped: m.recorder!.dropped,
      tEnd: m.kernel.clock.now(),
    };
  } finally {
    if (!m.isDown) m.shutdown();
  }
}
