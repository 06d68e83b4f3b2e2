"""The environment a launch gets on an SSH host (issue 11 §2, "The remote environment"),
through the server's API against a real sshd on 127.0.0.1 (tests/sshd_service.py):

- a ``remote.venv`` that does not exist yet is made on the host with ``remote.python``, and
  since its python cannot import traindeck the server's own wheel (built from this checkout,
  as ``traindeck serve`` does) is uploaded and installed there; the run then logs metrics;
- ``remote.setup`` runs once per uploaded content, its output is in the run's console, and
  a failing setup fails the launch with its message.

Hermetic: no package index is reached. The host's venv finds traindeck's dependencies on a
``PYTHONPATH`` (a folder of links to this checkout's site-packages, traindeck and pip left
out) and pip runs with ``PIP_NO_INDEX=1``: both come from the template's ``remote.env``, which
the executor sets for the install and the setup command too (what a host without a route to
an index uses). Nothing is mocked: server, store, sshd, the host's user, venv and pip are real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from serving import bound_socket, served
from sshd_service import SSHD, running_sshd
from support import missing, wait_for

from traindeck.server import Settings
from traindeck.server.app import create_app
from traindeck.store import NotFound, Store

TERMINAL = ("completed", "failed", "cancelled")
#: Left out of the dependencies' folder: traindeck itself (the host must install it) and
#: what a fresh venv brings of its own.
NOT_DEPENDENCIES = ("traindeck", "_editable_impl_traindeck", "pip", "setuptools",
                    "pkg_resources", "_distutils_hack", "__pycache__")

LOGGER = """
    import traindeck as td
    print("traindeck from", td.__file__, flush=True)
    run = td.init()
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    """


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHD]:
    with running_sshd() as server:
        yield server


def as_user(sshd: SSHD, *argv: str, env: dict[str, str] | None = None) -> str:
    prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())]
    done = subprocess.run(["runuser", "-u", sshd.user, "--", *prefix, *argv],
                          capture_output=True, text=True, cwd="/", timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def host_python(sshd: SSHD) -> str:
    """An interpreter the host's user runs that has no traindeck of its own (the base of
    the fixture's python) and can make venvs (ensurepip: Debian's python3-venv)."""
    base = as_user(sshd, str(sshd.python), "-c", "import sys; print(sys._base_executable)")
    venv_ok = subprocess.run(["runuser", "-u", sshd.user, "--", base, "-c", "import ensurepip"],
                             capture_output=True, cwd="/")
    if venv_ok.returncode != 0:
        missing(f"venv support for {base} (apt-get install python3-venv)")
    return base


@pytest.fixture(scope="module")
def dependencies(sshd: SSHD) -> Path:
    """A folder the host's user can read, of links to every package of this checkout's
    site-packages but traindeck (and pip, setuptools): traindeck's dependencies, offline."""
    import sysconfig

    folder = sshd.workdir / "deps"
    folder.mkdir()
    for site in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}):
        for entry in os.scandir(site):
            stem = entry.name.split("-")[0].split(".")[0]
            if stem in NOT_DEPENDENCIES or entry.name.endswith(".pth") \
                    or (folder / entry.name).exists():
                continue
            (folder / entry.name).symlink_to(entry.path)
    shutil.chown(folder, sshd.user, sshd.user)
    return folder


def add_host(store: Store, sshd: SSHD) -> None:
    store.add_host("gpu", user=sshd.user, address=sshd.host, port=sshd.port,
                   key_path=str(sshd.client_key),
                   workdir=f"{sshd.workdir}/{uuid.uuid4().hex[:8]}")
    (Path(store.files_root) / "known_hosts").write_text(sshd.known_hosts_line + "\n")


def template(root: Path, name: str, script: str, remote: dict[str, Any]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(script))
    (folder / "traindeck.yaml").write_text(yaml.safe_dump(
        {"command": "python train.py", "config": {}, "remote": remote}))
    return folder


#: The admin credential of each server (auth is on: launches on hosts need it).
_HEADERS: dict[str, dict[str, str]] = {}


@contextmanager
def server(store: Store, templates: Path, tmp_path: Path) -> Iterator[str]:
    sock = bound_socket()
    settings = Settings(dir=store.files_root, port=sock.getsockname()[1],
                        templates_dir=templates, launch_interval=0.05, auth=True,
                        web_dir=tmp_path / "no-web")
    _, secret = store.create_token("admin", "admin")
    with served(create_app(settings, store=store), sock) as url:
        _HEADERS[url] = {"authorization": f"Bearer {secret}"}
        yield url


def launch(url: str, name: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/launches", timeout=30, headers=_HEADERS[url],
                   json={"template": name, "executor": "ssh", "host": "gpu"})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def launch_ended(url: str, launch_id: str, timeout: float = 240) -> dict[str, Any]:
    def status() -> Any:
        return httpx.get(f"{url}/api/launches/{launch_id}", timeout=30,
                         headers=_HEADERS[url]).json()["status"]

    wait_for(lambda: status() in TERMINAL, timeout, "the launch to end", 0.1)
    out: dict[str, Any] = httpx.get(f"{url}/api/launches/{launch_id}", timeout=30,
                                    headers=_HEADERS[url]).json()
    return out


def lines(store: Store, run_id: str) -> list[str]:
    return [x.text for x in store.read_log_lines(run_id, limit=10_000)]


def steps(store: Store, run_id: str) -> list[int]:
    try:
        return [int(s) for s in store.read_points(run_id, "loss").steps]
    except NotFound:
        return []


def test_a_missing_venv_is_made_and_gets_the_servers_traindeck(
        store: Store, sshd: SSHD, host_python: str, dependencies: Path,
        tmp_path: Path) -> None:
    add_host(store, sshd)
    venv = f"{sshd.workdir}/venvs/{uuid.uuid4().hex[:8]}"
    env = {"PYTHONPATH": str(dependencies), "PIP_NO_INDEX": "1"}
    templates = tmp_path / "templates"
    template(templates, "fresh_venv", LOGGER,
             {"python": host_python, "venv": venv, "env": env})
    assert not Path(venv).exists()
    with server(store, templates, tmp_path) as url:
        first = launch(url, "fresh_venv")
        done = launch_ended(url, first["id"])
        assert (done["status"], done["exit_code"]) == ("completed", 0), done
    run_id = first["run_id"]
    assert steps(store, run_id) == [0, 1, 2, 3, 4]
    # the script imported the traindeck installed into the new venv, not this checkout's
    site = as_user(sshd, f"{venv}/bin/python", "-c", "import sysconfig; "
                   "print(sysconfig.get_paths()['purelib'])")
    assert site.startswith(venv)
    assert f"traindeck from {site}/traindeck/__init__.py" in lines(store, run_id)
    imported = as_user(sshd, f"{venv}/bin/python", "-c",
                       "import traindeck; print(traindeck.__file__)", env=env)
    assert imported == f"{site}/traindeck/__init__.py"
    assert list(Path(site).glob("traindeck-*.dist-info"))
    assert not (Path(site) / "numpy").exists()  # the dependencies came from the host's path


SETUP_SCRIPT = """
    print("the command ran", flush=True)
    """


def test_setup_runs_once_per_upload_shows_in_the_console_and_fails_the_launch(
        store: Store, sshd: SSHD, tmp_path: Path) -> None:
    add_host(store, sshd)
    venv = str(Path(sshd.python).parent.parent)
    count = f"{sshd.workdir}/setup-ran-{uuid.uuid4().hex[:8]}"
    templates = tmp_path / "templates"
    folder = template(templates, "with_setup", SETUP_SCRIPT, {
        "venv": venv, "setup": f"echo preparing the data in $(pwd); echo ran >> {count}"})
    template(templates, "bad_setup", SETUP_SCRIPT, {
        "venv": venv, "setup": "echo downloading weights; "
                               "echo 'ERROR: no such package: nonexistent-pkg' >&2; exit 3"})

    def ran() -> int:
        return len(Path(count).read_text().splitlines()) if Path(count).exists() else 0

    with server(store, templates, tmp_path) as url:
        first = launch(url, "with_setup")
        assert launch_ended(url, first["id"])["status"] == "completed"
        console = lines(store, first["run_id"])
        assert "traindeck: the setup command on gpu (exit 0):" in console
        assert any(x.startswith("preparing the data in ") and x.endswith("/code")
                   for x in console), console
        assert console[-1] == "the command ran"
        assert ran() == 1

        again = launch(url, "with_setup")  # the same code: the setup ran for it already
        assert launch_ended(url, again["id"])["status"] == "completed"
        assert lines(store, again["run_id"]) == ["the command ran"]
        assert ran() == 1

        with (folder / "train.py").open("a") as f:
            f.write("# changed\n")
        changed = launch(url, "with_setup")  # new content: a new upload, the setup again
        assert launch_ended(url, changed["id"])["status"] == "completed"
        assert any(x.startswith("preparing the data in ") for x in
                   lines(store, changed["run_id"]))
        assert ran() == 2

        bad = launch(url, "bad_setup")
        done = launch_ended(url, bad["id"])
        assert (done["status"], done["exit_code"]) == ("failed", None), done
        error = done["error"] or ""
        assert "setup command failed on gpu (exit 3)" in error, error
        assert "ERROR: no such package: nonexistent-pkg" in error, error
        console = lines(store, bad["run_id"])
        assert "downloading weights" in console, console
        assert "the command ran" not in console  # nothing was started
        assert store.get_run(bad["run_id"]).status == "failed"

