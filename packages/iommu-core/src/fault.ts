/**
 * Fault reporting (drivers/iommu/iommu.c `iommu_set_fault_handler`, `report_iommu_fault`).
 *
 * A driver's fault interrupt calls `reportIommuFault` for the domain the faulting master is
 * attached to; the domain user's handler decides. `-ENOSYS` back means "nobody handled it": the
 * driver applies its default (Exynos panics).
 *
 * @module
 */
import { type Device, ERRNO, KernelError } from "@umm/kernel-core";
import { domainPriv } from "./state.js";
import type { IommuDomain, IommuFaultHandler } from "./types.js";

/**
 * `iommu_set_fault_handler`: installs `handler` (null removes it) with `token`, passed back on
 * every fault of `domain`. Throws EINVAL when `handler` is neither a function nor null.
 */
export function iommuSetFaultHandler(
  domain: IommuDomain,
  handler: IommuFaultHandler | null,
  token: unknown,
): void {
  domainPriv(domain);
  if (handler !== null && typeof handler !== "function") {
    throw new KernelError("EINVAL", "fault handler is not a function");
  }
  domain.handler = handler;
  domain.handlerToken = handler ? token : null;
}

/**
 * `report_iommu_fault`: a device access through `domain` faulted at `iova` (flags
 * IOMMU_FAULT_READ or IOMMU_FAULT_WRITE). Calls the domain's handler and returns its result, or
 * `-ERRNO.ENOSYS` (-38) when there is none; emits `io_page_fault` either way.
 */
export function reportIommuFault(domain: IommuDomain, dev: Device, iova: number, flags: number): number {
  const p = domainPriv(domain);
  let ret: number = -ERRNO.ENOSYS;
  const handler = domain.handler;
  if (handler) ret = handler(domain, dev, iova, flags, domain.handlerToken);
  const tp = p.state.tp.fault;
  if (tp.enabled) tp.emit({ device: dev.name, iova, flags });
  return ret;
}
