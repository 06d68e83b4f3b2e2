// The top bar's alerts badge (issue 12 §4): how many alerts came since the user last saw
// the alerts panel, coloured by the worst of them; a click shows the panel.
import { useStore } from "../state/store";
import { badgeText, unseenCount, worstUnseen } from "../panels/alerts-model";
import { alerts } from "../panels/alerts-sync";
import { layoutActions } from "./layoutStore";

export function AlertsBadge() {
  const list = useStore(alerts, (s) => s.list);
  const seenSeq = useStore(alerts, (s) => s.seenSeq);
  const n = unseenCount(list, seenSeq);
  const worst = worstUnseen(list, seenSeq);
  const cls = worst === "error" ? "bad" : worst === "warning" ? "warn" : worst === "info" ? "info" : "dim";
  return (
    <span
      className={`td-alerts ${cls} ${n ? "td-alerts-on" : ""}`}
      data-testid="alerts-badge"
      data-unseen={n}
      role="button"
      title={n ? `${n} new alert${n === 1 ? "" : "s"} — click to show` : "alerts — click to show"}
      onClick={() => {
        layoutActions.show("alerts");
        requestAnimationFrame(() => document.querySelector<HTMLElement>('section[data-panel="alerts"]')?.scrollIntoView({ block: "nearest" }));
      }}
    >
      {n ? `▲ ${badgeText(n)}` : "▲"}
    </span>
  );
}
