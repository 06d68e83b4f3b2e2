import { describe, expect, it } from "vitest";
import { fuzzyFilter, fuzzyMatch } from "./fuzzy";

describe("fuzzy", () => {
  it("matches subsequences case-insensitively", () => {
    expect(fuzzyMatch("rl", "Reset layout")).not.toBeNull();
    expect(fuzzyMatch("RESET", "Reset layout")!.positions).toEqual([0, 1, 2, 3, 4]);
    expect(fuzzyMatch("xyz", "Reset layout")).toBeNull();
    expect(fuzzyMatch("", "anything")!.score).toBe(0);
    expect(fuzzyMatch("res lay", "Reset layout")).not.toBeNull();
  });

  it("ranks substring and word-start hits first", () => {
    const items = ["Show panel: images", "Run: pause", "Reset layout", "Run: resume", "Show help"];
    const r = fuzzyFilter(items, "pause", (s) => s).map((x) => x.item);
    expect(r[0]).toBe("Run: pause");
    const s = fuzzyFilter(items, "sh", (s) => s).map((x) => x.item);
    expect(s.slice(0, 2).sort()).toEqual(["Show help", "Show panel: images"]);
    const t = fuzzyFilter(items, "rl", (s) => s).map((x) => x.item);
    expect(t[0]).toBe("Reset layout");
  });

  it("keeps the input order for an empty query", () => {
    expect(fuzzyFilter(["b", "a", "c"], "", (s) => s).map((x) => x.item)).toEqual(["b", "a", "c"]);
  });
});
