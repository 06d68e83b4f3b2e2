import { describe, expect, it } from "vitest";
import { formatCommaList, formatLiteral, parseCommaList, parseLiteral } from "./literal";

describe("literals", () => {
  it("reads YAML scalars as PyYAML does", () => {
    expect(parseLiteral("0.01")).toBe(0.01);
    expect(parseLiteral("1e-3")).toBe(0.001);
    expect(parseLiteral("42")).toBe(42);
    expect(parseLiteral("-3")).toBe(-3);
    expect(parseLiteral("true")).toBe(true);
    expect(parseLiteral("off")).toBe(false);
    expect(parseLiteral("null")).toBe(null);
    expect(parseLiteral("adam")).toBe("adam");
    expect(parseLiteral("'my run'")).toBe("my run");
    expect(parseLiteral('"a\\"b"')).toBe('a"b');
  });

  it("reads flow lists and mappings", () => {
    expect(parseLiteral("[1, 2, 3]")).toEqual([1, 2, 3]);
    expect(parseLiteral("[a, 'b,c', [1, 2]]")).toEqual(["a", "b,c", [1, 2]]);
    expect(parseLiteral("[]")).toEqual([]);
    expect(parseLiteral("{lr: 0.1, name: x}")).toEqual({ lr: 0.1, name: "x" });
  });

  it("writes literals that read back as the same value", () => {
    const values: unknown[] = [0.01, 3, -2, true, false, null, "adam", "my run", "yes", "1.5", "", "a=b", [1, "x y", true], { a: 1, b: [2] }];
    for (const v of values) expect(parseLiteral(formatLiteral(v))).toEqual(v);
    expect(formatLiteral("adam")).toBe("adam");
    expect(formatLiteral("yes")).toBe('"yes"');
    expect(formatLiteral("1.5")).toBe('"1.5"');
    expect(formatLiteral([1, 2])).toBe("[1, 2]");
  });

  it("reads and writes comma lists", () => {
    expect(parseCommaList("1, 2,3")).toEqual([1, 2, 3]);
    expect(parseCommaList("[a, b]")).toEqual(["a", "b"]);
    expect(parseCommaList("  ")).toEqual([]);
    expect(formatCommaList([64, 128])).toBe("64, 128");
  });
});
