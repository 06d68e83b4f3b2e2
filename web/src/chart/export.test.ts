import { describe, expect, it } from "vitest";
import { exportUrl } from "./ChartPanel";

describe("exportUrl", () => {
  it("asks the export route for one run's metric as CSV, keys escaped", () => {
    expect(exportUrl("01abc", "val/loss")).toBe("/api/runs/01abc/export?format=csv&keys=val%2Floss");
    expect(exportUrl("r 1", "a&b=c")).toBe("/api/runs/r%201/export?format=csv&keys=a%26b%3Dc");
  });
});
