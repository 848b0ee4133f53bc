/**
 * What every media driver does the same way: its DMA setup at probe (a 32-bit mask; a segment
 * limit of 4 GiB − 1 so that any buffer maps as one range — always for the V4L2 drivers, as
 * fimc_probe and s5p_mfc_probe do since "media: set proper max seg size for devices on Exynos
 * SoCs" (2015), only behind an IOMMU for the DRM display, as exynos_drm_register_dma), reading
 * DT-style properties with errors that name the device and the property, and the package's warn
 * event.
 *
 * @module
 */
import { dmaSetMaskAndCoherent, dmaSetMaxSegSize, toDmaIommuMapping } from "@umm/dma-mapping-arm";
import { type Device, DMA_BIT_MASK, type Kernel, KernelError } from "@umm/kernel-core";
import "./trace.js";

/**
 * The DMA setup of a media master: `dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32))` and
 * `dma_set_max_seg_size(dev, DMA_BIT_MASK(32))` — for `segments: "always"` (the V4L2 drivers: their
 * hardware takes one contiguous D.V range per plane, with or without an IOMMU) or, for
 * `segments: "iommu"` (the DRM display), only when the device is attached to an IOMMU mapping.
 * Returns whether the device is behind an IOMMU. EIO when the mask is refused.
 */
export function mediaDmaSetup(dev: Device, segments: "always" | "iommu"): boolean {
  dmaSetMaskAndCoherent(dev, DMA_BIT_MASK(32));
  const iommu = toDmaIommuMapping(dev) !== null;
  if (iommu || segments === "always") dmaSetMaxSegSize(dev, DMA_BIT_MASK(32));
  return iommu;
}

/** A string property, or undefined when absent. EINVAL when present but not a non-empty string. */
export function propString(dev: Device, name: string): string | undefined {
  const v = dev.properties.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") {
    throw new KernelError(
      "EINVAL",
      `${dev.name}: property "${name}" is ${JSON.stringify(v)}, not a device name`,
    );
  }
  return v;
}

/** A list of strings (a single string counts as a list of one), or [] when absent. EINVAL otherwise. */
export function propStrings(dev: Device, name: string): string[] {
  const v = dev.properties.get(name);
  if (v === undefined) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string" || s === "")) {
    throw new KernelError(
      "EINVAL",
      `${dev.name}: property "${name}" is ${JSON.stringify(v)}, not a list of names`,
    );
  }
  return list as string[];
}

/**
 * An integer property in `[min, max]`, `dflt` when absent. A one-element array (a DT cell) counts
 * as its element. EINVAL for anything else.
 */
export function propU32(dev: Device, name: string, dflt: number, min: number, max: number): number {
  let v = dev.properties.get(name);
  if (v === undefined) return dflt;
  if (Array.isArray(v) && v.length === 1) v = v[0];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new KernelError(
      "EINVAL",
      `${dev.name}: property "${name}" is ${JSON.stringify(v)}, not an integer in ${min}..${max}`,
    );
  }
  return v;
}

/** Emits `s5p_media_warn` (where the kernel prints an error and carries on). */
export function mediaWarn(kernel: Kernel, device: string, message: string): void {
  kernel.trace.emit("s5p_media_warn", { device, message });
}
