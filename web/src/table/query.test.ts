import { describe, expect, it } from "vitest";
import { columnSpec } from "./columns";
import {
  addTerm,
  clickSort,
  columnFilterTerms,
  composeQuery,
  parseDuration,
  parseSortParam,
  quoteValue,
  sortParam,
  splitTerms,
} from "./query";

const spec = (id: string) => columnSpec(id)!;

describe("sort", () => {
  it("spells the sort as the server reads it", () => {
    expect(sortParam([{ col: "metric:val/acc:last", desc: true }, { col: "config:lr", desc: false }])).toBe("-metric:val/acc:last,config:lr");
    expect(parseSortParam("-metric:val/acc:last,config:lr,,config:lr")).toEqual([
      { col: "metric:val/acc:last", desc: true },
      { col: "config:lr", desc: false },
    ]);
  });

  it("a click sorts by one column, a second click flips it", () => {
    let s = clickSort([{ col: "created_at", desc: true }], "metric:loss:last", false, false);
    expect(s).toEqual([{ col: "metric:loss:last", desc: false }]);
    s = clickSort(s, "metric:loss:last", false, false);
    expect(s).toEqual([{ col: "metric:loss:last", desc: true }]);
  });

  it("shift-click adds a key, then flips only that key", () => {
    let s = clickSort([{ col: "config:opt", desc: false }], "metric:loss:min", true, false);
    expect(sortParam(s)).toBe("config:opt,metric:loss:min");
    s = clickSort(s, "metric:loss:min", true, false);
    expect(sortParam(s)).toBe("config:opt,-metric:loss:min");
    // a plain click on a key of several keeps its direction and drops the others
    expect(clickSort(s, "metric:loss:min", false, false)).toEqual([{ col: "metric:loss:min", desc: true }]);
  });
});

describe("column filters → query terms", () => {
  it("numbers: ranges, comparisons and bare values", () => {
    const acc = spec("metric:val/acc:last");
    expect(columnFilterTerms(acc, "0.5..0.9").terms).toEqual(["metric:val/acc:last>=0.5", "metric:val/acc:last<=0.9"]);
    expect(columnFilterTerms(acc, "..0.9").terms).toEqual(["metric:val/acc:last<=0.9"]);
    expect(columnFilterTerms(acc, ">0.9").terms).toEqual(["metric:val/acc:last>0.9"]);
    expect(columnFilterTerms(acc, "<= 3").terms).toEqual(["metric:val/acc:last<=3"]);
    expect(columnFilterTerms(acc, "1e-3").terms).toEqual(["metric:val/acc:last=0.001"]);
    expect(columnFilterTerms(spec("step"), ".5..2").terms).toEqual(["step>=0.5", "step<=2"]);
  });

  it("a filter that is not a number says so and adds nothing", () => {
    const f = columnFilterTerms(spec("metric:loss:min"), "abc");
    expect(f.terms).toEqual([]);
    expect(f.error).toMatch(/loss min/);
    expect(columnFilterTerms(spec("step"), "1..x").error).toMatch(/"x" is not a number/);
  });

  it("durations take units", () => {
    expect(parseDuration("1h30m")).toBe(5400);
    expect(parseDuration("90")).toBe(90);
    expect(parseDuration("5x")).toBeNull();
    expect(columnFilterTerms(spec("duration"), ">5m").terms).toEqual(["duration>300"]);
    expect(columnFilterTerms(spec("eta_s"), "1m..1h").terms).toEqual(["eta_s>=60", "eta_s<=3600"]);
  });

  it("status, tags, names and config values", () => {
    expect(columnFilterTerms(spec("status"), "Running, failed").terms).toEqual(["status:running,failed"]);
    expect(columnFilterTerms(spec("tags"), "base line").terms).toEqual(['tag:"base line"']);
    expect(columnFilterTerms(spec("name"), "lr-0.1").terms).toEqual(["name:~lr-0\\.1"]);
    expect(columnFilterTerms(spec("config:optim.name"), "adam").terms).toEqual(["config:optim.name=adam"]);
    expect(columnFilterTerms(spec("config:optim.name"), "!=sgd").terms).toEqual(["config:optim.name!=sgd"]);
    expect(columnFilterTerms(spec("config:lr"), "<0.01").terms).toEqual(["config:lr<0.01"]);
  });

  it("keys with spaces are quoted", () => {
    expect(columnFilterTerms(spec("metric:val acc:last"), ">1").terms).toEqual(['"metric:val acc:last">1']);
  });

  it("composes the box and the column filters into one q", () => {
    const { q, errors } = composeQuery("lr<0.01 status:running", { "metric:val/acc:last": ">0.9", step: "", "config:x": "?" }, columnSpec);
    expect(q).toBe("lr<0.01 status:running metric:val/acc:last>0.9 config:x=?");
    expect(errors).toEqual([]);
    expect(composeQuery("", { step: "nope" }, columnSpec)).toEqual({ q: "", errors: [expect.stringMatching(/STEP/)] });
  });
});

describe("terms", () => {
  it("splits on spaces but keeps quoted values whole", () => {
    expect(splitTerms('a  name:~"x y" b>1')).toEqual(["a", 'name:~"x y"', "b>1"]);
  });
  it("adds a term once", () => {
    expect(addTerm("lr<0.1", "config:opt=adam")).toBe("lr<0.1 config:opt=adam");
    expect(addTerm("lr<0.1 config:opt=adam", "config:opt=adam")).toBe("lr<0.1 config:opt=adam");
  });
  it("quotes what the query language would split", () => {
    expect(quoteValue("adam")).toBe("adam");
    expect(quoteValue("a b")).toBe('"a b"');
    expect(quoteValue('say "hi"')).toBe('"say \\"hi\\""');
  });
});
