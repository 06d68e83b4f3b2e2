// Choose the table's columns: built-ins, last/min/max of any metric, any config key (the
// keys from GET /api/runs/columns), with a search box; the chosen ones in order (↑ ↓ ✕).
import { useEffect, useState } from "react";
import { loadColumnKeys, type ColumnKeys } from "./api";
import { BUILT_INS, columnSpec, configColumn, metricColumn, moveColumn, toggleColumn, type Agg } from "./columns";
import { tableUi, useTable } from "./state";

const SHOWN = 300;

export function ColumnChooser({ q, onClose }: { q: string; onClose: () => void }) {
  const columns = useTable((s) => s.columns);
  const [keys, setKeys] = useState<ColumnKeys | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [find, setFind] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    loadColumnKeys(q, ctl.signal)
      .then((k) => setKeys(k))
      .catch((e: unknown) => !ctl.signal.aborted && setError(e instanceof Error ? e.message : String(e)));
    return () => ctl.abort();
  }, [q]);
  const set = (next: string[]) => tableUi.set({ columns: next });
  const toggle = (id: string) => set(toggleColumn(tableUi.get().columns, id));
  const f = find.trim().toLowerCase();
  const hit = (k: string) => !f || k.toLowerCase().includes(f);
  const metrics = (keys?.metrics ?? []).filter(hit);
  const config = (keys?.config ?? []).filter(hit);
  const box = (id: string, label: string, title?: string) => (
    <label key={id} className="rt-ch-item" title={title ?? id}>
      <input type="checkbox" data-testid="column-option" data-col={id} checked={columns.includes(id)} onChange={() => toggle(id)} />
      {label}
    </label>
  );
  return (
    <div className="rt-chooser" data-testid="column-chooser" onKeyDown={(e) => e.key === "Escape" && onClose()}>
      <div className="rt-ch-top">
        <input autoFocus data-testid="column-find" placeholder="find a metric or config key" value={find} onChange={(e) => setFind(e.target.value)} spellCheck={false} />
        <button type="button" onClick={onClose} title="close (Esc)">
          ✕
        </button>
      </div>
      <div className="rt-ch-cols">
        <div className="rt-ch-sec">
          <div className="dim">SHOWN</div>
          {columns.map((id) => (
            <div key={id} className="rt-ch-shown">
              <span title={id}>{columnSpec(id)?.label ?? id}</span>
              <button type="button" title="move left" onClick={() => set(moveColumn(columns, id, -1))}>
                ↑
              </button>
              <button type="button" title="move right" onClick={() => set(moveColumn(columns, id, 1))}>
                ↓
              </button>
              <button type="button" title="remove" onClick={() => toggle(id)}>
                ✕
              </button>
            </div>
          ))}
          <div className="dim">RUN</div>
          {Object.entries(BUILT_INS)
            .filter(([id]) => hit(id))
            .map(([id, b]) => box(id, b.label.toLowerCase(), b.title))}
        </div>
        <div className="rt-ch-sec">
          <div className="dim">METRICS {keys ? `(${keys.metrics.length})` : ""} — last · min · max</div>
          {error ? <div className="rt-err">{error}</div> : null}
          {!keys && !error ? <div className="dim">reading…</div> : null}
          {metrics.slice(0, SHOWN).map((k) => (
            <div key={k} className="rt-ch-metric">
              {(["last", "min", "max"] as Agg[]).map((a) => {
                const id = metricColumn(k, a);
                return <input key={a} type="checkbox" title={`${a} of ${k}`} data-testid="column-option" data-col={id} checked={columns.includes(id)} onChange={() => toggle(id)} />;
              })}
              <span title={k}>{k}</span>
            </div>
          ))}
          {metrics.length > SHOWN ? <div className="dim">… {metrics.length - SHOWN} more: narrow the search</div> : null}
        </div>
        <div className="rt-ch-sec">
          <div className="dim">CONFIG {keys ? `(${keys.config.length})` : ""}</div>
          {config.slice(0, SHOWN).map((k) => box(configColumn(k), k))}
          {config.length > SHOWN ? <div className="dim">… {config.length - SHOWN} more: narrow the search</div> : null}
        </div>
      </div>
    </div>
  );
}
