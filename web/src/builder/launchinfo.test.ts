import { describe, expect, it } from "vitest";
import { describeLaunch, type LaunchOut } from "./api";

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
});
