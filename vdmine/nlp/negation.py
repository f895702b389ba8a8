"""NegEx-style negation of mentions, shared by the conditions and findings components.

A mention is negated when a *pre* cue ("no", "without", "free of", ...) ends at most ``window``
tokens before it, or a *post* cue ("was ruled out", "-free") starts at most ``window`` tokens
after it, in the same sentence, with no scope terminator ("but", "however", ";") in between.
Pseudo-cues ("no significant", "no difference") mask the cue words inside them, because in
abstracts "no" is far more often about a result than about the absence of a disease.
The cues are data: ``lexicons/negation_cues.tsv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span

_USER_DATA_KEY = "vdmine.negation_cues"
_KINDS = ("pre", "post", "pseudo", "term")


@dataclass(frozen=True)
class Cue:
    text: str
    kind: str  # pre | post | pseudo | term
    window: int


@lru_cache(maxsize=1)
def load_cues() -> tuple[Cue, ...]:
    """The packaged cue table."""
    raw = resources.files("vdmine.nlp").joinpath("lexicons/negation_cues.tsv").read_text("utf-8")
    cues = []
    for line in raw.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("cue\t"):
            continue
        text, kind, window = line.split("\t")
        if kind not in _KINDS:
            raise ValueError(f"negation_cues.tsv: unknown kind {kind!r} for cue {text!r}")
        cues.append(Cue(text.strip(), kind, int(window)))
    return tuple(cues)


_MATCHERS: dict[int, tuple[object, PhraseMatcher, dict[tuple[str, str], int]]] = {}


def _matcher(vocab) -> tuple[PhraseMatcher, dict[tuple[str, str], int]]:
    """One PhraseMatcher per vocab (built once); keys are the cue kinds."""
    hit = _MATCHERS.get(id(vocab))
    if hit is not None and hit[0] is vocab:
        return hit[1], hit[2]
    matcher = PhraseMatcher(vocab, attr="LOWER")
    windows: dict[tuple[str, str], int] = {}
    for kind in _KINDS:
        cues = [c for c in load_cues() if c.kind == kind]
        matcher.add(kind, [Doc(vocab, words=c.text.lower().split()) for c in cues])
        for c in cues:
            key = (kind, " ".join(c.text.lower().split()))
            windows[key] = max(windows.get(key, 0), c.window)
    _MATCHERS[id(vocab)] = (vocab, matcher, windows)
    return matcher, windows


def doc_cues(doc: Doc) -> tuple[list[tuple[str, int, int, int]], list[int]]:
    """(kind, start, end, window) of the live pre/post cues of ``doc``, and terminator token positions.

    Computed once per Doc and kept in ``doc.user_data`` as plain lists and tuples, so Docs stay
    picklable and ``Doc.to_bytes`` (msgpack, used by spaCy's ``n_process``) can write them.
    """
    cached = doc.user_data.get(_USER_DATA_KEY)
    if cached is not None:
        return cached
    matcher, windows = _matcher(doc.vocab)
    strings = doc.vocab.strings
    found = [(strings[mid], s, e) for mid, s, e in matcher(doc)]
    masked: set[int] = set()
    for kind, s, e in found:
        if kind == "pseudo":
            masked.update(range(s, e))
    terms = sorted({i for kind, s, e in found if kind == "term" for i in range(s, e)})  # a few tokens
    live = []
    for kind, s, e in found:
        if kind in ("pre", "post") and not masked.intersection(range(s, e)):
            live.append((kind, s, e, windows.get((kind, " ".join(t.lower_ for t in doc[s:e])), 3)))
    result = (live, terms)
    doc.user_data[_USER_DATA_KEY] = result
    return result


def _sentence_bounds(span: Span) -> tuple[int, int]:
    doc = span.doc
    if doc.has_annotation("SENT_START"):
        sent = span.sent
        return sent.start, sent.end
    return 0, len(doc)


def is_negated(span: Span) -> bool:
    """True when a negation cue governs ``span`` (see the module docstring).

    The sentence is looked up only for a cue within its window of the span (most mentions have
    none): the same tests as "cue in the sentence and within the window", in another order."""
    cues, terms = doc_cues(span.doc)
    if not cues:
        return False
    start, end = span.start, span.end
    bounds = None
    for kind, cs, ce, window in cues:
        if kind == "pre":
            if ce <= start and start - ce <= window:
                if bounds is None:
                    bounds = _sentence_bounds(span)
                if bounds[0] <= cs and not any(i in terms for i in range(ce, start)):
                    return True
        elif end <= cs and cs - end <= window:
            if bounds is None:
                bounds = _sentence_bounds(span)
            if ce <= bounds[1] and not any(i in terms for i in range(end, cs)):
                return True
    return False
