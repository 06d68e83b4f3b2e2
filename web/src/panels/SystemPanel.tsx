import type { PanelProps } from "./types";

// Placeholder: to be built.
export function SystemPanel(props: PanelProps) {
  return <div className="muted">{props.id}: not built yet</div>;
}
