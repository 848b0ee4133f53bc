/**
 * The FIMC platform driver (exynos4-is/fimc-core.c): binds "samsung,exynos4210-fimc" devices
 * (and the S5PV210 one the boards list first). Probe sets the DMA mask (and, behind a SysMMU,
 * the segment limit), takes the device's bus-master port 0 as the board wired it, and registers
 * the camera capture node when the device names its sensor in `umm,sensor`, else the
 * mem-to-mem scaler node.
 *
 * @module
 */
import { type Device, type DeviceDriver, devGetDrvdata, devSetDrvdata, KernelError } from "@umm/kernel-core";
import { devDmaPort } from "@umm/mm-core";
import { mediaDmaSetup, propString } from "./common.js";
import { FimcCapture } from "./fimc-capture.js";
import { FimcHw } from "./fimc-hw.js";
import { FimcM2m } from "./fimc-m2m.js";
import { sensorOf } from "./sensor.js";

/** The compatible strings the FIMC driver binds. */
export const FIMC_COMPATIBLE: readonly string[] = Object.freeze([
  "samsung,exynos4210-fimc",
  "samsung,s5pv210-fimc",
]);

/** A probed FIMC: its hardware and the one driver it runs. */
export interface FimcDevice {
  /** the FIMC's device */
  readonly dev: Device;
  /** the hardware model */
  readonly hw: FimcHw;
  /** "capture" (fed by a sensor) or "m2m" (the scaler) */
  readonly role: "capture" | "m2m";
  /** the capture driver (role "capture") */
  readonly capture: FimcCapture | null;
  /** the mem-to-mem driver (role "m2m") */
  readonly m2m: FimcM2m | null;
  /** the video node's path, e.g. "/dev/video0" */
  readonly path: string;
}

/** The FIMC bound to `dev`, or null. */
export function fimcOf(dev: Device): FimcDevice | null {
  const d = devGetDrvdata<unknown>(dev);
  return d && typeof d === "object" && (d as { hw?: unknown }).hw instanceof FimcHw
    ? (d as FimcDevice)
    : null;
}

/**
 * The FIMC platform driver. Probe errors: EINVAL for a `umm,sensor` that is not a device name;
 * ENODEV when it names no registered device or the board wired no DMA port; EPROBE_DEFER while
 * the named sensor has no driver bound; EIO when the DMA mask is refused.
 */
export const FIMC_DRIVER: DeviceDriver = Object.freeze({
  name: "exynos4-fimc",
  compatible: FIMC_COMPATIBLE,
  probe(dev: Device): void {
    const sensorName = propString(dev, "umm,sensor");
    let sensor = null;
    if (sensorName !== undefined) {
      const sdev = dev.kernel.devices.get(sensorName);
      if (!sdev) {
        throw new KernelError(
          "ENODEV",
          `${dev.name}: property "umm,sensor" names "${sensorName}", which is not a device`,
        );
      }
      sensor = sensorOf(sdev);
      if (!sensor) {
        throw new KernelError("EPROBE_DEFER", `${dev.name}: sensor "${sensorName}" has no driver bound yet`);
      }
    }
    const port = devDmaPort(dev, 0);
    mediaDmaSetup(dev, "always");
    const hw = new FimcHw(dev, port);
    let data: FimcDevice;
    if (sensor) {
      const capture = new FimcCapture(dev, hw, sensor);
      data = { dev, hw, role: "capture", capture, m2m: null, path: capture.vdev.path };
    } else {
      const m2m = new FimcM2m(dev, hw);
      data = { dev, hw, role: "m2m", capture: null, m2m, path: m2m.vdev.path };
    }
    devSetDrvdata(dev, data);
  },
  remove(dev: Device): void {
    const f = fimcOf(dev);
    if (!f) return;
    f.capture?.remove();
    f.m2m?.remove();
  },
});
