import { describe, expect, it } from "vitest";
import {
  LOCAL, checkTarget, defaultExecutor, findExecutor, hostAfterSwitch, hostChoice, nextResourceKey, readResourceValue, rowsFrom, type ExecutorOut,
} from "./target";

const SSH: ExecutorOut = { name: "ssh", needs_host: true, hosts: ["gpu", "gpu2"], resources: [] };
const SLURM: ExecutorOut = {
  name: "slurm", needs_host: false, hosts: ["gpu", "login"], resources: ["partition", "nodes", "tasks", "gpus", "cpus", "mem", "time", "account"],
};
const ALL = [LOCAL, SLURM, SSH];

describe("where a launch runs", () => {
  it("starts on local, and an older server offers local only", () => {
    expect(defaultExecutor(ALL)).toBe("local");
    expect(defaultExecutor([SSH])).toBe("ssh");
    expect(defaultExecutor([])).toBe("local");
    const c = checkTarget(ALL, { executor: "local", host: null, rows: [] });
    expect(c.ok).toBe(true);
    expect(c.body).toEqual({ executor: "local", host: null, resources: {} });
  });

  it("shows a host select only where the executor runs on hosts", () => {
    expect(hostChoice(LOCAL, null).shown).toBe(false);
    expect(hostChoice(SSH, null)).toEqual({
      shown: true,
      options: [{ value: "", label: "— pick a host —" }, { value: "gpu", label: "gpu" }, { value: "gpu2", label: "gpu2" }],
    });
    // slurm: sbatch here, or on a login node
    expect(hostChoice(SLURM, null).options.map((o) => o.label)).toEqual(["this machine", "gpu", "login"]);
    // a cloned host the server no longer has is shown, marked
    expect(hostChoice(SSH, "old").options.at(-1)).toEqual({ value: "old", label: "old (unknown)" });
    expect(hostChoice({ ...SSH, hosts: [] }, null).options).toEqual([{ value: "", label: "— no hosts —" }]);
  });

  it("requires a host where the executor needs one, and a known one", () => {
    expect(checkTarget(ALL, { executor: "ssh", host: null, rows: [] }).errors).toEqual(["ssh needs a host"]);
    expect(checkTarget([{ ...SSH, hosts: [] }], { executor: "ssh", host: null, rows: [] }).errors[0]).toContain("the server has none");
    expect(checkTarget(ALL, { executor: "ssh", host: "old", rows: [] }).errors).toEqual(['host "old" is not known to the server']);
    expect(checkTarget(ALL, { executor: "local", host: "gpu", rows: [] }).errors).toEqual(["local runs on this machine: it takes no host"]);
    const ok = checkTarget(ALL, { executor: "ssh", host: "gpu2", rows: [] });
    expect(ok.ok).toBe(true);
    expect(ok.body).toEqual({ executor: "ssh", host: "gpu2", resources: {} });
    // slurm without a host: sbatch on the server's machine
    expect(checkTarget(ALL, { executor: "slurm", host: null, rows: [] }).ok).toBe(true);
  });

  it("says when a cloned executor is not on this server", () => {
    const c = checkTarget([LOCAL], { executor: "slurm", host: "login", rows: [["nodes", "2"]] });
    expect(c.ok).toBe(false);
    expect(c.errors).toEqual(['executor "slurm" is not on this server (it offers local)']);
    expect(findExecutor([LOCAL], "slurm")).toBeNull();
  });

  it("keeps the host across executors that offer it, picks the only one an executor needs", () => {
    expect(hostAfterSwitch(SSH, "gpu")).toBe("gpu");
    expect(hostAfterSwitch(LOCAL, "gpu")).toBeNull();
    expect(hostAfterSwitch(SSH, "login")).toBeNull();
    expect(hostAfterSwitch({ ...SSH, hosts: ["only"] }, null)).toBe("only");
    expect(hostAfterSwitch(SLURM, null)).toBeNull();
  });

  it("sends the executor's resources with numbers as numbers", () => {
    const c = checkTarget(ALL, {
      executor: "slurm", host: "login",
      rows: [["partition", "gpu"], ["nodes", " 2 "], ["gpus", "a100:2"], ["mem", "16G"], ["time", "1:30:00"], ["cpus", "0.5"], ["", ""]],
    });
    expect(c.ok).toBe(true);
    expect(c.body).toEqual({
      executor: "slurm", host: "login",
      resources: { partition: "gpu", nodes: 2, gpus: "a100:2", mem: "16G", time: "1:30:00", cpus: 0.5 },
    });
    expect(readResourceValue("90")).toBe(90);
    expect(readResourceValue("1e3")).toBe(1000);
    expect(readResourceValue("2x")).toBe("2x");
  });

  it("marks the rows the executor cannot take", () => {
    const c = checkTarget(ALL, { executor: "slurm", host: null, rows: [["gpu", "1"], ["nodes", "1"], ["nodes", "2"], ["time", " "], ["", "3"]] });
    expect(c.ok).toBe(false);
    expect(c.errors).toEqual([]);
    expect([...c.rowErrors]).toEqual([
      [0, 'slurm does not take "gpu" (it takes partition, nodes, tasks, gpus, cpus, mem, time, account)'],
      [2, '"nodes" is given twice'],
      [3, "a value is needed"],
      [4, "name the resource"],
    ]);
    expect(c.body.resources).toEqual({ nodes: 1 });
  });

  it("an executor that takes no resources is not sent the ones a clone brought", () => {
    const c = checkTarget(ALL, { executor: "local", host: null, rows: [["gpus", "1"]] });
    expect(c.ok).toBe(true);
    expect(c.dropped).toEqual(["gpus"]);
    expect(c.body.resources).toEqual({});
  });

  it("reads a clone's resources into rows and offers the next key", () => {
    const rows = rowsFrom({ nodes: 2, mem: "16G", gpus: 1 });
    expect(rows).toEqual([["nodes", "2"], ["mem", "16G"], ["gpus", "1"]]);
    expect(nextResourceKey(SLURM, rows)).toBe("partition");
    expect(nextResourceKey(SLURM, SLURM.resources.map((k) => [k, "1"]))).toBe("");
    expect(nextResourceKey(LOCAL, [])).toBe("");
  });
});
