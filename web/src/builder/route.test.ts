import { describe, expect, it } from "vitest";
import { configErrors, readLaunchSpec } from "./api";
import { prefillFromRun } from "./route";

describe("clone and launch answers", () => {
  it("a launched run clones its template, preset, overrides, executor, host and resources", () => {
    const spec = {
      template: "mlp", overrides: ["lr=0.01", "+x=1"], preset: "long", effective_overrides: ["steps=9", "lr=0.01"],
      executor: "slurm", host: "login", resources: { gpus: 1, time: "1:00:00" }, command: ["python", "train.py"],
    };
    expect(prefillFromRun({ id: "r1", config: { lr: 0.01 }, launch_spec: spec })).toEqual({
      from: "r1", template: "mlp", preset: "long", overrides: ["lr=0.01", "+x=1"], config: null,
      executor: "slurm", host: "login", resources: { gpus: 1, time: "1:00:00" },
    });
    // a launch spec from before hosts: no host
    expect(prefillFromRun({ id: "r1", config: {}, launch_spec: { template: "mlp", executor: "local" } })).toMatchObject({ executor: "local", host: null });
  });

  it("a run traindeck did not launch clones its config only", () => {
    expect(prefillFromRun({ id: "r2", config: { lr: 0.3 }, launch_spec: null })).toEqual({
      from: "r2", template: null, preset: null, overrides: [], config: { lr: 0.3 }, executor: null, host: null, resources: {},
    });
    expect(readLaunchSpec({ overrides: "nope", template: 3 })).toEqual({ template: null, overrides: [], preset: null, executor: null, host: null, resources: {} });
  });

  it("reads the config errors of a refused launch wherever the answer puts them", () => {
    const errors = [{ path: "$.lr", message: "too big" }];
    expect(configErrors({ error: { code: "invalid_config", message: "m" }, errors })).toEqual(errors);
    expect(configErrors({ error: { code: "c", message: "m", errors } })).toEqual(errors);
    expect(configErrors({ error: { code: "not_found", message: "m" } })).toEqual([]);
    expect(configErrors(null)).toEqual([]);
  });
});
