// The actions panel's launch row: "cancel" for a run traindeck launched (SIGTERM to its
// process group, SIGKILL after the grace period: asks to confirm, like stop) and "clone"
// (the builder, prefilled from this run) for any run.
import { useEffect, useRef, useState } from "react";
import type { RunOut } from "../api/client";
import { LAUNCH_POLL_MS, builderApi, describeLaunch, pollsLaunch, type LaunchOut } from "../builder/api";
import { openBuilder, prefillFromRun } from "../builder/route";
import { layoutActions } from "../layout/layoutStore";
import { useActions } from "../state/actions";

const CANCELLABLE: ReadonlyArray<RunOut["status"]> = ["queued", "running", "paused"];

export function cancelEnabled(run: Pick<RunOut, "status" | "launch_spec"> | undefined): boolean {
  return !!run && run.launch_spec !== null && CANCELLABLE.includes(run.status);
}

export function LaunchControls({ run }: { run: RunOut }) {
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ run: string; text: string; ok: boolean } | null>(null);
  const ref = useRef<HTMLButtonElement | null>(null);
  const launched = run.launch_spec !== null;
  const enabled = cancelEnabled(run) && !busy;

  useEffect(() => setConfirm(false), [run.id]);

  // The latest launch of a launched run (status, host, pid, restarts, exit code, error,
  // detail), read again whenever the run's pushed status or exit code changes (a restart
  // queues it), and every LAUNCH_POLL_MS while a remote launch is live: its detail
  // ("waiting for SSH…", "uploading 45%", "pending: Resources") changes on its own. The
  // polling ends with the launch, or when another run is opened (the effect's cleanup).
  const [latest, setLatest] = useState<{ run: string; launch: LaunchOut } | null>(null);
  useEffect(() => {
    if (!launched) return;
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let live = false;
    const again = () => {
      if (live && !ctl.signal.aborted) timer = setTimeout(read, LAUNCH_POLL_MS);
    };
    const read = () => {
      builderApi
        .launchesOf(run.id, ctl.signal)
        .then((out) => {
          const last = out.launches[out.launches.length - 1];
          if (last) setLatest({ run: run.id, launch: last });
          live = !!last && pollsLaunch(last);
          again();
        })
        .catch(() => {
          /* aborted, or the server is away: the line keeps what it showed (and a live one is tried again) */
          again();
        });
    };
    read();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [run.id, run.status, run.exit_code, launched]);
  const launchLine = latest && latest.run === run.id ? describeLaunch(latest.launch) : null;

  const cancel = async () => {
    const id = run.id;
    setBusy(true);
    try {
      const out = await builderApi.cancel(id);
      const status = typeof out.status === "string" ? out.status : "cancelling";
      setResult({ run: id, text: `cancel sent · ${status}`, ok: true });
    } catch (e) {
      setResult({ run: id, text: `error ${(e as Error).message}`, ok: false });
    } finally {
      setBusy(false);
    }
  };

  // Registered only for a launched run (the palette lists no cancel it cannot do).
  useActions(
    () => [
      {
        id: "run.cancel",
        title: "Run: cancel the launched process (confirm in the actions panel)",
        group: "Run",
        enabled: cancelEnabled(run),
        run: () => {
          layoutActions.show("actions");
          setConfirm(true);
          requestAnimationFrame(() => ref.current?.focus());
        },
      },
    ].filter(() => launched),
    [run.id, run.status, launched],
  );

  const shown = result && result.run === run.id ? result : null;
  return (
    <div className="act-launch">
      {launched ? (
        <button
          type="button"
          ref={ref}
          data-command="cancel"
          className={confirm ? "act-btn act-stop act-confirm" : "act-btn act-stop"}
          disabled={!enabled}
          title="cancel: SIGTERM to the process group, SIGKILL after the grace period (asks to confirm)"
          onClick={() => {
            if (!confirm) {
              setConfirm(true);
              return;
            }
            setConfirm(false);
            void cancel();
          }}
          onBlur={() => setConfirm(false)}
        >
          {confirm ? "confirm cancel?" : busy ? "cancelling…" : "cancel"}
        </button>
      ) : null}
      <button type="button" className="act-btn" data-command="clone" title="open the run builder with this run's template and config" onClick={() => openBuilder(prefillFromRun(run))}>
        clone
      </button>
      {launchLine ? (
        <span className={`act-state ${latest?.launch.status === "failed" ? "bad" : "dim"}`} data-testid="launch-info" title={launchLine}>
          {launchLine}
        </span>
      ) : null}
      {shown ? (
        <span className={`act-state ${shown.ok ? "good" : "bad"}`} data-command-state="cancel">
          {shown.text}
        </span>
      ) : null}
    </div>
  );
}
