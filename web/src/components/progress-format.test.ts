import { describe, expect, it } from "vitest";
import { fmtEta, fmtPercent, fmtSpeed, lastEta, progressInfo, textBar } from "./progress-format";

describe("progress formatting", () => {
  it("speeds read as steps per second, slow ones as seconds per step", () => {
    expect(fmtSpeed(1234.4)).toBe("1234 it/s");
    expect(fmtSpeed(12.345)).toBe("12.3 it/s");
    expect(fmtSpeed(0.4242)).toBe("0.424 it/s");
    expect(fmtSpeed(0.05)).toBe("20 s/it");
    expect(fmtSpeed(0.004)).toBe("250 s/it");
    for (const v of [null, undefined, 0, -1, Number.NaN, Infinity]) expect(fmtSpeed(v)).toBe("");
  });

  it("ETAs have two units at most and nothing when unknown", () => {
    expect(fmtEta(0.4)).toBe("<1s");
    expect(fmtEta(45)).toBe("45s");
    expect(fmtEta(192)).toBe("3m12s");
    expect(fmtEta(2 * 3600 + 5 * 60 + 59)).toBe("2h05m");
    expect(fmtEta(3 * 86400 + 4 * 3600)).toBe("3d04h");
    for (const v of [null, undefined, -5, Number.NaN, Infinity]) expect(fmtEta(v)).toBe("");
  });

  it("percent says 100% only when done", () => {
    expect(fmtPercent(0.421)).toBe("42%");
    expect(fmtPercent(0.9999)).toBe("99%");
    expect(fmtPercent(1)).toBe("100%");
    expect(fmtPercent(1.3)).toBe("100%");
    expect(fmtPercent(null)).toBe("");
  });

  it("a live run shows speed and ETA; a finished one only its progress", () => {
    const live = progressInfo({ status: "running", progress: 0.5, steps_per_s: 10, eta_s: 100, total_steps: 2000 });
    expect(live).toEqual({ fraction: 0.5, percent: "50%", speed: "10 it/s", eta: "ETA 1m40s", live: true });
    const done = progressInfo({ status: "completed", progress: 1, steps_per_s: 10, eta_s: 0 });
    expect(done).toMatchObject({ fraction: 1, percent: "100%", speed: "", eta: "", live: false });
    // an old server: no such fields at all
    expect(progressInfo({ status: "running" })).toMatchObject({ fraction: null, percent: "", speed: "", eta: "" });
  });

  it("text bars fill by eighths and keep their width", () => {
    expect(textBar(0, 4)).toBe("░░░░");
    expect(textBar(1, 4)).toBe("████");
    expect(textBar(0.5, 4)).toBe("██░░");
    expect(textBar(0.5 + 1 / 8, 4)).toBe("██▌░");
    for (const f of [0, 0.13, 0.5, 0.77, 1, 2, -1]) expect([...textBar(f, 8)]).toHaveLength(8);
  });

  it("the last ETA is that of the running run that ends last", () => {
    expect(lastEta([])).toBeNull();
    expect(lastEta([{ status: "running", eta_s: null }, { status: "completed", eta_s: 900 }])).toBeNull();
    expect(lastEta([{ status: "running", eta_s: 30 }, { status: "running", eta_s: 300 }, { status: "paused", eta_s: 9999 }])).toBe(300);
  });
});
