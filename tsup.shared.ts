// Shared tsup settings: ESM + .d.ts for every public entry a package has.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Options } from "tsup";

const ENTRIES = ["index", "ops", "testing"];

/** The tsup config of the package whose tsup.config.ts calls this. */
export function packageTsup(configUrl: string, extra: Options = {}): ReturnType<typeof defineConfig> {
  const dir = dirname(fileURLToPath(configUrl));
  const entry = ENTRIES.map((e) => `src/${e}.ts`).filter((e) => existsSync(join(dir, e)));
  return defineConfig({
    entry,
    format: ["esm"],
    dts: true,
    clean: true,
    sourcemap: true,
    target: "node20",
    splitting: true,
    treeshake: false,
    // Workspace packages and test tooling stay imports, never bundled in.
    external: [/^@umm\//, "vitest", "fast-check", "@fast-check/vitest"],
    ...extra,
  });
}
