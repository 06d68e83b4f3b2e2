import { describe, expect, it } from "vitest";
import { atBottom, filterLines, highlight, mergeLines, visibleRange, type LogLine } from "./console-model";

const l = (seq: number, text = `line ${seq}`, stream: LogLine["stream"] = "stdout"): LogLine => ({ seq, time: seq, stream, text });
const seqs = (ls: LogLine[]) => ls.map((x) => x.seq);

describe("mergeLines", () => {
  it("appends live lines and drops duplicates", () => {
    let list = mergeLines([], [l(1), l(2)]);
    list = mergeLines(list, [l(2), l(3)]);
    expect(seqs(list)).toEqual([1, 2, 3]);
    expect(mergeLines(list, [l(1), l(3)])).toBe(list);
  });
  it("merges a REST tail with lines pushed meanwhile", () => {
    const pushed = mergeLines([], [l(9), l(10)]);
    expect(seqs(mergeLines(pushed, [l(7), l(8), l(9)]))).toEqual([7, 8, 9, 10]);
  });
  it("prepends an older page", () => {
    expect(seqs(mergeLines([l(5), l(6)], [l(3), l(4)]))).toEqual([3, 4, 5, 6]);
  });
  it("keeps the newest lines under the cap", () => {
    const list = mergeLines([], Array.from({ length: 10 }, (_, i) => l(i + 1)), 3);
    expect(seqs(list)).toEqual([8, 9, 10]);
  });
});

describe("search", () => {
  it("filters case-insensitively", () => {
    const ls = [l(1, "Epoch 1"), l(2, "loss 0.3"), l(3, "epoch 2")];
    expect(seqs(filterLines(ls, "EPOCH"))).toEqual([1, 3]);
    expect(filterLines(ls, "")).toBe(ls);
  });
  it("splits for highlighting", () => {
    expect(highlight("a Loss and loss", "loss")).toEqual([
      { text: "a ", hit: false }, { text: "Loss", hit: true }, { text: " and ", hit: false }, { text: "loss", hit: true },
    ]);
    expect(highlight("abc", "")).toEqual([{ text: "abc", hit: false }]);
    expect(highlight("", "x")).toEqual([{ text: "", hit: false }]);
  });
});

describe("scrolling", () => {
  it("computes the visible window", () => {
    expect(visibleRange(0, 100, 10, 1000, 0)).toEqual([0, 10]);
    expect(visibleRange(500, 100, 10, 1000, 5)).toEqual([45, 65]);
    expect(visibleRange(0, 100, 10, 3, 5)).toEqual([0, 3]);
  });
  it("knows the bottom", () => {
    expect(atBottom(900, 100, 1000)).toBe(true);
    expect(atBottom(500, 100, 1000)).toBe(false);
  });
});
