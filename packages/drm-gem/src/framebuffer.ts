/**
 * Framebuffers (drivers/gpu/drm/drm_framebuffer.c, drm_gem_framebuffer_helper.c): a pixel
 * format, a size and, per plane of the format, a GEM object with an offset and a pitch — what a
 * plane scans out. ADDFB2 checks that every plane fits in its object; the framebuffer holds a
 * reference to each object, and the file that made it holds the framebuffer until RMFB or close.
 * RMFB (or closing the file) of a framebuffer on screen turns the CRTC off first.
 *
 * @module
 */
import { hex, KernelBug, KernelError, Kref } from "@umm/kernel-core";
import { struct, u32, u32x4, u64x4 } from "./args.js";
import type { DrmDevice, DrmFile, DrmModeObject } from "./device.js";
import {
  type DrmFormatInfo,
  drmFormatInfo,
  drmFormatMinPitch,
  drmFormatPlaneHeight,
  drmFormatPlaneWidth,
  fourccName,
} from "./fourcc.js";
import { type DrmGemObject, drmGemObjectLookup } from "./gem.js";
import { drmKmsRemoveFb } from "./kms.js";
import { DRM_MODE_FB_INTERLACED, DRM_MODE_FB_MODIFIERS, type DrmModeFbCmd2 } from "./types.js";

const UINT_MAX = 0xffffffff;

/** A framebuffer (`struct drm_framebuffer` of the GEM framebuffer helper). */
export class DrmFramebuffer implements DrmModeObject {
  /** mode object kind */
  readonly kind = "fb" as const;
  /** the device */
  readonly dev: DrmDevice;
  /** the mode object id (`fb_id`) */
  readonly id: number;
  /** the pixel format */
  readonly format: DrmFormatInfo;
  /** pixels */
  readonly width: number;
  /** lines */
  readonly height: number;
  /** bytes per row of each plane */
  readonly pitches: readonly number[];
  /** byte offset of each plane in its object */
  readonly offsets: readonly number[];
  /** the GEM object of each plane (one object may back several planes) */
  readonly objs: readonly DrmGemObject[];
  /** DRM_MODE_FB_* flags */
  readonly flags: number;
  /** the command of the process that made it (`fb->comm`) */
  readonly comm: string;
  /** @internal the file whose `fbs` list holds it (`filp_head`), null after RMFB */
  _owner: DrmFile | null;
  /** @internal still in the id table */
  _registered = true;
  readonly #kref: Kref;

  /** @internal made by ADDFB2 */
  constructor(
    dev: DrmDevice,
    owner: DrmFile,
    format: DrmFormatInfo,
    width: number,
    height: number,
    pitches: number[],
    offsets: number[],
    objs: DrmGemObject[],
    flags: number,
  ) {
    this.dev = dev;
    this._owner = owner;
    this.format = format;
    this.width = width;
    this.height = height;
    this.pitches = Object.freeze(pitches);
    this.offsets = Object.freeze(offsets);
    this.objs = Object.freeze(objs);
    this.flags = flags;
    this.comm = dev.kernel.current.comm;
    this.id = dev._allocModeId(this);
    this.#kref = new Kref(() => this.#destroy(), `framebuffer ${this.id} of ${dev.name}`);
    dev._liveFbs.add(this);
  }

  /** References held (the owner file's list, plane states, pending commits, kernel users). */
  get refcount(): number {
    return this.#kref.count;
  }

  /** True once destroyed. */
  get destroyed(): boolean {
    return this.#kref.released;
  }

  /** `drm_framebuffer_get` */
  get(): void {
    this.#kref.get();
  }

  /** `drm_framebuffer_put`: the last reference destroys it and drops its objects. */
  put(): void {
    this.#kref.put();
  }

  /** @internal removes the id from the lookup table (RMFB, file close, destroy) */
  _unregister(): void {
    if (!this._registered) return;
    this._registered = false;
    this.dev._modeObjects.delete(this.id);
  }

  #destroy(): void {
    this._unregister();
    this.dev._liveFbs.delete(this);
    this.dev.kernel.trace.emit("drm_rmfb", { dev: this.dev.name, fb: this.id });
    for (const o of this.objs) o.put();
  }

  /** For messages. */
  toString(): string {
    return `[FB:${this.id}] ${this.width}x${this.height} ${this.format.name}`;
  }
}

/** `drm_framebuffer_lookup` (without a reference): the registered framebuffer `id`, or undefined. */
export function drmFramebufferLookup(ddev: DrmDevice, id: number): DrmFramebuffer | undefined {
  const o = ddev._modeObjects.get(id);
  return o instanceof DrmFramebuffer ? o : undefined;
}

/**
 * @internal DRM_IOCTL_MODE_ADDFB2: `drm_internal_framebuffer_create` (flags, size limits,
 * `framebuffer_check`) then `drm_gem_fb_create` (handle lookup, object size). Writes `fb_id`.
 */
export function drmModeAddfb2Ioctl(file: DrmFile, arg: unknown): number {
  const what = "MODE_ADDFB2";
  const a = struct<DrmModeFbCmd2>(arg, what);
  const width = u32(a, "width", what);
  const height = u32(a, "height", what);
  const pixelFormat = u32(a, "pixel_format", what);
  const flags = u32(a, "flags", what, true);
  const handles = u32x4(a, "handles", what);
  const pitches = u32x4(a, "pitches", what);
  const offsets = u32x4(a, "offsets", what, true);
  const modifier = u64x4(a, "modifier", what);
  const ddev = file.dev;
  const d = ddev.driver;
  if (flags & ~(DRM_MODE_FB_INTERLACED | DRM_MODE_FB_MODIFIERS)) {
    throw new KernelError("EINVAL", `${what}: bad framebuffer flags ${hex(flags)}`);
  }
  const minW = d.minWidth ?? 0;
  const maxW = d.maxWidth ?? 4096;
  const minH = d.minHeight ?? 0;
  const maxH = d.maxHeight ?? 4096;
  if (width < minW || width > maxW) {
    throw new KernelError(
      "EINVAL",
      `${what}: bad framebuffer width ${width}, should be >= ${minW} && <= ${maxW}`,
    );
  }
  if (height < minH || height > maxH) {
    throw new KernelError(
      "EINVAL",
      `${what}: bad framebuffer height ${height}, should be >= ${minH} && <= ${maxH}`,
    );
  }
  if (flags & DRM_MODE_FB_MODIFIERS) {
    throw new KernelError(
      "EINVAL",
      `${what}: flags has DRM_MODE_FB_MODIFIERS: the driver does not support fb modifiers`,
    );
  }
  // framebuffer_check
  const info = drmFormatInfo(pixelFormat);
  if (!info) {
    throw new KernelError(
      "EINVAL",
      `${what}: bad framebuffer format ${fourccName(pixelFormat)} (${hex(pixelFormat)})`,
    );
  }
  if (width === 0) throw new KernelError("EINVAL", `${what}: bad framebuffer width 0`);
  if (height === 0) throw new KernelError("EINVAL", `${what}: bad framebuffer height 0`);
  for (let i = 0; i < info.numPlanes; i++) {
    const pw = drmFormatPlaneWidth(info, width, i);
    const ph = drmFormatPlaneHeight(info, height, i);
    const cpp = info.cpp[i]!;
    if (!handles[i])
      throw new KernelError("EINVAL", `${what}: handles[${i}] is 0: no buffer object handle for plane ${i}`);
    if (pw * cpp > UINT_MAX)
      throw new KernelError("ERANGE", `${what}: plane ${i} width ${pw} × cpp ${cpp} overflows`);
    if (ph * pitches[i]! + offsets[i]! > UINT_MAX) {
      throw new KernelError(
        "ERANGE",
        `${what}: plane ${i} height ${ph} × pitches[${i}] + offsets[${i}] overflows`,
      );
    }
    if (pitches[i]! < pw * cpp) {
      throw new KernelError(
        "EINVAL",
        `${what}: bad pitch: pitches[${i}] ${pitches[i]} is below ${pw * cpp} (${pw} pixels × ${cpp} bytes) for plane ${i}`,
      );
    }
    if (modifier[i])
      throw new KernelError(
        "EINVAL",
        `${what}: bad fb modifier[${i}] ${hex(modifier[i]!)} without DRM_MODE_FB_MODIFIERS`,
      );
  }
  for (let i = info.numPlanes; i < 4; i++) {
    if (modifier[i])
      throw new KernelError("EINVAL", `${what}: non-zero modifier[${i}] for unused plane ${i}`);
  }
  // drm_gem_fb_init_with_funcs: look the objects up and check each plane fits in its object
  const objs: DrmGemObject[] = [];
  try {
    for (let i = 0; i < info.numPlanes; i++) {
      const obj = drmGemObjectLookup(file, handles[i]!);
      if (!obj) {
        throw new KernelError(
          "ENOENT",
          `${what}: handles[${i}] ${handles[i]} is not a GEM handle of this file`,
        );
      }
      objs.push(obj);
      const ph = drmFormatPlaneHeight(info, height, i);
      const minSize = (ph - 1) * pitches[i]! + drmFormatMinPitch(info, i, width) + offsets[i]!;
      if (obj.size < minSize) {
        throw new KernelError(
          "EINVAL",
          `${what}: offsets[${i}] ${hex(offsets[i]!)} + plane ${i} (${ph} rows of pitch ${pitches[i]}) needs ${hex(minSize)} bytes, beyond GEM object ${handles[i]} of ${hex(obj.size)} bytes`,
        );
      }
    }
  } catch (e) {
    for (const o of objs) o.put();
    throw e;
  }
  const fb = new DrmFramebuffer(
    ddev,
    file,
    info,
    width,
    height,
    pitches.slice(0, info.numPlanes),
    offsets.slice(0, info.numPlanes),
    objs,
    flags,
  );
  file._fbs.add(fb);
  ddev.kernel.trace.emit("drm_addfb", { dev: ddev.name, fb: fb.id, format: info.name, width, height });
  a.fb_id = fb.id;
  return 0;
}

/**
 * `drm_framebuffer_remove`: unregisters `fb`, takes it off the screen if the CRTC's (latest)
 * state shows it (a disable commit latched at the next vblank; its promise is returned) and
 * drops the owner's reference.
 */
function drmFramebufferRemove(fb: DrmFramebuffer): Promise<void> | null {
  if (fb._owner) throw new KernelBug(`drm_framebuffer_remove: ${fb} still on a file's list`);
  fb._unregister();
  const p = drmKmsRemoveFb(fb.dev, fb);
  fb.put();
  return p;
}

/**
 * @internal DRM_IOCTL_MODE_RMFB (argument: the fb id, a number): ENOENT when `fb_id` is not a
 * framebuffer this file made. Returns 0, or a promise of 0 when the framebuffer was on screen
 * (the call blocks until the CRTC is off, as the kernel's atomic commit does).
 */
export function drmModeRmfbIoctl(file: DrmFile, arg: unknown): number | Promise<number> {
  const what = "MODE_RMFB";
  const id =
    typeof arg === "number"
      ? u32({ fb_id: arg }, "fb_id", what)
      : u32(struct<{ fb_id: number }>(arg, what), "fb_id", what);
  const fb = drmFramebufferLookup(file.dev, id);
  if (!fb) throw new KernelError("ENOENT", `${what}: fb id ${id} is not a framebuffer`);
  if (fb._owner !== file)
    throw new KernelError("ENOENT", `${what}: framebuffer ${id} was not created by this file`);
  file._fbs.delete(fb);
  fb._owner = null;
  const p = drmFramebufferRemove(fb);
  return p ? p.then(() => 0) : 0;
}

/** @internal `drm_fb_release`: removes every framebuffer of a closing file (not waiting for vblank). */
export function drmFbReleaseFile(file: DrmFile): void {
  for (const fb of [...file._fbs]) {
    file._fbs.delete(fb);
    fb._owner = null;
    void drmFramebufferRemove(fb);
  }
}
