"""``unpack_cols_many``: a read's sub-block units of many chunks at once, whatever mix of
raw blobs (open chunks), packed ones and empty ones they come in."""

from __future__ import annotations

import numpy as np
import pytest

from traindeck.store import rollup
from traindeck.store.packing import PCODEC, RAW, Packer, unpack_cols_many, unpack_units
from traindeck.store.rollup import FIELDS


def _units(seed: int, n_points: int) -> rollup.Units:
    rng = np.random.default_rng(seed)
    steps = np.arange(seed * 10_000, seed * 10_000 + n_points, dtype=np.int64)
    return rollup.sub_blocks(steps, 1e9 + steps * 0.01, rng.normal(size=n_points))


def test_a_mix_of_raw_packed_and_empty_blobs_reads_as_each_would() -> None:
    packer = Packer(PCODEC)
    blobs: list[tuple[bytes, int]] = []
    for i, (size, codec) in enumerate([(64, RAW), (30, RAW), (0, RAW), (512, PCODEC),
                                       (512, PCODEC), (5, RAW), (300, PCODEC), (64, RAW)]):
        units = _units(i, size) if size else np.empty(0, dtype=rollup.UNIT_DTYPE)
        if codec == RAW:
            blobs.append((units.tobytes(), RAW))
        else:
            blobs.append((packer.units_many(units, [0], [len(units)])[0], PCODEC))
    cols, bounds = unpack_cols_many(blobs)
    each = [unpack_units(b, c) for b, c in blobs]
    assert bounds == np.cumsum([0] + [len(u) for u in each]).tolist()
    for name in FIELDS:
        np.testing.assert_array_equal(cols[name], np.concatenate([u[name] for u in each]))
    for k, u in enumerate(each):  # each blob's own units between its bounds
        np.testing.assert_array_equal(cols["first_step"][bounds[k]:bounds[k + 1]],
                                      u["first_step"])


def test_a_raw_blob_cut_short_is_an_error_not_a_shifted_read() -> None:
    whole = _units(1, 64).tobytes()
    with pytest.raises(ValueError, match="whole number of units"):
        # cut short and padded by as much: together still whole units, each not
        unpack_cols_many([(whole, RAW), (whole[:-3], RAW), (whole + b"\0\0\0", RAW)])
