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
});
