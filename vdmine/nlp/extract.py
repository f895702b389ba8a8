"""Records -> spaCy Docs -> typed rows, one pass per document.

Each extractor module exposes ``rows(doc, pmid) -> list[dict]`` whose dicts match its table's
schema in :mod:`vdmine.store.schemas`; :mod:`vdmine.nlp.design` also exposes
``paper_fields(doc, pub_types) -> dict`` for the design and sample-size columns of ``papers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from spacy.language import Language

from vdmine.nlp import conditions, design, doses, exposures, findings
from vdmine.records import Quarantined, Record


@dataclass
class DocRows:
    """Everything extracted from one record."""

    pmid: str
    paper_fields: dict = field(default_factory=dict)
    conditions: list[dict] = field(default_factory=list)
    exposures: list[dict] = field(default_factory=list)
    doses: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)


def doc_rows(doc, record: Record) -> DocRows:
    """Turn one processed Doc into rows (pure function of the Doc and the record)."""
    fields = design.paper_fields(doc, record.pub_types)
    out = DocRows(
        pmid=record.pmid,
        paper_fields=fields,
        conditions=conditions.rows(doc, record.pmid),
        exposures=exposures.rows(doc, record.pmid),
        doses=doses.rows(doc, record.pmid),
    )
    out.findings = findings.rows(doc, record.pmid, study_design=fields.get("study_design"))
    return out


def _quarantine(record: Record, exc: Exception) -> Quarantined:
    return Quarantined(record.pmid, record.source, "extract", f"{type(exc).__name__}: {exc}", record.text[:500])


def _one(nlp: Language, record: Record) -> DocRows | Quarantined:
    try:
        return doc_rows(nlp(record.text), record)
    except Exception as exc:  # one bad document must not stop the run
        return _quarantine(record, exc)


def extract_records(
    nlp: Language, records: Iterable[Record], batch_size: int = 64, n_process: int = 1
) -> Iterator[DocRows | Quarantined]:
    """Run the pipeline over records, one pass per document, in input order.

    Work goes in chunks of ``batch_size``; if spaCy fails inside a chunk, that chunk is redone one
    document at a time so the culprit is quarantined and no record is emitted twice or lost.
    """
    chunk: list[Record] = []

    def flush() -> list[DocRows | Quarantined]:
        out: list[DocRows | Quarantined] = []
        try:
            pairs = ((r.text, r) for r in chunk)
            for doc, record in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process):
                try:
                    out.append(doc_rows(doc, record))
                except Exception as exc:
                    out.append(_quarantine(record, exc))
        except Exception:
            out = [_one(nlp, r) for r in chunk]
        return out

    for record in records:
        chunk.append(record)
        if len(chunk) >= batch_size * max(1, n_process):
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()
