"""Cheap access to a Doc's text.

spaCy rebuilds ``Doc.text`` by joining every token on each access (~0.2 ms for an abstract), and
several components read it, so it is built once per Doc and kept in ``doc.user_data`` (a plain
string: survives ``Doc.to_bytes`` and therefore spaCy's multiprocessing). Tokens never change
the text they cover (retokenizing merges/splits keep it), so the cached copy stays valid.
"""

from __future__ import annotations

from spacy.tokens import Doc

TEXT_KEY = "vdmine.text"


def doc_text(doc: Doc) -> str:
    """``doc.text``, computed at most once per Doc."""
    text = doc.user_data.get(TEXT_KEY)
    if text is None:
        text = doc.text
        doc.user_data[TEXT_KEY] = text
    return text
