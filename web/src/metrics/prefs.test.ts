import { describe, expect, it } from "vitest";
import { DEFAULT_PREFS, parsePrefs, toggleCollapsed } from "./prefs";

describe("metrics grid: remembered settings", () => {
  it("keeps valid values and replaces bad ones by the defaults", () => {
    expect(parsePrefs(null)).toEqual(DEFAULT_PREFS);
    expect(parsePrefs("{not json")).toEqual(DEFAULT_PREFS);
    expect(parsePrefs(JSON.stringify({ axis: "time", log: true, smooth: 0.9, regex: true, collapsed: ["sys", 3] }))).toEqual({
      axis: "time", log: true, smooth: 0.9, regex: true, collapsed: ["sys"],
    });
    expect(parsePrefs(JSON.stringify({ axis: "x", smooth: 5 }))).toEqual(DEFAULT_PREFS);
  });

  it("collapses and expands one section", () => {
    expect(toggleCollapsed([], "sys")).toEqual(["sys"]);
    expect(toggleCollapsed(["sys", "val"], "sys")).toEqual(["val"]);
  });
});
