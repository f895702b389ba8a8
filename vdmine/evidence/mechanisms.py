"""Mechanism and delivery sentences: claims in the seed that are not condition x outcome effects.

How vitamin D might act on pain (VDR, NGF, GDNF, opioid receptors, dorsal root ganglion neurons,
immune cells, cytokines) and how it is given (injectable hydrogel, intramuscular, oral, topical)
are sentence-level cue matches over title + abstract. The cue words are data
(mechanism_cues.tsv, delivery_cues.tsv, context_cues.tsv).

Sentences come from the same tokenizer and sentence boundaries (line breaks, then spaCy's
sentencizer rule) as the extraction pipeline, so ``sent_idx`` joins with the findings table on
``(pmid, sent_idx)``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import spacy
from spacy.matcher import PhraseMatcher
from spacy.tokens import Span
from spacy.util import filter_spans

from vdmine.evidence import data
from vdmine.evidence.map import SECTION_RANK
from vdmine.nlp.extract import bounded_vocab, chunks
from vdmine.store.schemas import TABLES


@lru_cache(maxsize=1)
def _nlp():
    """Tokenizer + sentence boundaries only, with one PhraseMatcher holding every cue vocabulary.
    Both are the extraction pipeline's own (``make_tokenizer``, ``add_sentence_boundaries``), so
    a row's ``sent_idx`` names the same sentence as in the findings table."""
    from vdmine.nlp.pipeline import add_sentence_boundaries
    from vdmine.nlp.tokenizer import make_tokenizer

    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    add_sentence_boundaries(nlp)
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    cue_info: dict[str, data.Cue] = {}
    for prefix, cues in (("M", data.mechanism_cues()), ("D", data.delivery_cues())):
        for i, c in enumerate(cues):
            key = f"{prefix}{i}"
            cue_info[key] = c
            matcher.add(key, [nlp.make_doc(c.cue)])
    for kind, words in data.context_cues().items():
        matcher.add(f"C:{kind}", [nlp.make_doc(w) for w in words])
    return nlp, matcher, cue_info


@lru_cache(maxsize=1)
def _prefilter_words() -> tuple[str, ...]:
    """The longest word of every mechanism/delivery cue, lower-cased: a text containing none of
    them cannot match a cue (a superset test by substring search, far cheaper than tokenizing)."""
    cues = [c.cue for c in data.mechanism_cues() + data.delivery_cues()]
    return tuple(sorted({max(re.split(r"\s+", c.lower()), key=len) for c in cues}))


def _may_match(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in _prefilter_words())


def _text(title: str | None, abstract: str | None) -> str:
    title, abstract = title or "", abstract or ""
    if title and abstract:
        return f"{title}\n{abstract}"
    return title or abstract


SLICE = 2000  # papers turned into Python strings at a time: memory follows this, not the corpus
ZONE_DOCS = 500  # candidate papers tokenized per spaCy memory zone (see _add_rows)


_PAPER_COLUMNS = ["pmid", "title", "abstract", "study_design"]


def _slices(papers: pa.Table | list[Path]) -> Iterator[pa.RecordBatch]:
    """The papers' text columns, SLICE rows at a time, from a table or from Parquet files (read
    lazily, in the order given: a run passes its partition files, so the text never sits in
    memory whole)."""
    if isinstance(papers, pa.Table):
        yield from papers.select(_PAPER_COLUMNS).to_batches(max_chunksize=SLICE)
        return
    for f in papers:
        yield from pq.ParquetFile(f).iter_batches(batch_size=SLICE, columns=_PAPER_COLUMNS)


def _candidates(papers: pa.Table | list[Path]) -> Iterator[tuple[str, str | None, str]]:
    """(pmid, design, text) of the papers whose text may match a cue, read slice by slice."""
    for batch in _slices(papers):
        cols = batch.to_pydict()
        for pmid, design, text in zip(cols["pmid"], cols["study_design"], map(_text, cols["title"], cols["abstract"])):
            if _may_match(text):
                yield pmid, design, text


def _scan(todo: list[tuple[str, str | None, str]]):
    """For the candidate papers (:func:`_candidates`), yield (pmid, design, sentences,
    [(prefix, cue, span, sent_idx)], context {kind: set(sent_idx)})."""
    nlp, matcher, cue_info = _nlp()
    docs = nlp.pipe((t for _, _, t in todo), batch_size=64)
    for (pmid, design, _), doc in zip(todo, docs):
        matches = matcher(doc)
        if not matches:
            continue
        sents = list(doc.sents)
        starts = [s.start for s in sents]
        context: dict[str, set[int]] = defaultdict(set)
        cue_spans = []
        for match_id, start, end in matches:
            key = nlp.vocab.strings[match_id]
            if key.startswith("C:"):
                context[key[2:]].add(bisect_right(starts, start) - 1)
            else:
                cue_spans.append(Span(doc, start, end, label=key))
        hits = [
            (s.label_[0], cue_info[s.label_], s, bisect_right(starts, s.start) - 1)
            for s in sorted(filter_spans(cue_spans), key=lambda s: s.start)
        ]
        yield pmid, design, sents, hits, context


def _only(table: pa.Table | None, pmids: set[str]) -> pa.Table | None:
    if table is None or not table.num_rows:
        return table
    return table.filter(pc.is_in(table.column("pmid"), value_set=pa.array(sorted(pmids), pa.string())))


_FINDING_COLUMNS = ["pmid", "sent_idx", "section", "condition", "outcome", "direction", "hedged"]
_CONDITION_COLUMNS = ["pmid", "canonical", "negated"]


def _paper_results(findings: pa.Table | None, conditions: pa.Table | None):
    """Per pmid: the findings (for the delivery result) and the condition names."""
    by_pmid: dict[str, list[dict]] = defaultdict(list)
    conds: dict[str, set[str]] = defaultdict(set)
    if findings is not None and findings.num_rows:
        for f in findings.select(_FINDING_COLUMNS).to_pylist():
            by_pmid[f["pmid"]].append(f)
            if f["condition"]:
                conds[f["pmid"]].add(f["condition"])
    if conditions is not None and conditions.num_rows:
        for c in conditions.select(_CONDITION_COLUMNS).to_pylist():
            if c["canonical"] and not c["negated"]:
                conds[c["pmid"]].add(c["canonical"])
    return by_pmid, conds


def _result(fs: list[dict], sent_idx: int) -> dict | None:
    usable = [f for f in fs if f["direction"] and f["direction"] != "unclear"]
    if not usable:
        return None
    return min(
        usable,
        key=lambda f: (
            f["sent_idx"] != sent_idx,
            SECTION_RANK.get((f["section"] or "other").lower(), 3),
            bool(f["hedged"]),
            f["sent_idx"],
        ),
    )


def mechanism_and_delivery_rows(
    papers: pa.Table | list[Path], findings: pa.Table | None = None, conditions: pa.Table | None = None
) -> tuple[pa.Table, pa.Table]:
    """Both sentence tables in one pass over the papers: (MECHANISMS table, DELIVERY table).

    Mechanism rows: every cue match (one per sentence and mechanism); ``pain_context`` says whether
    the sentence or a neighbouring one talks about pain. Delivery rows: only cue matches in a
    sentence that names vitamin D, with the paper's best finding as the result.
    """
    mech: list[dict] = []
    deliv: list[dict] = []
    _add_rows(papers, findings, conditions, mech, deliv)
    return _tables(mech, deliv)


def mechanism_and_delivery_rows_from_parts(
    parts: list[tuple[Path, Path | None, Path | None]]
) -> tuple[pa.Table, pa.Table]:
    """The same tables from pmid-partitioned Parquet files: (papers, findings, conditions) file of
    each partition, in partition order. One partition's findings and conditions are read at a
    time (only the columns used), so memory follows the largest partition, not the corpus."""
    mech: list[dict] = []
    deliv: list[dict] = []
    for papers_f, findings_f, conditions_f in parts:
        findings = pq.read_table(findings_f, columns=_FINDING_COLUMNS) if findings_f else None
        conditions = pq.read_table(conditions_f, columns=_CONDITION_COLUMNS) if conditions_f else None
        _add_rows([papers_f], findings, conditions, mech, deliv)
    return _tables(mech, deliv)


def _tables(mech: list[dict], deliv: list[dict]) -> tuple[pa.Table, pa.Table]:
    return (
        pa.Table.from_pylist(mech, schema=TABLES["mechanisms"]),
        pa.Table.from_pylist(deliv, schema=TABLES["delivery"]),
    )


def _add_rows(papers: pa.Table | list[Path], findings: pa.Table | None, conditions: pa.Table | None,
              mech: list[dict], deliv: list[dict]) -> None:
    """Rows of the candidate papers, ZONE_DOCS candidates at a time, each group inside a spaCy memory
    zone: the strings and lexemes of its words are dropped after it, so memory follows the group
    size, not the number of papers (the rows hold plain Python values only)."""
    nlp = _nlp()[0]
    for todo in chunks(_candidates(papers), ZONE_DOCS):
        with bounded_vocab(nlp):  # the pipeline's first group stays: its common words are kept
            _add_group_rows(todo, findings, conditions, mech, deliv)


def _add_group_rows(todo: list[tuple[str, str | None, str]], findings: pa.Table | None, conditions: pa.Table | None,
                    mech: list[dict], deliv: list[dict]) -> None:
    # findings and conditions only of the papers that may match a cue (few, even in a large store)
    maybe = {pmid for pmid, _, _ in todo}
    by_pmid, conds = _paper_results(_only(findings, maybe), _only(conditions, maybe))
    for pmid, design, sents, hits, context in _scan(todo):
        vit = context.get("vitamin_d", set())
        pain = context.get("pain", set())
        seen = set()
        for prefix, cue, span, si in hits:
            if (prefix, si, cue.canonical) in seen or (prefix == "D" and si not in vit):
                continue
            seen.add((prefix, si, cue.canonical))
            row = {
                "pmid": pmid,
                "sent_idx": si,
                "start_char": span.start_char,
                "end_char": span.end_char,
                "sentence": sents[si].text.strip(),
                "category": cue.category,
                "mesh_id": cue.mesh_id,
                "cue": span.text,
                "study_design": design,
            }
            if prefix == "M":
                row.update(
                    mechanism=cue.canonical,
                    vitd_in_sentence=si in vit,
                    pain_context=bool({si - 1, si, si + 1} & pain),
                )
                mech.append(row)
            else:
                res = _result(by_pmid.get(pmid, []), si)
                row.update(
                    delivery=cue.canonical,
                    conditions=sorted(conds.get(pmid, ())),
                    outcome=res["outcome"] if res else None,
                    direction=res["direction"] if res else None,
                    result_sent_idx=res["sent_idx"] if res else None,
                )
                deliv.append(row)


def mechanism_rows(papers: pa.Table) -> pa.Table:
    """The MECHANISMS table alone."""
    return mechanism_and_delivery_rows(papers)[0]


def delivery_rows(papers: pa.Table, findings: pa.Table | None = None, conditions: pa.Table | None = None) -> pa.Table:
    """The DELIVERY table alone."""
    return mechanism_and_delivery_rows(papers, findings, conditions)[1]
