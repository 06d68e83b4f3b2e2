import { describe, expect, it } from "vitest";
import {
  alertDetail, alertTitle, badgeText, createAlertsStore, loadSeen, markSeen, mergeAlerts, notificationOf, SEEN_KEY, shouldNotify, unseenCount, worstUnseen,
  type AlertOut,
} from "./alerts-model";
import { parseParams, RULE_KINDS, ruleKeyHint, ruleParamsHint } from "./rules-model";

const al = (seq: number, severity = "warning", extra: Partial<AlertOut> = {}): AlertOut => ({ seq, run_id: `r${seq}`, time: 1000 + seq, kind: "nan", severity, ...extra });

function memStorage(): Storage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
    clear: () => m.clear(),
    key: () => null,
    get length() {
      return m.size;
    },
  };
}

describe("alerts", () => {
  it("merge keeps newest first, drops duplicates and caps", () => {
    const a = mergeAlerts([], [al(3), al(1)]);
    expect(a.map((x) => x.seq)).toEqual([3, 1]);
    const b = mergeAlerts(a, [al(2), al(3), al(5)]);
    expect(b.map((x) => x.seq)).toEqual([5, 3, 2, 1]);
    expect(mergeAlerts(b, [al(5)])).toBe(b); // nothing new: the same list
    expect(mergeAlerts(b, [al(9)], 3).map((x) => x.seq)).toEqual([9, 5, 3]);
  });

  it("counts the alerts newer than the newest seen, coloured by the worst", () => {
    const list = mergeAlerts([], [al(1, "error"), al(2, "info"), al(3, "warning")]);
    expect(unseenCount(list, 0)).toBe(3);
    expect(unseenCount(list, 2)).toBe(1);
    expect(unseenCount(list, 3)).toBe(0);
    expect(worstUnseen(list, 0)).toBe("error");
    expect(worstUnseen(list, 1)).toBe("warning");
    expect(worstUnseen(list, 3)).toBeNull();
    expect(badgeText(0)).toBe("");
    expect(badgeText(7)).toBe("7");
    expect(badgeText(100)).toBe("99+");
  });

  it("seeing the panel marks everything seen, remembered across page loads", () => {
    const storage = memStorage();
    const store = createAlertsStore(loadSeen(storage));
    store.set({ list: mergeAlerts([], [al(4), al(7)]) });
    expect(unseenCount(store.get().list, store.get().seenSeq)).toBe(2);
    markSeen(store, storage);
    expect(unseenCount(store.get().list, store.get().seenSeq)).toBe(0);
    expect(storage.getItem(SEEN_KEY)).toBe("7");
    // a new page: the same alerts are not new again, a newer one is
    const again = createAlertsStore(loadSeen(storage));
    again.set({ list: mergeAlerts([], [al(4), al(7), al(8)]) });
    expect(unseenCount(again.get().list, again.get().seenSeq)).toBe(1);
    // the seen seq never goes back (an older list shown later)
    again.set({ list: [al(2)] });
    markSeen(again, storage);
    expect(again.get().seenSeq).toBe(7);
  });

  it("a corrupt remembered value counts as nothing seen", () => {
    const storage = memStorage();
    storage.setItem(SEEN_KEY, "bogus");
    expect(loadSeen(storage)).toBe(0);
    expect(loadSeen(null)).toBe(0);
  });

  it("notifies only live alerts while the tab is hidden and notifications are allowed", () => {
    expect(shouldNotify({ live: true, hidden: true, permission: "granted" })).toBe(true);
    expect(shouldNotify({ live: true, hidden: false, permission: "granted" })).toBe(false);
    expect(shouldNotify({ live: true, hidden: true, permission: "default" })).toBe(false);
    expect(shouldNotify({ live: true, hidden: true, permission: "denied" })).toBe(false);
    expect(shouldNotify({ live: false, hidden: true, permission: "granted" })).toBe(false);
  });

  it("texts name what fired, the value at its step and the run", () => {
    const rule = al(5, "error", { kind: "nan", key: "loss", value: "NaN", step: 120, run_name: "bert-base" });
    expect(alertTitle(rule)).toBe("nan loss");
    expect(alertDetail(rule)).toBe("loss = NaN at step 120");
    const n = notificationOf(rule);
    expect(n.title).toBe("✗ nan loss — bert-base");
    expect(n.body).toBe("loss = NaN at step 120");
    const sdk = al(6, "info", { kind: "sdk", title: "epoch done", text: "val 0.91" });
    expect(alertTitle(sdk)).toBe("epoch done");
    expect(alertDetail(sdk)).toBe("val 0.91");
    expect(notificationOf(sdk).title).toBe("● epoch done — r6");
  });
});

describe("the rule form", () => {
  it("takes params as a JSON object (empty: none) and knows which kinds take no key", () => {
    expect(parseParams("")).toEqual({ ok: true, params: {} });
    expect(parseParams(' {"value": 0.5, "op": "<"} ')).toEqual({ ok: true, params: { value: 0.5, op: "<" } });
    for (const bad of ["{nope", "[1]", "3", "null"]) expect(parseParams(bad).ok).toBe(false);
    for (const k of RULE_KINDS) expect(parseParams(ruleParamsHint(k)).ok).toBe(true); // every example is valid
    expect(ruleKeyHint("stall")).toBeNull();
    expect(ruleKeyHint("heartbeat")).toBeNull();
    expect(ruleKeyHint("threshold")).toContain("key");
  });
});
