// The one-line bar above the grid: product, connection, run counts, the open run, hint, clock.
import { useMemo } from "react";
import { ProgressLine } from "../components/Progress";
import { fmtEta, lastEta } from "../components/progress-format";
import { StatusBadge } from "../components/StatusBadge";
import { useNow } from "../components/useNow";
import { countByStatus, runListUi, type RunStatus } from "../panels/RunListModel";
import { layoutActions } from "./layoutStore";
import { useApp } from "../state/app";
import { openBuilder } from "../builder/route";
import { AlertsBadge } from "./AlertsBadge";

const ORDER: RunStatus[] = ["running", "paused", "queued", "completed", "failed", "interrupted", "cancelled"];

export function TopBar({ onHelp, onPalette }: { onHelp: () => void; onPalette: () => void }) {
  const conn = useApp((s) => s.conn);
  const runs = useApp((s) => s.runs);
  const focused = useApp((s) => (s.focused ? (s.runs.get(s.focused) ?? null) : null));
  const focusedId = useApp((s) => s.focused);
  const error = useApp((s) => s.error);
  const loaded = useApp((s) => s.loaded);
  const counts = useMemo(() => countByStatus(runs.values()), [runs]);
  const allDone = useMemo(() => lastEta(runs.values()), [runs]);
  const now = useNow(1000);
  const clock = new Date(now).toLocaleTimeString([], { hour12: false });
  return (
    <header className="td-topbar">
      <span className="td-brand">TRAINDECK</span>
      <span data-testid="conn" className={`td-conn td-conn-${conn}`} title={`websocket: ${conn}`}>
        {conn === "open" ? "● live" : conn === "connecting" ? "○ reconnecting" : "○ offline"}
      </span>
      <AlertsBadge />
      <span className="td-counts">
        <span className="dim">{runs.size} runs</span>
        {ORDER.filter((s) => counts[s]).map((s) => (
          <span
            key={s}
            className={`td-st-${s}`}
            title={`${counts[s]} ${s} — click to filter`}
            role="button"
            style={{ cursor: "pointer" }}
            onClick={() => {
              runListUi.set((u) => ({ filter: u.filter === s ? "" : s }));
              layoutActions.show("runs");
            }}
          >
            <StatusBadge status={s} short />
            {counts[s]}
          </span>
        ))}
      </span>
      <span className="td-focus" title={focused?.id ?? ""}>
        {focused ? (
          <>
            <span className="dim">▸ </span>
            {focused.name} <StatusBadge status={focused.status} /> <ProgressLine run={focused} bar={8} />
          </>
        ) : focusedId ? (
          <span className="dim">
            ▸ {focusedId}
            {loaded ? " (not found)" : ""}
          </span>
        ) : (
          <span className="dim">no run open</span>
        )}
      </span>
      {allDone !== null && (counts.running ?? 0) > 1 ? (
        <span className="td-alldone dim num" data-testid="all-done-eta" title="when the last running run should be done">
          all done in {fmtEta(allDone)}
        </span>
      ) : null}
      {error ? <span className="bad td-err">{error}</span> : null}
      <span className="td-spacer" />
      <span className="td-hint dim">
        <a onClick={() => openBuilder()} role="button" data-testid="new-run" title="the run builder (n)">+ new run</a> · <a onClick={onHelp} role="button">? help</a> · <a onClick={onPalette} role="button">Ctrl-K commands</a>
      </span>
      <span className="td-clock num">{clock}</span>
    </header>
  );
}
