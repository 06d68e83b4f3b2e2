"""Reaching other machines for the remote executors (DESIGN §8): an SSH link that checks host
keys against traindeck's own known_hosts file, waits for a host's SSH port, runs commands,
moves files over SFTP, follows remote files, keeps reverse port forwards, and reconnects by
itself when the connection drops (``remote.ssh``; asyncssh, the ``[ssh]`` extra)."""
