// The checkpoints panel: the focused run's checkpoints in a sortable table (★ best, step,
// kind, size, age, metrics, valid) with download, verify and delete; live rows from
// checkpoint_saved and the checkpoint_* events. "resume" on a row launches the run again
// from that checkpoint (the same run continues; asks to confirm).
import { useMemo, useState } from "react";
import { api, ApiError, url, type CheckpointOut, type EventOut } from "../api/client";
import { layoutActions } from "../layout/layoutStore";
import { useActions } from "../state/actions";
import { live, useApp } from "../state/app";
import { DEFAULT_SORT, applyCheckpointEvent, metricColumns, nextSort, sortCheckpoints, upsertCheckpoint, validMark, type SortCol, type SortSpec } from "./checkpoints-model";
import { refusedText, resumeClick, resumedText, resumeOffer, type ResumeResult } from "./checkpoint-resume";
import { useReconnects, useRunFeed } from "./events-live";
import { useNow } from "../components/useNow";
import type { PanelProps } from "./types";
import "./CheckpointsPanel.css";
import { fmtAge, fmtBytes, fmtValue } from "../format";

type Push = { kind: "saved"; ck: CheckpointOut } | { kind: "event"; ev: EventOut };

function basename(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? "checkpoint";
}

export function CheckpointsPanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const run = useApp((s) => (s.focused ? s.runs.get(s.focused) : undefined));
  const reconnects = useReconnects();
  const now = useNow(10_000) / 1000;
  const [state, setState] = useState<{ run: string | null; list: CheckpointOut[]; error: string | null; loading: boolean }>({
    run: null, list: [], error: null, loading: false,
  });
  const [sort, setSort] = useState<SortSpec>(DEFAULT_SORT);
  const [confirmDel, setConfirmDel] = useState<string | null>(null);
  const [note, setNote] = useState<Record<string, string>>({});
  const [msg, setMsg] = useState<string | null>(null);
  const [confirmResume, setConfirmResume] = useState<string | null>(null);
  const [resuming, setResuming] = useState(false);
  const [resumed, setResumed] = useState<ResumeResult | null>(null);

  useRunFeed<Push, CheckpointOut[]>(focused, reconnects, () => {
    const id = focused;
    setState((s) => (s.run === id ? { ...s, loading: true } : { run: id, list: [], error: null, loading: true }));
    setConfirmDel(null);
    setConfirmResume(null);
    setNote({});
    setMsg(null);
    const apply = (list: CheckpointOut[], p: Push) =>
      p.kind === "saved" ? upsertCheckpoint(list, p.ck) : applyCheckpointEvent(list, p.ev.kind, p.ev.payload);
    return {
      listen: (emit) => [
        live.on("checkpoint_saved", (m) => m.run_id === id && emit({ kind: "saved", ck: m.checkpoint as unknown as CheckpointOut })),
        live.on("event", (m) => {
          const k = m.event.kind;
          if (m.event.run_id === id && k.startsWith("checkpoint_") && k !== "checkpoint_saved") emit({ kind: "event", ev: m.event });
        }),
      ],
      load: async (signal) => (await api.get("/api/runs/{run_id}/checkpoints", { path: { run_id: id! }, query: { limit: 10000 }, signal })).checkpoints,
      loaded: (list) => setState({ run: id, list, error: null, loading: false }),
      push: (p) => setState((s) => (s.run === id ? { ...s, list: apply(s.list, p) } : s)),
      failed: (e) => setState((s) => ({ ...s, run: id, error: (e as Error).message, loading: false })),
    };
  });

  const list = state.run === focused ? state.list : [];
  const metrics = useMemo(() => metricColumns(list), [list]);
  const rows = useMemo(() => sortCheckpoints(list, sort), [list, sort]);

  const report = (e: unknown) => setMsg(e instanceof ApiError ? `${e.code}: ${e.message}` : (e as Error).message);
  const update = (ck: CheckpointOut) => setState((s) => (s.run === ck.run_id ? { ...s, list: upsertCheckpoint(s.list, ck) } : s));
  const markBest = async (ck: CheckpointOut) => {
    try {
      update(await api.post("/api/checkpoints/{checkpoint_id}/best", { path: { checkpoint_id: ck.id } }));
    } catch (e) {
      report(e);
    }
  };
  const verify = async (ck: CheckpointOut) => {
    setNote((n) => ({ ...n, [ck.id]: "verifying…" }));
    try {
      const v = await api.post("/api/checkpoints/{checkpoint_id}/verify", { path: { checkpoint_id: ck.id } });
      update(v.checkpoint);
      setNote((n) => ({ ...n, [ck.id]: v.valid ? "valid" : `invalid: ${v.reason}` }));
    } catch (e) {
      setNote((n) => ({ ...n, [ck.id]: "" }));
      report(e);
    }
  };
  const remove = async (ck: CheckpointOut) => {
    if (confirmDel !== ck.id) {
      setConfirmDel(ck.id);
      return;
    }
    setConfirmDel(null);
    try {
      await api.del("/api/checkpoints/{checkpoint_id}", { path: { checkpoint_id: ck.id } });
      setState((s) => ({ ...s, list: applyCheckpointEvent(s.list, "checkpoint_deleted", { id: ck.id }) }));
    } catch (e) {
      report(e);
    }
  };
  const offer = resumeOffer(run);
  const resume = async (ck: CheckpointOut) => {
    const click = resumeClick(confirmResume, ck);
    setConfirmResume(click.armed);
    if (!click.fire) return;
    setResuming(true);
    try {
      const launch = await api.post("/api/checkpoints/{checkpoint_id}/resume", { path: { checkpoint_id: ck.id } });
      setResumed(resumedText(ck, launch));
    } catch (e) {
      setResumed(refusedText(ck, e instanceof ApiError ? e : { message: (e as Error).message }));
    } finally {
      setResuming(false);
    }
  };
  const verifyAll = async () => {
    for (const ck of rows) await verify(ck);
  };

  useActions(
    () => [
      { id: "checkpoints.verify-all", title: "Checkpoints: verify all", group: "Checkpoints", enabled: rows.length > 0, run: verifyAll },
      {
        id: "checkpoints.best-latest",
        title: "Checkpoints: mark the newest step best",
        group: "Checkpoints",
        enabled: rows.length > 0,
        run: () => {
          const newest = [...list].sort((a, b) => b.step - a.step)[0];
          if (newest) void markBest(newest);
        },
      },
      {
        id: "checkpoints.resume",
        title: "Checkpoints: resume from the newest (confirm in the checkpoints panel)",
        group: "Checkpoints",
        enabled: offer.ok && list.length > 0,
        run: () => {
          const newest = [...list].sort((a, b) => b.step - a.step)[0];
          if (!newest) return;
          layoutActions.show("checkpoints");
          setConfirmResume(newest.id);
          requestAnimationFrame(() => {
            const el = document.querySelector<HTMLButtonElement>(`[data-checkpoint-id="${newest.id}"] [data-testid="ckpt-resume"]`);
            el?.scrollIntoView({ block: "nearest" });
            el?.focus();
          });
        },
      },
    ],
    [rows, list, offer.ok],
  );

  if (!focused) return <div className="muted ck-empty">select a run</div>;

  const header = (col: SortCol, label: string, cls = "") => (
    <th
      key={col}
      className={`${cls} ck-sortable${sort.col === col ? " ck-sorted" : ""}`}
      onClick={() => setSort((s) => nextSort(s, col))}
      title={`sort by ${label}`}
      aria-sort={sort.col === col ? (sort.desc ? "descending" : "ascending") : "none"}
    >
      {label}
      {sort.col === col ? (sort.desc ? "▼" : "▲") : ""}
    </th>
  );

  return (
    <div className="ck-panel">
      <div className="ck-bar">
        <span className="dim">{rows.length} checkpoint{rows.length === 1 ? "" : "s"}</span>
        {resumed && resumed.run === focused && (
          <span className={`ck-msg ${resumed.ok ? "good" : "bad"}`} data-testid="ckpt-resume-state" title={resumed.text} onClick={() => setResumed(null)}>
            {resumed.text}
          </span>
        )}
        {msg && (
          <span className="bad ck-msg" title={msg} onClick={() => setMsg(null)}>
            {msg}
          </span>
        )}
        {state.error && <span className="bad">{state.error}</span>}
      </div>
      <div className="ck-scroll">
        {rows.length === 0 ? (
          <div className="muted ck-empty">{state.loading ? "loading…" : "no checkpoints yet"}</div>
        ) : (
          <table className="ck-table">
            <thead>
              <tr>
                <th title="best">★</th>
                {header("step", "step", "num")}
                {header("kind", "kind")}
                {header("size", "size", "num")}
                {header("created", "age", "num")}
                {metrics.map((m) => header(`m:${m}`, m, "num"))}
                <th title="valid (verified)">ok</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((ck) => (
                <tr key={ck.id} data-testid="checkpoint-row" data-checkpoint-id={ck.id} data-step={ck.step} className={ck.is_best ? "ck-best-row" : ""}>
                  <td>
                    <button
                      type="button"
                      className={ck.is_best ? "ck-star ck-star-on" : "ck-star"}
                      data-testid="ckpt-best"
                      data-best={ck.is_best ? "true" : "false"}
                      aria-pressed={ck.is_best}
                      title={ck.is_best ? "the best checkpoint" : "mark as best"}
                      onClick={() => void markBest(ck)}
                    >
                      {ck.is_best ? "★" : "☆"}
                    </button>
                  </td>
                  <td className="num">{ck.step}</td>
                  <td className={ck.kind === "emergency" ? "warn" : ck.kind === "final" ? "info" : ""}>{ck.kind}</td>
                  <td className="num">{fmtBytes(ck.size)}</td>
                  <td className="num" title={new Date(ck.created_at * 1000).toLocaleString()}>
                    {fmtAge(now - ck.created_at)}
                  </td>
                  {metrics.map((m) => (
                    <td key={m} className="num">
                      {fmtValue(ck.metrics[m])}
                    </td>
                  ))}
                  <td className={ck.valid === null ? "muted" : ck.valid ? "good" : "bad"} title={note[ck.id] || (ck.sha256 ? `sha256 ${ck.sha256}` : "not verified")}>
                    {note[ck.id] === "verifying…" ? "…" : validMark(ck.valid)}
                  </td>
                  <td className="ck-actions">
                    <a data-testid="ckpt-download" href={url("/api/checkpoints/{checkpoint_id}/download", { checkpoint_id: ck.id })} download={basename(ck.path)} title={`download ${ck.path}`}>
                      ⤓
                    </a>
                    <button
                      type="button"
                      data-testid="ckpt-resume"
                      className={confirmResume === ck.id ? "ck-confirm" : ""}
                      disabled={!offer.ok || resuming}
                      onClick={() => void resume(ck)}
                      onBlur={() => confirmResume === ck.id && setConfirmResume(null)}
                      title={confirmResume === ck.id ? `click again to resume the run from step ${ck.step}` : offer.why}
                    >
                      {confirmResume === ck.id ? "resume here?" : "resume"}
                    </button>
                    <button type="button" data-testid="ckpt-verify" title="verify the file (size, sha256)" onClick={() => void verify(ck)}>
                      ✓?
                    </button>
                    <button
                      type="button"
                      data-testid="ckpt-delete"
                      className={confirmDel === ck.id ? "ck-confirm" : ""}
                      onClick={() => void remove(ck)}
                      onBlur={() => confirmDel === ck.id && setConfirmDel(null)}
                      title={confirmDel === ck.id ? "click again to delete the file and its record" : "delete (asks to confirm)"}
                    >
                      {confirmDel === ck.id ? "confirm?" : "✗"}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}
