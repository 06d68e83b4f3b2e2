// Global keys, the run-navigation actions, the command palette (Ctrl-K) and help (?).
import { useEffect, useMemo, useRef, useState } from "react";
import { openBuilder } from "../builder/route";
import { layoutActions } from "../layout/layoutStore";
import { runListUi, stepFocus, viewOf } from "../panels/RunListModel";
import { runAction, useActionList, useActions, type Action } from "../state/actions";
import { app, focusRun, setCompare, toggleCompare, useApp } from "../state/app";
import { Store, useStore } from "../state/store";
import { fuzzyFilter } from "./fuzzy";
import { KEY_HELP, isTyping, keyCommand } from "./keys";

export const overlays = new Store<{ palette: boolean; help: boolean }>({ palette: false, help: false });
export const openPalette = () => overlays.set({ palette: true, help: false });
export const openHelp = () => overlays.set({ help: true, palette: false });

/** Show the run list and put the cursor in its filter. */
export function focusRunFilter(): void {
  layoutActions.show("runs");
  const go = (tries: number) => {
    const el = document.querySelector<HTMLInputElement>('input[data-testid="run-filter"]');
    if (el) {
      el.focus();
      el.select();
    } else if (tries > 0) requestAnimationFrame(() => go(tries - 1));
  };
  go(3);
}

/** Focus the run `delta` rows away in the run list's filtered+sorted order. */
export function stepRun(delta: number): void {
  const s = app.get();
  const view = viewOf(s.runs, runListUi.get());
  const id = stepFocus(view, s.focused, delta);
  if (id) focusRun(id);
}

function openRun(): void {
  const s = app.get();
  const id = s.focused ?? stepFocus(viewOf(s.runs, runListUi.get()), null, 1);
  if (id) focusRun(id);
}

export function Keyboard() {
  const focused = useApp((s) => s.focused);
  const compareCount = useApp((s) => s.compare.length);
  const { palette, help } = useStore(overlays, (s) => s);

  useActions(
    () => [
      { id: "runs.filter", title: "Focus run filter", group: "Runs", keys: "/", run: focusRunFilter },
      { id: "runs.next", title: "Next run", group: "Runs", keys: "j", run: () => stepRun(1) },
      { id: "runs.prev", title: "Previous run", group: "Runs", keys: "k", run: () => stepRun(-1) },
      { id: "runs.open", title: "Open selected run", group: "Runs", keys: "Enter", run: openRun },
      {
        id: "runs.compare",
        title: "Toggle compare for the open run",
        group: "Runs",
        keys: "c",
        enabled: focused !== null,
        run: () => {
          const f = app.get().focused;
          if (f) toggleCompare(f);
        },
      },
      { id: "runs.compare.clear", title: "Clear compare", group: "Runs", enabled: compareCount > 0, run: () => setCompare([]) },
      { id: "runs.close", title: "Close the open run", group: "Runs", enabled: focused !== null, run: () => focusRun(null) },
      { id: "ui.help", title: "Show help", group: "General", keys: "?", run: openHelp },
      { id: "ui.palette", title: "Command palette", group: "General", keys: "Ctrl-K", run: openPalette },
    ],
    [focused !== null, compareCount > 0],
  );

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.isComposing || e.defaultPrevented) return;
      const o = overlays.get();
      const typing = isTyping(e.target);
      const cmd = keyCommand(e, typing);
      if (!cmd) return;
      if (cmd === "palette") {
        e.preventDefault();
        overlays.set({ palette: !o.palette, help: false });
        return;
      }
      if (cmd === "close") {
        if (o.palette || o.help) {
          e.preventDefault();
          overlays.set({ palette: false, help: false });
        } else if (typing) (e.target as HTMLElement).blur();
        return;
      }
      if (o.palette) return; // the palette handles its own keys
      if (o.help && cmd !== "help") return;
      // Enter on a button or link activates it, not the run.
      const tag = (e.target as HTMLElement | null)?.tagName?.toLowerCase();
      if (cmd === "open" && (tag === "button" || tag === "a" || tag === "input")) return;
      e.preventDefault();
      switch (cmd) {
        case "filter":
          focusRunFilter();
          break;
        case "help":
          overlays.set({ help: !o.help });
          break;
        case "next":
          stepRun(1);
          break;
        case "prev":
          stepRun(-1);
          break;
        case "open":
          openRun();
          break;
        case "new":
          openBuilder();
          break;
        case "compare": {
          const f = app.get().focused;
          if (f) toggleCompare(f);
          break;
        }
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  return (
    <>
      {palette ? <Palette onClose={() => overlays.set({ palette: false })} /> : null}
      {help ? <Help onClose={() => overlays.set({ help: false })} /> : null}
    </>
  );
}

function highlight(text: string, positions: number[]) {
  if (!positions.length) return text;
  const set = new Set(positions);
  const out: React.ReactNode[] = [];
  let buf = "";
  let on = false;
  const flush = (k: number) => {
    if (!buf) return;
    out.push(on ? <mark key={k}>{buf}</mark> : buf);
    buf = "";
  };
  for (let i = 0; i < text.length; i++) {
    const m = set.has(i);
    if (m !== on) {
      flush(i);
      on = m;
    }
    buf += text[i];
  }
  flush(text.length);
  return out;
}

const label = (a: Action) => `${a.group ? `${a.group}: ` : ""}${a.title}`;

function Palette({ onClose }: { onClose: () => void }) {
  const list = useActionList();
  const [q, setQ] = useState("");
  const [sel, setSel] = useState(0);
  const listRef = useRef<HTMLDivElement>(null);
  const sorted = useMemo(
    () => [...list].sort((a, b) => (a.group ?? "").localeCompare(b.group ?? "") || a.title.localeCompare(b.title)),
    [list],
  );
  const hits = useMemo(() => fuzzyFilter(sorted, q, label), [sorted, q]);
  const cur = Math.min(sel, Math.max(0, hits.length - 1));

  useEffect(() => {
    listRef.current?.querySelector(".td-sel")?.scrollIntoView({ block: "nearest" });
  }, [cur]);

  const run = (a: Action | undefined) => {
    if (!a || a.enabled === false) return;
    onClose();
    runAction(a.id);
  };

  return (
    <div className="td-overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="td-dialog" data-testid="palette" role="dialog" aria-label="command palette">
        <div className="td-dialog-title">
          COMMANDS<span className="td-spacer" />
          <span>{hits.length}</span>
        </div>
        <input
          autoFocus
          placeholder="type a command…"
          value={q}
          onChange={(e) => {
            setQ(e.target.value);
            setSel(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "ArrowDown") {
              e.preventDefault();
              setSel(Math.min(cur + 1, hits.length - 1));
            } else if (e.key === "ArrowUp") {
              e.preventDefault();
              setSel(Math.max(cur - 1, 0));
            } else if (e.key === "Enter") {
              e.preventDefault();
              run(hits[cur]?.item);
            } else if (e.key === "Escape") {
              e.preventDefault();
              e.stopPropagation();
              onClose();
            }
          }}
        />
        <div className="td-dialog-list" ref={listRef}>
          {hits.length === 0 ? <div className="td-pal-item dim">no matching command</div> : null}
          {hits.map(({ item, hit }, i) => {
            const pre = item.group ? item.group.length + 2 : 0;
            const titlePos = hit.positions.filter((p) => p >= pre).map((p) => p - pre);
            return (
              <div
                key={item.id}
                data-action={item.id}
                className={`td-pal-item ${i === cur ? "td-sel" : ""} ${item.enabled === false ? "td-disabled" : ""}`}
                onMouseMove={() => i !== cur && setSel(i)}
                onClick={() => run(item)}
              >
                <span className="td-grp">{item.group ?? ""}</span>
                <span className="td-title">{highlight(item.title, titlePos)}</span>
                {item.keys ? <span className="td-keys">{item.keys}</span> : null}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

function Help({ onClose }: { onClose: () => void }) {
  const list = useActionList();
  const groups = useMemo(() => {
    const m = new Map<string, Action[]>();
    for (const a of list) {
      const g = a.group ?? "Other";
      if (!m.has(g)) m.set(g, []);
      m.get(g)!.push(a);
    }
    for (const v of m.values()) v.sort((a, b) => a.title.localeCompare(b.title));
    return [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }, [list]);
  return (
    <div className="td-overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="td-dialog" data-testid="help" role="dialog" aria-label="help">
        <div className="td-dialog-title">
          HELP<span className="td-spacer" />
          <span role="button" style={{ cursor: "pointer" }} onClick={onClose}>
            Esc ✕
          </span>
        </div>
        <div className="td-help">
          <h4>Keys</h4>
          <table>
            <tbody>
              {KEY_HELP.map(([k, what]) => (
                <tr key={k}>
                  <td className="td-keys">{k}</td>
                  <td>{what}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {groups.map(([g, acts]) => (
            <div key={g}>
              <h4>{g}</h4>
              <table>
                <tbody>
                  {acts.map((a) => (
                    <tr key={a.id} className={a.enabled === false ? "muted" : ""}>
                      <td className="td-keys">{a.keys ?? ""}</td>
                      <td>{a.title}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
          <p className="dim">
            Panels: drag a tab onto another cell to move it there, onto a tab strip to join it; drag the gutters to resize.
          </p>
        </div>
      </div>
    </div>
  );
}
