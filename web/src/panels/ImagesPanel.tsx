// The images panel: the focused run's logged images, several keys side by side (chips
// choose which), each key with its own step slider that snaps to the steps that have
// images and follows the newest step while at the end. Images are scaled to their
// column: up by nearest neighbour (crisp pixels), down smoothly. Live via `event` kind
// media_logged.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { useActions } from "../state/actions";
import { live, useApp } from "../state/app";
import { useReconnects, useRunFeed } from "./events-live";
import { api, type Query } from "../api/client";
import {
  fitImage,
  imagesAt,
  mergeKeys,
  mergeMedia,
  shownKeys,
  snapStep,
  stepsFor,
  toggleShown,
  type MediaItem,
  type MediaListOut,
} from "./images-model";
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

/** Per key: the step chosen, and whether it follows the newest. */
interface Pos {
  step: number | null;
  follow: boolean;
}
const FOLLOW: Pos = { step: null, follow: true };

/** The size of an element's box, kept current. */
function useBoxSize(ref: React.RefObject<HTMLElement | null>): { width: number; height: number } {
  const [size, setSize] = useState({ width: 0, height: 0 });
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const read = () => setSize((s) => (s.width === el.clientWidth && s.height === el.clientHeight ? s : { width: el.clientWidth, height: el.clientHeight }));
    read();
    if (typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(read);
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return size;
}

function ImageColumn(props: {
  k: string;
  media: MediaItem[];
  pos: Pos;
  setPos: (p: Pos) => void;
  loading: boolean;
}) {
  const { k, media, pos, setPos, loading } = props;
  const steps = useMemo(() => stepsFor(media, k), [media, k]);
  const last = steps[steps.length - 1] ?? null;
  const current = pos.follow || pos.step === null ? last : snapStep(steps, pos.step);
  const images = imagesAt(media, k, current);
  const idx = current === null ? -1 : steps.indexOf(current);
  const go = (s: number | null) => {
    if (s !== null) setPos({ step: s, follow: s === last });
  };
  const box = useRef<HTMLDivElement>(null);
  const size = useBoxSize(box);
  // several images at one step share the column: each gets an equal slice of its height
  const slotH = images.length ? Math.max(24, Math.floor((size.height - 4) / images.length) - 18) : 0;
  return (
    <div className="img-col" data-testid="image-column" data-key={k}>
      <div className="img-bar">
        <span className="img-key" title={k}>
          {k}
        </span>
        <button type="button" disabled={idx <= 0} onClick={() => go(steps[idx - 1] ?? null)} title="previous step">
          ◀
        </button>
        <input
          type="range"
          data-testid="image-step"
          data-key={k}
          className="img-slider"
          min={steps[0] ?? 0}
          max={last ?? 0}
          step={1}
          value={current ?? 0}
          disabled={steps.length < 2}
          onChange={(e) => go(snapStep(steps, Number(e.target.value)))}
          onKeyDown={(e) => {
            // arrows move to the next step that has images (not to the next integer)
            const d = e.key === "ArrowRight" || e.key === "ArrowUp" ? 1 : e.key === "ArrowLeft" || e.key === "ArrowDown" ? -1 : 0;
            if (!d) return;
            e.preventDefault();
            go(steps[Math.min(steps.length - 1, Math.max(0, idx + d))] ?? null);
          }}
          aria-label={`${k} step`}
        />
        <button type="button" disabled={idx < 0 || idx >= steps.length - 1} onClick={() => go(steps[idx + 1] ?? null)} title="next step">
          ▶
        </button>
        <span className="img-step num">
          <b>{current ?? "–"}</b>
          <span className="dim"> {idx + 1}/{steps.length}</span>
        </span>
        {pos.follow ? (
          <span className="good img-live" title="following the newest step">●</span>
        ) : (
          <button type="button" onClick={() => go(last)} title="jump to the newest step and follow">
            ⇥
          </button>
        )}
      </div>
      <div className="img-gallery" data-testid="image-gallery" data-step={current ?? ""} data-key={k} ref={box}>
        {images.length === 0 && <div className="muted img-empty">{loading ? "loading…" : "no images at this step"}</div>}
        {images.map((m) => {
          const fit = fitImage(m.width ?? 0, m.height ?? 0, size.width - 4, slotH);
          return (
            <figure key={String(m.id)} className="img-fig">
              <img
                src={m.url}
                alt={m.caption ?? `${m.key} step ${m.step}`}
                style={fit.width > 0 ? { width: fit.width, height: fit.height } : undefined}
                className={fit.pixelated ? "img-img img-pixel" : "img-img"}
                data-pixelated={fit.pixelated ? "1" : "0"}
                decoding="async"
              />
              <figcaption>
                <span className="dim">step {m.step}</span>
                {m.caption ? ` ${m.caption}` : ""}
              </figcaption>
            </figure>
          );
        })}
      </div>
    </div>
  );
}

export function ImagesPanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const reconnects = useReconnects();
  const [st, setSt] = useState<State>(() => empty(null));
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [pos, setPosMap] = useState<Record<string, Pos>>({});

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
  const shown = useMemo(() => shownKeys(keys, chosen), [keys, chosen]);

  // Read every image row of each shown key once (per run, per reconnect).
  useEffect(() => {
    if (!focused || st.run !== focused) return;
    for (const k of shown) {
      if (st.loadedKeys.includes(k)) continue;
      void fetchKey(focused, k).catch((e: unknown) => setSt((s) => ({ ...s, error: (e as Error).message })));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [focused, shown.join("\u0000"), st.run, st.loadedKeys]);

  useEffect(() => setPosMap({}), [focused]);

  const media = st.run === focused ? st.media : [];
  const setPos = (k: string) => (p: Pos) => setPosMap((m) => ({ ...m, [k]: p }));

  // the palette's step actions move the first key shown
  const first = shown[0] ?? null;
  const firstSteps = useMemo(() => (first ? stepsFor(media, first) : []), [media, first]);
  const firstPos = (first && pos[first]) || FOLLOW;
  const firstLast = firstSteps[firstSteps.length - 1] ?? null;
  const firstCur = firstPos.follow || firstPos.step === null ? firstLast : snapStep(firstSteps, firstPos.step);
  const idx = firstCur === null ? -1 : firstSteps.indexOf(firstCur);
  const goFirst = (s: number | null) => {
    if (first && s !== null) setPos(first)({ step: s, follow: s === firstLast });
  };
  useActions(
    () => [
      { id: "images.prev", title: "Images: previous step", group: "Images", enabled: idx > 0, run: () => goFirst(firstSteps[idx - 1] ?? null) },
      { id: "images.next", title: "Images: next step", group: "Images", enabled: idx >= 0 && idx < firstSteps.length - 1, run: () => goFirst(firstSteps[idx + 1] ?? null) },
      { id: "images.latest", title: "Images: newest step (follow)", group: "Images", enabled: firstSteps.length > 0, run: () => goFirst(firstLast) },
    ],
    [firstSteps, idx, firstLast, first],
  );

  if (!focused) return <div className="muted img-empty">select a run</div>;

  return (
    <div className="img-panel">
      <div className="img-keys" role="group" aria-label="image keys shown">
        {keys.length === 0 && <span className="muted">{st.loading ? "loading…" : "no images logged"}</span>}
        {keys.map((k) => (
          <button
            key={k}
            type="button"
            className={shown.includes(k) ? "on" : ""}
            data-testid="image-key"
            data-key={k}
            aria-pressed={shown.includes(k)}
            title={shown.includes(k) ? `hide ${k}` : `show ${k} beside the others`}
            onClick={() => setChosen(toggleShown(shown, k))}
          >
            {k}
          </button>
        ))}
        {st.error && <span className="bad">{st.error}</span>}
      </div>
      <div className="img-cols">
        {shown.map((k) => (
          <ImageColumn key={k} k={k} media={media} pos={pos[k] ?? FOLLOW} setPos={setPos(k)} loading={st.loading || !st.loadedKeys.includes(k)} />
        ))}
      </div>
    </div>
  );
}
