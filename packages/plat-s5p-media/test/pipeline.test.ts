// Camera -> scaler -> display with dma-buf sharing and no CPU copy of frame data.
import { TraceRecorder } from "@umm/kernel-core";
import { firstDiff } from "@umm/kernel-core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { fimdLastFrame, nv12ToXrgb, testPatternFrame } from "../src/index.js";
import { bootMedia, expectAllReturned, expectNoHazards } from "./helpers.js";
import { Pipeline } from "./pipeline.js";

afterEach(expectNoHazards);

function expected(n: number): Uint8Array {
  const f = testPatternFrame(1920, 1080, n);
  const out = new Uint32Array(1920 * 1080);
  nv12ToXrgb(
    { y: f, yPitch: 1920, uv: f.subarray(1920 * 1080), uvPitch: 1920, width: 1920, height: 1080 },
    { data: out, pitch: 1920, width: 1920, height: 1080 },
  );
  return new Uint8Array(out.buffer);
}

describe("camera -> scaler -> display", () => {
  it("1080p frames reach the screen through dma-bufs, behind SysMMUs, with no CPU access to frame data", async () => {
    const r = bootMedia();
    const p = new Pipeline(r);
    await p.step(); // the first frame turns the display on
    const rec = new TraceRecorder(r.kernel.trace, {
      events: ["cpu_access", "cpu_copy", "fimc_capture_frame", "fimc_m2m_job", "fimd_scanout", "dma_xfer"],
    });
    let last = { seq: -1, fb: -1 };
    for (let n = 0; n < 6; n++) last = await p.step();
    expect(rec.of("cpu_access")).toEqual([]);
    expect(rec.of("cpu_copy")).toEqual([]);
    expect(rec.of("fimc_m2m_job").length).toBe(6);
    expect(rec.of("fimd_scanout").length).toBeGreaterThanOrEqual(6);
    // every device access went through an IOVA window (SysMMU), never a physical address
    const xfers = rec.of("dma_xfer");
    expect(new Set(xfers.map((e) => e.data.device))).toEqual(new Set(["fimc0", "fimc1", "fimd0"]));
    expect(xfers.every((e) => e.data.daddr >= 0x20000000 && e.data.daddr < 0x30000000)).toBe(true);
    // what the FIMD read is the converted camera frame that was flipped last
    const shown = fimdLastFrame(r.dev("fimd0"))!;
    expect(shown).toMatchObject({ width: 1920, height: 1080, fb: p.fbIds[last.fb] });
    expect(firstDiff(shown.data, expected(last.seq))).toBe(-1);
    rec.stop();
    p.stop();
    await r.teardown();
    expectAllReturned(r);
  });
});
