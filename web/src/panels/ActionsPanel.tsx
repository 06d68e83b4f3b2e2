// The actions panel: the focused run's built-in commands (stop, pause/resume, checkpoint)
// and the custom ones it offers, each with its latest state (from command_update pushes),
// optional JSON args, and a short history. Every button is also a palette action. Pause and
// resume of a run traindeck launched go through the launcher's routes (the SDK's command
// when the script offers it, else SIGSTOP/SIGCONT of its process group).
import { useRef, useState } from "react";
import { api, ApiError, type CommandOut } from "../api/client";
import { layoutActions } from "../layout/layoutStore";
import { useActions } from "../state/actions";
import { live, useApp } from "../state/app";
import {
  commandEnabled, controlText, controlVia, customCommands, describeCommand, history, latestByName, parseArgs, reduceCommands, statusClass,
  type CommandMap,
} from "./actions-model";
import { useReconnects, useRunFeed } from "./events-live";
import { LaunchControls } from "./LaunchControls";
import type { PanelProps } from "./types";
import "./ActionsPanel.css";
import { fmtClock } from "../format";
import { ResultView } from "../components/ResultView";
import { ProgressLine } from "../components/Progress";
import { resultText } from "../result-format";

const BUILTIN_ORDER = ["pause", "resume", "checkpoint", "stop"];

interface LocalError {
  name: string;
  message: string;
  at: number;
  /** a route's answer (pause/resume of a launched run), not an error */
  ok?: boolean;
}

export function ActionsPanel(_props: PanelProps) {
  const focused = useApp((s) => s.focused);
  const run = useApp((s) => (s.focused ? s.runs.get(s.focused) : undefined));
  const reconnects = useReconnects();
  const [state, setState] = useState<{ run: string | null; cmds: CommandMap }>({ run: null, cmds: new Map() });
  const [errors, setErrors] = useState<Record<string, LocalError>>({});
  const [argsText, setArgsText] = useState<Record<string, string>>({});
  const [confirmStop, setConfirmStop] = useState(false);
  const stopRef = useRef<HTMLButtonElement | null>(null);
  const [busy, setBusy] = useState<Record<string, boolean>>({});

  useRunFeed<CommandOut, CommandOut[]>(focused, reconnects, () => {
    const id = focused;
    setState((s) => (s.run === id ? s : { run: id, cmds: new Map() }));
    setErrors({});
    setConfirmStop(false);
    return {
      listen: (emit) => [live.on("command_update", (m) => m.command.run_id === id && emit(m.command))],
      load: async (signal) => (await api.get("/api/runs/{run_id}/commands", { path: { run_id: id! }, query: { limit: 200 }, signal })).commands,
      loaded: (list) => setState((s) => ({ run: id, cmds: reduceCommands(s.run === id ? s.cmds : new Map(), list) })),
      push: (c) => setState((s) => (s.run === id ? { run: id, cmds: reduceCommands(s.cmds, [c]) } : s)),
    };
  });

  const cmds = state.run === focused ? state.cmds : new Map<string, CommandOut>();
  const latest = latestByName(cmds);
  const custom = customCommands(run);
  const status = run?.status;

  const send = async (name: string) => {
    if (!focused) return;
    let args: Record<string, unknown> = {};
    if (custom.includes(name)) {
      const parsed = parseArgs(argsText[name] ?? "");
      if (!parsed.ok) {
        setErrors((e) => ({ ...e, [name]: { name, message: parsed.error, at: Date.now() } }));
        return;
      }
      args = parsed.args;
    }
    const id = focused;
    setBusy((b) => ({ ...b, [name]: true }));
    setErrors((e) => {
      const { [name]: _, ...rest } = e;
      return rest;
    });
    try {
      if (controlVia(name, run) === "route") {
        const path = name === "pause" ? "/api/runs/{run_id}/pause" : "/api/runs/{run_id}/resume";
        const r = await api.post(path, { path: { run_id: id } });
        // The SDK's command (sent by the launcher) shows in this row by itself; a signal
        // leaves no command, so its answer is shown here.
        if (!r.commands_offered.includes(name)) {
          setErrors((x) => ({ ...x, [name]: { name, message: controlText(name, r), at: Date.now(), ok: true } }));
        }
      } else {
        const c = await api.post("/api/runs/{run_id}/commands", { path: { run_id: id }, body: { name, args } });
        setState((s) => (s.run === id ? { run: id, cmds: reduceCommands(s.cmds, [c]) } : s));
      }
    } catch (e) {
      const message = e instanceof ApiError ? `${e.code}: ${e.message}` : (e as Error).message;
      setErrors((x) => ({ ...x, [name]: { name, message, at: Date.now() } }));
    } finally {
      setBusy((b) => ({ ...b, [name]: false }));
    }
  };

  const all = [...BUILTIN_ORDER, ...custom];
  useActions(
    () =>
      all.map((name) => ({
        id: `run.command.${name}`,
        title: name === "stop" ? "Run: stop (confirm in the actions panel)" : `Run: ${name}`,
        group: "Run",
        enabled: commandEnabled(name, status),
        // Stopping a run always takes a second, deliberate step: from the palette too,
        // it brings this panel to front, arms its "confirm stop?" button and puts the
        // keyboard on it (Enter or a click confirms; moving away disarms).
        run:
          name === "stop"
            ? () => {
                layoutActions.show("actions");
                setConfirmStop(true);
                requestAnimationFrame(() => {
                  const el = stopRef.current;
                  el?.scrollIntoView({ block: "nearest" });
                  el?.focus();
                });
              }
            : () => send(name),
      })),
    [focused, status, all.join(","), argsText],
  );

  if (!focused || !run) return <div className="muted act-empty">select a run</div>;

  const button = (name: string) => {
    const argsOk = !custom.includes(name) || parseArgs(argsText[name] ?? "").ok;
    const enabled = commandEnabled(name, status) && !busy[name] && argsOk;
    const isStop = name === "stop";
    const onClick = () => {
      if (isStop && !confirmStop) {
        setConfirmStop(true);
        return;
      }
      if (isStop) setConfirmStop(false);
      void send(name);
    };
    return (
      <button
        type="button"
        key={name}
        data-command={name}
        ref={isStop ? stopRef : undefined}
        className={isStop ? (confirmStop ? "act-btn act-stop act-confirm" : "act-btn act-stop") : "act-btn"}
        disabled={!enabled}
        onClick={onClick}
        onBlur={isStop ? () => setConfirmStop(false) : undefined}
        title={isStop ? "stop the run (asks to confirm)" : `send "${name}" to the run`}
      >
        {isStop && confirmStop ? "confirm stop?" : name}
      </button>
    );
  };

  const stateCell = (name: string, argsError: string | null = null) => {
    const err = errors[name];
    const c = latest.get(name);
    const errNewer = err && (!c || err.at / 1000 >= c.created_at);
    const text = argsError ?? (errNewer ? (err.ok ? err.message : `error ${err.message}`) : c ? describeCommand(c) : "");
    const cls = argsError || (errNewer && !err.ok) ? "bad" : errNewer ? "good" : c ? statusClass(c.status) : "dim";
    const withResult = !argsError && !errNewer && c && c.result !== null && c.result !== undefined;
    return (
      <div className={`act-state ${cls}`} data-command-state={name} data-command-id={c?.id} title={withResult ? undefined : text}>
        {withResult ? <ResultView head={c.error ? `${c.status}: ${c.error}` : c.status} result={c.result} /> : text}
      </div>
    );
  };

  const live_ = status === "running" || status === "paused";
  return (
    <div className="act-panel">
      <div className="act-head">
        <span className="dim">{run.name}</span>
        <span className={`act-status st-${status}`}>{status}</span>
        <ProgressLine run={run} />
        {!live_ && <span className="muted">commands need a running or paused run</span>}
      </div>
      <LaunchControls run={run} />
      <table className="act-table">
        <tbody>
          {BUILTIN_ORDER.map((name) => (
            <tr key={name}>
              <td>{button(name)}</td>
              <td />
              <td>{stateCell(name)}</td>
            </tr>
          ))}
          {custom.map((name) => {
            const text = argsText[name] ?? "";
            const parsed = parseArgs(text);
            return (
              <tr key={name}>
                <td>{button(name)}</td>
                <td>
                  <input
                    className={parsed.ok ? "act-args" : "act-args act-args-bad"}
                    data-command-args={name}
                    placeholder="args {}"
                    value={text}
                    spellCheck={false}
                    title={parsed.ok ? "optional JSON object of keyword arguments" : parsed.error}
                    onChange={(e) => setArgsText((a) => ({ ...a, [name]: e.target.value }))}
                    onKeyDown={(e) => {
                      if (e.key === "Enter" && parsed.ok && commandEnabled(name, status)) void send(name);
                    }}
                  />
                </td>
                <td>{stateCell(name, parsed.ok ? null : parsed.error)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="act-hist-title dim">history</div>
      <div className="act-hist">
        {history(cmds).map((c) => (
          <div key={c.id} className="act-hist-row" data-command-id={c.id}>
            <span className="dim">{fmtClock(c.created_at)}</span> <span>{c.name}</span>{" "}
            <span className={statusClass(c.status)} title={c.result != null ? resultText(c.result) : undefined}>
              {describeCommand(c)}
            </span>
          </div>
        ))}
        {cmds.size === 0 && <div className="muted">no commands sent yet</div>}
      </div>
    </div>
  );
}

