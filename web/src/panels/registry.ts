// Every panel the layout can place, by id. The run list, the charts and the metrics grid
// (what the landing page shows) are in the main bundle; the others are loaded when first
// shown (components/lazy.ts), once a chart has shown its first read (state/app.ts:
// afterFirstChart), so their modules, reads and renders do not delay it.
import { createElement, type ComponentType } from "react";
import { ChartPanel } from "../chart/ChartPanel";
import { lazyComponent } from "../components/lazy";
import { afterFirstChart } from "../state/app";
import { MetricsPanel } from "../metrics/MetricsPanel";
import { RunListPanel } from "./RunList";
import type { PanelId, PanelProps } from "./types";

export interface PanelSpec {
  title: string;
  component: ComponentType<PanelProps>;
}

const loading = createElement("div", { className: "td-panel-loading dim" }, "…");
const later = (load: () => Promise<ComponentType<PanelProps>>) => lazyComponent(() => afterFirstChart().then(load), loading);

export const PANELS: Record<PanelId, PanelSpec> = {
  runs: { title: "RUNS", component: RunListPanel },
  system: { title: "SYSTEM", component: later(() => import("./SystemPanel").then((m) => m.SystemPanel)) },
  events: { title: "EVENTS", component: later(() => import("./EventsPanel").then((m) => m.EventsPanel)) },
  chartA: { title: "CHART A", component: ChartPanel },
  chartB: { title: "CHART B", component: ChartPanel },
  config: { title: "CONFIG", component: later(() => import("./ConfigPanel").then((m) => m.ConfigPanel)) },
  checkpoints: { title: "CHECKPOINTS", component: later(() => import("./CheckpointsPanel").then((m) => m.CheckpointsPanel)) },
  // not held for the chart: the palette's run commands come from it
  actions: { title: "ACTIONS", component: lazyComponent(() => import("./ActionsPanel").then((m) => m.ActionsPanel), loading) },
  console: { title: "CONSOLE", component: later(() => import("./ConsolePanel").then((m) => m.ConsolePanel)) },
  images: { title: "IMAGES", component: later(() => import("./ImagesPanel").then((m) => m.ImagesPanel)) },
  artifacts: { title: "ARTIFACTS", component: later(() => import("./ArtifactsPanel").then((m) => m.ArtifactsPanel)) },
  builder: { title: "NEW RUN", component: later(() => import("../builder/BuilderPanel").then((m) => m.BuilderPanel)) },
  table: { title: "TABLE", component: later(() => import("../table/RunTable").then((m) => m.RunTablePanel)) },
  metrics: { title: "METRICS", component: MetricsPanel },
  alerts: { title: "ALERTS", component: later(() => import("./AlertsPanel").then((m) => m.AlertsPanel)) },
};
