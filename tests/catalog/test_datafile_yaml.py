"""The YAML fast path (values from libyaml's events) against the original node-based loader.

`REFERENCE` below is the node loader, the loader as it was before the fast path
(and still its fallback). Every document is read by both, and the results must
be the same: the same types (a Decimal is not an int, `True` is not `1`), the
same Decimal exponents (`1.10` is not `1.1`), the same key order, the same
shared objects for aliases, the same item lines; or the same exception with the
same message.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools import datafile
from tools.datafile import DataFileError, parse_yaml, read_or_issue

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from gen_catalog import write_catalog  # noqa: E402

# --- the reference: the node loader the fast path stands in for --------------------------
#
# `tools.datafile._parse_yaml_nodes` is the loader as it was before the fast path (it is
# still the fallback for what the fast path leaves alone): the same `_DecimalLoader`
# resolvers and constructors, composed into nodes and constructed in Python.

REFERENCE = datafile._parse_yaml_nodes


# --- comparing -------------------------------------------------------------------------


def canon(value: Any, seen: dict[int, int] | None = None) -> Any:
    """A structure equal for equal YAML results only: types, Decimal exponents, order, sharing."""
    seen = {} if seen is None else seen
    if isinstance(value, (dict, list)):
        if id(value) in seen:  # an alias: the same object as an earlier one (or a cycle)
            return ("same-as", seen[id(value)])
        seen[id(value)] = len(seen)
        if isinstance(value, dict):
            return ("dict", [(canon(k, seen), canon(v, seen)) for k, v in value.items()])
        return ("list", [canon(v, seen) for v in value])
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    if isinstance(value, dt.datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo))
    return (type(value).__name__, repr(value))


def outcome(load: Any, text: str, list_key: str | None) -> Any:
    try:
        data, lines = load(text, list_key)
    except Exception as exc:  # noqa: BLE001 - the error is part of the behaviour compared
        return ("error", type(exc).__name__, str(exc))
    return ("ok", canon(data), lines)


def assert_same(text: str, list_key: str | None = "products", fast: bool | None = None) -> Any:
    """parse_yaml agrees with the reference; `fast`: the event path must (True) or must not (False) answer."""
    expected = outcome(REFERENCE, text, list_key)
    assert outcome(parse_yaml, text, list_key) == expected
    events = outcome(datafile._parse_yaml_events, text, list_key)
    handled = events[0] == "ok"
    if handled:  # whatever the event path answers on its own must be the reference's answer
        assert events == expected
    if fast is not None:
        assert handled is fast, events
    return expected


# --- documents ------------------------------------------------------------------------

SCALARS = [
    # floats: exact Decimals, exponent kept; what the float regexp refuses stays text
    "1.10", "3.250", "1e3", "1.0e3", "1.0e+3", "1.5e-3", "-1.5E+3", ".5", "-.5", "+.5", "-0.0", "+0.0", "0.0",
    "1.", "1.e5", "1_000.5", "1__0.0_1", "30:1.5", "190:20:30.15", ".inf", "-.inf", "+.Inf", ".nan", ".NaN",
    "1.2.3", "1,5", "3,50",
    # ints: plain decimals only
    "0", "-0", "+0", "7", "-7", "+7", "1_000", "1__000", "1_", "_1", "00", "0610", "0o17", "0x1F", "0b101",
    "30:1", "1:2:3", "12345678901234567890123", "-12345678901234567890123", "9" * 5000,
    # booleans: true/false only; the YAML 1.1 words stay text
    "true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "yes", "no", "Yes", "No", "YES", "NO",
    "on", "off", "On", "OFF", "y", "n", "Y", "N",
    # null
    "null", "Null", "NULL", "nULL", "~", "",
    # timestamps
    "2026-12-01", "2026-1-1", "2026-12-01 10:00:00", "2026-12-01T10:00:00Z", "2026-12-01t10:00:00.5+01:00",
    "2026-12-01 10:00:00.123456789 -5", "2026-13-01",
    # text
    "H87", "steel", "A2", "GEN-00001", "a b c", "x:y", "100-499:3.20|500+:2.90", "-", "+", ".", "..", "=x",
    "<<<", "@@", "éclair", "日本",
]


def _quoted(s: str) -> list[str]:
    return ["'" + s.replace("'", "''") + "'", '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"']


SCALAR_DOCS = [f"v: {s}\n" for s in SCALARS] + [f"v: {q}\n" for s in SCALARS for q in _quoted(s)]
KEY_DOCS = [f"{s}: k\n" for s in SCALARS if s] + [f"{q}: k\n" for s in SCALARS for q in _quoted(s)]
TAGGED_DOCS = [f"v: ! {s}\n" for s in SCALARS if s] + [f"v: ! {_quoted(s)[0]}\n" for s in SCALARS]

STRUCTURE_DOCS = [
    # documents and roots
    "", "# only a comment\n", "---\n", "--- ~\n", "---\n...\n", "42\n", "1.10\n", "'x'\n", "- 1\n- 2.50\n",
    "--- !!str\n", "[]\n", "{}\n", "%YAML 1.1\n---\na: 1\n",
    # nesting, flow and block styles
    "a:\n  b:\n    c: [1, 2.0, {d: e}]\n  f: []\n  g: {}\n",
    "{a: 1, b: [x, y, {c: null}], 'd': \"e\"}\n",
    "- - - 1\n    - 2\n  - 3\n- {}\n",
    "a: |\n  literal 1.10\n  text\nb: >\n  folded\n  1.10\nc: |-\n  true\n",
    "a: plain\n  continued 1.10\nb: 'multi\n  line'\n",
    "? a\n? b\n: c\n",
    "a:\n- 1\n- 2\nb:\n  - x\n",
    # anchors and aliases
    "a: &x 1.10\nb: *x\n",
    "a: &x {k: [1, 2]}\nb: *x\nc: [*x, *x]\n",
    "a: &x [1, 2]\nb: *x\n",
    "base: &b {k: v}\nlist: [*b, &c {k: w}, *c]\n",
    "&k key: 1\nother: *k\n",
    "a: &x yes\nb: *x\n",
    "&root {a: 1}\n",
    "a: &x\nb: *x\n",
    # keys of every kind
    "1: a\n2.50: b\ntrue: c\nnull: d\n~: e\n2026-12-01: f\n",
    "'1': a\n1: b\n",
    "1: a\n1.0: b\n",
    "true: a\n1: b\n",
    "=: a\n",
    # merge keys, value keys, explicit tags: left to the node loader, same answers
    "base: &b {a: 1, b: 2}\nitem:\n  <<: *b\n  b: 3\n",
    "item:\n  <<: [{a: 1}, {b: 2}]\n  c: 3\n",
    "'<<': 1\n",
    "a: !!str 1.10\nb: !!int '7'\nc: !!float 1\nd: !!bool 'yes'\ne: !!null ''\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x, y}\nb: !!omap [{x: 1}, {y: 2}]\nc: !!pairs [{x: 1}]\n",
    "a: !!timestamp 2026-12-01\n",
    "a: !!map {b: 1}\nc: !!seq [1]\n",
    "a: !custom 1\n",
    "a: ! {b: 1}\nc: ! [1]\n",
    # errors: the same exception, the same message
    "a: 1\nb: 2\na: 3\n",
    "a: {b: 1, b: 2}\n",
    "- {x: 1, x: 1}\n",
    "a: &x 1\nb: &x 2\n",
    "a: *nope\n",
    "a: &x [*x]\n",
    "&x [*x]\n",
    "&x {a: *x}\n",
    "? [a, b]\n: 1\n",
    "? {a: 1}\n: 1\n",
    "a: &x [1]\n*x : 2\n",
    "a: =\n",
    "a: <<\n",
    "a: 1\n---\nb: 2\n",
    "a: [1, 2\n",
    "a: 'open\n",
    "\ta: 1\n",
    "a: b: c\n",
    "products:\n- sku: A\n- sku: B\n  sku: C\n",
    # item lines
    "products:\n- sku: A\n  name: a\n- sku: B\n\n\n- sku: C\n",
    "products: [x, {sku: y},\n  [z]]\n",
    "products: {a: 1}\nother: [1]\n",
    "vendor: v\nproducts: []\n",
    "items: &i\n- 1\n- 2\nproducts: *i\n",
    "one: &p {sku: A}\nproducts:\n- *p\n- sku: B\n",
    "&k products: [1]\n",
    "k: &k products\n*k : [1, 2]\n",
    "'products':\n- 1\n",
    "- products:\n  - 1\n",
    "products:\n- &a 1\n- *a\n",
    # deep nesting: the node loader's business (its recursion decides)
    "a: " + "[" * 60 + "]" * 60 + "\n",
    "a: " + "[" * 10 + "1" + "]" * 10 + "\n",
    "\n".join("  " * i + f"k{i}:" for i in range(45)) + " leaf\n",
]


def _short(text: str) -> str:
    return repr(text)[:60]


@pytest.mark.parametrize("text", SCALAR_DOCS + KEY_DOCS + TAGGED_DOCS, ids=_short)
def test_scalars_resolve_as_before(text: str) -> None:
    assert_same(text)


@pytest.mark.parametrize("text", STRUCTURE_DOCS, ids=_short)
def test_documents_load_as_before(text: str) -> None:
    assert_same(text)


@pytest.mark.parametrize("list_key", [None, "products", "items", "a", "missing"])
@pytest.mark.parametrize("text", [d for d in STRUCTURE_DOCS if "products" in d or "items" in d], ids=_short)
def test_item_lines_as_before(text: str, list_key: str | None) -> None:
    assert_same(text, list_key)


@pytest.mark.parametrize("text", [d for d in STRUCTURE_DOCS if "products" in d or "items" in d], ids=_short)
def test_item_lines_of_several_lists_as_before(text: str) -> None:
    keys = ("products", "items", "a", "missing")
    expected = outcome(datafile._nodes, text, keys)
    assert outcome(datafile.parse_yaml_items, text, keys) == expected
    events = outcome(datafile._events, text, keys)
    if events[0] == "ok":
        assert events == expected
    if expected[0] == "ok":  # each list's lines are the ones it has alone
        for key in keys:
            alone = outcome(REFERENCE, text, key)[2]
            assert expected[2].get(key, {}) == alone


def test_example_catalog_rule_lines_on_the_fast_path() -> None:
    text = (ROOT / "examples" / "catalog.yaml").read_text(encoding="utf-8")
    result = outcome(datafile._events, text, ("products", "rules"))
    assert result == outcome(datafile._nodes, text, ("products", "rules"))
    lines = text.splitlines()
    products, rules = result[2]["products"], result[2]["rules"]
    assert len(products) == 52 and len(rules) == 13
    assert all(lines[n - 1].startswith("  - sku: ") for n in products.values())
    assert all(lines[n - 1].startswith("  - id: ") for n in rules.values())


def _data_files() -> list[Path]:
    files = sorted(p for p in (ROOT / "examples").rglob("*") if p.suffix.lower() in (".yaml", ".yml"))
    assert files, "no example files found"
    return files + sorted((ROOT / "tests" / "fixtures").glob("*.yaml"))


@pytest.mark.parametrize("path", _data_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_example_files_load_as_before_on_the_fast_path(path: Path) -> None:
    result = assert_same(path.read_text(encoding="utf-8"), fast=True)
    assert result[0] == "ok"


def test_generated_catalog_loads_as_before_on_the_fast_path(tmp_path: Path) -> None:
    text = write_catalog(tmp_path / "catalog.yaml", 300).read_text(encoding="utf-8")
    result = assert_same(text, fast=True)
    assert len(result[2]) == 300
    lines = text.splitlines()
    assert all(lines[line - 1].startswith("- sku: ") for line in result[2].values())


def test_spliced_example_files_load_as_before() -> None:
    """Example files with plain values swapped for tricky scalars, and some lines doubled (duplicate keys)."""
    rng = random.Random(20261126)
    scalar = re.compile(r"(?<=: )[^\s#'\"\[\]{}&*!|>][^#\n]*?(?=\s*$)", re.M)
    for path in _data_files():
        text = path.read_text(encoding="utf-8")
        for round_ in range(25):
            mutated = scalar.sub(lambda m: rng.choice(SCALARS) if rng.random() < 0.3 else m.group(0), text)
            lines = mutated.splitlines()
            if round_ % 5 == 4:  # a doubled line: a duplicate key, or one more list item
                i = rng.randrange(len(lines))
                lines.insert(i, lines[i])
            assert_same("\n".join(lines) + "\n")


@pytest.mark.parametrize(("text", "fast"), [
    ("a: &x {k: [1, 1.10]}\nb: *x\nc: ! 7\nd: [x, {y: ~}]\n", True),
    ("products:\n- &p {sku: A}\n- *p\n", True),
    ("2026-12-01: true\n", True),
    ("a: 1\na: 2\n", False),  # duplicate key: the node loader words the error
    ("a: &x 1\nb: &x 2\n", False),  # duplicate anchor
    ("a: &x [*x]\n", False),  # recursive alias
    ("b: &b {x: 1}\nc:\n  <<: *b\n", False),  # merge key
    ("a: !!str 1\n", False),  # explicit tag
    ("a: 1\n---\nb: 2\n", False),  # two documents
    ("a: [1\n", False),  # syntax error
    ("a: " + "[" * 51 + "]" * 51 + "\n", False),  # deep nesting
])
def test_what_the_fast_path_answers_itself(text: str, fast: bool) -> None:
    assert_same(text, fast=fast)


@pytest.mark.parametrize("text", ["a: [1, {b: 2}]\n", "a: 1\na: 2\n", "a: [1\n"])
def test_the_gc_is_back_as_it_was(text: str) -> None:
    assert gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            try:
                parse_yaml(text)
            except yaml.YAMLError:
                pass
            assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_aliases_share_one_object_as_before() -> None:
    data, _ = parse_yaml("a: &x {k: [1]}\nb: *x\nc: [*x]\n")
    assert data["a"] is data["b"] is data["c"][0]
    assert data["a"]["k"] is data["b"]["k"]


def test_duplicate_key_error_names_the_line() -> None:
    text = "vendor: v\nproducts:\n- sku: A\n  unit: H87\n  unit: C62\n"
    with pytest.raises(yaml.constructor.ConstructorError) as info:
        parse_yaml(text, "products")
    assert "duplicate key 'unit'" in str(info.value)
    assert "line 5, column 3" in str(info.value)
    assert outcome(REFERENCE, text, "products") == outcome(parse_yaml, text, "products")


def test_duplicate_key_in_a_file_is_a_data_file_error_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("a: 1\nb:\n  c: 2\n  c: 3\n", encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        read_or_issue(path, (".yaml",))
    assert "not valid YAML" in str(info.value)
    assert "duplicate key 'c'" in str(info.value) and "line 4" in str(info.value)


def test_values_are_exact() -> None:
    data, _ = parse_yaml("a: 1.10\nb: 3.250\nc: 1e3\nd: .5\ne: -0.0\nf: 1_000\ng: yes\nh: ~\ni: '7'\nj: 07\n")
    assert canon(data) == canon({"a": Decimal("1.10"), "b": Decimal("3.250"), "c": "1e3", "d": Decimal(".5"),
                                 "e": Decimal("-0.0"), "f": 1000, "g": "yes", "h": None, "i": "7", "j": "07"})


# --- random documents -----------------------------------------------------------------

_scalar_text = st.one_of(st.sampled_from(SCALARS), st.text(alphabet="0123456789._-+:eEtTfFnNyYoO~ ", max_size=8))


def _render_scalar(draw: Any, s: str) -> str:
    style = draw(st.sampled_from(["plain", "plain", "single", "double", "bang"]))
    if style == "single":
        return _quoted(s)[0]
    if style == "double":
        return _quoted(s)[1]
    plain = bool(s) and s.strip() == s and s[0] not in "?:&*!|>'\"%@`#" and s != "-" and not s.startswith("- ")
    plain = plain and not any(c in s for c in ",[]{}#") and ": " not in s and not s.endswith(":")
    if not plain:  # (a plain rendering would only be a syntax error: both loaders would agree on it)
        return _quoted(s)[0]
    return ("! " + s) if style == "bang" else s


@st.composite
def _flow(draw: Any, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["scalar", "scalar", "list", "map"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return _render_scalar(draw, draw(_scalar_text))
    items = draw(st.lists(_flow(depth + 1), max_size=4))
    if kind == "list":
        return "[" + ", ".join(items) + "]"
    keys = [_render_scalar(draw, draw(_scalar_text)) for _ in items]
    return "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, items)) + "}"


@st.composite
def _documents(draw: Any) -> str:
    lines = []
    anchors: list[str] = []
    for i in range(draw(st.integers(1, 6))):
        key = _render_scalar(draw, draw(st.one_of(_scalar_text, st.sampled_from(["products", "sku"]))))
        if anchors and draw(st.integers(0, 5)) == 0:
            value = "*" + draw(st.sampled_from(anchors))
        else:
            value = draw(_flow())
            if draw(st.integers(0, 4)) == 0:
                anchors.append(f"a{i}")
                value = f"&a{i} {value}"
        if draw(st.booleans()):
            lines.append(f"{key}: {value}")
        else:
            lines.append(f"{key}:")
            lines.extend(f"- {draw(_flow())}" for _ in range(draw(st.integers(0, 3))))
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_random_documents_load_as_before(text: str) -> None:
    assert_same(text)
