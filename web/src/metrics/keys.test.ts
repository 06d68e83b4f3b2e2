import { describe, expect, it } from "vitest";
import { FakeSocket } from "../live/fake-socket";
import { LiveClient } from "../live/socket";
import { KeyIndex } from "./keys";

const tick = () => new Promise((r) => setTimeout(r, 0));

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
  sockets[0]!.open();
  return { client, sock: sockets[0]! };
}

describe("metrics grid: the runs' keys", () => {
  it("reads each run's keys once, adds keys first seen live, forgets runs left", async () => {
    const { client, sock } = connected();
    const reads: string[] = [];
    let changes = 0;
    const data: Record<string, string[]> = { a: ["loss", "val/acc"], b: ["loss", "sys/cpu"] };
    const idx = new KeyIndex(client, { keys: async (id) => (reads.push(id), data[id] ?? Promise.reject(new Error("gone"))) }, () => changes++);
    idx.configure(["a", "b", "gone"]);
    await tick();
    expect(idx.keys().sort()).toEqual(["loss", "sys/cpu", "val/acc"]);
    await idx.keysOf("a"); // shared with the charts: no second read
    expect(reads.sort()).toEqual(["a", "b", "gone"]);
    const before = changes;
    sock.push({ type: "metric_update", run_id: "a", points: { "train/lr": [[5, 1, 0.1]] } });
    sock.push({ type: "metric_update", run_id: "zz", points: { other: [[5, 1, 0.1]] } }); // not followed
    expect(idx.keys().sort()).toEqual(["loss", "sys/cpu", "train/lr", "val/acc"]);
    expect(changes).toBe(before + 1);
    idx.configure(["b"]);
    expect(idx.keys().sort()).toEqual(["loss", "sys/cpu"]);
    idx.destroy();
  });

  it("reads the keys of runs added together in one read, each run alone when it fails", async () => {
    const { client } = connected();
    const many: string[][] = [];
    const single: string[] = [];
    const data: Record<string, string[]> = { a: ["loss", "val/acc"], b: ["loss", "sys/cpu"], c: ["lr"] };
    const reader = {
      keys: async (id: string) => (single.push(id), data[id] ?? Promise.reject(new Error("gone"))),
      keysMany: async (runs: string[]) => {
        many.push(runs);
        if (runs.some((r) => !data[r])) throw new Error("a run is gone");
        return new Map(runs.map((r) => [r, data[r]!]));
      },
    };
    const idx = new KeyIndex(client, reader, () => {});
    idx.configure(["a", "b"]);
    await tick();
    expect(many).toEqual([["a", "b"]]);
    expect(single).toEqual([]);
    expect(idx.keys().sort()).toEqual(["loss", "sys/cpu", "val/acc"]);
    expect(await idx.keysOf("b")).toEqual(["loss", "sys/cpu"]); // the charts share it
    idx.configure(["a", "b", "c", "gone"]); // the new runs together; one is gone
    await tick();
    await tick();
    expect(many).toEqual([["a", "b"], ["c", "gone"]]);
    expect(single.sort()).toEqual(["c", "gone"]);
    expect(idx.keys().sort()).toEqual(["loss", "lr", "sys/cpu", "val/acc"]);
    idx.configure(["a", "b", "c", "gone", "d"]); // one run added alone: its own read
    await tick();
    expect(many.length).toBe(2);
    expect(single).toContain("d");
    idx.destroy();
  });
});
