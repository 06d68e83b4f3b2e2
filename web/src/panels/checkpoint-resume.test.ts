import { describe, expect, it } from "vitest";
import { refusedText, resumeClick, resumedText, resumeOffer } from "./checkpoint-resume";

describe("resumeOffer", () => {
  it("offers a launched run and one that recorded its command line", () => {
    expect(resumeOffer({ launch_spec: { command: ["python", "train.py"] }, command: null }).ok).toBe(true);
    expect(resumeOffer({ launch_spec: null, command: "python train.py --lr 0.1" }).ok).toBe(true);
  });
  it("refuses a run with neither, saying why", () => {
    const r = resumeOffer({ launch_spec: null, command: "  " });
    expect(r.ok).toBe(false);
    expect(r.why).toContain("recorded no command line");
    expect(resumeOffer(undefined).ok).toBe(false);
  });
  it("a launch spec without a command falls back to the recorded command", () => {
    expect(resumeOffer({ launch_spec: { template: "x" }, command: null }).ok).toBe(false);
    expect(resumeOffer({ launch_spec: { template: "x" }, command: "python a.py" }).ok).toBe(true);
  });
});

describe("resumeClick", () => {
  it("arms on the first click and fires on the second on the same row", () => {
    const first = resumeClick(null, { id: "c1" });
    expect(first).toEqual({ armed: "c1", fire: false });
    expect(resumeClick(first.armed, { id: "c1" })).toEqual({ armed: null, fire: true });
  });
  it("a click on another row moves the confirmation there", () => {
    expect(resumeClick("c1", { id: "c2" })).toEqual({ armed: "c2", fire: false });
  });
});

describe("results", () => {
  it("a 201 names the step and the new launch", () => {
    const r = resumedText({ run_id: "r1", step: 40 }, { id: "L9", run_id: "r1", status: "queued" });
    expect(r).toEqual({ ok: true, run: "r1", launch: "L9", text: "resumed from step 40 · launch L9 queued" });
  });
  it("a refusal shows the server's message", () => {
    expect(refusedText({ run_id: "r1" }, { status: 409, code: "conflict", message: "run 'r1' is still launched; cancel it first" }).text)
      .toBe("cannot resume: run 'r1' is still launched; cancel it first");
    expect(refusedText({ run_id: "r1" }, { status: 422, code: "invalid_input", message: "bad config" }).text).toBe("refused: bad config");
    expect(refusedText({ run_id: "r1" }, { message: "offline" })).toEqual({ ok: false, run: "r1", text: "error: offline" });
  });
});
