"""Schemathesis over the server's whole OpenAPI, against a real uvicorn on a free port.

The store holds a real run (live, with series, events, a pending command and a checkpoint
on disk), so that path parameters hit real objects as well as unknown ones: each path
parameter is drawn from the real id and an unknown one. Every operation gets a bounded
number of generated requests; none may answer 5xx, and every answer must match the
schema (status code documented, content type, body). Once with auth off (no token in the
store), once with auth on and an admin bearer token.
"""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode
from support import SERVE_SCRIPT, free_port, open_dir_store, wait_for

pytestmark = pytest.mark.slow

#: Generated requests per operation (the auth-on run does fewer); more for a deeper look:
#: ``TRAINDECK_FUZZ_EXAMPLES=500``.
EXAMPLES = int(os.environ.get("TRAINDECK_FUZZ_EXAMPLES") or 50)
AUTH_EXAMPLES = max(EXAMPLES // 3, 1)
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]
UNKNOWN = "no-such-object"




def seed(folder: Path, *, tokens: bool) -> dict[str, str]:
    """A store with real objects; the ids each path parameter may take."""
    ids: dict[str, str] = {}
    with open_dir_store(folder) as store:
        run = store.create_run(project="schema", name="real", config={"lr": 0.1},
                               tags=["a"], heartbeat_timeout=3600.0)
        store.set_status(run.id, "running")
        steps = np.arange(50)
        store.write_metrics(run.id, {
            "loss": (steps, 1_700_000_000.0 + steps, np.where(steps % 7, 1.0 / (steps + 1),
                                                              np.nan)),
            "acc": (steps, 1_700_000_000.0 + steps, steps / 50.0)}, summary={"best": 0.5})
        store.add_event(run.id, "note", {"text": "hello"})
        cmd = store.create_command(run.id, "validate", {"scale": 2.0})
        ck_dir = folder / "runs" / run.id
        ck_dir.mkdir(parents=True, exist_ok=True)
        data = b"checkpoint bytes" * 64
        ck_path = ck_dir / "checkpoint_step_10.pt"
        ck_path.write_bytes(data)
        ck = store.add_checkpoint(run.id, step=10, path=str(ck_path), size=len(data),
                                  sha256=hashlib.sha256(data).hexdigest(),
                                  metrics={"loss": 0.25})
        # an SSH host where nothing listens: checking it fails at once, not after a DNS wait
        host = store.add_host("real-host", user="u", address="127.0.0.1", port=free_port())
        model = store.create_logged_model(project="schema", run_id=run.id, name="net",
                                          tags={"k": "v"})
        ids.update(run_id=run.id, command_id=cmd.id, checkpoint_id=ck.id, name=host.name,
                   model_id=model.id)
        if tokens:
            _admin, secret = store.create_token("schema-admin", "admin")
            victim, _ = store.create_token("schema-victim", "read")
            ids.update(token_id=victim.id, secret=secret)
    return ids


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    procs: list[subprocess.Popen[bytes]] = []
    code = (SERVE_SCRIPT +
            "serve(Settings(**where, port=int(sys.argv[2]), log_level='warning'))")

    def start(folder: Path) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = folder.with_suffix(".log")
        with log.open("ab") as sink:
            proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(port)],
                                    stdout=subprocess.DEVNULL, stderr=sink)
        procs.append(proc)

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()}")
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, "server up")
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def pinned(raw: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The schema, with each path id (and the series' ``key``, ``run_ids``) drawn from the
    real object's and an unknown one, and the command long-poll's ``wait`` kept short (the
    run is live: it would wait)."""
    raw = copy.deepcopy(raw)
    for ops in raw["paths"].values():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"] in ids:
                    param["schema"] = {"type": "string", "enum": [ids[param["name"]], UNKNOWN]}
                elif param["in"] == "query" and param["name"] in ("key", "run_ids"):
                    real = ["loss", "acc"] if param["name"] == "key" else [ids["run_id"]]
                    param["schema"] = {"type": "string", "enum": [*real, UNKNOWN]}
                elif param["in"] == "query" and param["name"] == "wait":
                    param["schema"] = {"type": "number", "minimum": 0, "maximum": 0.2}
    return raw


def checker(strategy: st.SearchStrategy[Any], name: str, url: str,
            headers: dict[str, str] | None, examples: int,
            seen: Counter[tuple[str, int]]) -> Callable[[], None]:
    """A Hypothesis test: ``examples`` requests of one operation, each answer checked."""

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(base_url=url, headers=headers, timeout=15, allow_redirects=False)
        seen[name, response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    return check


def fuzz(url: str, raw: dict[str, Any], examples: int,
         headers: dict[str, str] | None = None) -> tuple[Counter[tuple[str, int]], list[str]]:
    """Every operation, ``examples`` generated requests each (valid ones and invalid ones):
    the answers' (operation, status) counts, and the failures."""
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    seen: Counter[tuple[str, int]] = Counter()
    # the token routes last (with auth on, DELETE /api/session must not come first either)
    ops = sorted((r.ok() for r in schema.get_all_operations()),
                 key=lambda op: (op.path.startswith(("/api/tokens", "/api/session")),
                                 op.method == "delete", op.path, op.method))
    for op in ops:
        name = f"{op.method.upper()} {op.path}"
        # invalid requests too, but not to the long-poll: an invalid ``wait`` (5 s, say)
        # is one the server may honour, and the run is live
        modes = [GenerationMode.POSITIVE]
        if not op.path.endswith("/commands/deliver"):
            modes.append(GenerationMode.NEGATIVE)
        strategy = st.one_of(*(op.as_strategy(mode) for mode in modes))
        try:
            checker(strategy, name, url, headers, examples, seen)()
        except Exception as exc:  # collected, reported together below
            failures.append(f"{name}: {exc}")
    return seen, failures


def test_openapi_fuzz_no_5xx_and_answers_match_schema(
        tmp_path: Path, server: Callable[[Path], str]) -> None:
    folder = tmp_path / "open"
    ids = seed(folder, tokens=False)
    url = server(folder)
    raw = httpx.get(url + "/openapi.json", timeout=10).json()
    seen, failures = fuzz(url, pinned(raw, ids), EXAMPLES)
    assert not failures, "\n\n".join(failures)
    ok = {op for (op, status) in seen if 200 <= status < 300}
    # the real objects were reached
    for op in ("GET /api/runs/{run_id}", "GET /api/runs/{run_id}/metrics/buckets",
               "GET /api/commands/{command_id}", "GET /api/checkpoints/{checkpoint_id}",
               "GET /api/checkpoints/{checkpoint_id}/download", "PATCH /api/runs/{run_id}"):
        assert op in ok, sorted(seen.items())


def test_openapi_fuzz_with_auth_on(tmp_path: Path, server: Callable[[Path], str]) -> None:
    folder = tmp_path / "auth"
    ids = seed(folder, tokens=True)
    url = server(folder)
    headers = {"Authorization": f"Bearer {ids.pop('secret')}"}
    assert httpx.get(url + "/api/runs", timeout=10).status_code == 401  # auth is on
    raw = httpx.get(url + "/openapi.json", headers=headers, timeout=10).json()
    seen, failures = fuzz(url, pinned(raw, ids), AUTH_EXAMPLES, headers)
    # the admin token opened every route (a made-up token may fail to log in)
    assert not {op for (op, status) in seen if status == 401} - {"POST /api/session"}, \
        sorted(seen.items())
    assert not failures, "\n\n".join(failures)
    assert httpx.get(url + "/api/tokens", headers=headers, timeout=10).status_code == 200
