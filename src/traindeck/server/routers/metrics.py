"""Metric reads: keys of a run (or of several runs at once), bucketed series, latest
values, one key across runs, and many keys across runs at once (the metrics grid reads its
runs' keys in one request, and the charts on screen in one request).

Bucket answers are written by ``orjson`` directly: their columns are JSON-exact already
(``Buckets.columns`` spells non-finite floats), the rest is names and counts, so codec's
walk over every value (most of the time of a read, before) is not needed.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import orjson
from fastapi import APIRouter, Query
from pydantic import StringConstraints
from starlette.responses import Response

from traindeck.store import InvalidInput, NotFound, Store
from traindeck.store.codec import float_out

from ..deps import INT64_MAX, INT64_MIN, StoreDep, json_response
from ..errors import ERROR_RESPONSES
from ..schemas import (
    BucketColumns,
    BucketsOut,
    CompareManyOut,
    CompareOut,
    LatestOut,
    MetricKeys,
    RunsKeysOut,
)

router = APIRouter(prefix="/api", tags=["metrics"], responses=ERROR_RESPONSES)

#: Runs one compare request may name.
MAX_COMPARE_RUNS = 100
#: Keys one ``compare/many`` request may name.
MAX_COMPARE_KEYS: Final = 200
#: Buckets one ``compare/many`` request may ask for in all (keys x runs x n): what one
#: compare of the most runs at the most buckets may.
MAX_COMPARE_BUCKETS: Final = MAX_COMPARE_RUNS * 100_000

Step = Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX)]
Time = Annotated[float | None, Query(allow_inf_nan=False)]
Buckets = Annotated[int, Query(ge=1, le=100_000, description="at most this many buckets")]
Axis = Literal["step", "time"]
Key = Annotated[str, StringConstraints(min_length=1, max_length=500)]
#: The columns of a bucket answer, in their order (``fields`` picks among them).
COLUMNS: Final = tuple(BucketColumns.model_fields)
RunIds = Annotated[str, Query(min_length=1, description="comma-separated run ids")]


def exact_json(obj: Any) -> Response:
    """A bucket answer as JSON: columns (JSON-exact), names and counts, no walk needed."""
    return Response(orjson.dumps(obj), media_type="application/json")


def bucket_read(store: Store, run_id: str, key: str, *, n: int, step_min: int | None,
                step_max: int | None, time_min: float | None, time_max: float | None,
                x: str) -> tuple[dict[str, list[Any]], int]:
    b = store.read_buckets(run_id, key, n=n, step_min=step_min, step_max=step_max,
                           time_min=time_min, time_max=time_max, x=x)
    return b.columns(), b.count


@router.get("/runs/{run_id}/metrics", response_model=MetricKeys,
            summary="Metric keys of a run, with counts and last values")
def metric_keys(run_id: str, store: StoreDep) -> Response:
    return json_response({"run_id": run_id,
                          "metrics": [s.to_dict() for s in store.metric_keys(run_id)]})


@router.get("/runs/{run_id}/metrics/buckets", response_model=BucketsOut,
            summary="One series as at most n exact buckets over a step or time window")
def buckets(
    run_id: str,
    store: StoreDep,
    key: Annotated[str, Query(min_length=1, max_length=500)],
    n: Buckets = 1000,
    step_min: Step = None,
    step_max: Step = None,
    time_min: Time = None,
    time_max: Time = None,
    x: Axis = "step",
) -> Response:
    columns, count = bucket_read(store, run_id, key, n=n, step_min=step_min,
                                 step_max=step_max, time_min=time_min, time_max=time_max, x=x)
    return exact_json({"run_id": run_id, "key": key, "x": x, "count": count,
                       "buckets": columns})


@router.get("/runs/{run_id}/metrics/latest", response_model=LatestOut,
            summary="The newest point of every series of a run")
def latest(run_id: str, store: StoreDep) -> Response:
    points = store.latest(run_id)
    return json_response({
        "run_id": run_id,
        "latest": {k: {"step": s, "time": t, "value": float_out(v)}
                   for k, (s, t, v) in points.items()},
    })


@router.get("/metrics/keys", response_model=RunsKeysOut,
            summary="The metric keys of several runs in one answer, each name once")
def runs_keys(store: StoreDep, run_ids: RunIds) -> Response:
    # the series rows alone (``latest``: every series has a newest point), not
    # ``metric_keys``, whose counts and ranges add up every chunk of every series
    per_run = [(run_id, list(store.latest(run_id)))  # unknown run: 404
               for run_id in _run_ids(run_ids)]
    names = sorted({k for _, ks in per_run for k in ks})
    index = {k: i for i, k in enumerate(names)}
    return json_response({"keys": names, "runs": [
        {"run_id": run_id, "keys": sorted(index[k] for k in ks)} for run_id, ks in per_run]})


@router.get("/metrics/compare", response_model=CompareOut,
            summary="One key across several runs, bucketed alike")
def compare(
    store: StoreDep,
    key: Annotated[str, Query(min_length=1, max_length=500)],
    run_ids: RunIds,
    n: Buckets = 1000,
    step_min: Step = None,
    step_max: Step = None,
    time_min: Time = None,
    time_max: Time = None,
    x: Axis = "step",
) -> Response:
    ids = _run_ids(run_ids)
    for run_id in ids:
        store.get_run(run_id)  # unknown run: 404
    return exact_json(_compare_one(store, ids, key, n=n, step_min=step_min,
                                   step_max=step_max, time_min=time_min,
                                   time_max=time_max, x=x))


@router.get("/metrics/compare/many", response_model=CompareManyOut,
            summary="Several keys across several runs, bucketed alike, in one answer")
def compare_many(
    store: StoreDep,
    keys: Annotated[list[Key], Query(min_length=1, max_length=MAX_COMPARE_KEYS,
                                     description="the keys, one `keys=` each")],
    run_ids: RunIds,
    n: Buckets = 1000,
    step_min: Step = None,
    step_max: Step = None,
    time_min: Time = None,
    time_max: Time = None,
    x: Axis = "step",
    fields: Annotated[str | None, Query(
        description="comma-separated columns to answer (default: every one)")] = None,
) -> Response:
    ids = _run_ids(run_ids)
    wanted = _fields(fields)
    names = list(dict.fromkeys(keys))
    if len(names) * len(ids) * n > MAX_COMPARE_BUCKETS:
        raise InvalidInput(f"keys x runs x n is at most {MAX_COMPARE_BUCKETS} buckets "
                           "in one request")
    for run_id in ids:
        store.get_run(run_id)  # unknown run: 404
    return exact_json({"x": x, "results": [
        _compare_one(store, ids, key, n=n, step_min=step_min, step_max=step_max,
                     time_min=time_min, time_max=time_max, x=x, fields=wanted)
        for key in names]})


def _fields(fields: str | None) -> tuple[str, ...] | None:
    """The columns named in ``fields`` (None: every one); an unknown name is a 422."""
    if fields is None:
        return None
    names = [f.strip() for f in fields.split(",") if f.strip()]
    if not names:
        raise InvalidInput("fields names no column")
    unknown = [f for f in names if f not in COLUMNS]
    if unknown:
        raise InvalidInput(f"unknown column {unknown[0]!r} in fields; the columns are "
                           + ", ".join(COLUMNS))
    return tuple(c for c in COLUMNS if c in names)


def _run_ids(run_ids: str) -> list[str]:
    ids = list(dict.fromkeys(r.strip() for r in run_ids.split(",") if r.strip()))
    if not ids:
        raise InvalidInput("run_ids names no run")
    if len(ids) > MAX_COMPARE_RUNS:
        raise InvalidInput(f"compare at most {MAX_COMPARE_RUNS} runs at once")
    return ids


def _compare_one(store: Store, ids: list[str], key: str, *, n: int, step_min: int | None,
                 step_max: int | None, time_min: float | None, time_max: float | None,
                 x: str, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """One key across runs known to exist (a run without the key: ``buckets`` null),
    with only the ``fields`` columns when given."""
    out: list[dict[str, Any]] = []
    for run_id in ids:
        try:
            columns, count = bucket_read(store, run_id, key, n=n, step_min=step_min,
                                         step_max=step_max, time_min=time_min,
                                         time_max=time_max, x=x)
        except NotFound:  # the run has no such key
            out.append({"run_id": run_id, "buckets": None, "count": 0})
        else:
            if fields is not None:
                columns = {f: columns[f] for f in fields}
            out.append({"run_id": run_id, "buckets": columns, "count": count})
    return {"key": key, "x": x, "runs": out}
