import { PAGE_SIZE, SZ_1M, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  PMM_MAGIC,
  PMM_MEM_GENERAL,
  PMM_NO_CACHE,
  pmmAlloc,
  pmmAreaAt,
  pmmDebugfsRead,
  pmmGet,
  pmmInfo,
  pmmItems,
  pmmOperationLog,
  pmmPut,
} from "../src/index.js";
import { bootPmm } from "../src/testing.js";
import { areaInfo, board, record } from "./helpers.js";

describe("pmm_alloc / pmm_get / pmm_put", () => {
  it("returns the start with refcount 1 and fills the out fields; each get needs a put", () => {
    const { kernel, mm } = bootPmm({ cmdline: "pmm=8M" });
    const rec = record(kernel, ["pmm_alloc", "pmm_get", "pmm_put", "pmm_free"]);
    const info = { magic: 0, size: 10_000, type: PMM_MEM_GENERAL, flags: 0xf0, alignment: SZ_64K };
    const pa = pmmAlloc(kernel, info);
    expect(pa).not.toBe(0);
    expect(info).toMatchObject({ magic: PMM_MAGIC, size: 3 * PAGE_SIZE, type: PMM_MEM_GENERAL });
    expect(info.flags & 0xff).toBe(0); // unknown flags are not kept
    expect(info.alignment).toBe(2 ** Math.log2(pa & -pa));
    expect(mm.frames.ownerOf(pa / PAGE_SIZE)).toBe("pmm:general");
    pmmGet(kernel, pa);
    expect(pmmAreaAt(kernel, pa + 5000)).toMatchObject({ start: pa, size: 3 * PAGE_SIZE, refcount: 2 });
    pmmPut(kernel, pa);
    expect(pmmInfo(kernel).free).toBe(8 * SZ_1M - 3 * PAGE_SIZE);
    pmmPut(kernel, pa);
    expect(pmmInfo(kernel).free).toBe(8 * SZ_1M);
    expect(pmmAreaAt(kernel, pa)).toBeNull();
    expect(mm.frames.ownerOf(pa / PAGE_SIZE)).toBe("pmm:general"); // the reservation's tag again
    expect(rec.records().map((r) => [r.name, (r.data as { refcount?: number }).refcount])).toEqual([
      ["pmm_alloc", undefined],
      ["pmm_get", 2],
      ["pmm_put", 1],
      ["pmm_put", 0],
      ["pmm_free", undefined],
    ]);
  });

  it("returns 0 and leaves info alone for an invalid request or no room", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=1M" });
    const rec = record(kernel, ["pmm_alloc_failed"]);
    for (const o of [
      { size: 0 },
      { alignment: 3 * PAGE_SIZE },
      { type: 0 },
      { type: 1 << 7 },
      { size: 2 * SZ_1M },
      { size: -4096 },
    ]) {
      const info = areaInfo(PAGE_SIZE, o);
      const before = { ...info };
      expect(pmmAlloc(kernel, info)).toBe(0);
      expect(info).toEqual(before);
    }
    expect(rec.of("pmm_alloc_failed")).toHaveLength(6);
    expect(() => pmmAlloc(kernel, null as never)).toThrow(kerr("EINVAL"));
    expect(pmmInfo(kernel).free).toBe(SZ_1M);
  });

  it("get/put of something that is not an area start is ENOENT; put(0) does nothing", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=1M" });
    const pa = pmmAlloc(kernel, areaInfo(2 * PAGE_SIZE));
    const hole = pmmItems(kernel).find((i) => i.kind === "hole")!.start;
    expect(() => pmmGet(kernel, pa + PAGE_SIZE)).toThrow(kerr("ENOENT", /not the start of an area/));
    expect(() => pmmPut(kernel, hole)).toThrow(kerr("ENOENT"));
    expect(() => pmmGet(kernel, 0x1000)).toThrow(kerr("ENOENT"));
    pmmPut(kernel, 0);
    pmmPut(kernel, pa);
    expect(() => pmmPut(kernel, pa)).toThrow(kerr("ENOENT"));
  });

  it("remaps a PMM_NO_CACHE area write-combined in the linear map while it lives", () => {
    const { kernel, mm } = board({ cmdline: "pmm=1M" });
    const info = areaInfo(2 * PAGE_SIZE, { flags: PMM_NO_CACHE });
    const pa = pmmAlloc(kernel, info);
    expect(info.flags & PMM_NO_CACHE).toBe(PMM_NO_CACHE);
    expect(mm.kspace.linearMemtype(pa / PAGE_SIZE + 1)).toBe("writecombine");
    pmmPut(kernel, pa);
    expect(mm.kspace.linearMemtype(pa / PAGE_SIZE + 1)).toBe("cacheable");
  });
});

describe("debug views", () => {
  it("logs a, f, g, p, r with the current pid, and lists items", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=1M" });
    const pa = pmmAlloc(kernel, areaInfo(5000));
    pmmAlloc(kernel, areaInfo(4 * SZ_1M));
    pmmGet(kernel, pa);
    pmmPut(kernel, pa);
    pmmPut(kernel, pa);
    const log = pmmOperationLog(kernel);
    expect(log.map((o) => [o.op, o.requiredSize, o.size, o.start])).toEqual([
      ["a", 5000, 2 * PAGE_SIZE, pa],
      ["f", 4 * SZ_1M, 0, 0],
      ["g", 0, 2 * PAGE_SIZE, pa],
      ["p", 0, 2 * PAGE_SIZE, pa],
      ["p", 0, 2 * PAGE_SIZE, pa],
      ["r", 0, 2 * PAGE_SIZE, pa],
    ]);
    expect(log.every((o) => o.pid === 0)).toBe(true);
    const text = pmmDebugfsRead(kernel, "operation").trim().split("\n");
    expect(text[0]).toBe(`0 0 a 5000 8192 0x${pa.toString(16).padStart(8, "0")}`);
    const again = pmmAlloc(kernel, areaInfo(PAGE_SIZE));
    expect(pmmDebugfsRead(kernel, "/sys/kernel/debug/pmm/items")).toMatch(
      /^0x[0-9a-f]{8} 0x[0-9a-f]{8} +1044480 hole type=0x1 flags=0x80000000 refs=0\n0x[0-9a-f]{8} 0x[0-9a-f]{8} +4096 area type=0x1 flags=0x40000000 refs=1\n$/,
    );
    pmmPut(kernel, again);
    expect(() => pmmDebugfsRead(kernel, "types/9")).toThrow(kerr("ENOENT"));
    expect(() => pmmDebugfsRead(kernel, "nope")).toThrow(kerr("ENOENT"));
  });

  it("keeps only the last opLogSize operations", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=1M" });
    for (let i = 0; i < 700; i++) pmmPut(kernel, pmmAlloc(kernel, areaInfo(PAGE_SIZE)));
    const log = pmmOperationLog(kernel);
    expect(log).toHaveLength(1024);
    expect(log[0]!.op).toBe("r"); // 2100 operations, the first 1076 dropped
    expect(log.at(-1)!.op).toBe("r");
  });
});
