"""What can go wrong on an SSH link, as :class:`~traindeck.launch.executor.ExecutorError`
subclasses whose messages say what to do (they end up in a launch's ``error``)."""

from __future__ import annotations

from dataclasses import dataclass

from traindeck.launch.executor import ExecutorError


@dataclass(frozen=True)
class HostKey:
    """A host's public key: its type (``ssh-ed25519``), SHA256 fingerprint
    (``SHA256:…``, as ``ssh-keygen -l`` shows it) and OpenSSH text (``type base64``)."""

    algorithm: str
    fingerprint: str
    openssh: str

    def __str__(self) -> str:
        return f"{self.algorithm} {self.fingerprint}"


class SSHError(ExecutorError):
    """An SSH link could not do what was asked."""


class PortTimeout(SSHError):
    """The SSH port did not answer in time (:func:`traindeck.remote.probe.wait_for_port`)."""


class Unreachable(SSHError):
    """The port answered but no SSH connection could be made before giving up."""


class HostKeyUnknown(SSHError):
    """The host presented a key that traindeck's known_hosts file does not hold for it."""

    def __init__(self, name: str, host: str, port: int, key: HostKey) -> None:
        self.name, self.host, self.port, self.key = name, host, port, key
        super().__init__(
            f"the SSH host key of {name} ({host}:{port}) is not known: it presents {key}. "
            "Nothing was sent to it. If that is the host's key (on the host: "
            "`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`), accept it with "
            f"`traindeck hosts trust {name}`.")


class HostKeyChanged(SSHError):
    """The host presented a key other than the one traindeck trusts for it: maybe someone
    in the middle, maybe a reinstalled host. Never accepted by itself."""

    def __init__(self, name: str, host: str, port: int, key: HostKey,
                 known: tuple[HostKey, ...]) -> None:
        self.name, self.host, self.port, self.key, self.known = name, host, port, key, known
        trusted = ", ".join(str(k) for k in known)
        super().__init__(
            f"WARNING: THE SSH HOST KEY OF {name} ({host}:{port}) HAS CHANGED. It now presents "
            f"{key}; traindeck trusts {trusted}. Someone could be intercepting the connection, "
            "so it was refused and nothing was sent. If the host was reinstalled, check the "
            "new fingerprint on the host (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`) and "
            f"trust it again with `traindeck hosts trust {name}`.")


class AuthenticationFailed(SSHError):
    """The server refused every key offered; retrying does not help."""


class KeyUnusable(SSHError):
    """The client key file cannot be read (missing, not a key, wrong passphrase)."""


class Disconnected(SSHError):
    """The link is down right now (it reconnects by itself unless it was closed or a host
    key or authentication error stopped it)."""


class CommandTimeout(SSHError):
    """A remote command did not finish in time."""
