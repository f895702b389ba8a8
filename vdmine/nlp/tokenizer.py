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
from spacy.tokens import Doc

from vdmine.nlp.docs import TEXT_KEY

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


def make_tokenizer(nlp: Language, cache: bool = True) -> "Tokenizer | ChunkCachedTokenizer":
    """scispaCy's ``combined_rule_tokenizer(nlp)`` plus vdmine's extra affix rules, memoised per
    whitespace chunk (:class:`ChunkCachedTokenizer`) unless ``cache=False``."""
    tok = combined_rule_tokenizer(nlp)
    prefix = tok.prefix_search.__self__.pattern  # type: ignore[attr-defined]
    suffix = tok.suffix_search.__self__.pattern  # type: ignore[attr-defined]
    infix = tok.infix_finditer.__self__.pattern  # type: ignore[attr-defined]
    tok.prefix_search = re.compile("|".join(["^" + p for p in _extra_prefixes()] + [prefix])).search
    tok.suffix_search = re.compile("|".join([s + "$" for s in _extra_suffixes()] + [suffix])).search
    tok.infix_finditer = re.compile("|".join(_extra_infixes() + [infix])).finditer
    return ChunkCachedTokenizer(tok) if cache else tok


_RUNS = re.compile(r"\S+|\s+")


def _with_trimmed(runs: list[str]) -> list[str]:
    """The runs, plus each whitespace run that starts with ' ' without that space (what is left
    of it after the token before it took the space)."""
    return [r[1:] for r in runs if r[0] == " " and len(r) > 1] + runs


class ChunkCachedTokenizer:
    """The tokenizer above, memoised per whitespace-separated chunk in a bounded dict.

    Why: spaCy's tokenizer caches the tokens of each chunk, but stops caching for the rest of a
    document as soon as one special case (an exception such as ``e.g.`` or a lone ``\\n``) was
    used in it (spaCy #1250, ``Tokenizer._save_cached``), so on abstracts nearly every chunk is
    split by the affix regexes again. A chunk's tokens do not depend on its neighbours (spaCy
    splits on whitespace first; a special case spanning whitespace fails its surface check), so
    caching them here gives the same tokens, about twice as fast on text seen before.

    Whitespace follows spaCy exactly: a single ``' '`` after a chunk is that token's trailing
    space; any other whitespace run (the rest of a run of spaces, ``\\n``, ``\\xa0``) is a token
    of its own. The chunks a document adds to the cache are tokenized together in one call.
    ``tests/test_tokenizer.py`` checks equality with the plain tokenizer on every corpus abstract.
    The cache holds at most two generations of ``max_entries`` runs, so memory stays bounded.
    """

    def __init__(self, inner: Tokenizer, max_entries: int = 100_000) -> None:
        self.inner = inner
        self.vocab = inner.vocab
        self.max_entries = max_entries
        self._cache: dict[str, tuple[str, ...]] = {}  # run of text -> its tokens' texts
        self._old: dict[str, tuple[str, ...]] = {}  # the previous generation (see _admit)

    def _admit(self, runs: list[str]) -> None:
        """Put the tokens of these runs in the cache: from the previous generation when there,
        else by tokenizing (all new non-space runs of a document in one call, joined by ' ').

        Two generations approximate an LRU cheaply: when the cache is full it becomes the old
        generation and a new one starts; runs still in use move back from the old one."""
        if len(self._cache) + len(runs) > self.max_entries:
            self._old, self._cache = self._cache, {}
        cache, old = self._cache, self._old
        chunks = []
        for run in dict.fromkeys(runs):
            hit = old.get(run)
            if hit is not None:
                cache[run] = hit
            elif run[0].isspace():  # tokens within a run never carry a trailing space
                cache[run] = tuple(t.text for t in self.inner(run))
            else:
                chunks.append(run)
        if not chunks:
            return
        words: list[str] = []
        it = iter(chunks)
        doc = self.inner(" ".join(chunks))
        last = len(doc) - 1
        for tok in doc:
            words.append(tok.text)
            if tok.whitespace_ or tok.i == last:
                cache[next(it)] = tuple(words)
                words = []

    def __call__(self, text: str) -> Doc:
        runs = _RUNS.findall(text)
        cache = self._cache
        needed = _with_trimmed(runs)
        missing = [run for run in needed if run not in cache]
        if missing:
            self._admit(missing)
            cache = self._cache
            if any(run not in cache for run in needed):  # a new generation started mid-document
                self._admit(needed)
                cache = self._cache
        words: list[str] = []
        spaced: list[int] = []
        for run in runs:
            if run[0] == " " and words:  # one space belongs to the token before it
                spaced.append(len(words) - 1)
                if run == " ":
                    continue
                run = run[1:]
            words += cache[run]
        spaces = [False] * len(words)
        for i in spaced:
            spaces[i] = True
        doc = Doc(self.vocab, words=words, spaces=spaces)
        doc.user_data[TEXT_KEY] = text  # doc.text is exactly the input: no need to rebuild it
        return doc

    def pipe(self, texts, batch_size: int = 1000):
        for text in texts:
            yield self(text)

    # serialisation and everything else (rules, explain, affix settings) is the inner tokenizer's
    def to_bytes(self, **kwargs):
        return self.inner.to_bytes(**kwargs)

    def from_bytes(self, data, **kwargs):
        self.inner.from_bytes(data, **kwargs)
        self._cache, self._old = {}, {}
        return self

    def to_disk(self, path, **kwargs):
        return self.inner.to_disk(path, **kwargs)

    def from_disk(self, path, **kwargs):
        self.inner.from_disk(path, **kwargs)
        self._cache, self._old = {}, {}
        return self

    def __getattr__(self, name: str):
        if name == "inner":  # not set yet (while unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __reduce__(self):
        return (ChunkCachedTokenizer, (self.inner, self.max_entries))
