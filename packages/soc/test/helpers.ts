import { readFileSync } from "node:fs";
import { type BoardDescription, dtcAvailable, type FdtPropValue, writeFdt } from "../src/index.js";

/** dtc is installed on this machine (tests that compile DTS skip themselves otherwise). */
export const HAVE_DTC = dtcAvailable();
/** Why dtc-dependent tests skip. */
export const NO_DTC =
  "(skipped: dtc is not installed — apt-get install device-tree-compiler; the committed .dtb fixtures cover the same cases)";

/** A committed fixture's bytes. */
export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));
}

/** A committed fixture's text. */
export function fixtureText(name: string): string {
  return readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8");
}

/** A mutable node for building test trees. */
export interface N {
  name: string;
  props: Record<string, FdtPropValue>;
  children: N[];
}

/** A node. */
export const n = (name: string, props: Record<string, FdtPropValue> = {}, children: N[] = []): N => ({
  name,
  props,
  children,
});

/** The node at `path` of a test tree (throws when absent). */
export function at(root: N, path: string): N {
  let cur = root;
  for (const part of path.split("/").filter(Boolean)) {
    const next = cur.children.find((c) => c.name === part);
    if (!next) throw new Error(`test tree has no ${path}`);
    cur = next;
  }
  return cur;
}

/**
 * A small valid board: 256 MiB of DRAM, a reusable pool and a no-map pool, one SysMMU (FIMC0's)
 * and its master with both pools, a sensor.
 */
export function mini(): N {
  return n("", { "#address-cells": [1], "#size-cells": [1], compatible: "umm,mini" }, [
    n("aliases", { fimc0: "/soc/fimc@11800000", sensor0: "/sensor" }),
    n("chosen", { bootargs: "console=ttyS0 cma.map=*=pool@48000000" }),
    n("memory@40000000", { device_type: "memory", reg: [0x40000000, 0x10000000] }),
    n("reserved-memory", { "#address-cells": [1], "#size-cells": [1], ranges: true }, [
      n("pool@48000000", {
        compatible: "shared-dma-pool",
        reg: [0x48000000, 0x800000],
        reusable: true,
        phandle: [1],
      }),
      n("fw@4a000000", {
        compatible: "shared-dma-pool",
        reg: [0x4a000000, 0x100000],
        "no-map": true,
        phandle: [2],
      }),
    ]),
    n("soc", { compatible: "simple-bus", "#address-cells": [1], "#size-cells": [1], ranges: true }, [
      n("sysmmu@11a20000", {
        compatible: "samsung,exynos-sysmmu",
        reg: [0x11a20000, 0x1000],
        "#iommu-cells": [0],
        phandle: [3],
      }),
      n("fimc@11800000", {
        compatible: "samsung,exynos4210-fimc",
        reg: [0x11800000, 0x1000],
        iommus: [3],
        "memory-region": [1, 2],
        "umm,sensor": [4],
      }),
    ]),
    n("sensor", { compatible: "umm,test-pattern-sensor", phandle: [4] }),
  ]);
}

/** The blob of a test tree. */
export const blob = (root: N): Uint8Array => writeFdt(root);

/** A deep, mutable copy of a board description. */
export function clone(b: BoardDescription): Mutable<BoardDescription> {
  return structuredClone(b) as Mutable<BoardDescription>;
}

/** Removes `readonly` all the way down (tests edit copies of frozen boards). */
export type Mutable<T> = T extends (infer U)[]
  ? Mutable<U>[]
  : T extends readonly (infer U)[]
    ? Mutable<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: Mutable<T[K]> }
      : T;
