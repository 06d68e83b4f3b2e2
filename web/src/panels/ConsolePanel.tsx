// The console panel: the tail of the focused run's captured console (REST tail, then live
// `log` pushes), virtualised, following the bottom unless scrolled up; a client-side
// search with highlighting, a server search for older lines, and paging back.
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type UIEvent } from "react";
import { api, ApiError } from "../api/client";
import { useActions } from "../state/actions";
import { useApp } from "../state/app";
import {
  CONSOLE_CAP, atBottom, filterLines, highlight, mergeLines, visibleRange, type LogLine, type LogPage,
} from "./console-model";
import { useReconnects, useRunFeed } from "./events-live";
import { live } from "../state/app";
import type { PanelProps } from "./types";
import "./ConsolePanel.css";
import { fmtClock } from "../format";

const ROW = 16;
const TAIL = 500;
const OLDER = 1000;

interface State {
  run: string | null;
  lines: LogLine[];
  cap: number;
  unavailable: boolean;
  error: string | null;
  loading: boolean;
  /** No older lines on the server (the first page back came short). */
  atStart: boolean;
}
const empty = (run: string | null): State => ({ run, lines: [], cap: CONSOLE_CAP, unavailable: false, error: null, loading: true, atStart: false });

function Line({ line, q }: { line: LogLine; q: string }) {
  return (
    <div className={line.stream === "stderr" ? "con-line con-err" : "con-line"} data-testid="console-line" data-seq={line.seq} data-stream={line.stream} style={{ height: ROW }}>
      <span className="con-time">{fmtClock(line.time)}</span>
      <span className="con-text">
        {highlight(line.text, q).map((s, i) => (s.hit ? <mark key={i}>{s.text}</mark> : s.text))}
      </span>
    </div>
  );
}

export function ConsolePanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const reconnects = useReconnects();
  const [st, setSt] = useState<State>(() => empty(null));
  const [q, setQ] = useState("");
  const [server, setServer] = useState<{ q: string; lines: LogLine[] } | null>(null);
  const [follow, setFollow] = useState(true);
  const [view, setView] = useState({ top: 0, height: 300 });
  const scroller = useRef<HTMLDivElement>(null);
  const held = useRef(st);
  held.current = st;

  useRunFeed<LogLine[], (LogPage & { continued?: boolean }) | null>(focused, reconnects, () => {
    const id = focused;
    setSt((s) => (s.run === id ? { ...s, loading: true } : empty(id)));
    setServer(null);
    setFollow(true);
    return {
      listen: (emit) => [
        live.on("log", (m) => {
          if (m.run_id === id && m.lines.length) emit(m.lines);
        }),
      ],
      load: async (signal) => {
        try {
          // After a reconnect: read on from the last line held (the tail when too much was missed).
          const h = held.current;
          const last = h.run === id ? h.lines[h.lines.length - 1] : undefined;
          if (last) {
            const page = await api.get("/api/runs/{run_id}/logs", { path: { run_id: id! }, query: { after_seq: last.seq, limit: CONSOLE_CAP }, signal });
            if (page.lines.length < CONSOLE_CAP) return { ...page, continued: true };
          }
          return await api.get("/api/runs/{run_id}/logs", { path: { run_id: id! }, query: { tail: TAIL }, signal });
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) return null; // no such route (yet)
          throw e;
        }
      },
      loaded: (page) =>
        setSt((s) => {
          const base = s.run === id ? s : empty(id);
          if (!page) return { ...base, unavailable: true, loading: false };
          if (page.continued) return { ...base, lines: mergeLines(base.lines, page.lines, base.cap), loading: false, error: null };
          // A fresh tail: what was held before it may not join it (a hole), so start over.
          return { ...empty(id), lines: mergeLines([], page.lines), loading: false, atStart: page.lines.length < TAIL };
        }),
      push: (lines) => setSt((s) => (s.run === id ? { ...s, lines: mergeLines(s.lines, lines, s.cap) } : s)),
      failed: (e) =>
        setSt((s) => ({
          ...(s.run === id ? s : empty(id)),
          loading: false,
          unavailable: e instanceof ApiError && e.status === 404,
          error: e instanceof ApiError && e.status === 404 ? null : (e as Error).message,
        })),
    };
  });

  const lines = st.run === focused ? st.lines : [];
  const linesRef = useRef(lines);
  linesRef.current = lines;
  const shown = useMemo(() => (server ? server.lines : filterLines(lines, q)), [server, lines, q]);
  const hl = server ? server.q : q;

  // Follow the bottom: after each change while following, scroll to the end.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [shown, follow]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setView({ top: el.scrollTop, height: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, [focused, st.unavailable]);

  const onScroll = (e: UIEvent<HTMLDivElement>) => {
    const el = e.currentTarget;
    setView({ top: el.scrollTop, height: el.clientHeight });
    const bottom = atBottom(el.scrollTop, el.clientHeight, el.scrollHeight);
    if (bottom !== follow) setFollow(bottom);
  };

  const loadOlder = async () => {
    const id = focused;
    const first = linesRef.current[0];
    if (!id || !first) return;
    try {
      const page = await api.get("/api/runs/{run_id}/logs", { path: { run_id: id }, query: { before_seq: first.seq, limit: OLDER } });
      setFollow(false);
      setSt((s) => {
        if (s.run !== id) return s;
        const cap = s.cap + page.lines.length;
        return { ...s, cap, lines: mergeLines(s.lines, page.lines, cap), atStart: page.lines.length < OLDER };
      });
      // Keep the first previously visible line in place.
      requestAnimationFrame(() => {
        const el = scroller.current;
        if (el) el.scrollTop += page.lines.length * ROW;
      });
    } catch (e) {
      setSt((s) => ({ ...s, error: (e as Error).message }));
    }
  };

  const searchServer = async () => {
    const id = focused;
    if (!id || !q) return;
    try {
      const page = await api.get("/api/runs/{run_id}/logs", { path: { run_id: id }, query: { q, tail: 1000 } });
      setServer({ q, lines: page.lines });
      setFollow(true);
    } catch (e) {
      setSt((s) => ({ ...s, error: (e as Error).message }));
    }
  };

  const resume = () => {
    setFollow(true);
    const el = scroller.current;
    if (el) el.scrollTop = el.scrollHeight;
  };

  useActions(
    () => [
      { id: "console.follow", title: "Console: follow the end", group: "Console", enabled: !!focused, run: resume },
      { id: "console.older", title: "Console: load older lines", group: "Console", enabled: !!focused && !st.atStart, run: loadOlder },
      { id: "console.search-server", title: "Console: search the server", group: "Console", enabled: !!focused && !!q, run: searchServer },
    ],
    [focused, st.atStart, q], // not `lines`: a push must not re-register the palette's actions
  );

  if (!focused) return <div className="muted con-empty">select a run</div>;
  if (st.run === focused && st.unavailable) return <div className="muted con-empty">console capture unavailable</div>;

  const [start, end] = visibleRange(view.top, view.height, ROW, shown.length);
  return (
    <div className="con-panel">
      <div className="con-bar">
        <input
          data-testid="console-search"
          className="con-search"
          placeholder="search…"
          value={q}
          spellCheck={false}
          onChange={(e) => {
            setQ(e.target.value);
            if (server) setServer(null);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") void searchServer();
            if (e.key === "Escape") {
              setQ("");
              setServer(null);
            }
          }}
        />
        <button type="button" disabled={!q} onClick={() => void searchServer()} title="search every line on the server (Enter)">
          search server
        </button>
        {server && (
          <button type="button" onClick={() => setServer(null)} title="back to the live tail">
            × server: {server.lines.length}
          </button>
        )}
        <button type="button" disabled={st.atStart || !!server || !lines.length} onClick={() => void loadOlder()}>
          load older
        </button>
        <span className="dim con-count">
          {q && !server ? `${shown.length}/${lines.length}` : shown.length}
        </span>
        {!follow && (
          <button type="button" className="con-follow" onClick={resume}>
            ↓ follow
          </button>
        )}
        {st.error && <span className="bad">{st.error}</span>}
      </div>
      <div className="con-scroll" ref={scroller} onScroll={onScroll}>
        {shown.length === 0 ? (
          <div className="muted con-empty">{st.loading ? "loading…" : q ? "no matching lines" : "no console output yet"}</div>
        ) : (
          <div className="con-inner" style={{ height: shown.length * ROW }}>
            <div style={{ transform: `translateY(${start * ROW}px)` }}>
              {shown.slice(start, end).map((l) => (
                <Line key={l.seq} line={l} q={hl} />
              ))}
            </div>
          </div>
        )}
      </div>
    </div>
  );
}
