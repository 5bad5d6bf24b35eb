"""agent/server/protojson.py: a Struct's whole numbers print as ints, every other value as before."""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Struct, Value

from agent.server import protojson


def _struct(value: dict) -> Struct:
    s = Struct()
    ParseDict(value, s)
    return s


def test_whole_numbers_print_as_ints_at_every_depth() -> None:
    assert protojson.install() is True
    out = MessageToDict(_struct({"version": 2, "items": [{"n": 3, "x": [1, 2.5]}], "deep": {"k": -7}}))
    assert out == {"version": 2, "items": [{"n": 3, "x": [1, 2.5]}], "deep": {"k": -7}}
    assert type(out["version"]) is int and type(out["items"][0]["x"][0]) is int
    assert json.dumps(out, separators=(",", ":"), sort_keys=True) == \
        '{"deep":{"k":-7},"items":[{"n":3,"x":[1,2.5]}],"version":2}'


def test_other_values_are_untouched() -> None:
    protojson.install()
    out = MessageToDict(_struct({"f": 2.5, "s": "2.0", "b": True, "z": None, "big": 2.0**53, "neg0": -0.0}))
    assert out["f"] == 2.5 and out["s"] == "2.0" and out["b"] is True and out["z"] is None
    assert type(out["big"]) is float  # beyond what a double holds exactly: left as the float it is
    assert type(out["neg0"]) is int and out["neg0"] == 0
    v = Value()
    ParseDict(7, v)
    assert MessageToDict(v) == 7 and type(MessageToDict(v)) is int


def test_install_is_idempotent_and_round_trips() -> None:
    protojson.install()
    patched = json_format._Printer._ValueMessageToJsonObject
    assert protojson.install() is True
    assert json_format._Printer._ValueMessageToJsonObject is patched  # not wrapped twice
    original = {"version": 3, "quantity": "500", "unit_price": "2.68"}
    assert MessageToDict(_struct(MessageToDict(_struct(original)))) == original
