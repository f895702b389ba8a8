"""Typed rows -> Arrow tables, and merging a run's rows into the existing tables.

Merging rules (what makes re-runs idempotent):

* ``papers``: one row per pmid; the highest PubMed version wins; an equal version replaces the
  old row (a re-fetch); ``DeleteCitation`` removes the pmid from every table.
* sentence-level tables: all rows of a re-extracted pmid are replaced together, never appended.
* ``quarantine``: deduplicated on (record_id, source, stage, reason), so re-running the same
  input does not grow it.

A run applies these rules partition by partition in Arrow (``merge_papers_part``,
``merge_sentence_table``, ``drop_pmids``/``keep_pmids`` as ``pc.is_in`` filters, ``sort_rows`` with
``pc.sort_indices``); ``merge_papers`` is the same upsert on Python rows, for small tables.
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
from vdmine.store.schemas import TABLES

SENTENCE_TABLES = ("conditions", "exposures", "doses", "findings", "mechanisms", "delivery")
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


_SORTABLE = (pa.types.is_string, pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_timestamp)


def sort_rows(name: str, table: pa.Table) -> pa.Table:
    """Stable, content-only order, so that the same rows always give the same bytes.

    Tables keyed by pmid: numeric pmids by value (before other ids), then sent_idx, start_char,
    end_char, then every other scalar column in schema order; rows equal on all of these keep
    their input order (Arrow's sort is stable), which is the extractor's order for one document.
    The sort runs in Arrow, not on Python rows.
    """
    if table.num_rows <= 1:
        return table
    cols = table.column_names
    if "pmid" in cols:
        pmid = table.column("pmid")
        numeric = pc.fill_null(pc.match_substring_regex(pmid, r"^[0-9]{1,18}$"), False)
        keyed = table.append_column("__other", pc.invert(numeric)).append_column(
            "__num", pc.cast(pc.if_else(numeric, pmid, "0"), pa.int64()))
        first = ["__other", "__num", "pmid"] + [c for c in ("sent_idx", "start_char", "end_char") if c in cols]
        rest = [f.name for f in table.schema if f.name not in first and any(t(f.type) for t in _SORTABLE)]
        idx = pc.sort_indices(keyed, sort_keys=[(c, "ascending") for c in first + rest])
        return table.take(idx)
    if name == "quarantine":
        rows = table.to_pylist()
        rows.sort(key=lambda r: (str(r["source"]), str(r["record_id"]), r["stage"], r["reason"]))
        return pa.Table.from_pylist(rows, schema=table.schema)
    return table


def _values(pmids) -> pa.Array:
    if isinstance(pmids, pa.ChunkedArray):
        return pmids.combine_chunks()
    return pmids if isinstance(pmids, pa.Array) else pa.array(sorted(pmids), pa.string())


def drop_pmids(table: pa.Table, pmids) -> pa.Table:
    """The rows whose pmid is not in ``pmids`` (a set, list or Arrow array of strings)."""
    if len(pmids) == 0 or table.num_rows == 0:
        return table
    values = _values(pmids)
    return table.filter(pc.invert(pc.is_in(table.column("pmid"), value_set=values)))


def keep_pmids(table: pa.Table, pmids) -> pa.Table:
    """The rows whose pmid is in ``pmids``."""
    if len(pmids) == 0 or table.num_rows == 0:
        return table.slice(0, 0)
    values = _values(pmids)
    return table.filter(pc.is_in(table.column("pmid"), value_set=values))


def merge_sentence_table(name: str, old: pa.Table, new, replaced, deleted) -> pa.Table:
    """All rows of a replaced or deleted pmid go; the new rows (dicts or an Arrow table) come in."""
    kept = drop_pmids(old, set(replaced) | set(deleted))
    if not isinstance(new, pa.Table):
        new = to_table(name, new)
    merged = pa.concat_tables([kept, new.cast(kept.schema)]) if new.num_rows else kept
    return sort_rows(name, merged)


def merge_papers_part(old: pa.Table, replace: pa.Table, refresh: pa.Table, deleted) -> pa.Table:
    """The Arrow form of the papers upsert, for one partition, once the run has decided per pmid:
    ``replace`` rows (new or updated pmids) are taken whole; for ``refresh`` rows (same record
    re-extracted) only the extraction fields are taken, the stored row keeps the rest (its first
    retrieved_at); ``deleted`` pmids go. Every pmid of ``refresh`` must be in ``old``."""
    refresh = refresh.sort_by("pmid")
    kept = drop_pmids(old, set(replace.column("pmid").to_pylist()) | set(refresh.column("pmid").to_pylist()) | set(deleted))
    parts = [kept]
    if refresh.num_rows:
        stored = keep_pmids(old, refresh.column("pmid")).sort_by("pmid")
        if not stored.column("pmid").equals(refresh.column("pmid")):
            raise ValueError("papers: a refreshed pmid is not stored")
        for col in EXTRACTION_FIELDS:
            stored = stored.set_column(stored.schema.get_field_index(col), col, refresh.column(col))
        parts.append(stored)
    if replace.num_rows:
        parts.append(replace.cast(old.schema))
    return sort_rows("papers", pa.concat_tables(parts))


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
    return sort_rows("papers", pa.Table.from_pylist(list(existing.values()), schema=TABLES["papers"])), stats


def merge_quarantine(old: pa.Table, new_rows: list[dict]) -> pa.Table:
    seen = {}
    for r in old.to_pylist() + new_rows:
        key = (r["record_id"], r["source"], r["stage"], r["reason"])
        seen.setdefault(key, r)  # keep the first time it was seen
    return sort_rows("quarantine", pa.Table.from_pylist(list(seen.values()), schema=TABLES["quarantine"]))
