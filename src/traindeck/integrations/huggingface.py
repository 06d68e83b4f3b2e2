"""Hugging Face Transformers: :class:`TraindeckCallback`, a ``TrainerCallback``.

    trainer = Trainer(model=model, args=TrainingArguments(..., report_to="none"),
                      train_dataset=train, eval_dataset=val,
                      callbacks=[TraindeckCallback(project="glue", name="tiny-bert")])
    trainer.train()

On rank zero (``state.is_world_process_zero``) it records:

- every ``Trainer.log`` (``on_log``) as metrics at ``state.global_step``, named as Hugging
  Face's own trackers name them: ``eval_loss`` → ``eval/loss``, ``test_*`` → ``test/*``,
  the rest under ``train/`` (``train/loss``, ``train/learning_rate``, ``train/epoch``);
- the ``TrainingArguments`` (``args.to_dict()``, secrets already masked by it) as the run's
  config, flat, with the model's config under ``model.``;
- each checkpoint folder the Trainer saves (``<output_dir>/checkpoint-<step>``), at its
  step, with that step's evaluation metrics (``metric_for_best_model`` among them); the
  one ``state.best_model_checkpoint`` names is marked best.

Dashboard commands set the Trainer's own switches (``TrainerControl``). They are served in
the training thread at ``run.poll()`` in ``on_step_end``, right after the Trainer decided
what to do at this step, so they act at this step (a command served by a ``run.log`` in
``on_log`` acts at the next one; its result says which):

- ``stop`` → ``should_training_stop``: the Trainer ends after this step; the run ends
  ``cancelled`` (with the SDK's ``stopped`` event);
- ``checkpoint`` → ``should_save``: the Trainer saves ``checkpoint-<step>`` after this step
  (recorded like its other checkpoints);
- ``validate`` → ``should_evaluate``: the Trainer evaluates after this step (offered when
  it has an evaluation set, i.e. ``eval_strategy`` is not ``"no"``).

Each result says at which step the command acts (and the checkpoint's path); an event
``trainer`` says what the Trainer then did. A run the callback started is finished in
``on_train_end``; a run given with ``run=`` is the script's to finish. In a job of several
processes only rank zero records, and ``checkpoint``/``validate`` are not offered (one
rank alone must not change the Trainer's schedule); ``stop`` is acknowledged but only
noted, for the same reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ..sdk.run import Run
from ._common import RunHolder, expect_total, flatten_params, require, scalars

_transformers = require("transformers", "huggingface")
_Base: Any = _transformers.TrainerCallback

#: The commands the callback serves, and the ``TrainerControl`` switch each one sets.
SWITCHES: Final = {"checkpoint": "should_save", "validate": "should_evaluate"}
#: The folder name prefix of the Trainer's checkpoints (``PREFIX_CHECKPOINT_DIR``).
CHECKPOINT_PREFIX: Final = "checkpoint"
#: Evaluation results that say how fast, not how good: not kept with a checkpoint.
_SPEED_SUFFIXES: Final = ("_runtime", "_per_second")


def metric_name(key: str) -> str:
    """The series a key of the Trainer's logs goes to: ``eval_loss`` → ``eval/loss``,
    ``test_acc`` → ``test/acc``, anything else → ``train/<key>``."""
    for theirs, ours in (("eval_", "eval/"), ("test_", "test/")):
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    return "train/" + key


def _text(value: Any) -> str:
    """An enum of the Trainer's (``IntervalStrategy.NO``) or a string, as its value."""
    return str(getattr(value, "value", value))


class TraindeckCallback(_Base):  # type: ignore[misc]
    """Records a ``transformers.Trainer``'s training in a traindeck run and lets the
    dashboard stop it, save a checkpoint or evaluate (see the module docstring).

    ``run``: a run the script started (it finishes it); otherwise the callback starts one
    with ``traindeck.init(project=project, name=name, **init_kwargs)`` when training
    begins, on rank zero, and finishes it when training ends (``completed``, or
    ``cancelled`` when stopped from the dashboard). Use ``report_to="none"`` in the
    ``TrainingArguments`` unless other trackers are wanted as well.
    """

    def __init__(self, project: str | None = None, name: str | None = None,
                 run: Run | None = None, **init_kwargs: Any) -> None:
        super().__init__()
        kwargs = dict(init_kwargs)
        if project is not None:
            kwargs["project"] = project
        if name is not None:
            kwargs["name"] = name
        self._zero = True
        self._holder = RunHolder(run, is_rank_zero=lambda: self._zero, **kwargs)
        #: Config keys the script gave ``init``: the Trainer's arguments never replace them.
        self._given_config = set(kwargs.get("config") or {})
        self._configured: Run | None = None
        self._args: Any = None
        self._training = False
        self._steer = True  # one process: commands may set the Trainer's switches
        self._step = 0  # the Trainer's global step, as the last hook saw it
        self._serving: int | None = None  # the step whose on_step_end serves commands
        self._asked: dict[str, int] = {}  # command → the step it was promised for
        self._acting: dict[str, int] = {}  # command → the step whose switch it set
        self._stopped_at: int | None = None
        self._evaluations: dict[int, dict[str, float]] = {}
        self._recorded: set[str] = set()
        self._best: str | None = None

    @property
    def run(self) -> Run | None:
        """The run being recorded to (None before training, or on another rank)."""
        return self._holder.started

    # -- the run ------------------------------------------------------------------

    def _open(self, args: Any, state: Any, model: Any, *, new: bool) -> Run | None:
        """The run to report to, started now if needed; None on another rank, and (unless
        ``new``, at the start of training) once the callback's run has finished."""
        self._zero = bool(state.is_world_process_zero)
        started = self._holder.started
        if not new and started is not None and started.finished:
            return None  # an evaluate() after training does not start a second run
        run = self._holder.run
        if run is None or run.finished:
            return None
        if run is not self._configured:
            self._configured = run
            self._configure(run, args, model)
        return run

    def _configure(self, run: Run, args: Any, model: Any) -> None:
        """The training arguments (and the model's config) into the run's config, and the
        commands it offers."""
        self._args = args
        self._steer = int(getattr(args, "world_size", 1) or 1) == 1
        if self._zero:
            config = flatten_params(args.to_dict())
            model_config = getattr(model, "config", None)
            if model_config is not None:
                config.update(flatten_params(model_config, prefix="model"))
            # The script's own keys win: those given to init, or already in a given run.
            mine = self._given_config | (set() if self._holder.owns_run else set(run.config))
            run.config.update({k: v for k, v in config.items() if k not in mine})
        if not self._steer:
            return
        offered = run.commands
        if "checkpoint" not in offered:
            run.command("checkpoint")(self._checkpoint_command)
        if _text(getattr(args, "eval_strategy", "no")) != "no" and "validate" not in offered:
            run.command("validate")(self._validate_command)

    # -- commands (run in the training thread, at poll() or log()) -------------------

    def _ask(self, name: str) -> int:
        """Promise ``name``'s switch for a step: this one when served in ``on_step_end``
        (the Trainer has not yet logged, evaluated or saved at it), else the next one."""
        if not self._training:
            raise RuntimeError("the Trainer is not training now")
        step = self._serving if self._serving is not None else self._step + 1
        self._asked[name] = step
        return step

    def _checkpoint_command(self) -> dict[str, Any]:
        step = self._ask("checkpoint")
        folder = Path(self._args.output_dir) / f"{CHECKPOINT_PREFIX}-{step}"
        return {"will": "save a checkpoint", "step": step, "path": str(folder.absolute())}

    def _validate_command(self) -> dict[str, Any]:
        return {"will": "evaluate", "step": self._ask("validate")}

    # -- the Trainer's hooks ----------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._evaluations.clear()
        self._recorded.clear()
        self._asked.clear()
        self._acting.clear()
        self._stopped_at = self._best = None
        run = self._open(args, state, kwargs.get("model"), new=True)
        self._training = run is not None
        if run is not None and self._zero:
            expect_total(run, state.max_steps)  # global steps (the metrics' step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._zero = bool(state.is_world_process_zero)
        run = self._holder.started
        if run is None or run.finished or not self._zero:
            return
        step = self._step = int(state.global_step)
        self._serving = step
        try:
            run.poll()  # serves waiting commands (and blocks while paused)
        finally:
            self._serving = None
        for name, due in list(self._asked.items()):
            if due <= step:
                del self._asked[name]
                setattr(control, SWITCHES[name], True)
                self._acting[name] = step
        if run.should_stop and self._stopped_at is None:
            self._stopped_at = step
            if self._steer:
                control.should_training_stop = True
            else:
                run.event("trainer", {"command": "stop", "step": step, "done": False,
                                      "why": "a job of several processes is not stopped "
                                             "from rank zero alone"})

    def on_log(self, args: Any, state: Any, control: Any,
               logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        run = self._open(args, state, kwargs.get("model"), new=False)
        if run is None or not self._zero:
            return
        self._step = int(state.global_step)
        values = scalars(logs)
        if values:
            run.log({metric_name(k): v for k, v in values.items()}, step=int(state.global_step))

    def on_evaluate(self, args: Any, state: Any, control: Any,
                    metrics: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        run = self._holder.started
        if run is None or run.finished or not self._zero:
            return
        step = int(state.global_step)
        kept = {metric_name(k): v for k, v in scalars(metrics).items()
                if not k.endswith(_SPEED_SUFFIXES) and k != "epoch"}
        self._evaluations[step] = kept
        if self._acting.get("validate") == step:
            del self._acting["validate"]
            run.event("trainer", {"command": "validate", "step": step, "done": True,
                                  "metrics": kept})

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        run = self._holder.started
        if run is None or run.finished or not self._zero:
            return
        step = int(state.global_step)
        folder = (Path(args.output_dir) / f"{CHECKPOINT_PREFIX}-{step}").absolute()
        if not folder.is_dir():
            return  # saved elsewhere (a hyperparameter search's trial folder)
        asked = self._acting.get("checkpoint") == step
        metadata = {"saved_by": "transformers.Trainer",
                    "reason": "command" if asked else "schedule"}
        if run.log_checkpoint(folder, step=step, metrics=self._evaluations.get(step),
                              metadata=metadata) is None:
            return
        self._recorded.add(os.path.abspath(folder))
        if asked:
            del self._acting["checkpoint"]
            run.event("trainer", {"command": "checkpoint", "step": step, "done": True,
                                  "path": str(folder)})
        best = state.best_model_checkpoint
        if best:
            best = os.path.abspath(best)
            if best != self._best and best in self._recorded:
                self._best = best
                try:
                    run.mark_best(best)
                except ValueError:
                    pass  # recorded but not written (yet): the next save marks it

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        run = self._holder.started
        self._training = False
        if run is None or run.finished or not self._zero:
            return
        step = int(state.global_step)
        for name, due in {**self._asked, **self._acting}.items():
            run.event("trainer", {"command": name, "step": due, "done": False,
                                  "why": f"training ended at step {step} first"})
        self._asked.clear()
        self._acting.clear()
        if self._stopped_at is not None and self._steer:
            run.event("trainer", {"command": "stop", "step": step, "done": True,
                                  "max_steps": int(state.max_steps)})
        self._holder.finish("completed")


__all__ = ["TraindeckCallback", "metric_name"]
