"""Reading vendor data files (catalog, policy) strictly, and reporting problems precisely.

Shared by the catalog and policy loaders: numbers are read as Decimals,
duplicate keys are errors, and each problem is a `FileIssue` that names the
file, the row and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class FileIssue:
    """One problem in a file: where it is and what is wrong."""

    file: str
    row: str
    field: str
    message: str

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.file, self.row, f"field {self.field}" if self.field else "") if p)
        return f"{where}: {self.message}"


class DataFileError(ValueError):
    """A refused file, with every issue found in it."""

    def __init__(self, issues: list[FileIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present: 10x faster


class _DecimalLoader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader that reads floats as Decimal and refuses duplicate keys."""


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return value if value.is_finite() else text


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    out: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


# YAML 1.1 reads `NO` (a contact type, Norway) as false, `30:1` (a ratio) as 1801 and `0610`
# as octal. Vendors mean text there: only true/false are booleans, only plain decimals are ints.
_DecimalLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_DecimalLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_DecimalLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_DecimalLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_pairs(items: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in items:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _item_lines(root: yaml.Node | None, key: str) -> dict[int, int]:
    """Line number (1-based) of each item of the top-level list `key`."""
    if not isinstance(root, yaml.MappingNode):
        return {}
    for k, value in root.value:
        if getattr(k, "value", None) == key and isinstance(value, yaml.SequenceNode):
            return {i: item.start_mark.line + 1 for i, item in enumerate(value.value)}
    return {}


def parse_yaml(text: str, list_key: str | None = None) -> tuple[Any, dict[int, int]]:
    """Parse YAML once: the data (Decimal numbers) and the line of each `list_key` item."""
    loader = _DecimalLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, (_item_lines(root, list_key) if list_key else {})


def parse_text(text: str, suffix: str) -> Any:
    """Parse YAML or JSON text with Decimal numbers; raises yaml.YAMLError or ValueError."""
    if suffix.lower() == ".json":
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_json_pairs)
    return parse_yaml(text)[0]


def read_structured(path: Path, list_key: str = "products") -> tuple[Any, dict[int, int]]:
    """Parse a YAML or JSON file; returns the data and the line of each `list_key` item (YAML only)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return parse_text(text, ".json"), {}
    return parse_yaml(text, list_key)


def field_path(loc: tuple[int | str, ...]) -> str:
    """('prices', 'US-USD', 'tiers', 1, 'price') -> 'prices.US-USD.tiers[1].price'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_or_issue(path: Path, suffixes: tuple[str, ...], list_key: str = "products") -> tuple[Any, dict[int, int]]:
    """Read a structured file, turning unreadable or unparsable input into a `DataFileError`."""
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise DataFileError([FileIssue(file, "", "", f"unsupported file type {suffix!r}; use {', '.join(suffixes)}")])
    try:
        return read_structured(path, list_key)
    except OSError as exc:
        raise DataFileError([FileIssue(file, "", "", f"cannot read: {exc.strerror or exc}")]) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise DataFileError([FileIssue(file, "", "", f"not valid {suffix[1:].upper()}: {exc}")]) from None
