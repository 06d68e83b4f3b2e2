import { describe, expect, it } from "vitest";
import {
  applyOverrides, editsFromConfig, editsToOverrides, formatOverride, getPath, leaves, overridesToEdits, parseOverride, setPath,
} from "./overrides";

const defaults = { lr: 0.1, optim: { name: "adam", betas: [0.9, 0.99] }, steps: 100 };

describe("overrides", () => {
  it("parses set, add and remove", () => {
    expect(parseOverride("optim.lr=0.01")).toEqual({ op: "set", path: "optim.lr", value: 0.01 });
    expect(parseOverride("+extra=[1, 2]")).toEqual({ op: "add", path: "extra", value: [1, 2] });
    expect(parseOverride("~optim.betas")).toEqual({ op: "remove", path: "optim.betas" });
    expect(parseOverride("no equals")).toHaveProperty("error");
    expect(parseOverride("a..b=1")).toHaveProperty("error");
  });

  it("formats what it parses", () => {
    for (const s of ["optim.lr=0.01", "+extra=[1, 2]", "~optim.betas", 'name="my run"']) {
      const o = parseOverride(s);
      if ("error" in o) throw new Error(o.error);
      expect(formatOverride(o)).toBe(s);
    }
  });

  it("applies overrides in order, nested paths created", () => {
    const { config, errors } = applyOverrides(defaults, ["steps=200", "optim.name=sgd", "+sched.kind=cos", "~lr", "oops"]);
    expect(config).toEqual({ optim: { name: "sgd", betas: [0.9, 0.99] }, steps: 200, sched: { kind: "cos" } });
    expect(errors).toHaveLength(1);
    expect(defaults.steps).toBe(100); // not mutated
  });

  it("turns form edits into overrides, dropping edits equal to the base", () => {
    const edits = new Map<string, unknown>([
      ["steps", 100],
      ["optim.name", "sgd"],
      ["optim.betas", [0.8, 0.9]],
      ["new.key", "x y"],
    ]);
    expect(editsToOverrides(defaults, edits)).toEqual(["optim.name=sgd", "optim.betas=[0.8, 0.9]", '+new.key="x y"']);
  });

  it("splits a cloned launch's overrides into edits and the rest", () => {
    const { edits, extra } = overridesToEdits(["lr=0.5", "+x=1", "~steps"]);
    expect([...edits]).toEqual([["lr", 0.5]]);
    expect(extra).toEqual(["+x=1", "~steps"]);
  });

  it("reads a run's config as edits against the defaults (known keys only)", () => {
    const run = { lr: 0.3, optim: { name: "adam", betas: [0.9, 0.999] }, steps: 100, seed: 7 };
    expect([...editsFromConfig(defaults, run)]).toEqual([
      ["lr", 0.3],
      ["optim.betas", [0.9, 0.999]],
    ]);
  });

  it("gets, sets and lists leaves", () => {
    expect(getPath(defaults, "optim.name")).toEqual({ found: true, value: "adam" });
    expect(getPath(defaults, "optim.nope").found).toBe(false);
    expect(setPath({}, "a.b.c", 1)).toEqual({ a: { b: { c: 1 } } });
    expect([...leaves(defaults).keys()]).toEqual(["lr", "optim.name", "optim.betas", "steps"]);
  });
});
