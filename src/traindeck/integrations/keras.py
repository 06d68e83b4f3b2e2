"""Keras 3: ``TraindeckCallback`` records a ``fit`` and serves the dashboard's commands.

>>> from traindeck.integrations.keras import TraindeckCallback
>>> model.fit(x, y, validation_data=(vx, vy), epochs=5,
...           callbacks=[TraindeckCallback(project="mnist")])          # doctest: +SKIP

Steps are global batch steps (the first batch of the first epoch is 0). Every
``log_every`` batches it logs the batch logs (``loss``, ``accuracy``, …: Keras's running
means over the epoch); at the end of an epoch the epoch's logs (``epoch/loss``, …, and
``val_loss``, ``val_…`` as Keras names them) and ``epoch`` at the epoch's last step. At the
start of training the config gets the optimizer's settings (``optimizer.*``), the model's
name and size (``model.*``) and ``fit``'s ``epochs`` and ``steps``.

Commands, served after every batch: ``stop`` sets ``model.stop_training`` (training ends
after the batch); ``validate`` runs ``model.evaluate`` on ``validation_data`` (given to the
callback, else the data ``fit`` validates on once it has validated once), logs ``val_*`` at
the current step and answers the metrics; ``checkpoint`` saves ``model.save(...)`` as
``<checkpoint_dir>/checkpoint_step_0000123.keras`` and records it (also the emergency save
on Ctrl-C, SIGTERM or an exception). Files of the ``keras.callbacks.ModelCheckpoint``
callbacks passed as ``checkpoints=`` are recorded as they are written, with the monitored
value, the best one marked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..sdk.commands import CommandError
from ..sdk.run import Run
from ._common import RunHolder, expect_total, flatten_params, plain, require, scalar, scalars

keras: Any = require("keras", "keras")


class TraindeckCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Records ``model.fit`` into a traindeck run and serves its commands.

    ``run``: a run the script started (it finishes it); else the callback starts one with
    ``traindeck.init(project=..., name=..., **init_kwargs)`` when training begins and
    finishes it when training ends. ``validation_data``: what ``validate`` evaluates on,
    ``(x, y)`` or a dataset. ``checkpoints``: ``ModelCheckpoint`` callbacks whose files
    are recorded. ``log_every``: log the batch logs every that many batches.
    """

    def __init__(self, project: str | None = None, name: str | None = None,
                 run: Run | None = None, *, validation_data: Any = None,
                 checkpoints: Any = None, log_every: int = 1,
                 **init_kwargs: Any) -> None:
        super().__init__()
        if log_every < 1:
            raise ValueError("log_every must be at least 1")
        kwargs: dict[str, Any] = {k: v for k, v in (("project", project), ("name", name))
                                  if v is not None}
        self._holder = RunHolder(run, **kwargs, **init_kwargs)
        self._validation_data = validation_data
        watched = checkpoints if isinstance(checkpoints, Sequence) else (
            [] if checkpoints is None else [checkpoints])
        self._watched: list[Any] = list(watched)
        self._log_every = log_every
        self._step = 0  # the next batch's step
        self._epoch_logs: dict[str, float] = {}
        self._recorded: dict[str, int] = {}  # checkpoint path -> mtime_ns recorded
        self._registered: set[str] = set()
        self._run: Run | None = None
        self._since = 0

    @property
    def run(self) -> Run | None:
        """The run once training began (None before, and on ranks other than zero)."""
        return self._run

    # -- training ----------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._run = run = self._holder.run
        if run is None:
            return
        self._step = max(self._step, run.step)
        self._since = time.time_ns()  # ModelCheckpoint files older than this are not ours
        run.config.update(self._config())
        params = self.params or {}
        if params.get("epochs") and params.get("steps"):  # steps per epoch (None: unsized)
            expect_total(run, self._step + int(params["epochs"]) * int(params["steps"]))
        if run.id not in self._registered:
            self._registered.add(run.id)
            run.command("validate")(self._validate)
            run.on_checkpoint(self._save)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        run = self._run
        step, self._step = self._step, self._step + 1
        if run is None:
            return
        if step % self._log_every == 0:
            run.log(scalars(logs), step=step)
        if run.poll():
            self.model.stop_training = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._record_checkpoints()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        run = self._run
        if run is None:
            return
        step = max(self._step - 1, 0)
        values = scalars(logs, skip=lambda k: k.startswith("val_"))
        row = {f"epoch/{k}": v for k, v in values.items()}
        row.update(scalars(logs, skip=lambda k: not k.startswith("val_")))
        row["epoch"] = float(epoch)
        self._epoch_logs = row
        run.log(row, step=step)
        self._record_checkpoints()
        if run.poll():
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._record_checkpoints()
        self._holder.finish("completed")
        self._run = None

    # -- config --------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        model = self.model
        config: dict[str, Any] = {}
        for key in ("epochs", "steps"):
            if (self.params or {}).get(key) is not None:
                config[key] = plain(self.params[key])
        config["model.name"] = plain(getattr(model, "name", None))
        try:
            config["model.params"] = int(model.count_params())
        except Exception:  # not built yet
            pass
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            try:
                config.update(flatten_params(optimizer.get_config(), prefix="optimizer"))
            except Exception:
                config["optimizer.name"] = type(optimizer).__name__
        return config

    # -- commands ------------------------------------------------------------------------

    def _validate(self) -> dict[str, Any]:
        """``model.evaluate`` now; the training metrics' state is kept as it was."""
        run, model = self._run, self.model
        if run is None or model is None:
            raise CommandError("validate runs while the model is training")
        data = self._validation_data
        kwargs: dict[str, Any] = {"verbose": 0, "return_dict": True}
        if data is None and getattr(model, "_eval_epoch_iterator", None) is not None:
            kwargs["_use_cached_eval_dataset"] = True  # what fit() validates on
        elif data is None:
            raise CommandError("no validation data: pass TraindeckCallback(validation_data="
                               "...), or wait until fit() has validated once")
        elif isinstance(data, tuple | list) and 2 <= len(data) <= 3:
            kwargs.update(x=data[0], y=data[1])
            if len(data) == 3:
                kwargs["sample_weight"] = data[2]
        else:
            kwargs["x"] = data
        saved = [(v, keras.ops.convert_to_numpy(v.value))
                 for m in model.metrics for v in m.variables]
        training = getattr(model, "training", None)
        try:
            logs = model.evaluate(**kwargs)
        finally:
            for variable, value in saved:
                variable.assign(value)
            if training is True and callable(getattr(model, "train", None)):
                model.train()  # the torch backend's evaluate() left eval mode on
        step = max(self._step - 1, 0)
        metrics = {f"val_{k}": v for k, v in scalars(logs).items()}
        run.log(metrics, step=step)
        return {"step": step, "metrics": metrics}

    def _save(self, step: int | None = None) -> Path:
        run, model = self._run, self.model
        if run is None or model is None:
            raise CommandError("checkpoint saves while the model is training")
        step = max(self._step - 1, 0) if step is None else step
        folder = run.checkpoint_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"checkpoint_step_{step:07d}.keras"
        model.save(path)
        self._recorded[str(path)] = path.stat().st_mtime_ns  # recorded by the run
        return path

    # -- ModelCheckpoint files ---------------------------------------------------------

    def _record_checkpoints(self) -> None:
        run = self._run
        if run is None:
            return
        for cb in self._watched:
            template = str(getattr(cb, "filepath", "") or "")
            folder = Path(os.path.dirname(template) or ".")
            try:
                files = sorted(folder.iterdir())
            except OSError:
                continue
            monitor = getattr(cb, "monitor", None)
            current = scalar(self._epoch_logs.get(monitor) if monitor in self._epoch_logs
                             else self._epoch_logs.get(f"epoch/{monitor}"))
            ext = Path(template).suffix
            for path in files:
                if (ext and path.suffix != ext) or path.name.endswith(".json"):
                    continue
                try:
                    mtime = path.stat().st_mtime_ns
                except OSError:
                    continue
                if mtime < self._since or self._recorded.get(str(path)) == mtime:
                    continue
                metrics = {monitor: current} if monitor and current is not None else None
                step = max(self._step - 1, 0)
                if run.log_checkpoint(path, step=step, metrics=metrics,
                                      metadata={"saved_by": "ModelCheckpoint"}) is None:
                    continue
                self._recorded[str(path)] = mtime
                best = scalar(getattr(cb, "best", None))
                if current is not None and best is not None and current == best:
                    try:
                        run.mark_best(path)
                    except ValueError:
                        pass


__all__ = ["TraindeckCallback"]
