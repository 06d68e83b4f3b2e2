// Shared plumbing of the run-detail panels (events, actions, checkpoints, console, images):
// subscribe to a run, wait for the server's ack, then read REST while buffering what is
// pushed meanwhile, then replay the buffer (merges are idempotent: no holes, no duplicates).
// A reconnect reads REST again (pushes missed while offline that no cursor covers).
import { useEffect, useState } from "react";
import { live } from "../state/app";

/** Increments each time the live socket re-opens after the first time. */
export function useReconnects(): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    let seenOpen = live.state === "open";
    return live.onState((s) => {
      if (s !== "open") return;
      if (seenOpen) setN((x) => x + 1);
      seenOpen = true;
    });
  }, []);
  return n;
}

export interface FeedHandlers<P, R> {
  /** Read the REST state (after the subscription's ack). */
  load: (signal: AbortSignal) => Promise<R>;
  /** Apply the REST answer, then replay pushes buffered meanwhile via `push`. */
  loaded: (data: R) => void;
  /** Apply one push (only called once REST is in). */
  push: (p: P) => void;
  failed?: (e: unknown) => void;
  /** Registers the live listeners; each calls `emit` with what concerns this run. */
  listen: (emit: (p: P) => void) => Array<() => void>;
}

/**
 * Subscribe to `runId`, await the ack, read REST, then apply pushes in order. Re-runs on
 * `runId` or `reloadKey` change. `make` is read on each (re)start.
 */
export function useRunFeed<P, R>(runId: string | null, reloadKey: unknown, make: () => FeedHandlers<P, R>): void {
  useEffect(() => {
    if (!runId) return;
    const h = make();
    const ctl = new AbortController();
    let ready = false;
    const buffer: P[] = [];
    const offs = h.listen((p) => {
      if (ctl.signal.aborted) return;
      if (ready) h.push(p);
      else buffer.push(p);
    });
    const unsub = live.subscribeRun(runId);
    // A socket that cannot connect (yet) must not keep the panel empty.
    const ack = Promise.race([live.ready({ run_id: runId }), new Promise((r) => setTimeout(r, 1500))]);
    void ack
      .then(() => (ctl.signal.aborted ? Promise.reject(new DOMException("aborted", "AbortError")) : h.load(ctl.signal)))
      .then(
        (data) => {
          if (ctl.signal.aborted) return;
          h.loaded(data);
          ready = true;
          for (const p of buffer.splice(0)) h.push(p);
        },
        (e: unknown) => {
          if (ctl.signal.aborted || (e instanceof DOMException && e.name === "AbortError")) return;
          ready = true;
          for (const p of buffer.splice(0)) h.push(p);
          h.failed?.(e);
        },
      );
    return () => {
      ctl.abort();
      offs.forEach((off) => off());
      unsub();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runId, reloadKey]);
}

/** A value that re-renders the component every `ms` (for ages like "5m"). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() / 1000), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
