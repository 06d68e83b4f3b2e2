import { describe, expect, it } from "vitest";
import { diffConfigs, flatten, kindOf, leafText } from "./ConfigPanelModel";

describe("config flatten/diff", () => {
  it("flattens nested objects and arrays", () => {
    const f = flatten({ a: { b: 1, c: "x" }, l: [2, { d: 3 }], e: {}, n: null });
    expect([...f.entries()]).toEqual([
      ["a.b", 1],
      ["a.c", "x"],
      ["l.0", 2],
      ["l.1.d", 3],
      ["e", {}],
      ["n", null],
    ]);
    expect(flatten(5).size).toBe(0);
  });

  it("diffs keys across runs, absent keys count as different", () => {
    const rows = diffConfigs([
      { lr: 0.1, opt: { name: "adam", b: [0.9, 0.99] }, seed: 0 },
      { lr: 0.2, opt: { name: "adam", b: [0.9, 0.999] }, seed: 0 },
      { lr: 0.1, opt: { name: "adam", b: [0.9, 0.99] }, seed: 0, extra: true },
    ]);
    expect(rows.map((r) => r.key)).toEqual(["extra", "lr", "opt.b.1"]);
    expect(rows.find((r) => r.key === "extra")!.values).toEqual([undefined, undefined, true]);
    const all = diffConfigs([{ a: 1 }, { a: 1 }], true);
    expect(all).toEqual([{ key: "a", values: [1, 1], differs: false }]);
    expect(diffConfigs([{ a: 1 }, { a: "1" }])[0]!.differs).toBe(true);
    expect(diffConfigs([{ a: null }, {}])[0]!.differs).toBe(true);
  });

  it("formats and classifies leaves", () => {
    expect(leafText("x")).toBe('"x"');
    expect(leafText(undefined)).toBe("—");
    expect(leafText(1.5)).toBe("1.5");
    expect(kindOf([])).toBe("array");
    expect(kindOf(null)).toBe("null");
    expect(kindOf(true)).toBe("boolean");
  });
});
