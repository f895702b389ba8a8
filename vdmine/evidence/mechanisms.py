"""Mechanism and delivery rows from stored tables, for outputs that lack them.

The ``mechanisms`` and ``delivery`` tables are filled in the extraction pass by the
``vdmine_mechanisms`` component (:mod:`vdmine.nlp.mechanisms`), one pass per document, and are
merged partition by partition like the other sentence tables. This module computes the same rows
from a ``papers`` table (plus its findings and conditions) with the same tokenizer, sentence
boundaries and component: the report and the claims check use it for an output folder written
before those tables existed, and tests use it to check the extraction's rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache

import pyarrow as pa
import spacy

from vdmine.nlp import mechanisms as cues
from vdmine.nlp.extract import bounded_vocab, chunks
from vdmine.records import Record
from vdmine.store.schemas import TABLES
from vdmine.store.tables import keep_pmids


@lru_cache(maxsize=1)
def _nlp():
    """Tokenizer, sentence boundaries and the mechanism cues only, as in the extraction pipeline
    (``make_tokenizer``, ``add_sentence_boundaries``), so ``sent_idx`` is the findings table's."""
    from vdmine.nlp.pipeline import add_sentence_boundaries
    from vdmine.nlp.tokenizer import make_tokenizer

    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    add_sentence_boundaries(nlp)
    nlp.add_pipe("vdmine_mechanisms")
    return nlp


SLICE = 2000  # papers turned into Python strings at a time
ZONE_DOCS = 500  # candidate papers tokenized per spaCy memory zone (see _add_rows)


def _candidates(papers: pa.Table) -> Iterator[tuple[str, str | None, str]]:
    """(pmid, design, text) of the papers whose text may match a cue, slice by slice."""
    for batch in papers.select(["pmid", "title", "abstract", "study_design"]).to_batches(max_chunksize=SLICE):
        cols = batch.to_pydict()
        for pmid, design, title, abstract in zip(cols["pmid"], cols["study_design"], cols["title"], cols["abstract"]):
            text = Record(pmid, title or "", abstract or "").text  # the text the extraction read
            if cues.may_match(text):
                yield pmid, design, text


def _by_pmid(table: pa.Table | None, columns: list[str], pmids: set[str]) -> dict[str, list[dict]]:
    """The rows of these pmids only, as dicts by pmid (filtered in Arrow: few rows become dicts)."""
    out: dict[str, list[dict]] = defaultdict(list)
    if table is not None and table.num_rows:
        for row in keep_pmids(table.select(columns), pmids).to_pylist():
            out[row["pmid"]].append(row)
    return out


def mechanism_and_delivery_rows(
    papers: pa.Table, findings: pa.Table | None = None, conditions: pa.Table | None = None
) -> tuple[pa.Table, pa.Table]:
    """(MECHANISMS table, DELIVERY table) of these papers, as the extraction pass makes them
    (:func:`vdmine.nlp.mechanisms.rows`), ``ZONE_DOCS`` candidate papers per spaCy memory zone."""
    nlp = _nlp()
    mech: list[dict] = []
    deliv: list[dict] = []
    for todo in chunks(_candidates(papers), ZONE_DOCS):
        pmids = {pmid for pmid, _, _ in todo}
        fs = _by_pmid(findings, ["pmid", "sent_idx", "section", "condition", "outcome", "direction", "hedged"], pmids)
        cs = _by_pmid(conditions, ["pmid", "canonical", "negated"], pmids)
        with bounded_vocab(nlp):  # rows leave the zone as plain Python values
            for (pmid, design, _), doc in zip(todo, nlp.pipe((t for _, _, t in todo), batch_size=64)):
                m, d = cues.rows(doc, pmid, design, fs.get(pmid), cs.get(pmid))
                mech += m
                deliv += d
    return (pa.Table.from_pylist(mech, schema=TABLES["mechanisms"]),
            pa.Table.from_pylist(deliv, schema=TABLES["delivery"]))
