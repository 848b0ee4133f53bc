import { formatSize } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import { progress, type SummaryRow, summaryTable } from "../src/index.js";

const rows: SummaryRow[] = [
  { stage: "camera", frames: 120, dropped: 0, cma_bytes: 4194304, ok: true },
  { stage: "scaler", frames: 118, dropped: 2, cma_bytes: 1048576, ok: true },
  { stage: "display", frames: 118, dropped: null, cma_bytes: 8388608, ok: false },
];

describe("summaryTable", () => {
  it("prints an aligned plain-text table: numbers right, text left, no colour", () => {
    expect(summaryTable(rows)).toBe(
      [
        "stage    frames  dropped  cma_bytes  ok",
        "-------  ------  -------  ---------  -----",
        "camera      120        0    4194304  true",
        "scaler      118        2    1048576  true",
        "display     118        -    8388608  false",
        "",
      ].join("\n"),
    );
    expect(summaryTable(rows).includes("\x1b")).toBe(false);
  });

  it("takes columns with titles and formats, and bolds the header only when asked", () => {
    const cols = [
      "stage",
      {
        key: "cma_bytes",
        title: "CMA",
        format: (v: unknown) => formatSize(Number(v)),
        align: "right" as const,
      },
    ];
    expect(summaryTable(rows, { columns: cols })).toBe(
      ["stage      CMA", "-------  -----", "camera   4 MiB", "scaler   1 MiB", "display  8 MiB", ""].join(
        "\n",
      ),
    );
    expect(summaryTable(rows, { columns: cols, color: true }).split("\n")[0]).toBe(
      "\x1b[1mstage      CMA\x1b[22m",
    );
  });

  it("has a JSON twin with the column keys, in order, missing values null", () => {
    const json = summaryTable([...rows, { stage: "extra" }], { json: true, columns: ["stage", "frames"] });
    expect(JSON.parse(json)).toEqual([
      { stage: "camera", frames: 120 },
      { stage: "scaler", frames: 118 },
      { stage: "display", frames: 118 },
      { stage: "extra", frames: null },
    ]);
    expect(Object.keys(JSON.parse(summaryTable(rows, { json: true }))[0])).toEqual([
      "stage",
      "frames",
      "dropped",
      "cma_bytes",
      "ok",
    ]);
    expect(json.endsWith("\n")).toBe(true);
  });

  it("rejects a column listed twice", () => {
    expect(() => summaryTable(rows, { columns: ["stage", "stage"] })).toThrow(/listed twice/);
  });
});

describe("progress", () => {
  it("prints plain periodic lines when not on a TTY", () => {
    let out = "";
    const p = progress({ total: 120, isTTY: false, write: (s) => (out += s), every: 30 });
    for (let k = 0; k < 120; k++) p.tick();
    p.done();
    expect(out).toBe("frame 30/120 (25%)\nframe 60/120 (50%)\nframe 90/120 (75%)\nframe 120/120 (100%)\n");
    expect(out.includes("\r") || out.includes("\x1b")).toBe(false);
  });

  it("defaults to a line every tenth and prints where it stopped", () => {
    let out = "";
    const p = progress({ total: 40, isTTY: false, write: (s) => (out += s), label: "step" });
    p.update(9);
    p.update(21);
    p.done();
    p.done();
    expect(out).toBe("step 9/40 (22%)\nstep 21/40 (52%)\n");
    expect(p.current).toBe(21);
    expect(() => p.tick()).toThrow(/after done/);
  });

  it("draws a bar redrawn in place on a TTY and ends the line", () => {
    let out = "";
    const p = progress({ total: 4, isTTY: true, write: (s) => (out += s), width: 8 });
    p.tick();
    p.tick();
    p.tick();
    p.tick();
    p.done();
    expect(out.split("\r").slice(1)).toEqual([
      "frame [==>     ] 1/4  25%",
      "frame [====>   ] 2/4  50%",
      "frame [======> ] 3/4  75%",
      "frame [========] 4/4 100%\n",
    ]);
  });

  it("handles an empty run and rejects bad totals", () => {
    let out = "";
    progress({ total: 0, isTTY: false, write: (s) => (out += s) }).done();
    expect(out).toBe("frame 0/0 (100%)\n");
    expect(() => progress({ total: -1, isTTY: false, write: () => {} })).toThrow(/total -1/);
  });
});
