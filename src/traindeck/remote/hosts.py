"""What ``traindeck hosts`` and ``/api/hosts`` do beyond storing a record: where the
known_hosts file is, checking that a launch can run there (reached as
:func:`~traindeck.remote.links.target_of` says, like every launch), and trusting its host
key.

Trusting is explicit: the key the host presents is shown (type and SHA256 fingerprint) and
entered into traindeck's known_hosts only when the caller confirms it, or names the
fingerprint it expects and the host presents that one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from traindeck.store.models import Host

from .errors import HostKey, SSHError
from .known_hosts import scan_host_key, trust_host_key, trusted_keys
from .links import target_of
from .ssh import SSHLink

#: traindeck's known_hosts file, beside the store's database.
KNOWN_HOSTS: Final = "known_hosts"
#: What ``check`` runs on the host: its shell, python, tmux and free space in the workdir.
_PROBE: Final = (
    'printf "python=%s\\n" "$(command -v python3 || command -v python || echo -)"; '
    'printf "tmux=%s\\n" "$(command -v tmux || echo -)"; '
    'printf "traindeck=%s\\n" "$( (python3 -c "import traindeck; print(traindeck.__version__)"'
    ' 2>/dev/null) || echo -)"'
)


def known_hosts_file(store_folder: Path) -> Path:
    return store_folder / KNOWN_HOSTS


@dataclass(frozen=True)
class CheckResult:
    """What ``hosts check`` found: whether a launch can run there, and what is missing."""

    ok: bool
    message: str
    python: str | None = None
    tmux: str | None = None
    traindeck: str | None = None


def check(host: Host, known_hosts: Path, *, timeout: float = 15.0) -> CheckResult:
    """Log in (host key checked), and look for python, tmux and traindeck there."""
    try:
        link = SSHLink.open(target_of(host, known_hosts), connect_timeout=timeout,
                            retry_for=timeout)
    except SSHError as exc:
        return CheckResult(False, str(exc))
    try:
        out = link.run(_PROBE, timeout=timeout)
    except SSHError as exc:
        return CheckResult(False, str(exc))
    finally:
        link.close()
    found = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    python, tmux, sdk = (None if found.get(k, "-") == "-" else found[k]
                         for k in ("python", "tmux", "traindeck"))
    if python is None:
        return CheckResult(False, f"{host.name}: logged in, but there is no python3 on its "
                                  "PATH; install Python 3.10+ there", python, tmux, sdk)
    notes = [f"python {python}", f"tmux {tmux}" if tmux else
             "no tmux (runs will use nohup; install tmux to attach to them by hand)",
             f"traindeck {sdk}" if sdk else "no traindeck (a launch installs it)"]
    return CheckResult(True, f"{host.name}: ok · " + " · ".join(notes), python, tmux, sdk)


def presented_key(host: Host, *, timeout: float = 10.0) -> HostKey:
    """The key ``host`` presents now (a handshake, no login)."""
    return scan_host_key(host.address, host.port, timeout)


def is_trusted(host: Host, known_hosts: Path, key: HostKey) -> bool:
    return key in trusted_keys(known_hosts, host.address, host.port)


def trust(host: Host, known_hosts: Path, key: HostKey) -> bool:
    """Trust ``key`` for ``host`` (replacing what was trusted for it before: a host that
    was reinstalled). ``False`` when it was trusted already (nothing written)."""
    if is_trusted(host, known_hosts, key):
        return False
    trust_host_key(known_hosts, host.address, host.port, key, replace=True)
    return True


def fingerprint_matches(key: HostKey, expected: str) -> bool:
    """Whether ``expected`` (``SHA256:…``, with or without the prefix) is ``key``'s."""
    want = expected.strip()
    if not want.startswith("SHA256:"):
        want = "SHA256:" + want
    return key.fingerprint == want
