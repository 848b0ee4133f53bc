// A small software IOMMU for mm-vcm's tests: iommu-core's IommuOps (page sizes 4K|64K|1M, the
// table a Map keyed by 4 KiB slot) AND mm-core's Translator, so a DmaPort reaches memory through
// it, with a per-master IOTLB the core's syncs flush and a switch that fails the n-th map.
import {
  type IommuDevice,
  type IommuDomain,
  type IommuDomainOps,
  type IommuOps,
  iommuAttachDevice,
  iommuDeviceRegister,
  iommuDomainAlloc,
  iommuFwspecInit,
  iommuProbeDevice,
} from "@umm/iommu-core";
import { iommuIotlbGatherAddPage } from "@umm/iommu-core/ops";
import { Device, DMA_BIT_MASK, hex, type Kernel, KernelError, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { DmaPort, mmOf, type RunList, type Translator } from "@umm/mm-core";

interface Leaf {
  readonly iova: number;
  readonly paddr: number;
  readonly size: number;
}

/** The soft IOMMU's domain. */
export interface SoftDomain extends IommuDomain {
  readonly slots: Map<number, Leaf>;
}

/** One soft IOMMU instance and its masters. */
export interface SoftIommu {
  readonly hw: Device;
  readonly iommu: IommuDevice;
  /** mapPages call number (1 = the next one) that fails with ENOMEM; 0: none */
  failMapCall: number;
  /** mapPages calls so far */
  mapCalls: number;
  /** IOTLB flushes so far */
  flushes: number;
  /** which domain each master translates through */
  readonly attached: Map<Device, IommuDomain>;
  /** a new probed master behind this IOMMU */
  master(name: string): Device;
  /** a master with its own domain attached, and a DMA port through the IOMMU */
  masterWithDomain(name: string): { dev: Device; domain: SoftDomain; port: DmaPort };
  /** the Translator of `dev` (reads its attached domain; faults are EFAULT) */
  translator(dev: Device): Translator;
}

const slotOf = (iova: number): number => Math.floor(iova / SZ_4K);

/** Registers a soft IOMMU on `kernel` (mm-core must be booted for DMA ports). */
export function softIommu(kernel: Kernel, name = "soft.iommu"): SoftIommu {
  const hw = new Device(kernel, { name });
  const attached = new Map<Device, IommuDomain>();
  const tlb = new Map<Device, Map<number, number>>();
  const flush = (): void => {
    self.flushes++;
    for (const t of tlb.values()) t.clear();
  };

  const domainOps = Object.freeze({
    attachDev(domain, dev) {
      attached.set(dev, domain);
      flush();
    },
    mapPages(domain, iova, paddr, pgsize, pgcount) {
      const d = domain as SoftDomain;
      self.mapCalls++;
      if (self.failMapCall > 0 && --self.failMapCall === 0) {
        throw new KernelError("ENOMEM", `soft: no page table for iova ${hex(iova)}`);
      }
      const per = pgsize / SZ_4K;
      for (let k = 0; k < pgcount; k++) {
        for (let j = 0; j < per; j++) {
          if (d.slots.has(slotOf(iova + k * pgsize) + j)) {
            throw new KernelError("EEXIST", `soft: iova ${hex(iova + k * pgsize + j * SZ_4K)} is mapped`);
          }
        }
      }
      for (let k = 0; k < pgcount; k++) {
        const leaf = { iova: iova + k * pgsize, paddr: paddr + k * pgsize, size: pgsize };
        for (let j = 0; j < per; j++) d.slots.set(slotOf(leaf.iova) + j, leaf);
      }
      return pgcount * pgsize;
    },
    unmapPages(domain, iova, pgsize, pgcount, gather) {
      const d = domain as SoftDomain;
      const end = iova + pgsize * pgcount;
      let done = 0;
      while (iova + done < end) {
        const leaf = d.slots.get(slotOf(iova + done));
        if (!leaf || leaf.iova !== iova + done) break;
        for (let j = 0; j < leaf.size / SZ_4K; j++) d.slots.delete(slotOf(leaf.iova) + j);
        iommuIotlbGatherAddPage(domain, gather, leaf.iova, leaf.size);
        done += leaf.size;
      }
      return done;
    },
    iovaToPhys(domain, iova) {
      const leaf = (domain as SoftDomain).slots.get(slotOf(iova));
      return leaf ? leaf.paddr + (iova - leaf.iova) : 0;
    },
    flushIotlbAll: () => flush(),
    iotlbSync: () => flush(),
    free(domain) {
      (domain as SoftDomain).slots.clear();
    },
  } satisfies IommuDomainOps);

  const ops = Object.freeze({
    pgsizeBitmap: SZ_4K | SZ_64K | SZ_1M,
    domainAlloc() {
      const d = { ops: domainOps, slots: new Map<number, Leaf>() };
      return d;
    },
    probeDevice: () => iommu,
  } satisfies IommuOps);
  const iommu: IommuDevice = { ops, hwdev: hw, fwnode: hw };
  iommuDeviceRegister(iommu);

  const self: SoftIommu = {
    hw,
    iommu,
    failMapCall: 0,
    mapCalls: 0,
    flushes: 0,
    attached,
    master(n) {
      const dev = new Device(kernel, { name: n, dmaMask: DMA_BIT_MASK(32) });
      iommuFwspecInit(dev, hw);
      iommuProbeDevice(dev);
      return dev;
    },
    masterWithDomain(n) {
      const dev = self.master(n);
      const domain = iommuDomainAlloc(dev) as SoftDomain;
      iommuAttachDevice(domain, dev);
      return { dev, domain, port: new DmaPort(mmOf(kernel), dev, self.translator(dev)) };
    },
    translator(dev) {
      const t = new Map<number, number>();
      tlb.set(dev, t);
      return {
        translate(daddr: number, len: number, write: boolean, out: RunList) {
          const d = attached.get(dev) as SoftDomain | undefined;
          if (!d) throw new KernelError("EFAULT", `${dev.name}: no domain attached`);
          let va = daddr;
          const end = daddr + len;
          while (va < end) {
            const slot = slotOf(va);
            let pa = t.get(slot);
            if (pa === undefined) {
              const leaf = d.slots.get(slot);
              if (!leaf) {
                throw new KernelError(
                  "EFAULT",
                  `${dev.name}: ${write ? "write" : "read"} fault at iova ${hex(va)}`,
                );
              }
              pa = leaf.paddr + (slot * SZ_4K - leaf.iova);
              t.set(slot, pa);
            }
            const n = Math.min(end - va, (slot + 1) * SZ_4K - va);
            out.push(pa + (va - slot * SZ_4K), n);
            va += n;
          }
        },
      };
    },
  };
  return self;
}
