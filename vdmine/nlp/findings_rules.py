"""Direction-of-effect rules for one sentence: plain strings in, a judgement out.

Kept free of spaCy so the same rules serve the pipeline component (:mod:`vdmine.nlp.findings`)
and the Evidence Inference benchmark (:mod:`vdmine.eval.findings`), where the outcome,
intervention and comparator come from the prompt instead of from the document.

All cue words live in data files (``lexicons/triggers.tsv``, ``hedges.tsv``, ``outcomes.jsonl``);
this module only says how they combine: a clause window around the outcome, the nearest
direction cue, negation just before it, significance from wording / p-values / confidence
intervals, and which arm a comparison is about ("lower in the placebo group than ..." is an
increase for the intervention).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate

from vdmine.nlp.lexicon import LEXICON_DIR, read_tsv

# Cue classes that can carry the direction of a result (used by the cheap prefilter too).
DIRECTION_CLASSES = ("up", "down", "better", "worse")
_DIRECTION_SET = frozenset(DIRECTION_CLASSES)
RESULT_CLASSES = DIRECTION_CLASSES + ("nodiff", "assoc", "nonsig", "sig", "assoc_pos", "assoc_neg")

_WORD = r"[\w\u0370-\u03ff]"  # word characters incl. Greek (TNF-α, β-CTX)


def _case_sensitive(term: str) -> bool:
    """Abbreviations written without lowercase (OR, HR, VAS, BMD) are matched as written."""
    return not any(ch.islower() for ch in term) and any(ch.isalpha() for ch in term)


# The only non-ASCII characters that re.IGNORECASE matches to ASCII letters (Python re docs; checked over all of
# Unicode by tests/test_findings.py::test_ignorecase_ascii_folds). Without them in a text, a case-insensitive match
# of an ASCII literal is found in ``text.lower()``.
_ASCII_FOLDS = ("\u0130", "\u0131", "\u017f", "\u212a")


def _literal_needs(items, ignorecase: bool) -> list[tuple[str, ...]] | None:
    """What every match of a parsed regex sequence must contain: a list of requirements, each a tuple of strings
    of which at least one occurs in the match. Only mandatory literal runs, mandatory groups and repeats, branches
    (one requirement per alternative) and plain character sets count; anything else adds nothing. ``None`` when a
    literal cannot be checked exactly (a non-ASCII cased character under IGNORECASE)."""
    from re import _constants as C

    needs: list[tuple[str, ...]] = []
    run: list[str] = []

    def flush():
        if run:
            needs.append(("".join(run),))
            run.clear()

    def lit(code: int) -> str | None:
        ch = chr(code)
        if ignorecase:
            if not ch.isascii() and (ch.lower() != ch or ch.upper() != ch):
                return None
            return ch.lower()
        return ch

    for op, av in items:
        if op is C.LITERAL:
            ch = lit(av)
            if ch is None:
                return None
            run.append(ch)
            continue
        flush()
        if op is C.SUBPATTERN and not av[1] and not av[2]:  # (group, add_flags, del_flags, pattern)
            sub = _literal_needs(av[3], ignorecase)
            if sub is None:
                return None
            needs += sub
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            sub = _literal_needs(av[2], ignorecase)
            if sub is None:
                return None
            needs += sub
        elif op is C.BRANCH:
            options: list[str] = []
            for alt in av[1]:
                sub = _literal_needs(alt, ignorecase)
                if sub is None:
                    return None
                if not sub:
                    options = []
                    break
                options += max(sub, key=lambda r: min(len(x) for x in r))
            if options:
                needs.append(tuple(dict.fromkeys(options)))
        elif op is C.IN and av and all(o is C.LITERAL for o, _ in av):
            chars = [lit(c) for _, c in av]
            if None not in chars:
                needs.append(tuple(dict.fromkeys(chars)))
    flush()
    return needs


_FOLDS_RE = re.compile("[" + "".join(_ASCII_FOLDS) + "]")


@lru_cache(maxsize=256)
def _lowered(text: str) -> str | None:
    """``text.lower()``, or None when the text holds a character that IGNORECASE folds to an ASCII letter
    (memoised: the guarded regexes of one sentence all ask). An ASCII text holds none of them (``isascii`` is O(1))."""
    if text.isascii():
        return text.lower()
    return None if _FOLDS_RE.search(text) else text.lower()


def _checker(needs: tuple[tuple[str, ...], ...]):
    """:func:`_meets` for fixed ``needs`` as one compiled expression, ``(a in t or b in t) and c in t``: no Python
    loop per call (about 3x faster); built from repr() of the literals only."""
    if not needs:
        return lambda t: True
    expr = " and ".join("(" + " or ".join(f"{x!r} in t" for x in req) + ")" for req in needs)
    return eval(f"lambda t: {expr}", {})  # noqa: S307


def _meets(needs: tuple[tuple[str, ...], ...], text: str) -> bool:
    """Does ``text`` hold at least one string of every requirement?"""
    for req in needs:
        for x in req:
            if x in text:
                break
        else:
            return False
    return True


class _Guarded:
    """A compiled regex plus the literals every match needs (see :func:`_literal_needs`): ``search`` and
    ``finditer`` skip the regex when one is missing, with exactly the same results. A pattern that starts with
    ``\\b`` or ``(?<![\\w])`` before literal words (``\\bOR\\b...``) is also tried only where one of them begins
    after a non-word character (``prefilter.starts``): ``re`` cannot skip ahead to such a start and would try the
    whole pattern at every character."""

    def __init__(self, pattern: str, flags: int = 0):
        from re import _parser

        from vdmine.nlp import prefilter

        self.rx = re.compile(pattern, flags)
        self.pattern = self.rx.pattern
        self.ignorecase = bool(flags & re.I)
        try:
            needs = _literal_needs(_parser.parse(pattern, flags).data, self.ignorecase)
            st = prefilter.starts(self.rx)
        except Exception:  # an unexpected parse tree: no shortcut
            needs, st = None, None
        # lowercased ASCII start words, found in _lowered(text), whose offsets are the text's
        ok = st is not None and st.after_nonword and not st.digit and st.lits and all(x.isascii() for x in st.lits)
        self.starts = tuple(sorted(st.lits)) if ok else ()
        # an option that contains another option of its requirement adds nothing ("vitamin d level" holds
        # "vitamin d"): "one of them occurs" stays the same with fewer `in` tests
        self.needs = tuple(tuple(x for x in req if not any(y != x and y in x for y in req)) for req in needs or ())
        self.meets = _checker(self.needs)  # _meets(self.needs, .)

    def possible(self, text: str) -> bool:
        if not self.needs:
            return True
        if self.ignorecase:
            text = _lowered(text)
            if text is None:
                return True
        return self.meets(text)

    def search(self, text: str):
        if not self.possible(text):
            return None
        low = _lowered(text) if self.starts else None
        if low is None:
            return self.rx.search(text)
        found = self.matches_at_starts(text, low)  # search finds the first match of finditer
        return found[0] if found else None

    def finditer(self, text: str):
        if not self.possible(text):
            return iter(())
        low = _lowered(text) if self.starts else None
        if low is None:
            return self.rx.finditer(text)
        return self.matches_at_starts(text, low)

    def matches_at_starts(self, text: str, low: str) -> list[re.Match]:
        """``list(rx.finditer(text))`` tried at the start words only (``low``: ``_lowered(text)``, not None)."""
        starts: list[int] = []
        for lit in self.starts:
            _occurrences(low, lit, starts)
        # after a non-word character only (\w is str.isalnum() or "_")
        starts = [i for i in starts if not i or not (text[i - 1].isalnum() or text[i - 1] == "_")]
        return _finditer_at(self.rx, text, starts)


@dataclass(frozen=True, init=False)
class Cue:
    start: int
    end: int
    text: str
    classes: frozenset
    value: str = ""

    def __init__(self, start: int, end: int, text: str, classes: frozenset, value: str = ""):
        # fields written straight into __dict__: a frozen dataclass's own __init__ goes through
        # object.__setattr__ per field, ~2.5x slower, and sentences make many cues
        d = self.__dict__
        d["start"], d["end"], d["text"], d["classes"], d["value"] = start, end, text, classes, value


@dataclass(frozen=True)
class OutcomeTerm:
    canonical: str
    mesh_id: str | None
    polarity: str  # higher_better | higher_worse | neutral


_TOKEN_RE = re.compile(r"[\w\u0370-\u03ff]+(?:[-'’][\w\u0370-\u03ff]+)*|[^\w\s]")
# The same pattern with a capturing group, for re.split: [gap, token, gap, token, ..., gap]. Every
# non-space character belongs to a token, so the gaps are whitespace only.
_TOKEN_SPLIT_RE = re.compile(f"({_TOKEN_RE.pattern})")


def tokenize(text: str) -> list[tuple[int, int, str]]:
    """(start, end, text) word and punctuation tokens: the unit every lexicon phrase is matched on."""
    return [(m.start(), m.end(), m.group(0)) for m in _TOKEN_RE.finditer(text)]


class Tokens:
    """The tokens of one text (same as :func:`tokenize`), built with C-level calls only:
    ``re.split`` for the words, one ``str.lower`` for all of them, running sums for the offsets."""

    __slots__ = ("words", "lowers", "_acc")

    def __init__(self, text: str):
        parts = _TOKEN_SPLIT_RE.split(text)
        self.words: list[str] = parts[1::2]
        # one lower() over the words joined by a newline (a token never holds whitespace, and a newline
        # is neither cased nor case-ignorable, so each word lowercases exactly as it would alone)
        self.lowers: list[str] = "\n".join(self.words).lower().split("\n") if self.words else []
        self._acc = list(accumulate(map(len, parts), initial=0))

    def __len__(self) -> int:
        return len(self.words)

    def start(self, i: int) -> int:
        return self._acc[2 * i + 1]

    def end(self, i: int) -> int:
        return self._acc[2 * i + 2]

    def as_tuples(self) -> list[tuple[int, int, str]]:
        return [(self._acc[2 * i + 1], self._acc[2 * i + 2], w) for i, w in enumerate(self.words)]


@lru_cache(maxsize=256)
def tokens_of(text: str) -> Tokens:
    """:class:`Tokens` of ``text``, memoised: a sentence is matched against several phrase sets and
    judged once per outcome, always on the same text."""
    return Tokens(text)


class _PhraseSet:
    """Phrases -> (class, value), matched token by token (a dict lookup per token, like spaCy's
    PhraseMatcher with attr LOWER), longest match first; plus a few ``re:`` regex cues."""

    def __init__(self, entries: list[tuple[str, str, str]]):
        self.ci: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self.cs: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self.lengths: dict[str, set[int]] = {}  # first token (lowercased) -> phrase lengths
        cs_lengths: dict[str, set[int]] = {}  # the same, case-sensitive phrases only
        self.rx = []
        for cue, cls, value in entries:
            if cue.startswith("re:"):
                self.rx.append((_Guarded(cue[3:], re.I), cls, value))
                continue
            toks = tuple(t for _, _, t in tokenize(cue))
            if not toks:
                continue
            if _case_sensitive(cue):
                self.cs.setdefault(toks, []).append((cls, value))
                cs_lengths.setdefault(toks[0].lower(), set()).add(len(toks))
            else:
                toks = tuple(t.lower() for t in toks)
                self.ci.setdefault(toks, []).append((cls, value))
            self.lengths.setdefault(toks[0].lower(), set()).add(len(toks))
        self.lengths = {k: sorted(v, reverse=True) for k, v in self.lengths.items()}
        # per first token: (length, may a case-sensitive phrase have this length?)
        self._plan = {k: [(n, n in cs_lengths.get(k, ())) for n in v] for k, v in self.lengths.items()}
        self._firsts = frozenset(self.lengths)
        # per phrase: (its classes, its first value), computed once instead of per match
        self._ci_info = {k: (frozenset(c for c, _ in v), v[0][1]) for k, v in self.ci.items()}
        self._cs_info = {k: (frozenset(c for c, _ in v), v[0][1]) for k, v in self.cs.items()}
        self._rx_classes = [frozenset([cls]) for _, cls, _ in self.rx]
        # per first token: the second tokens (lowercased) of its longer phrases; "the" starts "the aim", "the
        # purpose", ... but is mostly followed by other words, and then only a one-word phrase can match there
        seconds: dict[str, set[str]] = {}
        for toks in [*self.ci, *self.cs]:
            if len(toks) > 1:
                seconds.setdefault(toks[0].lower(), set()).add(toks[1].lower())
        self._seconds = {k: frozenset(v) for k, v in seconds.items()}
        # per first token: (its one-word phrase as (case-insensitive info or None, may a case-sensitive one
        # match?) or None, its longer phrases as (length, may be case-sensitive), longest first, their second tokens)
        self._plans = {
            k: (
                next(((self._ci_info.get((k,)), cs) for n, cs in plan if n == 1), None),
                tuple((n, cs) for n, cs in plan if n > 1),
                self._seconds.get(k, frozenset()),
            )
            for k, plan in self._plan.items()
        }

    def find(self, text: str, tokens: Tokens | None = None) -> list[Cue]:
        """Cues in ``text``; ``tokens`` (its :class:`Tokens`) saves re-tokenizing."""
        if tokens is None:
            tokens = tokens_of(text)
        # candidates as tuples (-length, start, order found, end, classes, value): a plain tuple sort gives the
        # order of a stable sort on (-length, start); Cue objects are made only for the cues kept
        raw: list[tuple] = []
        longer = False  # a candidate of 2+ tokens (only those can overlap one another)
        lowers = tokens.lowers
        if not self._firsts.isdisjoint(lowers):
            acc, plans, ntok = tokens._acc, self._plans, len(lowers)
            get_plan = plans.get
            # one pass over the tokens, a dict lookup each: only words that start a phrase go further (the order of
            # visits does not matter: the candidates are sorted below, and two phrase matches never share both
            # start and length)
            for i, low in enumerate(lowers):
                plan = get_plan(low)
                if plan is None:
                    continue
                single, multi, follow = plan
                if multi and i + 1 < ntok and lowers[i + 1] in follow:  # may a phrase of 2+ tokens start here?
                    for n, maybe_cs in multi:
                        if i + n > ntok:
                            continue
                        hit = self._ci_info.get(tuple(lowers[i : i + n]))
                        cs = self._cs_info.get(tuple(tokens.words[i : i + n])) if maybe_cs else None
                        if hit or cs:
                            if hit and cs:  # both: classes of both, the case-insensitive entry's value first
                                hit = (hit[0] | cs[0], hit[1])
                            classes, value = hit or cs
                            st, en = acc[2 * i + 1], acc[2 * (i + n)]  # start of token i, end of token i+n-1
                            raw.append((st - en, st, len(raw), en, classes, value))
                            longer = True
                if single is not None:  # the one-word phrase `low` (its case-insensitive entry, if any)
                    hit, maybe_cs = single
                    if maybe_cs:
                        cs = self._cs_info.get((tokens.words[i],))
                        if cs:
                            hit = (hit[0] | cs[0], hit[1]) if hit else cs
                    if hit:
                        st, en = acc[2 * i + 1], acc[2 * i + 2]
                        raw.append((st - en, st, len(raw), en, hit[0], hit[1]))
        n_phrases = len(raw)
        if self.rx:
            low = _lowered(text)  # once for all the (case-insensitive) regex cues; None: no shortcut
            for (pattern, _, value), classes in zip(self.rx, self._rx_classes):
                if low is not None and not pattern.meets(low):
                    continue  # a literal every match needs is missing (what _Guarded.possible checks)
                if low is None or not pattern.starts:
                    found = pattern.rx.finditer(text)
                else:
                    found = pattern.matches_at_starts(text, low)  # tried at its start words only
                for m in found:
                    st, en = m.span()
                    raw.append((st - en, st, len(raw), en, classes, value))
        if len(raw) < 2:
            return [Cue(st, en, text[st:en], classes, value) for _, st, _, en, classes, value in raw]
        if not longer and n_phrases == len(raw):
            # one-word phrases only, at most one per token: none overlaps another, all are kept
            raw.sort(key=_start_of)
            return [Cue(st, en, text[st:en], classes, value) for _, st, _, en, classes, value in raw]
        # longest first, no overlaps: "no significant difference" hides "significant",
        # "not statistically significant" beats "were not"
        raw.sort()  # (-length, start, order found) are unique, so later fields are never compared
        kept: dict[tuple[int, int], list] = {}
        taken: list[tuple[int, int]] = []
        for _, st, _, en, classes, value in raw:
            key = (st, en)
            k = kept.get(key)
            if k is not None:  # the same words in two lexicon entries: merge their classes
                k[0] = k[0] | classes
                k[1] = k[1] or value
                continue
            for s, e in taken:
                if st < e and s < en:
                    break
            else:
                kept[key] = [classes, value]
                taken.append(key)
        return [Cue(st, en, text[st:en], k[0], k[1]) for (st, en), k in sorted(kept.items(), key=_first_start)]


def _start_of(candidate: tuple) -> int:
    return candidate[1]


def _first_start(item) -> int:
    return item[0][0]


def _read_tsv(name: str) -> list[tuple[str, str, str]]:
    return [(parts[0], parts[1], parts[2] if len(parts) > 2 else "") for parts in read_tsv(name)]


class Lexicons:
    """All cue data, compiled once per process (see :func:`lexicons`)."""

    def __init__(self) -> None:
        triggers = _read_tsv("triggers.tsv")
        # Sentence-level filters of the pipeline component, kept out of the direction cues so that
        # the rules (and the Evidence Inference figures) do not see them.
        baseline = [c[3:] for c, cls, _ in triggers if cls == "baseline_statement"]
        # each regex guarded on its own literals: together they skip far more sentences than the literals of
        # one alternation, whose guard keeps a single requirement (any match of one is a match)
        self.baseline = [_Guarded(b, re.I) for b in baseline]
        triggers = [t for t in triggers if t[1] != "baseline_statement"]
        self.cues = _PhraseSet(triggers)
        self.hedges = _PhraseSet(_read_tsv("hedges.tsv"))
        self.section_labels = {c.lower(): v for c, cls, v in triggers if cls == "section_label"}
        terms: list[tuple[str, str, str]] = []
        self.outcomes: dict[str, OutcomeTerm] = {}
        self.polarity_hints: list[tuple[re.Pattern, str]] = []
        self.level_terms: dict[str, list[str]] = {}
        for line in (LEXICON_DIR / "outcomes.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if "polarity_hints" in entry:  # regexes that guess the polarity of unlisted outcomes
                for pol, pats in entry["polarity_hints"].items():
                    self.polarity_hints += [(re.compile(pat, re.I), pol) for pat in pats]
                continue
            self.outcomes[entry["canonical"]] = OutcomeTerm(entry["canonical"], entry.get("mesh_id"), entry["polarity"])
            if entry.get("level_of"):  # measured levels of an exposure ("25(OH)D" for vitamin D)
                self.level_terms.setdefault(entry["level_of"].lower(), []).extend(entry["terms"])
            for t in entry["terms"] + [entry["canonical"]]:
                terms.append((t, "outcome", entry["canonical"]))
        self.outcome_terms = _PhraseSet(terms)
        # cheap prefilter: does any token start a statement cue (or is there a p-value / CI)?
        self.statement_first_tokens = {
            tokenize(c)[0][2].lower()
            for c, cls, _ in triggers
            if cls in RESULT_CLASSES and not c.startswith("re:") and tokenize(c)
        }
        self.statement_prefilter = _StatementPrefilter(triggers)

    def is_baseline(self, text: str) -> bool:
        """A comparison of the arms or groups at baseline ("Baseline knee pain was slightly worse in
        the treatment group"): a difference before treatment is not an effect."""
        low = _lowered(text)
        for b in self.baseline:
            if (low is None or b.meets(low)) and b.rx.search(text) is not None:
                return True
        return False

    def may_state_result(self, tokens: Tokens) -> bool:
        return not self.statement_first_tokens.isdisjoint(tokens.lowers)

    def may_state_statement(self, text: str) -> bool:
        """False only when no cue of a statement class (direction, no-difference, association) can
        match in ``text``: a necessary condition, checked by one regex before any tokenizing."""
        return self.statement_prefilter(text)

    def hedged(self, text: str) -> bool:
        """Does ``text`` carry a hedge cue? (memoised: asked once per outcome of a sentence)"""
        return _hedged(self, text)

    def find_outcomes(self, text: str, tokens=None) -> list[Cue]:
        return self.outcome_terms.find(text, tokens)

    def polarity(self, canonical: str | None, text: str | None = None) -> str:
        """higher_better / higher_worse / neutral from the vocabulary, else guessed from ``text``."""
        term = self.outcomes.get(canonical or "")
        if term:
            return term.polarity
        for pattern, pol in self.polarity_hints if text else ():
            if pattern.search(text):
                return pol
        return "unknown"


@lru_cache(maxsize=1)
def lexicons() -> Lexicons:
    return Lexicons()


@lru_cache(maxsize=256)
def _hedged(lex: Lexicons, text: str) -> bool:
    return bool(lex.hedges.find(text, tokens_of(text)))


STATEMENT_CLASSES = frozenset(DIRECTION_CLASSES) | {"nodiff", "assoc", "assoc_pos", "assoc_neg"}


def _trie_regex(words: set[str]) -> str:
    """An alternation of ``words`` as a character trie ("de(?:cline[ds]?|crease...)"): the regex
    engine then tests a few first letters per position instead of every word."""
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and "" not in node else "(?:" + "|".join(alts) + ")"
        return body + ("?" if "" in node else "")

    return emit(root)


class _StatementPrefilter:
    """Could a statement-class cue (direction, no-difference, association) match in a text?

    A phrase matches only where each of its tokens is a token of the text, so it is enough to look
    for its longest token (the rarest, roughly). Case-insensitive phrases are looked for in
    ``text.lower()`` as whole words: a word token is never preceded or followed by a word
    character, and no non-word character lowercases to one (checked over all of Unicode by
    ``test_statement_prefilter_lowercase_boundaries``). Phrases written without lowercase letters are
    looked for as written, ``re:`` cues of a statement class as they are. The answer is False only
    when no such cue can match, so skipping on it is exact. Without ASCII keys (where
    ``str.lower`` of a token and of the text could differ) every text passes."""

    def __init__(self, triggers: list[tuple[str, str, str]]):
        ci, cs, other, rx = set(), set(), set(), []
        for cue, cls, _ in triggers:
            if cls not in STATEMENT_CLASSES:
                continue
            if cue.startswith("re:"):
                rx.append(re.compile(cue[3:], re.I))
                continue
            toks = [t for _, _, t in tokenize(cue)]
            if not toks:
                continue
            key = max(toks, key=len)
            if not (key.isascii() and re.fullmatch(r"\w+(?:[-'’]\w+)*", key)):
                other.add(key)  # punctuation or non-ASCII: no shortcut
            elif _case_sensitive(cue):
                cs.add(key)
            else:
                ci.add(key.lower())
        self.always = bool(other)
        words = rf"(?<!{_WORD})(?:{{}})(?!{_WORD})"
        self.ci = re.compile(words.format(_trie_regex(ci))) if ci else None
        self.cs = re.compile(words.format(_trie_regex(cs))) if cs else None
        self.cs_held = _checker((tuple(sorted(cs)),))  # a cs match holds its key as written: skip the scan if none
        self.rx = rx

    def __call__(self, text: str) -> bool:
        if self.always:
            return True
        if self.ci is not None and self.ci.search(text.lower()):
            return True
        if self.cs is not None and self.cs_held(text) and self.cs.search(text):
            return True
        return any(p.search(text) for p in self.rx)


# ----------------------------------------------------------------------------------------------
# regexes tried only where a match can begin


def _occurrences(text: str, sub: str, out: list[int]) -> list[int]:
    """Append every start of ``sub`` in ``text`` to ``out`` (C-level str.find)."""
    i = text.find(sub)
    while i != -1:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def _finditer_at(rx: re.Pattern, text: str, starts: list[int]) -> list[re.Match]:
    """``list(rx.finditer(text))`` for a pattern that never matches the empty string and whose matches can only
    begin at ``starts`` (any order, duplicates allowed). finditer tries each position in turn and goes on from
    the end of each match; ``rx.match(text, p)`` is that same attempt at p (lookbehinds see the text before p),
    so trying just those positions, in order and from the end of the last match on, finds the same matches.
    The callers find the starts in ``_lowered(text)``, which has the offsets of ``text`` (no U+0130)."""
    out: list[re.Match] = []
    resume = 0
    for p in sorted(starts):
        if p >= resume:
            m = rx.match(text, p)
            if m is not None:
                out.append(m)
                resume = m.end()
    return out


# ----------------------------------------------------------------------------------------------
# statistics

_P_RE = re.compile(
    r"(?<![\w])p\s*(?:[- ]?values?\s*)?(?:for\s+\w+\s*)?(<|>|=|≤|≥|&lt;|&gt;|<\s*or\s*=|less than|of)\s*(0?\.\d+|1(?:\.0+)?|0)\b",
    re.I,
)
_CI_RE = _Guarded(
    r"(?:\d{2}\s*%\s*)?(?:CI|confidence interval)s?\s*[:=,]?\s*[\(\[]?\s*"
    r"([-−]?\s?\d+(?:\.\d+)?)\s*(?:%\s*)?(?:to|–|—|,|;|-|‐)\s*\(?([-−]?\s?\d+(?:\.\d+)?)",
    re.I,
)
_RATIO_RE = re.compile(
    r"(?<![\w])(?:a?OR|a?HR|a?RR|IRR|odds ratio|hazard ratio|relative risk|risk ratio|rate ratio)s?\b[^\d\n]{0,20}?(\d+(?:\.\d+)?)",
)
_NUM_PAIR_RE = re.compile(
    r"(-?\d+(?:\.\d+)?)\s*(%|[a-zA-Z/µμ]+(?:/[a-zA-Z]+)?)?(?:\s*(?:±|\+/-)\s*\d+(?:\.\d+)?)?\s*(?:\([^()]{0,30}\))?\s*"
    r"(?:vs\.?|versus|compared with|compared to|and)\s*(-?\d+(?:\.\d+)?)",
)


@dataclass
class Stat:
    start: int
    significant: bool | None
    text: str


def p_values(text: str) -> list[Stat]:
    return list(_p_values(text))


@lru_cache(maxsize=256)
def _p_values(text: str) -> tuple[Stat, ...]:
    """p-values of a text, memoised (a sentence is judged once per outcome); read-only."""
    out = []
    low = _lowered(text)
    if low is None:  # a character IGNORECASE folds to an ASCII letter: no shortcut
        matches = _P_RE.finditer(text)
    else:
        # a match starts with its "p" ("p" or "P" under IGNORECASE), not after a word character ((?<![\w]);
        # \w is str.isalnum() or "_")
        starts = [i for i in _occurrences(low, "p", []) if not i or not (text[i - 1].isalnum() or text[i - 1] == "_")]
        matches = _finditer_at(_P_RE, text, starts)
    for m in matches:
        op, val = m.group(1).lower(), float(m.group(2))
        if op in ("<", "≤", "&lt;", "less than") or op.startswith("<"):
            sig = True if val <= 0.05 else None
        elif op in (">", "≥", "&gt;"):
            sig = False if val >= 0.05 else None
        else:  # "=" or "of"
            sig = val < 0.05
        out.append(Stat(m.start(), sig, m.group(0)))
    return tuple(out)


def _num(s: str) -> float:
    return float(re.sub(r"\s", "", s).replace("−", "-"))


def confidence_intervals(text: str) -> list[Stat]:
    """95% CIs: a ratio's CI is significant when it excludes 1, a difference's when it excludes 0."""
    return list(_confidence_intervals(text))


@lru_cache(maxsize=256)
def _confidence_intervals(text: str) -> tuple[Stat, ...]:
    out = []
    for m in _ci_matches(text):
        lo, hi = _num(m.group(1)), _num(m.group(2))
        if lo > hi:
            lo, hi = hi, lo
        before = text[max(0, m.start() - 60) : m.start()]
        ratio = _RATIO_RE.search(before) is not None
        null = 1.0 if ratio else 0.0
        out.append(Stat(m.start(), not (lo <= null <= hi), m.group(0)))
    return tuple(out)


_CI_HEAD = r"(?:\d{2}\s*%\s*)?(?:CI|confidence interval)"
assert _CI_RE.pattern.startswith(_CI_HEAD), "_ci_matches reads the start of _CI_RE"


def _ci_matches(text: str) -> list[re.Match]:
    """The matches of _CI_RE (``_CI_HEAD`` + rest). Every match holds "ci" or "confidence interval" (lowercased) at
    some q and starts at q, or at the optional ``\\d{2}\\s*%\\s*`` right before q: two digits, whitespace, "%",
    whitespace up to q. Between "%" and q only whitespace, so "%" is the first non-space before q (likewise the
    digits before "%"), and that start is unique. The regex is tried at those starts only (see _finditer_at);
    it used to be tried at every character (~8 us per sentence)."""
    if not _CI_RE.possible(text):
        return []
    low = _lowered(text)
    if low is None:
        return list(_CI_RE.rx.finditer(text))
    starts: list[int] = []
    for q in _occurrences(low, "confidence interval", _occurrences(low, "ci", [])):
        starts.append(q)
        j = q
        while j > 0 and text[j - 1].isspace():  # \s is str.isspace (tests/test_findings.py)
            j -= 1
        if j > 0 and text[j - 1] == "%":
            j -= 1
            while j > 0 and text[j - 1].isspace():
                j -= 1
            if j >= 2 and text[j - 2].isdecimal() and text[j - 1].isdecimal():  # \d is str.isdecimal
                starts.append(j - 2)
    return _finditer_at(_CI_RE.rx, text, starts)


@lru_cache(maxsize=256)
def _ratios(text: str) -> tuple[tuple[int, float], ...]:
    return tuple((m.start(), float(m.group(1))) for m in _RATIO_RE.finditer(text))


# ----------------------------------------------------------------------------------------------
# clauses and mentions

_CLAUSE_SPLIT = re.compile(
    r";|:\s|,?\s+(?:but(?!\s+not\b)|whereas|while|although|though|however|yet)\s+"
    r"|,\s*(?:and\s+)?(?:in contrast|by contrast|conversely)\b|,\s+and\s+(?=(?:a\s+|an\s+)?(?:significant(?:ly)?\s+)?(?:increase|decrease|reduc|improv|lower|higher|elevat|rais|diminish|worse))",
    re.I,
)
_SPLIT_WORDS = ("but", "whereas", "while", "although", "though", "however", "yet")
assert _CLAUSE_SPLIT.pattern.startswith(";|:\\s|,?\\s+(?:but(?!\\s+not\\b)|whereas|while|although|though|however|yet)\\s+|,")


def _clause_splits(text: str) -> list[re.Match]:
    """The matches of _CLAUSE_SPLIT. One starts at ";", ":" or "," (every alternative but one begins with one of
    them), or at a whitespace character from which ``\\s+`` runs up to one of _SPLIT_WORDS: those are the
    characters of the whitespace run right before an occurrence of such a word. The regex is tried there only
    (see _finditer_at)."""
    low = _lowered(text)
    if low is None:  # a character IGNORECASE folds to an ASCII letter: no shortcut
        return list(_CLAUSE_SPLIT.finditer(text))
    starts: list[int] = []
    for ch in ";:,":
        i = text.find(ch)
        while i != -1:
            starts.append(i)
            i = text.find(ch, i + 1)
    for w in _SPLIT_WORDS:
        q = low.find(w)
        while q != -1:
            j = q
            while j > 0 and text[j - 1].isspace():  # \s is str.isspace (tests/test_findings.py)
                j -= 1
                starts.append(j)
            q = low.find(w, q + 1)
    return _finditer_at(_CLAUSE_SPLIT, text, starts)


_BRACKET_RE = re.compile(r"[()\[\]]")


def _depth_at(text: str, positions: list[int]) -> list[int]:
    """Bracket depth after each of ``positions`` (increasing): '(' and '[' open, ')' and ']' close
    (never below 0). Walks the brackets only, not every character."""
    if not positions:
        return []
    if "(" not in text and ")" not in text and "[" not in text and "]" not in text:
        return [0] * len(positions)  # no bracket at all (most sentences): depth 0 everywhere, no regex scan
    out, d, brackets = [], 0, _BRACKET_RE.finditer(text)
    nxt = next(brackets, None)
    for pos in positions:
        while nxt is not None and nxt.start() <= pos:
            if nxt.group() in "([":
                d += 1
            elif d:
                d -= 1
            nxt = next(brackets, None)
        out.append(d)
    return out


def clauses(text: str) -> list[tuple[int, int]]:
    """Clause windows: split at ';', ': ', 'but', 'whereas', ... outside brackets."""
    return list(_clauses(text))


@lru_cache(maxsize=256)
def _clauses(text: str) -> tuple[tuple[int, int], ...]:
    spans, start = [], 0
    splits = _clause_splits(text)
    depths = _depth_at(text, [m.start() for m in splits])
    for m, depth in zip(splits, depths):
        if depth:
            continue
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    spans = _split_coordinated(text, spans)
    return tuple(spans) or ((0, len(text)),)


_COMMA_AND = re.compile(r",\s+and\s+")
_COMMA = re.compile(r",")
_RISK_NOUNS = ("risk", "risks", "odds")


def _states(text: str) -> bool:
    """Does ``text`` hold a statement cue (direction, no-difference, association)? A bare risk noun
    does not count ("did not alter tooth color, and the risk and intensity of ...")."""
    lex = lexicons()
    return lex.may_state_statement(text) and any(
        not c.classes.isdisjoint(STATEMENT_CLASSES) and c.text.lower() not in _RISK_NOUNS for c in lex.cues.find(text)
    )


def _split_coordinated(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split a clause at ", and" (outside brackets) when both sides make a statement of their own:
    "An increased risk of bone disease ... is attributable to vitamin D deficiency, | and serum 25(OH)D
    levels tend to be negatively associated with ...". A list stays whole: one with no statement after
    its ", and" ("associated with headache, musculoskeletal pain, and osteomalacia"), and one with
    another comma before it ("reduction in pain, rate of admission, and rate of return ... did not
    differ")."""
    if ", " not in text or "and" not in text:  # _COMMA_AND needs both
        return spans
    out = []
    for lo, hi in spans:
        cands = [m for m in _COMMA_AND.finditer(text, lo, hi)]
        if not cands:
            out.append((lo, hi))
            continue
        start = lo
        for m, depth in zip(cands, _depth_at(text, [m.start() for m in cands])):
            if depth or m.start() <= start:
                continue
            commas = [c.start() for c in _COMMA.finditer(text, start, m.start())]
            if any(d == 0 for d in _depth_at(text, commas)):
                continue  # "A, B, and C": a list, even when its items carry cue words
            if _states(text[start : m.start()]) and _states(text[m.end() : hi]):
                out.append((start, m.start()))
                start = m.end()
        out.append((start, hi))
    return out


_STOP = set(
    """a an the of in on at to for with and or by from as vs versus than group groups arm arms patients patient
    subjects participants people women men children adults individuals who which that were was be been is are after before
    during over per day days daily week weeks weekly month months year years mg g kg ml dl mmol nmol ng iu ui dose doses
    dosage given plus alone total mean level levels score scores rate rates change changes number time their its his her
    receiving received treated treatment therapy intervention standard usual care same identical equivalent compared
    baseline from into using use also only each both all either other who whose this these those had has have not no
    capsules capsule tablets tablet oral orally once twice three two one four five six twelve twice""".split()
)


def content_words(text: str, numbers: bool = True) -> list[str]:
    """Lowercased content words; parts of hyphenated abbreviations too (TC-RF -> tc-rf, rf)."""
    out = []
    for m in re.finditer(r"[\w\u0370-\u03ff][\w\u0370-\u03ff\-]*", text):
        raw = m.group(0)
        w = raw.lower()
        if w in _STOP:
            continue
        digits = w.replace(",", "").replace(".", "")
        if digits.isdigit() and (not numbers or len(w) < 3 or w.startswith("0")):
            continue
        if w.endswith("-"):
            w = w.rstrip("-")
        if len(w) >= 3 or any(ch.isdigit() for ch in w) or (raw.isupper() and len(raw) >= 2):
            out.append(w)
        if "-" in raw:
            for part in raw.split("-"):
                if len(part) >= 2 and part.isupper() and part.lower() not in _STOP:
                    out.append(part.lower())
    return out


def _word_spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0).lower()) for m in re.finditer(r"[\w\u0370-\u03ff][\w\u0370-\u03ff\-]*", text)]


def _match_word(w: str, target: str) -> bool:
    """Equal, or one is the other plus a short inflection (pressure/pressures, reduce/reduced)."""
    if w == target:
        return True
    short, long_ = (w, target) if len(w) <= len(target) else (target, w)
    return len(short) >= 4 and long_.startswith(short) and len(long_) - len(short) <= 3


def find_words(text: str, words: list[str], heads: bool = False) -> list[tuple[int, int]]:
    """Character spans of the sentence words that match any of ``words`` (stem-ish prefix match). ``heads``:
    a hyphenated word also matches by its first part ("cefixime-treated patients" names the cefixime arm)."""
    if not words:
        return []
    out = []
    for s, e, w in _word_spans(text):
        if any(_match_word(w, t) for t in words) or (
            heads and "-" in w and any(_match_word(w.split("-", 1)[0], t) for t in words)
        ):
            out.append((s, e))
    return out


# ----------------------------------------------------------------------------------------------
# the judgement


@dataclass
class Judgement:
    """What one sentence says about one outcome."""

    outcome: str | None = None
    outcome_span: tuple[int, int] | None = None
    relation: str = "effect"
    effect_direction: str = "unclear"
    direction: str = "unclear"
    significant: bool | None = None
    hedged: bool = False
    negated: bool = False
    comparator: str | None = None
    trigger: str = ""
    flipped: bool = False
    notes: list[str] = field(default_factory=list)


def _in_clause(c: Cue, clause: tuple[int, int]) -> bool:
    return clause[0] <= c.start < clause[1]


def _nearest(items, pos: int, key=lambda x: x.start):
    return min(items, key=lambda x: abs(key(x) - pos)) if items else None


_BIND_BEFORE = re.compile(r"\s+(?:in|of)\s+(?:the\s+)?(?:\w+\s+)?")  # "reduction in (the) X"
_BIND_AFTER = re.compile(r"\s+(?:\([^()]*\)\s+)?(?:was|were|is|are|has been|have been)\s+(?:\w+ly\s+)?")  # "X was reduced"
_CLAUSE_PUNCT = re.compile(r"[,;]")
_PHRASE_BREAK = re.compile(r"[,;()]")


def _closest(cues: list[Cue], span: tuple[int, int], text: str) -> Cue | None:
    """The cue nearest the outcome mention; 'reduction in X' / 'X was reduced' bind tightest."""

    def dist(c: Cue) -> float:
        if c.end <= span[0]:
            gap = text[c.end : span[0]]
            if _BIND_BEFORE.fullmatch(gap):
                return 0
            return len(gap) + 0.5
        gap = text[span[1] : c.start]
        if _BIND_AFTER.fullmatch(gap):
            return 0
        return len(gap)

    return min(cues, key=dist) if cues else None


def _negated(cue: Cue, cues: list[Cue], text: str, clause: tuple[int, int]) -> bool:
    """A negation cue within ~4 words before the direction cue, inside the same clause."""
    window_start = max(clause[0], cue.start - 30)
    for c in cues:
        if "neg" in c.classes and window_start <= c.start < cue.start:
            between = text[c.end : cue.start]
            if len(between.split()) <= 4 and not _CLAUSE_PUNCT.search(between):
                return True
    return False


def _group_mentions(text: str, cues: list[Cue], i_words, c_words, i_spans) -> tuple[list[int], list[int]]:
    """Start offsets of mentions of the intervention arm and of the comparator arm."""
    i_pos = [s for s, _ in find_words(text, i_words, heads=True)] + [s for s, _ in (i_spans or [])]
    c_pos = [s for s, _ in find_words(text, c_words, heads=True)]
    for c in cues:
        if "arm_active" in c.classes:
            i_pos.append(c.start)
        elif "comparator" in c.classes and c.value != "baseline":
            c_pos.append(c.start)
    # A word both arms share says nothing about which arm is meant.
    both = set(i_pos) & set(c_pos)
    return sorted(set(i_pos) - both), sorted(set(c_pos) - both)


def _orientation(text, cues, clause, anchor, i_pos, c_pos) -> tuple[bool, str]:
    """Should the cue's direction be flipped to read 'intervention relative to comparator'?

    "lower in A than in B" / "A compared with B": B is the reference. When the reference is the
    intervention arm, or when only the comparator arm is named as where the change happened
    ("BMD decreased in the placebo group"), the direction flips.
    """
    lo, hi = clause
    i_in = [p for p in i_pos if lo <= p < hi]
    c_in = [p for p in c_pos if lo <= p < hi]
    refs = [c for c in cues if "ref" in c.classes and _in_clause(c, clause)]
    for ref in sorted(refs, key=lambda r: abs(r.start - anchor)):
        window = (ref.end, min(hi, ref.end + 70))
        i_next = [p for p in i_in if window[0] <= p < window[1]]
        c_next = [p for p in c_in if window[0] <= p < window[1]]
        if i_next and (not c_next or min(i_next) < min(c_next)):
            return True, f"ref:{ref.text}->intervention"
        if c_next:
            return False, f"ref:{ref.text}->comparator"
    if c_in and not i_in:
        return True, "locus:comparator"
    return False, ""


def _sign(cue: Cue, pol: str) -> int:
    cls = cue.classes
    if "up" in cls:
        return 1
    if "down" in cls:
        return -1
    if "better" in cls:
        return -1 if pol == "higher_worse" else 1
    if "worse" in cls:
        return 1 if pol == "higher_worse" else -1
    return 0


_THRESHOLD = re.compile(r"\s+than\s*(?:[<>≤≥]\s*)?\d")
# between a decrease word and the change noun it acts on: a determiner and/or one modifier ("the",
# "age-related"), no conjunction
_DETERMINERS_ONLY = re.compile(r"\s+(?:(?:the|a|an|any|further)\s+)?(?:(?!(?:and|or|but|nor)\s)[\w-]+\s+)?", re.I)
_MAGNITUDE = {"greater", "more", "larger", "higher", "less", "smaller", "lower", "bigger", "fewer"}


def _compound(cue: Cue, dir_cues: list[Cue], text: str, pol: str, nouns: list[Cue] = (), span=None) -> tuple[int, str]:
    """'greater reduction', 'less improvement': a magnitude word scales the change it modifies."""
    sign = _sign(cue, pol)
    for other in dir_cues:
        if other is cue:
            continue
        first, second = (other, cue) if other.start < cue.start else (cue, other)
        gap = text[first.end : second.start]
        if len(gap) <= 25 and len(gap.split()) <= 2 and not _PHRASE_BREAK.search(gap):
            if first.text.lower() in _MAGNITUDE and second.text.lower() not in _MAGNITUDE:
                s1 = 1 if "up" in first.classes else -1
                return s1 * _sign(second, pol), f"{first.text} {second.text}"
    # "may attenuate worsening of pain", "prevented the decline in BMD", "attenuates the loss of muscle
    # mass": a decrease of a change is the opposite change (a double negative)
    pairs = []
    if "change_noun" in cue.classes:
        pairs = [(verb, cue) for verb in dir_cues if verb.end <= cue.start]
    elif "down" in cue.classes:
        pairs = [(cue, noun) for noun in nouns if noun.start >= cue.end]
    for verb, noun in pairs:
        # the change must be the outcome's: "worsening of pain", "weight loss" (outcome between the two)
        about = span is None or noun.end <= span[0] or verb.end <= span[0] < span[1] <= noun.start
        if about and "down" in verb.classes and "change_noun" not in verb.classes and _DETERMINERS_ONLY.fullmatch(text[verb.end : noun.start]):
            s = _change_sign(noun, pol)
            if s:
                return -s, f"{verb.text} {noun.text}"
    return sign, cue.text


def _change_sign(noun: Cue, pol: str) -> int:
    """Sign of the change a change noun names: its own direction class, else its value."""
    if noun.classes.isdisjoint(DIRECTION_CLASSES):
        if noun.value not in DIRECTION_CLASSES:
            return 0
        noun = Cue(noun.start, noun.end, noun.text, frozenset([noun.value]))
    return _sign(noun, pol)


def _numeric_pair(text: str, clause, i_pos, c_pos) -> tuple[int, str] | None:
    """'3.6 cm in A versus 2.1 cm in B': which arm had the larger value (arm order from mentions)."""
    lo, hi = clause
    i_in = [p for p in i_pos if lo <= p < hi]
    c_in = [p for p in c_pos if lo <= p < hi]
    if not i_in or not c_in:
        return None
    for m in _NUM_PAIR_RE.finditer(text, lo, hi):
        if m.group(0).rstrip().endswith("and") or re.search(r"\band\b", m.group(0)):
            continue
        a, b = float(m.group(1)), float(m.group(3))
        if a == b:
            return None
        first_is_i = min(i_in) < min(c_in)
        diff = (a - b) if first_is_i else (b - a)
        return (1 if diff > 0 else -1), f"{m.group(1)} vs {m.group(3)}"
    return None


# ----------------------------------------------------------------------------------------------
# per-arm numbers: "77.4% in the intervention group and 69.0% in standard care (p = 0.044)"


@dataclass(frozen=True)
class ArmValue:
    """One number of a sentence read as a value of the outcome: where it is, its value and unit."""

    start: int
    end: int
    value: float
    unit: str


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


class _NumericData:
    """The word lists of ``lexicons/numeric_arms.json`` compiled into the regexes below (once)."""

    def __init__(self) -> None:
        d = json.loads((LEXICON_DIR / "numeric_arms.json").read_text(encoding="utf-8"))
        self.dose_units = frozenset(w.lower() for w in d["dose_units"])
        self.concentration_per = frozenset(w.lower() for w in d["concentration_per"])
        self.time_units = frozenset(w.lower() for w in d["time_units"])
        self.blockers = frozenset(w.lower() for w in d["attach_blockers"])
        # words that end a number without being its unit: "12.1 and 8.4" has no unit "and"
        self.not_units = frozenset(w.lower() for w in d["not_units"])
        self.respectively = re.compile(rf"\b(?:{_alternation(d['respectively'])})\b", re.I)
        after, people = _alternation(d["attach_after"]), _alternation(d["people"])
        # after a run of values: ", respectively, in the" (an arm comes next)
        self.respectively_arm = re.compile(
            rf"\s*,?\s*(?:{_alternation(d['respectively'])})\s*,?\s*(?:(?:{after})\s+)?(?:the\s+)?", re.I
        )
        # numbers of people allocated or followed up ("76 persons allocated to the control group and 85 to
        # the intervention group") describe the trial, not its outcome
        self.allocation = re.compile(rf"\b(?:{_alternation(d['allocation_words'])})\b", re.I)
        # a number right after these is not a value: "p = 0.04", "n = 40", "χ2 = 3.97", "< 30%", "(range, 2-6"
        stat = _alternation(d["stat_labels_cs"])
        # a bracket after a value, unless it holds a test statistic ("(p = 0.024)", "(χ2 = 3.97, P < 0.05)")
        self.bracket_tail = re.compile(rf"\s*[\(\[](?!\s*(?:{stat})\s*[=<>≤≥])([^()\[\]]{{0,60}})[\)\]]")
        self.stat_before = re.compile(
            rf"(?:(?<![\w])(?:{stat})\s*(?:[- ]?values?\s*)?(?:\(\s*\d+\s*\)\s*)?(?:[=:<>≤≥]|&lt;|&gt;)\s*|[<>≤≥]\s*=?\s*|range,?\s*)$"
        )
        # "less than 30 ng/mL", "≥ 50%": a cut-off, not a value
        self.threshold_before = re.compile(rf"(?:(?<![\w])|(?<=[^\w\s]))(?:{_alternation(d['threshold_before'])})\s*$", re.I)
        # "group 2", "week 12", "Table 3": an index, not a value
        # ("groups 1 and 2": both numbers)
        self.index_before = re.compile(
            rf"(?<![\w])(?:{_alternation(d['index_before'])})\s*(?:\d+\s*(?:,|and|or|&|-|–)\s*)*$", re.I
        )
        # "at 12 weeks", "after 6 months": a time point (only with a time unit)
        self.time_before = re.compile(rf"(?<![\w])(?:{_alternation(d['time_point_before'])})\s+(?:the\s+)?$", re.I)
        # "VALUE (patients) in the ARM": a preposition, then up to four words, then the arm mention
        self.attach_after = re.compile(rf"\s*(?:(?:{people})\s+)?(?:(?:{after})\s+)?(?:[\w-]+\s+){{0,4}}?", re.I)


@lru_cache(maxsize=1)
def _numeric_data() -> _NumericData:
    return _NumericData()


# A number: optional sign, thousands groups, decimals ("−0.48", "1,500", ".010")
# (not the numbers of a name: "CO2", "25(OH)D", "1,25(OH)2D")
_NUMBER_RE = re.compile(r"(?<![\w.,/)\]])([-−+]?)(\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?![\d]|\([A-Za-z]|,\d+\()")
# What may follow a number and still belong to it, in order (each optional): a fraction's denominator
# ("24/73", "19 out of 70"), a range's second number ("51 to 52", "2–6"), a unit ("%", "cm", "mg/dL",
# "Mins"), a spread ("± 1.1", "(26.3)", "(range, 2–6)", "(95% CI 7.3–27.4%)"; a bracketed percentage
# of a count, "17 (27.4%)", is kept as the value).
_FRACTION_TAIL = re.compile(r"\s*(?:/|out\s+of\s+)\s*(\d+(?:,\d{3})*)(?![\d.])")
_RANGE_TAIL = re.compile(r"\s*(?:to|–|—|-)\s*([-−]?\d+(?:\.\d+)?)(?![\d])")
_UNIT_TAIL = re.compile(r"\s*(%|[a-zA-Zµμ][a-zA-Zµμ0-9]*(?:\s?/\s?[a-zA-Z0-9µμ]+)*)")
_SPREAD_TAIL = re.compile(r"\s*(?:±|\+/-|\+/−|\+−)\s*\d+(?:\.\d+)?(?:\s*%)?")
_BRACKET_PERCENT = re.compile(r"\s*([-−]?\d+(?:\.\d+)?)\s*%\s*$")
# a number glued to a word by a hyphen is part of a name: "IL-6", "12-week", "COVID-19"
_HYPHEN_NAME = re.compile(r"[A-Za-z]-$")
_YEAR = re.compile(r"(?:19|20)\d\d")
# a whole number alone in brackets is a count of people: "vitamin D (40) or placebo (40)"
_BARE_COUNT = re.compile(r"[\(\[]\s*\d+\s*[\)\]]")


def arm_values(text: str, lo: int = 0, hi: int | None = None) -> list[ArmValue]:
    """The numbers of ``text[lo:hi]`` that can be values of the outcome, in order. Skipped: p-values and
    other test statistics ("p = 0.04", "n = 40", "χ2 = 3.97"), thresholds ("≤ 30%"), confidence intervals
    and ratios (their numbers are statistics, read elsewhere), doses ("400 mg", "2.5 mg/kg"), time points
    ("at 12 weeks", "after 6 months"), indices ("group 2", "week 24"), years, and a range's second number or
    a spread (read with their number)."""
    hi = len(text) if hi is None else hi
    nd = _numeric_data()
    blocked = [(m.start(), m.end()) for m in _ci_matches(text)]
    blocked += [(m.start(), m.end()) for m in _RATIO_RE.finditer(text, lo, hi)]
    out: list[ArmValue] = []
    pos = lo
    while True:
        m = _NUMBER_RE.search(text, pos, hi)
        if m is None:
            return out
        start = m.start()
        pos = m.end()
        if any(s <= start < e for s, e in blocked):
            continue
        before = text[max(0, start - 25) : start]
        if (
            nd.stat_before.search(before)
            or nd.threshold_before.search(before)
            or nd.index_before.search(before)
            or _HYPHEN_NAME.search(before)
            or _BARE_COUNT.match(text, start - 1)
        ):
            continue
        sign = -1.0 if m.group(1) in ("-", "−") else 1.0
        value = sign * float(m.group(2).replace(",", ""))
        end = m.end()
        f = _FRACTION_TAIL.match(text, end, hi)
        if f:
            den = float(f.group(1).replace(",", ""))
            if den:
                value, end = value / den, f.end()
        else:
            r = _RANGE_TAIL.match(text, end, hi)
            if r:
                value, end = (value + float(r.group(1).replace("−", "-"))) / 2, r.end()
        unit = ""
        u = _UNIT_TAIL.match(text, end, hi)
        if u and u.group(1).lower() not in nd.not_units:
            unit = u.group(1).lower().replace(" ", "")
            end = u.end()
        parts = unit.split("/")
        if parts[0] in nd.dose_units and not any(p in nd.concentration_per for p in parts[1:]):
            pos = end
            continue  # a dose ("400 mg", "2.5 mg/kg/day"), not a concentration ("120 mg/dL")
        if parts[0] in nd.time_units and len(parts) == 1 and "." not in m.group(2) and nd.time_before.search(before):
            pos = end
            continue  # a time point ("at 12 weeks"; "at 17.5 h" is a median time, a value)
        if not unit and "." not in m.group(2) and _YEAR.fullmatch(m.group(2)):
            continue  # a year
        s = _SPREAD_TAIL.match(text, end, hi)
        if s:
            end = s.end()
            u = _UNIT_TAIL.match(text, end, hi)  # "3.26 ± 1.57 min"
            if u and u.group(1).lower() not in nd.not_units and (not unit or u.group(1).lower().replace(" ", "") == unit):
                unit = u.group(1).lower().replace(" ", "")
                end = u.end()
        b = nd.bracket_tail.match(text, end, hi)
        if b:
            pct = _BRACKET_PERCENT.fullmatch(b.group(1))
            if pct and unit != "%":
                value, unit = float(pct.group(1).replace("−", "-")), "%"
            end = b.end()
        out.append(ArmValue(start, end, value, unit))
        pos = end


def _mention_end(text: str, start: int) -> int:
    m = _WORD_AT.match(text, start)
    return m.end() if m else start + 1


_WORD_AT = re.compile(r"[\w\u0370-\u03ff][\w\u0370-\u03ff\-]*")
_DIGIT = re.compile(r"\d")
_GAP_WORD = re.compile(r"[A-Za-z]+")


def _blocked_gap(gap: str, nd: _NumericData) -> bool:
    """A gap between a value and an arm mention that ties them to something else: another number, a clause
    mark, or a word that starts a comparison or a list ("and", "versus", "than", "respectively")."""
    if _DIGIT.search(gap) or ";" in gap or "," in gap:
        return True
    return any(w.lower() in nd.blockers for w in _GAP_WORD.findall(gap))


def _numeric_arms(
    text: str, window: tuple[int, int], i_pos, c_pos, outcome_span: tuple[int, int] | None = None
) -> tuple[int, str] | None:
    """Which arm had the larger value, read from values tied to arm mentions: "77.4% in the intervention
    group and 69.0% in standard care", "17.5 h for butoconazole patients as compared to 22.9 h for
    fluconazole patients", "group A was 0.98 mm", "A group: 3.2; B group: 4.5", and, with "respectively",
    values and arms in the same order ("53.3% and 86.6% in patients treated with sorafenib and
    capecitabine, respectively"). +1 when the intervention's value is the larger. Only asked when no word
    gives a direction."""
    lo, hi = window
    o_lo, o_hi = outcome_span or (-1, -1)
    anchor = (o_lo + o_hi) // 2 if outcome_span else None
    # an arm word inside the outcome's own mention names the outcome ("revision thyroidectomy")
    arms = sorted(
        [(p, "i") for p in i_pos if lo <= p < hi and not o_lo <= p < o_hi]
        + [(p, "c") for p in c_pos if lo <= p < hi and not o_lo <= p < o_hi]
    )
    if not any(k == "i" for _, k in arms) or not any(k == "c" for _, k in arms):
        return None
    nd = _numeric_data()
    if nd.allocation.search(text, lo, hi):
        return None
    values = arm_values(text, lo, hi)
    if len(values) < 2:
        return None
    pairs: list[tuple[ArmValue, str]] = []
    if nd.respectively.search(text, lo, hi):
        # values and arms in the same order. Arm slots: the arm mentions, where two mentions of one arm
        # separated by a space or hyphen only are one name ("oleic acid", "GIK-treated")
        ends = {p: _mention_end(text, p) for p, _ in arms}
        seq: list[tuple[int, str]] = []
        for p, k in arms:
            if seq and seq[-1][1] == k and not text[ends[seq[-1][0]] : p].strip(" -"):
                ends[seq[-1][0]] = ends[p]
                continue
            seq.append((p, k))
        kinds = [k for _, k in seq]
        runs, run = [], [values[0]]
        for v in values[1:]:
            if _RUN_GAP.fullmatch(text, run[-1].end, v.start):
                run.append(v)
            else:
                runs.append(run)
                run = [v]
        runs.append(run)
        by_arm = _runs_of_arms(text, runs, arms, hi)
        if by_arm is not None:
            return by_arm
        if kinds.count("i") != 1 or kinds.count("c") != 1:
            return None
        # the run as long as the arm slots; of several, the nearest the outcome ("recurrence rates were 53.3% and
        # 86.6% in A and B, respectively, and survival rates were 93.3% and 46.6%, respectively")
        fits = [r for r in runs if len(r) == len(seq)]
        if not fits:
            return None
        run = fits[0] if anchor is None else min(fits, key=lambda r: (r[0].start < anchor, abs(r[0].start - anchor)))
        pairs = list(zip(run, kinds))
    else:
        used: set[int] = set()
        tied: dict[int, str] = {}
        ends = {p: _mention_end(text, p) for p, _ in arms}
        for n, v in enumerate(values):  # "VALUE in ARM": the first arm mention after the value
            nxt = next(((p, k) for p, k in arms if p >= v.end), None)
            if nxt is None or nxt[0] in used:
                continue
            gap = text[v.end : nxt[0]]
            if len(gap) <= 45 and not _blocked_gap(gap, nd) and nd.attach_after.fullmatch(gap):
                if n + 1 < len(values) and values[n + 1].start < nxt[0]:
                    continue
                used.add(nxt[0])
                tied[n] = nxt[1]
        for n, v in enumerate(values):  # "ARM: VALUE", "ARM (VALUE)", "ARM was VALUE"
            if n in tied:
                continue
            prv = next(((p, k) for p, k in reversed(arms) if ends[p] <= v.start), None)
            if prv is None or prv[0] in used:
                continue
            gap = text[ends[prv[0]] : v.start]
            if len(gap) <= 35 and not _blocked_gap(gap, nd) and not (n and values[n - 1].start > prv[0]):
                used.add(prv[0])
                tied[n] = prv[1]
        pairs = [(values[n], k) for n, k in sorted(tied.items())]
    # the two consecutive values of different arms nearest the outcome
    best = None
    for (a, ka), (b, kb) in zip(pairs, pairs[1:]):
        if ka == kb or (a.unit and b.unit and a.unit != b.unit):
            continue
        # values come after the outcome they measure: a pair after it first, then the nearest
        d = (0, 0) if anchor is None else (a.start < anchor, min(abs(a.start - anchor), abs(b.start - anchor)))
        if best is None or d < best[0]:
            best = (d, a, ka, b)
    if best is None:
        return None
    _, a, ka, b = best
    iv, cv = (a.value, b.value) if ka == "i" else (b.value, a.value)
    if iv == cv:
        return None
    return (1 if iv > cv else -1), f"{text[a.start:a.end].strip()} vs {text[b.start:b.end].strip()}"


def _runs_of_arms(text: str, runs, arms, hi: int) -> tuple[int, str] | None:
    """"56.3 and 79.7, respectively, for the DSG group vs. 35.6 and 47.0, respectively, for the placebo group":
    each run of values belongs to the arm named right after its "respectively" (several time points or measures
    per arm). The runs are compared item by item; the sign counts only when all items agree."""
    nd = _numeric_data()
    tied: dict[str, list[ArmValue]] = {}
    for run in runs:
        m = nd.respectively_arm.match(text, run[-1].end, hi)
        if m is None or len(run) < 2:
            continue
        arm = next((k for p, k in arms if m.end() <= p < m.end() + 40), None)
        if arm is None or arm in tied or _blocked_gap(text[m.end() : next(p for p, k in arms if p >= m.end())], nd):
            continue
        tied[arm] = run
    if len(tied) < 2 or len(tied["i"]) != len(tied["c"]):
        return None
    iv, cv = tied["i"], tied["c"]
    signs = {(a.value > b.value) - (a.value < b.value) for a, b in zip(iv, cv)}
    if len(signs) != 1 or 0 in signs:
        return None
    first, second = (iv, cv) if iv[0].start < cv[0].start else (cv, iv)
    return signs.pop(), f"{text[first[0].start:first[-1].end].strip()} vs {text[second[0].start:second[-1].end].strip()}"


# between two values of one "respectively" run: a comma, "and", "vs" or "or"
_RUN_GAP = re.compile(r"\s*(?:,\s*(?:and\s+)?|and\s+|or\s+|vs\.?\s*|versus\s+)\s*", re.I)


_DIFF_ASSOC = frozenset(("diff", "assoc"))
_ASSOC_CLASSES = frozenset(("assoc", "assoc_pos", "assoc_neg"))


def judge(
    text: str,
    *,
    outcome_span: tuple[int, int] | None = None,
    outcome: str | None = None,
    polarity: str | None = None,
    intervention_words: list[str] | None = None,
    comparator_words: list[str] | None = None,
    intervention_spans: list[tuple[int, int]] | None = None,
    exposure_spans: list[tuple[int, int]] | None = None,
    relation_hint: str | None = None,
    lex: Lexicons | None = None,
    cues: list[Cue] | None = None,
) -> Judgement:
    """Judge the direction of one result sentence for the outcome at ``outcome_span``.

    ``intervention_words``/``comparator_words``: content words naming each arm (from an EI prompt);
    ``intervention_spans``: arm mentions found otherwise (exposure spans in the pipeline).
    ``effect_direction`` is the change of the outcome for the intervention relative to the
    comparator (or, for associations, as written: "associated with more pain" = increase).
    """
    lex = lex or lexicons()
    text = text.replace("·", ".")  # "0·76" (Lancet style); same length, offsets unchanged
    cues = cues if cues is not None else lex.cues.find(text)
    j = Judgement(outcome=outcome, outcome_span=outcome_span)
    pol = polarity or lex.polarity(outcome, text[outcome_span[0] : outcome_span[1]] if outcome_span else None)

    spans = _clauses(text)
    anchor = (outcome_span[0] + outcome_span[1]) // 2 if outcome_span else None
    clause = next((c for c in spans if c[0] <= anchor < c[1]), spans[0]) if anchor is not None else (0, len(text))

    # cue words inside the outcome mention are part of its name
    if outcome_span:
        o_start, o_end = outcome_span
        usable = [c for c in cues if c.end <= o_start or c.start >= o_end]
    else:
        usable = list(cues)
    c_lo, c_hi = clause
    in_clause = [c for c in usable if c_lo <= c.start < c_hi]

    j.hedged = lex.hedged(text)
    comps = [c for c in cues if "comparator" in c.classes and c.value != "baseline"]
    j.comparator = comps[0].value if comps else None

    # --- significance: wording first, then p-values, then confidence intervals
    nodiff = [c for c in in_clause if "nodiff" in c.classes]
    nonsig = [c for c in in_clause if "nonsig" in c.classes]
    diff_neg = [c for c in in_clause if not c.classes.isdisjoint(_DIFF_ASSOC) and _negated(c, cues, text, clause)]
    nodiff += diff_neg
    stats = [s for s in _p_values(text) if c_lo <= s.start < c_hi and s.significant is not None]
    cis = [s for s in _confidence_intervals(text) if c_lo <= s.start < c_hi]
    ref_pos = anchor if anchor is not None else 0
    if nodiff or nonsig:
        j.significant = False
    elif stats:
        j.significant = _nearest(stats, ref_pos if anchor is not None else stats[0].start).significant
    elif cis:
        j.significant = _nearest(cis, ref_pos).significant
    elif any("sig" in c.classes and not _negated(c, cues, text, clause) for c in in_clause):
        j.significant = True  # a "significantly" that is not negated (checked only when needed)
    if not stats and not cis and j.significant is None:
        # statistics for the whole sentence ("... (P < 0.001 for both)") when the clause has none
        all_p = [s for s in _p_values(text) if s.significant is not None]
        if all_p and all(s.significant == all_p[0].significant for s in all_p):
            j.significant = all_p[0].significant

    # --- association or effect
    assoc = [c for c in cues if not c.classes.isdisjoint(_ASSOC_CLASSES)]
    j.relation = relation_hint or ("association" if assoc else "effect")

    # --- the direction cue nearest the outcome (its clause first, then the sentence)
    i_pos, c_pos = [], []
    arm_spans: list[tuple[int, int]] = []
    if intervention_words or comparator_words or intervention_spans or comps:
        i_pos, c_pos = _group_mentions(text, cues, intervention_words or [], comparator_words or [], intervention_spans)
        arm_spans = find_words(text, (intervention_words or []) + (comparator_words or []))

    def direction_cues(pool):
        out = [c for c in pool if not c.classes.isdisjoint(_DIRECTION_SET)]
        if out:
            out = [c for c in out if not _THRESHOLD.match(text, c.end)]  # "lower than 20 ng/mL" is a cut-off
        if out and arm_spans:  # "Pressure Relief Shoe" names an arm
            out = [c for c in out if not any(s <= c.start < e for s, e in arm_spans)]
        if exposure_spans and j.relation == "association":
            # level words attached to the exposure ("low vitamin D") are not about the outcome
            out = [c for c in out if not any(0 <= s - c.end <= 12 for s, _ in exposure_spans)]
        return out

    dir_cues = direction_cues(in_clause)
    scope = clause
    if not dir_cues and not nodiff and anchor is not None:
        dir_cues, scope = direction_cues(usable), (0, len(text))
    cue = _closest(dir_cues, outcome_span, text) if outcome_span else (dir_cues[0] if dir_cues else None)
    trigger: list[str] = []
    raw = None  # +1 outcome up, -1 outcome down, 0 no change
    if cue is not None:
        nouns = [c for c in usable if "change_noun" in c.classes and scope[0] <= c.start < scope[1]]
        raw, cue_text = _compound(cue, dir_cues, text, pol, nouns, outcome_span)
        trigger.append(cue_text)
        if _negated(cue, cues, text, scope):
            j.negated = True
            raw = 0
            trigger.insert(0, "not")

    if nodiff:
        j.negated = True
        trigger = [nodiff[0].text] + trigger
        raw = 0
    elif nonsig:
        trigger = [nonsig[0].text] + trigger
    elif raw is None and outcome_span:
        # "No side effect was observed": a negation right before the outcome
        before = [c for c in cues if "neg" in c.classes and 0 <= outcome_span[0] - c.end <= 3]
        if before:
            j.negated = True
            raw = 0
            trigger.append(before[0].text)

    if raw is None:
        # ratio statistics (RR 0.76) or "a vs b" numbers carry the direction when no word does
        rs = [(p, v) for p, v in _ratios(text) if clause[0] <= p < clause[1]]
        if rs and rs[0][1] > 0 and rs[0][1] != 1.0:
            raw = 1 if rs[0][1] > 1 else -1
            trigger.append(f"ratio {rs[0][1]}")
        else:
            pair = None
            if i_pos and c_pos:  # values of both arms need mentions of both
                pair = _numeric_arms(text, clause, i_pos, c_pos, outcome_span) or _numeric_pair(text, clause, i_pos, c_pos)
                if pair is None and clause != (0, len(text)):
                    pair = _numeric_arms(text, (clause[0], len(text)), i_pos, c_pos, outcome_span)
            if pair:
                raw, t = pair
                trigger.append(t)
                j.notes.append("numbers")

    # --- whose change is it?
    flipped = False
    if raw and (i_pos or c_pos) and j.relation == "effect" and "numbers" not in j.notes:
        where = anchor if anchor is not None else (cue.start if cue else 0)
        flipped, why = _orientation(text, cues, clause, where, i_pos, c_pos)
        if why:
            j.notes.append(why)
        if flipped:
            raw = -raw
    j.flipped = flipped
    both_arms = [c for c in in_clause if "both_arms" in c.classes]
    if raw and both_arms and not any("ref" in c.classes for c in in_clause) and j.relation == "effect":
        # "decreased in both groups" with no between-group contrast: no difference between arms
        j.notes.append("both arms")
        trigger.append(both_arms[0].text)
        raw = 0

    if raw == 0 or j.significant is False:
        j.effect_direction = "no_difference"
    elif raw is None:
        j.effect_direction = "unclear"
    else:
        j.effect_direction = "increase" if raw > 0 else "decrease"

    # --- what it means
    if j.relation == "association":
        j.direction = _association_direction(text, cues, j, raw, exposure_spans)
    elif j.effect_direction == "no_difference":
        j.direction = "no_effect"
    elif j.effect_direction in ("increase", "decrease") and pol in ("higher_better", "higher_worse"):
        good = (j.effect_direction == "increase") == (pol == "higher_better")
        j.direction = "benefit" if good else "harm"
    else:
        j.direction = "unclear"
    if j.relation == "association" and assoc:
        signed = [c for c in assoc if c.classes & {"assoc_pos", "assoc_neg"}]
        trigger.insert(0, (signed or assoc)[0].text)
    j.trigger = " | ".join(dict.fromkeys(t for t in trigger if t)) or ""
    return j


_R_RE = re.compile(r"(?<![\w.])r\s*=\s*([-−–])?\s*0?\.\d+")


def _association_direction(text, cues, j: Judgement, raw, exposure_spans) -> str:
    """Sign of the association between the exposure LEVEL and the outcome.

    Outcome side: the direction cue (more pain = +1, "risk of" = +1). Exposure side: level words
    just before the exposure mention (low/deficient = -1). "Inversely" multiplies by -1.
    """
    if j.effect_direction == "no_difference" or raw == 0:
        return "no_effect"
    sign = raw if raw else 1
    if not raw and not any("assoc_pos" in c.classes or "assoc_neg" in c.classes for c in cues):
        r = _R_RE.search(text)
        if r:  # "correlated with pain intensity (r = -0.653)": the coefficient carries the sign
            sign = -1 if r.group(1) else 1
        elif not any(c.text.lower() in ("risk", "risks", "odds") for c in cues):
            return "unclear"
    # "inversely / negatively" flips the sign of its own clause only ("an increased risk of bone disease is
    # attributable to deficiency, and 25(OH)D levels tend to be negatively associated with other diseases")
    anchor = j.outcome_span[0] if j.outcome_span else None
    spans = _clauses(text)
    clause = next((c for c in spans if anchor is not None and c[0] <= anchor < c[1]), (0, len(text)))
    signed = [c for c in cues if "assoc_neg" in c.classes]
    if any(clause[0] <= c.start < clause[1] for c in signed) or (signed and clause == (0, len(text))):
        sign = -sign
    if exposure_spans:
        s, e = exposure_spans[0]  # the first exposure mention names the exposure of the statement
        low_in_mention = re.search(r"deficien|insufficien|hypovitaminosis|inadequa|\blow(?:er)?\b|\bpoor\b", text[s:e].lower())
        near = [c for c in cues if (c.classes & {"level_low", "level_high"}) and 0 <= s - c.end <= 25]
        # "for each 25 nmol/L decrease in 25-OH D": a fall of the exposure itself
        fall = [c for c in cues if "down" in c.classes and 0 <= s - c.end <= 12 and re.fullmatch(r"\s*(?:in|of)?\s*", text[c.end : s])]
        if low_in_mention or fall or any("level_low" in c.classes for c in near):
            sign = -sign
    else:
        # no exposure mention known: the exposure side is the text before the association cue
        first_assoc = min((c.start for c in cues if "assoc" in c.classes), default=None)
        if first_assoc is not None:
            levels = [c for c in cues if c.start < first_assoc and c.classes & {"level_low", "level_high"}]
            if levels and "level_low" in levels[0].classes:
                sign = -sign
    return "association_positive" if sign > 0 else "association_negative"
