"""Exact shortcuts for Python regexes, derived from the compiled pattern itself.

Python's ``re`` tries a pattern that starts with ``\\b`` or a case-insensitive word alternation at
every character of the text, so a dozen such patterns over an abstract cost milliseconds. Two
facts read off the parsed pattern make most of that work unnecessary without changing a result:

* :func:`required` / :func:`checker` - literal strings a match must contain (an AND/OR formula):
  when they are not in the text, the pattern has no match there and is not run at all;
* :func:`starts` - what a match must begin with (literals, a digit) and whether the character
  before it must be a non-word character: :func:`finditer` then tries the pattern only at those
  positions, and yields exactly what ``pattern.finditer(text)`` yields.

Both are necessary conditions computed from the pattern, so they follow the data files (cue
lists, number words) when those change. Case-insensitive matching is covered by comparing
:func:`fold`-ed text with folded literals: ``fold`` maps every character to one representative of
the characters ``re.IGNORECASE`` treats as equal, and keeps the length, so offsets carry over.
"""

from __future__ import annotations

import re
import re._casefix as _casefix
import re._constants as _c
import re._parser as _parser
from bisect import bisect_left
from collections.abc import Iterator

# --- folding ------------------------------------------------------------------------------------


def _post_table() -> dict[str, str]:
    """Characters re.IGNORECASE treats as equal beyond lower case (i/ı, s/ſ, µ/μ, ...): one representative each."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for lo, others in _casefix._EXTRA_CASES.items():
        for o in others:
            a, b = root(lo), root(o)
            if a != b:
                parent[max(a, b)] = min(a, b)
    classes: dict[int, list[int]] = {}
    for x in {c for lo, others in _casefix._EXTRA_CASES.items() for c in (lo, *others)}:
        classes.setdefault(root(x), []).append(x)
    table = {}
    for members in classes.values():
        rep = min(members, key=lambda x: (not chr(x).isalnum(), x))  # a letter where there is one
        table.update({chr(x): chr(rep) for x in members if x != rep})
    assert all(ord(x) > 127 for x in table), "an ASCII character would change under folding"
    return table


_POST = _post_table()
_POST_RX = re.compile("[" + "".join(sorted(_POST)) + "]")


def fold(text: str) -> str:
    """Case-folded copy of ``text`` with the same length: two characters that ``re.IGNORECASE``
    matches to each other fold to the same character. str.lower() is the simple lower case re
    uses for every character but U+0130 ('İ'.lower() is two characters; re lowers it to 'i')."""
    if text.isascii():
        return text.lower()
    if "\u0130" in text:
        text = text.replace("\u0130", "i")
    low = text.lower()
    if _POST_RX.search(low):
        low = _POST_RX.sub(lambda m: _POST[m.group()], low)
    return low


# --- required literals --------------------------------------------------------------------------

# A formula is a str (the folded text must contain it), ("and", parts) or ("or", parts); None = no condition.


def _and(parts: list) -> object:
    flat: list = []
    for p in parts:
        if p is None:
            continue
        if isinstance(p, tuple) and p[0] == "and":
            flat.extend(p[1])
        elif p not in flat:
            flat.append(p)
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else ("and", tuple(flat))


def _or(parts: list) -> object:
    if any(p is None for p in parts):
        return None
    flat: list = []
    for p in parts:
        for q in (p[1] if isinstance(p, tuple) and p[0] == "or" else (p,)):
            if q not in flat:
                flat.append(q)
    # a literal that contains another literal of the same OR adds nothing
    lits = [q for q in flat if isinstance(q, str)]
    flat = [q for q in flat if not (isinstance(q, str) and any(o != q and o in q for o in lits))]
    return flat[0] if len(flat) == 1 else ("or", tuple(flat))


def _req_seq(items) -> object:
    parts: list = []
    run: list[str] = []

    def flush() -> None:
        if run:
            parts.append(fold("".join(run)))
            run.clear()

    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        flush()
        parts.append(_req_item(op, av))
    flush()
    return _and(parts)


def _req_item(op, av) -> object:
    if op is _c.SUBPATTERN:
        return _req_seq(av[3])
    if op is _c.ATOMIC_GROUP:
        return _req_seq(av)
    if op is _c.BRANCH:
        return _or([_req_seq(b) for b in av[1]])
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        return _req_seq(av[2]) if av[0] >= 1 else None
    return None  # character classes, any, assertions, backreferences: no literal guaranteed


def required(rx: re.Pattern) -> object:
    """A formula of folded literals that the folded text holds whenever ``rx`` matches in it."""
    return _req_seq(_parser.parse(rx.pattern, rx.flags))


def _rarity(formula: object) -> int:
    """How unlikely a formula is to hold, by literal length (a longer literal is rarer): an AND is
    as rare as its rarest part, an OR as common as its commonest alternative."""
    if isinstance(formula, str):
        return len(formula)
    kind, parts = formula
    return (max if kind == "and" else min)(_rarity(p) for p in parts)


def _expr(formula: object) -> str:
    """Python source testing ``formula`` on ``t``. AND and OR have no side effects, so their order
    is free: an AND tests its rarest part first and an OR its commonest alternative first, so the
    test usually ends after one or two ``in`` scans of the text."""
    if isinstance(formula, str):
        return f"{formula!r} in t"
    kind, parts = formula
    parts = sorted(parts, key=_rarity, reverse=kind == "and")
    return "(" + f" {kind} ".join(_expr(p) for p in parts) + ")"


def contains_any(words: list[str]):
    """``lambda t: any(w in t for w in words)`` as one expression, likeliest word first (the
    caller folds the words when ``t`` is folded text)."""
    return eval("lambda t: " + _expr(("or", tuple(words))), {})  # noqa: S307 - repr() of literals only


def checker(rx: re.Pattern):
    """``required(rx)`` compiled into one function: folded text -> whether it holds the literals
    (None when ``rx`` requires no literal)."""
    formula = required(rx)
    if formula is None:
        return None
    return eval(f"lambda t: {_expr(formula)}", {})  # noqa: S307 - built from repr() of literals only


# --- start positions ----------------------------------------------------------------------------


class Starts:
    """What every match of a pattern begins with: one of ``lits`` (folded), or a digit when
    ``digit``; ``after_nonword``: the character before the match is not a word character."""

    __slots__ = ("lits", "digit", "after_nonword", "scan", "one_char")

    def __init__(self, lits: frozenset[str], digit: bool, after_nonword: bool):
        self.lits, self.digit, self.after_nonword = lits, digit, after_nonword
        # on the folded text: each non-word character followed by a possible start, one character
        # per match (a lookahead), so starts inside another literal are not skipped
        # (grouped by first character: at most positions re then tests one character, not every
        # literal; the order of a lookahead's alternatives cannot change which positions match)
        by_first: dict[str, list[str]] = {}
        for x in sorted(lits, key=len, reverse=True):
            by_first.setdefault(x[0], []).append(re.escape(x[1:]))
        alts = [re.escape(f) + ("(?:" + "|".join(rest) + ")" if any(rest) else "")
                for f, rest in sorted(by_first.items())] + ([r"\d"] if digit else [])
        self.scan = re.compile(r"\W(?=" + "|".join(alts) + ")") if after_nonword else None
        self.one_char = after_nonword and digit and all(len(x) == 1 for x in lits)
        if self.one_char:
            # the same positions when every start is one character (a digit, "."): the start
            # character first, so re jumps from one to the next (a pattern that begins with a
            # character class is scanned in C), then "the character before it is no word
            # character" as a lookbehind over both (it holds at the start of the text)
            cls = "[" + r"\d" + "".join(re.escape(x) for x in sorted(lits)) + "]"
            self.scan = re.compile(cls + r"(?<!\w" + cls + ")")


_ZERO_WIDTH = (_c.AT, _c.ASSERT, _c.ASSERT_NOT)


def _first_seq(items) -> tuple[set[str], bool] | None:
    """(literal prefixes, digit) one of which begins every match of the sequence; None if unknown."""
    items = list(items)
    i = 0
    while i < len(items) and items[i][0] in _ZERO_WIDTH:
        i += 1
    if i == len(items):
        return None  # may match the empty string
    op, av = items[i]
    if op is _c.LITERAL:
        j = i
        while j < len(items) and items[j][0] is _c.LITERAL:
            j += 1
        run = fold("".join(chr(a) for _, a in items[i:j]))
        if len(run) < 4 and j < len(items):
            # the parser factors common prefixes out ("were|was" -> "w" + "ere|as"): extend a
            # short run by what follows it, so the starts stay selective
            g = _first_seq(items[j:])
            if g is not None and not g[1] and g[0] and len(g[0]) <= 16:
                return {run + x for x in g[0]}, False
        return {run}, False
    if op is _c.IN:
        lits, digit = set(), False
        for o, a in av:
            if o is _c.LITERAL:
                lits.add(fold(chr(a)))
            elif o is _c.CATEGORY and a is _c.CATEGORY_DIGIT:
                digit = True
            else:
                return None
        return lits, digit
    if op in (_c.SUBPATTERN, _c.ATOMIC_GROUP, _c.BRANCH):
        branches = [av[3]] if op is _c.SUBPATTERN else [av] if op is _c.ATOMIC_GROUP else av[1]
        lits, digit = set(), False
        for b in branches:
            f = _first_seq(list(b) + items[i + 1:])  # an empty branch starts with what follows
            if f is None:
                return None
            lits |= f[0]
            digit |= f[1]
        return lits, digit
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        f = _first_seq(av[2])
        if f is None:
            return None
        if av[0] == 0:  # optional: the match may start with what follows instead
            g = _first_seq(items[i + 1:])
            if g is None:
                return None
            return f[0] | g[0], f[1] or g[1]
        return f
    return None


def _excludes_word_before(items) -> bool:
    """The sequence begins with ``\\b`` before a word character, or with a negative lookbehind of
    one character that excludes every word character: the character before a match is not one."""
    for op, av in items:
        if op is _c.ASSERT_NOT and av[0] == -1:
            body = list(av[1])
            if (len(body) == 1 and body[0][0] is _c.IN and (_c.CATEGORY, _c.CATEGORY_WORD) in body[0][1]
                    and (_c.NEGATE, None) not in body[0][1]):
                return True
            continue
        if op is _c.AT and av is _c.AT_BOUNDARY:
            f = _first_seq(items)  # \b before a word character (digits are word characters)
            return f is not None and all(lit[:1].isalnum() or lit[:1] == "_" for lit in f[0])
        if op not in _ZERO_WIDTH:
            return False
    return False


def starts(rx: re.Pattern) -> Starts | None:
    """The start condition of ``rx``, or None when it cannot be read off the pattern."""
    items = list(_parser.parse(rx.pattern, rx.flags))
    while len(items) == 1 and items[0][0] is _c.SUBPATTERN:
        items = list(items[0][1][3])
    f = _first_seq(items)
    if f is None or "" in f[0]:
        return None
    lits = {x for x in f[0] if not any(y != x and x.startswith(y) for y in f[0])}  # "enrol" covers "enrolled"
    return Starts(frozenset(lits), f[1], _excludes_word_before(items))


_DIGIT = re.compile(r"\d")
# the one character that is not a word character but folds to one (U+0345 -> iota)
_FOLDS_TO_WORD = "\u0345"


def positions(st: Starts, text: str, folded: str) -> list[int] | None:
    """Sorted positions where a match described by ``st`` could begin (a superset of the real
    ones), or None when they cannot be found cheaply (the caller then runs the plain pattern)."""
    if st.after_nonword and st.digit:  # one regex pass; str.find cannot look for "any digit"
        if _FOLDS_TO_WORD in text:
            return None  # word / non-word differs between text and folded text
        if st.one_char:  # one-character starts (see Starts)
            return [m.start() for m in st.scan.finditer(folded)]
        out = [m.end() for m in st.scan.finditer(folded)]
        if _DIGIT.match(folded) or any(folded.startswith(x) for x in st.lits):
            out.insert(0, 0)  # the start of the text counts as after a non-word character
        return out
    found: set[int] = set()
    for lit in st.lits:
        i = folded.find(lit)
        while i != -1:
            found.add(i)
            i = folded.find(lit, i + 1)
    if st.digit:
        found.update(m.start() for m in _DIGIT.finditer(text))
    if st.after_nonword:  # \w as re has it: str.isalnum() or "_"
        return sorted(i for i in found if i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))
    return sorted(found)


def finditer(rx: re.Pattern, text: str, cand: list[int]) -> Iterator[re.Match]:
    """``rx.finditer(text)`` for a pattern that cannot match the empty string, trying only the
    candidate start positions ``cand`` (sorted; a superset of where matches can begin)."""
    pos = 0
    k = 0
    n = len(cand)
    while k < n:
        p = cand[k]
        k += 1
        if p < pos:
            k = bisect_left(cand, pos, k)
            continue
        m = rx.match(text, p)
        if m is not None:
            yield m
            pos = m.end()


def useful_starts(rx: re.Pattern) -> Starts | None:
    """:func:`starts` when it pays off: not for patterns starting with one character ("(", "a"),
    which re scans for quickly itself or which start almost anywhere."""
    st = starts(rx)
    return st if st is not None and all(len(x) > 1 for x in st.lits) else None


def search(rx: re.Pattern, text: str, folded: str, st: Starts | None, cache: dict | None = None) -> re.Match | None:
    """``rx.search(text)``, trying only the positions ``st`` allows (``cache`` keeps them per text)."""
    if st is not None:
        key = (st.lits, st.digit, st.after_nonword)
        cand = cache.get(key) if cache is not None else None
        if cand is None:
            cand = positions(st, text, folded)
            if cache is not None:
                cache[key] = cand
        if cand is not None:
            return next(finditer(rx, text, cand), None)
    return rx.search(text)


def trie_alternation(words: list[str], boundary_after: bool = False) -> str:
    """``(?:w1|w2|...)`` for literal words, as a prefix tree: at a position re then tries a few
    first letters instead of every word. The tree tries the words that can match at one
    position (those that are prefixes of one another) in the same order as the flat list, so
    the regex behaves identically; when the order cannot be kept, the flat alternation is used.
    ``boundary_after``: the caller puts ``\\b`` right after the group, so a word followed by a word
    character inside a longer word ("enroll" in "enrolled") never matches where the longer one does."""
    order: dict[str, int] = {}
    for i, w in enumerate(words):
        order.setdefault(fold(w), i)
    keys = [fold(w) for w in words]
    if len(set(keys)) != len(set(words)) or any(len(k) != len(w) for k, w in zip(keys, words)):
        return "(?:" + "|".join(re.escape(w) for w in words) + ")"
    root: dict = {}
    for k in order:
        node = root
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = order[k]

    def first(node: dict) -> int:
        return min(first(v) if isinstance(v, dict) else v for v in node.values())

    def attempts(node: dict, prefix: str) -> list[str]:
        out: list[str] = []
        for ch, v in sorted(node.items(), key=lambda kv: kv[1] if kv[0] == "" else first(kv[1])):
            out += [prefix] if ch == "" else attempts(v, prefix + ch)
        return out

    def emit(node: dict) -> str:
        parts = []
        for ch, v in sorted(node.items(), key=lambda kv: kv[1] if kv[0] == "" else first(kv[1])):
            parts.append("" if ch == "" else re.escape(ch) + emit(v))
        if len(parts) == 1:
            return parts[0]
        return "(?:" + "|".join(parts) + ")"

    seq = attempts(root, "")
    for k in order:  # words that can match at one position: each prefix chain in list order
        chain = [x for x in seq if k.startswith(x) and (
            x == k or not boundary_after or _is_w(x[-1]) != _is_w(k[len(x)]))]
        if chain != sorted(chain, key=order.get):
            return "(?:" + "|".join(re.escape(w) for w in words) + ")"
    return "(?:" + emit(root) + ")"


def _is_w(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # \\w in a str pattern
