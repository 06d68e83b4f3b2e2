import { afterEach, describe, expect, it, vi } from "vitest";
import type { RunOut } from "../api/client";
import { LiveClient } from "../live/socket";
import { initialState, type AppState } from "./app";
import { startRunsSync } from "./runs-sync";
import { Store } from "./store";
import { FakeSocket } from "../live/fake-socket";

function run(id: string, seq: number, name = id): RunOut {
  return { id, seq, name, project: "p", status: "running" } as RunOut;
}

/** The server's run list, answered by a stubbed fetch. */
let serverRuns: RunOut[] = [];
let fetches = 0;
vi.stubGlobal("fetch", async () => {
  fetches += 1;
  const body = JSON.stringify({ runs: serverRuns, total: serverRuns.length });
  return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
});
vi.stubGlobal("requestAnimationFrame", (f: () => void) => setTimeout(f, 0));

const settle = () => new Promise((r) => setTimeout(r, 5));

function setup() {
  const sockets: FakeSocket[] = [];
  const timers: Array<() => void> = [];
  const live = new LiveClient({
    url: "ws://t/ws",
    factory: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    timers: { setTimeout: (fn) => timers.push(fn), clearTimeout: () => {} },
  });
  const store = new Store<AppState>(initialState());
  live.connect();
  const stop = startRunsSync(store, live);
  const ack = () =>
    sockets.at(-1)!.push({ type: "subscribed", project: "*", cursor: { event_seq: 0, steps: {} } });
  return { live, store, stop, sockets, timers, ack, ids: () => [...store.get().runs.keys()].sort() };
}

afterEach(() => {
  serverRuns = [];
  fetches = 0;
});

describe("startRunsSync", () => {
  it("reads the list after the ack, then applies pushes", async () => {
    serverRuns = [run("a", 1), run("b", 2)];
    const t = setup();
    t.sockets[0]!.open();
    await settle();
    expect(fetches).toBe(0); // not before the ack
    t.ack();
    await settle();
    expect(t.ids()).toEqual(["a", "b"]);
    t.sockets[0]!.push({ type: "run_update", run: run("c", 3) });
    t.sockets[0]!.push({ type: "run_deleted", run_id: "a" });
    await settle();
    expect(t.ids()).toEqual(["b", "c"]);
    t.stop();
  });

  it("reads the whole list again after a reconnect: what changed while away shows", async () => {
    serverRuns = [run("a", 1), run("b", 2)];
    const t = setup();
    t.sockets[0]!.open();
    t.ack();
    await settle();
    expect(t.ids()).toEqual(["a", "b"]);
    t.store.set({ focused: "a", compare: ["a", "b"] });
    // offline: "a" is deleted, "b" renamed, "c" created; the server replays none of it
    t.sockets[0]!.close();
    serverRuns = [run("b", 5, "renamed"), run("c", 6)];
    t.timers.shift()!(); // the reconnect timer fires
    t.sockets[1]!.open();
    await settle();
    t.ack();
    await settle();
    expect(t.ids()).toEqual(["b", "c"]);
    expect(t.store.get().runs.get("b")!.name).toBe("renamed");
    expect(t.store.get().focused).toBeNull(); // the open run is gone
    expect(t.store.get().compare).toEqual(["b"]);
    t.stop();
  });

  it("does not bring back a run deleted while its page was being read", async () => {
    serverRuns = [run("a", 1), run("b", 2)];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    vi.stubGlobal("fetch", async () => {
      await gate;
      return new Response(JSON.stringify({ runs: serverRuns, total: 2 }), { status: 200 });
    });
    const t = setup();
    t.sockets[0]!.open();
    t.ack();
    await settle();
    t.sockets[0]!.push({ type: "run_deleted", run_id: "a" }); // while the read is in flight
    release();
    await settle();
    expect(t.ids()).toEqual(["b"]);
    t.stop();
  });
});
