"""The packaged lexicon files (``vdmine/nlp/lexicons/``), read one way by every extractor."""

from __future__ import annotations

from pathlib import Path

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"


def read_tsv(name: str) -> list[list[str]]:
    """The tab-separated fields of each line of ``lexicons/<name>``; blank lines and lines
    starting with ``#`` (comments, headers) are skipped."""
    out = []
    for line in (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out.append(line.split("\t"))
    return out
