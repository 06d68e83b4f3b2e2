"""The dashboard's TypeScript API types are generated from the server's schemas and
committed; this fails when a model or route changed and they were not regenerated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_web_types_match_the_server() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_web_types.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_server_message_type_is_in_the_generated_union() -> None:
    from traindeck.server import protocol

    text = (ROOT / "web" / "src" / "api" / "ws.gen.ts").read_text()
    union = text.split("export type ServerMessage =", 1)[1]
    for schema in protocol.json_schema()["server"]["$defs"].values():
        kind = schema.get("properties", {}).get("type", {}).get("const")
        if kind is not None:
            assert f'type: "{kind}";' in text, kind
            assert schema["title"] in union, kind
