// The events panel: the focused run's events (REST history + live), or with no run focused
// every run's events pushed on the project "*" subscription since the page opened. Newest
// at the top, capped, following unless the user scrolled down; a kind filter.
import { useEffect, useMemo, useRef, useState, type UIEvent } from "react";
import { api, type EventOut } from "../api/client";
import { live, useApp } from "../state/app";
import { Store, useStore } from "../state/store";
import { EVENT_CAP, eventClass, eventKinds, kindLabel, mergeEvents, summarizeEvent } from "./events-model";
import { useReconnects, useRunFeed } from "./events-live";
import type { PanelProps } from "./types";
import "./EventsPanel.css";
import { fmtClock } from "../format";

const PAGE = 5000;

// Every run's events since the page opened (the project "*" subscription of runs-sync
// delivers them); collected from load so that the panel shows them whenever it mounts.
const allEvents = new Store<{ list: EventOut[] }>({ list: [] });
live.on("event", (m) => allEvents.set((s) => ({ list: mergeEvents(s.list, [m.event]) })));

async function readAll(runId: string, after: number, signal: AbortSignal): Promise<EventOut[]> {
  // Oldest first, page by page (from `after`: what a reconnect missed); keep the newest EVENT_CAP.
  let out: EventOut[] = [];
  for (;;) {
    const page = await api.get("/api/runs/{run_id}/events", { path: { run_id: runId }, query: { after_seq: after, limit: PAGE }, signal });
    out = out.concat(page.events);
    if (out.length > EVENT_CAP) out = out.slice(out.length - EVENT_CAP);
    const last = page.events[page.events.length - 1];
    if (page.events.length < PAGE || !last) return out;
    after = last.seq;
  }
}

export function EventsPanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const runs = useApp((s) => s.runs);
  const global = useStore(allEvents, (s) => s.list);
  const [runEvents, setRunEvents] = useState<{ run: string | null; list: EventOut[]; error: string | null }>({ run: null, list: [], error: null });
  const reconnects = useReconnects();
  const [kind, setKind] = useState("");
  const [frozen, setFrozen] = useState<EventOut[] | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const held = useRef(runEvents);
  held.current = runEvents;
  useEffect(() => {
    setFrozen(null);
    if (scroller.current) scroller.current.scrollTop = 0;
  }, [focused]);

  useRunFeed<EventOut, EventOut[]>(focused, reconnects, () => {
    const run = focused;
    setRunEvents((s) => (s.run === run ? s : { run, list: [], error: null }));
    return {
      listen: (emit) => [live.on("event", (m) => m.event.run_id === run && emit(m.event))],
      load: (signal) => {
        const h = held.current;
        return readAll(run!, h.run === run ? (h.list[0]?.seq ?? 0) : 0, signal);
      },
      loaded: (list) => setRunEvents((s) => ({ run, list: mergeEvents(s.run === run ? s.list : [], list), error: null })),
      push: (e) => setRunEvents((s) => (s.run === run ? { ...s, list: mergeEvents(s.list, [e]) } : s)),
      failed: (e) => setRunEvents((s) => ({ ...s, run, error: (e as Error).message })),
    };
  });

  const source = focused ? (runEvents.run === focused ? runEvents.list : []) : global;
  const shown = frozen ?? source;
  const kinds = useMemo(() => eventKinds(source, ["alert", "command", "status_change", "checkpoint_saved"]), [source]);
  const rows = useMemo(() => (kind ? shown.filter((e) => e.kind === kind) : shown), [shown, kind]);
  const newer = frozen && source[0] && frozen[0] !== source[0] ? source.findIndex((e) => e === frozen[0]) : 0;

  const onScroll = (e: UIEvent<HTMLDivElement>) => {
    const top = e.currentTarget.scrollTop;
    if (top > 4 && !frozen) setFrozen(source);
    else if (top <= 4 && frozen) setFrozen(null);
  };
  const follow = () => {
    setFrozen(null);
    if (scroller.current) scroller.current.scrollTop = 0;
  };

  return (
    <div className="ev-panel">
      <div className="ev-bar">
        <span className="dim">{focused ? (runs.get(focused)?.name ?? focused) : "all runs"}</span>
        <select aria-label="event kind" data-testid="event-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">all kinds</option>
          {kinds.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <span className="dim ev-count">{rows.length}</span>
        {frozen && (
          <button type="button" onClick={follow} title="back to the newest and follow">
            {newer === -1 ? "▲ many new" : newer ? `▲ ${newer} new` : "▲ follow"}
          </button>
        )}
        {runEvents.error && focused && <span className="bad">{runEvents.error}</span>}
      </div>
      <div className="ev-list" ref={scroller} onScroll={onScroll}>
        {rows.length === 0 && <div className="muted ev-empty">{focused ? "no events yet" : "no events since the page opened — select a run for its history"}</div>}
        {rows.map((e) => (
          <div key={`${e.run_id}:${e.seq}`} className={e.kind === "alert" ? `ev-row ev-alert-row ev-sev-${String(e.payload?.severity ?? "warning")}` : "ev-row"} data-testid="event" data-kind={e.kind} data-seq={e.seq}>
            <span className="dim ev-time">{fmtClock(e.time)}</span>
            <span className={`ev-kind ${eventClass(e)}`} title={e.kind}>
              {kindLabel(e.kind)}
            </span>
            {!focused && <span className="ev-run">{runs.get(e.run_id)?.name ?? e.run_id.slice(0, 8)}</span>}
            <span className="ev-sum" title={JSON.stringify(e.payload)}>
              {summarizeEvent(e)}
            </span>
          </div>
        ))}
      </div>
    </div>
  );
}
