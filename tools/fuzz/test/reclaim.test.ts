// Reclamation: either process of the pipeline killed at a random point; what only it held goes at
// once, the survivor carries on or ends cleanly, and once it is gone too everything is back.

import { dmaBufFromFile } from "@umm/dma-buf";
import { EXYNOS4210_BOARD, S5PV210_BOARD } from "@umm/soc";
import { describe, expect, it } from "vitest";
import { runReclamation } from "../src/reclaim.js";

describe("reclamation", () => {
  for (const board of [EXYNOS4210_BOARD, S5PV210_BOARD]) {
    it(`${board.name}: 30 kills at random points, everything returns`, async () => {
      const r = await runReclamation({ board, runs: 30, seed: 20260101 });
      expect(r.failures).toEqual([]);
      expect(r.kills.camera).toBeGreaterThan(8);
      expect(r.kills.compositor).toBeGreaterThan(8);
      // the kills themselves gave memory, files and (behind an IOMMU) D.V back
      expect(r.reclaimed.files).toBeGreaterThan(0);
      expect(r.reclaimed.dmabufs).toBeGreaterThan(0);
      expect(r.reclaimed.cmaUsed).toBeGreaterThan(0);
      if (board === EXYNOS4210_BOARD) expect(r.reclaimed.iovaPages).toBeGreaterThan(0);
      // survivors end normally or on a clean error, never anything else
      for (const end of Object.keys(r.survivors)) {
        expect(end).toMatch(/^(ok|E[A-Z]+ at .+|the (camera|compositor|peer) .+)$/);
      }
    });
  }

  it("the checks can fail: a driver that keeps a reference to the victim's dma-buf is reported", async () => {
    const r = await runReclamation({
      runs: 4,
      seed: 3,
      sabotage: (_m, victim) => {
        const fd = victim.fds.fds().find((n) => dmaBufFromFile(victim.fds.get(n)!) !== null);
        if (fd !== undefined) victim.fget(fd); // never put: the buffer outlives its holder
      },
    });
    expect(r.failures.join("\n")).toMatch(/outlived its only holder|files is \d+, \d+ after boot/);
    expect(r.failures.join("\n")).toMatch(/leak at shutdown/);
  });
});
