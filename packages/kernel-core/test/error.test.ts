import { describe, expect, it } from "vitest";
import { hex, isKernelError, KernelBug, KernelError, kassert, kfail } from "../src/index.js";
import { kerr } from "../src/testing.js";

describe("KernelError", () => {
  it("carries the errno name, the Linux number and a message naming the argument", () => {
    const e = new KernelError("EINVAL", "iova 0x1001 is not aligned to 4 KiB");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("KernelError");
    expect(e.errno).toBe("EINVAL");
    expect(e.code).toBe(22);
    expect(e.negative).toBe(-22);
    expect(e.detail).toBe("iova 0x1001 is not aligned to 4 KiB");
    expect(e.message).toBe("EINVAL: iova 0x1001 is not aligned to 4 KiB");
  });

  it("keeps a cause", () => {
    const low = new KernelError("ENOMEM", "no page for the lv2 table");
    const e = new KernelError("ENOMEM", "iommu map failed", { cause: low });
    expect(e.cause).toBe(low);
  });

  it("refuses an unknown errno name as a bug", () => {
    expect(() => new KernelError("EBOGUS" as never, "x")).toThrow(KernelBug);
  });

  it("kerr matches by errno and optionally by detail", () => {
    expect(() => kfail("EBUSY", "region reg1 still has 2 chunks")).toThrow(kerr("EBUSY"));
    expect(() => kfail("EBUSY", "region reg1 still has 2 chunks")).toThrow(kerr("EBUSY", "2 chunks"));
    expect(() => kfail("EBUSY", "x")).not.toThrow(kerr("EINVAL"));
    expect(() => kfail("ENOENT", "addr 0x1000 (start?)")).toThrow(kerr("ENOENT", "0x1000 (start?)"));
    expect(() => kfail("ENOENT", "addr 0x1000")).toThrow(kerr("ENOENT", /addr 0x[0-9a-f]+$/));
  });

  it("isKernelError checks type and errno", () => {
    const e = new KernelError("EFAULT", "uaddr 0x0 is not mapped");
    expect(isKernelError(e)).toBe(true);
    expect(isKernelError(e, "EFAULT")).toBe(true);
    expect(isKernelError(e, "EINVAL")).toBe(false);
    expect(isKernelError(new Error("EFAULT: x"))).toBe(false);
  });

  it("kassert throws KernelBug, not KernelError", () => {
    expect(() => kassert(false, "refcount underflow")).toThrow(KernelBug);
    expect(() => kassert(1, "fine")).not.toThrow();
  });

  it("hex formats addresses", () => {
    expect(hex(0x40000000)).toBe("0x40000000");
    expect(hex(0)).toBe("0x0");
    expect(hex(-16)).toBe("-0x10");
    expect(hex(2n ** 40n)).toBe("0x10000000000");
  });
});

describe("firstDiff", () => {
  it("finds the first differing byte, or -1", async () => {
    const { firstDiff } = await import("../src/testing.js");
    const a = new Uint8Array(1000).map((_, i) => i & 0xff);
    const b = a.slice();
    expect(firstDiff(a, b)).toBe(-1);
    b[777] = 1;
    expect(firstDiff(a, b)).toBe(777);
    expect(firstDiff(a, a.subarray(0, 10))).toBe(10);
    const nan1 = new Uint8Array(new Float64Array([Number.NaN]).buffer);
    const nan2 = nan1.slice();
    nan2[0] = nan2[0]! ^ 1; // a different NaN payload
    expect(firstDiff(nan1, nan2)).toBe(0);
  });
});

describe("pattern", () => {
  it("gives the same bytes for the same seed, a prefix for a shorter length, other bytes for another seed", async () => {
    const { firstDiff, pattern } = await import("../src/testing.js");
    // the first bytes of seed 1, as the tests across the repository were written against them
    expect(Array.from(pattern(8))).toEqual([0x54, 0xb1, 0x7c, 0x00, 0x4f, 0xb3, 0x58, 0x0b]);
    expect(firstDiff(pattern(4096, 7), pattern(4096, 7))).toBe(-1);
    expect(firstDiff(pattern(100, 7), pattern(4096, 7).subarray(0, 100))).toBe(-1);
    expect(firstDiff(pattern(4096, 1), pattern(4096, 2))).toBe(0);
    expect(pattern(0)).toHaveLength(0);
  });
});
