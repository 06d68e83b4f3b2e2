import { useEffect } from "react";
import { PANELS } from "./panels/registry";
import type { PanelId } from "./panels/types";
import { app, live } from "./state/app";
import { startRunsSync } from "./state/runs-sync";

// Placeholder shell: the 3×3 layout is to be built (layout/).
const DEFAULT: PanelId[] = ["runs", "system", "events", "chartA", "chartB", "config", "checkpoints", "actions", "console"];

export function App() {
  useEffect(() => {
    live.connect();
    const stop = startRunsSync(app, live);
    return () => {
      stop();
      live.close();
    };
  }, []);
  return (
    <div style={{ display: "grid", gridTemplate: "repeat(3, 1fr) / repeat(3, 1fr)", height: "100%" }}>
      {DEFAULT.map((id) => {
        const P = PANELS[id].component;
        return (
          <section key={id} data-panel={id}>
            <header>{PANELS[id].title}</header>
            <P id={id} active={false} />
          </section>
        );
      })}
    </div>
  );
}
