// §1.9 over random sequences of the whole API, on every backend, with random and sequential IDs:
// after every call the invariants hold, a buffer lives exactly while something holds it, and
// when everything is gone every block is back in its backend.
import { fc, test } from "@fast-check/vitest";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { type Process, spawn } from "@umm/kernel-process";
import { expect } from "vitest";
import {
  UMP_MSYNC_CLEAN,
  UMP_MSYNC_CLEAN_AND_INVALIDATE,
  UMP_MSYNC_INVALIDATE,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  UMP_USED_BY_CPU,
  UMP_USED_BY_MALI,
  type UmpDdHandle,
  type UmpHandle,
  umpBackendInfo,
  umpCpuMsyncNow,
  umpDdHandleCreateFromSecureId,
  umpDdReferenceAdd,
  umpDdReferenceRelease,
  umpHandleCreateFromSecureId,
  umpLiveHandles,
  umpMemoryUsage,
  umpOpen,
  umpRefDrvAllocate,
  umpReferenceAdd,
  umpReferenceRelease,
  umpSwitchHwUsage,
  umpWrite,
} from "../src/index.js";
import { bootUmp, umpCheckInvariants, umpRefAudit } from "../src/testing.js";

type Op =
  | { k: "alloc"; p: number; pages: number; cached: boolean }
  | { k: "import"; p: number; h: number }
  | { k: "addRef"; h: number }
  | { k: "release"; h: number }
  | { k: "kget"; h: number }
  | { k: "kadd"; d: number }
  | { k: "kput"; d: number }
  | { k: "write"; h: number }
  | { k: "msync"; h: number; op: number }
  | { k: "switch"; h: number; mali: boolean }
  | { k: "exit"; p: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("alloc" as const),
      p: fc.nat(1),
      pages: fc.integer({ min: 0, max: 80 }),
      cached: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("import" as const), p: fc.nat(1), h: fc.nat() }) },
  fc.record({ k: fc.constant("addRef" as const), h: fc.nat() }),
  { weight: 3, arbitrary: fc.record({ k: fc.constant("release" as const), h: fc.nat() }) },
  fc.record({ k: fc.constant("kget" as const), h: fc.nat() }),
  fc.record({ k: fc.constant("kadd" as const), d: fc.nat() }),
  { weight: 2, arbitrary: fc.record({ k: fc.constant("kput" as const), d: fc.nat() }) },
  fc.record({ k: fc.constant("write" as const), h: fc.nat() }),
  fc.record({
    k: fc.constant("msync" as const),
    h: fc.nat(),
    op: fc.constantFrom(UMP_MSYNC_CLEAN, UMP_MSYNC_CLEAN_AND_INVALIDATE, UMP_MSYNC_INVALIDATE),
  }),
  fc.record({ k: fc.constant("switch" as const), h: fc.nat(), mali: fc.boolean() }),
  fc.record({ k: fc.constant("exit" as const), p: fc.nat(1) }),
);

const backends = ["os", "dedicated", "vcm"] as const;

test.prop([fc.constantFrom(...backends), fc.boolean(), fc.array(op, { minLength: 1, maxLength: 40 })], {
  numRuns: 80,
})("the invariants hold after every call and buffers live exactly while held", (backend, compat, ops) => {
  const { kernel, mm } = bootUmp({ backend, compatSequentialIds: compat, carveoutSize: 16 * SZ_1M });
  const free0 = mm.buddy.nrFreePages;
  const info0 = umpBackendInfo(kernel);
  const procs: Process[] = [0, 1].map((i) => spawn(kernel, { comm: `p${i}`, uid: 1000 }));
  for (const p of procs) umpOpen(p);
  // the model: user handles (with their own count) and kernel handles (one reference each)
  const handles: { h: UmpHandle; p: number; refs: number }[] = [];
  const khandles: { d: UmpDdHandle; refs: number }[] = [];
  const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
  for (const o of ops) {
    switch (o.k) {
      case "alloc": {
        const h = umpRefDrvAllocate(
          procs[o.p]!,
          o.pages * PAGE_SIZE,
          o.cached ? UMP_REF_DRV_CONSTRAINT_USE_CACHE : 0,
        );
        if (h) {
          handles.push({ h, p: o.p, refs: 1 });
          // a fresh handle holds exactly one kernel reference: its mapping
          expect(umpRefAudit(kernel).find((e) => e.secureId === h.secureId)).toMatchObject({
            refCount: 1,
            mappings: 1,
            sessionEntries: 0,
          });
        }
        break;
      }
      case "import": {
        const src = pick(handles, o.h);
        if (!src) break;
        const h = umpHandleCreateFromSecureId(procs[o.p]!, src.h.secureId);
        expect(h).not.toBeNull();
        handles.push({ h: h!, p: o.p, refs: 1 });
        break;
      }
      case "addRef": {
        const e = pick(handles, o.h);
        if (!e) break;
        umpReferenceAdd(e.h);
        e.refs++;
        break;
      }
      case "release": {
        const e = pick(handles, o.h);
        if (!e) break;
        umpReferenceRelease(e.h);
        if (--e.refs === 0) handles.splice(handles.indexOf(e), 1);
        break;
      }
      case "kget": {
        const e = pick(handles, o.h);
        if (!e) break;
        khandles.push({ d: umpDdHandleCreateFromSecureId(kernel, e.h.secureId)!, refs: 1 });
        break;
      }
      case "kadd": {
        const e = pick(khandles, o.d);
        if (!e) break;
        umpDdReferenceAdd(e.d);
        e.refs++;
        break;
      }
      case "kput": {
        const e = pick(khandles, o.d);
        if (!e) break;
        umpDdReferenceRelease(e.d);
        if (--e.refs === 0) khandles.splice(khandles.indexOf(e), 1);
        break;
      }
      case "write": {
        const e = pick(handles, o.h);
        if (e) umpWrite(e.h, 0, new Uint8Array([o.h & 0xff]), 1);
        break;
      }
      case "msync": {
        const e = pick(handles, o.h);
        if (e) umpCpuMsyncNow(e.h, o.op, null, 0);
        break;
      }
      case "switch": {
        const e = pick(handles, o.h);
        if (e) umpSwitchHwUsage(e.h, o.mali ? UMP_USED_BY_MALI : UMP_USED_BY_CPU);
        break;
      }
      case "exit": {
        procs[o.p]!.exit(0);
        for (let i = handles.length - 1; i >= 0; i--) if (handles[i]!.p === o.p) handles.splice(i, 1);
        procs[o.p] = spawn(kernel, { comm: `p${o.p}`, uid: 1000 });
        umpOpen(procs[o.p]!);
        break;
      }
    }
    expect(umpCheckInvariants(kernel)).toEqual([]);
    // a buffer is live exactly while a user handle or a kernel handle holds it
    const held = new Set([...handles.map((e) => e.h.secureId), ...khandles.map((e) => e.d.secureId)]);
    expect(new Set(umpLiveHandles(kernel).map((m) => m.secureId))).toEqual(held);
    if (compat) expect(umpLiveHandles(kernel).every((m) => m.secureId >= 1 && m.secureId <= 4095)).toBe(true);
    for (const m of umpLiveHandles(kernel)) {
      if (backend === "dedicated") expect(m.size % (256 * 1024)).toBe(0);
    }
  }
  // let go of everything: every block back in its backend
  for (const e of khandles) for (let i = 0; i < e.refs; i++) umpDdReferenceRelease(e.d);
  for (const p of procs) p.exit(0);
  expect(umpLiveHandles(kernel)).toEqual([]);
  expect(umpMemoryUsage(kernel)).toBe(0);
  expect(umpBackendInfo(kernel)).toEqual(info0);
  if (backend !== "vcm") expect(mm.buddy.nrFreePages).toBe(free0);
});
