// Lifetimes: device unregister, kernel shutdown reports, display errors, and a property over random
// sequences of GEM, framebuffer, PRIME, mmap and flip operations by two processes: whatever the
// order, every object lives while something holds it and everything comes back at exit.
import { dmaBufStats } from "@umm/dma-buf";
import { isKernelError } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { O_RDWR, type Process } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ } from "@umm/mm-core";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_RMFB,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  drmDevUnregister,
  drmGemDmaCreate,
  drmModeFramePeriod,
} from "../src/index.js";
import {
  addFb,
  boot,
  card,
  cmaUsed,
  createDumb,
  drmFileAt,
  expectClean,
  mapDumb,
  openCard,
  pattern,
  SMALL_MODE,
  setCrtc,
} from "./helpers.js";

afterEach(expectClean);

describe("device and kernel lifetime", () => {
  it("drmDevUnregister: the node goes, the CRTC turns off, open files get ENODEV and still release everything", async () => {
    const r = boot();
    const { ddev, display } = card(r, "direct");
    const cma0 = cmaUsed(r);
    const p = openCard(r, ddev);
    const d = createDumb(p.proc, p.fd, 64, 32);
    const va = mapDumb(p.proc, p.fd, d.handle, d.size);
    const fb = addFb(p.proc, p.fd, 64, 32, [d.handle], [d.pitch]);
    setCrtc(p.proc, p.fd, ddev, fb);
    await r.kernel.clock.runUntilIdle();
    drmDevUnregister(ddev);
    expect(display.events).toEqual(["enable 64x32", "disable"]);
    expect(() => p.proc.open(ddev.path, O_RDWR)).toThrow(kerr("ENOENT"));
    expect(() => createDumb(p.proc, p.fd, 8, 8)).toThrow(kerr("ENODEV"));
    expect(() =>
      p.proc.mmap({ fd: p.fd, length: 4096, prot: PROT_READ, flags: MAP_SHARED, offset: 0x1000f000 }),
    ).toThrow(kerr("ENODEV"));
    expect(() => drmDevUnregister(ddev)).toThrow(kerr("EINVAL"));
    expect(p.proc.memRead(va, 1).length).toBe(1); // the mapping still works
    p.proc.exit(0);
    expect(ddev.objectCount).toBe(0);
    expect(cmaUsed(r)).toBe(cma0);
    expect(r.kernel.clock.pending).toBe(0);
  });

  it("kernel shutdown reports GEM objects still alive (a driver's leak), and nothing when all was released", () => {
    const r = boot();
    const { ddev } = card(r, "direct");
    const warns: string[] = [];
    r.kernel.trace.on("drm_warn", (rec) => warns.push(rec.data.message));
    const p = openCard(r, ddev);
    createDumb(p.proc, p.fd, 8, 8);
    p.proc.exit(0);
    const leaked = drmGemDmaCreate(ddev, 5000); // a driver that never puts it
    expect(leaked.size).toBe(8192);
    r.kernel.shutdown();
    expect(warns).toEqual([`shutdown: GEM object ${leaked.name} (0x2000 bytes) is still alive (1 refs)`]);
  });

  it("a display that faults at scanout is reported with drm_warn; the vblank goes on", async () => {
    const r = boot();
    let calls = 0;
    const { ddev } = card(r, "direct", {
      display: {
        scanout: () => {
          calls++;
          throw new Error("SysMMU page fault at 0x20000000");
        },
      },
    });
    const warns: string[] = [];
    r.kernel.trace.on("drm_warn", (rec) => warns.push(rec.data.message));
    const p = openCard(r, ddev);
    const d = createDumb(p.proc, p.fd, 64, 32);
    setCrtc(p.proc, p.fd, ddev, addFb(p.proc, p.fd, 64, 32, [d.handle], [d.pitch]));
    await r.kernel.clock.runUntilIdle();
    expect(calls).toBe(1);
    expect(warns).toEqual(["display scanout of frame 1: SysMMU page fault at 0x20000000"]);
    p.proc.exit(0);
    await r.kernel.clock.runUntilIdle();
  });
});

type Op =
  | { kind: "create"; who: number; w: number }
  | { kind: "close"; who: number; pick: number }
  | { kind: "map"; who: number; pick: number }
  | { kind: "unmap"; who: number; pick: number }
  | { kind: "addfb"; who: number; pick: number }
  | { kind: "rmfb"; who: number; pick: number }
  | { kind: "share"; who: number; pick: number }
  | { kind: "flip"; pick: number }
  | { kind: "vblank" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("create" as const), who: fc.nat(1), w: fc.integer({ min: 64, max: 200 }) }),
  fc.record({ kind: fc.constant("close" as const), who: fc.nat(1), pick: fc.nat() }),
  fc.record({ kind: fc.constant("map" as const), who: fc.nat(1), pick: fc.nat() }),
  fc.record({ kind: fc.constant("unmap" as const), who: fc.nat(1), pick: fc.nat() }),
  fc.record({ kind: fc.constant("addfb" as const), who: fc.nat(1), pick: fc.nat() }),
  fc.record({ kind: fc.constant("rmfb" as const), who: fc.nat(1), pick: fc.nat() }),
  fc.record({ kind: fc.constant("share" as const), who: fc.nat(1), pick: fc.nat() }),
  fc.record({ kind: fc.constant("flip" as const), pick: fc.nat() }),
  fc.constant({ kind: "vblank" as const }),
);

describe("property: random GEM / fb / PRIME / flip sequences", () => {
  it("objects live exactly while held; the display always reads an object that is alive; all comes back", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        async (ops, exitMasterFirst) => {
          const r = boot();
          const { ddev, display } = card(r, "direct");
          const cma0 = cmaUsed(r);
          const procs = [openCard(r, ddev, "master"), openCard(r, ddev, "client")];
          const handles: number[][] = [[], []];
          const maps: { va: number; size: number }[][] = [[], []];
          const fbs: number[][] = [[], []];
          // a screen that always shows something: the master's first framebuffer
          const base = createDumb(procs[0]!.proc, procs[0]!.fd, 64, 32);
          const baseFb = addFb(procs[0]!.proc, procs[0]!.fd, 64, 32, [base.handle], [base.pitch]);
          setCrtc(procs[0]!.proc, procs[0]!.fd, ddev, baseFb);
          handles[0]!.push(base.handle);
          const at = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
          const sizes = new Map<string, number>();
          for (const op of ops) {
            if (op.kind === "vblank") {
              await r.kernel.clock.runFor(drmModeFramePeriod(SMALL_MODE));
              continue;
            }
            if (op.kind === "flip") {
              const fb = at(fbs[0]!.concat(fbs[1]!), op.pick) ?? baseFb;
              try {
                procs[0]!.proc.ioctl(procs[0]!.fd, DRM_IOCTL_MODE_PAGE_FLIP, {
                  crtc_id: ddev.crtc.id,
                  fb_id: fb,
                  flags: 0,
                });
              } catch (e) {
                if (!isKernelError(e, "EBUSY") && !isKernelError(e, "ENOENT")) throw e;
              }
              continue;
            }
            const { proc, fd } = procs[op.who]!;
            const hs = handles[op.who]!;
            switch (op.kind) {
              case "create": {
                const d = createDumb(proc, fd, op.w, 32);
                hs.push(d.handle);
                sizes.set(`${op.who}:${d.handle}`, d.size);
                break;
              }
              case "close": {
                const h = at(hs, op.pick);
                if (h === undefined) break;
                proc.ioctl(fd, DRM_IOCTL_GEM_CLOSE, { handle: h });
                hs.splice(hs.indexOf(h), 1);
                break;
              }
              case "map": {
                const h = at(hs, op.pick);
                if (h === undefined) break;
                const size = drmFileAt(proc, fd).objectOf(h)!.size;
                if (drmFileAt(proc, fd).objectOf(h)!.imported) break;
                const va = mapDumb(proc, fd, h, size);
                proc.memWrite(va, pattern(16, h));
                maps[op.who]!.push({ va, size });
                break;
              }
              case "unmap": {
                const m = at(maps[op.who]!, op.pick);
                if (!m) break;
                proc.munmap(m.va, m.size);
                maps[op.who]!.splice(maps[op.who]!.indexOf(m), 1);
                break;
              }
              case "addfb": {
                const h = at(hs, op.pick);
                if (h === undefined) break;
                const obj = drmFileAt(proc, fd).objectOf(h)!;
                if (obj.size < 64 * 32 * 4) break;
                fbs[op.who]!.push(addFb(proc, fd, 64, 32, [h], [256]));
                break;
              }
              case "rmfb": {
                const fb = at(fbs[op.who]!, op.pick);
                if (fb === undefined) break;
                void proc.ioctl(fd, DRM_IOCTL_MODE_RMFB, fb);
                fbs[op.who]!.splice(fbs[op.who]!.indexOf(fb), 1);
                break;
              }
              case "share": {
                const h = at(hs, op.pick);
                if (h === undefined) break;
                const ex = { handle: h, flags: 0, fd: -1 };
                proc.ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, ex);
                const other = procs[1 - op.who]!;
                const file = proc.fget(ex.fd);
                proc.close(ex.fd);
                const ofd = other.proc.fdInstall(file);
                const im = { fd: ofd, flags: 0, handle: 0 };
                other.proc.ioctl(other.fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, im);
                other.proc.close(ofd);
                if (!handles[1 - op.who]!.includes(im.handle)) handles[1 - op.who]!.push(im.handle);
                break;
              }
            }
            // invariants: every handle names a live object; the scanned-out fb's objects are alive
            for (let w = 0; w < 2; w++) {
              const f = drmFileAt(procs[w]!.proc, procs[w]!.fd);
              expect(f.handleCount).toBe(handles[w]!.length);
              for (const h of handles[w]!) expect(f.objectOf(h)!.freed).toBe(false);
            }
            for (const st of [ddev.crtc.state, ddev.crtc.latest]) {
              for (const o of st.fb?.objs ?? []) expect(o.freed).toBe(false);
            }
          }
          await r.kernel.clock.runUntilIdle();
          expect(display.frames).toBeGreaterThan(0);
          const order: Process[] = exitMasterFirst
            ? [procs[0]!.proc, procs[1]!.proc]
            : [procs[1]!.proc, procs[0]!.proc];
          for (const p of order) p.exit(0);
          await r.kernel.clock.runUntilIdle();
          expect(ddev.objectCount).toBe(0);
          expect(ddev.fbCount).toBe(0);
          expect(cmaUsed(r)).toBe(cma0);
          expect(dmaBufStats(r.kernel)).toEqual([]);
          expect(r.kernel.clock.pending).toBe(0);
          expectClean();
        },
      ),
      { numRuns: 30 },
    );
  });
});
