// Typed REST client. Every call is checked against `Paths`, generated from the server's
// OpenAPI schema (openapi.gen.ts), so a renamed field or route fails `tsc`, not a user.
import type { Paths } from "./openapi.gen";

export type { Paths };
export type * from "./openapi.gen";

type Method = "get" | "post" | "put" | "patch" | "delete";
type Op<P extends keyof Paths, M extends Method> = M extends keyof Paths[P] ? Paths[P][M] : never;
type Field<O, K extends string> = O extends Record<K, infer T> ? T : never;

export type Query<P extends keyof Paths, M extends Method = "get"> = Field<Op<P, M>, "query">;
export type Response<P extends keyof Paths, M extends Method = "get"> = Field<Op<P, M>, "response">;

export interface CallOptions<P extends keyof Paths, M extends Method> {
  path?: Field<Op<P, M>, "path">;
  query?: Field<Op<P, M>, "query">;
  body?: Field<Op<P, M>, "body">;
  signal?: AbortSignal;
}

/** A non-2xx answer: the server's `{"error": {"code", "message"}}`, or what we could tell. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Fill `{name}` segments of a route template (each value URI-encoded). */
export function fillPath(template: string, params: Record<string, unknown> | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined || value === null) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
}

/** `?a=1&b=x` from an object, leaving out undefined and null; an array repeats its name. */
export function queryString(query: Record<string, unknown> | undefined): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    for (const one of Array.isArray(v) ? (v as unknown[]) : [v]) {
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(one))}`);
    }
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/** The URL of a route, for links (downloads, images). */
export function url<P extends keyof Paths>(
  template: P,
  params?: Record<string, unknown>,
  query?: Record<string, unknown>,
): string {
  return fillPath(template, params) + queryString(query);
}

export async function call<P extends keyof Paths, M extends Method>(
  method: M,
  template: P,
  opts: CallOptions<P, M> = {},
): Promise<Response<P, M>> {
  const target =
    fillPath(template, opts.path as Record<string, unknown> | undefined) +
    queryString(opts.query as Record<string, unknown> | undefined);
  const init: RequestInit = {
    method: method.toUpperCase(),
    credentials: "same-origin",
    headers: { accept: "application/json" },
  };
  if (opts.signal) init.signal = opts.signal;
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers = { ...init.headers, "content-type": "application/json" };
  }
  const res = await fetch(target, init);
  if (res.status === 401 && typeof window !== "undefined") {
    const next = encodeURIComponent(window.location.pathname + window.location.search);
    window.location.assign(`/login?next=${next}`);
  }
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const data = (await res.json()) as { error?: { code?: string; message?: string } };
      if (data.error?.code) code = data.error.code;
      if (data.error?.message) message = data.error.message;
    } catch {
      /* not JSON: keep the status text */
    }
    throw new ApiError(res.status, code, message);
  }
  if (res.status === 204) return null as Response<P, M>;
  return (await res.json()) as Response<P, M>;
}

export const api = {
  get: <P extends keyof Paths>(p: P, o?: CallOptions<P, "get">) => call("get", p, o),
  post: <P extends keyof Paths>(p: P, o?: CallOptions<P, "post">) => call("post", p, o),
  patch: <P extends keyof Paths>(p: P, o?: CallOptions<P, "patch">) => call("patch", p, o),
  del: <P extends keyof Paths>(p: P, o?: CallOptions<P, "delete">) => call("delete", p, o),
};

/** A metric value as the server spells it (non-finite numbers as strings) → a number. */
export function toNumber(v: number | string | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  const n = Number(v);
  return Number.isNaN(n) ? null : n;
}
