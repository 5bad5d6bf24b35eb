"""The committed eval case schema is the one generated from the pydantic models."""

from __future__ import annotations

import json

from evals.case import SCHEMA_PATH, Case, json_schema, render_schema


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), "run `dealdesk eval schema`"


def test_schema_shape() -> None:
    schema = json_schema()
    assert schema["$id"].endswith("eval-case.schema.json")
    assert {"id", "turns"} <= set(schema["required"])
    assert json.loads(render_schema()) == schema
    assert Case.model_json_schema()["properties"]["on_divergence"]["enum"] == ["replay", "stop"]
