/**
 * Dumb buffers (drivers/gpu/drm/drm_dumb_buffers.c, `drm_gem_dma_dumb_create`): scanout buffers
 * any client can create from a width, a height and bits per pixel, map with mmap(2) and put in a
 * framebuffer — no GPU, no driver-specific ioctl.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { struct, u32 } from "./args.js";
import type { DrmDevice, DrmFile } from "./device.js";
import {
  type DrmGemObject,
  drmGemCreateMmapOffset,
  drmGemDmaCreate,
  drmGemHandleCreate,
  drmGemHandleDelete,
  drmGemObjectLookup,
} from "./gem.js";
import type { DrmModeCreateDumb, DrmModeDestroyDumb, DrmModeMapDumb } from "./types.js";

const U32_MAX = 0xffffffff;

/** The pitch and size the DMA helper gives a dumb buffer (what CREATE_DUMB returns). */
export function drmDumbSize(
  ddev: DrmDevice,
  width: number,
  height: number,
  bpp: number,
): { pitch: number; size: number } {
  const align = ddev.driver.pitchAlign ?? 1;
  const pitch = Math.ceil(Math.ceil((width * bpp) / 8) / align) * align;
  const size = Math.ceil((pitch * height) / PAGE_SIZE) * PAGE_SIZE;
  return { pitch, size };
}

/**
 * @internal DRM_IOCTL_MODE_CREATE_DUMB (`drm_mode_create_dumb` + `drm_gem_dma_dumb_create`):
 * EINVAL for a zero width, height or bpp, or one whose size overflows 32 bits; ENOMEM when the
 * display's memory has no room. Writes `handle`, `pitch` and `size` (page-aligned).
 */
export function drmModeCreateDumbIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_CREATE_DUMB";
  const a = struct<DrmModeCreateDumb>(arg, what);
  const width = u32(a, "width", what);
  const height = u32(a, "height", what);
  const bpp = u32(a, "bpp", what);
  u32(a, "flags", what, true);
  if (!width) throw new KernelError("EINVAL", `${what}: width is 0`);
  if (!height) throw new KernelError("EINVAL", `${what}: height is 0`);
  if (!bpp) throw new KernelError("EINVAL", `${what}: bpp is 0`);
  if (bpp > U32_MAX - 8) throw new KernelError("EINVAL", `${what}: bpp ${bpp} overflows`);
  const cpp = Math.ceil(bpp / 8);
  if (cpp > Math.floor(U32_MAX / width)) {
    throw new KernelError("EINVAL", `${what}: width ${width} × ${cpp} bytes per pixel overflows 32 bits`);
  }
  const stride = cpp * width;
  if (height > Math.floor(U32_MAX / stride)) {
    throw new KernelError("EINVAL", `${what}: height ${height} × pitch ${stride} overflows 32 bits`);
  }
  if (Math.ceil((height * stride) / PAGE_SIZE) * PAGE_SIZE > U32_MAX) {
    throw new KernelError("EINVAL", `${what}: size ${hex(height * stride)} wraps when page-aligned`);
  }
  const ddev = file.dev;
  const { pitch, size } = drmDumbSize(ddev, width, height, bpp);
  if (size > U32_MAX) throw new KernelError("EINVAL", `${what}: aligned size ${hex(size)} overflows 32 bits`);
  const obj = drmGemDmaCreate(ddev, size);
  const handle = drmGemHandleCreate(file, obj);
  obj.put(); // the handle holds it now
  const tp = ddev._tp.gemCreate;
  if (tp.enabled) tp.emit({ dev: ddev.name, obj: obj.name, handle, size: obj.size, daddr: obj.dmaAddr });
  a.handle = handle;
  a.pitch = pitch;
  a.size = obj.size;
  return 0;
}

/**
 * @internal DRM_IOCTL_MODE_MAP_DUMB (`drm_gem_dumb_map_offset`): the object's fake mmap offset.
 * ENOENT for a handle the file does not have; EINVAL for an imported object.
 */
export function drmModeMapDumbIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_MAP_DUMB";
  const a = struct<DrmModeMapDumb>(arg, what);
  const handle = u32(a, "handle", what);
  const obj: DrmGemObject | null = drmGemObjectLookup(file, handle);
  if (!obj) throw new KernelError("ENOENT", `${what}: handle ${handle} is not a GEM handle of this file`);
  try {
    if (obj.imported) {
      throw new KernelError(
        "EINVAL",
        `${what}: handle ${handle} is an imported dma-buf (mmap the dma-buf fd)`,
      );
    }
    a.offset = drmGemCreateMmapOffset(obj);
  } finally {
    obj.put();
  }
  return 0;
}

/** @internal DRM_IOCTL_MODE_DESTROY_DUMB: `drm_gem_handle_delete` (EINVAL for a bad handle). */
export function drmModeDestroyDumbIoctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_DESTROY_DUMB";
  const a = struct<DrmModeDestroyDumb>(arg, what);
  drmGemHandleDelete(file, u32(a, "handle", what));
  return 0;
}
