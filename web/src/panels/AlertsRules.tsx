// Rules and webhooks, managed from the alerts panel (issue 12 §4): a compact form each
// (POST /api/rules, /api/webhooks), the current ones listed with a delete button.
import { useEffect, useState } from "react";
import { useApp } from "../state/app";
import { api, type RuleIn, type RuleOut, type WebhookIn, type WebhookOut } from "../api/client";
import { parseParams, RULE_KINDS, ruleKeyHint, ruleParamsHint, ruleScopeLabel, type RuleKind } from "./rules-model";

export function AlertsRules() {
  const focusedRun = useApp((s) => (s.focused ? (s.runs.get(s.focused) ?? null) : null));
  const [rules, setRules] = useState<RuleOut[]>([]);
  const [hooks, setHooks] = useState<WebhookOut[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [gen, setGen] = useState(0);
  const [scope, setScope] = useState<"project" | "run">("project");
  const [kind, setKind] = useState<RuleKind>("nan");
  const [key, setKey] = useState("");
  const [params, setParams] = useState("");
  const [severity, setSeverity] = useState("warning");
  const [cooldown, setCooldown] = useState("300");
  const [url, setUrl] = useState("");
  const [format, setFormat] = useState("json");

  useEffect(() => {
    const ctl = new AbortController();
    Promise.all([
      api.get("/api/rules", { signal: ctl.signal }),
      api.get("/api/webhooks", { signal: ctl.signal }),
    ])
      .then(([r, w]) => {
        setRules(r.rules ?? []);
        setHooks(w.webhooks ?? []);
      })
      .catch((e: Error) => {
        if (!ctl.signal.aborted) setError(e.message);
      });
    return () => ctl.abort();
  }, [gen]);

  const act = (p: Promise<unknown>) =>
    p.then(
      () => {
        setError(null);
        setGen((g) => g + 1);
      },
      (e: Error) => setError(e.message),
    );

  const parsed = parseParams(params);
  const addRule = () => {
    if (!parsed.ok) return setError(parsed.error);
    if (!focusedRun) return setError("open a run first: the rule applies to its project or to it");
    const body: RuleIn = { kind, params: parsed.params, severity: severity as RuleIn["severity"] };
    if (scope === "run") body.run_id = focusedRun.id;
    else body.project = focusedRun.project;
    if (key.trim() && ruleKeyHint(kind) !== null) body.key = key.trim();
    const cd = Number(cooldown);
    if (cooldown.trim() && Number.isFinite(cd)) body.cooldown_s = cd;
    void act(api.post("/api/rules", { body }));
  };
  const addHook = () => {
    if (!url.trim()) return setError("a webhook needs a URL");
    void act(api.post("/api/webhooks", { body: { url: url.trim(), format: format as WebhookIn["format"] } }).then(() => setUrl("")));
  };

  return (
    <div className="al-rules" data-testid="alerts-rules">
      {error && <div className="bad" data-testid="rules-error">{error}</div>}
      <h4>rules</h4>
      <div className="al-form">
        <select aria-label="scope" value={scope} onChange={(e) => setScope(e.target.value as "project" | "run")}>
          <option value="project">project {focusedRun?.project ?? "(open a run)"}</option>
          <option value="run">run {focusedRun?.name ?? "(open a run)"}</option>
        </select>
        <select aria-label="kind" data-testid="rule-kind" value={kind} onChange={(e) => setKind(e.target.value as RuleKind)}>
          {RULE_KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <input
          aria-label="metric key"
          data-testid="rule-key"
          placeholder={ruleKeyHint(kind) ?? "no key"}
          disabled={ruleKeyHint(kind) === null}
          title="the metric, or a glob (train/*)"
          value={ruleKeyHint(kind) === null ? "" : key}
          size={14}
          onChange={(e) => setKey(e.target.value)}
          spellCheck={false}
        />
        <input
          aria-label="params"
          data-testid="rule-params"
          className="al-params"
          placeholder={ruleParamsHint(kind)}
          title={parsed.ok ? `params, JSON, e.g. ${ruleParamsHint(kind)}` : parsed.error}
          value={params}
          onChange={(e) => setParams(e.target.value)}
          spellCheck={false}
        />
        <select aria-label="severity" value={severity} onChange={(e) => setSeverity(e.target.value)}>
          <option value="info">info</option>
          <option value="warning">warning</option>
          <option value="error">error</option>
        </select>
        <input aria-label="cool-down seconds" title="cool-down (s)" value={cooldown} size={4} onChange={(e) => setCooldown(e.target.value)} />
        <button type="button" data-testid="rule-add" onClick={addRule} disabled={!parsed.ok}>
          + rule
        </button>
      </div>
      {rules.map((r) => (
        <div key={r.id} className="al-item" data-testid="rule" data-rule-id={r.id}>
          <span className="warn">{r.kind}</span>
          <span>{r.key ?? ""}</span>
          <span className="dim">{JSON.stringify(r.params ?? {})}</span>
          <span className="dim">{ruleScopeLabel(r)}</span>
          <span className="dim">
            {r.severity} · {r.cooldown_s}s
          </span>
          <button type="button" title="delete the rule" onClick={() => void act(api.del("/api/rules/{rule_id}", { path: { rule_id: r.id } }))}>
            ✕
          </button>
        </div>
      ))}
      {rules.length === 0 && <div className="muted">no rules</div>}
      <h4>webhooks</h4>
      <div className="al-form">
        <input aria-label="webhook URL" data-testid="webhook-url" className="al-url" placeholder="https://hooks.example.com/…" value={url} onChange={(e) => setUrl(e.target.value)} spellCheck={false} />
        <select aria-label="format" value={format} onChange={(e) => setFormat(e.target.value)}>
          <option value="json">json</option>
          <option value="slack">slack</option>
          <option value="discord">discord</option>
        </select>
        <button type="button" data-testid="webhook-add" onClick={addHook}>
          + webhook
        </button>
      </div>
      {hooks.map((h) => (
        <div key={h.id} className="al-item" data-testid="webhook">
          <span>{h.url}</span>
          <span className="dim">{h.format}</span>
          <button type="button" title="delete the webhook" onClick={() => void act(api.del("/api/webhooks/{webhook_id}", { path: { webhook_id: h.id } }))}>
            ✕
          </button>
        </div>
      ))}
      {hooks.length === 0 && <div className="muted">no webhooks</div>}
    </div>
  );
}
