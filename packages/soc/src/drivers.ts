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
 * The list is plat-s5p-media's `S5P_MEDIA_DRIVERS`, in probe order: the test-pattern sensor
 * ("umm,test-pattern-sensor", before the FIMC it feeds), FIMC ("samsung,exynos4210-fimc"; the
 * S5PV210 board lists it as a fallback compatible), MFC ("samsung,mfc-v5") and FIMD
 * ("samsung,exynos4210-fimd"). Order matters only as probe order (a driver that needs another
 * device bound first may also throw `EPROBE_DEFER` from `probe`; the bus retries it after every
 * later successful probe). Tests can boot with another list through `BootOpts.drivers`.
 *
 * @module
 */
import type { DeviceDriver } from "@umm/kernel-core";
import { S5P_MEDIA_DRIVERS } from "@umm/plat-s5p-media";

/**
 * The platform drivers of board devices, registered by `bootBoard` after the SysMMUs and the
 * masters, in this order (see the module comment).
 */
export const SOC_PLATFORM_DRIVERS: readonly DeviceDriver[] = Object.freeze([...S5P_MEDIA_DRIVERS]);
