import { useEffect } from "react";
import { BuilderActions } from "./builder/BuilderActions";
import { builderRoute, followHistory } from "./builder/route";
import { Keyboard, openHelp, openPalette } from "./keyboard/Keyboard";
import { Layout } from "./layout/Layout";
import { TopBar } from "./layout/TopBar";
import { lazyComponent } from "./components/lazy";
import { useTable } from "./table/state";
import { startLanding } from "./layout/landing";
import { alerts, startAlertsSync } from "./panels/alerts-sync";
import { app, focusRun, live, setCompare } from "./state/app";
import { startRunsSync } from "./state/runs-sync";
import { useStore } from "./state/store";

// the run builder's page and the widened run table: loaded when first opened
const Builder = lazyComponent<{ page: boolean }>(() => import("./builder/Builder").then((m) => m.Builder));
const WideRunTableLazy = lazyComponent<object>(() => import("./table/RunTable").then((m) => m.WideRunTable));

function WideRunTable() {
  return useTable((s) => s.wide) ? <WideRunTableLazy /> : null;
}

/** `?run=<id>&compare=<id>,<id>`: the open run and the compared runs a link names, set
 *  before the first render (main.tsx), so the panels' first effects already have them. */
export function applyRunParams(search: string): void {
  const params = new URLSearchParams(search);
  const initial = params.get("run");
  if (initial) focusRun(initial);
  const compare = (params.get("compare") ?? "").split(",").filter(Boolean);
  if (compare.length) setCompare([...new Set(compare)]);
}

/** The URL follows the open run and the compared runs (applyRunParams read them). */
function syncRunParam(): () => void {
  let last = app.get().focused;
  let lastCompare = app.get().compare;
  return app.subscribe(() => {
    const { focused: f, compare: c } = app.get();
    if (f === last && c === lastCompare) return;
    last = f;
    lastCompare = c;
    const u = new URL(window.location.href);
    if (f) u.searchParams.set("run", f);
    else u.searchParams.delete("run");
    if (c.length) u.searchParams.set("compare", c.join(","));
    else u.searchParams.delete("compare");
    window.history.replaceState(window.history.state, "", u.pathname + u.search + u.hash);
  });
}

// StrictMode (dev) unmounts and remounts at once: closing the socket then would abort its
// handshake (a console warning), so the close waits a moment and a remount cancels it.
let closeTimer: ReturnType<typeof setTimeout> | null = null;

export function App() {
  const page = useStore(builderRoute, (s) => s.page);
  useEffect(() => {
    if (closeTimer !== null) clearTimeout(closeTimer);
    closeTimer = null;
    live.connect();
    const stop = startRunsSync(app, live);
    const stopLanding = startLanding(app, window.location.search);
    const stopAlerts = startAlertsSync(alerts, live);
    const stopParam = syncRunParam();
    const stopHistory = followHistory();
    return () => {
      stopHistory();
      stopParam();
      stopAlerts();
      stopLanding();
      stop();
      closeTimer = setTimeout(() => {
        closeTimer = null;
        live.close();
      }, 100);
    };
  }, []);
  return (
    <div className="td-app">
      <TopBar onHelp={openHelp} onPalette={openPalette} />
      {page === "new" ? <Builder page /> : <Layout />}
      {page === "new" ? null : <WideRunTable />}
      <Keyboard />
      <BuilderActions />
    </div>
  );
}
