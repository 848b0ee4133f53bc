/**
 * A snapshot of every allocator and reference count of a booted machine, and the comparison of
 * two: what the bad-input catalogue uses to prove that a rejected call changed nothing, and what
 * the fuzzers use to prove that a sequence, once everything it made is closed, left the machine
 * as it found it.
 *
 * Two modes. `exact` copies every byte of state a rejected call must not touch — page frames
 * (flags, refcounts, mapcounts, pincounts, orders, owner tags, pageblock types, buddy links), the
 * buddy free lists, the linear map's memory types, every SysMMU page table word — plus the
 * subsystems' own bookkeeping. `canonical` is for "back to where it was" after legitimate work:
 * free lists as sets of blocks (their LIFO order changes), owner tags only of pages in use (a
 * freed page keeps its last owner's tag, as in the kernel), and no allocator cursors.
 *
 * @module
 */
import { dmaBufStats } from "@umm/dma-buf";
import { swiotlbStats } from "@umm/dma-mapping-arm";
import { drmDevices } from "@umm/drm-gem";
import { openFiles, processes } from "@umm/kernel-process";
import { cmaRegions } from "@umm/mm-cma";
import { MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_TYPES, NR_PAGE_ORDERS, PG_buddy } from "@umm/mm-core";
import { vcmLeaks } from "@umm/mm-vcm";
import { exynosIommuState } from "@umm/plat-s5p-sysmmu";
import { pmmInfo, pmmItems, upbufLive } from "@umm/pmm";
import type { Machine } from "@umm/soc";
import { umpBackendInfo, umpLiveHandles } from "@umm/ump";
import { umpRefAudit } from "@umm/ump/testing";
import type { Vb2Queue } from "@umm/v4l2-videobuf";
import { domainTableWords, walkDomain } from "./pagetable.js";

/** One captured state: named parts, each a JSON text or raw bytes. */
export interface StateSnapshot {
  readonly mode: "exact" | "canonical";
  readonly parts: ReadonlyMap<string, string | Uint8Array>;
}

/** Options of `captureState`. */
export interface CaptureOpts {
  /** "exact" (default): every byte; "canonical": equal after legitimate work that was undone */
  readonly mode?: "exact" | "canonical";
  /** extra parts (a harness's own objects: V4L2 queues, ...) */
  readonly extra?: () => Record<string, unknown>;
}

const bytesOf = (a: ArrayBufferView): Uint8Array =>
  new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** Every free buddy block as (pfn, order, migrate type), sorted by pfn — from the free lists. */
export function freeBlocks(machine: Machine): Float64Array {
  const f = machine.mm.frames;
  const out: number[] = [];
  for (const z of machine.mm.buddy.zones) {
    for (let o = 0; o < NR_PAGE_ORDERS; o++) {
      for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
        let i = z.heads[o * MIGRATE_TYPES + mt]!;
        let guard = 0;
        while (i >= 0) {
          out.push(f.basePfn + i, o, mt);
          i = f.next[i]!;
          if (++guard > f.count) throw new Error(`buddy free list ${z.name}/${o}/${mt} loops`);
        }
      }
    }
  }
  const triples: [number, number, number][] = [];
  for (let k = 0; k < out.length; k += 3) triples.push([out[k]!, out[k + 1]!, out[k + 2]!]);
  triples.sort((a, b) => a[0] - b[0]);
  return Float64Array.from(triples.flat());
}

/** Captures the state of `machine` (see the module comment for what each mode holds). */
export function captureState(machine: Machine, opts: CaptureOpts = {}): StateSnapshot {
  const mode = opts.mode ?? "exact";
  const exact = mode === "exact";
  const k = machine.kernel;
  const mm = machine.mm;
  const f = mm.frames;
  const parts = new Map<string, string | Uint8Array>();
  const json = (name: string, v: unknown) => parts.set(name, JSON.stringify(v));

  // the page allocator
  // Canonical: the kernel may steal a pageblock for another migrate type for good when it falls
  // back (steal_suitable_fallback), so only CMA and ISOLATE types must come back exactly.
  const mtCanon = (mt: number) => (exact || mt === MIGRATE_CMA || mt === MIGRATE_ISOLATE ? mt : 0);
  json(
    "buddy.zones",
    mm.buddy.zones.map((z) => ({
      zone: z.name,
      free: z.freePages,
      managed: z.managedPages,
      nrFree: exact
        ? [...z.nrFree]
        : Array.from({ length: NR_PAGE_ORDERS }, (_, o) => {
            let n = 0;
            for (let mt = 0; mt < MIGRATE_TYPES; mt++) n += z.nrFree[o * MIGRATE_TYPES + mt]!;
            return n;
          }),
      byType: exact ? [...z.freeByType] : [z.freeByType[MIGRATE_CMA], z.freeByType[MIGRATE_ISOLATE]],
      ...(exact ? { heads: [...z.heads] } : {}),
    })),
  );
  const blocks = freeBlocks(machine);
  if (!exact) for (let i = 2; i < blocks.length; i += 3) blocks[i] = mtCanon(blocks[i]!);
  parts.set("buddy.blocks", bytesOf(blocks));
  parts.set("frames.refcount", bytesOf(f.refcount));
  parts.set("frames.mapcount", bytesOf(f.mapcount));
  parts.set("frames.pincount", bytesOf(f.pincount));
  parts.set("frames.pageblockMt", bytesOf(exact ? f.pageblockMt : f.pageblockMt.map(mtCanon)));
  if (exact) {
    parts.set("frames.flags", bytesOf(f.flags));
    parts.set("frames.order", bytesOf(f.order));
    parts.set("frames.owner", bytesOf(f.owner));
    parts.set("frames.next", bytesOf(f.next));
    parts.set("frames.prev", bytesOf(f.prev));
  } else {
    // a free page keeps its last order and owner; a page in use must be back to what it was
    const flags = new Uint32Array(f.flags);
    const owner = new Uint32Array(f.count);
    for (let i = 0; i < f.count; i++) {
      if (flags[i]! & PG_buddy) flags[i] = PG_buddy;
      else owner[i] = f.owner[i]!;
    }
    parts.set("frames.flags", bytesOf(flags));
    parts.set("frames.owner", bytesOf(owner));
  }
  parts.set("kspace.linearMt", bytesOf(mm.kspace.linearMt));
  json(
    "kspace.vmas",
    mm.kspace.vmas.map((v) => [v.start, v.end, v.memtypeName, v.name]),
  );

  // CMA regions and areas, 2010 and merged, PMM pools included
  json(
    "cma",
    cmaRegions(k).map((r) => ({
      label: r.label,
      base: r.base,
      free: r.free,
      users: r.users,
      available: r.availableCount,
      chunks: r.chunks().map((c) => [c.start, c.size, c.owner]),
    })),
  );

  // IOVA: each master's ARM IOMMU mapping; SysMMU domains and page tables
  const iova: unknown[] = [];
  for (const name of [...machine.devices.keys()].sort()) {
    const m = machine.iommuMapping(name);
    if (!m) continue;
    iova.push([name, m.base, m.usedPages, m.liveRanges, m.nrBitmaps, m.refcount, m.devices.length]);
    // exynos-iommu keeps an lv2 table until its domain goes: canonically, what is mapped counts
    if (exact) parts.set(`pgtable.${name}`, bytesOf(domainTableWords(machine, m.domain)));
    else json(`pgtable.${name}`, [...walkDomain(machine, m.domain)]);
  }
  json("iova", iova);
  const ex = exynosIommuState(k);
  json(
    "sysmmu",
    ex
      ? { domains: ex.domains.size, ...(exact ? { lv2Pages: ex.lv2.pages, lv2Objects: ex.lv2.objects } : {}) }
      : null,
  );
  const sw = swiotlbStats(k);
  // the high-water mark only ever grows: not state a call gives back
  json("swiotlb", exact ? sw : { ...sw, io_tlb_used_hiwater: 0 });

  // processes, files, dma-bufs
  json(
    "processes",
    processes(k).map((p) => ({
      pid: p.pid,
      state: p.state,
      fds: p.fds.fds().map((fd) => [fd, p.fds.get(fd)?.path]),
      vmas: p.space.vmas.map((v) => [v.start, v.end, v.prot, v.name]),
    })),
  );
  json(
    "files",
    openFiles(k).map((file) => [file.path, file.refcount, file.inflight, file.flags]),
  );
  json(
    "dmabufs",
    dmaBufStats(k).map((b) => [b.ino, b.expName, b.size, b.count, b.attachments]),
  );

  // DRM: the master, every file's GEM handles and framebuffers, the objects, the CRTC
  json(
    "drm",
    drmDevices(k).map((d) => ({
      dev: d.name,
      master: d._master?.pid ?? null,
      files: [...d._files].map((f) => ({
        pid: f.pid,
        handles: [...f._handles].map(([h, o]) => [h, o.name]),
        fbs: [...f._fbs].map((fb) => fb.id).sort((x, y) => x - y),
        events: f._events.length,
        pending: f._pending.size,
        prime: f._prime.byHandle.size,
      })),
      objects: [...d._objects].map((o) => [o.name, o.size, o.handleCount, o.refcount, o._vmaNode !== null]),
      fbs: [...d._liveFbs].map((fb) => [fb.id, fb.refcount, fb._owner?.pid ?? null]),
      crtc: { active: d.crtc.state.active, fb: d.crtc.state.fb?.id ?? null, pending: d.crtc.commitPending },
    })),
  );

  // UMP, PMM, VCM
  if (machine.ump) {
    json(
      "ump",
      umpLiveHandles(k).map((h) => [
        h.secureId,
        h.size,
        h.refCount,
        h.kernelRefs,
        h.blocks.map((b) => b.addr),
      ]),
    );
    json("ump.audit", umpRefAudit(k));
    const info = { ...umpBackendInfo(k) } as Record<string, unknown>;
    json("ump.backend", info);
  }
  try {
    json("pmm", { info: pmmInfo(k), items: pmmItems(k), upbufs: upbufLive(k).length });
  } catch {
    json("pmm", null);
  }
  const v = vcmLeaks(k);
  json("vcm", {
    contexts: v.contexts.length,
    reservations: v.reservations.map((r) => [r.start, r.resSize, r.boundSize]),
    phys: v.phys.map((p) => p.size),
  });
  if (opts.extra) json("extra", opts.extra());
  return { mode, parts };
}

/**
 * A videobuf2 queue as a snapshot part (for `CaptureOpts.extra`): owner, memory, streaming, each
 * buffer's state and planes (the dma-buf each imported), the queued and done lists. Canonically
 * (`exact` false) without `waitingForBuffers`, which REQBUFS sets and releasing the queue leaves.
 */
export function vb2QueueState(q: Vb2Queue, exact = true): unknown {
  return {
    owner: q.owner !== null,
    memory: q.memory,
    streaming: q.streaming,
    error: q.error,
    ...(exact ? { waitingForBuffers: q.waitingForBuffers } : {}),
    queuedCount: q.queuedCount,
    bufs: q.bufs.map((vb) =>
      vb
        ? {
            index: vb.index,
            state: vb.state,
            prepared: vb.prepared,
            planes: vb.planes.slice(0, vb.numPlanes).map((p) => ({
              mem: p.memPriv !== null,
              dbuf: p.dbuf?.ino ?? null,
              mapped: p.dbufMapped,
              length: p.length,
              bytesused: p.bytesused,
              m: p.m,
            })),
          }
        : null,
    ),
    queued: q.queuedList.map((vb) => vb.index),
    done: q.doneList.map((vb) => vb.index),
  };
}

/** One difference between two snapshots. */
export interface StateDiff {
  /** the part ("frames.refcount", "cma", ...) */
  readonly part: string;
  /** what differs, in words */
  readonly detail: string;
}

function firstDiffIndex(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const ELEMENT_BYTES: Record<string, number> = {
  "frames.refcount": 4,
  "frames.mapcount": 4,
  "frames.pincount": 4,
  "frames.flags": 4,
  "frames.owner": 4,
  "frames.next": 4,
  "frames.prev": 4,
  "buddy.blocks": 24,
};

function describeArrayDiff(part: string, a: Uint8Array, b: Uint8Array, basePfn: number): string {
  const at = firstDiffIndex(a, b);
  if (a.length !== b.length) return `length ${a.length} → ${b.length} bytes (first difference at byte ${at})`;
  const width = ELEMENT_BYTES[part] ?? (part.startsWith("pgtable.") ? 4 : 1);
  const idx = Math.floor(at / width);
  let count = 0;
  for (let i = 0; i < a.length; i += width) {
    for (let j = 0; j < width; j++) {
      if (a[i + j] !== b[i + j]) {
        count++;
        break;
      }
    }
  }
  const read = (x: Uint8Array) => {
    const dv = new DataView(x.buffer, x.byteOffset + idx * width, width);
    if (width === 24)
      return `(pfn 0x${dv.getFloat64(0, true).toString(16)}, order ${dv.getFloat64(8, true)}, mt ${dv.getFloat64(16, true)})`;
    return width === 4 ? dv.getInt32(0, true) : dv.getUint8(0);
  };
  const where = part.startsWith("frames.") ? `pfn 0x${(basePfn + idx).toString(16)}` : `element ${idx}`;
  return `${count} element(s) differ; first at ${where}: ${read(a)} → ${read(b)}`;
}

function describeJsonDiff(a: string, b: string): string {
  const at = firstDiffIndex(new TextEncoder().encode(a), new TextEncoder().encode(b));
  const from = Math.max(0, at - 60);
  return `…${a.slice(from, at + 80)}… → …${b.slice(from, at + 80)}…`;
}

/**
 * Where `after` differs from `before` (empty when they are equal). `basePfn` names page frames in
 * the details.
 */
export function diffStates(before: StateSnapshot, after: StateSnapshot, basePfn = 0): StateDiff[] {
  const out: StateDiff[] = [];
  const names = new Set([...before.parts.keys(), ...after.parts.keys()]);
  for (const part of names) {
    const a = before.parts.get(part);
    const b = after.parts.get(part);
    if (a === undefined || b === undefined) {
      out.push({ part, detail: a === undefined ? "appeared" : "disappeared" });
      continue;
    }
    if (typeof a === "string" || typeof b === "string") {
      if (a !== b) out.push({ part, detail: describeJsonDiff(String(a), String(b)) });
      continue;
    }
    if (a.length !== b.length || Buffer.compare(a, b) !== 0) {
      out.push({ part, detail: describeArrayDiff(part, a, b, basePfn) });
    }
  }
  return out;
}

/** `diffStates` as lines ("part: detail"). */
export function formatDiffs(diffs: readonly StateDiff[]): string {
  return diffs.map((d) => `${d.part}: ${d.detail}`).join("\n");
}
