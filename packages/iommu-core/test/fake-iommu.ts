// A small IOMMU driver for iommu-core's own tests: page sizes 4K|64K|1M, leaves kept in a Map
// keyed by 4 KiB slot, a tiny IOTLB, a hardware access path that faults, and switches that make
// the next map, attach or sync fail.
import { createKernel, Device, type Kernel, KernelError, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import {
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDevice,
  type IommuDomain,
  type IommuDomainOps,
  type IommuGroup,
  type IommuOps,
  iommuDeviceRegister,
  iommuFwspecInit,
  iommuProbeDevice,
  reportIommuFault,
} from "../src/index.js";
import { devIommuPrivGet, devIommuPrivSet, iommuGroupAlloc, iommuIotlbGatherAddPage } from "../src/ops.js";
import type { IommuRig } from "../src/testing.js";

export const FAKE_PGSIZES = [SZ_4K, SZ_64K, SZ_1M] as const;

interface Leaf {
  readonly iova: number;
  readonly paddr: number;
  readonly size: number;
  readonly prot: number;
}

/** How the fake driver behaves where real drivers differ. */
export interface FakeOpts {
  /** map one page per mapPages call, as Exynos does (default: all pgcount pages) */
  readonly onePagePerCall?: boolean;
  /** unmap of part of a larger page: refuse (return 0, io-pgtable) or remove the whole page */
  readonly partialUnmap?: "refuse" | "whole";
  /** unmap at an empty slot: stop (return 0) or count it as unmapped (Exynos) */
  readonly unmapHole?: "stop" | "skip";
  /** default domain type the driver asks for (0: none, the ARM32 way) */
  readonly defDomainType?: number;
  /** report every fault as a read, as SysMMU v1–v3 page faults do */
  readonly faultsAsReads?: boolean;
  /** devices whose name starts with this share one group (a shared-stream-ID master pair) */
  readonly sharedGroupPrefix?: string;
}

/** Failure switches, consumed when they fire. */
export interface FakeInject {
  /** mapPages call number (1 = the next one) that fails with ENOMEM; 0: none */
  failMapCall: number;
  /** attachDev call number (1 = the next one) that fails with EBUSY; 0: none */
  failAttachCall: number;
  /** the next iotlbSyncMap throws EIO */
  failSyncMap: boolean;
}

/** The fake driver's domain: leaves by 4 KiB slot. */
export interface FakeDomain extends IommuDomain {
  readonly slots: Map<number, Leaf>;
  /** every mapPages call: [iova, paddr, pgsize, pgcount] */
  readonly calls: [number, number, number, number][];
  freed: boolean;
}

export interface FakeIommu {
  readonly kernel: Kernel;
  readonly hw: Device;
  readonly iommu: IommuDevice;
  readonly ops: IommuOps;
  readonly domainOps: IommuDomainOps;
  readonly inject: FakeInject;
  /** which domain each master translates through, as the hardware sees it */
  readonly attached: Map<Device, IommuDomain>;
  /** IOTLB: master name + 4K slot + access → paddr of the page; flushed by sync */
  readonly tlb: Map<string, number>;
  /** events: "sync a-b", "flush", "syncmap a+s", "release dev", ... */
  readonly log: string[];
  /** a master reads (write=false) or writes at `iova`; returns the physical address or faults */
  access(dev: Device, iova: number, write: boolean): number | null;
  /** makes a new master behind this IOMMU (fwspec set, not probed) */
  master(name: string): Device;
}

const slotOf = (iova: number): number => Math.floor(iova / SZ_4K);

export function fakeIommu(
  kernel: Kernel = createKernel(),
  opts: FakeOpts = {},
  hwName = "fake.iommu",
): FakeIommu {
  const hw = new Device(kernel, { name: hwName });
  const inject: FakeInject = { failMapCall: 0, failAttachCall: 0, failSyncMap: false };
  const attached = new Map<Device, IommuDomain>();
  const tlb = new Map<string, number>();
  const log: string[] = [];
  let sharedGroup: IommuGroup | null = null;

  const flushTlb = (): void => tlb.clear();

  const domainOps = Object.freeze({
    attachDev(domain, dev) {
      if (inject.failAttachCall > 0 && --inject.failAttachCall === 0) {
        throw new KernelError("EBUSY", `fake: attach of ${dev.name} refused`);
      }
      attached.set(dev, domain);
      flushTlb();
    },
    detachDev(domain, dev) {
      if (attached.get(dev) === domain) attached.delete(dev);
      flushTlb();
      log.push(`detach ${dev.name}`);
    },
    mapPages(domain, iova, paddr, pgsize, pgcount, prot) {
      const d = domain as FakeDomain;
      d.calls.push([iova, paddr, pgsize, pgcount]);
      if (inject.failMapCall > 0 && --inject.failMapCall === 0) {
        throw new KernelError("ENOMEM", `fake: no page table for iova ${iova}`);
      }
      if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0)
        throw new KernelError("EINVAL", "fake: prot grants no access");
      const count = opts.onePagePerCall ? 1 : pgcount;
      const slotsPer = pgsize / SZ_4K;
      for (let k = 0; k < count; k++) {
        const s0 = slotOf(iova + k * pgsize);
        for (let j = 0; j < slotsPer; j++) {
          if (d.slots.has(s0 + j)) {
            // undo this call's pages, then refuse
            for (let u = 0; u < k; u++) {
              const b = slotOf(iova + u * pgsize);
              for (let v = 0; v < slotsPer; v++) d.slots.delete(b + v);
            }
            throw new KernelError("EEXIST", `fake: iova ${(s0 + j) * SZ_4K} is already mapped`);
          }
        }
        const leaf: Leaf = { iova: iova + k * pgsize, paddr: paddr + k * pgsize, size: pgsize, prot };
        for (let j = 0; j < slotsPer; j++) d.slots.set(s0 + j, leaf);
      }
      return count * pgsize;
    },
    unmapPages(domain, iova, pgsize, pgcount, gather) {
      const d = domain as FakeDomain;
      let done = 0;
      const end = iova + pgsize * pgcount;
      while (iova + done < end) {
        const at = iova + done;
        const leaf = d.slots.get(slotOf(at));
        if (!leaf) {
          if (opts.unmapHole !== "skip") break;
          done += SZ_4K;
          continue;
        }
        if (leaf.iova !== at || leaf.iova + leaf.size > end) {
          if (opts.partialUnmap !== "whole" || leaf.iova !== at) break;
        }
        for (let j = 0; j < leaf.size / SZ_4K; j++) d.slots.delete(slotOf(leaf.iova) + j);
        iommuIotlbGatherAddPage(domain, gather, leaf.iova, leaf.size);
        done += leaf.size;
        if (leaf.iova + leaf.size >= end) break;
      }
      return done;
    },
    iovaToPhys(domain, iova) {
      const leaf = (domain as FakeDomain).slots.get(slotOf(iova));
      return leaf ? leaf.paddr + (iova - leaf.iova) : 0;
    },
    flushIotlbAll() {
      flushTlb();
      log.push("flush");
    },
    iotlbSyncMap(_domain, iova, size) {
      if (inject.failSyncMap) {
        inject.failSyncMap = false;
        throw new KernelError("EIO", "fake: sync_map failed");
      }
      log.push(`syncmap ${iova.toString(16)}+${size.toString(16)}`);
    },
    iotlbSync(_domain, gather) {
      if (gather.end !== 0) log.push(`sync ${gather.start.toString(16)}-${gather.end.toString(16)}`);
      flushTlb();
    },
    free(domain) {
      (domain as FakeDomain).freed = true;
      (domain as FakeDomain).slots.clear();
    },
  } satisfies IommuDomainOps);

  const identityOps = Object.freeze({
    attachDev(domain, dev) {
      attached.set(dev, domain);
      flushTlb();
    },
  } satisfies IommuDomainOps);
  const identity = { ops: identityOps };

  const ops = Object.freeze({
    pgsizeBitmap: SZ_4K | SZ_64K | SZ_1M,
    capable: (_dev, cap) => cap === 0,
    domainAlloc(type) {
      if (type === IOMMU_DOMAIN_IDENTITY) return identity;
      if ((type & IOMMU_DOMAIN_UNMANAGED) === 0) return null;
      const d = {
        ops: domainOps,
        slots: new Map<number, Leaf>(),
        calls: [] as [number, number, number, number][],
        freed: false,
      };
      return d;
    },
    probeDevice(dev) {
      const priv = devIommuPrivGet<{ xlated: unknown[] }>(dev);
      if (!priv) throw new KernelError("ENODEV", `fake: ${dev.name} was not xlated`);
      log.push(`probe ${dev.name}`);
      return iommu;
    },
    releaseDevice(dev) {
      log.push(`release ${dev.name}`);
    },
    ofXlate(dev, args) {
      const priv = devIommuPrivGet<{ xlated: unknown[] }>(dev) ?? { xlated: [] };
      priv.xlated.push(args.fwnode);
      devIommuPrivSet(dev, priv);
      log.push(`xlate ${dev.name} [${args.args.join(",")}]`);
    },
    deviceGroup(dev) {
      const prefix = opts.sharedGroupPrefix;
      if (prefix && dev.name.startsWith(prefix)) {
        if (!sharedGroup || sharedGroup.devices.length === 0) sharedGroup = iommuGroupAlloc(dev.kernel);
        return sharedGroup;
      }
      return iommuGroupAlloc(dev.kernel);
    },
    defDomainType: () => opts.defDomainType ?? 0,
  } satisfies IommuOps);

  const iommu: IommuDevice = { ops, hwdev: hw, fwnode: hw };

  return {
    kernel,
    hw,
    iommu,
    ops,
    domainOps,
    inject,
    attached,
    tlb,
    log,
    access(dev, iova, write) {
      const domain = attached.get(dev);
      if (!domain) return iova; // no domain: bypass
      if (domain.ops === identityOps) return iova;
      const key = `${dev.name}:${slotOf(iova)}:${write ? "w" : "r"}`;
      const cached = tlb.get(key);
      if (cached !== undefined) return cached + (iova % SZ_4K);
      const leaf = (domain as FakeDomain).slots.get(slotOf(iova));
      const need = write ? IOMMU_WRITE : IOMMU_READ;
      if (!leaf || (leaf.prot & need) === 0) {
        const flags = write && !opts.faultsAsReads ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ;
        reportIommuFault(domain, dev, iova, flags);
        return null;
      }
      const pa = leaf.paddr + (iova - leaf.iova);
      tlb.set(key, pa - (pa % SZ_4K));
      return pa;
    },
    master(name) {
      const dev = new Device(kernel, { name });
      iommuFwspecInit(dev, hw);
      return dev;
    },
  };
}

/** A registered fake IOMMU with one probed master: the rig the conformance suite takes. */
export function fakeRig(opts: FakeOpts = {}): IommuRig & { fake: FakeIommu } {
  const fake = fakeIommu(createKernel({ seed: 1 }), opts);
  iommuDeviceRegister(fake.iommu);
  const dev = fake.master("fimc0");
  iommuProbeDevice(dev);
  return {
    fake,
    kernel: fake.kernel,
    dev,
    physBase: 0x4000_0000,
    physSize: 0x0100_0000,
    triggerFault(_domain, iova, write) {
      fake.access(dev, iova, write);
    },
    teardown() {
      fake.kernel.shutdown();
    },
  };
}
