// The builder's state: the templates, the chosen one, its preset, the form's edits and
// hand-typed overrides, the server's (debounced) validation, the estimate, where it runs
// (executor, host, resources: see target.ts), and launching.
import { useEffect, useMemo, useRef, useState } from "react";
import { builderApi, BuilderError, type ConfigDetail, type ConfigSummary, type EstimateOut, type LaunchOut, type ValidateOut } from "./api";
import { applyOverrides, editsFromConfig, editsToOverrides, overridesToEdits, type Config } from "./overrides";
import type { Prefill } from "./route";
import { LOCAL, checkTarget, defaultExecutor, findExecutor, hostAfterSwitch, rowsFrom, type ExecutorOut, type ResourceRow } from "./target";

export const VALIDATE_DELAY_MS = 250;

const errText = (e: unknown) => (e instanceof BuilderError ? e.message : (e as Error).message);

export function useBuilder(prefill: Prefill | null, seq: number) {
  const [templates, setTemplates] = useState<ConfigSummary[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [name, setName] = useState<string | null>(null);
  const [detail, setDetail] = useState<ConfigDetail | null>(null);
  const [detailError, setDetailError] = useState<string | null>(null);
  const [preset, setPreset] = useState<string | null>(null);
  const [edits, setEdits] = useState<Map<string, unknown>>(new Map());
  const [extra, setExtra] = useState<string[]>([]);
  const [runName, setRunName] = useState("");
  const [executors, setExecutors] = useState<ExecutorOut[] | null>(null);
  const [executorsError, setExecutorsError] = useState<string | null>(null);
  const [executor, setExecutorName] = useState<string | null>(null);
  const [host, setHost] = useState<string | null>(null);
  const [resources, setResources] = useState<ResourceRow[]>([]);
  const [check, setCheck] = useState<{ key: string; out: ValidateOut | null; error: string | null } | null>(null);
  const [estimate, setEstimate] = useState<{ key: string; out: EstimateOut | null; error: string | null; busy: boolean } | null>(null);
  const [launching, setLaunching] = useState(false);
  const [launchError, setLaunchError] = useState<string | null>(null);
  const pending = useRef<Prefill | null>(null);

  useEffect(() => {
    const ctl = new AbortController();
    builderApi.list(ctl.signal).then(
      (r) => setTemplates(r.configs),
      (e) => ctl.signal.aborted || setListError(errText(e)),
    );
    // Where launches can run; a server without the list runs them here.
    builderApi.executors(ctl.signal).then(
      (r) => setExecutors(r.executors),
      (e) => {
        if (ctl.signal.aborted) return;
        setExecutors([LOCAL]);
        setExecutorsError(`the server lists no executors (${errText(e)}): local only`);
      },
    );
    return () => ctl.abort();
  }, []);

  // A (new) prefill: pick its template; the rest applies once that template's detail is in.
  useEffect(() => {
    pending.current = prefill;
    if (prefill) {
      setExecutorName(prefill.executor);
      setHost(prefill.host);
      setResources(rowsFrom(prefill.resources));
    }
    if (prefill?.template && prefill.template === name && detail) applyPrefill(detail);
    else if (prefill?.template) pick(prefill.template, true);
    else if (prefill && detail) applyPrefill(detail);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [seq]);

  const applyPrefill = (d: ConfigDetail) => {
    const p = pending.current;
    if (!p) return;
    pending.current = null;
    if (p.template) {
      const { edits: e, extra: x } = overridesToEdits(p.overrides);
      setPreset(p.preset && p.preset in d.presets ? p.preset : null);
      setEdits(e);
      setExtra(x);
    } else if (p.config) {
      setPreset(null);
      setEdits(editsFromConfig(d.config, p.config));
      setExtra([]);
    }
  };

  const pick = (n: string | null, keepPending = false) => {
    if (!keepPending) pending.current = pending.current?.template ? null : pending.current;
    setName(n);
    setDetail(null);
    setDetailError(null);
    setPreset(null);
    setEdits(new Map());
    setExtra([]);
    setCheck(null);
    setEstimate(null);
    setLaunchError(null);
  };

  useEffect(() => {
    if (!name) return;
    const ctl = new AbortController();
    builderApi.get(name, ctl.signal).then(
      (d) => {
        setDetail(d);
        applyPrefill(d);
      },
      (e) => ctl.signal.aborted || setDetailError(errText(e)),
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [name]);

  const defaults: Config = detail?.config ?? {};
  const base = useMemo(() => applyOverrides(defaults, (preset && detail?.presets[preset]) || []).config, [detail, preset]); // eslint-disable-line react-hooks/exhaustive-deps
  const overrides = useMemo(() => [...editsToOverrides(base, edits), ...extra], [base, edits, extra]);
  const preview = useMemo(() => applyOverrides(base, overrides).config, [base, overrides]);
  const key = JSON.stringify([name, preset, overrides]);

  // Validate on every change, debounced; a newer change cancels an older request.
  useEffect(() => {
    if (!detail || !name) return;
    const ctl = new AbortController();
    const t = setTimeout(() => {
      builderApi.validate(name, { overrides, preset, estimate: false }, ctl.signal).then(
        (out) => setCheck({ key, out, error: null }),
        (e) => ctl.signal.aborted || setCheck({ key, out: null, error: errText(e) }),
      );
    }, VALIDATE_DELAY_MS);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, detail]);

  const runEstimate = () => {
    if (!name) return;
    const k = key;
    setEstimate({ key: k, out: null, error: null, busy: true });
    builderApi.validate(name, { overrides, preset, estimate: true }).then(
      (out) => {
        setEstimate({ key: k, out: out.estimate, error: out.estimate ? null : out.valid ? "this template has no estimate hook" : "fix the config first", busy: false });
        setCheck({ key: k, out, error: null });
      },
      (e) => setEstimate({ key: k, out: null, error: errText(e), busy: false }),
    );
  };

  const edit = (path: string, value: unknown) => setEdits((m) => new Map(m).set(path, value));
  const resetEdits = () => {
    setEdits(new Map());
    setExtra([]);
  };

  // The executor shown: the one chosen (or cloned), else the server's default once listed.
  const offered = executors ?? [];
  const executorName = executor ?? defaultExecutor(offered);
  const executorOut = findExecutor(offered, executorName);
  const target = useMemo(() => checkTarget(offered, { executor: executorName, host, rows: resources }), [executors, executorName, host, resources]); // eslint-disable-line react-hooks/exhaustive-deps
  const setExecutor = (n: string) => {
    setExecutorName(n);
    setHost((h) => hostAfterSwitch(findExecutor(offered, n), h));
  };

  const launch = async (): Promise<LaunchOut | null> => {
    if (!name || launching || !executors || !target.ok) return null;
    setLaunching(true);
    setLaunchError(null);
    try {
      return await builderApi.launch({
        template: name, overrides, preset, name: runName.trim() || null, ...target.body,
      });
    } catch (e) {
      if (e instanceof BuilderError && e.errors.length) {
        setCheck({ key, out: { valid: false, config: preview, overrides, errors: e.errors, estimate: null }, error: null });
      }
      setLaunchError(errText(e));
      return null;
    } finally {
      setLaunching(false);
    }
  };

  const current = check && check.key === key ? check : null;
  return {
    templates, listError, name, pick, detail, detailError, preset, setPreset, edits, edit, resetEdits, extra, setExtra,
    key, overrides, defaults, base, preview, check: current, checking: !!detail && !current, estimate: estimate && estimate.key === key ? estimate : null,
    runEstimate, runName, setRunName, launch, launching, launchError,
    executors, executorsError, executor: executorName, executorOut, setExecutor, host, setHost, resources, setResources, target,
  };
}

export type BuilderModel = ReturnType<typeof useBuilder>;
