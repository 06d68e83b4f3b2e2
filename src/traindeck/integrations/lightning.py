"""PyTorch Lightning: ``TraindeckLogger`` records, ``TraindeckCallback`` takes commands.

>>> from traindeck.integrations.lightning import TraindeckCallback, TraindeckLogger
>>> trainer = Trainer(logger=TraindeckLogger(project="mnist", name="baseline"),
...                   callbacks=[TraindeckCallback()])                # doctest: +SKIP

The logger records what Lightning logs (``self.log(...)``) at Lightning's step, the
hyperparameters (``save_hyperparameters()``) as the run's config (flattened, ``a.b``), and
every file ``ModelCheckpoint`` writes as a checkpoint of the run, with the monitored
metric, the best one marked. Without ``dirpath`` those files go to the run's checkpoint
folder. ``finalize`` finishes a run the logger started: ``success`` → completed (cancelled
when stopped from the dashboard), ``failed`` → failed (interrupted for Ctrl-C).

The callback serves the dashboard at the end of every training batch: ``stop`` ends
training after that batch (``trainer.should_stop``), ``validate`` runs the validation loop
there and answers its metrics, ``checkpoint`` saves ``trainer.save_checkpoint`` into the
run's checkpoint folder and records it (also the emergency save on Ctrl-C, SIGTERM or an
exception). Rank zero holds the run; with several processes only ``stop`` is served (every
rank learns it), since ``validate`` and ``checkpoint`` need every rank at once.

``lightning.pytorch`` is used, or ``pytorch_lightning`` when only that one is imported.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ..sdk.commands import CommandError
from ..sdk.run import Run
from ._common import (
    RunHolder,
    expect_total,
    final_status,
    flatten_params,
    require,
    scalar,
    scalars,
)


def _framework() -> ModuleType:
    """``lightning.pytorch``, or ``pytorch_lightning`` when a script uses that one."""
    if "pytorch_lightning" in sys.modules and "lightning.pytorch" not in sys.modules:
        return importlib.import_module("pytorch_lightning")
    try:
        return importlib.import_module("lightning.pytorch")
    except ImportError:
        return require("pytorch_lightning", "lightning")


pl: Any = _framework()
_rank_zero_only: Any = pl.utilities.rank_zero.rank_zero_only


def _is_rank_zero() -> bool:
    return int(getattr(_rank_zero_only, "rank", 0) or 0) == 0


class TraindeckLogger(pl.loggers.Logger):  # type: ignore[misc]
    """A Lightning logger that records into a traindeck run.

    ``run``: a run the script started (it finishes it); else the logger starts one with
    ``traindeck.init(project=..., name=..., **init_kwargs)`` on rank zero when Lightning
    first logs, and finishes it in ``finalize``. ``prefix`` goes before every metric key.
    """

    def __init__(self, project: str | None = None, name: str | None = None,
                 run: Run | None = None, *, prefix: str = "", **init_kwargs: Any) -> None:
        super().__init__()
        kwargs: dict[str, Any] = {k: v for k, v in (("project", project), ("name", name))
                                  if v is not None}
        self._holder = RunHolder(run, is_rank_zero=_is_rank_zero, **kwargs, **init_kwargs)
        self._prefix = prefix
        self._recorded: dict[str, int] = {}  # checkpoint path -> mtime_ns recorded
        self._best: str | None = None
        self._last_step = 0

    # -- what Lightning asks of a logger ------------------------------------------------

    @property
    def run(self) -> Run | None:
        """The run (started on first use), None on ranks other than zero."""
        return self._holder.run

    @property
    def experiment(self) -> Run | None:
        return self._holder.run

    @property
    def name(self) -> str:
        # ModelCheckpoint saves into save_dir/name/version/checkpoints: empty name and
        # version make that the run's checkpoint folder.
        return ""

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str | None:
        """The folder above the run's checkpoint folder (its run folder by default)."""
        run = self._holder.run
        if run is None or run.dir is None:
            return None
        folder = run.checkpoint_dir
        return str(folder.parent if folder.name == "checkpoints" else run.dir)

    def _rank_zero_run(self) -> Run | None:
        return self._holder.run if _is_rank_zero() else None

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        run = self._rank_zero_run()
        if run is not None:
            run.config.update(flatten_params(params))

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        run = self._rank_zero_run()
        if run is None:
            return
        if step is not None:
            self._last_step = int(step)
        run.log(scalars(metrics, self._prefix), step=step)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Record the files ``ModelCheckpoint`` wrote since the last call; mark its best."""
        run = self._rank_zero_run()
        if run is None:
            return
        step = getattr(checkpoint_callback, "_last_global_step_saved", None)
        step = self._last_step if not isinstance(step, int) or step < 0 else step
        monitor = getattr(checkpoint_callback, "monitor", None)
        for path, score in _written(checkpoint_callback).items():
            p = Path(path)
            try:
                mtime = p.stat().st_mtime_ns
            except OSError:
                continue
            if self._recorded.get(str(p)) == mtime:
                continue
            metrics = {monitor: score} if monitor and score is not None else None
            if run.log_checkpoint(p, step=step, metrics=metrics,
                                  metadata={"saved_by": "ModelCheckpoint"}) is not None:
                self._recorded[str(p)] = mtime
        best = getattr(checkpoint_callback, "best_model_path", "") or None
        if best and best != self._best and str(Path(best)) in self._recorded:
            try:
                run.mark_best(best)
                self._best = best
            except ValueError:
                pass

    def finalize(self, status: str) -> None:
        """Finish a run the logger started: ``success`` → completed, ``failed`` → failed
        (interrupted when the exception is a KeyboardInterrupt), ``finished`` (a SLURM
        requeue) → interrupted. A later ``trainer.test()`` continues the same run."""
        run = self._holder.started
        if run is None or not _is_rank_zero() or not self._holder.owns_run or run.finished:
            return
        if status == "failed" and isinstance(sys.exc_info()[1], KeyboardInterrupt):
            status = "interrupted"
        td_status = "interrupted" if status == "finished" else final_status(status)
        if td_status != "completed":
            run._emergency_checkpoint(td_status)
        self._holder.finish(td_status)


def _written(checkpoint_callback: Any) -> dict[str, float | None]:
    """The checkpoint files a ``ModelCheckpoint`` keeps, with their scores; its ``last``
    file (overwritten every time) is left out."""
    files: dict[str, float | None] = {}
    last_name = getattr(checkpoint_callback, "CHECKPOINT_NAME_LAST", "last")
    last = getattr(checkpoint_callback, "last_model_path", "") or ""
    if last and not Path(last).stem.startswith(str(last_name)):
        files[last] = scalar(getattr(checkpoint_callback, "current_score", None))
    for path, score in (getattr(checkpoint_callback, "best_k_models", None) or {}).items():
        files[str(path)] = scalar(score)
    return files


class TraindeckCallback(pl.Callback):  # type: ignore[misc]
    """Serves the dashboard's commands at the end of every training batch.

    The run is ``run`` if given, else that of the Trainer's ``TraindeckLogger``, else the
    current run (``traindeck.current_run()``). ``validate``/``checkpoint`` set to False
    leave those commands out.
    """

    def __init__(self, run: Run | None = None, *, validate: bool = True,
                 checkpoint: bool = True) -> None:
        super().__init__()
        self._given = run
        self._offer_validate = validate
        self._offer_checkpoint = checkpoint
        self._trainer: Any = None
        self._run: Run | None = None
        self._registered: set[str] = set()  # run ids whose handlers point here

    def _find_run(self, trainer: Any) -> Run | None:
        if self._given is not None:
            return self._given if trainer.is_global_zero else None
        if not trainer.is_global_zero:
            return None
        for logger in trainer.loggers:
            if isinstance(logger, TraindeckLogger):
                return logger.run
        from ..sdk.init import current_run

        return current_run()

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._trainer = trainer
        self._run = run = self._find_run(trainer)
        if run is None or run.id in self._registered:
            return
        self._registered.add(run.id)
        if trainer.world_size > 1:
            return  # only stop: the others need every rank at once
        if self._offer_validate:
            run.command("validate")(self._validate)
        if self._offer_checkpoint:
            run.on_checkpoint(self._save)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # optimizer steps (the logger's step counts them too); inf for an unsized loader
        if self._run is not None:
            expect_total(self._run, trainer.estimated_stepping_batches)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._trainer = None

    # -- serving ------------------------------------------------------------------------

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._poll(trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._poll(trainer)

    def _poll(self, trainer: Any) -> None:
        run = self._run
        stop = run.poll() if run is not None and not run.finished else False
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            trainer.should_stop = True

    # -- the commands -------------------------------------------------------------------

    def _validate(self) -> dict[str, Any]:
        """Run the validation loop now (from inside the training loop, as Lightning does
        between batches) and answer its metrics."""
        trainer = self._trainer
        if trainer is None or not trainer.training or trainer.sanity_checking:
            raise CommandError("validate runs while the Trainer is training")
        loop = trainer.fit_loop.epoch_loop
        connector = trainer._logger_connector
        first_iter = getattr(connector, "_first_loop_iter", None)
        trainer.validating = True
        try:
            outputs = loop.val_loop.run()
        finally:
            trainer.training = True
            if first_iter is not None:
                connector._first_loop_iter = first_iter
        metrics: dict[str, Any] = {}
        for output in outputs or []:
            metrics.update(scalars(output))
        if not outputs:
            raise CommandError("no validation ran: the Trainer has no validation data "
                               "(no val_dataloader, or limit_val_batches=0)")
        # the step Lightning logged them at (its logger step, not yet advanced past this batch)
        step = getattr(loop, "_batches_that_stepped", trainer.global_step)
        return {"step": int(step), "metrics": metrics}

    def _save(self, step: int | None = None) -> Path:
        """Save the Trainer's full checkpoint into the run's checkpoint folder."""
        trainer, run = self._trainer, self._run
        if trainer is None or run is None:
            raise CommandError("checkpoint saves while the Trainer runs")
        step = int(trainer.global_step) if step is None else step
        path = run.checkpoint_dir / f"checkpoint_step_{step:07d}.ckpt"
        trainer.save_checkpoint(path)
        return path


__all__ = ["TraindeckCallback", "TraindeckLogger"]
