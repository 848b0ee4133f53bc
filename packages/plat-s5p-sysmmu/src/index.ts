export {
  EXYNOS_DOMAIN_OPS,
  EXYNOS_IDENTITY_DOMAIN_OPS,
  EXYNOS_IOMMU_OPS,
  EXYNOS_SYSMMU_COMPATIBLE,
  EXYNOS_SYSMMU_DRIVER,
  type ExynosIommuState,
  exynosIommuState,
  exynosSysmmuOf,
  exynosSysmmuSkipTlbInvalidations,
  exynosSysmmusOfMaster,
  type S5pDomain,
  type S5pOwner,
  type S5pSysmmu,
} from "./driver.js";
export { EXYNOS4210_SYSMMUS, S5P_SYSMMU_TOTAL_IPNUM, type SysMmuInstance } from "./instances.js";
export { Lv2TableCache } from "./lv2cache.js";
export * from "./pgtable.js";
export { type SysmmuDeviceOpts, sysmmuDmaPort, sysmmuDmaPorts, sysmmuPlatformDevice } from "./port.js";
export * from "./regs.js";
export {
  parseSysMmuVersion,
  SYSMMU_DEFAULT_TLB_ENTRIES,
  SYSMMU_VERSIONS,
  SysMmu,
  type SysMmuIrqHandler,
  type SysMmuOpts,
  type SysMmuSecureWindow,
  type SysMmuStats,
  type SysMmuVersion,
} from "./sysmmu.js";
export { SysMmuTlb, TLB_MISS, TLB_MULTI_HIT, type TlbEntryInfo } from "./tlb.js";
