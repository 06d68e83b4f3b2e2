// The builder as a panel of the grid (a tab beside actions); `/new` shows it full page.
import type { PanelProps } from "../panels/types";
import { Builder } from "./Builder";

export function BuilderPanel(_props: PanelProps) {
  return <Builder page={false} />;
}
