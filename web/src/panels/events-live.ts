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

export interface FeedLive {
  subscribeRun(runId: string): () => void;
  ready(t: { run_id: string }): Promise<void>;
}

/**
 * The feed without React: subscribe to `runId`, await the ack (at most `ackWaitMs`), read
 * REST, apply it, then replay the pushes buffered meanwhile in arrival order and apply
 * later ones at once. Returns the stop function (nothing is applied after it).
 */
export function startFeed<P, R>(client: FeedLive, runId: string, h: FeedHandlers<P, R>, ackWaitMs = 1500): () => void {
  const ctl = new AbortController();
  let ready = false;
  const buffer: P[] = [];
  const offs = h.listen((p) => {
    if (ctl.signal.aborted) return;
    if (ready) h.push(p);
    else buffer.push(p);
  });
  const unsub = client.subscribeRun(runId);
  const flush = () => {
    ready = true;
    for (const p of buffer.splice(0)) h.push(p);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  let reads = 0;
  const read = () => {
    if (ctl.signal.aborted) return;
    ready = false; // buffer pushes while reading, replay them after
    const mine = ++reads;
    void h.load(ctl.signal).then(
      (data) => {
        if (ctl.signal.aborted || mine !== reads) return; // a newer read is on its way
        h.loaded(data);
        flush();
      },
      (e: unknown) => {
        if (ctl.signal.aborted || mine !== reads) return;
        flush();
        h.failed?.(e);
      },
    );
  };
  const acked = client.ready({ run_id: runId });
  // A socket that cannot connect (yet) must not keep the panel empty: read after
  // `ackWaitMs` anyway, and read again once the ack does come (what was written between
  // that read and the ack is in no cursor).
  void Promise.race([
    acked,
    new Promise<void>((r) => {
      timer = setTimeout(() => {
        timedOut = true;
        r();
      }, ackWaitMs);
    }),
  ]).then(() => {
    clearTimeout(timer);
    read();
  });
  void acked.then(() => {
    if (timedOut) read();
  });
  return () => {
    ctl.abort();
    clearTimeout(timer);
    offs.forEach((off) => off());
    unsub();
  };
}

/**
 * Subscribe to `runId`, await the ack, read REST, then apply pushes in order. Re-runs on
 * `runId` or `reloadKey` change. `make` is read on each (re)start.
 */
export function useRunFeed<P, R>(runId: string | null, reloadKey: unknown, make: () => FeedHandlers<P, R>): void {
  useEffect(() => {
    if (!runId) return;
    return startFeed(live, runId, make());
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runId, reloadKey]);
}
