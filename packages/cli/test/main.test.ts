import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HELP, main } from "../src/index.js";

function capture() {
  let out = "";
  let err = "";
  return {
    io: { out: (s: string) => (out += s), err: (s: string) => (err += s) },
    get: () => ({ out, err }),
  };
}

describe("umm command line", () => {
  it("--help prints the usage and exits 0", async () => {
    const c = capture();
    expect(await main(["--help"], c.io)).toBe(0);
    expect(c.get().out).toBe(HELP);
    expect(HELP).toMatch(/^Usage:\n {2}umm <command> \[options\]/m);
  });

  it("no arguments prints the usage", async () => {
    const c = capture();
    expect(await main([], c.io)).toBe(0);
    expect(c.get().out).toContain("Commands:");
  });

  it("errno looks up names, aliases and numbers", async () => {
    const c = capture();
    expect(await main(["errno", "EINVAL", "EWOULDBLOCK", "--", "-12"], c.io)).toBe(0);
    expect(c.get().out).toBe(
      "EINVAL 22 Invalid argument\nEAGAIN 11 Resource temporarily unavailable\nENOMEM 12 Cannot allocate memory\n",
    );
  });

  it("errno reports an unknown name and exits 1", async () => {
    const c = capture();
    expect(await main(["errno", "ENOPE"], c.io)).toBe(1);
    expect(c.get().err).toContain('unknown errno "ENOPE"');
  });

  it("an unknown command or option exits 2 with the usage on stderr", async () => {
    const c = capture();
    expect(await main(["frobnicate"], c.io)).toBe(2);
    expect(c.get().err).toContain('unknown command "frobnicate"');
    const d = capture();
    expect(await main(["--nope"], d.io)).toBe(2);
    expect(d.get().err).toContain("Usage:");
  });

  it("the bin script runs the source and prints the help", () => {
    const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "bin", "umm.mjs");
    const r = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(HELP);
  });
});
