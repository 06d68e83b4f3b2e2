import { describe, expect, it } from "vitest";
import { fmtAge, fmtBytes, fmtClock, fmtDuration, fmtValue } from "./format";

describe("format", () => {
  it("writes bytes with binary units, the same everywhere", () => {
    expect(fmtBytes(null)).toBe("?");
    expect(fmtBytes(512)).toBe("512 B");
    expect(fmtBytes(1536)).toBe("1.5 KiB");
    expect(fmtBytes(300 * 1024 * 1024)).toBe("300 MiB");
    expect(fmtBytes(8 * 1024 ** 3)).toBe("8.0 GiB");
  });

  it("writes durations with two units and ages with one", () => {
    expect(fmtDuration(42)).toBe("42s");
    expect(fmtDuration(192)).toBe("3m12s");
    expect(fmtDuration(7500)).toBe("2h05m");
    expect(fmtDuration(3 * 86400 + 4 * 3600)).toBe("3d04h");
    expect(fmtDuration(-1)).toBe("—");
    expect(fmtAge(30)).toBe("30s");
    expect(fmtAge(7200)).toBe("2h");
    expect(fmtAge(7500)).toBe("2h");
    expect(fmtAge(-5)).toBe("0s");
  });

  it("writes non-finite values alike whether numbers or spelled by the server", () => {
    expect(fmtValue(Number.NaN)).toBe("NaN");
    expect(fmtValue("NaN")).toBe("NaN");
    expect(fmtValue(Number.POSITIVE_INFINITY)).toBe("+Inf");
    expect(fmtValue("Infinity")).toBe("+Inf");
    expect(fmtValue("-Infinity")).toBe("-Inf");
    expect(fmtValue(Number.NEGATIVE_INFINITY)).toBe("-Inf");
    expect(fmtValue(0.00001234)).toBe("1.234e-5");
    expect(fmtValue(null)).toBe("—");
    expect(fmtValue(0.123456789)).toBe("0.12346");
    expect(fmtValue(12345678)).toBe("1.235e+7");
    expect(fmtValue(12)).toBe("12");
    expect(fmtValue("adam")).toBe("adam");
    expect(fmtValue({ a: 1 })).toBe('{"a":1}');
  });

  it("is the chart's formatter too (chart/model re-exports it)", async () => {
    const model = await import("./chart/model");
    expect(model.fmtValue).toBe(fmtValue);
  });

  it("writes clock times as HH:MM:SS", () => {
    expect(fmtClock(0)).toMatch(/^\d\d:\d\d:\d\d$/);
  });
});
