"""Turning a request into rows: the launch spec of a template and config, and the run and
launch rows of a new launch or of a resume, made so that nothing is left half-made (a
run queued with no launch to start it, or a launch queued for a run that is not).

The launcher calls these under its lock; what they write, its background pass starts.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from typing import Any

from traindeck.store import Conflict, Run, Store
from traindeck.store.models import Checkpoint, Launch

from .recorded import recorded_spec
from .spec import LaunchRejected, LaunchRequest, ResolvedLike
from .templates import Template, total_steps

log = logging.getLogger("traindeck.launch")


def launched(run: Run) -> bool:
    """Whether the launcher started this run (its launch spec names the command)."""
    return bool(run.launch_spec) and "command" in (run.launch_spec or {})


def launch_spec(req: LaunchRequest, template: Any, resolved: ResolvedLike) -> dict[str, Any]:
    """What a launch row keeps of a request: enough to start it again (a restart, a resume,
    a clone). ``LaunchRejected`` when the config has errors."""
    if resolved.errors:
        raise LaunchRejected(
            f"the config of {req.template!r} is invalid",
            [{"path": e.path, "message": e.message} for e in resolved.errors])
    command = [str(c) for c in template.command]
    if not command:
        raise LaunchRejected(f"template {req.template!r} has no command", [])
    return {
        "template": req.template, "overrides": list(req.overrides), "preset": req.preset,
        "effective_overrides": list(resolved.overrides), "executor": req.executor,
        "resources": dict(req.resources), "retry": req.retry.to_dict(),
        "grace_s": req.grace_s, "command": command, "cwd": str(template.folder),
        "hydra": bool(template.hydra), "host": req.host,
        "remote": dict(getattr(template, "remote", {}) or {}),
        "total_steps": total_steps(template, resolved.config)
        if isinstance(template, Template) else None,
    }


def admit(store: Store, req: LaunchRequest, spec: dict[str, Any],
          config: dict[str, Any]) -> Launch:
    """The run (``queued``) and its launch; the run is removed again when its launch row
    cannot be made."""
    run = store.create_run(
        # Found again by what was launched: the template names the project, the preset
        # the run (the run id tells runs of one preset apart).
        project=req.project or req.template,
        name=req.name or "-".join(p for p in (req.template, req.preset) if p),
        status="queued", config=config, command=shlex.join(spec["command"]),
        launch_spec=spec, total_steps=spec.get("total_steps"))
    try:
        return store.create_launch(run_id=run.id, spec=spec, executor=req.executor)
    except BaseException:
        try:
            store.delete_run(run.id)
        except Exception:
            log.exception("run %s was made for a launch that failed; it could not be "
                          "removed", run.id)
        raise


def admit_resume(store: Store, ck: Checkpoint, open_launch: Launch | None,
                 grace_s: float | None, clock: Callable[[], float]) -> Launch:
    """A new launch of ``ck``'s run from that checkpoint: the run's own spec, or for a run
    started by hand the command it recorded (``recorded``). The launch row comes first,
    then the run is queued (a failure there fails the launch)."""
    if ck.valid is False:
        raise Conflict(f"checkpoint {ck.id!r} failed verification; resume from another "
                       "(traindeck ckpt ls marks the valid ones)")
    run = store.get_run(ck.run_id)
    if open_launch is not None:
        raise Conflict(f"run {run.id!r} is still launched; cancel it first")
    base = run.launch_spec if run.launch_spec and launched(run) else recorded_spec(run)
    spec = {**base, "resume_checkpoint": ck.path, "resume_checkpoint_id": ck.id}
    if grace_s is not None:
        spec["grace_s"] = grace_s
    launch = store.create_launch(run_id=run.id, spec=spec,
                                 executor=str(spec.get("executor", "local")))
    try:
        store.set_status(run.id, "queued")
    except BaseException:
        store.update_launch(launch.id, status="failed", ended_at=clock(),
                            error="the run could not be queued again")
        raise
    return launch
