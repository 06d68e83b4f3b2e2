import type { PanelProps } from "../panels/types";

// Placeholder: to be built.
export function ChartPanel(props: PanelProps) {
  return <div className="muted">{props.id}: not built yet</div>;
}
