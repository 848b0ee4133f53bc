import { describe, expect, it } from "vitest";
import {
  alignDown,
  alignUp,
  DMA_BIT_MASK,
  ffs,
  fls,
  formatSize,
  getOrder,
  isPowerOfTwo,
  PAGE_SIZE,
  pageAlign,
  pfnOf,
  SZ_1M,
  SZ_4G,
  SZ_64K,
} from "../src/index.js";

describe("sizes", () => {
  it("DMA_BIT_MASK", () => {
    expect(DMA_BIT_MASK(24)).toBe(0xffffff);
    expect(DMA_BIT_MASK(32)).toBe(0xffffffff);
    expect(DMA_BIT_MASK(36)).toBe(2 ** 36 - 1);
    expect(DMA_BIT_MASK(64)).toBeGreaterThan(2 ** 53);
    expect(() => DMA_BIT_MASK(65)).toThrow(RangeError);
  });

  it("isPowerOfTwo beyond 32 bits", () => {
    expect(isPowerOfTwo(1)).toBe(true);
    expect(isPowerOfTwo(SZ_4G)).toBe(true);
    expect(isPowerOfTwo(2 ** 40)).toBe(true);
    expect(isPowerOfTwo(0)).toBe(false);
    expect(isPowerOfTwo(3 * SZ_1M)).toBe(false);
    expect(isPowerOfTwo(2 ** 40 + 2)).toBe(false);
    expect(isPowerOfTwo(0.5)).toBe(false);
  });

  it("alignment helpers", () => {
    expect(alignUp(0x1001, 0x1000)).toBe(0x2000);
    expect(alignDown(0x1fff, 0x1000)).toBe(0x1000);
    expect(pageAlign(1)).toBe(PAGE_SIZE);
    expect(pageAlign(0)).toBe(0);
    expect(pfnOf(0x40001000)).toBe(0x40001);
    expect(getOrder(1)).toBe(0);
    expect(getOrder(PAGE_SIZE + 1)).toBe(1);
    expect(getOrder(SZ_1M)).toBe(8);
    expect(ffs(SZ_64K * 3)).toBe(16);
    expect(ffs(2 ** 40)).toBe(40);
    expect(fls(0x1_8000_0000)).toBe(32);
  });

  it("formatSize", () => {
    expect(formatSize(3 * SZ_1M)).toBe("3 MiB");
    expect(formatSize(4096)).toBe("4 KiB");
    expect(formatSize(3110400)).toBe("2.97 MiB");
    expect(formatSize(100)).toBe("100 B");
  });
});
