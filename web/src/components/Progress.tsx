// Progress renderers (issue 12 §3), shared by the top bar, the run list, the run table
// and run headers. `ProgressCell`: a compact bar with the ETA (or the percent) on it, for
// a table cell; `ProgressLine`: "42% ███▌░░ 12.3 it/s ETA 3m12s" for a header.
import { progressInfo, textBar, type ProgressRun } from "./progress-format";
import "./Progress.css";

/** A table cell: a thin bar filled to the progress with the ETA (else the percent) on it;
 *  empty when the run has no total. The title holds every figure. */
export function ProgressCell({ run }: { run: ProgressRun }) {
  const p = progressInfo(run);
  if (p.fraction === null) {
    return (
      <span className="pg-cell pg-none" data-testid="progress-cell" title={p.speed || "no total_steps"}>
        {p.speed}
      </span>
    );
  }
  const title = [p.percent, p.speed, p.eta].filter(Boolean).join(" · ");
  return (
    <span className="pg-cell" data-testid="progress-cell" data-progress={p.fraction.toFixed(4)} title={title}>
      <span className={`pg-fill ${p.live ? "" : "pg-done"}`} style={{ width: `${(p.fraction * 100).toFixed(1)}%` }} />
      <span className="pg-text">{p.eta ? p.eta.slice(4) : p.percent}</span>
    </span>
  );
}

/** One line for a header: percent, a text bar, speed, ETA — what is known of them. */
export function ProgressLine({ run, bar = 10, className = "" }: { run: ProgressRun; bar?: number; className?: string }) {
  const p = progressInfo(run);
  if (p.fraction === null && !p.speed) return null;
  return (
    <span className={`pg-line ${className}`} data-testid="progress-line">
      {p.fraction !== null && (
        <>
          <span className="pg-pct num">{p.percent}</span> <span className="pg-bar">{textBar(p.fraction, bar)}</span>
        </>
      )}
      {p.speed && <span className="pg-speed num dim" data-testid="progress-speed"> {p.speed}</span>}
      {p.eta && <span className="pg-eta num" data-testid="progress-eta"> {p.eta}</span>}
    </span>
  );
}
