import { describe, expect, it } from "vitest";
import type { EventOut } from "../api/client";
import { eventClass, eventKinds, kindLabel, mergeEvents, summarizeEvent } from "./events-model";

const ev = (seq: number, kind = "x", payload: Record<string, unknown> = {}, run_id = "r1"): EventOut => ({
  seq, run_id, time: 1000 + seq, kind, payload,
});

describe("summarizeEvent", () => {
  it("summarises commands with their result or error", () => {
    expect(summarizeEvent(ev(1, "command", { name: "validate", status: "done", result: { val_acc: 0.91 } }))).toBe(
      'command validate → done val_acc 0.91',
    );
    expect(summarizeEvent(ev(1, "command", { name: "sample", status: "failed", error: "boom" }))).toBe(
      "command sample → failed: boom",
    );
    expect(summarizeEvent(ev(1, "command", { name: "pause", status: "pending" }))).toBe("command pause → pending");
  });
  it("summarises status changes, checkpoints and media", () => {
    expect(summarizeEvent(ev(1, "status_change", { old_status: "running", new_status: "paused" }))).toBe(
      "status running → paused",
    );
    expect(summarizeEvent(ev(1, "status_change", { old_status: null, new_status: "running" }))).toBe("status running");
    expect(summarizeEvent(ev(1, "checkpoint_saved", { step: 1200, kind: "best", is_best: true }))).toBe(
      "checkpoint step 1200 (best)",
    );
    expect(summarizeEvent(ev(1, "checkpoint_saved", { step: 5, kind: "regular", is_best: false }))).toBe("checkpoint step 5");
    expect(summarizeEvent(ev(1, "checkpoint_deleted", { step: 5 }))).toBe("checkpoint step 5 deleted");
    expect(summarizeEvent(ev(1, "media_logged", { key: "samples", step: 3, caption: "c" }))).toBe('samples step 3 "c"');
    expect(summarizeEvent(ev(1, "custom", { a: 1 }))).toBe('custom {"a":1}');
    expect(summarizeEvent(ev(1, "custom"))).toBe("custom");
  });
  it("colours by outcome", () => {
    expect(eventClass(ev(1, "command", { status: "done" }))).toBe("good");
    expect(eventClass(ev(1, "command", { status: "failed" }))).toBe("bad");
    expect(eventClass(ev(1, "checkpoint_saved", {}))).toBe("info");
    expect(eventClass(ev(1, "status_change", { new_status: "failed" }))).toBe("bad");
  });
});

describe("mergeEvents", () => {
  it("keeps newest first without duplicates", () => {
    let list = mergeEvents([], [ev(1), ev(2), ev(3)]);
    expect(list.map((e) => e.seq)).toEqual([3, 2, 1]);
    list = mergeEvents(list, [ev(3), ev(4)]);
    expect(list.map((e) => e.seq)).toEqual([4, 3, 2, 1]);
    const same = mergeEvents(list, [ev(2), ev(4)]);
    expect(same).toBe(list);
  });
  it("fills out-of-order arrivals (a REST page after pushes)", () => {
    const pushed = mergeEvents([], [ev(10), ev(11)]);
    const list = mergeEvents(pushed, [ev(8), ev(9), ev(10)]);
    expect(list.map((e) => e.seq)).toEqual([11, 10, 9, 8]);
  });
  it("treats the same seq of different runs as different events", () => {
    const list = mergeEvents([ev(1, "x", {}, "a")], [ev(1, "x", {}, "b")]);
    expect(list).toHaveLength(2);
  });
  it("caps, dropping the oldest", () => {
    const list = mergeEvents([], Array.from({ length: 10 }, (_, i) => ev(i + 1)), 4);
    expect(list.map((e) => e.seq)).toEqual([10, 9, 8, 7]);
  });
  it("lists kinds", () => {
    expect(eventKinds([ev(1, "b"), ev(2, "a"), ev(3, "b")], ["command"])).toEqual(["a", "b", "command"]);
  });
});

describe("kindLabel", () => {
  it("shortens known kinds and keeps others", () => {
    expect(kindLabel("checkpoint_verified")).toBe("ckpt verified");
    expect(kindLabel("my_event")).toBe("my_event");
  });
});

describe("alert events (issue 12)", () => {
  it("read as what fired, with its value and step, coloured by severity", () => {
    const rule = { kind: "alert", payload: { rule_id: "r1", kind: "nan", key: "loss", severity: "error", title: null, text: "loss became NaN", step: 120, value: "NaN" } };
    expect(summarizeEvent(rule)).toBe("✗ nan loss — loss became NaN (loss = NaN at step 120)");
    expect(eventClass(rule)).toContain("bad");
    const sdk = { kind: "alert", payload: { rule_id: null, kind: "sdk", key: null, severity: "info", title: "epoch done", text: "", step: null, value: null } };
    expect(summarizeEvent(sdk)).toBe("● epoch done");
    expect(eventClass(sdk)).toContain("info");
    expect(eventClass({ kind: "alert", payload: {} })).toContain("warn");
    expect(kindLabel("alert")).toBe("▲ ALERT");
  });
});
