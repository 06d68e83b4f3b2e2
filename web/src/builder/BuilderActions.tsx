// The palette's and keyboard's "New run" (n) and "Clone run" actions, always registered.
import { useActions } from "../state/actions";
import { app, useApp } from "../state/app";
import { openBuilder, prefillFromRun } from "./route";

/** Open the builder prefilled from the open run. */
export function cloneFocusedRun(): void {
  const s = app.get();
  const run = s.focused ? s.runs.get(s.focused) : undefined;
  if (run) openBuilder(prefillFromRun(run));
}

export function BuilderActions() {
  const hasRun = useApp((s) => (s.focused ? s.runs.has(s.focused) : false));
  useActions(
    () => [
      { id: "builder.new", title: "New run (the run builder)", group: "Runs", keys: "n", run: () => openBuilder() },
      { id: "builder.clone", title: "Clone the open run into the builder", group: "Runs", enabled: hasRun, run: cloneFocusedRun },
    ],
    [hasRun],
  );
  return null;
}
