import { describe, expect, it } from "vitest";
import { axisX, buildAxis, numeric, polylines, position, ticks, valueAt } from "./parcoords";

describe("parallel coordinates scaling", () => {
  it("a numeric axis spans its runs' values, bottom to top", () => {
    const a = buildAxis("config:layers", "layers", [2, 8, 4, null]);
    expect(a.kind).toBe("linear");
    expect(position(a, 2)).toBe(0);
    expect(position(a, 8)).toBe(1);
    expect(position(a, 5)).toBeCloseTo(0.5);
    expect(position(a, null)).toBeNull();
    expect(valueAt(a, 0.5)).toBe(5);
  });

  it("positive values over three decades or more go on a log axis", () => {
    const a = buildAxis("config:lr", "lr", [1e-5, 1e-3, 1e-2]);
    expect(a.kind).toBe("log");
    expect(position(a, 1e-5)).toBe(0);
    expect(position(a, 1e-2)).toBeCloseTo(1);
    expect(position(a, 1e-3)).toBeCloseTo(2 / 3);
    expect(valueAt(a, 2 / 3)).toBeCloseTo(1e-3);
    expect(buildAxis("x", "x", [-1, 1000]).kind).toBe("linear");
    expect(buildAxis("x", "x", [1, 999]).kind).toBe("linear");
  });

  it("strings and booleans are categories, evenly spaced and sorted", () => {
    const a = buildAxis("config:opt", "opt", ["sgd", "adam", "sgd", "adamw"]);
    expect(a.kind).toBe("category");
    expect(a.categories).toEqual(["adam", "adamw", "sgd"]);
    expect(position(a, "adam")).toBe(0);
    expect(position(a, "adamw")).toBe(0.5);
    expect(position(a, "sgd")).toBe(1);
    expect(position(a, "rmsprop")).toBeNull();
    const b = buildAxis("config:amp", "amp", [true, false]);
    expect(b.kind).toBe("category");
    expect(position(b, true)).toBe(1);
    expect(valueAt(b, 0.5)).toBeNull();
  });

  it("a single value sits in the middle; non-finite values have no place", () => {
    const a = buildAxis("m", "m", [3, 3]);
    expect(position(a, 3)).toBe(0.5);
    expect(ticks(a, String)).toEqual([[0.5, "3"]]);
    const b = buildAxis("m", "m", [1, "NaN", 2, Number.POSITIVE_INFINITY]);
    expect(b.kind).toBe("linear"); // NaN and Inf, numbers or spelled, are left out
    expect(position(b, "NaN")).toBeNull();
    expect(numeric("Infinity")).toBeNull();
    expect(numeric("2.5")).toBe(2.5);
    const c = buildAxis("m", "m", [1, 2, Number.NaN]);
    expect(c.kind).toBe("linear");
    expect(position(c, Number.NaN)).toBeNull();
  });

  it("lines: one position per axis, axes spread across the width", () => {
    const axes = [buildAxis("a", "a", [0, 10]), buildAxis("b", "b", ["x", "y"])];
    expect(polylines(axes, [{ a: 10, b: "x" }, { a: 5 }])).toEqual([
      [1, 0],
      [0.5, null],
    ]);
    expect(axisX(0, 3, 200, 20)).toBe(20);
    expect(axisX(2, 3, 200, 20)).toBe(180);
    expect(axisX(0, 1, 200)).toBe(100);
  });
});
