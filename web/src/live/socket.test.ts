import { describe, expect, it } from "vitest";
import { LiveClient } from "./socket";
import { FakeSocket } from "./fake-socket";

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: Array<{ fn: () => void; ms: number; id: number; cleared: boolean }> = [];
  let next = 0;
  const client = new LiveClient({
    url: "ws://test/ws",
    factory: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    timers: {
      setTimeout: (fn, ms) => {
        const t = { fn, ms, id: next++, cleared: false };
        timers.push(t);
        return t.id;
      },
      clearTimeout: (id) => {
        const t = timers.find((x) => x.id === id);
        if (t) t.cleared = true;
      },
    },
    minDelay: 100,
    maxDelay: 1000,
    random: () => 1, // no jitter: delay = base
  });
  const fire = () => {
    const due = timers.filter((t) => !t.cleared);
    timers.length = 0;
    due.forEach((t) => t.fn());
    return due.map((t) => t.ms);
  };
  return { client, sockets, fire, last: () => sockets[sockets.length - 1]! };
}

describe("LiveClient", () => {
  it("subscribes on open and resolves ready() at the server's ack", async () => {
    const { client, last } = harness();
    client.connect();
    const off = client.subscribeRun("r1");
    let ready = false;
    const p = client.ready({ run_id: "r1" }).then(() => (ready = true));
    last().open();
    expect(last().sent).toEqual([{ type: "subscribe", run_id: "r1" }]);
    await Promise.resolve();
    expect(ready).toBe(false);
    last().push({ type: "subscribed", run_id: "r1", cursor: { event_seq: 7, steps: { loss: 10 } } });
    await p;
    expect(ready).toBe(true);
    off();
    expect(last().sent.at(-1)).toEqual({ type: "unsubscribe", run_id: "r1" });
  });

  it("reference-counts subscriptions", () => {
    const { client, last } = harness();
    client.connect();
    last().open();
    const a = client.subscribeRun("r1");
    const b = client.subscribeRun("r1");
    expect(last().sent.filter((m) => m.type === "subscribe")).toHaveLength(1);
    a();
    a(); // twice is harmless
    expect(last().sent.filter((m) => m.type === "unsubscribe")).toHaveLength(0);
    b();
    expect(last().sent.filter((m) => m.type === "unsubscribe")).toHaveLength(1);
  });

  it("reconnects with backoff and resumes from the cursor it saw: no holes, no duplicates", () => {
    const { client, sockets, fire, last } = harness();
    const states: string[] = [];
    client.onState((s) => states.push(s));
    client.connect();
    client.subscribeRun("r1");
    client.subscribeProject("*");
    last().open();
    last().push({ type: "subscribed", run_id: "r1", cursor: { event_seq: 3, steps: { loss: 5 } } });
    last().push({ type: "subscribed", project: "*", cursor: { event_seq: 3, steps: {} } });
    last().push({
      type: "metric_update",
      run_id: "r1",
      points: { loss: [[6, 1.0, 0.5], [7, 1.1, "NaN"]], acc: [[7, 1.1, 0.1]] },
    });
    last().push({ type: "event", event: { seq: 9, run_id: "r1", time: 1, kind: "note", payload: {} } });
    last().push({ type: "log", run_id: "r1", lines: [{ seq: 4, time: 1, stream: "stdout", text: "hi" }] });

    last().drop();
    expect(client.state).toBe("connecting");
    expect(fire()).toEqual([100]); // first retry after minDelay
    expect(sockets).toHaveLength(2);
    last().drop(); // the retry fails too: the next wait doubles
    expect(fire()).toEqual([200]);
    last().open();
    expect(states).toEqual(["connecting", "open", "connecting", "open"]);
    const subs = last().sent.filter((m) => m.type === "subscribe");
    expect(subs).toContainEqual({
      type: "subscribe",
      run_id: "r1",
      since: { steps: { loss: 7, acc: 7 }, event_seq: 9, log_seq: 4 },
    });
    expect(subs).toContainEqual({ type: "subscribe", project: "*", since: { steps: {}, event_seq: 9 } });
  });

  it("keeps the highest step per key, whatever order updates come in", () => {
    const { client, last } = harness();
    client.connect();
    client.subscribeRun("r1");
    last().open();
    last().push({ type: "subscribed", run_id: "r1", cursor: { event_seq: 0, steps: {} } });
    last().push({ type: "metric_update", run_id: "r1", points: { loss: [[10, 0, 1]] } });
    last().push({ type: "metric_update", run_id: "r1", points: { loss: [[4, 0, 1]] } });
    expect(client.cursor({ run_id: "r1" })?.steps).toEqual({ loss: 10 });
  });

  it("closes and reconnects when the server says the client is too slow", () => {
    const { client, sockets, fire, last } = harness();
    client.connect();
    last().open();
    last().push({ type: "error", code: "too_slow", message: "read faster" });
    expect(sockets[0]!.closed).toBe(true);
    fire();
    expect(sockets).toHaveLength(2);
  });

  it("stops for good on close(), and delivers messages to listeners by type", () => {
    const { client, sockets, fire, last } = harness();
    const got: string[] = [];
    client.on("run_update", (m) => got.push(m.run.id));
    client.connect();
    last().open();
    last().push({ type: "run_update", run: { id: "abc" } });
    last().push({ type: "pong", id: 1 });
    expect(got).toEqual(["abc"]);
    client.close();
    expect(client.state).toBe("closed");
    expect(fire()).toEqual([]);
    expect(sockets).toHaveLength(1);
  });
});
