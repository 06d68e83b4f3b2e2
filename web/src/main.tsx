import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App, applyRunParams } from "./App";
import { layout } from "./layout/layoutStore";
import { prefetchKeys } from "./metrics/keys";
import { app, chartRuns } from "./state/app";
import "./styles/theme.css";
import "./styles/layout.css";

// The runs a link names, before the first render; and when the metrics grid is on screen
// for several of them, their keys are asked for now, while the page renders (the grid's
// first reads wait for them: docs/performance.md).
applyRunParams(window.location.search);
const runs = chartRuns(app.get());
if (runs.length > 1 && layout.get().state.cells.some((c) => c.active === "metrics")) prefetchKeys(runs);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
