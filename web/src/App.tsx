import { useEffect } from "react";
import { Keyboard, openHelp, openPalette } from "./keyboard/Keyboard";
import { Layout } from "./layout/Layout";
import { TopBar } from "./layout/TopBar";
import { app, focusRun, live } from "./state/app";
import { startRunsSync } from "./state/runs-sync";

/** `?run=<id>` ↔ the open run, so a link opens a run and the URL follows the focus. */
function syncRunParam(): () => void {
  const initial = new URLSearchParams(window.location.search).get("run");
  if (initial) focusRun(initial);
  let last = app.get().focused;
  return app.subscribe(() => {
    const f = app.get().focused;
    if (f === last) return;
    last = f;
    const u = new URL(window.location.href);
    if (f) u.searchParams.set("run", f);
    else u.searchParams.delete("run");
    window.history.replaceState(window.history.state, "", u.pathname + u.search + u.hash);
  });
}

// StrictMode (dev) unmounts and remounts at once: closing the socket then would abort its
// handshake (a console warning), so the close waits a moment and a remount cancels it.
let closeTimer: ReturnType<typeof setTimeout> | null = null;

export function App() {
  useEffect(() => {
    if (closeTimer !== null) clearTimeout(closeTimer);
    closeTimer = null;
    live.connect();
    const stop = startRunsSync(app, live);
    const stopParam = syncRunParam();
    return () => {
      stopParam();
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
      <Layout />
      <Keyboard />
    </div>
  );
}
