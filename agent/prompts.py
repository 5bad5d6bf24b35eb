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
    """Buyer text as delimited, untrusted data: the closing tag cannot be forged from inside."""
    cleaned = text.replace("<buyer_message>", "").replace("</buyer_message>", "")
    return f"<buyer_message>\n{cleaned}\n</buyer_message>"


# What `delimit_buyer_text` wrote, found again: group 1 is the buyer's text.
DELIMITED_BUYER_TEXT = re.compile(r"<buyer_message>\n?(.*?)\n?</buyer_message>", re.S)
