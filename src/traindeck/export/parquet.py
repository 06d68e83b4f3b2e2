"""Parquet export through pyarrow (the ``[export]`` extra), written as a stream.

Columns: ``run_id`` and ``key`` strings (dictionary-encoded in the file), ``step`` int64,
``time`` and ``value`` float64 (NaN and ±Inf kept as they are); a bucketed export has the
columns of ``blocks.BUCKET_COLUMNS``, min/max/mean null where a bucket holds no finite
value. Blocks are gathered into row groups of about :data:`ROW_GROUP` rows, and the bytes
of each finished row group are handed on at once (the writer's sink is a :class:`Drain`),
so a response can stream a run of any length with bounded memory.

pyarrow is imported when an export starts, not with traindeck: the core install stays
small, and a missing pyarrow is a clear :class:`MissingDependency` message.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

import numpy as np

from traindeck.store import InvalidInput

from .blocks import BUCKET_COLUMNS, BUCKET_INTS, BUCKET_NULLABLE, POINT_COLUMNS, Block

MEDIA_TYPE: Final = "application/vnd.apache.parquet"
SUFFIX: Final = ".parquet"
#: Rows gathered before a row group is written (bounded memory, decent compression).
ROW_GROUP: Final = 1 << 18


class MissingDependency(InvalidInput):
    """An export format whose library is not installed (``pip install 'traindeck[export]'``)."""


def pyarrow() -> Any:
    """The ``pyarrow`` module, or :class:`MissingDependency` saying how to install it."""
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        raise MissingDependency(
            "Parquet export needs pyarrow: pip install 'traindeck[export]'") from None


class Drain:
    """A write-only file that keeps what was written until :meth:`take` hands it on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        b = bytes(data)
        self._parts.append(b)
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class ParquetWriter:
    """Turns blocks into Parquet bytes: :meth:`header`, :meth:`rows` per block, then
    :meth:`close` (the footer); each returns the bytes that are ready."""

    def __init__(self, *, bucketed: bool) -> None:
        pa = self._pa = pyarrow()
        self._pq = importlib.import_module("pyarrow.parquet")
        self._bucketed = bucketed
        names = BUCKET_COLUMNS if bucketed else POINT_COLUMNS
        fields = [pa.field("run_id", pa.string(), nullable=False),
                  pa.field("key", pa.string(), nullable=False)]
        for name in names[2:]:
            if bucketed:
                kind = pa.int64() if name in BUCKET_INTS else pa.float64()
                fields.append(pa.field(name, kind, nullable=name in BUCKET_NULLABLE))
            else:
                kind = pa.int64() if name == "step" else pa.float64()
                fields.append(pa.field(name, kind, nullable=False))
        self._schema = pa.schema(fields)
        self._names = names
        self._sink = Drain()
        self._writer: Any = None
        self._pending: list[Any] = []
        self._pending_rows = 0

    def header(self) -> bytes:
        pa = self._pa
        self._writer = self._pq.ParquetWriter(
            pa.PythonFile(self._sink, mode="w"), self._schema, compression="snappy",
            use_dictionary=["run_id", "key"], write_statistics=["step", "first_step"])
        return self._sink.take()

    def _strings(self, value: str, n: int) -> Any:
        pa = self._pa
        idx = pa.array(np.zeros(n, dtype=np.int32))
        return pa.DictionaryArray.from_arrays(idx, pa.array([value])).cast(pa.string())

    def rows(self, block: Block) -> bytes:
        pa = self._pa
        n = len(block)
        arrays = [self._strings(block.run_id, n), self._strings(block.key, n)]
        for name in self._names[2:]:
            col = block.columns[name]
            if block.valid is not None and name in BUCKET_NULLABLE:
                arrays.append(pa.array(col, mask=~block.valid))
            else:
                arrays.append(pa.array(col))
        self._pending.append(pa.RecordBatch.from_arrays(arrays, schema=self._schema))
        self._pending_rows += n
        if self._pending_rows >= ROW_GROUP:
            self._flush()
        return self._sink.take()

    def _flush(self) -> None:
        if self._pending:
            table = self._pa.Table.from_batches(self._pending, schema=self._schema)
            self._writer.write_table(table, row_group_size=max(ROW_GROUP, len(table)))
            self._pending.clear()
            self._pending_rows = 0

    def close(self) -> bytes:
        self._flush()
        self._writer.close()
        return self._sink.take()
