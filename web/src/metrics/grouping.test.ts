import { describe, expect, it } from "vitest";
import { countKeys, groupKeys, matchesKey, parseFilter, prefixOf } from "./grouping";

const KEYS = ["train/loss", "val/acc", "sys/gpu10/util", "sys/gpu2/util", "loss", "train/lr", "val/loss", "lr", "train/loss"];

describe("metrics grid: grouping", () => {
  it("groups every key once by its first prefix: no prefix first, sys last, natural order", () => {
    const g = groupKeys(KEYS, parseFilter("", false));
    expect(g.map((x) => x.title)).toEqual(["(no prefix)", "train/", "val/", "sys/"]);
    expect(g.map((x) => x.keys)).toEqual([
      ["loss", "lr"],
      ["train/loss", "train/lr"],
      ["val/acc", "val/loss"],
      ["sys/gpu2/util", "sys/gpu10/util"],
    ]);
    expect(countKeys(g)).toEqual({ shown: 8, total: 8 });
    expect(prefixOf("/odd")).toBe("");
  });

  it("a fuzzy filter narrows the keys and drops sections left empty, keeping their totals", () => {
    const g = groupKeys(KEYS, parseFilter("vlos", false));
    expect(g.map((x) => [x.prefix, x.keys, x.total])).toEqual([["val", ["val/loss"], 2]]);
    expect(countKeys(g)).toEqual({ shown: 1, total: 2 });
    // the letters in order, not a substring; case does not matter
    expect(groupKeys(KEYS, parseFilter("TRLR", false)).flatMap((x) => x.keys)).toEqual(["train/lr"]);
  });

  it("/regex/ or the regex switch filters by a case-insensitive regular expression", () => {
    expect(groupKeys(KEYS, parseFilter("/^sys\\/gpu\\d+/", false)).flatMap((x) => x.keys)).toEqual(["sys/gpu2/util", "sys/gpu10/util"]);
    expect(groupKeys(KEYS, parseFilter("LOSS$", true)).flatMap((x) => x.keys)).toEqual(["loss", "train/loss", "val/loss"]);
    // fuzzy "loss$" matches nothing: "$" is not in any key
    expect(groupKeys(KEYS, parseFilter("loss$", false))).toEqual([]);
  });

  it("a bad regex is an error that filters nothing out", () => {
    const f = parseFilter("(unclosed", true);
    expect(f.kind).toBe("error");
    expect(matchesKey(f, "anything")).toBe(true);
    expect(countKeys(groupKeys(KEYS, f)).shown).toBe(8);
  });

  it("a global regex matches every key, not every other one", () => {
    const f = parseFilter("/loss/g", false);
    expect(["loss", "train/loss", "val/loss"].filter((k) => matchesKey(f, k))).toHaveLength(3);
  });
});
