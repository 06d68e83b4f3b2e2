import { describe, expect, it } from "vitest";
import { describeLaunch, pollsLaunch, type LaunchOut } from "./api";

const base: LaunchOut = {
  id: "L1", run_id: "r1", status: "running", template: "mlp", overrides: [], preset: null,
  executor: "local", resources: {}, retry: {}, grace_s: 10, pid: 4242, exit_code: null,
  restarts: 0, error: null, created_at: 1, started_at: 2, ended_at: null,
};

describe("describeLaunch", () => {
  it("shows a live launch's process", () => {
    expect(describeLaunch(base)).toBe("launch running · pid 4242");
  });
  it("shows restarts and the exit code of an ended launch, not its old pid", () => {
    expect(describeLaunch({ ...base, status: "failed", restarts: 2, exit_code: 3 })).toBe("launch failed · restarts 2 · exit 3");
  });
  it("names a remote executor and the error", () => {
    expect(describeLaunch({ ...base, status: "failed", executor: "ssh", pid: null, error: "host away" })).toBe("launch failed · ssh · host away");
  });
  it("names the host of a remote launch and its live detail", () => {
    const ssh = { ...base, status: "starting" as const, executor: "ssh", host: "gpu", pid: null, detail: "waiting for SSH on gpu:22 (12 s)" };
    expect(describeLaunch(ssh)).toBe("launch starting · ssh on gpu · waiting for SSH on gpu:22 (12 s)");
    expect(describeLaunch({ ...ssh, detail: "uploading 45% (12/26 MB)" })).toBe("launch starting · ssh on gpu · uploading 45% (12/26 MB)");
    const slurm = { ...base, status: "queued" as const, executor: "slurm", host: null, pid: null, detail: "pending: Resources" };
    expect(describeLaunch(slurm)).toBe("launch queued · slurm · pending: Resources");
    // a local launch's host is this machine: not named
    expect(describeLaunch({ ...base, host: "here", detail: "running" })).toBe("launch running · pid 4242 · running");
  });
  it("drops the detail once the launch has ended", () => {
    expect(describeLaunch({ ...base, status: "completed", executor: "ssh", host: "gpu", exit_code: 0, detail: "running (tmux td-1)" })).toBe(
      "launch completed · ssh on gpu · exit 0",
    );
  });
});

describe("pollsLaunch", () => {
  it("reads a live remote launch again, never a local or ended one", () => {
    for (const status of ["queued", "starting", "running", "cancelling"] as const) {
      expect(pollsLaunch({ status, executor: "ssh" })).toBe(true);
      expect(pollsLaunch({ status, executor: "local" })).toBe(false);
    }
    for (const status of ["completed", "failed", "cancelled", "paused"] as const) expect(pollsLaunch({ status, executor: "slurm" })).toBe(false);
  });
});
