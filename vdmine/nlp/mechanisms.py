"""The ``vdmine_mechanisms`` component: sentences that say how vitamin D might act on pain, or how
it is given, found in the extraction pass (one pass per document).

Claims in the seed that are not condition x outcome effects: mechanisms (VDR, NGF, GDNF, opioid
receptors, dorsal root ganglion neurons, immune cells, cytokines) and delivery (injectable
hydrogel, intramuscular, oral, topical). They are whole-token cue matches (a PhraseMatcher on
LOWER) over the Doc the other extractors read, so ``sent_idx`` is the findings table's own.
The cue words are data: ``lexicons/mechanism_cues.tsv``, ``delivery_cues.tsv`` and
``context_cues.tsv`` (words that name vitamin D, words that mean pain).

The component stores plain tuples in ``doc.user_data`` (picklable for worker processes); the
rows of the ``mechanisms`` and ``delivery`` tables are made by :func:`rows`, which also needs the
paper's findings and conditions rows (a delivery row carries the paper's conditions and best
finding) and its design.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from vdmine.nlp.lexicon import read_tsv

USER_DATA_KEY = "vdmine_mechanisms"  # (hits, context): see MechanismCues.__call__

# How well a finding's section speaks for the paper's result, best first (the delivery row's
# result, and the evidence map's representative sentence).
SECTION_RANK = {"conclusions": 0, "results": 1, "title": 2, "other": 3, "background": 4, "methods": 5}


@dataclass(frozen=True)
class Cue:
    cue: str
    canonical: str
    category: str
    mesh_id: str | None


def _cues(name: str) -> tuple[Cue, ...]:
    out = []
    for row in read_tsv(name):
        row = row + [""] * (4 - len(row))
        out.append(Cue(row[0].strip(), row[1].strip(), row[2].strip(), row[3].strip() or None))
    return tuple(out)


@lru_cache(maxsize=1)
def mechanism_cues() -> tuple[Cue, ...]:
    return _cues("mechanism_cues.tsv")


@lru_cache(maxsize=1)
def delivery_cues() -> tuple[Cue, ...]:
    return _cues("delivery_cues.tsv")


@lru_cache(maxsize=1)
def context_cues() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for row in read_tsv("context_cues.tsv"):
        out.setdefault(row[1].strip(), []).append(row[0].strip())
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=1)
def _cue_info() -> dict[str, Cue]:
    """Match key -> cue: "M<i>" for mechanism cues, "D<i>" for delivery cues."""
    info = {f"M{i}": c for i, c in enumerate(mechanism_cues())}
    info.update({f"D{i}": c for i, c in enumerate(delivery_cues())})
    return info


@lru_cache(maxsize=1)
def _prefilter_words() -> tuple[str, ...]:
    """The longest word of every mechanism/delivery cue, lower-cased: a text containing none of
    them cannot match a cue (a superset test by substring search, cheaper than tokenizing)."""
    cues = [c.cue for c in mechanism_cues() + delivery_cues()]
    return tuple(sorted({max(re.split(r"\s+", c.lower()), key=len) for c in cues}))


def may_match(text: str) -> bool:
    """Can ``text`` hold a cue? (Skips tokenizing stored papers that cannot: vdmine.evidence.mechanisms.)"""
    low = text.lower()
    return any(w in low for w in _prefilter_words())


class MechanismCues:
    """Finds mechanism and delivery cues, and the sentences that name vitamin D or pain."""

    def __init__(self, nlp: Language):
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for key, cue in _cue_info().items():
            self.matcher.add(key, [nlp.make_doc(cue.cue)])
        for kind, words in context_cues().items():
            self.matcher.add(f"C:{kind}", [nlp.make_doc(w) for w in words])

    def __call__(self, doc: Doc) -> Doc:
        """``doc.user_data[USER_DATA_KEY]`` = (hits, context) when a cue matches: hits are
        (key, sent_idx, start_char, end_char, cue text, sentence text), longest non-overlapping
        matches in text order; context is {kind: sorted sentence indices}."""
        # (no text prefilter: the PhraseMatcher over the whole Doc costs ~0.01 ms, less than a
        # substring test of the 80 cue words, which most abstracts pass anyway)
        doc.user_data.pop(USER_DATA_KEY, None)
        matches = self.matcher(doc)
        if not matches:
            return doc
        strings = doc.vocab.strings
        keyed = [(strings[match_id], start, end) for match_id, start, end in matches]
        if all(key.startswith("C:") for key, _, _ in keyed):
            return doc  # context words only: no rows
        sents = list(doc.sents)
        starts = [s.start for s in sents]
        context: dict[str, set[int]] = defaultdict(set)
        cue_spans = []
        for key, start, end in keyed:
            if key.startswith("C:"):
                context[key[2:]].add(bisect_right(starts, start) - 1)
            else:
                cue_spans.append(Span(doc, start, end, label=key))
        hits = []
        for s in sorted(filter_spans(cue_spans), key=lambda s: s.start):
            si = bisect_right(starts, s.start) - 1
            hits.append((s.label_, si, s.start_char, s.end_char, s.text, sents[si].text.strip()))
        doc.user_data[USER_DATA_KEY] = (hits, {k: sorted(v) for k, v in context.items()})
        return doc


@Language.factory("vdmine_mechanisms", default_config={})
def make_mechanisms(nlp: Language, name: str) -> MechanismCues:
    return MechanismCues(nlp)


def best_finding(findings: list[dict], sent_idx: int) -> dict | None:
    """The paper's finding that best states its result for a sentence: one with a direction, in
    that sentence if any, then by section (conclusions first), unhedged, earliest; ties by outcome,
    direction and condition name, so the choice does not depend on the order of the rows."""
    usable = [f for f in findings if f["direction"] and f["direction"] != "unclear"]
    if not usable:
        return None
    return min(
        usable,
        key=lambda f: (
            f["sent_idx"] != sent_idx,
            SECTION_RANK.get((f["section"] or "other").lower(), 3),
            bool(f["hedged"]),
            f["sent_idx"],
            f["outcome"] or "",
            f["direction"],
            f["condition"] or "",
        ),
    )


def rows(doc: Doc, pmid: str, study_design: str | None = None, findings: list[dict] | None = None,
         conditions: list[dict] | None = None) -> tuple[list[dict], list[dict]]:
    """Rows of the ``mechanisms`` and ``delivery`` tables for one processed Doc.

    Mechanism rows: one per sentence and mechanism; ``pain_context`` says whether the sentence or
    a neighbouring one talks about pain. Delivery rows: only in a sentence that names vitamin D,
    with the paper's conditions (findings' and non-negated mentions) and its best finding
    (:func:`best_finding`) as the result. ``findings`` and ``conditions`` are this paper's rows
    of those tables."""
    found = doc.user_data.get(USER_DATA_KEY)
    if not found:
        return [], []
    hits, context = found
    vit = set(context.get("vitamin_d", ()))
    pain = set(context.get("pain", ()))
    findings = findings or []
    info = _cue_info()
    conds: set[str] | None = None
    mech: list[dict] = []
    deliv: list[dict] = []
    seen = set()
    for key, si, start, end, cue_text, sentence in hits:
        prefix, cue = key[0], info[key]
        if (prefix, si, cue.canonical) in seen or (prefix == "D" and si not in vit):
            continue
        seen.add((prefix, si, cue.canonical))
        row = {
            "pmid": pmid,
            "sent_idx": si,
            "start_char": start,
            "end_char": end,
            "sentence": sentence,
            "category": cue.category,
            "mesh_id": cue.mesh_id,
            "cue": cue_text,
            "study_design": study_design,
        }
        if prefix == "M":
            row.update(mechanism=cue.canonical, vitd_in_sentence=si in vit,
                       pain_context=bool({si - 1, si, si + 1} & pain))
            mech.append(row)
            continue
        if conds is None:
            conds = {f["condition"] for f in findings if f["condition"]}
            conds |= {c["canonical"] for c in conditions or () if c["canonical"] and not c["negated"]}
        res = best_finding(findings, si)
        row.update(
            delivery=cue.canonical,
            conditions=sorted(conds),
            outcome=res["outcome"] if res else None,
            direction=res["direction"] if res else None,
            result_sent_idx=res["sent_idx"] if res else None,
        )
        deliv.append(row)
    return mech, deliv
