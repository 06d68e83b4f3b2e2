import { describe, expect, it } from "vitest";
import { csvCell, csvLine, csvNumber, csvText } from "./csv";

/** RFC 4180 reading (what a spreadsheet or Python's csv module does), to check round trips. */
function parse(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(cell), (cell = "");
    else if (c === "\n") row.push(cell), rows.push(row), (row = []), (cell = "");
    else cell += c;
  }
  return rows;
}

describe("csvCell", () => {
  it("quotes a field only when it holds a comma, a quote or a line break, doubling quotes", () => {
    expect(csvCell("plain name")).toBe("plain name");
    expect(csvCell("a,b")).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("two\nlines")).toBe('"two\nlines"');
    expect(csvCell("cr\rhere")).toBe('"cr\rhere"');
    expect(csvCell("")).toBe("");
    expect(csvCell(null)).toBe("");
    expect(csvCell(undefined)).toBe("");
  });

  it("spells non-finite numbers as the server's CSV does (nan, inf, -inf)", () => {
    expect(csvCell(Number.NaN)).toBe("nan");
    expect(csvCell(Number.POSITIVE_INFINITY)).toBe("inf");
    expect(csvCell(Number.NEGATIVE_INFINITY)).toBe("-inf");
    expect(csvNumber(-0)).toBe("-0");
  });

  it("writes finite numbers so they read back to the same float", () => {
    for (const v of [0.1 + 0.2, 1e-7, 123456789012345680000, -2.5, 3, Number.MIN_VALUE, Number.MAX_VALUE]) {
      expect(Number(csvNumber(v))).toBe(v);
    }
    expect(csvCell(0.30000000000000004)).toBe("0.30000000000000004");
  });
});

describe("csvText", () => {
  it("is a header line and one line per row, each ending in \\n", () => {
    expect(csvText(["a", "b"], [[1, "x"], [Number.NaN, null]])).toBe("a,b\n1,x\nnan,\n");
    expect(csvLine(["k,1", 2])).toBe('"k,1",2\n');
  });

  it("round-trips awkward fields through an RFC 4180 reader", () => {
    const rows = [
      ["run, one", 'the "best"', "multi\nline\r\nname", ",", '"'],
      ["", " spaced ", "ü ✓", "=1+1", "-inf"],
    ];
    expect(parse(csvText(["a", "b", "c", "d", "e"], rows))).toEqual([["a", "b", "c", "d", "e"], ...rows]);
  });
});
