// The bad-input catalogue: every entry gets its errno (or the kernel's sentinel, WARN or BUG) and
// changes nothing — an exact snapshot of every allocator and reference count, DRM's objects and
// the capture queues is identical before and after. Every ioctl and allocator entry point has an
// entry for each class of bad argument, or a recorded reason why the class cannot apply.

import { GFP_KERNEL } from "@umm/mm-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BadClass,
  type BadInput,
  CATALOGUE,
  type CatalogueResult,
  runCatalogue,
} from "../src/catalogue.js";
import { coverageGaps, INTERFACES, REQUIRED_CLASSES } from "../src/catalogue-coverage.js";
import { IOCTLS } from "../src/catalogue-ioctls.js";
import { formatDiffs } from "../src/snapshot.js";
import { bootTestbed, type Testbed } from "../src/testbed.js";

let tb: Testbed;
let results: Map<BadInput, CatalogueResult>;
beforeAll(() => {
  tb = bootTestbed(3);
  // one pass: each entry's "after" is the next one's "before", so every change is caught
  results = new Map(runCatalogue(tb).map((r) => [r.entry, r]));
});
afterAll(() => {
  // the testbed itself comes apart without a leak: nothing a rejected call did stayed behind
  expect(tb.teardown()).toEqual([]);
});

describe("bad-input catalogue", () => {
  it.each(CATALOGUE.map((e) => [`${e.api} — ${e.cls}: ${e.what} → ${e.errno}`, e] as const))(
    "%s",
    (_name, entry) => {
      const r = results.get(entry)!;
      expect(formatDiffs(r.diffs)).toBe("");
      expect(r.ok, `got ${r.got}`).toBe(true);
    },
  );

  it("every ioctl and allocator entry point × every class: an entry, or the reason it cannot apply", () => {
    expect(coverageGaps(CATALOGUE)).toEqual({ missing: [], both: [], unknown: [] });
    expect(INTERFACES.length).toBeGreaterThan(80);
    // the compat aliases (VIDIOC_*32) get the generated entries too
    for (const io of IOCTLS)
      expect(
        CATALOGUE.some((e) => e.api === io.name && e.cls === "wrong fd"),
        io.name,
      ).toBe(true);
  });

  it("each class of bad argument has many entries", () => {
    for (const c of REQUIRED_CLASSES) {
      expect(CATALOGUE.filter((e) => e.cls === c).length, c).toBeGreaterThanOrEqual(20);
    }
  });

  it("the checks can fail: a wrong errno, and a call that changes state, are reported", () => {
    let taken: number | null = null;
    const planted: BadInput[] = [
      {
        api: "planted",
        cls: "wrong fd" as BadClass,
        what: "expects the wrong errno",
        errno: "EPERM",
        call: (t) => t.a.close(99),
      },
      {
        api: "planted",
        cls: "overflow" as BadClass,
        what: "takes a page and keeps it",
        errno: "accepted",
        call: (t) => {
          taken = t.machine.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "planted" });
        },
      },
    ];
    const [wrongErrno, leaks] = runCatalogue(tb, planted);
    expect(wrongErrno!.ok).toBe(false);
    expect(wrongErrno!.got).toBe("EBADF");
    expect(leaks!.ok).toBe(false);
    expect(formatDiffs(leaks!.diffs)).toMatch(/frames\.refcount: 1 element\(s\) differ/);
    // give the page back so that the teardown finds nothing
    tb.machine.mm.buddy.freePages(taken!, 0);
  });
});
