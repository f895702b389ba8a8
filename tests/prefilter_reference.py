"""The plain computation that ``vdmine.nlp.prefilter.positions`` shortcuts, for the tests that
compare the two (design's number-start scan, doses' one-character scan)."""

from __future__ import annotations

import re

from vdmine.nlp import prefilter as pf


def start_positions(st: pf.Starts, text: str) -> list[int]:
    """Where a match described by ``st`` (after a non-word character, starting with one of
    ``st.lits`` or a digit) can begin: every non-word character followed by a start, by one flat
    lookahead over the folded text, plus 0 when the text itself begins with a start."""
    flat = re.compile(r"\W(?=" + "|".join([re.escape(x) for x in sorted(st.lits, key=len, reverse=True)] + [r"\d"]) + ")")
    folded = pf.fold(text)
    out = [m.end() for m in flat.finditer(folded)]
    if re.match(r"\d", folded) or any(folded.startswith(x) for x in st.lits):
        out.insert(0, 0)
    return out
