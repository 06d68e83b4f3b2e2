import { describe, expect, it, vi } from "vitest";

vi.mock("../state/app", () => ({ live: {} }));
const { startFeed } = await import("./events-live");

function fakeLive() {
  let ack: () => void = () => {};
  const subs: string[] = [];
  const unsubs: string[] = [];
  return {
    subs,
    unsubs,
    ack: () => ack(),
    client: {
      subscribeRun: (id: string) => {
        subs.push(id);
        return () => unsubs.push(id);
      },
      ready: () => new Promise<void>((r) => (ack = r)),
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("startFeed", () => {
  it("reads REST only after the ack, then replays buffered pushes in order", async () => {
    const f = fakeLive();
    const log: string[] = [];
    let emit: (p: number) => void = () => {};
    let loads = 0;
    let resolveLoad: (v: number[]) => void = () => {};
    startFeed(f.client, "r1", {
      listen: (e) => {
        emit = e;
        return [];
      },
      load: () => {
        loads += 1;
        return new Promise<number[]>((r) => (resolveLoad = r));
      },
      loaded: (d) => log.push(`rest ${d.join(",")}`),
      push: (p) => log.push(`push ${p}`),
    }, 60_000);
    expect(f.subs).toEqual(["r1"]);
    emit(1);
    await tick();
    expect(loads).toBe(0); // not before the ack
    f.ack();
    await tick();
    expect(loads).toBe(1);
    emit(2);
    emit(3);
    resolveLoad([0, 1, 2]);
    await tick();
    emit(4);
    expect(log).toEqual(["rest 0,1,2", "push 1", "push 2", "push 3", "push 4"]);
  });

  it("reads again when the ack comes after the wait gave up, and keeps only the newest read", async () => {
    const f = fakeLive();
    const log: string[] = [];
    const pending: Array<(v: number[]) => void> = [];
    startFeed(f.client, "r3", {
      listen: () => [],
      load: () => new Promise<number[]>((r) => pending.push(r)),
      loaded: (d) => log.push(`rest ${d.join(",")}`),
      push: () => {},
    }, 0);
    await new Promise((r) => setTimeout(r, 5));
    expect(pending).toHaveLength(1); // the socket is slow: read anyway
    f.ack();
    await tick();
    expect(pending).toHaveLength(2); // the ack came: read again (writes in between)
    pending[1]!([1, 2, 3]);
    await tick();
    pending[0]!([1]); // the older read answers last: ignored
    await tick();
    expect(log).toEqual(["rest 1,2,3"]);
  });

  it("applies nothing after stop, and unsubscribes", async () => {
    const f = fakeLive();
    const log: string[] = [];
    let emit: (p: number) => void = () => {};
    const stop = startFeed(f.client, "r2", {
      listen: (e) => {
        emit = e;
        return [() => log.push("unlisten")];
      },
      load: async () => [9],
      loaded: () => log.push("rest"),
      push: (p) => log.push(`push ${p}`),
    }, 60_000);
    stop();
    emit(1);
    f.ack();
    await tick();
    expect(log).toEqual(["unlisten"]);
    expect(f.unsubs).toEqual(["r2"]);
  });

  it("a failed read still lets pushes through and reports the error", async () => {
    const f = fakeLive();
    const log: string[] = [];
    let emit: (p: number) => void = () => {};
    startFeed(f.client, "r3", {
      listen: (e) => {
        emit = e;
        return [];
      },
      load: async () => {
        throw new Error("boom");
      },
      loaded: () => log.push("rest"),
      push: (p) => log.push(`push ${p}`),
      failed: (e) => log.push(`failed ${(e as Error).message}`),
    }, 60_000);
    emit(1);
    f.ack();
    await tick();
    await tick();
    expect(log).toEqual(["push 1", "failed boom"]);
  });
});
