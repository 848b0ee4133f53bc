/**
 * The invariants, all checked against the machine after every step of a fuzzed sequence
 * (`checkStep`), and the global ones whenever a whole machine must be consistent:
 *
 * 1. **No two live allocations overlap** — the model's live memory is pairwise disjoint, no page
 *    of it is on a buddy free list, and every CMA region's chunks are disjoint and inside it.
 * 2. **Every page is in exactly one owner's hands** (`checkPageOwnership`) — walking the buddy
 *    free lists, each free page appears once, with no reference, mapping or pin; every other RAM
 *    page is either reserved or has a reference; the count matches `nrFreePages`. After a step
 *    only the chunks of frames whose state changed are read again.
 * 3. **Refcounts match live references** — each buffer's file has exactly the fds, mappings,
 *    in-flight messages and attachments the model knows; each UMP buffer exactly its handles and
 *    exports; each dma-buf is attached to exactly the model's devices; nothing the model dropped
 *    is still alive, nothing it holds is gone; each process's fd table and mappings are exactly
 *    the model's; the capture queue's owner, buffers, states and imported dma-bufs are the model's.
 * 4. **A device never reaches memory its domain does not map** — each fuzzed master's page
 *    tables, read from DRAM as the SysMMU walks them, map exactly the pages of its live
 *    attachments (the capture master: of its queue's buffers), each to the right frame, and its
 *    IOVA allocator holds exactly those ranges.
 * 5. **Every byte read is the last byte legitimately written** — checked by the read commands
 *    themselves; here: no coherency hazard was ever reported and every mapping of a process
 *    translates to the memory the model says it maps.
 *
 * Each check throws an `InvariantError` naming what broke.
 *
 * @module
 */
import { dmaBufStats } from "@umm/dma-buf";
import { PAGE_SIZE } from "@umm/kernel-core";
import { cmaRegions } from "@umm/mm-cma";
import { MIGRATE_TYPES, NR_PAGE_ORDERS, PG_buddy, PG_hole, PG_reserved } from "@umm/mm-core";
import type { Machine } from "@umm/soc";
import { umpLiveHandles } from "@umm/ump";
import { Vb2BufferState } from "@umm/v4l2-videobuf";
import type { Model } from "./model.js";
import { walkDomain } from "./pagetable.js";
import { DOMAIN_DEVICES, type Real } from "./session.js";

/** An invariant that does not hold. */
export class InvariantError extends Error {
  constructor(invariant: string, detail: string) {
    super(`invariant "${invariant}" violated: ${detail}`);
    this.name = "InvariantError";
  }
}

function fail(invariant: string, detail: string): never {
  throw new InvariantError(invariant, detail);
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Frames per chunk of the incremental ownership pass. */
const CHUNK = 4096;

/**
 * What the last ownership check of a machine saw: the free marks it built, and byte copies of
 * every per-frame array it read (the marks included). A chunk of frames whose bytes are all as
 * they were then was valid then and is valid now, so the pass after a step reads only the chunks
 * the step changed.
 */
interface OwnershipMemo {
  readonly free: Uint8Array;
  /** the arrays the pass reads, as bytes: free marks, refcount, mapcount, pincount, flags */
  readonly now: readonly Uint8Array[];
  /** their copies as of the last check */
  readonly seen: readonly Uint8Array[];
  /** per array, its chunks as views of `now` and of `seen` (made once: the check runs often) */
  readonly nowChunks: readonly (readonly Uint8Array[])[];
  readonly seenChunks: readonly (readonly Uint8Array[])[];
  /** `seen` holds a checked state */
  valid: boolean;
  /** scratch: chunks to pass */
  readonly dirty: Uint8Array;
}

const memos = new WeakMap<Machine, OwnershipMemo>();

function memoOf(machine: Machine): OwnershipMemo {
  const f = machine.mm.frames;
  let m = memos.get(machine);
  if (!m || m.free.length !== f.count) {
    const n = f.count;
    const free = new Uint8Array(n);
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const now = [free, bytes(f.refcount), bytes(f.mapcount), bytes(f.pincount), bytes(f.flags)];
    const seen = now.map((a) => new Uint8Array(a.length));
    const chunks = (a: Uint8Array) => {
      const w = a.length / n;
      const out: Uint8Array[] = [];
      for (let c = 0; c < n; c += CHUNK) out.push(a.subarray(c * w, Math.min(n, c + CHUNK) * w));
      return out;
    };
    m = {
      free,
      now,
      seen,
      nowChunks: now.map(chunks),
      seenChunks: seen.map(chunks),
      valid: false,
      dirty: new Uint8Array(Math.ceil(n / CHUNK)),
    };
    memos.set(machine, m);
  }
  return m;
}

/**
 * Invariant 2 over the whole machine: walking the buddy free lists, each free block's head has
 * PG_buddy and the list's order, no page is on two lists, the lists hold `nrFreePages`; and for
 * every frame, a free page has no reference, mapping or pin and is not reserved, while every other
 * page of RAM is reserved (or a hole) or has a reference. Runs after every step: the per-frame
 * pass reads only the chunks of frames whose state changed since the last check.
 */
export function checkPageOwnership(machine: Machine): void {
  const f = machine.mm.frames;
  const inv = "every page is in exactly one owner's hands";
  const n = f.count;
  const memo = memoOf(machine);
  const free = memo.free;
  free.fill(0);
  const flags = f.flags;
  const order = f.order;
  const next = f.next;
  let total = 0;
  for (const z of machine.mm.buddy.zones) {
    for (let o = 0; o < NR_PAGE_ORDERS; o++) {
      for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
        let guard = 0;
        for (let i = z.heads[o * MIGRATE_TYPES + mt]!; i >= 0; i = next[i]!) {
          if (++guard > n) fail(inv, `buddy free list ${z.name}/${o}/${mt} loops`);
          if ((flags[i]! & PG_buddy) === 0)
            fail(inv, `free block at pfn ${hex(f.basePfn + i)} has no PG_buddy`);
          if (order[i] !== o)
            fail(
              inv,
              `free block at pfn ${hex(f.basePfn + i)} is on the order-${o} list with order ${order[i]}`,
            );
          const end = i + (1 << o);
          if (end > n) fail(inv, `free block at pfn ${hex(f.basePfn + i)} runs past the end of RAM`);
          const twice = free.subarray(i, end).indexOf(1);
          if (twice >= 0) fail(inv, `pfn ${hex(f.basePfn + i + twice)} is on two free lists`);
          free.fill(1, i, end);
          total += end - i;
        }
      }
    }
  }
  if (total !== machine.mm.buddy.nrFreePages) {
    fail(inv, `the free lists hold ${total} pages, nrFreePages says ${machine.mm.buddy.nrFreePages}`);
  }
  // which chunks changed since the last check (all of them the first time)
  const dirty = memo.dirty;
  if (!memo.valid) dirty.fill(1);
  else {
    dirty.fill(0);
    for (let k = 0; k < memo.now.length; k++) {
      if (Buffer.compare(memo.now[k]!, memo.seen[k]!) === 0) continue;
      const nc = memo.nowChunks[k]!;
      const sc = memo.seenChunks[k]!;
      for (let c = 0; c < nc.length; c++) if (!dirty[c] && Buffer.compare(nc[c]!, sc[c]!) !== 0) dirty[c] = 1;
    }
  }
  // the memo is valid again only once every dirty chunk passed
  memo.valid = false;
  for (let c = 0; c < dirty.length; c++) {
    if (!dirty[c]) continue;
    const bad = framePass(
      free,
      f.refcount,
      f.mapcount,
      f.pincount,
      flags,
      c * CHUNK,
      Math.min(n, (c + 1) * CHUNK),
    );
    if (bad >= 0) {
      const pfn = hex(f.basePfn + bad);
      if (free[bad]) {
        fail(
          inv,
          `free pfn ${pfn} has refcount ${f.refcount[bad]}, mapcount ${f.mapcount[bad]}, pincount ${f.pincount[bad]}, flags ${hex(flags[bad]!)}`,
        );
      }
      fail(inv, `pfn ${pfn} is neither free nor referenced (owner "${f.ownerOf(f.basePfn + bad)}")`);
    }
    for (let k = 0; k < memo.now.length; k++) memo.seenChunks[k]![c]!.set(memo.nowChunks[k]![c]!);
  }
  memo.valid = true;
}

const RESERVED = PG_hole | PG_reserved;

/**
 * The frames `[from, to)`: the first one that is free and referenced, mapped, pinned or reserved,
 * or neither free, referenced nor reserved; -1 when every one is in order.
 */
function framePass(
  free: Uint8Array,
  ref: Int32Array,
  map: Int32Array,
  pin: Int32Array,
  flags: Uint32Array,
  from: number,
  to: number,
): number {
  for (let i = from; i < to; i++) {
    if (free[i] !== 0) {
      if ((ref[i]! | map[i]! | pin[i]!) !== 0 || (flags[i]! & RESERVED) !== 0) return i;
    } else if (ref[i]! <= 0 && (flags[i]! & RESERVED) === 0) return i;
  }
  return -1;
}

/** Invariant 1 for CMA: every region's chunks inside it, disjoint, accounted. */
export function checkCmaRegions(machine: Machine): void {
  const inv = "no two live allocations overlap";
  for (const r of cmaRegions(machine.kernel)) {
    let end = r.base;
    let used = 0;
    for (const c of r.chunks()) {
      if (c.start < end) fail(inv, `CMA ${r.label}: chunk ${hex(c.start)} overlaps the one before`);
      if (c.start + c.size > r.end) fail(inv, `CMA ${r.label}: chunk ${hex(c.start)} runs past the region`);
      end = c.start + c.size;
      used += c.size;
    }
    if (r.free !== r.size - used)
      fail(inv, `CMA ${r.label}: free ${r.free} but chunks use ${used} of ${r.size}`);
  }
}

/** The per-step invariants (1, 3, 4, 5) of a fuzzed sequence. */
export function checkStep(model: Model, real: Real, full = false): void {
  const machine = real.machine;
  const k = machine.kernel;
  const f = machine.mm.frames;

  // 3. processes: fd tables and mappings are exactly the model's
  const invRef = "refcounts match live references";
  for (const p of model.procs) {
    if (!p.alive) continue;
    const proc = p.proc!;
    if (proc.state !== "running") fail(invRef, `slot ${p.slot} (pid ${proc.pid}) is ${proc.state}`);
    const real = proc.fds.fds();
    const want = [...p.fds.keys()].sort((a, b) => a - b);
    if (real.join() !== want.join()) {
      fail(invRef, `pid ${proc.pid} has fds [${real.join(", ")}], the model [${want.join(", ")}]`);
    }
    for (const [fd, what] of p.fds) {
      if (what.kind === "buf" && proc.fds.get(fd) !== what.buf.file) {
        fail(invRef, `pid ${proc.pid} fd ${fd} is not buffer #${what.buf.id}'s file`);
      }
    }
    const vmas = proc.space.vmas;
    const expect = p.maps.length + p.handles.length;
    if (vmas.length !== expect) {
      fail(invRef, `pid ${proc.pid} has ${vmas.length} mappings, the model ${expect}`);
    }
    for (const m of [...p.maps, ...p.handles.map((h) => ({ buf: h.buf, va: h.va, len: h.buf.store.size }))]) {
      const store = m.buf.store;
      for (let off = 0; off < m.len; off += PAGE_SIZE) {
        let pa: number;
        try {
          pa = proc.space.translate(m.va + off);
        } catch (e) {
          fail(
            "a process reaches only what it holds",
            `pid ${proc.pid} ${hex(m.va + off)}: ${(e as Error).message}`,
          );
        }
        const want = store.pfns[off / PAGE_SIZE]! * PAGE_SIZE;
        if (pa !== want) {
          fail(
            "a process reaches only what it holds",
            `pid ${proc.pid} maps ${hex(m.va + off)} to ${hex(pa)}, buffer #${m.buf.id} has ${hex(want)} there`,
          );
        }
      }
    }
  }

  // 3. buffers: files and UMP buffers live exactly as long as the model's references
  for (const b of model.bufs) {
    if (b.file) {
      if (!b.alive) {
        if (!b.file.released)
          fail(
            invRef,
            `buffer #${b.id} (${b.kind}) should be released, its file has ${b.file.refcount} reference(s)`,
          );
        continue;
      }
      const want = model.expectedFileRefs(b);
      if (b.file.refcount !== want) {
        fail(
          invRef,
          `buffer #${b.id} (${b.kind}) file has ${b.file.refcount} reference(s), the model ${want}`,
        );
      }
      const inflight = model.inflight(b);
      if (b.file.inflight !== inflight) {
        fail(invRef, `buffer #${b.id} has ${b.file.inflight} copies in flight, the model ${inflight}`);
      }
    }
  }
  const stats = dmaBufStats(k);
  const liveDmabufs = new Set(stats.map((s) => s.ino));
  // each live dma-buf is attached exactly to the devices of the model's attachments and slots
  const attached = new Map<number, string[]>();
  for (const a of model.atts) attached.set(a.dmabuf.ino, [...(attached.get(a.dmabuf.ino) ?? []), a.dev]);
  for (const sl of model.video.slots) {
    if (sl.buf)
      attached.set(sl.buf.dmabuf!.ino, [...(attached.get(sl.buf.dmabuf!.ino) ?? []), model.video.dev]);
  }
  for (const st of stats) {
    const want = (attached.get(st.ino) ?? []).sort().join(", ");
    const got = [...st.attachments].sort().join(", ");
    if (got !== want) fail(invRef, `dma-buf ino ${st.ino} is attached to [${got}], the model [${want}]`);
  }
  const modelDmabufs = new Set(model.bufs.filter((b) => b.alive && b.dmabuf).map((b) => b.dmabuf!.ino));
  if ([...liveDmabufs].sort().join() !== [...modelDmabufs].sort().join()) {
    fail(
      invRef,
      `live dma-bufs [${[...liveDmabufs].join(", ")}], the model [${[...modelDmabufs].join(", ")}]`,
    );
  }
  const ump = new Map(umpLiveHandles(k).map((h) => [h.secureId, h]));
  for (const b of model.bufs) {
    if (b.kind !== "ump") continue;
    const h = ump.get(b.secureId);
    if (!b.alive) {
      if (h && !model.bufs.some((o) => o.alive && o.kind === "ump" && o.secureId === b.secureId)) {
        fail(
          invRef,
          `UMP buffer #${b.id} (ID ${hex(b.secureId)}) should be gone, it has ${h.refCount} reference(s)`,
        );
      }
      continue;
    }
    if (!h) fail(invRef, `UMP buffer #${b.id} (ID ${hex(b.secureId)}) is gone while the model holds it`);
    const want = model.expectedUmpRefs(b);
    if (h.refCount !== want) {
      fail(
        invRef,
        `UMP buffer #${b.id} (ID ${hex(b.secureId)}) has ${h.refCount} reference(s), the model ${want}`,
      );
    }
  }
  if (ump.size !== model.bufs.filter((b) => b.alive && b.kind === "ump").length) {
    fail(
      invRef,
      `${ump.size} live UMP buffers, the model ${model.bufs.filter((b) => b.alive && b.kind === "ump").length}`,
    );
  }

  // 1. live memory is disjoint and allocated
  const invOverlap = "no two live allocations overlap";
  const owner = new Map<number, number>();
  for (const b of model.bufs) {
    if (!b.alive || b.kind === "ump-dmabuf") continue;
    for (const pfn of b.store.pfns) {
      const other = owner.get(pfn);
      if (other !== undefined) fail(invOverlap, `pfn ${hex(pfn)} belongs to buffers #${other} and #${b.id}`);
      owner.set(pfn, b.id);
      const i = pfn - f.basePfn;
      if (f.flags[i]! & PG_buddy)
        fail(invOverlap, `pfn ${hex(pfn)} of live buffer #${b.id} is on a free list`);
      if (!(f.flags[i]! & PG_reserved) && f.refcount[i]! <= 0) {
        fail(invOverlap, `pfn ${hex(pfn)} of live buffer #${b.id} has no reference`);
      }
    }
  }
  checkCmaRegions(machine);

  // 4. devices reach exactly their live attachments (and the capture master its queue's buffers)
  const invDev = "a device never reaches memory its domain does not map";
  for (const dev of DOMAIN_DEVICES) {
    const mapping = machine.iommuMapping(dev)!;
    let mapped: Map<number, number>;
    try {
      mapped = walkDomain(machine, mapping.domain, !full);
    } catch (e) {
      fail(invDev, `${dev}: ${(e as Error).message}`);
    }
    const want = new Map<number, number>();
    const ranges = model.deviceRanges(dev);
    for (const r of ranges) {
      const pfns = r.buf.store.pfns;
      for (let off = 0; off < r.len; off += PAGE_SIZE) {
        want.set(r.iova + off, pfns[(r.offset + off) / PAGE_SIZE]! * PAGE_SIZE);
      }
    }
    if (mapped.size !== want.size) {
      const extra = [...mapped.keys()].filter((iova) => !want.has(iova));
      fail(
        invDev,
        `${dev}'s page tables map ${mapped.size} page(s), its live attachments ${want.size}${extra.length ? `; mapped without an attachment: ${extra.slice(0, 4).map(hex).join(", ")}` : ""}`,
      );
    }
    for (const [iova, pa] of want) {
      const got = mapped.get(iova);
      if (got !== pa)
        fail(
          invDev,
          `${dev} D.V ${hex(iova)} reaches ${got === undefined ? "nothing" : hex(got)}, should reach ${hex(pa)}`,
        );
    }
    if (mapping.usedPages !== want.size || mapping.liveRanges !== ranges.length) {
      fail(
        invDev,
        `${dev}'s IOVA allocator holds ${mapping.usedPages} page(s) in ${mapping.liveRanges} range(s), the attachments ${want.size} in ${ranges.length}`,
      );
    }
  }

  // 3. the capture queue: owner, buffers, states and the dma-buf each slot holds
  checkVideo(model, real);

  // 2. every page in exactly one owner's hands (incremental: only frames the step changed)
  checkPageOwnership(machine);

  // 5. the stack never let the CPU and a device disagree behind a legitimate user's back
  if (machine.stats().coherencyHazards.total !== 0) {
    const last = machine.cpu.checker.reports.at(-1);
    fail(
      "every byte read is the last byte legitimately written",
      `coherency hazard: ${last?.kind} ${last?.detail ?? ""}`,
    );
  }
}

const VB2_STATE: Readonly<Record<string, readonly number[]>> = {
  dequeued: [Vb2BufferState.DEQUEUED],
  queued: [Vb2BufferState.QUEUED, Vb2BufferState.ACTIVE],
  done: [Vb2BufferState.DONE],
};

/** Invariant 3 for the capture queue: its owner, buffers, their states and imported dma-bufs. */
function checkVideo(model: Model, real: Real): void {
  const inv = "refcounts match live references";
  const v = model.video;
  const q = real.fm.cap.queue;
  const owner = v.owner ? (v.owner.p.proc!.fds.get(v.owner.fd)?.privateData ?? null) : null;
  if (q.owner !== owner) fail(inv, `the capture queue's owner is not the file the model says`);
  if (q.numBuffers !== v.slots.length) {
    fail(inv, `the capture queue has ${q.numBuffers} buffer(s), the model ${v.slots.length}`);
  }
  if (q.streaming !== v.streaming) fail(inv, `the capture queue is ${q.streaming ? "" : "not "}streaming`);
  v.slots.forEach((sl, i) => {
    const vb = q.bufs[i];
    if (!vb) fail(inv, `capture buffer ${i} is missing`);
    if (!VB2_STATE[sl.state]!.includes(vb.state)) {
      fail(inv, `capture buffer ${i} is in vb2 state ${vb.state}, the model says ${sl.state}`);
    }
    const dbuf = vb.planes[0]!.dbuf;
    if (dbuf !== (sl.buf?.dmabuf ?? null)) {
      fail(
        inv,
        `capture buffer ${i} holds ${dbuf ? `dma-buf ino ${dbuf.ino}` : "nothing"}, the model ${sl.buf ? `#${sl.buf.id}` : "nothing"}`,
      );
    }
  });
  if (q.doneList.map((vb) => vb.index).join() !== v.done.join()) {
    fail(
      inv,
      `the capture queue's done list is [${q.doneList.map((vb) => vb.index).join(", ")}], the model [${v.done.join(", ")}]`,
    );
  }
}
