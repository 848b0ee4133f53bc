import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readmeUsage } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "..");

describe("README", () => {
  it("shows the usage example that this test runs", async () => {
    const { inReadme, inFile } = readmeUsage(pkgDir);
    expect(inReadme.length).toBeGreaterThan(0);
    expect(inReadme).toBe(inFile);
    await expect(import("./readme.example.js")).resolves.toBeDefined();
  });
});
