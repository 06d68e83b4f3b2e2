// The alerts panel (issue 12 §4): every run's alerts, newest first (rule firings and the
// SDK's run.alert), live; seen once the panel is on screen while the tab is visible (the
// top bar's badge counts the others). A click on an alert opens its run. The rules and
// webhooks are managed below the list (AlertsRules.tsx).
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { fmtClock } from "../format";
import { focusRun, useApp } from "../state/app";
import { useStore } from "../state/store";
import { alertDetail, alertTitle, markSeen, normSeverity, type AlertOut } from "./alerts-model";
import { alerts, alertsStorage, askNotifications } from "./alerts-sync";
import { AlertsRules } from "./AlertsRules";
import type { PanelProps } from "./types";
import "./AlertsPanel.css";

const GLYPH = { error: "✗", warning: "▲", info: "●" } as const;
const CLASS = { error: "bad", warning: "warn", info: "info" } as const;

function useVisible(): boolean {
  return useSyncExternalStore(
    (fn) => {
      document.addEventListener("visibilitychange", fn);
      return () => document.removeEventListener("visibilitychange", fn);
    },
    () => document.visibilityState !== "hidden",
    () => true,
  );
}

function usePermission(): [string, () => void] {
  const get = () => (typeof Notification === "undefined" ? "unsupported" : Notification.permission);
  const [perm, setPerm] = useState(get);
  return [perm, () => void askNotifications().then(() => setPerm(get()))];
}

export function AlertsPanel(_props: PanelProps) {
  const list = useStore(alerts, (s) => s.list);
  const seenSeq = useStore(alerts, (s) => s.seenSeq);
  const error = useStore(alerts, (s) => s.error);
  const loaded = useStore(alerts, (s) => s.loaded);
  const runs = useApp((s) => s.runs);
  const [onlyRun, setOnlyRun] = useState(false);
  const focused = useApp((s) => s.focused);
  const [tab, setTab] = useState<"alerts" | "rules">("alerts");
  const [perm, ask] = usePermission();
  const visible = useVisible();
  const ref = useRef<HTMLDivElement>(null);
  const [onScreen, setOnScreen] = useState(false);
  // The seq the user had seen when the panel came up: newer rows are marked "new".
  const [firstSeen] = useState(seenSeq);

  useEffect(() => {
    const el = ref.current;
    if (!el || typeof IntersectionObserver === "undefined") {
      setOnScreen(true);
      return;
    }
    const io = new IntersectionObserver((entries) => setOnScreen(entries.some((e) => e.isIntersecting)));
    io.observe(el);
    return () => io.disconnect();
  }, []);
  useEffect(() => {
    if (onScreen && visible) markSeen(alerts, alertsStorage);
  }, [onScreen, visible, list]);

  const rows = onlyRun && focused ? list.filter((a) => a.run_id === focused) : list;
  return (
    <div className="al-panel" ref={ref} data-testid="alerts-panel">
      <div className="al-bar">
        <span role="tab" aria-selected={tab === "alerts"} className={`al-tab ${tab === "alerts" ? "al-on" : ""}`} onClick={() => setTab("alerts")}>
          alerts <span className="num" data-testid="alerts-count">{list.length}</span>
        </span>
        <span role="tab" aria-selected={tab === "rules"} data-testid="alerts-rules-tab" className={`al-tab ${tab === "rules" ? "al-on" : ""}`} onClick={() => setTab("rules")}>
          rules &amp; webhooks
        </span>
        {tab === "alerts" && (
          <label className="dim" title="only the open run's alerts">
            <input type="checkbox" checked={onlyRun} onChange={(e) => setOnlyRun(e.target.checked)} /> open run
          </label>
        )}
        <span className="td-spacer" />
        {perm === "granted" ? (
          <span className="dim" title="a browser notification for each alert while this tab is in the background">notifying</span>
        ) : perm === "denied" ? (
          <span className="muted" title="notifications are blocked for this site in the browser's settings">notifications blocked</span>
        ) : perm === "default" ? (
          <button type="button" data-testid="alerts-notify" onClick={ask} title="notify me of alerts while this tab is in the background">
            notify me
          </button>
        ) : null}
      </div>
      {tab === "rules" ? (
        <AlertsRules />
      ) : (
        <div className="al-list">
          {error && <div className="bad al-empty">{error}</div>}
          {rows.length === 0 && !error && (
            <div className="muted al-empty">{loaded ? "no alerts — add a rule under “rules & webhooks”, or call run.alert() in a script" : "loading alerts…"}</div>
          )}
          {rows.map((a) => (
            <AlertRow key={a.seq} a={a} fresh={a.seq > firstSeen} name={runs.get(a.run_id)?.name ?? a.run_name ?? a.run_id.slice(0, 8)} />
          ))}
        </div>
      )}
    </div>
  );
}

function AlertRow({ a, fresh, name }: { a: AlertOut; fresh: boolean; name: string }) {
  const sev = normSeverity(a.severity);
  const detail = alertDetail(a);
  return (
    <div
      className={`al-row al-${sev} ${fresh ? "al-fresh" : ""}`}
      data-testid="alert"
      data-seq={a.seq}
      data-run-id={a.run_id}
      data-severity={sev}
      title={`${a.kind}${a.rule_id ? ` (rule ${a.rule_id})` : ""} — click to open the run`}
      onClick={() => focusRun(a.run_id)}
    >
      <span className="dim al-time num">{fmtClock(a.time)}</span>
      <span className={`al-sev ${CLASS[sev]}`}>
        {GLYPH[sev]} {sev}
      </span>
      <span className="al-run">{name}</span>
      <span className="al-title">{alertTitle(a)}</span>
      {detail && <span className="al-text dim">{detail}</span>}
    </div>
  );
}
