"""Abbreviation definitions ("knee osteoarthritis (KOA)") with scispaCy's algorithm, found faster.

scispaCy's ``AbbreviationDetector`` (Schwartz & Hearst 2003) decides which "(...)" defines an
abbreviation with ``filter_matches``, ``short_form_filter`` and ``find_abbreviation``; vdmine
keeps that decision and its serializable output (``doc._.abbreviations`` as dicts, each short
form's ``Span._.long_form`` set to the long form's text), but computes it faster. Measured on
the corpus, the original was slow or leaked in three places:

* candidates came from a ``Matcher`` pattern ``( any+ )`` that yields every "(" with every
  later ")" in the document; here the same candidates (a "(" with a ")" at most 9 tokens later:
  ``filter_matches`` drops longer ones) are read off the ORTH array;
* ``filter_matches`` and ``find_abbreviation`` walk spaCy Spans and Token objects; here the
  same steps (a line-by-line port, see :class:`_Tokens`) run on token offsets, lengths and the
  document text. ``tests/test_abbreviations.py`` checks the port against scispaCy's functions on
  every candidate of every corpus abstract;
* later uses of each short form came from a second ``Matcher`` to which a rule was added and
  removed per abbreviation; spaCy does not free removed rules (~0.4 KiB per abstract). Here the
  short form's ORTH sequence is searched in the array directly: nothing accumulates.

The output is the same set of abbreviations as scispaCy's detector, in a stable order (long
forms in order of definition, the occurrences of each by position), which scispaCy does not give.
"""

from __future__ import annotations

import numpy
from scispacy.abbreviation import AbbreviationDetector
from spacy.attrs import IDX, LENGTH, ORTH, SPACY
from spacy.language import Language
from spacy.tokens import Doc

from vdmine.nlp.docs import doc_text

MAX_INSIDE = 8  # filter_matches ignores parentheses with more than 8 tokens inside

Range = tuple[int, int]  # a token range [start, end), as a Span's start/end


class _Tokens:
    """A Doc's tokens as arrays plus its text: token i is ``text[idx[i]:idx[i] + length[i]]``
    and is followed by a space when ``spacy[i]``; a span's text is the text between its first
    token's start and its last token's end (what ``Span.text`` returns).

    Only ``orth`` is read up front, which is all a document without a "(" ... ")" candidate
    needs; ``idx``, ``length``, ``spacy`` and ``text`` are read on first use."""

    def __init__(self, doc: Doc, open_id: int, close_id: int) -> None:
        self.doc = doc
        self.orth = doc.to_array(ORTH)
        self.open_id, self.close_id = open_id, close_id

    def __getattr__(self, name: str):
        if name not in ("idx", "length", "spacy", "text"):
            raise AttributeError(name)
        arr = self.doc.to_array([IDX, LENGTH, SPACY])
        self.idx, self.length, self.spacy = arr[:, 0].tolist(), arr[:, 1].tolist(), arr[:, 2].tolist()
        self.text = doc_text(self.doc)
        return getattr(self, name)

    def chars(self, start: int, end: int) -> tuple[int, int]:
        """A span's start and end character offsets (``Span.start_char``, ``Span.end_char``)."""
        return self.idx[start], self.idx[end - 1] + self.length[end - 1]

    def span_text(self, start: int, end: int) -> str:
        return self.text[self.idx[start]:self.idx[end - 1] + self.length[end - 1]]

    def unbalanced(self, start: int, end: int) -> bool:
        """scispaCy's ``span_contains_unbalanced_parentheses``."""
        depth = 0
        for o in self.orth[start:end].tolist():
            if o == self.open_id:
                depth += 1
            elif o == self.close_id:
                if depth > 0:
                    depth -= 1
                else:
                    return True
        return depth != 0

    def short_form_ok(self, start: int, end: int) -> bool:
        """scispaCy's ``short_form_filter``."""
        if not all(2 <= n < 10 for n in self.length[start:end]):
            return False
        text = self.span_text(start, end)
        if (sum([c.isalpha() for c in text]) / len(text)) < 0.5:
            return False
        return text[0].isalpha()

    def filter_matches(self, candidates: list[tuple[int, int, int]]) -> list[tuple[Range, Range]]:
        """scispaCy's ``filter_matches``: (long form candidate, short form candidate) ranges."""
        out = []
        for _, start, end in candidates:
            if end - start > 8 or start == 1:
                continue
            if end - start > 3:  # "short (long form)": the token before the brackets is the short form
                short, long = (start - 2, start - 1), (start, end)
                if self.unbalanced(start, end):
                    continue
            else:  # "long form (short)"
                short = (start, end)
                n = sum(self.length[start:end])
                max_words = min(n + 5, n * 2)
                long = (max(start - max_words - 1, 0), start - 1)
            if self.short_form_ok(*short):
                out.append((long, short))
        return out

    def find_abbreviation(self, long: Range, short: Range) -> Range | None:
        """scispaCy's ``find_abbreviation``: the long form's range, or None.

        It matches the short form's letters and digits, last to first, against the long form's
        characters (case-insensitively, the first one at the start of a word). For ASCII text
        (every ``str.lower`` maps one character to one) each step is a ``str.rfind`` for the
        nearest match instead of a character-by-character walk: the same positions."""
        text, idx, length = self.text, self.idx, self.length
        long_form = " ".join([text[idx[i]:idx[i] + length[i]] for i in range(*long)])
        short_form = " ".join([text[idx[i]:idx[i] + length[i]] for i in range(*short)])
        long_index = len(long_form) - 1
        short_index = len(short_form) - 1
        if long_form.isascii() and short_form.isascii():
            lower_long, lower_short = long_form.lower(), short_form.lower()
            while short_index >= 0:
                current_char = lower_short[short_index]
                if not current_char.isalnum():
                    short_index -= 1
                    continue
                long_index = lower_long.rfind(current_char, 0, long_index + 1)
                if short_index == 0:  # the first character must start a word
                    while long_index > 0 and long_form[long_index - 1].isalnum():
                        long_index = lower_long.rfind(current_char, 0, long_index)
                if long_index < 0:
                    return None
                long_index -= 1
                short_index -= 1
        while short_index >= 0:  # scispaCy's loop (non-ASCII text; nothing left to do otherwise)
            current_char = short_form[short_index].lower()
            if not current_char.isalnum():
                short_index -= 1
                continue
            while (long_index >= 0 and long_form[long_index].lower() != current_char) or (
                short_index == 0 and long_index > 0 and long_form[long_index - 1].isalnum()
            ):
                long_index -= 1
            if long_index < 0:
                return None
            long_index -= 1
            short_index -= 1
        long_index += 1
        word_lengths = 0
        for i in range(*long):
            word_lengths += self.length[i] + self.spacy[i]  # len(token.text_with_ws)
            if word_lengths > long_index:
                return (i, long[1])
        return long  # scispaCy's span[None:]: the whole candidate


class FastAbbreviationDetector(AbbreviationDetector):
    """scispaCy's detector on token arrays (see module doc)."""

    def __init__(self, nlp: Language, name: str = "abbreviation_detector") -> None:
        super().__init__(nlp, name, make_serializable=True)
        self.open_id = nlp.vocab.strings.add("(")
        self.close_id = nlp.vocab.strings.add(")")
        self._direct_long_forms = self._long_form_is_plain_user_data(nlp)

    @staticmethod
    def _long_form_is_plain_user_data(nlp: Language) -> bool:
        """Whether ``span._.long_form = x`` just sets ``doc.user_data[("._.", "long_form",
        span.start_char, span.end_char)] = x`` (a plain attribute, no setter), as this probe
        checks. Then the entry is written directly, which skips a Span and an Underscore per use;
        otherwise the Span API is used."""
        probe = Doc(nlp.vocab, words=["(", "(", "((", ")"])  # "( ( (( ) ", no new lexemes
        probe[2:3]._.long_form = "probe"
        return list(probe.user_data.items()) == [(("._.", "long_form", 4, 6), "probe")]

    def _candidates(self, orth: numpy.ndarray) -> list[tuple[int, int, int]]:
        """(0, start, end) of each "(" ... ")" token span with 1..MAX_INSIDE tokens inside,
        brackets excluded, in the order spaCy's Matcher reports them (by end, then start)."""
        opens = numpy.flatnonzero(orth == self.open_id)
        if not len(opens):
            return []
        closes = numpy.flatnonzero(orth == self.close_id)
        los = numpy.searchsorted(opens, closes - MAX_INSIDE - 1).tolist()
        his = numpy.searchsorted(opens, closes - 1).tolist()
        opens_ = opens.tolist()
        return [(0, i + 1, k) for k, lo, hi in zip(closes.tolist(), los, his) for i in opens_[lo:hi]]

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            return doc
        toks = _Tokens(doc, self.open_id, self.close_id)
        out = []
        direct, user_data = self._direct_long_forms, doc.user_data
        for (long_start, long_end), shorts in self._occurrences(toks.filter_matches(self._candidates(toks.orth)), toks):
            long_text = toks.span_text(long_start, long_end)
            for start, end in shorts:
                # what scispaCy leaves there when serializable: span._.long_form = long_text
                if direct:
                    user_data[("._.", "long_form", *toks.chars(start, end))] = long_text
                else:
                    doc[start:end]._.long_form = long_text
                out.append({"short_text": toks.span_text(start, end), "short_start": start, "short_end": end,
                            "long_text": long_text, "long_start": long_start, "long_end": long_end})
        doc._.abbreviations = out
        return doc

    def _occurrences(self, filtered: list[tuple[Range, Range]], toks: _Tokens) -> list[tuple[Range, list[Range]]]:
        """scispaCy's ``find_matches_for``, with the short forms searched in the ORTH array."""
        rules: dict[str, tuple[Range, numpy.ndarray]] = {}
        occurrences: dict[Range, set[Range]] = {}
        seen_long: set[str] = set()
        seen_short: set[str] = set()
        orth = toks.orth
        for long_candidate, short in filtered:
            long = toks.find_abbreviation(long_candidate, short)
            if long is None:
                continue
            long_text, short_text = toks.span_text(*long), toks.span_text(*short)
            if long_text in seen_long or short_text in seen_short:
                continue
            seen_long.add(long_text)
            seen_short.add(short_text)
            occurrences.setdefault(long, set()).add(short)
            rules[long_text] = (long, orth[short[0]:short[1]].copy())
        n = len(orth)
        for long, pattern in rules.values():
            m = len(pattern)
            for s in numpy.flatnonzero(orth[: n - m + 1] == pattern[0]).tolist():
                if m == 1 or (orth[s:s + m] == pattern).all():
                    occurrences[long].add((s, s + m))
        return [(long, sorted(shorts)) for long, shorts in occurrences.items()]


@Language.factory("vdmine_abbreviations")
def make_abbreviations(nlp: Language, name: str) -> FastAbbreviationDetector:
    return FastAbbreviationDetector(nlp, name)
