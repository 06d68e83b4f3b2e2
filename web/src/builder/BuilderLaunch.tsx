// The builder's launch section: the run's name, where it runs (the server's executors; a
// host select when the executor runs on hosts; the resources it takes as key/value rows),
// what is wrong with that, and the Launch button. Every control is a native select, input
// or button, so Tab reaches them all.
import type { BuilderModel } from "./useBuilder";
import { hostChoice, nextResourceKey, resourceHint, type ResourceRow } from "./target";

export function BuilderLaunch({ m, valid, onLaunch }: { m: BuilderModel; valid: boolean; onLaunch: () => Promise<void> }) {
  const ex = m.executorOut;
  const hosts = hostChoice(ex, m.host);
  const t = m.target;
  const ready = m.executors !== null;
  const blocked = !valid ? "fix the config first" : !ready ? "reading the executors…" : !t.ok ? "fix where it runs first" : null;
  return (
    <div className="bld-launch" data-testid="builder-target">
      <div className="bld-sec">launch</div>
      <div className="bld-row">
        <label htmlFor="bld-run-name">name</label>
        <input id="bld-run-name" data-testid="builder-name" placeholder="(generated)" value={m.runName} onChange={(e) => m.setRunName(e.target.value)} />
      </div>
      <div className="bld-row">
        <label htmlFor="bld-executor">executor</label>
        <select id="bld-executor" data-testid="builder-executor" value={m.executor} onChange={(e) => m.setExecutor(e.target.value)} disabled={!ready}>
          {!ready ? <option value={m.executor}>loading…</option> : null}
          {(m.executors ?? []).map((e) => (
            <option key={e.name} value={e.name}>
              {e.name}
            </option>
          ))}
          {ready && !ex ? <option value={m.executor}>{m.executor} (not on this server)</option> : null}
        </select>
      </div>
      {m.executorsError ? <div className="dim bld-msg">{m.executorsError}</div> : null}
      {hosts.shown ? (
        <div className="bld-row">
          <label htmlFor="bld-host" title={ex?.needs_host ? "the host it runs on" : "the login node that submits it"}>
            host{ex?.needs_host ? <span className="dim">*</span> : null}
          </label>
          <select id="bld-host" data-testid="builder-host" value={m.host ?? ""} onChange={(e) => m.setHost(e.target.value || null)}>
            {hosts.options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <Resources m={m} />
      {t.errors.length ? (
        <div className="bad bld-msg" data-testid="builder-target-errors">
          {t.errors.map((e, i) => (
            <div key={i}>{e}</div>
          ))}
        </div>
      ) : null}
      <button
        type="button"
        className="bld-go"
        data-testid="builder-launch"
        disabled={m.launching || m.checking || blocked !== null}
        title={blocked ?? "launch (Ctrl-Enter)"}
        onClick={() => void onLaunch()}
      >
        {m.launching ? "launching…" : "▶ Launch"}
      </button>
      {m.launchError ? (
        <div className="bad bld-msg" data-testid="builder-launch-error">
          {m.launchError}
        </div>
      ) : null}
    </div>
  );
}

/** The resources the executor takes: one row each (a key select, a value), numbers sent as numbers. */
function Resources({ m }: { m: BuilderModel }) {
  const ex = m.executorOut;
  const rows = m.resources;
  const keys = ex?.resources ?? [];
  const setRow = (i: number, row: ResourceRow) => m.setResources(rows.map((r, j) => (j === i ? row : r)));
  const next = nextResourceKey(ex, rows);
  if (ex && !keys.length) {
    return (
      <div className="bld-row bld-res" data-testid="builder-resources">
        <span>resources</span>
        <span className="dim">
          {ex.name} takes none{m.target.dropped.length ? ` (not sent: ${m.target.dropped.join(", ")})` : ""}
        </span>
      </div>
    );
  }
  return (
    <div className="bld-row bld-res" data-testid="builder-resources">
      <span>resources</span>
      <div>
        {rows.map((r, i) => {
          const err = m.target.rowErrors.get(i);
          const options = r[0] && !keys.includes(r[0]) ? [...keys, r[0]] : keys;
          return (
            <div key={i} className={`bld-kv ${err ? "bld-bad" : ""}`} data-resource={r[0]}>
              <select aria-label="resource" value={r[0]} onChange={(e) => setRow(i, [e.target.value, r[1]])}>
                {r[0] ? null : <option value="">—</option>}
                {options.map((k) => (
                  <option key={k} value={k}>
                    {k}
                  </option>
                ))}
              </select>
              <input
                aria-label={`${r[0] || "resource"} value`}
                className={err ? "bld-input-bad" : undefined}
                placeholder={resourceHint(r[0])}
                value={r[1]}
                spellCheck={false}
                onChange={(e) => setRow(i, [r[0], e.target.value])}
              />
              <button type="button" title="remove" aria-label={`remove ${r[0] || "resource"}`} onClick={() => m.setResources(rows.filter((_, j) => j !== i))}>
                ×
              </button>
              {err ? <span className="bad bld-kv-msg">{err}</span> : null}
            </div>
          );
        })}
        <button type="button" disabled={!next} title={next ? `add ${next}` : "every resource is given"} onClick={() => m.setResources([...rows, [next, ""]])}>
          + resource
        </button>
      </div>
    </div>
  );
}
