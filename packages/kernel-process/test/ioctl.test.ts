import { fc, test } from "@fast-check/vitest";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_NONE,
  _IOC_NR,
  _IOC_READ,
  _IOC_SIZE,
  _IOC_TYPE,
  _IOC_WRITE,
  _IOR,
  _IOW,
  _IOWR,
  formatIoctl,
  IOC_IN,
  IOC_INOUT,
  IOC_OUT,
  IOCSIZE_MASK,
} from "../src/index.js";

describe("ioctl numbers (include/uapi/asm-generic/ioctl.h)", () => {
  it("encodes as Linux does, as unsigned 32-bit numbers", () => {
    expect(_IOWR("p", 0, 24)).toBe(0xc0187000);
    // include/uapi/linux/dma-buf.h: DMA_BUF_IOCTL_SYNC _IOW(DMA_BUF_BASE, 0, struct dma_buf_sync)
    expect(_IOW("b", 0, 8)).toBe(0x40086200);
    // include/uapi/linux/videodev2.h, 64-bit struct v4l2_buffer (88 bytes)
    expect(_IOWR("V", 15, 88)).toBe(0xc058560f);
    // VIDIOC_QUERYCAP _IOR('V', 0, struct v4l2_capability) (104 bytes)
    expect(_IOR("V", 0, 104)).toBe(0x80685600);
    // VIDIOC_STREAMON _IOW('V', 18, int)
    expect(_IOW("V", 18, 4)).toBe(0x40045612);
    // DRM_IOCTL_MODE_CREATE_DUMB DRM_IOWR(0xB2, struct drm_mode_create_dumb) (32 bytes)
    expect(_IOWR("d", 0xb2, 32)).toBe(0xc02064b2);
    // DRM_IOCTL_PRIME_HANDLE_TO_FD DRM_IOWR(0x2d, struct drm_prime_handle) (12 bytes)
    expect(_IOWR("d", 0x2d, 12)).toBe(0xc00c642d);
    // DMA_HEAP_IOCTL_ALLOC _IOWR(DMA_HEAP_IOC_MAGIC 'H', 0x0, struct dma_heap_allocation_data)
    expect(_IOWR("H", 0, 24)).toBe(0xc0184800);
    // DRM_IOCTL_GEM_CLOSE DRM_IOW(0x09, struct drm_gem_close) (8 bytes)
    expect(_IOW("d", 0x09, 8)).toBe(0x40086409);
    expect(_IO("V", 99)).toBe(0x5663);
  });

  it("takes the type as a character or as its code", () => {
    expect(_IOWR(0x56, 15, 88)).toBe(_IOWR("V", 15, 88));
    expect(_IOC(_IOC_READ | _IOC_WRITE, "V", 15, 88)).toBe(0xc058560f);
    expect(_IOC(_IOC_NONE, "V", 99, 0)).toBe(_IO("V", 99));
  });

  it("decodes direction, type, number and size", () => {
    const cmd = 0xc058560f;
    expect(_IOC_DIR(cmd)).toBe(_IOC_READ | _IOC_WRITE);
    expect(String.fromCharCode(_IOC_TYPE(cmd))).toBe("V");
    expect(_IOC_NR(cmd)).toBe(15);
    expect(_IOC_SIZE(cmd)).toBe(88);
    expect(_IOC_DIR(0x40086200)).toBe(_IOC_WRITE);
    expect(_IOC_DIR(0x80685600)).toBe(_IOC_READ);
    expect(_IOC_DIR(0x5663)).toBe(_IOC_NONE);
    // the signed form a C int would print decodes the same
    expect(_IOC_SIZE(cmd | 0)).toBe(88);
  });

  it("has the IOC_IN/OUT/INOUT and IOCSIZE_MASK helpers of the header", () => {
    expect(IOC_IN).toBe(0x40000000);
    expect(IOC_OUT).toBe(0x80000000);
    expect(IOC_INOUT).toBe(0xc0000000);
    expect(IOCSIZE_MASK).toBe(0x3fff0000);
  });

  it("rejects a field that does not fit its bits with EINVAL naming the field", () => {
    expect(() => _IOWR("V", 15, 1 << 14)).toThrow(kerr("EINVAL", /size 16384/));
    expect(() => _IOW("V", 256, 4)).toThrow(kerr("EINVAL", /nr 256/));
    expect(() => _IOW("VV", 1, 4)).toThrow(kerr("EINVAL", /type "VV"/));
    expect(() => _IOW(300, 1, 4)).toThrow(kerr("EINVAL", /type 300/));
    expect(() => _IOC(4, "V", 1, 4)).toThrow(kerr("EINVAL", /dir 4/));
    expect(() => _IOW("V", 1, 2.5)).toThrow(kerr("EINVAL", /size 2.5/));
  });

  it("formats commands the way strace prints them", () => {
    expect(formatIoctl(0xc058560f)).toBe("_IOWR('V', 0xf, 0x58)");
    expect(formatIoctl(_IO("V", 99))).toBe("_IO('V', 0x63)");
    expect(formatIoctl(_IOR(1, 2, 3))).toBe("_IOR(0x1, 0x2, 0x3)");
  });

  test.prop([
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: (1 << 14) - 1 }),
  ])("every field round-trips and the number is an unsigned 32-bit value", (dir, type, nr, size) => {
    const cmd = _IOC(dir, type, nr, size);
    expect(cmd).toBeGreaterThanOrEqual(0);
    expect(cmd).toBeLessThan(2 ** 32);
    expect([_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), _IOC_SIZE(cmd)]).toEqual([dir, type, nr, size]);
  });
});
