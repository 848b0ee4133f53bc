import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

describe('README "Booting a board"', () => {
  it("shows the example that this test runs", async () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.split(/^## Booting a board\s*$/m)[1] ?? "";
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
    const file = readFileSync(new URL("./readme-boot.example.ts", import.meta.url), "utf8");
    expect(block.trim().length).toBeGreaterThan(0);
    expect(block.trim()).toBe(file.trim());
    await expect(import("./readme-boot.example.js")).resolves.toBeDefined();
  });
});
