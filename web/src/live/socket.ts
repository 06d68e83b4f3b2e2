// The live connection (/ws): one WebSocket per page, reconnecting with backoff, with
// reference-counted subscriptions and a cursor per subscription so that a reconnect asks
// the server for exactly what was missed (no holes, no duplicates; see the protocol in
// src/traindeck/server/hub.py). Message types come from ws.gen.ts (generated from the
// server's models), so both sides share one definition.
import type { ClientMessage, Cursor, ServerMessage } from "../api/ws.gen";

export type { ClientMessage, ServerMessage };
export type MessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;
export type ConnState = "connecting" | "open" | "closed";

/** The part of the browser's WebSocket we use (a seam: tests pass a fake server). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketFactory = (url: string) => SocketLike;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface LiveOptions {
  url: string;
  factory?: SocketFactory;
  timers?: Timers;
  /** First and longest wait before reconnecting, in ms (doubling in between). */
  minDelay?: number;
  maxDelay?: number;
  /** 0..1, for jitter (tests pass a constant). */
  random?: () => number;
}

/** What a subscription has seen: the server resumes after it on reconnect. */
export interface SubCursor {
  event_seq: number | null;
  steps: Record<string, number>;
  log_seq: number | null;
}

type Target = { run_id: string } | { project: string };

interface Sub {
  target: Target;
  refs: number;
  cursor: SubCursor | null; // null until the first ack
  acked: boolean;
  waiters: Array<() => void>;
}

const OPEN = 1;

export function defaultUrl(): string {
  const loc = globalThis.location;
  if (!loc) return "ws://127.0.0.1:8000/ws";
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

function key(t: Target): string {
  return "run_id" in t ? `r:${t.run_id}` : `p:${t.project}`;
}

function targetOf(msg: { run_id?: string | null; project?: string | null }): Target | null {
  if (msg.run_id) return { run_id: msg.run_id };
  if (msg.project) return { project: msg.project };
  return null;
}

export class LiveClient {
  private ws: SocketLike | null = null;
  private subs = new Map<string, Sub>();
  private listeners = new Map<string, Set<(msg: ServerMessage) => void>>();
  private stateListeners = new Set<(s: ConnState) => void>();
  private timer: unknown = null;
  private attempts = 0;
  private stopped = true;
  state: ConnState = "closed";

  private readonly factory: SocketFactory;
  private readonly timers: Timers;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly random: () => number;

  constructor(private readonly opts: LiveOptions) {
    this.factory = opts.factory ?? ((u) => new WebSocket(u) as unknown as SocketLike);
    this.timers = opts.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof setTimeout>),
    };
    this.minDelay = opts.minDelay ?? 250;
    this.maxDelay = opts.maxDelay ?? 5000;
    this.random = opts.random ?? Math.random;
  }

  connect(): void {
    this.stopped = false;
    if (this.ws) return;
    this.open();
  }

  close(): void {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close(1000, "bye");
    }
    this.setState("closed");
  }

  /** Listen to one message type; returns the unlisten function. */
  on<T extends ServerMessage["type"]>(type: T, fn: (msg: MessageOf<T>) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const f = fn as (msg: ServerMessage) => void;
    set.add(f);
    return () => set.delete(f);
  }

  onState(fn: (s: ConnState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Subscribe to a run (metric points, events, commands, logs). Reference-counted. */
  subscribeRun(runId: string): () => void {
    return this.subscribe({ run_id: runId });
  }

  /** Run-level messages of every run of a project (`"*"`: of every project). */
  subscribeProject(project: string): () => void {
    return this.subscribe({ project });
  }

  /** Resolves once the server acknowledged the subscription (now, if it has). */
  ready(t: Target): Promise<void> {
    const sub = this.subs.get(key(t));
    if (!sub || sub.acked) return Promise.resolve();
    return new Promise((resolve) => sub.waiters.push(resolve));
  }

  /** The cursor of a subscription (what it has seen), or null before its first ack. */
  cursor(t: Target): SubCursor | null {
    return this.subs.get(key(t))?.cursor ?? null;
  }

  private subscribe(target: Target): () => void {
    const k = key(target);
    let sub = this.subs.get(k);
    if (sub) {
      sub.refs += 1;
    } else {
      sub = { target, refs: 1, cursor: null, acked: false, waiters: [] };
      this.subs.set(k, sub);
      this.sendSubscribe(sub);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const s = this.subs.get(k);
      if (!s) return;
      s.refs -= 1;
      if (s.refs > 0) return;
      this.subs.delete(k);
      for (const w of s.waiters) w();
      this.send({ type: "unsubscribe", ...target });
    };
  }

  private sendSubscribe(sub: Sub): void {
    if (!this.ws || this.ws.readyState !== OPEN) return; // sent on open
    sub.acked = false;
    const msg: ClientMessage = { type: "subscribe", ...sub.target };
    if (sub.cursor) {
      const since: Cursor & { log_seq?: number | null } = { steps: { ...sub.cursor.steps } };
      if (sub.cursor.event_seq !== null) since.event_seq = sub.cursor.event_seq;
      if (sub.cursor.log_seq !== null) since.log_seq = sub.cursor.log_seq;
      msg.since = since;
    }
    this.send(msg);
  }

  send(msg: ClientMessage): void {
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(JSON.stringify(msg));
  }

  private setState(s: ConnState): void {
    if (this.state === s) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private open(): void {
    this.setState("connecting");
    let ws: SocketLike;
    try {
      ws = this.factory(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      this.setState("open");
      for (const sub of this.subs.values()) this.sendSubscribe(sub);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      let msg: ServerMessage;
      try {
        msg = JSON.parse(ev.data) as ServerMessage;
      } catch {
        return;
      }
      this.handle(msg);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const sub of this.subs.values()) sub.acked = false;
      if (this.stopped) {
        this.setState("closed");
        return;
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    this.setState("connecting");
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempts);
    this.attempts += 1;
    const delay = base * (0.5 + this.random() / 2);
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  /** Apply one server message: update cursors, then tell the listeners. */
  handle(msg: ServerMessage): void {
    switch (msg.type) {
      case "subscribed": {
        const t = targetOf(msg);
        const sub = t && this.subs.get(key(t));
        if (sub) {
          const c = msg.cursor as typeof msg.cursor & { log_seq?: number | null };
          if (!sub.cursor) {
            sub.cursor = { event_seq: c.event_seq, steps: { ...c.steps }, log_seq: c.log_seq ?? null };
          }
          sub.acked = true;
          const waiters = sub.waiters;
          sub.waiters = [];
          for (const w of waiters) w();
        }
        break;
      }
      case "metric_update": {
        const cur = this.subs.get(`r:${msg.run_id}`)?.cursor;
        if (cur) {
          for (const [k, pts] of Object.entries(msg.points)) {
            const last = pts[pts.length - 1];
            if (last && (cur.steps[k] === undefined || last[0] > (cur.steps[k] ?? -Infinity))) {
              cur.steps[k] = last[0];
            }
          }
        }
        break;
      }
      case "event": {
        const seq = msg.event.seq;
        for (const sub of this.subs.values()) {
          const t = sub.target;
          const mine = "run_id" in t ? t.run_id === msg.event.run_id : true;
          if (mine && sub.cursor && (sub.cursor.event_seq === null || seq > sub.cursor.event_seq)) {
            sub.cursor.event_seq = seq;
          }
        }
        break;
      }
      case "error": {
        if (msg.code === "too_slow") this.ws?.close(4000, "too slow");
        break;
      }
      default: {
        const m = msg as { type: string; run_id?: string; lines?: Array<{ seq: number }> };
        if (m.type === "log" && m.run_id && m.lines?.length) {
          const cur = this.subs.get(`r:${m.run_id}`)?.cursor;
          const last = m.lines[m.lines.length - 1]!.seq;
          if (cur && (cur.log_seq === null || last > cur.log_seq)) cur.log_seq = last;
        }
      }
    }
    const set = this.listeners.get(msg.type);
    if (set) for (const fn of [...set]) fn(msg);
  }
}
