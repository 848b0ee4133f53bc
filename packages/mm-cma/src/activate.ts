/**
 * Activation of a reusable region (`cma_activate_area`): its reserved pages go to the buddy
 * allocator as MIGRATE_CMA pageblocks, where only movable allocations may use them until an
 * allocation empties a range by migration. All pages must lie in one zone (`cma_validate_zones`);
 * an area that straddles zones is not activated: its pages are released as ordinary memory and
 * its count drops to 0, as the kernel does without CMA_RESERVE_PAGES_ON_ERROR.
 *
 * @module
 */
import { PAGE_SIZE } from "@umm/kernel-core";
import { MIGRATE_CMA, MIGRATE_MOVABLE } from "@umm/mm-core";
import type { CmaRegion } from "./region.js";
import { type CmaState, cmaWarn } from "./state.js";

/** True when every page of `region` lies in one zone of the booted page allocator. */
export function regionZonesValid(st: CmaState, region: CmaRegion): boolean {
  const buddy = st.mm.buddy;
  const first = buddy.zoneOf(region.basePfn);
  const last = buddy.zoneOf(region.basePfn + region.size / PAGE_SIZE - 1);
  return first !== undefined && first === last;
}

/**
 * Hands a reserved reusable region to the page allocator as MIGRATE_CMA (sets `activated`), or,
 * when it straddles zones, releases it as ordinary memory, zeroes its count and warns.
 */
export function activateRegion(st: CmaState, region: CmaRegion): void {
  if (region._activated || region._count === 0) return;
  if (!regionZonesValid(st, region)) {
    st.mm.releaseReserved(region.base, region.size, MIGRATE_MOVABLE);
    region._count = 0;
    region._free = 0;
    cmaWarn(st, `CMA area ${region.label} could not be activated (its pages span zones)`);
    return;
  }
  st.mm.releaseReserved(region.base, region.size, MIGRATE_CMA);
  region._activated = true;
}
