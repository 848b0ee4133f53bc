// Reclamation: either process of the pipeline killed at a random point; what only it held goes at
// once, the survivor carries on or ends cleanly, and once it is gone too everything is back.

import { EXYNOS4210_BOARD, S5PV210_BOARD } from "@umm/soc";
import { describe, expect, it } from "vitest";
import { runReclamation } from "../src/reclaim.js";

describe("reclamation", () => {
  for (const board of [EXYNOS4210_BOARD, S5PV210_BOARD]) {
    it(`${board.name}: 40 kills at random points, everything returns`, async () => {
      const r = await runReclamation({ board, runs: 40, seed: 20260101 });
      expect(r.failures).toEqual([]);
      expect(r.kills.camera).toBeGreaterThan(10);
      expect(r.kills.compositor).toBeGreaterThan(10);
      // survivors end normally or on a clean error, never anything else
      for (const end of Object.keys(r.survivors)) {
        expect(end).toMatch(/^(ok|E[A-Z]+ at .+|the (camera|compositor|peer) .+)$/);
      }
    });
  }
});
