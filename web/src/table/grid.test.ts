import { describe, expect, it } from "vitest";
import { columnSpec, type ColumnSpec } from "./columns";
import { rowWidth, visibleColumns } from "./TableGrid";

const specs = ["status", "name", "metric:a:last", "metric:b:last", "config:c", "config:d"].map((c) => columnSpec(c)!) as ColumnSpec[];

describe("the columns drawn when scrolled sideways", () => {
  it("all fit: all drawn", () => {
    expect(visibleColumns(specs, 7, 0, 5000, 0)).toEqual([0, 6]);
  });
  it("only those meeting the view (and its margin) are drawn", () => {
    // x of each column at 10 px/ch: status 26..146, name 152..372, a 378..468, b 474..564, c 570..650, d 656..736
    expect(visibleColumns(specs, 10, 0, 300, 0)).toEqual([0, 2]);
    expect(visibleColumns(specs, 10, 400, 100, 0)).toEqual([2, 4]);
    expect(visibleColumns(specs, 10, 700, 300, 0)).toEqual([5, 6]);
    expect(visibleColumns(specs, 10, 5000, 300, 0)).toEqual([6, 6]);
  });
  it("a row's width covers every column", () => {
    expect(rowWidth(specs)).toBe(`calc(${specs.reduce((a, s) => a + s.width, 0)}ch + ${16 + 36 + 8}px)`);
  });
});
