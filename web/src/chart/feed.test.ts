import { describe, expect, it } from "vitest";
import type { BucketColumns } from "../api/client";
import { FakeSocket } from "../live/fake-socket";
import { LiveClient } from "../live/socket";
import { ChartFeed, type BucketQuery, type FeedReader } from "./feed";

const tick = () => new Promise((r) => setTimeout(r, 0));

/** The live client over the fake socket, connected and open. */
function connected() {
  const sockets: FakeSocket[] = [];
  const client = new LiveClient({
    url: "ws://test/ws",
    factory: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
  });
  client.connect();
  const sock = sockets[0]!;
  sock.open();
  const ack = (runId: string) => sock.push({ type: "subscribed", run_id: runId, cursor: { event_seq: 0, steps: {} } });
  const push = (runId: string, points: Record<string, Array<[number, number, number | string]>>) =>
    sock.push({ type: "metric_update", run_id: runId, points });
  return { client, sock, ack, push };
}

/** One bucket per point. */
function columns(points: Array<[number, number]>): BucketColumns {
  return {
    first_step: points.map(([s]) => s),
    last_step: points.map(([s]) => s),
    first_time: points.map(([s]) => 1000 + s),
    last_time: points.map(([s]) => 1000 + s),
    count: points.map(() => 1),
    min: points.map(([, v]) => v),
    max: points.map(([, v]) => v),
    mean: points.map(([, v]) => v),
    last: points.map(([, v]) => v),
    nan: points.map(() => 0),
    pinf: points.map(() => 0),
    ninf: points.map(() => 0),
  };
}

/** An in-memory server: per run its keys and `loss` points; reads wait until `answer()`. */
function memoryReader(data: Record<string, Array<[number, number]>>) {
  const queries: BucketQuery[] = [];
  const pending: Array<() => void> = [];
  let failures = 0;
  const reader: FeedReader = {
    keys: async (runId) => (runId in data ? ["loss", "acc"] : Promise.reject(new Error("gone"))),
    buckets: (q) =>
      new Promise((resolve, reject) => {
        queries.push(q);
        pending.push(() => {
          if (failures > 0) {
            failures -= 1;
            reject(new Error("server away"));
            return;
          }
          const out = new Map<string, BucketColumns | null>();
          for (const r of q.runs) {
            const pts = data[r];
            if (!pts) out.set(r, null);
            else out.set(r, columns(pts.filter(([s]) => !q.win || (s >= q.win.min && s <= q.win.max))));
          }
          resolve(out);
        });
      }),
  };
  return {
    reader,
    queries,
    answer: () => pending.splice(0).forEach((f) => f()),
    failNext: (n: number) => (failures = n),
  };
}

function recorder() {
  const log: string[] = [];
  return { log, listener: { redraw: () => log.push("redraw"), grew: () => log.push("grew"), status: () => log.push("status") } };
}

const steps = (f: ChartFeed, run: string) => {
  const s = f.series(run);
  return s ? s.s1.slice() : [];
};
const values = (f: ChartFeed, run: string) => f.series(run)?.last.slice() ?? [];

describe("ChartFeed", () => {
  it("subscribes, reads REST only after the ack, and merges points pushed meanwhile once", async () => {
    const { client, sock, ack, push } = connected();
    const mem = memoryReader({ r1: [[0, 1], [1, 0.9], [2, 0.8]] });
    const rec = recorder();
    const feed = new ChartFeed(client, mem.reader, rec.listener);
    feed.configure({ runs: ["r1"], key: "loss", axis: "step" });
    expect(sock.sent).toContainEqual({ type: "subscribe", run_id: "r1" });
    expect(feed.loading).toBe(true);
    await tick();
    expect(mem.queries).toHaveLength(0); // not before the ack
    ack("r1");
    await tick();
    expect(mem.queries).toEqual([{ runs: ["r1"], key: "loss", axis: "step", n: 1000, win: null }]);
    push("r1", { loss: [[2, 1002, 0.8], [3, 1003, 0.7]], acc: [[3, 1003, 0.5]] }); // step 2 is also in REST
    mem.answer();
    await tick();
    expect(feed.loading).toBe(false);
    expect(steps(feed, "r1")).toEqual([0, 1, 2, 3]); // no hole, no duplicate
    expect(values(feed, "r1")).toEqual([1, 0.9, 0.8, 0.7]);
    expect(feed.points()).toBe(4);
    expect(feed.keys()).toEqual(["acc", "loss"]);
    expect(rec.log).toContain("redraw");
    // later pushes go straight in and ask for a redraw on the next frame
    rec.log.length = 0;
    push("r1", { loss: [[4, 1004, "NaN"]] });
    expect(steps(feed, "r1")).toEqual([0, 1, 2, 3, 4]);
    expect(Number.isNaN(values(feed, "r1")[4])).toBe(true);
    expect(rec.log).toEqual(["grew"]);
    // pushes of other keys or other runs only add keys
    rec.log.length = 0;
    push("r1", { "val/loss": [[4, 1004, 0.3]] });
    push("r9", { loss: [[9, 1009, 9]] });
    expect(steps(feed, "r1")).toHaveLength(5);
    expect(feed.keys()).toEqual(["acc", "loss", "val/loss"]);
    expect(rec.log).toEqual(["status"]);
    feed.destroy();
    expect(sock.sent.at(-1)).toEqual({ type: "unsubscribe", run_id: "r1" });
  });

  it("keeps loading and says why while the server is away, then retries until a read succeeds", async () => {
    const { client, ack } = connected();
    const mem = memoryReader({ r1: [[0, 1]] });
    const feed = new ChartFeed(client, mem.reader, recorder().listener, () => 1000, { retryMinMs: 1, retryMaxMs: 4 });
    mem.failNext(2);
    feed.configure({ runs: ["r1"], key: "loss", axis: "step" });
    ack("r1");
    await tick();
    mem.answer();
    await tick();
    expect(feed.loading).toBe(true);
    expect(feed.error).toBe("server away");
    expect(feed.series("r1")).toBeUndefined();
    for (let i = 0; i < 50 && feed.loading; i++) {
      await new Promise((r) => setTimeout(r, 5));
      mem.answer();
      await tick();
    }
    expect(feed.loading).toBe(false);
    expect(feed.error).toBeNull();
    expect(steps(feed, "r1")).toEqual([0]);
    expect(mem.queries.length).toBe(3);
    feed.destroy();
  });

  it("reads anyway when the ack is slow, and again when it comes", async () => {
    const { client, ack } = connected();
    const mem = memoryReader({ r1: [[0, 1]] });
    const feed = new ChartFeed(client, mem.reader, recorder().listener, () => 1000, { readyTimeoutMs: 1 });
    feed.configure({ runs: ["r1"], key: "loss", axis: "step" });
    await new Promise((r) => setTimeout(r, 10));
    expect(mem.queries).toHaveLength(1);
    mem.answer();
    await tick();
    expect(steps(feed, "r1")).toEqual([0]);
    ack("r1");
    await tick();
    expect(mem.queries).toHaveLength(2); // writes between the read and the ack are in no cursor
    feed.destroy();
  });

  it("reads finer buckets for a zoom window, redraws only for pushes inside it, and drops them on reset", async () => {
    const { client, ack, push } = connected();
    const many: Array<[number, number]> = Array.from({ length: 100 }, (_, i) => [i, i / 100]);
    const mem = memoryReader({ r1: many });
    const rec = recorder();
    const feed = new ChartFeed(client, mem.reader, rec.listener);
    feed.configure({ runs: ["r1"], key: "loss", axis: "step" });
    ack("r1");
    await tick();
    mem.answer();
    await tick();
    const full = feed.series("r1");
    feed.setWindow({ min: 10, max: 20 });
    const read = feed.readWindow();
    expect(mem.queries.at(-1)).toMatchObject({ runs: ["r1"], key: "loss", win: { min: 10, max: 20 } });
    rec.log.length = 0;
    push("r1", { loss: [[100, 1100, 1]] }); // outside the window: no redraw
    expect(rec.log).toEqual([]);
    mem.answer();
    await read;
    expect(rec.log).toEqual(["redraw"]);
    const view = feed.series("r1")!;
    expect(view).not.toBe(full);
    expect(view.lastStep).toBe(100); // the point pushed while the read was in flight is kept
    feed.setWindow(null);
    expect(feed.series("r1")).toBe(full);
    feed.destroy();
  });

  it("changing runs unsubscribes the old one and forgets its keys; a read for old runs is dropped", async () => {
    const { client, sock, ack } = connected();
    const mem = memoryReader({ a: [[0, 1]], b: [[0, 2], [1, 3]] });
    const feed = new ChartFeed(client, mem.reader, recorder().listener);
    expect(feed.configure({ runs: ["a"], key: "loss", axis: "step" })).toBe(true);
    ack("a");
    await tick();
    expect(feed.configure({ runs: ["b"], key: "loss", axis: "step" })).toBe(true);
    expect(sock.sent).toContainEqual({ type: "unsubscribe", run_id: "a" });
    ack("b");
    await tick();
    mem.answer(); // answers both the read for a (stale) and for b
    await tick();
    expect(feed.series("a")).toBeUndefined();
    expect(steps(feed, "b")).toEqual([0, 1]);
    expect(feed.keys()).toEqual(["acc", "loss"]);
    expect(feed.configure({ runs: ["b"], key: "loss", axis: "step" })).toBe(false); // nothing to read again
    feed.destroy();
  });
});
