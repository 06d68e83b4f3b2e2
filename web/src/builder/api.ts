// The builder's routes: templates (/api/configs), validation, launches and cancel.
// Types are the server's (openapi.gen.ts). Errors carry the server's `{"error": {"code", "message"}}` and, for an invalid config,
// its list of `{path, message}` wherever the answer puts it.
import { ApiError, type ConfigList, type ConfigOut, type ConfigSummary, type EstimateOut, type ExecutorList, type LaunchIn, type LaunchList, type LaunchOut, type ValidateIn, type ValidateOut } from "../api/client";

export type { ConfigSummary, EstimateOut, LaunchIn, LaunchOut, ValidateOut };

/** A template: its defaults, schema, presets (the generated ConfigOut). */
export type ConfigDetail = ConfigOut;

export interface ConfigErrorOut {
  path: string;
  message: string;
}

/** A failed call, with the config errors when the server listed them. */
export class BuilderError extends ApiError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly errors: ConfigErrorOut[],
  ) {
    super(status, code, message);
  }
}

export function configErrors(data: unknown): ConfigErrorOut[] {
  const pick = (v: unknown): ConfigErrorOut[] | null =>
    Array.isArray(v) && v.every((e) => e && typeof e === "object" && typeof (e as ConfigErrorOut).message === "string")
      ? (v as ConfigErrorOut[]).map((e) => ({ path: String(e.path ?? "$"), message: e.message }))
      : null;
  if (!data || typeof data !== "object") return [];
  const d = data as Record<string, unknown>;
  const err = d.error && typeof d.error === "object" ? (d.error as Record<string, unknown>) : {};
  return pick(d.errors) ?? pick(err.errors) ?? pick(err.details) ?? pick(d.detail) ?? [];
}

async function request<T>(method: "GET" | "POST", path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: { accept: "application/json" } };
  if (signal) init.signal = signal;
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, "content-type": "application/json" };
  }
  const res = await fetch(path, init);
  // A success must be JSON (an aborted read rejects here, as the fetch would have).
  if (res.ok) return (await res.json()) as T;
  let data: unknown = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  if (res.status === 401 && typeof window !== "undefined") {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
  }
  const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
  throw new BuilderError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? (res.statusText || `HTTP ${res.status}`), configErrors(data));
}

const enc = encodeURIComponent;

export const builderApi = {
  list: (signal?: AbortSignal) => request<ConfigList>("GET", "/api/configs", undefined, signal),
  get: (name: string, signal?: AbortSignal) => request<ConfigDetail>("GET", `/api/configs/${enc(name)}`, undefined, signal),
  validate: (name: string, body: ValidateIn, signal?: AbortSignal) =>
    request<ValidateOut>("POST", `/api/configs/${enc(name)}/validate`, body, signal),
  launch: (body: LaunchIn) => request<LaunchOut>("POST", "/api/launches", body),
  cancel: (runId: string) => request<Record<string, unknown>>("POST", `/api/runs/${enc(runId)}/cancel`),
  executors: (signal?: AbortSignal) => request<ExecutorList>("GET", "/api/executors", undefined, signal),
  launchesOf: (runId: string, signal?: AbortSignal) =>
    request<LaunchList>("GET", `/api/launches?run_id=${enc(runId)}`, undefined, signal),
};

const ENDED: ReadonlyArray<LaunchOut["status"]> = ["completed", "failed", "cancelled"];

/** How often the actions panel reads a remote launch again while it is live (its detail,
 *  "waiting for SSH…", "uploading 45%", "pending: Resources", changes without a run status change). */
export const LAUNCH_POLL_MS = 2000;

/** Whether a launch's line is worth reading again: live on an executor that reports a detail (not local). */
export function pollsLaunch(l: Pick<LaunchOut, "status" | "executor">): boolean {
  return l.executor !== "local" && ["queued", "starting", "running", "cancelling"].includes(l.status);
}

/** One line on a run's latest launch: its status, where it runs, process, restarts, exit,
 *  error, and while it is not ended the executor's live detail. */
export function describeLaunch(l: LaunchOut): string {
  const ended = ENDED.includes(l.status);
  const parts: string[] = [`launch ${l.status}`];
  if (l.executor !== "local") parts.push(l.host ? `${l.executor} on ${l.host}` : l.executor);
  if (l.pid !== null && !ended) parts.push(`pid ${l.pid}`);
  if (l.restarts > 0) parts.push(`restarts ${l.restarts}`);
  if (l.exit_code !== null) parts.push(`exit ${l.exit_code}`);
  if (l.error) parts.push(l.error);
  if (l.detail && !ended) parts.push(l.detail);
  return parts.join(" · ");
}

/** What a run's `launch_spec` says about how it was launched (every field optional). */
export interface LaunchSpec {
  template: string | null;
  overrides: string[];
  preset: string | null;
  executor: string | null;
  /** ssh: the host it ran on; slurm: its login node (null: this machine). */
  host: string | null;
  resources: Record<string, unknown>;
}

export function readLaunchSpec(spec: Record<string, unknown> | null | undefined): LaunchSpec | null {
  if (!spec || typeof spec !== "object") return null;
  const str = (v: unknown) => (typeof v === "string" && v ? v : null);
  const resources = spec.resources && typeof spec.resources === "object" && !Array.isArray(spec.resources) ? (spec.resources as Record<string, unknown>) : {};
  return {
    template: str(spec.template),
    overrides: Array.isArray(spec.overrides) ? spec.overrides.filter((o): o is string => typeof o === "string") : [],
    preset: str(spec.preset),
    executor: str(spec.executor),
    host: str(spec.host),
    resources,
  };
}
