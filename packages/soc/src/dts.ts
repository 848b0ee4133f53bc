/**
 * Device-tree source (DTS) compilation through the device-tree compiler, `dtc` — Debian's
 * `device-tree-compiler` package (dtc 1.6.1 on bookworm). umm does not parse DTS itself: boards
 * ship their `.dts` source together with the `.dtb` compiled from it, and `parseFdt` reads the
 * blob on machines without dtc.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { KernelError } from "@umm/kernel-core";

/** Options of `compileDts`. */
export interface CompileDtsOpts {
  /** the compiler to run (default "dtc", found on PATH) */
  readonly dtc?: string;
  /** directories for `/include/` (`-i`) */
  readonly includeDirs?: readonly string[];
  /** keep labels in a `__symbols__` node (`-@`) */
  readonly symbols?: boolean;
  /** called with dtc's warnings (its stderr) when the compilation succeeds with some */
  readonly onWarning?: (text: string) => void;
}

const MISSING =
  "dtc, the device-tree compiler, is not installed (Debian: apt-get install device-tree-compiler); load a precompiled .dtb with parseFdt instead";

/** The version line of `dtc --version` ("DTC 1.6.1"), or null when no dtc can be run. */
export function dtcVersion(dtc = "dtc"): string | null {
  const r = spawnSync(dtc, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  const m = /DTC\s+\S+/.exec(r.stdout);
  return m ? m[0] : r.stdout.trim() || null;
}

/** True when `dtc` (or the given compiler) can be run. */
export function dtcAvailable(dtc = "dtc"): boolean {
  return dtcVersion(dtc) !== null;
}

/**
 * Compiles DTS source to a flattened device tree blob with `dtc -I dts -O dtb`. ENOSYS when dtc
 * is not installed; EINVAL with dtc's own message (line and column) when the source is rejected.
 */
export function compileDts(source: string, opts: CompileDtsOpts = {}): Uint8Array {
  if (typeof source !== "string") throw new KernelError("EINVAL", "compileDts: the source is not a string");
  const args = ["-I", "dts", "-O", "dtb", "-o", "-"];
  for (const d of opts.includeDirs ?? []) args.push("-i", d);
  if (opts.symbols) args.push("-@");
  args.push("-");
  const r = spawnSync(opts.dtc ?? "dtc", args, { input: source, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES") throw new KernelError("ENOSYS", `compileDts: ${MISSING}`);
    throw new KernelError("EIO", `compileDts: running dtc failed: ${r.error.message}`, { cause: r.error });
  }
  const stderr = r.stderr.toString("utf8").trim();
  if (r.status !== 0) {
    throw new KernelError(
      "EINVAL",
      `compileDts: dtc rejected the source: ${stderr || `exit status ${r.status}`}`,
    );
  }
  if (stderr && opts.onWarning) opts.onWarning(stderr);
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength).slice();
}
