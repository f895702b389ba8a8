"""Quoting real corpus text in tests: `real()` fails the test if a quoted sentence is not verbatim in the corpus."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def _text(path: Path) -> str:
    """All string values of a JSONL corpus file (decoded, so escapes like \\u00b5 compare as text)."""
    out: list[str] = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            walk(json.loads(line))
    return "\n".join(out)


def real(shared: Path, name: str, sentence: str) -> str:
    """The sentence itself, after checking that it is verbatim in ``shared/corpus/<name>``."""
    assert sentence in _text(shared / "corpus" / name), f"not a real sentence of {name}: {sentence[:60]}"
    return sentence
