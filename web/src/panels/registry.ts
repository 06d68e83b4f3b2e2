// Every panel the layout can place, by id.
import type { ComponentType } from "react";
import { BuilderPanel } from "../builder/BuilderPanel";
import { RunTablePanel } from "../table/RunTable";
import { ChartPanel } from "../chart/ChartPanel";
import { MetricsPanel } from "../metrics/MetricsPanel";
import { ActionsPanel } from "./ActionsPanel";
import { AlertsPanel } from "./AlertsPanel";
import { ArtifactsPanel } from "./ArtifactsPanel";
import { CheckpointsPanel } from "./CheckpointsPanel";
import { ConfigPanel } from "./ConfigPanel";
import { ConsolePanel } from "./ConsolePanel";
import { EventsPanel } from "./EventsPanel";
import { ImagesPanel } from "./ImagesPanel";
import { RunListPanel } from "./RunList";
import { SystemPanel } from "./SystemPanel";
import type { PanelId, PanelProps } from "./types";

export interface PanelSpec {
  title: string;
  component: ComponentType<PanelProps>;
}

export const PANELS: Record<PanelId, PanelSpec> = {
  runs: { title: "RUNS", component: RunListPanel },
  system: { title: "SYSTEM", component: SystemPanel },
  events: { title: "EVENTS", component: EventsPanel },
  chartA: { title: "CHART A", component: ChartPanel },
  chartB: { title: "CHART B", component: ChartPanel },
  config: { title: "CONFIG", component: ConfigPanel },
  checkpoints: { title: "CHECKPOINTS", component: CheckpointsPanel },
  actions: { title: "ACTIONS", component: ActionsPanel },
  console: { title: "CONSOLE", component: ConsolePanel },
  images: { title: "IMAGES", component: ImagesPanel },
  artifacts: { title: "ARTIFACTS", component: ArtifactsPanel },
  builder: { title: "NEW RUN", component: BuilderPanel },
  table: { title: "TABLE", component: RunTablePanel },
  metrics: { title: "METRICS", component: MetricsPanel },
  alerts: { title: "ALERTS", component: AlertsPanel },
};
