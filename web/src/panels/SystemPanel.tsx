// System metrics: the open run's sys/* series as sparklines with current values (REST
// history, then live metric_update points), grouped per GPU and, for a run of several
// processes, per rank; or the server host when no run is open.
import { Fragment, useEffect, useMemo, useRef, useState } from "react";
import { api, type SystemHistory, type SystemStatus } from "../api/client";
import { Sparkline } from "../components/Sparkline";
import { live, useApp } from "../state/app";
import { startFeed } from "./events-live";
import "./SystemPanel.css";
import {
  MAX_POINTS,
  appendPoints,
  fmtSys,
  fromBuckets,
  lastValue,
  ranksOf,
  sortSysKeys,
  sysMeta,
  type SysSeries,
} from "./SystemPanelModel";
import type { PanelProps } from "./types";
import { fmtBytes, fmtDuration } from "../format";

export function SystemPanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const run = useApp((s) => (s.focused ? s.runs.get(s.focused) : undefined));
  return (
    <div className="sys">
      {focused ? <RunSystem key={focused} runId={focused} host={run?.host ?? null} live={run?.status === "running" || run?.status === "paused"} /> : <HostSystem />}
    </div>
  );
}

type SysPoints = Array<[number, number, number | string]>;

/** The run's sys/* series: history after the server's ack, then live points (through
 *  startFeed: no holes, no duplicates, a late ack reads again). A failed read counts as
 *  an empty history (live points are applied at once, nothing piles up) and is retried
 *  with backoff, 1 s doubling to 30 s; the points already shown are kept meanwhile. */
function useRunSys(runId: string): { series: Map<string, SysSeries>; loaded: boolean; error: string | null } {
  const [state, setState] = useState<{ series: Map<string, SysSeries>; loaded: boolean; error: string | null }>({
    series: new Map(),
    loaded: false,
    error: null,
  });
  useEffect(() => {
    // Kept across retries: what a retry's history read replaces.
    let data: Map<string, SysSeries> | null = null;
    let frame: number | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let failed: string | null = null;
    let stopFeed: () => void = () => {};
    const publish = () => {
      frame = null;
      if (data) setState({ series: new Map(data), loaded: true, error: failed });
    };
    const start = () =>
      startFeed<Record<string, SysPoints>, SystemHistory>(live, runId, {
        listen: (emit) => [
          live.on("metric_update", (m) => {
            if (m.run_id !== runId) return;
            const sys: Record<string, SysPoints> = {};
            let any = false;
            for (const [k, pts] of Object.entries(m.points)) {
              if (!k.startsWith("sys/")) continue;
              sys[k] = pts;
              any = true;
            }
            if (any) emit(sys);
          }),
        ],
        load: (signal) => api.get("/api/system/history", { query: { run_id: runId, n: MAX_POINTS }, signal }),
        loaded: (h) => {
          const d = new Map<string, SysSeries>();
          for (const [k, cols] of Object.entries(h.series)) d.set(k, fromBuckets(cols));
          data = d;
          failures = 0;
          failed = null;
          publish();
        },
        push: (sys) => {
          data ??= new Map();
          for (const [k, pts] of Object.entries(sys)) data.set(k, appendPoints(data.get(k), pts));
          if (frame === null) frame = requestAnimationFrame(publish);
        },
        failed: (e) => {
          data ??= new Map(); // no history: show what the pushes bring
          failed = (e as Error).message;
          publish();
          const delay = Math.min(30_000, 1000 * 2 ** failures);
          failures += 1;
          clearTimeout(retry);
          retry = setTimeout(() => {
            // The new feed first: the run's subscription stays up (and acked) in between.
            const old = stopFeed;
            stopFeed = start();
            old();
          }, delay);
        },
      });
    stopFeed = start();
    return () => {
      stopFeed();
      clearTimeout(retry);
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [runId]);
  return state;
}

function RunSystem({ runId, host, live: isLive }: { runId: string; host: string | null; live: boolean }) {
  const { series, loaded, error } = useRunSys(runId);
  const keys = useMemo(() => sortSysKeys(series.keys()), [series]);
  const ranks = useMemo(() => ranksOf(keys), [keys]);
  let group = "";
  return (
    <>
      <div className="sys-head">
        run on <span className="info">{host ?? "?"}</span>
        {ranks.length ? <span data-testid="sys-ranks"> · {ranks.length} rank{ranks.length === 1 ? "" : "s"}</span> : null}
        {isLive ? "" : " · history"}
      </div>
      {error ? <div className="bad">{error}</div> : null}
      {!loaded ? <div className="sys-note">loading…</div> : null}
      {loaded && !keys.length ? <div className="sys-note">no system metrics logged for this run</div> : null}
      {keys.map((k) => {
        const meta = sysMeta(k);
        // GPU memory: one row "used / total".
        if (/\/mem_total$/.test(k) && series.has(k.replace(/mem_total$/, "mem_used"))) return null;
        const header = meta.group !== group && (meta.group !== "host" || group !== "") ? meta.group : null;
        group = meta.group;
        const s = series.get(k)!;
        let value = fmtSys(lastValue(s), meta.unit);
        if (/\/mem_used$/.test(k)) {
          const total = lastValue(series.get(k.replace(/mem_used$/, "mem_total")));
          if (total !== null) value = `${fmtBytes(lastValue(s) ?? 0)}/${fmtBytes(total)}`;
        }
        return (
          <Fragment key={k}>
            {header ? (
              <div className="sys-group" data-sys-group={header}>
                {header}
              </div>
            ) : null}
            <div className="sys-row" data-sys-key={k} title={k}>
              <span className="sys-label">{meta.label}</span>
              <Sparkline values={s.values} min={meta.min} max={meta.max} color={meta.unit === "%" ? "var(--good)" : "var(--fg)"} />
              <span className="sys-val">{value}</span>
            </div>
          </Fragment>
        );
      })}
    </>
  );
}

function HostSystem() {
  const [st, setSt] = useState<SystemStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const hist = useRef<{ cpu: number[]; mem: number[] }>({ cpu: [], mem: [] });
  useEffect(() => {
    let cancelled = false;
    const poll = async () => {
      try {
        const s = await api.get("/api/system/status");
        if (cancelled) return;
        const h = hist.current;
        h.cpu = [...h.cpu, s.cpu_percent].slice(-MAX_POINTS);
        h.mem = [...h.mem, s.mem_percent].slice(-MAX_POINTS);
        setSt(s);
        setError(null);
      } catch (e) {
        if (!cancelled) setError((e as Error).message);
      }
    };
    void poll();
    const t = setInterval(poll, 5000);
    return () => {
      cancelled = true;
      clearInterval(t);
    };
  }, []);
  if (!st) return <div className="sys-note">{error ? <span className="bad">{error}</span> : "loading server status…"}</div>;
  const h = hist.current;
  return (
    <>
      <div className="sys-head">
        server <span className="info">{st.hostname}</span> · {st.cpu_count} cpus · up {fmtDuration(st.time - st.boot_time)}
        {error ? <span className="bad"> · {error}</span> : null}
      </div>
      <div className="sys-row">
        <span className="sys-label">cpu</span>
        <Sparkline values={h.cpu} min={0} max={100} color="var(--good)" />
        <span className="sys-val">{fmtSys(st.cpu_percent, "%")}</span>
      </div>
      {st.per_cpu_percent.length > 1 ? (
        <div className="sys-row" data-sys-key="per_cpu">
          <span className="sys-label">per cpu</span>
          <span className="sys-cpus">
            {st.per_cpu_percent.map((p, i) => (
              <span key={i} title={`cpu${i} ${p.toFixed(0)}%`}>
                <i style={{ height: `${Math.max(0, Math.min(100, p))}%` }} />
              </span>
            ))}
          </span>
          <span className="sys-val" title="the busiest cpu">
            max {fmtSys(Math.max(...st.per_cpu_percent), "%")}
          </span>
        </div>
      ) : null}
      <div className="sys-row" data-sys-key="mem">
        <span className="sys-label">mem</span>
        <Sparkline values={h.mem} min={0} max={100} color="var(--good)" />
        <span className="sys-val">
          {fmtBytes(st.mem_used)}/{fmtBytes(st.mem_total)}
        </span>
      </div>
      <div className="sys-row" data-sys-key="load" title="load average over 1, 5 and 15 minutes">
        <span className="sys-label">load</span>
        <span className="dim sys-mid">1/5/15 min</span>
        <span className="sys-val">{st.load_avg.map((l) => l.toFixed(2)).join(" ")}</span>
      </div>
      <div className="sys-row">
        <span className="sys-label">swap</span>
        <span />
        <span className="sys-val">{fmtSys(st.swap_percent, "%")}</span>
      </div>
      <div className="sys-row" title={st.disk.path}>
        <span className="sys-label">disk</span>
        <span className="dim sys-mid">{fmtBytes(st.disk.free)} free</span>
        <span className="sys-val">{fmtSys(st.disk.percent, "%")}</span>
      </div>
      <div className="sys-note">open a run to see its system metrics</div>
    </>
  );
}

