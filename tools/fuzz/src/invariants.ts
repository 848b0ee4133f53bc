/**
 * The invariants, checked against the machine after every step of a fuzzed sequence (and, the
 * global ones, whenever a whole machine must be consistent):
 *
 * 1. **No two live allocations overlap** — the model's live memory is pairwise disjoint, no page
 *    of it is on a buddy free list, and every CMA region's chunks are disjoint and inside it.
 * 2. **Every page is in exactly one owner's hands** (`checkPageOwnership`) — walking the buddy
 *    free lists, each free page appears once, with refcount 0; every other RAM page is either
 *    reserved or has a reference; the count matches `nrFreePages`.
 * 3. **Refcounts match live references** — each buffer's file has exactly the fds, mappings,
 *    in-flight messages and attachments the model knows; each UMP buffer exactly its handles and
 *    exports; nothing the model dropped is still alive, nothing it holds is gone; each process's
 *    fd table and mappings are exactly the model's.
 * 4. **A device never reaches memory its domain does not map** — each fuzzed master's page
 *    tables, read from DRAM as the SysMMU walks them, map exactly the pages of its live
 *    attachments, each to the right frame, and its IOVA allocator holds exactly those pages.
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
import { PG_buddy, PG_hole, PG_reserved } from "@umm/mm-core";
import type { Machine } from "@umm/soc";
import { umpLiveHandles } from "@umm/ump";
import type { Model } from "./model.js";
import { walkDomain } from "./pagetable.js";
import { FUZZ_DEVICES, type Real } from "./session.js";
import { freeBlocks } from "./snapshot.js";

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

/** Invariant 2 over the whole machine. */
export function checkPageOwnership(machine: Machine): void {
  const f = machine.mm.frames;
  const inv = "every page is in exactly one owner's hands";
  const free = new Uint8Array(f.count);
  const blocks = freeBlocks(machine);
  let total = 0;
  for (let k = 0; k < blocks.length; k += 3) {
    const pfn = blocks[k]!;
    const order = blocks[k + 1]!;
    const i = pfn - f.basePfn;
    if ((f.flags[i]! & PG_buddy) === 0) fail(inv, `free block at pfn ${hex(pfn)} has no PG_buddy`);
    if (f.order[i] !== order)
      fail(inv, `free block at pfn ${hex(pfn)} is on the order-${order} list with order ${f.order[i]}`);
    for (let j = i; j < i + 2 ** order; j++) {
      if (free[j]) fail(inv, `pfn ${hex(f.basePfn + j)} is on two free lists`);
      free[j] = 1;
      if (f.refcount[j] !== 0) fail(inv, `free pfn ${hex(f.basePfn + j)} has refcount ${f.refcount[j]}`);
      if (f.mapcount[j] !== 0 || f.pincount[j] !== 0)
        fail(inv, `free pfn ${hex(f.basePfn + j)} is mapped or pinned`);
    }
    total += 2 ** order;
  }
  if (total !== machine.mm.buddy.nrFreePages) {
    fail(inv, `the free lists hold ${total} pages, nrFreePages says ${machine.mm.buddy.nrFreePages}`);
  }
  for (let i = 0; i < f.count; i++) {
    const fl = f.flags[i]!;
    if (fl & (PG_hole | PG_reserved)) {
      if (free[i]) fail(inv, `reserved pfn ${hex(f.basePfn + i)} is on a free list`);
      continue;
    }
    if (!free[i] && f.refcount[i]! <= 0) {
      fail(
        inv,
        `pfn ${hex(f.basePfn + i)} is neither free nor referenced (owner "${f.ownerOf(f.basePfn + i)}")`,
      );
    }
  }
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
  const liveDmabufs = new Set(dmaBufStats(k).map((s) => s.ino));
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

  // 4. devices reach exactly their live attachments
  const invDev = "a device never reaches memory its domain does not map";
  for (const dev of FUZZ_DEVICES) {
    const mapping = machine.iommuMapping(dev)!;
    let mapped: Map<number, number>;
    try {
      mapped = walkDomain(machine, mapping.domain, !full);
    } catch (e) {
      fail(invDev, `${dev}: ${(e as Error).message}`);
    }
    const want = new Map<number, number>();
    let ranges = 0;
    for (const a of model.atts) {
      if (a.dev !== dev) continue;
      const pfns = a.buf.store.pfns;
      let page = 0;
      for (const s of a.segs) {
        ranges++;
        for (let off = 0; off < s.len; off += PAGE_SIZE) want.set(s.iova + off, pfns[page++]! * PAGE_SIZE);
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
    if (mapping.usedPages !== want.size || mapping.liveRanges !== ranges) {
      fail(
        invDev,
        `${dev}'s IOVA allocator holds ${mapping.usedPages} page(s) in ${mapping.liveRanges} range(s), the attachments ${want.size} in ${ranges}`,
      );
    }
  }

  // 5. the stack never let the CPU and a device disagree behind a legitimate user's back
  const stats = machine.stats();
  if (stats.coherencyHazards.total !== 0) {
    const last = machine.cpu.checker.reports.at(-1);
    fail(
      "every byte read is the last byte legitimately written",
      `coherency hazard: ${last?.kind} ${last?.detail ?? ""}`,
    );
  }
}
