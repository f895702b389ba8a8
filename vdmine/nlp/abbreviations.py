"""Abbreviation definitions ("knee osteoarthritis (KOA)") with scispaCy's algorithm, found faster.

scispaCy's ``AbbreviationDetector`` (Schwartz & Hearst 2003) is kept as it is for the decision
itself (``filter_matches``, ``find_abbreviation``, its serializable output in
``doc._.abbreviations``); two things around it were slow or leaked, measured on the corpus:

* candidates come from a ``Matcher`` pattern ``( any+ )`` that yields every "(" with every
  later ")" in the document and walks the Doc in Python; here the same candidates (a "(" with a
  ")" at most 9 tokens later: ``filter_matches`` drops longer ones) are read off the ORTH array;
* later uses of each short form came from a second ``Matcher`` to which a rule was added and
  removed per abbreviation; spaCy does not free removed rules (~0.4 KiB per abstract). Here the
  short form's ORTH sequence is searched in the array directly: nothing accumulates.

The output is the same set of abbreviations (``tests/test_pipeline.py`` compares with scispaCy's
detector on corpus abstracts), in a stable order (by position), which scispaCy does not give.
"""

from __future__ import annotations

from collections import defaultdict

import numpy
from scispacy.abbreviation import AbbreviationDetector, filter_matches, find_abbreviation
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.tokens import Doc, Span

MAX_INSIDE = 8  # filter_matches ignores parentheses with more than 8 tokens inside


class FastAbbreviationDetector(AbbreviationDetector):
    """scispaCy's detector with array-based candidate and occurrence search (see module doc)."""

    def __init__(self, nlp: Language, name: str = "abbreviation_detector") -> None:
        super().__init__(nlp, name, make_serializable=True)
        self.open_id = nlp.vocab.strings.add("(")
        self.close_id = nlp.vocab.strings.add(")")

    def _candidates(self, orth: numpy.ndarray) -> list[tuple[int, int, int]]:
        """(0, start, end) of each "(" ... ")" token span with 1..MAX_INSIDE tokens inside,
        brackets excluded, in the order spaCy's Matcher reports them (by end, then start)."""
        opens = numpy.flatnonzero(orth == self.open_id)
        if not len(opens):
            return []
        closes = numpy.flatnonzero(orth == self.close_id)
        out = []
        for k in closes.tolist():
            lo = numpy.searchsorted(opens, k - MAX_INSIDE - 1)
            hi = numpy.searchsorted(opens, k - 1)
            for i in opens[lo:hi].tolist():
                out.append((0, i + 1, k))
        return out

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            return doc
        orth = doc.to_array(ORTH)
        filtered = filter_matches(self._candidates(orth), doc)
        found = []
        for long_form, short_forms in self._occurrences(filtered, doc, orth):
            for short in short_forms:
                short._.long_form = long_form
                found.append(short)
        doc._.abbreviations = [self.make_short_form_serializable(a) for a in found]
        return doc

    def _occurrences(self, filtered: list[tuple[Span, Span]], doc: Doc, orth: numpy.ndarray):
        """scispaCy's ``find_matches_for``, with the short forms searched in the ORTH array."""
        rules: dict[str, tuple[Span, numpy.ndarray]] = {}
        occurrences: dict[Span, set[Span]] = defaultdict(set)
        seen_long: set[str] = set()
        seen_short: set[str] = set()
        for long_candidate, short_candidate in filtered:
            short, long = find_abbreviation(long_candidate, short_candidate)
            if long is None or long.text in seen_long or short.text in seen_short:
                continue
            seen_long.add(long.text)
            seen_short.add(short.text)
            occurrences[long].add(short)
            rules[long.text] = (long, orth[short.start:short.end].copy())
        n = len(orth)
        for long, pattern in rules.values():
            m = len(pattern)
            starts = numpy.flatnonzero(orth[: n - m + 1] == pattern[0])
            for s in starts.tolist():
                if m == 1 or (orth[s:s + m] == pattern).all():
                    occurrences[long].add(doc[s:s + m])
        return [(long, sorted(shorts, key=lambda sp: (sp.start, sp.end))) for long, shorts in occurrences.items()]


@Language.factory("vdmine_abbreviations")
def make_abbreviations(nlp: Language, name: str) -> FastAbbreviationDetector:
    return FastAbbreviationDetector(nlp, name)
