import { describe, expect, it } from "vitest";
import { scrollToShow, visibleRange } from "./virtualRange";

describe("virtual list range", () => {
  it("renders only the rows in view plus overscan", () => {
    expect(visibleRange(0, 180, 18, 10000, 5)).toEqual([0, 15]);
    expect(visibleRange(18000, 180, 18, 10000, 5)).toEqual([995, 1015]);
    expect(visibleRange(179_900, 180, 18, 10000, 5)).toEqual([9989, 10000]);
    expect(visibleRange(0, 180, 18, 0, 5)).toEqual([0, 0]);
    expect(visibleRange(5000, 180, 18, 3, 5)).toEqual([3, 3]);
  });

  it("scrolls minimally to show a row", () => {
    expect(scrollToShow(0, 180, 18, 3)).toBe(0);
    expect(scrollToShow(0, 180, 18, 10)).toBe(18);
    expect(scrollToShow(900, 180, 18, 2)).toBe(36);
    expect(scrollToShow(900, 180, 18, 55)).toBe(900);
  });
});
