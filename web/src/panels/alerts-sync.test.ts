import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "../live/fake-socket";
import { LiveClient } from "../live/socket";
import { createAlertsStore, unseenCount, type AlertOut } from "./alerts-model";
import { startAlertsSync, type Notifier } from "./alerts-sync";

const al = (seq: number, extra: Partial<AlertOut> = {}): AlertOut => ({ seq, run_id: "r1", run_name: "bert", time: 1000 + seq, kind: "nan", key: "loss", severity: "error", ...extra });

/** The server's alerts, answered by a stubbed fetch; the URLs asked are kept. */
let serverAlerts: AlertOut[] = [];
const asked: string[] = [];
vi.stubGlobal("fetch", async (url: string) => {
  asked.push(url);
  const after = Number(new URL(url, "http://t").searchParams.get("after_seq") ?? 0);
  const body = JSON.stringify({ alerts: serverAlerts.filter((a) => a.seq > after).sort((a, b) => b.seq - a.seq) });
  return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
});
const settle = () => new Promise((r) => setTimeout(r, 5));

function setup(hidden: boolean, permission: string) {
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
  const shown: string[] = [];
  const notifier: Notifier = { hidden: () => hidden, permission: () => permission, show: (title) => shown.push(title) };
  const store = createAlertsStore(0);
  live.connect();
  const stop = startAlertsSync(store, live, notifier);
  return { live, store, stop, sockets, timers, shown, seqs: () => store.get().list.map((a) => a.seq) };
}

afterEach(() => {
  serverAlerts = [];
  asked.length = 0;
});

describe("startAlertsSync", () => {
  it("reads the recent alerts, then adds pushed ones (every client, no subscription)", async () => {
    serverAlerts = [al(1), al(2)];
    const t = setup(false, "granted");
    t.sockets[0]!.open();
    await settle();
    expect(t.seqs()).toEqual([2, 1]);
    t.sockets[0]!.push({ type: "alert", alert: al(5) });
    t.sockets[0]!.push({ type: "alert", alert: al(5) }); // a duplicate
    await settle();
    expect(t.seqs()).toEqual([5, 2, 1]);
    expect(unseenCount(t.store.get().list, 0)).toBe(3);
    expect(t.shown).toEqual([]); // the tab is visible: no notification
    t.stop();
  });

  it("a pushed alert while the tab is hidden becomes one notification; read ones never do", async () => {
    serverAlerts = [al(1)];
    const t = setup(true, "granted");
    t.sockets[0]!.open();
    await settle();
    expect(t.shown).toEqual([]);
    t.sockets[0]!.push({ type: "alert", alert: al(2, { title: "loss is NaN" }) });
    t.sockets[0]!.push({ type: "alert", alert: al(2, { title: "loss is NaN" }) });
    expect(t.shown).toEqual(["✗ loss is NaN — bert"]);
    t.stop();
  });

  it("no notification without permission", async () => {
    const t = setup(true, "default");
    t.sockets[0]!.open();
    t.sockets[0]!.push({ type: "alert", alert: al(3) });
    await settle();
    expect(t.seqs()).toEqual([3]);
    expect(t.shown).toEqual([]);
    t.stop();
  });

  it("after a reconnect reads what came meanwhile", async () => {
    serverAlerts = [al(1)];
    const t = setup(false, "granted");
    t.sockets[0]!.open();
    await settle();
    t.sockets[0]!.drop();
    serverAlerts = [al(1), al(2), al(3)]; // fired while offline
    t.timers.shift()!();
    t.sockets[1]!.open();
    await settle();
    expect(t.seqs()).toEqual([3, 2, 1]);
    expect(asked.at(-1)).toContain("after_seq=1");
    t.stop();
  });

  it("a server without alerts says so in the store, not by throwing", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ error: { code: "not_found", message: "no such route" } }), { status: 404 }));
    const t = setup(false, "granted");
    await settle();
    expect(t.store.get().error).toContain("no such route");
    expect(t.store.get().loaded).toBe(true);
    t.stop();
  });
});
