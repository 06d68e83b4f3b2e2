// The artifacts panel: every file of the focused run's folder (what log_artifact kept under
// artifacts/, checkpoints, media, console files) as a tree with sizes and times, each file
// or folder with a download link (a folder comes as a tar). Reloaded on a new run, on
// reconnect, every 10 s, and with the refresh button.
import { useEffect, useMemo, useState } from "react";
import { useApp } from "../state/app";
import { useReconnects } from "./events-live";
import { fmtBytes } from "../format";
import { artifactUrl, downloadName, fetchArtifacts, toggle, treeRows, type ArtifactFile } from "./ArtifactsPanelModel";
import type { PanelProps } from "./types";
import "./ArtifactsPanel.css";

const POLL_MS = 10_000;

interface State {
  run: string | null;
  files: ArtifactFile[];
  error: string | null;
  loading: boolean;
}

function fmtTime(t: number): string {
  return new Date(t * 1000).toLocaleString();
}

export function ArtifactsPanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const reconnects = useReconnects();
  const [st, setSt] = useState<State>({ run: null, files: [], error: null, loading: false });
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const [tick, setTick] = useState(0);

  useEffect(() => {
    setCollapsed(new Set());
  }, [focused]);

  useEffect(() => {
    if (!focused) return;
    const ctl = new AbortController();
    setSt((s) => (s.run === focused ? { ...s, loading: true } : { run: focused, files: [], error: null, loading: true }));
    fetchArtifacts(focused, ctl.signal).then(
      (out) => setSt({ run: focused, files: out.files, error: null, loading: false }),
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        setSt((s) => ({ ...s, loading: false, error: (e as Error).message }));
      },
    );
    const timer = window.setTimeout(() => setTick((n) => n + 1), POLL_MS);
    return () => {
      ctl.abort();
      window.clearTimeout(timer);
    };
  }, [focused, reconnects, tick]);

  const files = st.run === focused ? st.files : [];
  const rows = useMemo(() => treeRows(files, collapsed), [files, collapsed]);

  if (!focused) return <div className="muted art-empty">select a run</div>;

  return (
    <div className="art-panel" data-testid="artifacts">
      <div className="art-bar">
        <span className="muted">{files.filter((f) => !f.dir).length} files</span>
        {st.error && <span className="art-error" title={st.error}>{st.error}</span>}
        <button type="button" className="art-refresh" title="refresh" onClick={() => setTick((n) => n + 1)} disabled={st.loading}>
          ↻
        </button>
      </div>
      <div className="art-scroll">
        {rows.length === 0 && !st.loading && <div className="muted art-empty">no files in the run's folder</div>}
        {rows.map((r) => (
          <div key={r.path} className="art-row" data-testid="artifact-row" data-path={r.path} data-dir={r.dir ? "1" : "0"}>
            <span className="art-name" style={{ paddingLeft: `${r.depth * 12}px` }}>
              {r.dir ? (
                <button type="button" className="art-fold" aria-expanded={!collapsed.has(r.path)} onClick={() => setCollapsed((c) => toggle(c, r.path))}>
                  {collapsed.has(r.path) ? "▸" : "▾"} {r.name}/
                </button>
              ) : (
                r.name
              )}
            </span>
            <span className="art-size">{fmtBytes(r.total)}</span>
            <span className="art-time muted">{fmtTime(r.mtime)}</span>
            <a className="art-dl" data-testid="artifact-download" href={artifactUrl(focused, r.path)} download={downloadName(r)} title={`download ${r.path}${r.dir ? " (tar)" : ""}`}>
              ⤓
            </a>
          </div>
        ))}
      </div>
    </div>
  );
}
