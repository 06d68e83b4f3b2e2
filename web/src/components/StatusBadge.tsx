// A run status as a coloured glyph + word: ● RUNNING, ✓ COMPLETED, ✗ FAILED, …
import type { RunOut } from "../api/client";

type Status = RunOut["status"];

export const STATUS_GLYPH: Record<Status, string> = {
  running: "●",
  completed: "✓",
  failed: "✗",
  interrupted: "◌",
  paused: "‖",
  queued: "…",
  cancelled: "⊘",
};

export function statusText(s: Status): string {
  return `${STATUS_GLYPH[s] ?? "?"} ${s.toUpperCase()}`;
}

export function StatusBadge({ status, short = false }: { status: Status; short?: boolean }) {
  return (
    <span className={`td-badge td-st-${status}`} title={status}>
      {short ? STATUS_GLYPH[status] : statusText(status)}
    </span>
  );
}
