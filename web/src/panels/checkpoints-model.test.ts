import { describe, expect, it } from "vitest";
import type { CheckpointOut } from "../api/client";
import {
  applyCheckpointEvent, metricColumns, nextSort, sortCheckpoints, upsertCheckpoint,
} from "./checkpoints-model";

const ck = (id: string, step: number, extra: Partial<CheckpointOut> = {}): CheckpointOut => ({
  id, run_id: "r", step, path: `/x/${id}`, kind: "regular", metrics: {}, metadata: {}, size: null,
  sha256: null, created_at: step, host: null, is_best: false, valid: null, ...extra,
});

describe("sortCheckpoints", () => {
  const list = [
    ck("a", 100, { size: 10, metrics: { loss: 0.5 } }),
    ck("b", 300, { size: null, metrics: { loss: "NaN" } }),
    ck("c", 200, { size: 30, metrics: { loss: 0.1 } }),
  ];
  it("sorts by step desc by default and flips", () => {
    expect(sortCheckpoints(list, { col: "step", desc: true }).map((c) => c.id)).toEqual(["b", "c", "a"]);
    expect(sortCheckpoints(list, { col: "step", desc: false }).map((c) => c.id)).toEqual(["a", "c", "b"]);
  });
  it("puts missing values last either way", () => {
    expect(sortCheckpoints(list, { col: "size", desc: true }).map((c) => c.id)).toEqual(["c", "a", "b"]);
    expect(sortCheckpoints(list, { col: "size", desc: false }).map((c) => c.id)).toEqual(["a", "c", "b"]);
    expect(sortCheckpoints(list, { col: "m:loss", desc: false }).map((c) => c.id)).toEqual(["c", "a", "b"]);
  });
  it("header clicks", () => {
    expect(nextSort({ col: "step", desc: true }, "step")).toEqual({ col: "step", desc: false });
    expect(nextSort({ col: "step", desc: false }, "size")).toEqual({ col: "size", desc: true });
  });
  it("finds metric columns", () => {
    expect(metricColumns([ck("a", 1, { metrics: { loss: 1, acc: 2 } }), ck("b", 2, { metrics: { loss: 1 } })])).toEqual(["loss", "acc"]);
  });
});

describe("format", () => {
  it("sizes, ages, metrics", () => {
  });
});

describe("live updates", () => {
  it("adds, marks best (one per run), verifies and deletes", () => {
    let list = [ck("a", 1, { is_best: true }), ck("b", 2)];
    list = applyCheckpointEvent(list, "checkpoint_saved", ck("c", 3) as unknown as Record<string, unknown>);
    expect(list.map((c) => c.id)).toEqual(["a", "b", "c"]);
    list = applyCheckpointEvent(list, "checkpoint_saved", ck("c", 3) as unknown as Record<string, unknown>);
    expect(list).toHaveLength(3);
    list = applyCheckpointEvent(list, "checkpoint_best", { id: "b", step: 2 });
    expect(list.filter((c) => c.is_best).map((c) => c.id)).toEqual(["b"]);
    list = applyCheckpointEvent(list, "checkpoint_verified", { id: "c", valid: false });
    expect(list.find((c) => c.id === "c")?.valid).toBe(false);
    list = applyCheckpointEvent(list, "checkpoint_deleted", { id: "a" });
    expect(list.map((c) => c.id)).toEqual(["b", "c"]);
    list = upsertCheckpoint(list, ck("c", 3, { is_best: true }));
    expect(list.filter((c) => c.is_best).map((c) => c.id)).toEqual(["c"]);
  });
});
