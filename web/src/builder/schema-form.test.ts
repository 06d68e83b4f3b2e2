import { describe, expect, it } from "vitest";
import { dottedPath, fieldPaths, formFields, placeErrors, rangeHint, type Field } from "./schema-form";

const schema = {
  type: "object",
  required: ["lr"],
  properties: {
    lr: { type: "number", minimum: 0, exclusiveMaximum: 1, description: "learning rate" },
    steps: { type: "integer", minimum: 1 },
    optim: {
      type: "object",
      properties: { name: { enum: ["adam", "sgd"] }, nesterov: { type: "boolean" } },
    },
    layers: { type: "array", items: { type: "integer" } },
    tag: { type: ["string", "null"] },
    sched: { $ref: "#/$defs/Sched" },
  },
  $defs: { Sched: { type: "object", properties: { kind: { type: "string" } } } },
};
const defaults = { lr: 0.1, steps: 10, optim: { name: "adam", nesterov: false }, layers: [8], tag: null, sched: { kind: "cos" }, seed: 1 };

const byPath = (fields: Field[], path: string): Field | undefined => {
  for (const f of fields) {
    if (f.path === path) return f;
    if (f.kind === "object") {
      const hit = byPath(f.fields, path);
      if (hit) return hit;
    }
  }
  return undefined;
};

describe("schema → form fields", () => {
  const fields = formFields(schema, defaults);

  it("makes one field per kind", () => {
    const lr = byPath(fields, "lr");
    expect(lr).toMatchObject({ kind: "number", integer: false, min: 0, max: 1, exclusiveMax: true, required: true, description: "learning rate" });
    expect(byPath(fields, "steps")).toMatchObject({ kind: "number", integer: true, min: 1, max: null });
    expect(byPath(fields, "optim")).toMatchObject({ kind: "object" });
    expect(byPath(fields, "optim.name")).toMatchObject({ kind: "enum", options: ["adam", "sgd"] });
    expect(byPath(fields, "optim.nesterov")).toMatchObject({ kind: "boolean" });
    expect(byPath(fields, "layers")).toMatchObject({ kind: "list", item: "integer" });
    expect(byPath(fields, "tag")).toMatchObject({ kind: "string", nullable: true });
    expect(byPath(fields, "sched.kind")).toMatchObject({ kind: "string" });
  });

  it("adds fields for defaults the schema does not name", () => {
    expect(byPath(fields, "seed")).toMatchObject({ kind: "number", integer: true });
    expect(fieldPaths(fields)).toEqual(["lr", "steps", "optim", "optim.name", "optim.nesterov", "layers", "tag", "sched", "sched.kind", "seed"]);
  });

  it("works from defaults alone (an inferred schema)", () => {
    const inferred = formFields({}, { a: { b: true }, xs: ["p", "q"], rows: [{ a: 1 }] });
    expect(byPath(inferred, "a.b")?.kind).toBe("boolean");
    expect(byPath(inferred, "xs")).toMatchObject({ kind: "list", item: "string" });
    expect(byPath(inferred, "rows")?.kind).toBe("literal");
  });

  it("hints a number's range", () => {
    const lr = byPath(fields, "lr");
    if (lr?.kind !== "number") throw new Error("lr");
    expect(rangeHint(lr)).toBe("0 ≤ x < 1");
  });
});

describe("server errors → fields", () => {
  it("converts JSON paths", () => {
    expect(dottedPath("$.optim.lr")).toBe("optim.lr");
    expect(dottedPath("$.layers[2]")).toBe("layers.2");
    expect(dottedPath("$")).toBe("");
  });

  it("puts each error by its field, or the nearest enclosing one, else above the form", () => {
    const placed = placeErrors(
      [
        { path: "$.lr", message: "1.5 is more than the maximum 1" },
        { path: "$.layers[0]", message: "not an integer" },
        { path: "$.optim.nope", message: "unknown key" },
        { path: "$.bogus", message: "unknown key bogus" },
        { path: "$", message: "lr is required" },
      ],
      ["lr", "layers", "optim", "optim.name"],
    );
    expect(placed.byField.get("lr")).toEqual(["1.5 is more than the maximum 1"]);
    expect(placed.byField.get("layers")).toEqual(["not an integer"]);
    expect(placed.byField.get("optim")).toEqual(["unknown key"]);
    expect(placed.general.map((e) => e.path)).toEqual(["$.bogus", "$"]);
  });
});
