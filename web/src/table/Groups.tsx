// The table grouped by a config key (or status, project, tag): a row per value with its
// run count and, per numeric column shown, the mean (min…max) over the group's runs, from
// GET /api/runs/groups. A click on a group filters the table to it.
import { useEffect, useState } from "react";
import { fmtValue } from "../format";
import { loadGroups, type Group } from "./api";
import type { ColumnSpec } from "./columns";
import { addTerm, quoteValue } from "./query";
import { tableUi } from "./state";

/** The query term that keeps one group's runs. */
export function groupTerm(by: string, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const v = quoteValue(typeof value === "string" ? value : JSON.stringify(value));
  if (by === "status") return `status:${v}`;
  if (by === "project") return `project:${v}`;
  if (by === "tag") return `tag:${v}`;
  if (by.startsWith("config:")) {
    const key = by.slice(7);
    return `${/[\s"<>=!]/.test(key) ? JSON.stringify(`config:${key}`) : `config:${key}`}=${v}`;
  }
  return null;
}

export function Groups({ by, q, specs }: { by: string; q: string; specs: ColumnSpec[] }) {
  const numeric = specs.filter((s) => s.kind === "number" || s.kind === "duration");
  const cols = numeric.map((s) => s.id).join(",");
  const [groups, setGroups] = useState<Group[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    loadGroups(by, q, cols, ctl.signal)
      .then((r) => setGroups(r.groups))
      .catch((e: unknown) => !ctl.signal.aborted && setError(e instanceof Error ? e.message : String(e)));
    return () => ctl.abort();
  }, [by, q, cols]);
  const template = `minmax(14ch, 2fr) 7ch ${numeric.map(() => "minmax(16ch, 1fr)").join(" ")}`;
  return (
    <div className="rt-scroll rt-groups" data-testid="table-groups">
      <div className="rt-head" style={{ gridTemplateColumns: template }}>
        <span>{by.startsWith("config:") ? by.slice(7) : by.toUpperCase()}</span>
        <span className="num">RUNS</span>
        {numeric.map((s) => (
          <span key={s.id} className="num" title={`${s.title}: mean (min…max) over the group`}>
            {s.label}
          </span>
        ))}
      </div>
      {error ? <div className="rt-err">{error}</div> : null}
      {!groups && !error ? <div className="dim rt-empty">reading groups…</div> : null}
      {groups?.length === 0 ? <div className="dim rt-empty">no run matches</div> : null}
      {groups?.map((g, i) => {
        const term = groupTerm(by, g.value);
        return (
          <div
            key={i}
            className="rt-grow"
            style={{ gridTemplateColumns: template }}
            data-testid="table-group-row"
            data-value={String(g.value)}
            title={term ? `show these runs (${term})` : "runs without this key"}
            onClick={() => term && tableUi.set((s) => ({ query: addTerm(s.query, term), groupBy: null }))}
          >
            <span>{g.value === null || g.value === undefined ? <i className="dim">(none)</i> : fmtValue(g.value)}</span>
            <span className="num" data-testid="group-count">
              {g.count}
            </span>
            {numeric.map((s) => {
              const a = g.aggregates[s.id];
              const fmt = (v: number | null | undefined) => (v === null || v === undefined ? "—" : fmtValue(v));
              return (
                <span key={s.id} className="num" data-col={s.id} title={a ? `min ${fmt(a.min)} · mean ${fmt(a.mean)} · max ${fmt(a.max)}` : ""}>
                  {a ? (
                    <>
                      {fmt(a.mean)} <span className="dim">({fmt(a.min)}…{fmt(a.max)})</span>
                    </>
                  ) : (
                    ""
                  )}
                </span>
              );
            })}
          </div>
        );
      })}
    </div>
  );
}

/** The group-by choices: none, status, project, tag, then the config keys. */
export function groupOptions(config: readonly string[]): Array<[string, string]> {
  return [["", "no grouping"], ["status", "status"], ["project", "project"], ["tag", "tag"], ...config.map((k): [string, string] => [`config:${k}`, k])];
}


