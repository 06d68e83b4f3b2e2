"""CSV export: one header line, then one line per point (or bucket), UTF-8, ``\\n`` ends.

Floats are written as Python's ``repr`` (the shortest text that reads back to the same
float), so values round-trip exactly, and the non-finite ones are spelled ``nan``, ``inf``
and ``-inf``: what ``float()``, pandas and numpy read back. A bucket's min/max/mean are
empty where it holds no finite value. Run ids and keys are quoted as the ``csv`` module
quotes them (only when they hold a comma, a quote or a line break).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Final

from .blocks import BUCKET_COLUMNS, BUCKET_INTS, BUCKET_NULLABLE, POINT_COLUMNS, Block

MEDIA_TYPE: Final = "text/csv; charset=utf-8"
SUFFIX: Final = ".csv"


def _quoted(*fields: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _cell(v: object) -> str:
    return repr(v) if isinstance(v, float) else str(v)


class CsvWriter:
    """Turns blocks into CSV bytes; :meth:`header` first, then :meth:`rows` per block."""

    def __init__(self, *, bucketed: bool) -> None:
        self.columns: Sequence[str] = BUCKET_COLUMNS if bucketed else POINT_COLUMNS

    def header(self) -> bytes:
        return (",".join(self.columns) + "\n").encode()

    def rows(self, block: Block) -> bytes:
        prefix = _quoted(block.run_id, block.key) + ","
        if block.valid is None:
            c = block.columns
            lines = [f"{prefix}{s},{t!r},{v!r}\n" for s, t, v in zip(
                c["step"].tolist(), c["time"].tolist(), c["value"].tolist(), strict=True)]
            return "".join(lines).encode()
        cols = [block.columns[name].tolist() for name in self.columns[2:]]
        valid: list[bool] = block.valid.tolist()
        nullable = [name in BUCKET_NULLABLE for name in self.columns[2:]]
        ints = [name in BUCKET_INTS for name in self.columns[2:]]
        out: list[str] = []
        for i, ok in enumerate(valid):
            cells = [
                "" if (null and not ok) else str(int(col[i])) if is_int else _cell(col[i])
                for col, null, is_int in zip(cols, nullable, ints, strict=True)
            ]
            out.append(prefix + ",".join(cells) + "\n")
        return "".join(out).encode()

    def close(self) -> bytes:
        return b""
