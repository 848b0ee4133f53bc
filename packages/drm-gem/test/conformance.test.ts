// The GEM PRIME exporter (drm_gem_prime_dmabuf_ops of the DMA helper) against dma-buf's exporter
// contract, for a direct display (CMA memory) and a SysMMU display (pages behind its IOMMU).
import { describeDmaBufExporter } from "@umm/dma-buf/testing";
import { O_RDWR } from "@umm/kernel-process";
import { drmGemDmaCreate, drmGemPrimeExport } from "../src/index.js";
import { boot, card, cmaUsed, directDevice, sysmmuDevice } from "./helpers.js";

const LEN = 64 * 1024 + 3 * 4096;

for (const kind of ["direct", "sysmmu"] as const) {
  describeDmaBufExporter(`GEM PRIME export (${kind} display)`, () => {
    const r = boot();
    const { ddev } = card(r, kind);
    return {
      kernel: r.kernel,
      make: () => {
        const obj = drmGemDmaCreate(ddev, LEN);
        const buf = drmGemPrimeExport(obj, O_RDWR);
        obj.put(); // the dma-buf holds the object now
        return buf;
      },
      devices: [directDevice(r, "direct0"), sysmmuDevice(r, "mmu0")],
      inUse: () => (kind === "direct" ? cmaUsed(r) : -r.mm.buddy.nrFreePages),
    };
  });
}
