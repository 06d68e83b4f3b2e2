import { describe, expect, it } from "vitest";
import { diffConfig, toYaml, yamlText } from "./yaml";

const defaults = { lr: 0.1, optim: { name: "adam", wd: 0 }, layers: [64, 64], dropout: 0.1 };

describe("config YAML and its diff", () => {
  it("renders nested mappings and lists", () => {
    expect(yamlText(toYaml(defaults))).toBe("lr: 0.1\noptim:\n  name: adam\n  wd: 0\nlayers: [64, 64]\ndropout: 0.1");
    expect(yamlText(toYaml({ rows: [{ a: 1 }], s: "two words", e: {} }))).toBe('rows:\n  - {a: 1}\ns: "two words"\ne: {}');
  });

  it("marks changed, added and removed keys (and the mappings holding them)", () => {
    const effective = { lr: 0.01, optim: { name: "adam", wd: 0 }, layers: [64, 64], extra: 1 };
    expect(diffConfig(defaults, effective)).toEqual({ changed: ["lr"], added: ["extra"], removed: ["dropout"] });
    const lines = toYaml(effective, defaults);
    const mark = (text: string) => lines.find((l) => l.text === text)?.mark;
    expect(mark("lr: 0.01")).toBe("changed");
    expect(mark("optim:")).toBe("same");
    expect(mark("extra: 1")).toBe("added");
    expect(mark("# removed: dropout")).toBe("removed");
    const nested = toYaml({ ...defaults, optim: { name: "sgd", wd: 0 } }, defaults);
    expect(nested.find((l) => l.text === "optim:")?.mark).toBe("changed");
    expect(nested.find((l) => l.text === "  name: sgd")?.mark).toBe("changed");
  });
});
