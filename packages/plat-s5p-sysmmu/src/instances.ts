/**
 * The System MMU instances of a SoC, as boards need them: name and SFR base
 * (arch/arm/plat-s5p/include/plat/sysmmu.h `sysmmu_ips`, seed-systems §5.6).
 *
 * @module
 */
import type { SysMmuVersion } from "./sysmmu.js";

/** One System MMU of a SoC. */
export interface SysMmuInstance {
  /** the IP it serves (`sysmmu_ips` name): "FIMC0", "MFC_L", ... */
  readonly name: string;
  /** physical address of its 4 KiB register window */
  readonly sfrBase: number;
  /** its hardware version */
  readonly version: SysMmuVersion;
}

const v1 = (name: string, sfrBase: number): SysMmuInstance =>
  Object.freeze({ name, sfrBase, version: "1.0" });

/**
 * The 16 System MMUs of the S5PV310 / Exynos4210, in `sysmmu_ips` order
 * (`S5P_SYSMMU_TOTAL_IPNUM` = 16). The MFC has two, one per AXI port (left and right).
 */
export const EXYNOS4210_SYSMMUS: readonly SysMmuInstance[] = Object.freeze([
  v1("MDMA", 0x10a40000),
  v1("SSS", 0x10a50000),
  v1("FIMC0", 0x11a20000),
  v1("FIMC1", 0x11a30000),
  v1("FIMC2", 0x11a40000),
  v1("FIMC3", 0x11a50000),
  v1("JPEG", 0x11a60000),
  v1("FIMD0", 0x11e20000),
  v1("FIMD1", 0x12220000),
  v1("PCIe", 0x12620000),
  v1("G2D", 0x12a20000),
  v1("ROTATOR", 0x12a30000),
  v1("MDMA2", 0x12a40000),
  v1("TV", 0x12e20000),
  v1("MFC_L", 0x13620000),
  v1("MFC_R", 0x13630000),
]);

/** `S5P_SYSMMU_TOTAL_IPNUM` */
export const S5P_SYSMMU_TOTAL_IPNUM = EXYNOS4210_SYSMMUS.length;
