/**
 * The platform drivers a booted machine registers — the single place where device drivers are
 * plugged into board assembly.
 *
 * `bootBoard` registers, in this order, on the machine's "platform" bus: the System MMU driver
 * (plat-s5p-sysmmu's `EXYNOS_SYSMMU_DRIVER`) and the SysMMU devices, then every board device
 * (the masters, configured for DMA: masks, `dmaPfnOffset`, CMA area, coherent pool, IOMMU
 * fwspec, ARM IOMMU mapping), and only then the drivers of `SOC_PLATFORM_DRIVERS` (or of
 * `BootOpts.drivers`), one `driverRegister` each, in list order. A driver binds to every board
 * device one of its `compatible` strings names (kernel-core's `defaultMatch`), so its `probe`
 * finds the device fully set up: `dmaAlloc*`, `dmaMap*` and dma-buf attachments already go
 * through the device's SysMMU, or directly with CMA. At `machine.shutdown()` the bus unbinds every
 * device in reverse probe order, so these drivers' `remove` runs before the masters lose their
 * IOMMU mappings and before the SysMMUs go.
 *
 * The list is empty until `@umm/plat-s5p-media` lands. Its drivers are added here, nowhere
 * else — for example
 *
 * ```ts
 * import { FIMC_DRIVER, FIMD_DRIVER, MFC_DRIVER, TEST_PATTERN_SENSOR_DRIVER } from "@umm/plat-s5p-media";
 * export const SOC_PLATFORM_DRIVERS = Object.freeze([
 *   TEST_PATTERN_SENSOR_DRIVER, // "umm,test-pattern-sensor": before the FIMC that it feeds
 *   FIMC_DRIVER, // "samsung,exynos4210-fimc" (the S5PV210 boards list it as fallback)
 *   MFC_DRIVER, // "samsung,mfc-v5"
 *   FIMD_DRIVER, // "samsung,exynos4210-fimd"
 * ]);
 * ```
 *
 * — with `@umm/plat-s5p-media` added to this package's dependencies. Order matters only as
 * probe order (a driver that needs another device bound first may also throw `EPROBE_DEFER` from
 * `probe`; the bus retries it after every later successful probe).
 *
 * @module
 */
import type { DeviceDriver } from "@umm/kernel-core";

/**
 * The platform drivers of board devices, registered by `bootBoard` after the SysMMUs and the
 * masters, in this order (see the module comment). Empty until the media drivers exist.
 */
export const SOC_PLATFORM_DRIVERS: readonly DeviceDriver[] = Object.freeze([]);
