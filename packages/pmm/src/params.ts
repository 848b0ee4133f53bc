/**
 * The `pmm=` boot parameter (`drivers/s3cmm/pmm-init.c`, `early_param("pmm", ...)`).
 *
 * @module
 */
import { hex, KernelError, pageAlign } from "@umm/kernel-core";
import { memparse } from "@umm/mm-cma";
import { PMM_MAX_SIZE } from "./types.js";

/**
 * Reads `pmm=<size>` from a kernel command line (the last one wins, as repeated early
 * parameters do) with `memparse` (`pmm=32M`, `pmm=0x2000000`; trailing characters are ignored as
 * memparse ignores them). Returns the page-aligned size, or null when the line has no `pmm=`.
 * EINVAL when the size is 0 or above 1 GiB (the RFC warns "refusing to allocate more then 1GiB").
 */
export function parsePmmParam(cmdline: string): number | null {
  if (typeof cmdline !== "string") throw new KernelError("EINVAL", "pmm=: the command line is not a string");
  let value: string | null = null;
  for (const tok of cmdline.split(/\s+/)) if (tok.startsWith("pmm=")) value = tok.slice(4);
  if (value === null) return null;
  const size = memparse(value).value;
  if (!(size > 0)) throw new KernelError("EINVAL", `pmm=${value}: size must be greater than 0`);
  if (size > PMM_MAX_SIZE) {
    throw new KernelError(
      "EINVAL",
      `pmm=${value}: ${hex(size)} bytes: refusing to allocate more then 1GiB (${hex(PMM_MAX_SIZE)})`,
    );
  }
  return pageAlign(size);
}
