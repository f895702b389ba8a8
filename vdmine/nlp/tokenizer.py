"""scispaCy's rule tokenizer with the fixes vdmine's text needs.

scispaCy's ``combined_rule_tokenizer`` keeps biomedical tokens such as ``25(OH)D``,
``1,25(OH)2D`` and ``25-OHD`` whole, which vdmine relies on. It fails on three patterns that are
everywhere in vitamin D abstracts, so we extend (never replace) its affix rules:

* a sentence full stop after an upper-case letter stays glued on (``ng/mL.``, ``vitamin D.``),
  which also hides the sentence boundary from the sentencizer;
* comparison signs stay glued to numbers (``≥30``, ``<0.05``, ``±5``);
* a number and its unit stay one token (``50,000IU``, ``400iu``, ``50μg``, ``20ng/mL``).

The extra affixes are data (``lexicons/tokenizer_units.txt``) so a unit can be added without code.
"""

from __future__ import annotations

import re
from importlib import resources

from scispacy.custom_tokenizer import combined_rule_tokenizer
from spacy.language import Language
from spacy.tokenizer import Tokenizer

COMPARATORS = "≥≤<>±≈~"


def _units() -> list[str]:
    """Dose/level units that must split from a preceding number (longest first)."""
    text = resources.files("vdmine.nlp").joinpath("lexicons/tokenizer_units.txt").read_text("utf-8")
    units = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return sorted(set(units), key=len, reverse=True)


def _extra_suffixes() -> list[str]:
    units = "|".join(re.escape(u) for u in _units())
    return [
        # full stop after an upper-case letter ("ng/mL.", "vitamin D.", "IgG."); abbreviations
        # that must keep their dot are tokenizer exceptions and are matched before suffixes.
        r"(?<=[A-Z])\.",
        # number + unit, optionally "per something" ("50,000IU", "20ng/mL", "800IU/d")
        rf"(?<=[0-9])(?:{units})(?:/(?:[a-zA-Z]{{1,4}}))?",
    ]


def _extra_prefixes() -> list[str]:
    return [rf"[{re.escape(COMPARATORS)}](?=[0-9.,])"]


def _extra_infixes() -> list[str]:
    # "p<0.05", "BMI≥30": a comparator between a word/number and a number
    return [rf"(?<=[A-Za-z0-9)])[{re.escape(COMPARATORS)}](?=[0-9.])"]


def make_tokenizer(nlp: Language) -> Tokenizer:
    """scispaCy's ``combined_rule_tokenizer(nlp)`` plus vdmine's extra affix rules."""
    tok = combined_rule_tokenizer(nlp)
    prefix = tok.prefix_search.__self__.pattern  # type: ignore[attr-defined]
    suffix = tok.suffix_search.__self__.pattern  # type: ignore[attr-defined]
    infix = tok.infix_finditer.__self__.pattern  # type: ignore[attr-defined]
    tok.prefix_search = re.compile("|".join(["^" + p for p in _extra_prefixes()] + [prefix])).search
    tok.suffix_search = re.compile("|".join([s + "$" for s in _extra_suffixes()] + [suffix])).search
    tok.infix_finditer = re.compile("|".join(_extra_infixes() + [infix])).finditer
    return tok
