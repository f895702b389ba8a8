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
import re._constants as _c  # private, like prefilter.py: stable on 3.11/3.12 (re-check on a new Python)
import re._parser as _parser
import unicodedata
import warnings
from contextlib import contextmanager
from importlib import resources
from itertools import chain
from operator import itemgetter

from scispacy.custom_tokenizer import combined_rule_tokenizer
from spacy.attrs import (IS_ALPHA, IS_ASCII, IS_BRACKET, IS_CURRENCY, IS_DIGIT, IS_LEFT_PUNCT, IS_LOWER, IS_PUNCT,
                         IS_QUOTE, IS_RIGHT_PUNCT, IS_SPACE, IS_TITLE, IS_UPPER, LIKE_EMAIL, LIKE_NUM, LIKE_URL,
                         LOWER, ORTH, PREFIX, SPACY, SUFFIX)
from spacy.lang import lex_attrs as _lex_attrs
from spacy.lang.en import lex_attrs as _en_lex_attrs
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
    """scispaCy's ``combined_rule_tokenizer(nlp)`` plus vdmine's extra affix rules.

    By default it is memoised per whitespace chunk (:class:`ChunkCachedTokenizer`), its affix
    searches are :class:`AnchoredSearch` / :class:`InfixFinditer` and the vocab's slowest lexeme
    attribute getters are swapped for faster ones (all exact, see there); ``cache=False`` gives
    the plain spaCy tokenizer with plain regexes, the reference the tests compare with."""
    tok = combined_rule_tokenizer(nlp)
    prefix = tok.prefix_search.__self__.pattern  # type: ignore[attr-defined]
    suffix = tok.suffix_search.__self__.pattern  # type: ignore[attr-defined]
    infix = tok.infix_finditer.__self__.pattern  # type: ignore[attr-defined]
    tok.prefix_search = re.compile("|".join(["^" + p for p in _extra_prefixes()] + [prefix])).search
    tok.suffix_search = re.compile("|".join([s + "$" for s in _extra_suffixes()] + [suffix])).search
    tok.infix_finditer = re.compile("|".join(_extra_infixes() + [infix])).finditer
    if not cache:
        return tok
    _use_anchored_searches(tok)
    use_fast_lex_attrs(nlp.vocab)
    return ChunkCachedTokenizer(tok)


# --- faster exact prefix / suffix / infix search -----------------------------------------------

_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_ATOMIC = getattr(_c, "ATOMIC_GROUP", None)
_UNBOUNDED = 1_000  # a width above this is treated as "any": search the whole string


def _quietly(fn, *args):
    """``fn(*args)`` without re's "possible set union" FutureWarning, which spaCy's character
    classes raise: the tokenizer's own regexes were compiled (and warned about) already."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return fn(*args)


def _alternatives(pattern: str) -> list[str] | None:
    """``pattern`` split at its top-level ``|``, or None when it uses syntax this small scanner
    does not follow (comments, inline flags, conditionals): then no shortcut is taken."""
    parts, depth, start, i, n = [], 0, 0, 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":  # a class: "]" right after "[" or "[^" is a literal, "\\" escapes
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif ch == "(":
            if pattern.startswith("(?", i) and not pattern.startswith(("(?:", "(?=", "(?!", "(?<=", "(?<!"), i):
                return None
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    if depth != 0 or i != n:
        return None
    return parts + [pattern[start:]]


def _edge(items, from_end: bool):
    """(ranges, nullable) for a parsed sequence: the code-point ranges its first (or, with
    ``from_end``, last) consumed character can fall in, and whether it can match the empty
    string. ranges is None when unknown or unrestricted (any character)."""
    ranges: list[tuple[int, int]] = []
    for op, av in reversed(items) if from_end else items:
        if op in _ZERO_WIDTH:
            continue
        if op is _c.LITERAL:
            ranges.append((av, av))
            return ranges, False
        if op is _c.IN:
            for o, a in av:
                if o is _c.LITERAL:
                    ranges.append((a, a))
                elif o is _c.RANGE:
                    ranges.append(a)
                else:  # NEGATE, CATEGORY (\s, \d, ...): not worth listing
                    return None, False
            return ranges, False
        if op is _c.SUBPATTERN or op is _ATOMIC or op in _REPEATS or op is _c.BRANCH:
            if op is _c.SUBPATTERN:
                if av[1] or av[2]:  # inline flags
                    return None, False
                subs, nullable = [av[3]], False
            elif op is _ATOMIC:
                subs, nullable = [av], False
            elif op in _REPEATS:
                subs, nullable = [av[2]], av[0] == 0
            else:
                subs, nullable = av[1], False
            for sub in subs:
                r, empty = _edge(list(sub), from_end)
                if r is None:
                    return None, False
                ranges += r
                nullable = nullable or empty
            if not nullable:
                return ranges, False
            continue
        return None, False  # ANY, NOT_LITERAL, GROUPREF, ...: any character
    return ranges, True


class AnchoredSearch:
    """``re.compile(pattern).search`` for a union of alternatives that are all anchored at the
    end (``...$``, spaCy's suffix regex) or all at the start (``^...``, the prefix regex): the
    same match span, found faster: ~0.45 us instead of ~2.5 us per suffix search on corpus
    chunks (``re`` tries all 85 alternatives at every position), ~0.15 instead of ~0.34 us per
    prefix search.

    Why it is exact. A match of an end-anchored alternative ends at ``len(s)`` (when ``s`` does
    not end with a newline, where ``$`` could also match one character earlier), so its last
    consumed character is ``s[-1]``; an alternative whose last character can never be ``s[-1]``
    (read off its parse tree; unknown means "can be anything") never matches ``s``. Removing
    alternatives that cannot match leaves the leftmost match, and the first alternative that
    matches there, unchanged. A match is at most as long as the widest kept alternative ``w``,
    so it starts at or after ``len(s) - w``: searching from there (look-behinds and ``\\b`` still
    see the characters before, as ``Pattern.search(s, pos)`` does) finds the same leftmost match.
    Start-anchored alternatives (``^`` first, no MULTILINE) can only match at 0, keyed on ``s[0]``.
    Each distinct key character gets its reduced pattern compiled once. When ``pattern`` is not
    of that shape, it is searched as it is. ``.pattern`` keeps spaCy's serialisation working.
    """

    def __init__(self, pattern: str, at_end: bool, flags: int = re.UNICODE) -> None:
        self.pattern, self.at_end, self.flags = pattern, at_end, flags
        self.full = _quietly(re.compile, pattern, flags)
        self._by_char: dict[str, tuple | None] = {}
        self._alts = self._analyse(pattern, at_end, self.full.flags)
        self.search = self._search if self._alts is not None else self.full.search

    @staticmethod
    def _analyse(pattern: str, at_end: bool, flags: int):
        """[(alternative, edge ranges or None, max width)], or None if not all are anchored."""
        if flags & ~re.UNICODE:
            return None
        parts = _alternatives(pattern)
        if not parts:
            return None
        anchors = {_c.AT_END, _c.AT_END_STRING} if at_end else {_c.AT_BEGINNING, _c.AT_BEGINNING_STRING}
        out = []
        for part in parts:
            try:
                parsed = _quietly(_parser.parse, part, flags)
            except re.error:
                return None
            items = list(parsed)
            edge = items[-1] if at_end else (items[0] if items else None)
            if edge is None or edge[0] is not _c.AT or edge[1] not in anchors:
                return None
            ranges, empty = _edge(items, at_end)
            width = parsed.getwidth()[1]
            out.append((part, None if empty else ranges, width))
        return out

    def _reduced(self, ch: str):
        """(compiled union of the alternatives that can match a string with this edge
        character, the widest of them), or None when none can."""
        code = ord(ch)
        kept = [(part, width) for part, ranges, width in self._alts
                if ranges is None or any(lo <= code <= hi for lo, hi in ranges)]
        if not kept:
            return None
        width = max(w for _, w in kept)
        regex = _quietly(re.compile, "|".join(p for p, _ in kept), self.flags)
        return regex, (width if width <= _UNBOUNDED else None)

    def _search(self, string: str, pos: int = 0, endpos: int | None = None):
        if pos or endpos is not None or not string or string[-1] == "\n":
            return self.full.search(string, pos, *(() if endpos is None else (endpos,)))
        ch = string[-1] if self.at_end else string[0]
        try:
            reduced = self._by_char[ch]
        except KeyError:
            reduced = self._by_char[ch] = self._reduced(ch)
        if reduced is None:
            return None
        regex, width = reduced
        if not self.at_end:
            return regex.match(string)
        return regex.search(string, len(string) - width if width is not None and width < len(string) else 0)

    def __reduce__(self):
        return (AnchoredSearch, (self.pattern, self.at_end, self.flags))


class InfixFinditer:
    """``re.compile(pattern).finditer`` with an exact pre-check: a match consumes at least one
    character (no alternative can match empty), and its first character is one that some
    alternative can start with (read off the parse tree, as in :class:`AnchoredSearch`); an ASCII
    string without any of the ASCII ones has no match, and in one with them no match starts before
    the first, so the scan starts there. spaCy calls this for every chunk left after affix
    splitting; on corpus chunks ~0.6 us per call instead of ~2.2 us.
    """

    def __init__(self, pattern: str, flags: int = re.UNICODE) -> None:
        self.pattern, self.flags = pattern, flags
        self.full = _quietly(re.compile, pattern, flags)
        self.ascii_starts = self._ascii_starts(pattern, self.full.flags)
        self.finditer = self._finditer if self.ascii_starts is not None else self.full.finditer

    @staticmethod
    def _ascii_starts(pattern: str, flags: int):
        """A regex for the ASCII characters a match can start with, or None when unknown."""
        parts = _alternatives(pattern) if not flags & ~re.UNICODE else None
        if not parts:
            return None
        chars: set[str] = set()
        for part in parts:
            try:
                ranges, empty = _edge(list(_quietly(_parser.parse, part, flags)), False)
            except re.error:
                return None
            if ranges is None or empty:
                return None
            chars |= {chr(c) for lo, hi in ranges for c in range(lo, min(hi, 127) + 1)}
        return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]") if chars else re.compile("(?!)")

    def _finditer(self, string: str, pos: int = 0, endpos: int | None = None):
        if not pos and endpos is None and string.isascii():
            first = self.ascii_starts.search(string)
            if first is None:
                return iter(())
            # no match starts before the first possible start character: scan from there
            # (look-behinds still see the characters before it, as with finditer(s, pos))
            return self.full.finditer(string, first.start())
        return self.full.finditer(string, pos, *(() if endpos is None else (endpos,)))

    def __reduce__(self):
        return (InfixFinditer, (self.pattern, self.flags))


def _use_anchored_searches(tok: Tokenizer) -> None:
    """Swap the tokenizer's prefix, suffix and infix regex searches for :class:`AnchoredSearch`
    and :class:`InfixFinditer`: the same matches, found faster."""
    for name, at_end in (("prefix_search", False), ("suffix_search", True)):
        search = getattr(tok, name)
        if search is not None:
            regex = search.__self__
            setattr(tok, name, AnchoredSearch(regex.pattern, at_end, regex.flags).search)
    if tok.infix_finditer is not None:
        regex = tok.infix_finditer.__self__
        tok.infix_finditer = InfixFinditer(regex.pattern, regex.flags).finditer


_first, _second = itemgetter(0), itemgetter(1)
_FLAGS: dict[tuple[bool, ...], tuple[bool, ...]] = {}  # trailing-space flag tuples, shared by cache entries


# --- faster exact lexeme attribute getters ----------------------------------------------------
# A new word's Lexeme gets ~23 attributes from Python getters (spaCy's ``lex_attr_getters``):
# ~0.1 ms of an abstract's ~0.3 ms of new-chunk tokenizing (13 new words per abstract on the
# corpus). 19 of them are swapped for faster functions that give the same value (and type) for
# every string (word_shape is left: nothing tried beat it; NORM, IS_STOP and LANG are partials
# of the language's data); ``tests/test_tokenizer.py`` compares them with spaCy's on every
# corpus token.


def like_url(text: str) -> bool:
    """spaCy's ``like_url``, which is False for a non-empty text without "." that does not start
    with "http://" or "https://" (every branch needs one of them): decided without the loop."""
    if text and "." not in text and not text.startswith(("http://", "https://")):
        return False
    return _lex_attrs.like_url(text)


_NUM_WORDS = frozenset(_en_lex_attrs._num_words)
_ORDINAL_WORDS = frozenset(_en_lex_attrs._ordinal_words)


def like_num_en(text: str) -> bool:
    """spaCy's English ``like_num``, line for line, with sets instead of its word lists."""
    if text.startswith(("+", "-", "±", "~")):
        text = text[1:]
    text = text.replace(",", "").replace(".", "")
    if text.isdigit():
        return True
    if text.count("/") == 1:
        num, denom = text.split("/")
        if num.isdigit() and denom.isdigit():
            return True
    text_lower = text.lower()
    if text_lower in _NUM_WORDS or text_lower in _ORDINAL_WORDS:
        return True
    if text_lower.endswith(("st", "nd", "rd", "th")):
        if text_lower[:-2].isdigit():
            return True
    return False


# spaCy tests these four by membership in a tuple built on every call; a frozenset of the same
# strings gives the same answer for every str (both compare with ==).
_BRACKETS = frozenset(("(", ")", "[", "]", "{", "}", "<", ">"))
_QUOTES = frozenset(('"', "'", "`", "«", "»", "‘", "’", "‚", "‛", "“", "”", "„", "‟", "‹", "›", "❮", "❯", "''", "``"))
_LEFT_PUNCT = frozenset(("(", "[", "{", "<", '"', "'", "«", "‘", "‚", "‛", "“", "„", "‟", "‹", "❮", "``"))
_RIGHT_PUNCT = frozenset((")", "]", "}", ">", '"', "'", "»", "’", "”", "›", "❯", "''"))


def is_bracket(text: str) -> bool:
    return text in _BRACKETS


def is_quote(text: str) -> bool:
    return text in _QUOTES


def is_left_punct(text: str) -> bool:
    return text in _LEFT_PUNCT


def is_right_punct(text: str) -> bool:
    return text in _RIGHT_PUNCT


# The ASCII characters whose Unicode category is P* (punctuation) and Sc (currency symbol).
_ASCII_PUNCT = "".join(c for c in map(chr, range(128)) if unicodedata.category(c).startswith("P"))
_ASCII_CURRENCY = "".join(c for c in map(chr, range(128)) if unicodedata.category(c) == "Sc")


def is_punct(text: str) -> bool:
    """spaCy's ``is_punct`` (every character in a P* category; True for ""): for ASCII text,
    stripping the ASCII punctuation characters must leave nothing."""
    if text.isascii():
        return not text.strip(_ASCII_PUNCT)
    return _lex_attrs.is_punct(text)


def is_currency(text: str) -> bool:
    """spaCy's ``is_currency`` (every character in category Sc; True for ""), as is_punct."""
    if text.isascii():
        return not text.strip(_ASCII_CURRENCY)
    return _lex_attrs.is_currency(text)


def like_email(text: str) -> bool:
    """spaCy's ``like_email``, whose regex needs a literal "@": without one, False at once."""
    return "@" in text and _lex_attrs.like_email(text)


_FASTER_GETTERS = {  # attribute: (spaCy's getter, the same function, faster)
    # spaCy's one-line wrappers around a str method or an index: the method (or an itemgetter)
    # itself, without the extra Python frame; the getters are only ever called with a str.
    LOWER: (_lex_attrs.lower, str.lower),
    PREFIX: (_lex_attrs.prefix, itemgetter(0)),
    SUFFIX: (_lex_attrs.suffix, itemgetter(slice(-3, None))),
    IS_ALPHA: (_lex_attrs.is_alpha, str.isalpha),
    IS_DIGIT: (_lex_attrs.is_digit, str.isdigit),
    IS_LOWER: (_lex_attrs.is_lower, str.islower),
    IS_SPACE: (_lex_attrs.is_space, str.isspace),
    IS_TITLE: (_lex_attrs.is_title, str.istitle),
    IS_UPPER: (_lex_attrs.is_upper, str.isupper),
    IS_ASCII: (_lex_attrs.is_ascii, str.isascii),  # spaCy's: every code point < 128
    LIKE_URL: (_lex_attrs.like_url, like_url),
    LIKE_NUM: (_en_lex_attrs.like_num, like_num_en),
    IS_BRACKET: (_lex_attrs.is_bracket, is_bracket),
    IS_QUOTE: (_lex_attrs.is_quote, is_quote),
    IS_LEFT_PUNCT: (_lex_attrs.is_left_punct, is_left_punct),
    IS_RIGHT_PUNCT: (_lex_attrs.is_right_punct, is_right_punct),
    IS_PUNCT: (_lex_attrs.is_punct, is_punct),
    IS_CURRENCY: (_lex_attrs.is_currency, is_currency),
    LIKE_EMAIL: (_lex_attrs.like_email, like_email),
}


def use_fast_lex_attrs(vocab) -> None:
    """Swap spaCy's getters for the faster ones above where the vocab uses spaCy's own."""
    getters = dict(vocab.lex_attr_getters or {})
    for attr, (spacys, faster) in _FASTER_GETTERS.items():
        if getters.get(attr) is spacys:
            getters[attr] = faster
    vocab.lex_attr_getters = getters


# --- per-chunk memo ----------------------------------------------------------------------------

_PIECES = re.compile(r"\S+ ?|\s+")


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
    of its own. So the text is cut into pieces ``\\S+ ?`` (a chunk and the space it owns) and
    ``\\s+`` (whitespace tokens), and the cache maps a piece to its tokens' ORTH ids and
    trailing-space flags; the Doc is built from ORTH ids (about 3x faster than from strings).
    The chunks a document adds to the cache are tokenized together in one call.
    ``tests/test_tokenizer.py`` checks equality with the plain tokenizer on every corpus abstract.
    The cache holds at most two generations of ``max_entries`` pieces, so memory stays bounded.

    Inside ``nlp.memory_zone()`` (spaCy drops the strings and lexemes made in a zone when it
    ends) the cache is still read, because its entries were made outside any zone and so name
    lasting lexemes; pieces new in the zone go to a cache of the zone's own, dropped with it
    (spaCy's ``Language.memory_zone`` calls :meth:`memory_zone`). A zone entered through the
    vocab alone (``vocab.memory_zone()``) gets the plain tokenizer.
    """

    def __init__(self, inner: Tokenizer, max_entries: int = 100_000) -> None:
        self.inner = inner
        self.vocab = inner.vocab
        self.max_entries = max_entries
        # piece of text -> (its tokens' ORTH ids, their trailing-space flags)
        self._cache: dict[str, tuple[tuple[int, ...], tuple[bool, ...]]] = {}
        self._old: dict[str, tuple[tuple[int, ...], tuple[bool, ...]]] = {}  # previous generation
        self._zone: dict[str, tuple[tuple[int, ...], tuple[bool, ...]]] | None = None  # see memory_zone

    def _admit(self, pieces: list[str]) -> None:
        """Put the tokens of these pieces in the cache: from the previous generation when there,
        else by tokenizing (:meth:`_tokenize`).

        Two generations approximate an LRU cheaply: when the cache is full it becomes the old
        generation and a new one starts; pieces still in use move back from the old one."""
        if len(self._cache) + len(pieces) > self.max_entries:
            self._old, self._cache = self._cache, {}
        cache, old = self._cache, self._old
        todo: list[str] = []
        for piece in dict.fromkeys(pieces):
            hit = old.get(piece)
            if hit is not None:
                cache[piece] = hit
            else:
                todo.append(piece)
        self._tokenize(todo, cache)

    def _tokenize(self, pieces: list[str], cache: dict) -> None:
        """Tokenize these distinct pieces into ``cache``: all new chunks of a document in one call,
        joined by ' '."""
        todo: list[str] = []
        for piece in pieces:
            if piece[0].isspace():  # tokens within a whitespace run never carry a trailing space
                orths = tuple(self.inner(piece).to_array(ORTH).tolist())
                flags = (False,) * len(orths)
                cache[piece] = (orths, _FLAGS.setdefault(flags, flags))
            else:
                todo.append(piece)
        if not todo:
            return
        chunks = list(dict.fromkeys(p[:-1] if p[-1] == " " else p for p in todo))
        tokens: dict[str, tuple[int, ...]] = {}
        it = iter(chunks)
        orths: list[int] = []
        rows = self.inner(" ".join(chunks)).to_array([ORTH, SPACY]).tolist()
        for orth, spacy in rows:
            orths.append(orth)
            if spacy:
                tokens[next(it)] = tuple(orths)
                orths = []
        tokens[next(it)] = tuple(orths)  # the last chunk
        for piece in todo:
            if piece[-1] == " ":
                orths_ = tokens[piece[:-1]]
                flags = (False,) * (len(orths_) - 1) + (True,)
            else:
                orths_ = tokens[piece]
                flags = (False,) * len(orths_)
            cache[piece] = (orths_, _FLAGS.setdefault(flags, flags))  # one copy of each flags tuple

    @contextmanager
    def memory_zone(self, mem=None):
        """Called by spaCy's ``Language.memory_zone``: pieces first seen in the zone are cached for
        the zone only (their strings end with it)."""
        self._zone = {}
        try:
            yield mem
        finally:
            self._zone = None

    def _zone_entries(self, pieces: list[str]) -> list:
        """The entries of ``pieces`` inside a memory zone: the lasting cache is read, not changed."""
        cache, old, zone = self._cache, self._old, self._zone
        entries = [cache.get(p) or old.get(p) or zone.get(p) for p in pieces]
        if None in entries:
            self._tokenize(list(dict.fromkeys(p for p, e in zip(pieces, entries) if e is None)), zone)
            entries = [e or zone[p] for p, e in zip(pieces, entries)]
        return entries

    def _entries(self, pieces: list[str]) -> list:
        """The entries of ``pieces`` outside a memory zone, admitting the missing ones to the cache."""
        entries = list(map(self._cache.get, pieces))
        if None in entries:
            missing = [i for i, e in enumerate(entries) if e is None]
            cache = self._cache
            self._admit([pieces[i] for i in missing])
            if self._cache is cache:  # same generation: only the missing entries are new
                for i in missing:
                    entries[i] = cache[pieces[i]]
            else:
                entries = list(map(self._cache.get, pieces))
                if None in entries:  # a new generation started mid-document
                    self._admit(pieces)
                    entries = list(map(self._cache.get, pieces))
        return entries

    def __call__(self, text: str) -> Doc:
        in_zone = self.vocab.in_memory_zone
        if in_zone and self._zone is None:  # vocab.memory_zone() alone: nowhere safe to cache
            doc = self.inner(text)
        else:
            pieces = _PIECES.findall(text)
            entries = self._zone_entries(pieces) if in_zone else self._entries(pieces)
            words = list(chain.from_iterable(map(_first, entries)))
            spaces = list(chain.from_iterable(map(_second, entries)))
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
        self.inner.from_bytes(data, **kwargs)  # plain regexes again: swap the searches back
        _use_anchored_searches(self.inner)
        self._cache, self._old = {}, {}
        return self

    def to_disk(self, path, **kwargs):
        return self.inner.to_disk(path, **kwargs)

    def from_disk(self, path, **kwargs):
        self.inner.from_disk(path, **kwargs)
        _use_anchored_searches(self.inner)
        self._cache, self._old = {}, {}
        return self

    def __getattr__(self, name: str):
        if name == "inner":  # not set yet (while unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __reduce__(self):
        return (ChunkCachedTokenizer, (self.inner, self.max_entries))
