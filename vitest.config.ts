import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "tools/*/vitest.config.ts"],
    // CI machines have 2 cores; a few suites move hundreds of MiB of simulated DRAM.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
