"""One export, prepared then streamed: what ``traindeck export`` and
``GET /api/runs/{id}/export`` both run.

:func:`prepare` does everything that can fail before a byte is sent (unknown run, unknown
format, missing library) and picks the series; :meth:`Export.chunks` then yields the
file's bytes as they are made, block by block, so neither the CLI nor the server ever holds
a whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from traindeck.store import InvalidInput, SeriesInfo, Store

from . import csv, parquet, tensorboard
from .blocks import Block, blocks, select_series

#: The formats, each with its media type and file suffix.
FORMATS: Final = {
    "csv": (csv.MEDIA_TYPE, csv.SUFFIX),
    "parquet": (parquet.MEDIA_TYPE, parquet.SUFFIX),
    "tensorboard": (tensorboard.MEDIA_TYPE, tensorboard.SUFFIX),
}
#: Most buckets one series may be exported as (the store's own bound).
MAX_BUCKETS: Final = 100_000


class Writer(Protocol):
    """Turns blocks into a file's bytes: header, rows per block, then the end; each
    returns the bytes that are ready, at once or in pieces."""

    def header(self) -> bytes: ...
    def rows(self, block: Block) -> bytes | Iterable[bytes]: ...
    def close(self) -> bytes | Iterable[bytes]: ...


def writer_for(fmt: str, *, bucketed: bool, store: Store | None = None,
               run_ids: Sequence[str] = ()) -> Writer:
    """The writer of ``fmt``; ``InvalidInput`` for an unknown format, ``MissingDependency``
    when its library is not installed. TensorBoard's (a tar of one event file per run)
    names the run folders after the runs of ``store``."""
    if fmt == "csv":
        return csv.CsvWriter(bucketed=bucketed)
    if fmt == "parquet":
        return parquet.ParquetWriter(bucketed=bucketed)
    if fmt == "tensorboard":
        if bucketed:
            raise InvalidInput("the tensorboard format exports raw points (no buckets)")
        runs = [] if store is None else [store.get_run(r) for r in dict.fromkeys(run_ids)]
        return tensorboard.TarWriter(tensorboard.run_folders({r.id: r.name for r in runs}),
                                     {r.id: r.created_at for r in runs})
    raise InvalidInput(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")


def _pieces(data: bytes | Iterable[bytes]) -> Iterator[bytes]:
    if isinstance(data, bytes):
        if data:
            yield data
        return
    for piece in data:
        if piece:
            yield piece


@dataclass(slots=True)
class Export:
    """A prepared export: the series to write, in order, and the writer."""

    store: Store
    series: list[SeriesInfo]
    writer: Writer
    buckets: int | None
    media_type: str
    suffix: str
    #: How many rows (points, or buckets) were written so far.
    rows: int = field(default=0)

    @property
    def total(self) -> int:
        """Rows the export will write at most: the series' points, or N per series."""
        if self.buckets is None:
            return sum(s.count for s in self.series)
        return sum(min(s.count, self.buckets) for s in self.series)

    def chunks(self, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The file's bytes, as they are made; ``progress(rows)`` after each block."""
        yield from _pieces(self.writer.header())
        for block in blocks(self.store, self.series, self.buckets):
            yield from _pieces(self.writer.rows(block))
            self.rows += len(block)
            if progress is not None:
                progress(len(block))
        yield from _pieces(self.writer.close())


def prepare(store: Store, run_ids: Sequence[str], fmt: str, *,
            keys: Sequence[str] = (), buckets: int | None = None) -> Export:
    """An export of the series of ``run_ids`` whose keys match ``keys`` (exact keys or
    globs; none: every key), as raw points or as ``buckets`` buckets per series.

    Raises ``NotFound`` for an unknown run, ``InvalidInput`` for an unknown format or a
    bucket count out of range, ``MissingDependency`` when the format's library is missing.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    if buckets is not None and not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidInput(f"buckets must be between 1 and {MAX_BUCKETS}")
    series = [s for run_id in dict.fromkeys(run_ids)
              for s in select_series(store, run_id, keys)]
    writer = writer_for(fmt, bucketed=buckets is not None, store=store, run_ids=run_ids)
    media_type, suffix = FORMATS[fmt]
    return Export(store, series, writer, buckets, media_type, suffix)
