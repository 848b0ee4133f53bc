/**
 * The media platform drivers in the order a board registers them (`bootBoard` registers each
 * with `driverRegister` after the SysMMUs and the masters are set up): the sensor first (the
 * FIMC that it feeds looks it up at probe; a FIMC probed earlier defers), then the FIMCs, the
 * MFC and the FIMD.
 *
 * @module
 */
import type { DeviceDriver } from "@umm/kernel-core";
import { FIMC_DRIVER } from "./fimc-core.js";
import { FIMD_DRIVER } from "./fimd.js";
import { MFC_DRIVER } from "./mfc.js";
import { TEST_PATTERN_SENSOR_DRIVER } from "./sensor.js";

/** Sensor, FIMC, MFC, FIMD: the S5P/Exynos media drivers in probe order. */
export const S5P_MEDIA_DRIVERS: readonly DeviceDriver[] = Object.freeze([
  TEST_PATTERN_SENSOR_DRIVER,
  FIMC_DRIVER,
  MFC_DRIVER,
  FIMD_DRIVER,
]);
