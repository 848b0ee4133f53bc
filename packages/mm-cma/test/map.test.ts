import { Device, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  cmaAlloc,
  cmaGetMap,
  cmaMapLookup,
  cmaMatchDevice,
  cmaRegionRegister,
  cmaSetMap,
  cmaSysfsRead,
  cmaSysfsWrite,
  parseCmaMap,
} from "../src/index.js";
import { board2010 } from "./helpers.js";

const regionsOf = (map: string, dev: string, type = "common") => {
  const m = parseCmaMap(map);
  return m ? (cmaMapLookup(m, dev, type)?.regions ?? null) : null;
};

describe("map grammar", () => {
  it("parses rules, patterns and region lists", () => {
    const m = parseCmaMap("foo/a=a,b;foo/b=b,a;*=a,b")!;
    expect(m.rules.map((r) => r.regions)).toEqual([
      ["a", "b"],
      ["b", "a"],
      ["a", "b"],
    ]);
    expect(m.rules[0]!.patterns).toEqual([{ dev: "foo", type: "a" }]);
    expect(parseCmaMap("video,camera=region;*=common")!.rules[0]!.patterns).toEqual([
      { dev: "video", type: null },
      { dev: "camera", type: null },
    ]);
    expect(parseCmaMap("/t=x")!.rules[0]!.patterns).toEqual([{ dev: null, type: "t" }]);
  });

  it("drops a trailing ';', stops at a newline, and reads empty text as no map", () => {
    expect(parseCmaMap("*=r;")!.text).toBe("*=r");
    expect(parseCmaMap("*=r\ngarbage")!.text).toBe("*=r");
    expect(parseCmaMap("")).toBeNull();
    expect(parseCmaMap("\n")).toBeNull();
  });

  it("rejects a rule without '=' or with empty patterns, naming its position", () => {
    expect(() => parseCmaMap("video")).toThrow(kerr("EINVAL", /at position 0/));
    expect(() => parseCmaMap("=r")).toThrow(kerr("EINVAL", /at position 0/));
    expect(() => parseCmaMap("a=b;c")).toThrow(kerr("EINVAL", /at position 4 near "c"/));
    expect(() => parseCmaMap("a=b;;c=d")).toThrow(kerr("EINVAL", /at position 4/));
  });
});

describe("map matching", () => {
  it("device patterns: literal, '?' one character, final '*' the rest (empty included)", () => {
    expect(cmaMatchDevice("fimc0", "fimc0")).toBe(true);
    expect(cmaMatchDevice("fimc0", "fimc01")).toBe(false);
    expect(cmaMatchDevice("fimc0", "fimc")).toBe(false);
    expect(cmaMatchDevice("fimc?", "fimc3")).toBe(true);
    expect(cmaMatchDevice("fimc?", "fimc")).toBe(false);
    expect(cmaMatchDevice("fimc*", "fimc")).toBe(true);
    expect(cmaMatchDevice("fimc*", "fimc.12")).toBe(true);
    expect(cmaMatchDevice("*", "")).toBe(true);
    expect(cmaMatchDevice("f*c", "fimc")).toBe(false);
    expect(cmaMatchDevice("?imc*", "fimc1")).toBe(true);
  });

  it("types: no /type matches any type, /type compares literally, null type is 'common'", () => {
    const map = "foo/a=a,b;foo/b=b,a;*=a,b";
    expect(regionsOf(map, "foo", "a")).toEqual(["a", "b"]);
    expect(regionsOf(map, "foo", "b")).toEqual(["b", "a"]);
    expect(regionsOf(map, "foo", "c")).toEqual(["a", "b"]);
    expect(regionsOf(map, "bar", "a")).toEqual(["a", "b"]);
    expect(regionsOf("video=v", "video", "anything")).toEqual(["v"]);
    expect(regionsOf("video/common=v", "video")).toEqual(["v"]);
    expect(regionsOf("video/comm=v", "video")).toBeNull();
  });

  it("the first matching rule wins", () => {
    expect(regionsOf("video,camera=region;*=common", "camera")).toEqual(["region"]);
    expect(regionsOf("video,camera=region;*=common", "mfc")).toEqual(["common"]);
    expect(regionsOf("*=first;video=second", "video")).toEqual(["first"]);
  });

  it("a /type pattern takes the device match of the pattern before it (any device at the start)", () => {
    expect(regionsOf("foo/a,/b=x;*=y", "foo", "b")).toEqual(["x"]);
    expect(regionsOf("foo/a,/b=x;*=y", "bar", "b")).toEqual(["y"]);
    expect(regionsOf("/b=x;*=y", "anyone", "b")).toEqual(["x"]);
  });
});

describe("the map at run time", () => {
  const setup = () => {
    const { kernel } = board2010([
      [0x42000000, 4 * SZ_1M, "a"],
      [0x42400000, 4 * SZ_1M, "b"],
    ]);
    const a = cmaRegionRegister(kernel, { name: "a", start: 0x42000000, size: 4 * SZ_1M });
    const b = cmaRegionRegister(kernel, { name: "b", start: 0x42400000, size: 4 * SZ_1M });
    return { kernel, a, b };
  };

  it("falls back left to right over the listed regions, skipping unknown names", () => {
    const { kernel, a, b } = setup();
    cmaSetMap(kernel, "cam*=nope,a,b");
    const dev = new Device(kernel, { name: "cam0" });
    const x = cmaAlloc(dev, null, 3 * SZ_1M, 0);
    expect(x).toBeGreaterThanOrEqual(a.base);
    const y = cmaAlloc(dev, null, 3 * SZ_1M, 0); // a is full: b
    expect(y).toBeGreaterThanOrEqual(b.base);
    expect(() => cmaAlloc(dev, null, 3 * SZ_1M, 0)).toThrow(kerr("ENOMEM"));
  });

  it("is replaced atomically; a bad write keeps the old map; an empty one clears it", () => {
    const { kernel } = setup();
    const dev = new Device(kernel, { name: "mfc" });
    cmaSysfsWrite(kernel, "map", "mfc=b;*=a\n");
    expect(cmaSysfsRead(kernel, "map")).toBe("mfc=b;*=a\n");
    expect(cmaAlloc(dev, null, SZ_1M, 0)).toBeGreaterThanOrEqual(0x42400000);
    expect(() => cmaSysfsWrite(kernel, "map", "mfc=a;broken")).toThrow(kerr("EINVAL", /position 6/));
    expect(cmaGetMap(kernel)).toBe("mfc=b;*=a");
    cmaSetMap(kernel, "mfc=a");
    expect(cmaAlloc(dev, null, SZ_1M, 0)).toBeLessThan(0x42400000);
    cmaSysfsWrite(kernel, "map", "");
    expect(cmaSysfsRead(kernel, "map")).toBe("");
    expect(() => cmaAlloc(dev, null, SZ_1M, 0)).toThrow(kerr("ENOENT", /no CMA map/));
  });
});
