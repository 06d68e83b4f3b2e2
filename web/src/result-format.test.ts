import { describe, expect, it } from "vitest";
import { keyWidth, resultRows, resultSummary, resultText } from "./result-format";

/** Significant digits of a number written in plain or exponent form. */
const sig = (s: string) => s.replace(/^-/, "").replace(/e.*$/, "").replace(".", "").replace(/^0+/, "").length;

describe("command results", () => {
  const validate = { val_loss: 0.23456789012345678, val_acc: 0.9123456789012345, step: 1200 };

  it("sums a result up on one line with numbers to 5 significant digits, never as JSON", () => {
    const s = resultSummary(validate);
    expect(s).toBe("val_loss 0.23457 · val_acc 0.91235 · step 1200");
    expect(s).not.toMatch(/[{}"]/);
    for (const n of s.match(/\d+\.\d+/g) ?? []) expect(sig(n)).toBeLessThanOrEqual(5);
    expect(resultSummary(1e-9)).toBe("1.000e-9");
    expect(resultSummary("saved")).toBe("saved");
    expect(resultSummary({ path: "/x/ckpt.npz", step: 5 })).toBe("path /x/ckpt.npz · step 5");
    expect(resultSummary({ nested: { a: 1, b: 2 }, xs: [1, 2, 3, 4, 5, 6, 7] })).toBe("nested {2 keys} · xs [7 items]");
    expect(resultSummary([{ x: [0.1234567, 2], label: 1 }, { x: [0, 0], label: 2 }])).toBe("2 items: {x, label}");
    expect(resultSummary({ big: 123456789.123, nan: "NaN" })).toBe("big 1.235e+8 · nan NaN");
    expect(resultSummary({ long: "a".repeat(500) }, 50)).toHaveLength(50);
  });

  it("expands into aligned rows: nesting as dotted paths, short lists inline", () => {
    const rows = resultRows({ val: { loss: 0.123456789, acc: 1 }, x: [0.333333333, -2], samples: [{ label: 2, p: 0.99999999 }] });
    expect(rows).toEqual([
      { key: "val.loss", value: "0.12346" },
      { key: "val.acc", value: "1" },
      { key: "x", value: "[0.33333, -2]" },
      { key: "samples.0.label", value: "2" },
      { key: "samples.0.p", value: "1" },
    ]);
    expect(keyWidth(rows)).toBe("samples.0.label".length);
    const text = resultText(validate).split("\n");
    expect(text).toEqual(["val_loss  0.23457", "val_acc   0.91235", "step      1200"]);
    expect(new Set(text.map((l) => l.search(/ \S+$/))).size).toBe(1); // values start in one column
  });

  it("caps the rows of a huge result", () => {
    const rows = resultRows(Array.from({ length: 1000 }, (_, i) => ({ i })), 10);
    expect(rows).toHaveLength(11);
    expect(rows.at(-1)).toEqual({ key: "…", value: "990 more" });
  });
});
