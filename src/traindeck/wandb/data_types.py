"""``wandb.Image``, ``wandb.Histogram``, ``wandb.Table``: what each becomes in traindeck.

Each type says itself how it is stored (``_td_emit(out, key)``), so the run needs no chain
of ``isinstance`` checks:

- ``Image`` → ``run.log_image`` (a PNG in the run's media, shown in the gallery). The input
  is taken as wandb takes it: a numpy array (``HxW``, ``HxWxC``; channels-first ``CxHxW``
  is turned around), a torch tensor (``CxHxW``), a PIL image, or the path of an image file;
  float pixels are scaled as wandb guesses (``[0, 1]`` → times 255, ``[-1, 1]`` → to
  0..255, anything else clipped to 0..255).
- ``Histogram`` → a *distribution series*: ``<key>/min``, ``/p5``, ``/p25``, ``/p50``,
  ``/p75``, ``/p95``, ``/max``, ``/mean``, ``/std`` at the row's step (from the values,
  or from ``np_histogram=(counts, edges)`` by the bins' centres).
- ``Table`` → a CSV artifact ``artifacts/tables/<key>_<step>.csv`` (a header of the
  columns, one line a row; cells that are not plain values are written as their text).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from ..sdk.media import check_file, to_pixels

#: The percentiles a histogram keeps as series.
PERCENTILES: Final = (5, 25, 50, 75, 95)

Pixels = np.ndarray[Any, Any]


class Emitter(Protocol):
    """Where a logged value goes, for the row being committed."""

    step: int
    scalars: dict[str, float]

    def image(self, key: str, image: Pixels | Path, caption: str | None) -> None: ...

    def table(self, key: str, columns: list[str], rows: list[list[Any]]) -> None: ...

    def skip(self, key: str, why: str) -> None: ...


class Image:
    """``wandb.Image(data_or_path, mode=None, caption=None, ...)``; boxes, masks and
    classes are accepted and not stored."""

    def __init__(self, data_or_path: Any, mode: str | None = None, caption: str | None = None,
                 grouping: int | None = None, classes: Any = None, boxes: Any = None,
                 masks: Any = None, file_type: str | None = None, normalize: bool = True,
                 **_ignored: Any) -> None:
        self.caption = None if caption is None else str(caption)
        self._pixels: Pixels | None = None
        self._path: Path | None = None
        self.error: str | None = None
        try:
            if isinstance(data_or_path, Image):
                self._pixels, self._path = data_or_path._pixels, data_or_path._path
                self.error = data_or_path.error
            elif isinstance(data_or_path, str | os.PathLike):
                self._path = check_file(data_or_path)[0]
            else:
                self._pixels = _pixels(data_or_path, normalize)
        except (TypeError, ValueError, OSError) as exc:
            self.error = str(exc)

    @property
    def image(self) -> Pixels | None:
        """The pixels (``uint8``), when made from an array, tensor or PIL image."""
        return self._pixels

    def _td_emit(self, out: Emitter, key: str) -> None:
        payload = self._pixels if self._pixels is not None else self._path
        if payload is None:
            out.skip(key, f"wandb.Image could not be read: {self.error}")
            return
        out.image(key, payload, self.caption)


def _pixels(data: Any, normalize: bool) -> Pixels:
    if hasattr(data, "detach") and hasattr(data, "numpy"):  # a torch tensor: CxHxW
        arr = np.asarray(data.detach().cpu().numpy())
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)
    elif isinstance(data, np.ndarray | list | tuple):
        arr = np.asarray(data)
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
            arr = arr.transpose(1, 2, 0)
    else:
        return to_pixels(data)  # a PIL image, or TypeError
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if np.issubdtype(arr.dtype, np.floating):
        arr = _rescale(arr.astype(np.float64), normalize)
    elif np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return to_pixels(arr)


def _rescale(arr: Pixels, normalize: bool) -> Pixels:
    """Float pixels to ``uint8`` the way wandb guesses their range."""
    arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if normalize and lo >= 0.0 and hi <= 1.0:
        arr = arr * 255.0
    elif normalize and lo >= -1.0 and hi <= 1.0:
        arr = (arr + 1.0) * 127.5
    out: Pixels = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return out


class Histogram:
    """``wandb.Histogram(sequence=None, np_histogram=None, num_bins=64)``, stored as the
    summary statistics of the distribution, one series each (see the module docstring)."""

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64
                 ) -> None:
        self.stats: dict[str, float] = {}
        self.histogram: list[float] = []
        self.bins: list[float] = []
        self.error: str | None = None
        try:
            if np_histogram is not None:
                counts, edges = (np.asarray(a, dtype=np.float64) for a in np_histogram)
                self._from_bins(counts, edges)
            elif sequence is not None:
                self._from_values(_numbers(sequence), num_bins)
            else:
                raise ValueError("Histogram takes a sequence or np_histogram")
        except (TypeError, ValueError) as exc:
            self.error = str(exc)

    def _from_values(self, values: Pixels, num_bins: int) -> None:
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError("a histogram of no finite values")
        counts, edges = np.histogram(values, bins=max(1, min(int(num_bins), 512)))
        self.histogram, self.bins = counts.tolist(), edges.tolist()
        pct = np.percentile(values, PERCENTILES)
        self.stats = {"min": float(values.min()), "max": float(values.max()),
                      "mean": float(values.mean()), "std": float(values.std()),
                      **{f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)}}

    def _from_bins(self, counts: Pixels, edges: Pixels) -> None:
        if counts.ndim != 1 or edges.shape != (counts.size + 1,) or counts.size == 0:
            raise ValueError("np_histogram is (counts, bin_edges) with one more edge than count")
        total = float(counts.sum())
        if total <= 0 or not np.isfinite(edges).all():
            raise ValueError("np_histogram has no counts or non-finite edges")
        self.histogram, self.bins = counts.tolist(), edges.tolist()
        centres = (edges[:-1] + edges[1:]) / 2
        mean = float((centres * counts).sum() / total)
        nonzero = np.nonzero(counts)[0]
        # percentiles: linear within the bin where the cumulative count crosses them
        cum = np.concatenate([[0.0], np.cumsum(counts)]) / total
        pct = np.interp([p / 100 for p in PERCENTILES], cum, edges)
        self.stats = {"min": float(edges[nonzero[0]]), "max": float(edges[nonzero[-1] + 1]),
                      "mean": mean,
                      "std": float(np.sqrt((counts * (centres - mean) ** 2).sum() / total)),
                      **{f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)}}

    def _td_emit(self, out: Emitter, key: str) -> None:
        if not self.stats:
            out.skip(key, f"wandb.Histogram could not be made: {self.error}")
            return
        for name, value in self.stats.items():
            out.scalars[f"{key}/{name}"] = value


def _numbers(sequence: Any) -> Pixels:
    if hasattr(sequence, "detach") and hasattr(sequence, "numpy"):
        sequence = sequence.detach().cpu().numpy()
    arr = np.asarray(sequence, dtype=np.float64).ravel()
    return arr


class Table:
    """``wandb.Table(columns=None, data=None, rows=None, dataframe=None, ...)`` with
    ``add_data``, ``add_column``, ``get_column``; logged as a CSV artifact."""

    def __init__(self, columns: Sequence[Any] | None = None, data: Any = None,
                 rows: Any = None, dataframe: Any = None, **_ignored: Any) -> None:
        if dataframe is not None:
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.values.tolist()
        data = rows if data is None else data
        self.data: list[list[Any]] = [list(r) for r in (data if data is not None else [])]
        width = max((len(r) for r in self.data), default=0)
        self.columns: list[str] = ([str(c) for c in columns] if columns is not None
                                   else [f"Column {i + 1}" for i in range(width)])

    def add_data(self, *row: Any) -> None:
        """Append one row (one value per column)."""
        self.data.append(list(row))

    def add_row(self, *row: Any) -> None:
        self.add_data(*row)

    def add_column(self, name: str, data: Sequence[Any]) -> None:
        """Append a column (one value per existing row)."""
        values = list(data)
        if self.data and len(values) != len(self.data):
            raise ValueError(f"column {name!r} has {len(values)} values for "
                             f"{len(self.data)} rows")
        self.columns.append(str(name))
        if not self.data:
            self.data = [[v] for v in values]
        else:
            for row, v in zip(self.data, values, strict=True):
                row.append(v)

    def get_column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] if i < len(row) else None for row in self.data]

    def _td_emit(self, out: Emitter, key: str) -> None:
        out.table(key, list(self.columns), [list(r) for r in self.data])
