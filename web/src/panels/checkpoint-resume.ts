// Resuming a run from one of its checkpoints (POST /api/checkpoints/{id}/resume): which
// runs can be (launched by traindeck, or one that recorded its command line), the
// two-step confirm on a row, and what the panel says afterwards: the new launch on 201,
// the server's own message on a refusal (409 "cancel it first", 422, ...).
import type { CheckpointOut, LaunchOut, RunOut } from "../api/client";

export interface ResumeOffer {
  ok: boolean;
  /** The button's title: what a click does, or why the server would refuse. */
  why: string;
}

/** Whether the run's checkpoints get an active resume button. A live run still gets it:
 *  the server answers why it cannot yet ("cancel it first"), and the panel shows that. */
export function resumeOffer(run: Pick<RunOut, "launch_spec" | "command"> | null | undefined): ResumeOffer {
  if (!run) return { ok: false, why: "no run" };
  const spec = run.launch_spec;
  if (spec && Array.isArray(spec.command)) {
    return { ok: true, why: "launch this run again from this checkpoint (asks to confirm)" };
  }
  if ((run.command ?? "").trim()) {
    return { ok: true, why: "run its recorded command again from this checkpoint (asks to confirm)" };
  }
  return { ok: false, why: "this run was not launched by traindeck and recorded no command line" };
}

/** The row armed for confirmation after a click on `ck` (a second click on the same row
 *  fires: `fire` true, nothing armed). */
export function resumeClick(armed: string | null, ck: Pick<CheckpointOut, "id">): { armed: string | null; fire: boolean } {
  return armed === ck.id ? { armed: null, fire: true } : { armed: ck.id, fire: false };
}

export type ResumeResult =
  | { ok: true; run: string; text: string; launch: string }
  | { ok: false; run: string; text: string };

/** What the panel says after a 201: the new launch, resuming the same run. */
export function resumedText(ck: Pick<CheckpointOut, "run_id" | "step">, launch: Pick<LaunchOut, "id" | "run_id" | "status">): ResumeResult {
  return { ok: true, run: ck.run_id, launch: launch.id, text: `resumed from step ${ck.step} · launch ${launch.id} ${launch.status}` };
}

/** What the panel says after a refusal: the server's message as it wrote it. */
export function refusedText(ck: Pick<CheckpointOut, "run_id">, err: { status?: number; code?: string; message: string }): ResumeResult {
  const head = err.status === 409 ? "cannot resume" : err.status === 422 ? "refused" : err.code ? `error ${err.code}` : "error";
  return { ok: false, run: ck.run_id, text: `${head}: ${err.message}` };
}
