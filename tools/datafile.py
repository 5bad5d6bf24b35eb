"""Reading vendor data files (catalog, policy) strictly, and reporting problems precisely.

Shared by the catalog and policy loaders: numbers are read as Decimals,
duplicate keys are errors, and each problem is a `FileIssue` that names the
file, the row and the field.
"""

from __future__ import annotations

import datetime as dt
import difflib
import gc
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel


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


def refuse_bool(what: str) -> Callable[[Any], Any]:
    """A before-validator for a number field of a file model: `true`/`false` are refused, naming `what` was expected.

    In Python (and pydantic's lax mode) a bool is an int, so `on_hand: true` would load as 1 unit.
    """
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"a boolean ({str(value).lower()}) is not {what}")
        return value

    return check


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
def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A date as YAML reads it; an impossible one (2026-13-01) stays text, so that the model's validation names the
    row, line and field instead of the whole file failing as "not valid YAML"."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_DecimalLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_DecimalLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_pairs(items: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in items:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


ItemLines = dict[str, dict[int, int]]  # top-level list key -> item index -> line (1-based)


def _keys(list_key: str | None) -> tuple[str, ...]:
    return (list_key,) if list_key else ()


def _item_lines(root: yaml.Node | None, keys: tuple[str, ...]) -> ItemLines:
    """Line number (1-based) of each item of each top-level list named in `keys` (the first such key)."""
    out: ItemLines = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for k, value in root.value:
        key = getattr(k, "value", None)
        if isinstance(key, str) and key in keys and key not in out and isinstance(value, yaml.SequenceNode):
            out[key] = {i: item.start_mark.line + 1 for i, item in enumerate(value.value)}
    return out


def _nodes(text: str, keys: tuple[str, ...]) -> tuple[Any, ItemLines]:
    """The reference loader: compose the node graph, then construct it with `_DecimalLoader`.

    Slow on big files (a node and two marks per scalar, resolved and constructed in
    Python), so `parse_yaml` builds the values from the event stream instead and comes
    here only for what that leaves alone (errors, explicit tags, merge keys...).
    """
    loader = _DecimalLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, (_item_lines(root, keys) if keys else {})


def _parse_yaml_nodes(text: str, list_key: str | None = None) -> tuple[Any, dict[int, int]]:
    """`_nodes` for one list key: the data and the line of each `list_key` item."""
    data, lines = _nodes(text, _keys(list_key))
    return data, lines.get(list_key, {}) if list_key else {}


# --- fast path: values straight from libyaml's event stream ----------------------------
#
# On a 10,000-SKU catalog (7 MB) the node loader takes about 8 s: some 2 s composing the
# node graph (a Python node and two marks per scalar) and constructing it in Python, and
# the rest in the cyclic GC, which walks the ever bigger graph again and again. The fast
# path reads libyaml's events and builds the same values directly, with no nodes, through
# `_DecimalLoader`'s own resolver table and constructors (once per distinct plain scalar).
# Anything it does not handle itself (any error, explicit tags, merge keys, duplicate keys
# or anchors, aliases to unfinished nodes, deep nesting) goes to `_parse_yaml_nodes`, so
# the result, or the error, is always the node loader's.

_Parser = getattr(yaml, "CBaseLoader", None)  # libyaml's parser with no Python-side resolution
_MAX_DEPTH = 50  # deeper documents go to the node loader (whose recursion decides)


class _Unsupported(Exception):
    """Input the fast path leaves to the node loader."""


_NO_KEY = object()  # in an open mapping: no key read yet


_WILDCARD = tuple(_DecimalLoader.yaml_implicit_resolvers.get(None, []))
_PLAIN_RESOLVERS = {  # first character of a plain scalar -> (tag, regexp), as `BaseResolver.resolve` tries them
    first: tuple(resolvers) + _WILDCARD
    for first, resolvers in _DecimalLoader.yaml_implicit_resolvers.items() if first is not None
}
_SCALAR_LOADER = _DecimalLoader("")  # `self` for the scalar constructors, which only read the node
_IMMUTABLE = (type(None), bool, int, Decimal, str, dt.date, dt.datetime)  # values a text can stand for twice


def _events(text: str, keys: tuple[str, ...]) -> tuple[Any, ItemLines]:
    """`_nodes` from the event stream; raises `_Unsupported` (or any error) to hand over."""
    if _Parser is None:
        raise _Unsupported("no libyaml")
    parser = _Parser(text)
    try:
        return _build(parser.get_event, keys)
    finally:
        parser.dispose()


def _parse_yaml_events(text: str, list_key: str | None) -> tuple[Any, dict[int, int]]:
    """`_parse_yaml_nodes` from the event stream; raises `_Unsupported` (or any error) to hand over."""
    data, lines = _events(text, _keys(list_key))
    return data, lines.get(list_key, {}) if list_key else {}


def _resolve_plain(text: str) -> Any:
    """A plain scalar's value: `_DecimalLoader`'s resolver rules, then its constructor for the tag."""
    for tag, regexp in _PLAIN_RESOLVERS.get(text[:1], _WILDCARD):
        if regexp.match(text):
            construct = _DecimalLoader.yaml_constructors.get(tag)
            if construct is None:  # a merge key, `=`...: the node loader's business
                raise _Unsupported(tag)
            return construct(_SCALAR_LOADER, yaml.ScalarNode(tag, text))
    return text


def _build(get_event: Any, keys: tuple[str, ...]) -> tuple[Any, ItemLines]:
    """One document's value (and the item lines of the top-level lists named in `keys`) from the parser's events."""
    ScalarEvent, AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
    MappingStart, SequenceStart = yaml.MappingStartEvent, yaml.SequenceStartEvent
    MappingEnd, SequenceEnd = yaml.MappingEndEvent, yaml.SequenceEndEvent
    if type(get_event()) is not yaml.StreamStartEvent:
        raise _Unsupported("stream start")
    event = get_event()
    if type(event) is yaml.StreamEndEvent:
        return None, {}
    if type(event) is not yaml.DocumentStartEvent:
        raise _Unsupported("document start")

    no_key = _NO_KEY
    memo: dict[str, Any] = {}  # plain scalar text -> its value, if immutable (sharing one is then invisible)
    memo_get, resolve_plain, immutable = memo.get, _resolve_plain, _IMMUTABLE
    anchors: dict[str, tuple[Any, int, str | None]] = {}  # name -> (value, start line, scalar text)
    open_anchors: set[str] = set()  # collections still being read: an alias to one is recursive
    stack: list[tuple] = []  # per open collection: the parent's (container, is_map, key), anchor, start line
    container: Any = None  # the open collection (None: at the document root)
    is_map = False
    key: Any = no_key  # in a mapping: the key read, waiting for its value
    root_map: Any = None  # the root mapping, whose `keys` lists' item lines are reported
    key_text: str | None = None  # text of the root mapping's key waiting for its value
    tracked: Any = None  # the last of the `keys` sequences found (one is read at a time: they are siblings)
    item_lines: ItemLines = {}  # key -> the lines of its items
    lines: dict[int, int] = {}  # the lines of `tracked`'s items
    while True:
        event = get_event()
        kind = type(event)
        if kind is ScalarEvent:
            text = event.value
            tag = event.tag
            if tag is not None and tag != "!":
                raise _Unsupported("explicit tag")
            if event.implicit[0]:
                value = memo_get(text, no_key)
                if value is no_key:
                    value = resolve_plain(text)
                    if type(value) in immutable:
                        memo[text] = value
            else:
                value = text
            anchor = event.anchor
            if anchor is not None:
                if anchor in anchors or anchor in open_anchors:
                    raise _Unsupported("duplicate anchor")
                anchors[anchor] = (value, event.start_mark.line + 1, text)
        elif kind is MappingStart or kind is SequenceStart:
            tag = event.tag
            if tag is not None and tag != "!":
                raise _Unsupported("explicit tag")
            anchor = event.anchor
            if anchor is not None:
                if anchor in anchors or anchor in open_anchors:
                    raise _Unsupported("duplicate anchor")
                open_anchors.add(anchor)
            line = event.start_mark.line + 1 if anchor is not None or container is tracked else 0
            new: Any = {} if kind is MappingStart else []
            if container is None:
                if kind is MappingStart:
                    root_map = new
            elif (container is root_map and key is not no_key and kind is SequenceStart
                    and key_text in keys and key_text not in item_lines):
                tracked = new
                lines = item_lines[key_text] = {}
            stack.append((container, is_map, key, anchor, line))
            if len(stack) > _MAX_DEPTH:
                raise _Unsupported("deep nesting")
            container, is_map, key = new, kind is MappingStart, no_key
            continue
        elif kind is MappingEnd or kind is SequenceEnd:
            value, text = container, None
            container, is_map, key, anchor, line = stack.pop()
            if anchor is not None:
                open_anchors.discard(anchor)
                anchors[anchor] = (value, line, None)
        elif kind is AliasEvent:
            target = anchors.get(event.anchor)
            if target is None:
                raise _Unsupported("undefined or recursive alias")
            value, line, text = target
            if (container is root_map and key is not no_key and type(value) is list
                    and key_text in keys and key_text not in item_lines):
                raise _Unsupported("aliased item list")
        else:
            raise _Unsupported(kind.__name__)

        if container is None:  # the document's root node
            break
        if is_map:
            if key is no_key:
                if value in container:  # (an unhashable key raises TypeError: handed over too)
                    raise _Unsupported("duplicate key")
                key = value
                if container is root_map:
                    key_text = text
            else:
                container[key] = value
                key = no_key
        else:
            if container is tracked:
                lines[len(container)] = event.start_mark.line + 1 if kind is ScalarEvent else line
            container.append(value)

    if type(get_event()) is not yaml.DocumentEndEvent or type(get_event()) is not yaml.StreamEndEvent:
        raise _Unsupported("more than one document")
    return value, item_lines


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic GC while a big file's values are built.

    Each few hundred new containers would otherwise start a collection, and now and
    then a full one over the whole heap, none of which can free anything being built
    (the loaders make no cycles but for the rare recursive alias, which the GC frees
    once back on). Another thread's garbage waits that long too; nothing else changes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_yaml_items(text: str, keys: tuple[str, ...] = ()) -> tuple[Any, ItemLines]:
    """Parse YAML once: the data (Decimal numbers) and, for each top-level list named in `keys`, the line of
    each of its items (`{"products": {0: 12, 1: 30}, "rules": {...}}`; a key with no such list is absent)."""
    with gc_paused():
        try:
            return _events(text, keys)
        except Exception:  # noqa: BLE001 - whatever the fast path does not do, the node loader does (or reports)
            return _nodes(text, keys)


def parse_yaml(text: str, list_key: str | None = None) -> tuple[Any, dict[int, int]]:
    """Parse YAML once: the data (Decimal numbers) and the line of each `list_key` item."""
    data, lines = parse_yaml_items(text, _keys(list_key))
    return data, lines.get(list_key, {}) if list_key else {}


def parse_text(text: str, suffix: str) -> Any:
    """Parse YAML or JSON text with Decimal numbers; raises yaml.YAMLError or ValueError."""
    if suffix.lower() == ".json":
        return json.loads(text, parse_float=Decimal, object_pairs_hook=_json_pairs)
    return parse_yaml(text)[0]


def read_structured_items(path: Path, keys: tuple[str, ...]) -> tuple[Any, ItemLines]:
    """Parse a YAML or JSON file; returns the data and the item lines of the `keys` lists (YAML only)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return parse_text(text, ".json"), {}
    return parse_yaml_items(text, keys)


def read_structured(path: Path, list_key: str = "products") -> tuple[Any, dict[int, int]]:
    """Parse a YAML or JSON file; returns the data and the line of each `list_key` item (YAML only)."""
    data, lines = read_structured_items(path, _keys(list_key))
    return data, lines.get(list_key, {})


def is_item_echo(err: Any) -> bool:
    """pydantic also reports a list whose items all failed as too short ("at least 1 item after validation, not 0"):
    an echo of the items' own errors when the file's list had enough items, which is dropped."""
    given = err.get("input")
    need = (err.get("ctx") or {}).get("min_length")
    return (err.get("type") == "too_short" and isinstance(given, (list, tuple)) and isinstance(need, int)
            and len(given) >= need)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (`tuple[Tier, ...]`, `dict[str, ProductPrice] | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def unknown_field(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """"unknown field", with "did you mean 'x'?" when the model at `loc` has a field spelled alike (`percnet`)."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or not isinstance(part, str):
            continue
        fields = {f.alias or name: f for name, f in current.model_fields.items()} | current.model_fields
        if part in fields:  # a dict key (a price book id, a SKU) is no field: the model stays
            current = _model_in(fields[part].annotation)
    if current is None or not loc or not isinstance(loc[-1], str):
        return "unknown field"
    names = sorted({f.alias or name for name, f in current.model_fields.items()})
    close = difflib.get_close_matches(loc[-1], names, n=1, cutoff=0.6)
    return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field"


def field_path(loc: tuple[int | str, ...]) -> str:
    """('prices', 'US-USD', 'tiers', 1, 'price') -> 'prices.US-USD.tiers[1].price'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_or_issue(path: Path, suffixes: tuple[str, ...], list_key: str = "products") -> tuple[Any, dict[int, int]]:
    """Read a structured file, turning unreadable or unparsable input into a `DataFileError`."""
    data, lines = read_or_issue_items(path, suffixes, _keys(list_key))
    return data, lines.get(list_key, {})


def read_or_issue_items(path: Path, suffixes: tuple[str, ...], keys: tuple[str, ...]) -> tuple[Any, ItemLines]:
    """`read_or_issue` with the item lines of several top-level lists (`parse_yaml_items`)."""
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise DataFileError([FileIssue(file, "", "", f"unsupported file type {suffix!r}; use {', '.join(suffixes)}")])
    try:
        return read_structured_items(path, keys)
    except OSError as exc:
        raise DataFileError([FileIssue(file, "", "", f"cannot read: {exc.strerror or exc}")]) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise DataFileError([FileIssue(file, "", "", f"not valid {suffix[1:].upper()}: {exc}")]) from None
