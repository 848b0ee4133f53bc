// The checks themselves: each invariant fires when the state it guards is broken, and names it.

import { IOMMU_READ, iommuMap, iommuUnmap } from "@umm/iommu-core";
import { PAGE_SIZE } from "@umm/kernel-core";
import { fput } from "@umm/kernel-process";
import { GFP_KERNEL } from "@umm/mm-core";
import { V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_MEMORY_DMABUF, VIDIOC_REQBUFS } from "@umm/v4l2-videobuf";
import { afterEach, describe, expect, it } from "vitest";
import { Commands } from "../src/commands.js";
import { teardown } from "../src/fuzz.js";
import { checkPageOwnership, checkStep } from "../src/invariants.js";
import { Model } from "../src/model.js";
import { CAPTURE_DEVICE, FuzzMachine, type Real, SLOT_UIDS, spawnSlot } from "../src/session.js";

const machines: FuzzMachine[] = [];
afterEach(() => {
  for (const m of machines.splice(0)) m.shutdown();
});

function setup() {
  const fm = new FuzzMachine(11);
  machines.push(fm);
  const model = new Model(SLOT_UIDS, CAPTURE_DEVICE);
  const real: Real = { fm, machine: fm.machine };
  for (const p of model.procs) spawnSlot(real, p);
  return { fm, model, real };
}

describe("invariants", () => {
  it("a clean machine passes; a page taken and not given back is a difference from the baseline", () => {
    const { fm, model, real } = setup();
    checkStep(model, real, true);
    teardown(model);
    expect(fm.diffFromBaseline()).toBe("");
    const pfn = fm.machine.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "leak" })!;
    expect(fm.diffFromBaseline()).toMatch(/frames\.refcount: 1 element\(s\) differ; first at pfn 0x/);
    checkPageOwnership(fm.machine); // a page with a reference is owned: not an ownership error
    fm.machine.mm.buddy.freePages(pfn, 0);
    expect(fm.diffFromBaseline()).toBe("");
  });

  it("every page in exactly one owner's hands: a free page with a reference is caught", () => {
    const { fm } = setup();
    const f = fm.machine.mm.frames;
    const pfn = fm.machine.mm.buddy.allocPages(0, GFP_KERNEL)!;
    fm.machine.mm.buddy.freePages(pfn, 0);
    f.refcount[pfn - f.basePfn] = 1;
    expect(() => checkPageOwnership(fm.machine)).toThrow(/exactly one owner's hands.*refcount 1/);
    f.refcount[pfn - f.basePfn] = 0;
    checkPageOwnership(fm.machine);
  });

  it("refcounts: a reference the model does not know of is caught, and so is an fd it does not know", () => {
    const { model, real } = setup();
    const alloc = new Commands.Alloc(0, "system", 2, false);
    alloc.run(model, real);
    const p = model.procs[0]!;
    const [fd] = [...p.fds].find(([, f]) => f.kind === "buf")!;
    const file = p.proc!.fget(fd);
    expect(() => checkStep(model, real)).toThrow(
      /refcounts match live references.*2 reference\(s\), the model 1/,
    );
    fput(file);
    checkStep(model, real);
    const dup = p.proc!.dup(fd);
    expect(() => checkStep(model, real)).toThrow(/has fds \[.*\], the model/);
    p.proc!.close(dup);
    checkStep(model, real);
  });

  it("a device reaching a page no live attachment maps is caught", () => {
    const { fm, model, real } = setup();
    const m = fm.machine.iommuMapping("rotator")!;
    const pfn = fm.machine.mm.buddy.allocPages(0, GFP_KERNEL)!;
    iommuMap(m.domain, m.base + 0x5000, pfn * PAGE_SIZE, PAGE_SIZE, IOMMU_READ);
    expect(() => checkStep(model, real)).toThrow(
      /device never reaches memory.*rotator's page tables map 1 page/,
    );
    iommuUnmap(m.domain, m.base + 0x5000, PAGE_SIZE);
    fm.machine.mm.buddy.freePages(pfn, 0);
    checkStep(model, real, true);
  });

  it("bytes: a device read of memory the CPU wrote but never cleaned is a hazard the step check reports", () => {
    const { fm, model, real } = setup();
    new Commands.Alloc(0, "system", 1, false).run(model, real);
    new Commands.Mmap(0, 0).run(model, real);
    new Commands.Attach(0, 0, 0).run(model, real);
    const p = model.procs[0]!;
    // an illegitimate user: writes without DMA_BUF_IOCTL_SYNC, then the device reads
    p.proc!.memWrite(p.maps[0]!.va, new Uint8Array([1, 2, 3]));
    const a = model.atts[0]!;
    const seen = new Uint8Array(3);
    fm.ports.get("rotator")!.read(a.segs[0]!.iova, seen);
    expect(() => checkStep(model, real)).toThrow(/last byte legitimately written.*dirty-read/);
  });

  it("a read command compares with the model: memory changed behind everyone's back is caught", () => {
    const { fm, model, real } = setup();
    new Commands.Alloc(0, "cma", 1, false).run(model, real);
    new Commands.Mmap(0, 0).run(model, real);
    new Commands.CpuWrite(0, 0, 10, 4, 3).run(model, real);
    new Commands.CpuRead(0, 0, 0, 64).run(model, real);
    const pfn = model.bufs[0]!.store.pfns[0]!;
    fm.machine.cpu.flushAll();
    fm.machine.mm.phys.write(pfn * PAGE_SIZE + 11, new Uint8Array([0xee]));
    expect(() => new Commands.CpuRead(0, 0, 0, 64).run(model, real)).toThrow(
      /last byte legitimately written.*read byte 11 of buffer #\d+ \(cma\) as 0xee/,
    );
  });

  it("page ownership is checked incrementally after a clean pass: a page changed later is still caught", () => {
    const { fm } = setup();
    checkPageOwnership(fm.machine); // everything read and remembered
    checkPageOwnership(fm.machine); // nothing changed: nothing read
    const f = fm.machine.mm.frames;
    const pfn = fm.machine.mm.buddy.allocPages(0, GFP_KERNEL)!;
    checkPageOwnership(fm.machine);
    fm.machine.mm.buddy.freePages(pfn, 0);
    checkPageOwnership(fm.machine);
    // a stale get_page on a page that is back on a free list
    f.refcount[pfn - f.basePfn] = 1;
    expect(() => checkPageOwnership(fm.machine)).toThrow(
      /exactly one owner's hands.*free pfn 0x[0-9a-f]+ has refcount 1/,
    );
    f.refcount[pfn - f.basePfn] = 0;
    checkPageOwnership(fm.machine);
  });

  it("the capture queue: buffers freed behind the model's back, or a mapping its domain should not have, are caught", () => {
    const { fm, model, real } = setup();
    new Commands.Alloc(0, "system", 2, false).run(model, real);
    new Commands.Reqbufs(0, 0, false, 2).run(model, real);
    new Commands.Qbuf(0, 0, false, 0, 0).run(model, real);
    expect(model.video.slots[0]!.buf).not.toBeNull();
    checkStep(model, real, true);
    // the capture master's domain maps the queued buffer; one more page is not the model's
    const m = fm.machine.iommuMapping("g2d")!;
    const pfn = fm.machine.mm.buddy.allocPages(0, GFP_KERNEL)!;
    iommuMap(m.domain, m.base + 0x7f000, pfn * PAGE_SIZE, PAGE_SIZE, IOMMU_READ);
    expect(() => checkStep(model, real)).toThrow(/g2d's page tables map 3 page\(s\), its live attachments 2/);
    iommuUnmap(m.domain, m.base + 0x7f000, PAGE_SIZE);
    fm.machine.mm.buddy.freePages(pfn, 0);
    // REQBUFS(0) behind the model's back: the queue lets its buffers (and the dma-buf) go
    const owner = model.video.owner!;
    owner.p.proc!.ioctl(owner.fd, VIDIOC_REQBUFS, {
      count: 0,
      type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
      memory: V4L2_MEMORY_DMABUF,
      capabilities: 0,
      flags: 0,
    });
    expect(() => checkStep(model, real)).toThrow(/refcounts match live references/);
  });
});
