// Reading device trees: parsing the Exynos4210 fixture and turning it into a board, against
// raw Uint8Array.set of the same bytes in the same run. No goal: boards are read once per boot.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineBench } from "@umm/bench";
import { boardFromDt, EXYNOS4210_BOARD, fdtSpecOf, parseFdt, validateBoard, writeFdt } from "../src/index.js";

export default defineBench((b) => {
  // the runner bundles this file elsewhere: look beside the source, then from the working directory
  const candidates = [
    fileURLToPath(new URL("../fixtures/exynos4210.dtb", import.meta.url)),
    resolve("fixtures/exynos4210.dtb"),
    resolve("packages/soc/fixtures/exynos4210.dtb"),
  ];
  const dtb = new Uint8Array(readFileSync(candidates.find((p) => existsSync(p)) ?? candidates[0]!));
  const copy = new Uint8Array(dtb.length);
  const baseline = { name: `Uint8Array.set of the ${dtb.length}-byte blob`, run: () => copy.set(dtb) };
  b.throughput({
    name: "parseFdt of fixtures/exynos4210.dtb",
    bytes: dtb.length,
    run: () => parseFdt(dtb),
    baseline,
  });
  const spec = fdtSpecOf(parseFdt(dtb));
  b.throughput({ name: "writeFdt of the same tree", bytes: dtb.length, run: () => writeFdt(spec), baseline });
  b.cost({
    name: "boardFromDt of fixtures/exynos4210.dtb (parse, translate, validate)",
    run: () => boardFromDt(dtb, { name: "exynos4210" }),
    baseline,
  });
  b.cost({ name: "validateBoard(EXYNOS4210_BOARD)", run: () => validateBoard(EXYNOS4210_BOARD), baseline });
});
