"""Write the published JSON Schemas (under `schemas/`) from the wire-contract models."""

from __future__ import annotations

import json
from pathlib import Path

from agent.contract import json_schemas

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def render() -> dict[str, str]:
    """File name -> file text, deterministic (sorted keys, trailing newline)."""
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in json_schemas().items()}


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        out.append(path)
    return out
