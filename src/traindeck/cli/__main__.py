"""``python -m traindeck.cli`` (what ``traindeck demo`` uses to start the server)."""

from . import main

main()
