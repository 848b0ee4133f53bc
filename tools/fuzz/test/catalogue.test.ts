// The bad-input catalogue: every entry gets its errno and changes nothing — an exact snapshot of
// every allocator and reference count is identical before and after.

import * as dmaBuf from "@umm/dma-buf";
import * as drm from "@umm/drm-gem";
import * as pmm from "@umm/pmm";
import * as ump from "@umm/ump";
import * as v4l2 from "@umm/v4l2-videobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BadClass, CATALOGUE, runCatalogue } from "../src/catalogue.js";
import { formatDiffs } from "../src/snapshot.js";
import { bootTestbed, type Testbed } from "../src/testbed.js";

let tb: Testbed;
beforeAll(() => {
  tb = bootTestbed(3);
});
afterAll(() => {
  // the testbed itself comes apart without a leak: nothing a rejected call did stayed behind
  expect(tb.teardown()).toEqual([]);
});

describe("bad-input catalogue", () => {
  it.each(CATALOGUE.map((e) => [`${e.api} — ${e.cls}: ${e.what} → ${e.errno}`, e] as const))(
    "%s",
    (_name, entry) => {
      const [r] = runCatalogue(tb, [entry]);
      expect(r!.got).toBe(entry.errno);
      expect(formatDiffs(r!.diffs)).toBe("");
    },
  );

  it("covers every class of bad argument", () => {
    const classes: BadClass[] = [
      "wrong fd",
      "wrong size field",
      "unaligned",
      "overflow",
      "negative",
      "unknown flags",
      "foreign handle",
    ];
    for (const c of classes) expect(CATALOGUE.filter((e) => e.cls === c).length, c).toBeGreaterThanOrEqual(8);
  });

  it("names every ioctl the uapi modules export", () => {
    const ioctls = new Set<string>();
    const collect = (mod: Record<string, unknown>, re: RegExp) => {
      for (const [k, v] of Object.entries(mod)) if (typeof v === "number" && re.test(k)) ioctls.add(k);
    };
    collect(
      dmaBuf,
      /^(DMA_BUF_IOCTL_|DMA_BUF_SET_NAME_[AB]$|DMA_HEAP_IOCTL_|UDMABUF_CREATE|SYNC_IOC_(MERGE|FILE_INFO|SET_DEADLINE)$)/,
    );
    collect(ump, /^UMP_IOC_/);
    collect(pmm, /^IOCTL_PMM_/);
    collect(
      drm,
      /^DRM_IOCTL_(GEM_CLOSE|PRIME_|MODE_(CREATE|MAP|DESTROY)_DUMB|MODE_ADDFB2|MODE_RMFB|MODE_SETCRTC|MODE_PAGE_FLIP|MODE_GETCRTC|SET_MASTER)/,
    );
    collect(
      v4l2,
      /^VIDIOC_(QUERYCAP|ENUM_FMT|G_FMT|S_FMT|TRY_FMT|REQBUFS|QUERYBUF|QBUF|DQBUF|EXPBUF|STREAMON|STREAMOFF|CREATE_BUFS|PREPARE_BUF|REMOVE_BUFS)$/,
    );
    const named = new Set(CATALOGUE.map((e) => e.api));
    named.add("DMA_BUF_SET_NAME_A"); // DMA_BUF_SET_NAME is _A
    const missing = [...ioctls].filter((k) => !named.has(k));
    expect(missing).toEqual([]);
    expect(ioctls.size).toBeGreaterThan(50);
  });
});
