"""Prompt templates live as files in `prompts/`, each with a version in its front matter.

The version that a decision record carries is `<name>/<version>+<digest>`: the
declared version plus the first characters of the file's sha256, so an edit
that forgets to bump the version still shows up in the records.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    text: str

    @property
    def ref(self) -> str:
        """What decision records carry: name, declared version and content digest."""
        return f"{self.name}/{self.version}+{hashlib.sha256(self.text.encode()).hexdigest()[:8]}"


def parse(name: str, source: str) -> Prompt:
    """Split `---` front matter (simple `key: value` lines) from the template body."""
    if not source.startswith("---\n"):
        raise ValueError(f"prompt {name}: missing front matter")
    head, sep, body = source[4:].partition("\n---\n")
    if not sep:
        raise ValueError(f"prompt {name}: unterminated front matter")
    meta = dict(line.split(":", 1) for line in head.splitlines() if ":" in line)
    meta = {k.strip(): v.strip() for k, v in meta.items()}
    if meta.get("name", name) != name or "version" not in meta:
        raise ValueError(f"prompt {name}: front matter needs `name: {name}` and a `version`")
    return Prompt(name=name, version=meta["version"], text=body.strip() + "\n")


@lru_cache(maxsize=None)
def load(name: str) -> Prompt:
    return parse(name, (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8"))


def delimit_buyer_text(text: str) -> str:
    """Buyer text as delimited, untrusted data: the closing tag cannot be forged from inside.

    Anything in the text that a model could read as one of the delimiters is replaced by a space first
    (`neutralise_delimiters`), not only the exact tags."""
    return f"<buyer_message>\n{neutralise_delimiters(text)}\n</buyer_message>"


# What a forged delimiter may look like, read on the text's skeleton (`_skeleton`): an angle bracket, an optional
# slash, "buyer", any separator, "message" (letters possibly spaced out), then attributes up to a closing bracket
# on the same line, if there is one ("</Buyer_Message>", "< /buyer-message id=1 >", "<BUYER MESSAGE").
_SPACED = r"[\s]*".join
_FORGED_TAG = re.compile(r"<\s*/?\s*" + _SPACED("buyer") + r"[^a-z0-9<>]{0,8}" + _SPACED("message")
                         + r"(?![a-z0-9])(?:[^<>\n]{0,200}>)?")
# Characters read as others: look-alike brackets and slashes, and letters of "buyer message" in other scripts
# (after NFKC, which already folds the fullwidth and small forms).
_LOOK_ALIKE = str.maketrans({
    **dict.fromkeys("\u2039\u2329\u27e8\u3008\u300a\u00ab\u02c2\u1438\u276e\u2770\u29fc\u227a", "<"),
    **dict.fromkeys("\u203a\u232a\u27e9\u3009\u300b\u00bb\u02c3\u1433\u276f\u2771\u29fd\u227b", ">"),
    **dict.fromkeys("\u2044\u2215\u29f8\u2571\u01c0", "/"),
    **dict.fromkeys("\u0430\u0251\u03b1", "a"), **dict.fromkeys("\u044c\u0184\u0185\u042c", "b"),
    **dict.fromkeys("\u0435\u0451\u04bd\u212e\u03b5", "e"), **dict.fromkeys("\u0261\u0581", "g"),
    **dict.fromkeys("\u043c\u217f", "m"), **dict.fromkeys("\u0433\u0280\u1d26", "r"),
    **dict.fromkeys("\u0455\u0282", "s"), **dict.fromkeys("\u03c5\u057d\u028b", "u"),
    **dict.fromkeys("\u0443\u04af\u03b3\u028f", "y"),
})
# "&lt;", "&#60;", "&#x3c;" (and the same for ">" and "/"), read as the character they stand for.
_ENTITY = re.compile(r"&(?:lt|gt|sol|#0*(?:60|62|47)|#x0*(?:3c|3e|2f));?", re.I)
_ENTITY_CHAR = {"lt": "<", "gt": ">", "sol": "/", "60": "<", "62": ">", "47": "/", "3c": "<", "3e": ">", "2f": "/"}


def _skeleton(text: str) -> tuple[str, list[int], list[int]]:
    """The text as a model may read it (NFKC, case folded, look-alikes mapped, invisible format characters and
    HTML entities resolved), with each skeleton character's start and end in the text."""
    import unicodedata

    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    while i < len(text):
        entity = _ENTITY.match(text, i) if text[i] == "&" else None
        if entity is not None:
            key = entity.group().lower().strip("&;#").lstrip("x").lstrip("0") if entity.group()[1] == "#" \
                else entity.group().lower().strip("&;")
            chars, end = _ENTITY_CHAR.get(key, "?"), entity.end()
        else:
            c = text[i]
            chars = "" if unicodedata.category(c) == "Cf" else \
                unicodedata.normalize("NFKC", c).casefold().translate(_LOOK_ALIKE)
            end = i + 1
        for ch in chars:
            out.append(ch)
            starts.append(i)
            ends.append(end)
        i = end
    return "".join(out), starts, ends


def neutralise_delimiters(text: str) -> str:
    """The text with every forged `<buyer_message>` or `</buyer_message>` tag replaced by a space: in any case,
    with spaces, attributes, look-alike characters, invisible characters or HTML entities. Replacing may join
    what was around a tag into another one, so it is done again until none is left."""
    for _ in range(len(text) + 1):
        skeleton, starts, ends = _skeleton(text)
        spans = [(starts[m.start()], ends[m.end() - 1]) for m in _FORGED_TAG.finditer(skeleton)]
        if not spans:
            return text
        for a, b in reversed(spans):
            text = text[:a] + " " + text[b:]
    return text


# What `delimit_buyer_text` wrote, found again: group 1 is the buyer's text.
DELIMITED_BUYER_TEXT = re.compile(r"<buyer_message>\n?(.*?)\n?</buyer_message>", re.S)
