import { describe, expect, it } from "vitest";
import { exportUrl } from "./links";

describe("exportUrl", () => {
  it("asks the export route for one run's metric as CSV by default, escaped", () => {
    expect(exportUrl("01abc", { keys: ["val/loss"] })).toBe("/api/runs/01abc/export?format=csv&key=val%2Floss");
    expect(exportUrl("r 1", { keys: ["a&b=c"] })).toBe("/api/runs/r%201/export?format=csv&key=a%26b%3Dc");
  });

  it("names the format, every key when none is given, and buckets when asked", () => {
    expect(exportUrl("r1")).toBe("/api/runs/r1/export?format=csv");
    expect(exportUrl("r1", { format: "parquet", keys: [] })).toBe("/api/runs/r1/export?format=parquet");
    expect(exportUrl("r1", { format: "tensorboard", keys: ["loss", "lr"], buckets: 1234.4 })).toBe(
      "/api/runs/r1/export?format=tensorboard&key=loss&key=lr&buckets=1234",
    );
    expect(exportUrl("r1", { buckets: null })).toBe("/api/runs/r1/export?format=csv");
  });

  it("sends each key on its own, so a comma or a glob character in a name stays literal", () => {
    expect(exportUrl("r1", { keys: ["a,b", "x*"] })).toBe("/api/runs/r1/export?format=csv&key=a%2Cb&key=x*");
  });
});
