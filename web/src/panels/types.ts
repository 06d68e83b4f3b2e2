// What every panel gets from the layout. Panels read everything else from the app
// state (state/app.ts) and the live socket.
export type PanelId =
  | "runs"
  | "system"
  | "events"
  | "chartA"
  | "chartB"
  | "config"
  | "checkpoints"
  | "actions"
  | "console"
  | "images"
  | "artifacts"
  | "builder"
  | "table"
  | "alerts"
  | "metrics";

export interface PanelProps {
  /** Which panel this is (chartA and chartB share a component). */
  id: PanelId;
  /** True when the panel's cell is the one the keyboard is in. */
  active: boolean;
}
