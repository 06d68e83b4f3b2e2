// The small helpers of the alerts panel's rule form (the API's shapes: RuleIn, RuleOut,
// WebhookIn, WebhookOut in api/openapi.gen.ts).
import type { RuleOut } from "../api/client";

export const RULE_KINDS = ["nan", "spike", "plateau", "threshold", "stall", "heartbeat", "gpu_idle", "disk"] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

const HINTS: Record<RuleKind, string> = {
  nan: "{}",
  spike: '{"k": 6, "window": 100}',
  plateau: '{"steps": 1000, "min_delta": 0.001, "direction": "min"}',
  threshold: '{"op": "<", "value": 0.5, "after_step": 10000}',
  stall: '{"minutes": 10}',
  heartbeat: "{}",
  gpu_idle: '{"below": 10, "minutes": 5}',
  disk: '{"min_free_percent": 10}',
};

/** What the key box says when empty (the server's default for the kind), or null: the kind takes no key. */
const KEY_HINTS: Record<RuleKind, string | null> = {
  nan: "key (every key)",
  spike: "key, e.g. loss",
  plateau: "key, e.g. val/loss",
  threshold: "key, e.g. val/acc",
  stall: null,
  heartbeat: null,
  gpu_idle: "key (sys/*gpu*/util)",
  disk: "key (sys/*disk_percent)",
};

export function ruleKeyHint(kind: RuleKind): string | null {
  return KEY_HINTS[kind];
}

export function ruleParamsHint(kind: RuleKind): string {
  return HINTS[kind];
}

/** The params box: empty is `{}`, otherwise a JSON object. */
export function parseParams(text: string): { ok: true; params: Record<string, unknown> } | { ok: false; error: string } {
  const t = text.trim();
  if (!t) return { ok: true, params: {} };
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (e) {
    return { ok: false, error: `params: ${(e as Error).message}` };
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) return { ok: false, error: "params: a JSON object, e.g. {\"value\": 0.5}" };
  return { ok: true, params: v as Record<string, unknown> };
}

export function ruleScopeLabel(r: Pick<RuleOut, "project" | "run_id">): string {
  if (r.run_id) return `run ${r.run_id.slice(0, 8)}`;
  if (r.project) return `project ${r.project}`;
  return "every run";
}
