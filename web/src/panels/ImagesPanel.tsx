// The images panel: the focused run's logged images by key, a step slider that snaps to
// the steps that have images, and the images at that step; follows the newest step while
// the slider is at the end; live via `event` kind media_logged.
import { useEffect, useMemo, useState } from "react";
import { useActions } from "../state/actions";
import { live, useApp } from "../state/app";
import { useReconnects, useRunFeed } from "./events-live";
import { api, type Query } from "../api/client";
import { imagesAt, isSmall, mergeKeys, mergeMedia, snapStep, stepsFor, type MediaItem, type MediaListOut } from "./images-model";
import type { PanelProps } from "./types";
import "./ImagesPanel.css";


interface Logged {
  key: string;
  step: number;
}

interface State {
  run: string | null;
  keys: string[];
  media: MediaItem[];
  loadedKeys: string[];
  error: string | null;
  loading: boolean;
}
const empty = (run: string | null): State => ({ run, keys: [], media: [], loadedKeys: [], error: null, loading: true });

export function ImagesPanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const reconnects = useReconnects();
  const [st, setSt] = useState<State>(() => empty(null));
  const [key, setKey] = useState<string | null>(null);
  const [step, setStep] = useState<number | null>(null);
  const [follow, setFollow] = useState(true);

  const fetchKey = async (id: string, k: string, range?: { min: number; max: number }) => {
    const q: Query<"/api/runs/{run_id}/media"> = { key: k, limit: 10000 };
    if (range) {
      q.step_min = range.min;
      q.step_max = range.max;
    }
    const out = await api.get("/api/runs/{run_id}/media", { path: { run_id: id }, query: q });
    setSt((s) =>
      s.run === id
        ? { ...s, keys: mergeKeys(s.keys, out.keys), media: mergeMedia(s.media, out.media), loadedKeys: range || s.loadedKeys.includes(k) ? s.loadedKeys : [...s.loadedKeys, k] }
        : s,
    );
  };

  useRunFeed<Logged, MediaListOut>(focused, reconnects, () => {
    const id = focused;
    setSt((s) => (s.run === id ? { ...s, loading: true, loadedKeys: [] } : empty(id)));
    return {
      listen: (emit) => [
        live.on("event", (m) => {
          const e = m.event;
          if (e.run_id !== id || e.kind !== "media_logged") return;
          const k = e.payload.key;
          const stp = e.payload.step;
          if (typeof k === "string" && typeof stp === "number") emit({ key: k, step: stp });
        }),
      ],
      load: (signal) => api.get("/api/runs/{run_id}/media", { path: { run_id: id! }, query: { limit: 1 }, signal }),
      loaded: (out) => setSt((s) => ({ ...(s.run === id ? s : empty(id)), keys: mergeKeys(s.run === id ? s.keys : [], out.keys), loading: false, error: null })),
      push: (p) => {
        setSt((s) => (s.run === id ? { ...s, keys: mergeKeys(s.keys, [p.key]) } : s));
        void fetchKey(id!, p.key, { min: p.step, max: p.step }).catch(() => {});
      },
      failed: (e) => setSt((s) => ({ ...(s.run === id ? s : empty(id)), loading: false, error: (e as Error).message })),
    };
  });

  const keys = st.run === focused ? st.keys : [];
  const activeKey = key !== null && keys.includes(key) ? key : (keys[0] ?? null);

  // Read every image row of the selected key once (per run, per reconnect).
  useEffect(() => {
    if (!focused || !activeKey || st.run !== focused || st.loadedKeys.includes(activeKey)) return;
    void fetchKey(focused, activeKey).catch((e: unknown) => setSt((s) => ({ ...s, error: (e as Error).message })));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focused, activeKey, st.run, st.loadedKeys]);

  useEffect(() => {
    setFollow(true);
    setStep(null);
  }, [focused, activeKey]);

  const media = st.run === focused ? st.media : [];
  const steps = useMemo(() => (activeKey ? stepsFor(media, activeKey) : []), [media, activeKey]);
  const last = steps[steps.length - 1] ?? null;
  const current = follow || step === null ? last : snapStep(steps, step);
  const images = activeKey ? imagesAt(media, activeKey, current) : [];
  const idx = current === null ? -1 : steps.indexOf(current);

  const go = (s: number | null) => {
    if (s === null) return;
    setStep(s);
    setFollow(s === last);
  };

  useActions(
    () => [
      { id: "images.prev", title: "Images: previous step", group: "Images", enabled: idx > 0, run: () => go(steps[idx - 1] ?? null) },
      { id: "images.next", title: "Images: next step", group: "Images", enabled: idx >= 0 && idx < steps.length - 1, run: () => go(steps[idx + 1] ?? null) },
      { id: "images.latest", title: "Images: newest step (follow)", group: "Images", enabled: steps.length > 0, run: () => go(last) },
    ],
    [steps, idx, last],
  );

  if (!focused) return <div className="muted img-empty">select a run</div>;

  return (
    <div className="img-panel">
      <div className="img-bar">
        <select aria-label="image key" data-testid="image-key" value={activeKey ?? ""} onChange={(e) => setKey(e.target.value)} disabled={!keys.length}>
          {keys.length === 0 && <option value="">no images</option>}
          {keys.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <button type="button" disabled={idx <= 0} onClick={() => go(steps[idx - 1] ?? null)} title="previous step">
          ◀
        </button>
        <input
          type="range"
          data-testid="image-step"
          className="img-slider"
          min={steps[0] ?? 0}
          max={last ?? 0}
          step={1}
          value={current ?? 0}
          disabled={steps.length < 2}
          onChange={(e) => go(snapStep(steps, Number(e.target.value)))}
          aria-label="image step"
        />
        <button type="button" disabled={idx < 0 || idx >= steps.length - 1} onClick={() => go(steps[idx + 1] ?? null)} title="next step">
          ▶
        </button>
        <span className="img-step">
          step <b>{current ?? "–"}</b>
          <span className="dim"> ({idx + 1}/{steps.length})</span>
        </span>
        {follow ? <span className="good img-live">● follow</span> : (
          <button type="button" onClick={() => go(last)} title="jump to the newest step and follow">
            ⇥ newest
          </button>
        )}
        {st.error && <span className="bad">{st.error}</span>}
      </div>
      <div className="img-gallery" data-testid="image-gallery" data-step={current ?? ""} data-key={activeKey ?? ""}>
        {images.length === 0 && <div className="muted img-empty">{st.loading ? "loading…" : keys.length ? "no images at this step" : "no images logged"}</div>}
        {images.map((m) => (
          <figure key={String(m.id)} className="img-fig">
            <img
              src={m.url}
              alt={m.caption ?? `${m.key} step ${m.step}`}
              width={m.width ?? undefined}
              height={m.height ?? undefined}
              className={isSmall(m) ? "img-img img-pixel" : "img-img"}
              loading="lazy"
              decoding="async"
            />
            <figcaption>
              <span className="dim">step {m.step}</span>
              {m.caption ? ` ${m.caption}` : ""}
            </figcaption>
          </figure>
        ))}
      </div>
    </div>
  );
}

