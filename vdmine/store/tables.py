"""Typed rows -> Arrow tables, and merging a run's rows into the existing tables.

Merging rules (what makes re-runs idempotent):

* ``papers``: one row per pmid; the highest PubMed version wins; an equal version replaces the
  old row (a re-fetch); ``DeleteCitation`` removes the pmid from every table.
* sentence-level tables: all rows of a re-extracted pmid are replaced together, never appended.
* ``quarantine``: deduplicated on (record_id, source, stage, reason), so re-running the same
  input does not grow it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import asdict

import pyarrow as pa
import pyarrow.compute as pc

from vdmine import __version__
from vdmine.records import Quarantined, Record
from vdmine.store.dataset import pmid_sort_key
from vdmine.store.schemas import TABLES

SENTENCE_TABLES = ("conditions", "exposures", "doses", "findings")
EXTRACTION_FIELDS = ("study_design", "study_design_evidence", "sample_size", "sample_size_evidence")


def content_hash(r: Record) -> str:
    h = hashlib.sha256()
    for part in (r.title, r.abstract, "|".join(r.pub_types)):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def paper_row(r: Record, retrieved_at: dt.datetime, fields: dict | None = None) -> dict:
    fields = fields or {}
    return {
        "pmid": r.pmid,
        "version": r.version,
        "title": r.title,
        "abstract": r.abstract,
        "abstract_sections": [asdict(s) for s in r.sections],
        "journal": r.journal,
        "year": r.year,
        "language": r.language,
        "pub_types": list(r.pub_types),
        "mesh": [asdict(m) for m in r.mesh],
        "keywords": list(r.keywords),
        "doi": r.doi,
        "pmcid": r.pmcid,
        "source": r.source,
        "retrieved_at": retrieved_at,
        "vdmine_version": __version__,
        "study_design": fields.get("study_design"),
        "study_design_evidence": fields.get("study_design_evidence"),
        "sample_size": fields.get("sample_size"),
        "sample_size_evidence": fields.get("sample_size_evidence"),
        "content_hash": content_hash(r),
    }


def quarantine_row(q: Quarantined, at: dt.datetime) -> dict:
    return {"record_id": q.record_id, "source": q.source, "stage": q.stage, "reason": q.reason,
            "snippet": (q.snippet or "")[:500], "quarantined_at": at}


def to_table(name: str, rows: Iterable[dict]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=TABLES[name])


def _sort(name: str, table: pa.Table) -> pa.Table:
    """Stable, content-only order so that the same rows always give the same bytes."""
    if table.num_rows == 0:
        return table
    cols = table.column_names
    rows = table.to_pylist()
    if "pmid" in cols:
        def key(r: dict) -> tuple:
            return (pmid_sort_key(r["pmid"]), r.get("sent_idx") or 0, r.get("start_char") or 0,
                    str(r.get("end_char")), str(r.get("text") or r.get("outcome") or ""), str(sorted(r.items(), key=lambda kv: kv[0])))
    elif name == "quarantine":
        def key(r: dict) -> tuple:
            return (str(r["source"]), str(r["record_id"]), r["stage"], r["reason"])
    else:
        return table
    return pa.Table.from_pylist(sorted(rows, key=key), schema=table.schema)


def drop_pmids(table: pa.Table, pmids: set[str]) -> pa.Table:
    if not pmids or table.num_rows == 0:
        return table
    mask = pc.invert(pc.is_in(table.column("pmid"), value_set=pa.array(sorted(pmids), pa.string())))
    return table.filter(mask)


def merge_sentence_table(name: str, old: pa.Table, new_rows: list[dict], replaced: set[str], deleted: set[str]) -> pa.Table:
    kept = drop_pmids(old, replaced | deleted)
    merged = pa.concat_tables([kept, to_table(name, new_rows)]) if new_rows else kept
    return _sort(name, merged)


def merge_papers(old: pa.Table, new_rows: list[dict], deleted: set[str]) -> tuple[pa.Table, dict]:
    """Upsert papers; returns the table and counts of new/updated/unchanged/deleted pmids."""
    existing = {r["pmid"]: r for r in old.to_pylist()}
    stats = {"new": 0, "updated": 0, "unchanged": 0, "deleted": 0, "stale": 0}
    for pmid in deleted:
        if existing.pop(pmid, None) is not None:
            stats["deleted"] += 1
    for row in new_rows:
        prev = existing.get(row["pmid"])
        if prev is None:
            stats["new"] += 1
        elif prev["version"] > row["version"]:
            stats["stale"] += 1  # an older version arrived: the newer one stays
            continue
        elif prev["content_hash"] == row["content_hash"] and prev["version"] == row["version"]:
            # Same record again: keep its first retrieval time (re-running a night changes nothing),
            # take only the extraction fields, which a new extractor may have changed.
            stats["unchanged"] += 1
            kept = dict(prev)
            kept.update({k: row[k] for k in EXTRACTION_FIELDS})
            existing[row["pmid"]] = kept
            continue
        else:
            stats["updated"] += 1
        existing[row["pmid"]] = row
    rows = [existing[k] for k in sorted(existing, key=pmid_sort_key)]
    return pa.Table.from_pylist(rows, schema=TABLES["papers"]), stats


def merge_quarantine(old: pa.Table, new_rows: list[dict]) -> pa.Table:
    seen = {}
    for r in old.to_pylist() + new_rows:
        key = (r["record_id"], r["source"], r["stage"], r["reason"])
        seen.setdefault(key, r)  # keep the first time it was seen
    return _sort("quarantine", pa.Table.from_pylist(list(seen.values()), schema=TABLES["quarantine"]))
