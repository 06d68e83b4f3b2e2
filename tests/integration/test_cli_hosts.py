"""``traindeck hosts`` against a real sshd on 127.0.0.1 (tests/sshd_service.py): add, ls,
trust (the key shown; a wrong expected fingerprint refused; --yes), check (a login with the
host key checked; an untrusted host or a wrong client key fails with what to do), rm."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_service import SSHD, running_sshd
from support import open_dir_store
from typer.testing import CliRunner

from traindeck.cli import app


@pytest.fixture(scope="module")
def sshd() -> Iterator[SSHD]:
    with running_sshd() as server:
        yield server


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["hosts", *args, "--dir", str(tmp_path / "td")],
                                env={"TERM": "dumb"})
    return result.exit_code, result.output


def test_add_trust_check_and_remove_a_host(sshd: SSHD, tmp_path: Path) -> None:
    dest = f"{sshd.user}@{sshd.host}:{sshd.port}"
    code, out = run(tmp_path, "add", "gpu", dest, "--key", str(sshd.client_key),
                    "--workdir", "runs-here")
    assert code == 0 and "hosts trust gpu" in out, out
    code, out = run(tmp_path, "add", "gpu", dest)
    assert code == 1 and "exists already" in out
    code, out = run(tmp_path, "ls")
    assert code == 0 and f"{sshd.host}:{sshd.port}" in out and "runs-here" in out

    # not trusted yet: a check says how to trust it, and records that it failed
    code, out = run(tmp_path, "check", "gpu")
    assert code == 1 and "hosts trust gpu" in out and sshd.host_fingerprint in out, out
    with open_dir_store(tmp_path / "td") as store:
        assert "not known" in (store.get_host("gpu").check_error or "")

    # trust: the key is shown; a different expected key is refused; --yes trusts it
    code, out = run(tmp_path, "trust", "gpu", "--fingerprint", "SHA256:" + "A" * 43)
    assert code == 1 and sshd.host_fingerprint in out and "not trusted" in out
    assert not (tmp_path / "td" / "known_hosts").exists()
    code, out = run(tmp_path, "trust", "gpu")  # no terminal, no --yes: asks for one
    assert code == 1 and "--yes" in out
    code, out = run(tmp_path, "trust", "gpu", "--fingerprint", sshd.host_fingerprint)
    assert code == 0 and "trusted" in out
    known = (tmp_path / "td" / "known_hosts")
    assert known.read_text().split()[1:] == sshd.known_hosts_line.split()[1:]
    assert known.stat().st_mode & 0o777 == 0o600
    code, out = run(tmp_path, "trust", "gpu", "--yes")
    assert code == 0 and "already trusted" in out

    code, out = run(tmp_path, "check", "gpu")
    assert code == 0 and "gpu: ok" in out and "python" in out, out
    with open_dir_store(tmp_path / "td") as store:
        host = store.get_host("gpu")
        assert host.checked_at is not None and host.check_error is None

    code, out = run(tmp_path, "rm", "gpu")
    assert code == 0
    code, out = run(tmp_path, "check", "gpu")
    assert code == 1 and "no host 'gpu'" in out


def test_a_wrong_key_is_a_clear_error(sshd: SSHD, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    assert run(tmp_path, "add", "gpu", f"{sshd.user}@{sshd.host}:{sshd.port}",
               "--key", str(other))[0] == 0
    assert run(tmp_path, "trust", "gpu", "--yes")[0] == 0
    code, out = run(tmp_path, "check", "gpu")
    assert code == 1 and "authentication failed" in out.lower() and str(other) in out, out


def test_bad_input_is_refused(tmp_path: Path) -> None:
    assert run(tmp_path, "add", "gpu", "nohost")[1].count("user@host") == 1
    code, out = run(tmp_path, "add", "gpu", "u@h", "--key", str(tmp_path / "missing"))
    assert code == 1 and "no key file" in out
    code, out = run(tmp_path, "add", "../x", "u@h")
    assert code == 1 and "not a host name" in out
