import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import { compileDts, dtcAvailable, dtcVersion, parseFdt } from "../src/index.js";
import { fixture, fixtureText, HAVE_DTC, NO_DTC } from "./helpers.js";

describe("compileDts", () => {
  it("is ENOSYS with a clear message when dtc is missing", () => {
    expect(() => compileDts("/dts-v1/; / { };", { dtc: "/nonexistent/dtc" })).toThrow(
      kerr(
        "ENOSYS",
        /dtc, the device-tree compiler, is not installed \(Debian: apt-get install device-tree-compiler\)/,
      ),
    );
    expect(dtcAvailable("/nonexistent/dtc")).toBe(false);
    expect(dtcVersion("/nonexistent/dtc")).toBeNull();
  });

  it("refuses a source that is not a string", () => {
    expect(() => compileDts(42 as unknown as string)).toThrow(kerr("EINVAL", /not a string/));
  });

  it.skipIf(!HAVE_DTC)(`reports dtc's version ${NO_DTC}`, () => {
    expect(dtcVersion()).toMatch(/^DTC \d+\.\d+/);
  });

  it.skipIf(!HAVE_DTC)(`compiles DTS to a blob the reader reads ${NO_DTC}`, () => {
    const t = parseFdt(
      compileDts(
        '/dts-v1/; / { #address-cells = <1>; #size-cells = <1>; a@10 { reg = <0x10 0x4>; s = "x"; }; };',
      ),
    );
    expect(t.node("/a@10")!.reg()).toEqual([{ base: 0x10, size: 4 }]);
    expect(t.node("/a@10")!.string("s")).toBe("x");
  });

  it.skipIf(!HAVE_DTC)(
    `the committed .dtb fixtures are what dtc makes of the .dts fixtures ${NO_DTC}`,
    () => {
      for (const f of ["exynos4210", "s5pv210"]) {
        const warnings: string[] = [];
        const compiled = compileDts(fixtureText(`${f}.dts`), { onWarning: (w) => warnings.push(w) });
        expect(Buffer.from(compiled).equals(Buffer.from(fixture(`${f}.dtb`)))).toBe(true);
        expect(warnings).toEqual([]);
      }
    },
  );

  it.skipIf(!HAVE_DTC)(`is EINVAL with dtc's message for a bad source ${NO_DTC}`, () => {
    expect(() => compileDts("/dts-v1/;\n/ { a = <1 ; };\n")).toThrow(
      kerr("EINVAL", /dtc rejected the source: .*2\./),
    );
    expect(() => compileDts("/dts-v1/; / { x = <&missing>; };")).toThrow(
      kerr("EINVAL", /Reference to non-existent node or label "missing"/),
    );
  });

  it.skipIf(!HAVE_DTC)(`passes warnings on and keeps labels with symbols ${NO_DTC}`, () => {
    const warnings: string[] = [];
    const b = compileDts("/dts-v1/; / { l: n@1 { }; };", {
      symbols: true,
      onWarning: (w) => warnings.push(w),
    });
    expect(warnings.join("\n")).toMatch(/unit_address_vs_reg/);
    expect(parseFdt(b).node("/__symbols__")!.string("l")).toBe("/n@1");
  });
});
