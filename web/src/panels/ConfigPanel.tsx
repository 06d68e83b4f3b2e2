// The open run's config as a collapsible tree with its metadata; with two or more runs in
// the comparison, a diff table of the config keys that differ.
import { useMemo, useState } from "react";
import type { RunOut } from "../api/client";
import { StatusBadge } from "../components/StatusBadge";
import { useNow } from "../components/useNow";
import { useActions } from "../state/actions";
import { focusRun, useApp } from "../state/app";
import "./ConfigPanel.css";
import { diffConfigs, kindOf, leafText } from "./ConfigPanelModel";
import { duration } from "./RunListModel";
import type { PanelProps } from "./types";
import { fmtDuration } from "../format";

export function ConfigPanel(_props: PanelProps) {
  const focusedId = useApp((s) => s.focused);
  const run = useApp((s) => (s.focused ? s.runs.get(s.focused) : undefined));
  const compare = useApp((s) => s.compare);
  const runs = useApp((s) => s.runs);
  const [showAll, setShowAll] = useState(false);
  const compared = useMemo(() => compare.map((id) => runs.get(id)).filter((r): r is RunOut => !!r), [compare, runs]);

  useActions(
    () => [
      {
        id: "config.diff.all",
        title: showAll ? "Config diff: only differing keys" : "Config diff: show all keys",
        group: "Config",
        enabled: compared.length >= 2,
        run: () => setShowAll((v) => !v),
      },
    ],
    [showAll, compared.length >= 2],
  );

  return (
    <div className="cfg">
      {compared.length >= 2 ? <Diff runs={compared} showAll={showAll} setShowAll={setShowAll} /> : null}
      {run ? (
        <>
          <Meta run={run} />
          <div className="cfg-sec">config</div>
          <div className="cfg-tree" data-testid="config-tree">
            {Object.keys(run.config).length ? (
              Object.entries(run.config).map(([k, v]) => <Node key={k} name={k} value={v} depth={0} />)
            ) : (
              <span className="dim">(empty)</span>
            )}
          </div>
        </>
      ) : focusedId ? (
        <div className="dim">run {focusedId} not loaded</div>
      ) : compared.length < 2 ? (
        <div className="dim">open a run (click it, or j/k) to see its config; tick two or more to diff them</div>
      ) : null}
    </div>
  );
}

function Meta({ run }: { run: RunOut }) {
  const now = useNow(1000) / 1000;
  const started = run.started_at ?? run.created_at;
  return (
    <div className="cfg-meta">
      <span>run</span>
      <span title={run.id}>
        {run.name} <StatusBadge status={run.status} /> <span className="dim">{run.id}</span>
      </span>
      <span>project</span>
      <span>
        {run.project}
        {run.tags.length ? <span className="dim"> [{run.tags.join(", ")}]</span> : null}
      </span>
      <span>host</span>
      <span>
        {run.host ?? "—"}
        {run.pid !== null ? <span className="dim"> pid {run.pid}</span> : null}
      </span>
      <span>git</span>
      <span title={run.git_commit ?? ""}>
        {run.git_commit ? run.git_commit.slice(0, 10) : "—"}
        {run.git_dirty ? <span className="warn"> +dirty</span> : null}
      </span>
      <span>command</span>
      <span title={run.command ?? ""}>{run.command ?? "—"}</span>
      <span>started</span>
      <span>{new Date(started * 1000).toLocaleString([], { hour12: false })}</span>
      <span>duration</span>
      <span>{fmtDuration(duration(run, now))}</span>
      {run.notes ? (
        <>
          <span>notes</span>
          <span title={run.notes}>{run.notes}</span>
        </>
      ) : null}
    </div>
  );
}

function Leaf({ value }: { value: unknown }) {
  const k = kindOf(value);
  return <span className={`cfg-${k}`}>{leafText(value)}</span>;
}

function Node({ name, value, depth }: { name: string; value: unknown; depth: number }) {
  const k = kindOf(value);
  const [open, setOpen] = useState(depth < 2);
  const pad = { paddingLeft: `${depth * 2}ch` };
  if (k !== "object" && k !== "array") {
    return (
      <div className="cfg-node" style={pad}>
        <span className="cfg-tog" />
        <span className="cfg-key">{name}</span>: <Leaf value={value} />
      </div>
    );
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as object);
  const summary = k === "array" ? `[${entries.length}]` : `{${entries.length}}`;
  return (
    <>
      <div className="cfg-node" style={pad}>
        <span className="cfg-tog" role="button" onClick={() => setOpen(!open)}>
          {entries.length ? (open ? "▾" : "▸") : ""}
        </span>
        <span className="cfg-key">{name}</span>: <span className={`cfg-${k}`}>{summary}</span>
      </div>
      {open ? entries.map(([ck, cv]) => <Node key={ck} name={ck} value={cv} depth={depth + 1} />) : null}
    </>
  );
}

function Diff({ runs, showAll, setShowAll }: { runs: RunOut[]; showAll: boolean; setShowAll: (v: boolean) => void }) {
  const rows = useMemo(() => diffConfigs(runs.map((r) => r.config), showAll), [runs, showAll]);
  return (
    <>
      <div className="cfg-sec">
        diff · {runs.length} runs
        <span className="td-spacer" />
        <label>
          <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} />
          show all keys
        </label>
      </div>
      <table className="cfg-diff" data-testid="config-diff">
        <thead>
          <tr>
            <th>key</th>
            {runs.map((r) => (
              <th key={r.id} title={r.id} onClick={() => focusRun(r.id)} style={{ cursor: "pointer" }}>
                {r.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={runs.length + 1} className="dim">
                configs are identical
              </td>
            </tr>
          ) : null}
          {rows.map((row) => (
            <tr key={row.key} className={row.differs ? "" : "cfg-same"} data-config-key={row.key}>
              <td className="cfg-k" title={row.key}>
                {row.key}
              </td>
              {row.values.map((v, i) => (
                <td key={i} className={row.differs ? "cfg-dif" : ""} title={leafText(v)}>
                  {v === undefined ? <span className="muted">—</span> : <Leaf value={v} />}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
