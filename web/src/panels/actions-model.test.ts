import { describe, expect, it } from "vitest";
import type { CommandOut } from "../api/client";
import {
  commandEnabled, controlText, controlVia, customCommands, describeCommand, history, latestByName, parseArgs, reduceCommands,
} from "./actions-model";

const cmd = (id: string, name: string, status: CommandOut["status"], seq: number, created_at = 1, extra: Partial<CommandOut> = {}): CommandOut => ({
  id, run_id: "r", name, args: {}, status, created_at, delivered_at: null, finished_at: null,
  result: null, error: null, requested_by: null, seq, ...extra,
});

describe("reduceCommands", () => {
  it("follows pending → delivered → done and ignores stale updates", () => {
    let m = reduceCommands(new Map(), [cmd("a", "validate", "pending", 1)]);
    m = reduceCommands(m, [cmd("a", "validate", "delivered", 2)]);
    m = reduceCommands(m, [cmd("a", "validate", "done", 3, 1, { result: { val_acc: 0.9 } })]);
    const before = m;
    m = reduceCommands(m, [cmd("a", "validate", "delivered", 2)]); // late REST row
    expect(m).toBe(before);
    expect(m.get("a")?.status).toBe("done");
  });
  it("keeps the latest invocation per name, and history newest first", () => {
    const m = reduceCommands(new Map(), [
      cmd("a", "validate", "done", 3, 10),
      cmd("b", "validate", "pending", 5, 20),
      cmd("c", "sample", "failed", 4, 15, { error: "boom" }),
    ]);
    const latest = latestByName(m);
    expect(latest.get("validate")?.id).toBe("b");
    expect(latest.get("sample")?.id).toBe("c");
    expect(history(m).map((c) => c.id)).toEqual(["b", "c", "a"]);
    expect(history(m, 1)).toHaveLength(1);
  });
  it("describes a state with result or error", () => {
    expect(describeCommand({ status: "done", result: { val_acc: 0.91 }, error: null })).toBe("done val_acc 0.91");
    expect(describeCommand({ status: "failed", result: null, error: "boom" })).toBe("failed: boom");
    expect(describeCommand({ status: "pending", result: null, error: null })).toBe("pending");
  });
});

describe("buttons", () => {
  it("lists the custom commands only", () => {
    expect(customCommands({ commands_offered: ["stop", "pause", "resume", "checkpoint", "validate", "sample", "validate"] })).toEqual([
      "validate", "sample",
    ]);
    expect(customCommands(null)).toEqual([]);
  });
  it("enables by status", () => {
    expect(commandEnabled("pause", "running")).toBe(true);
    expect(commandEnabled("resume", "running")).toBe(false);
    expect(commandEnabled("resume", "paused")).toBe(true);
    expect(commandEnabled("pause", "paused")).toBe(false);
    expect(commandEnabled("validate", "paused")).toBe(true);
    expect(commandEnabled("stop", "completed")).toBe(false);
    expect(commandEnabled("validate", undefined)).toBe(false);
  });
  it("parses args", () => {
    expect(parseArgs("")).toEqual({ ok: true, args: {} });
    expect(parseArgs(' {"n": 4} ')).toEqual({ ok: true, args: { n: 4 } });
    expect(parseArgs("[1]").ok).toBe(false);
    const bad = parseArgs("{n:");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toMatch(/invalid JSON/);
  });
});

describe("controlVia / controlText", () => {
  const launched = { launch_spec: { command: ["python", "train.py"] } };
  it("a launched run's pause and resume go through the launcher's routes", () => {
    expect(controlVia("pause", launched)).toBe("route");
    expect(controlVia("resume", launched)).toBe("route");
    expect(controlVia("checkpoint", launched)).toBe("command");
    expect(controlVia("stop", launched)).toBe("command");
  });
  it("a run traindeck did not launch keeps the SDK's commands", () => {
    expect(controlVia("pause", { launch_spec: null })).toBe("command");
    expect(controlVia("pause", undefined)).toBe("command");
  });
  it("says whether a signal or the SDK's command paused it", () => {
    expect(controlText("pause", { status: "paused", commands_offered: [] })).toBe("SIGSTOP sent · paused");
    expect(controlText("resume", { status: "running", commands_offered: [] })).toBe("SIGCONT sent · running");
    expect(controlText("pause", { status: "running", commands_offered: ["pause", "resume"] })).toBe("command sent · running");
  });
});
