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


def test_no_route_names_a_parameter_twice(tmp_path: Path) -> None:
    # a parameter declared in the signature and again in openapi_extra appears twice in
    # the schema, and the generated TypeScript no longer compiles
    from traindeck.server import Settings, create_app

    spec = create_app(Settings(dir=tmp_path, web_dir=tmp_path / "no-web")).openapi()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            names = [(p["in"], p["name"]) for p in op.get("parameters", [])]
            assert len(names) == len(set(names)), (method, path, names)
