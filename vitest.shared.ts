// One vitest project per package. Tests run on source: the "@umm/source" export condition points
// every workspace import at src/*.ts, so `test` needs no build.
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { defineProject, type UserWorkspaceConfig } from "vitest/config";

export const SOURCE_CONDITIONS: string[] = ["@umm/source", "import", "module", "node", "default"];

/** The vitest project of the package whose vitest.config.ts calls this. */
export function packageProject(
  configUrl: string,
  extra: UserWorkspaceConfig["test"] = {},
): UserWorkspaceConfig {
  const dir = dirname(fileURLToPath(configUrl));
  return defineProject({
    resolve: { conditions: SOURCE_CONDITIONS },
    ssr: { resolve: { conditions: SOURCE_CONDITIONS } },
    test: {
      name: basename(dir),
      root: dir,
      include: ["test/**/*.test.ts", "src/**/*.test.ts"],
      environment: "node",
      testTimeout: 30_000,
      hookTimeout: 30_000,
      ...extra,
    },
  });
}
