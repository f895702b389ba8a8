"""The job's steps as plain, typed functions; ``flows/`` wires them into Prefect flows.

record source -> :func:`collect` -> :func:`extract` -> :func:`commit` (-> report)

Fetching from E-utilities stages each raw EFetch batch on disk under the output folder
(:func:`fetch_batch_to`), so an interrupted run resumes without fetching those batches again,
and a batch that cannot be fetched fails the run before any table changes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from vdmine import __version__
from vdmine.config import Config
from vdmine.nlp.extract import DocRows, extract_records
from vdmine.progress import Progress
from vdmine.pubmed.eutils import EutilsClient
from vdmine.pubmed.xml import Item, iter_pubmed_xml
from vdmine.records import Deletion, Quarantined, Record
from vdmine.store.dataset import Store
from vdmine.store.tables import (
    SENTENCE_TABLES,
    content_hash,
    merge_papers,
    merge_quarantine,
    merge_sentence_table,
    paper_row,
    quarantine_row,
    to_table,
)

log = logging.getLogger("vdmine")


@dataclass
class Collected:
    """What a run read: the newest version of each record, deletions, and quarantined items."""

    records: dict[str, Record] = field(default_factory=dict)
    deletions: set[str] = field(default_factory=set)
    quarantined: list[Quarantined] = field(default_factory=list)
    seen: int = 0


def collect(items: Iterable[Item], into: Collected | None = None) -> Collected:
    """Gather items; within a run the highest version of a pmid wins (later wins on a tie)."""
    out = into or Collected()
    for item in items:
        if isinstance(item, Record):
            out.seen += 1
            prev = out.records.get(item.pmid)
            if prev is None or item.version >= prev.version:
                out.records[item.pmid] = item
            out.deletions.discard(item.pmid)
        elif isinstance(item, Deletion):
            out.deletions.add(item.pmid)
            out.records.pop(item.pmid, None)
        else:
            out.quarantined.append(item)
    return out


def extractor_fingerprint(cfg: Config) -> str:
    """Changes whenever extraction output could change: code version, lexicons, NLP config."""
    h = hashlib.sha256(__version__.encode())
    lex = resources.files("vdmine.nlp") / "lexicons"
    for entry in sorted(lex.iterdir(), key=lambda p: p.name):
        if entry.is_file():
            h.update(entry.name.encode())
            h.update(entry.read_bytes())
    for mod in ("conditions", "exposures", "doses", "design", "findings", "tokenizer", "extract", "pipeline"):
        src = resources.files("vdmine.nlp") / f"{mod}.py"
        if src.is_file():
            h.update(src.read_bytes())
    h.update(json.dumps([cfg.nlp.model, cfg.nlp.vocabularies, cfg.exposure.name, cfg.exposure.lexicon,
                         cfg.exposure.co_interventions], sort_keys=True).encode())
    return h.hexdigest()[:16]


def stored_records(store: Store, exclude: set[str]) -> list[Record]:
    """Papers already in the store, as records (to re-extract them when the extractor changes)."""
    from vdmine.records import MeshHeading, Section

    out = []
    for r in store.read("papers").to_pylist():
        if r["pmid"] in exclude:
            continue
        out.append(Record(
            pmid=r["pmid"], version=r["version"], title=r["title"] or "", abstract=r["abstract"] or "",
            sections=[Section(**s) for s in r["abstract_sections"] or []], journal=r["journal"], year=r["year"],
            language=r["language"], pub_types=list(r["pub_types"] or []),
            mesh=[MeshHeading(**m) for m in r["mesh"] or []], keywords=list(r["keywords"] or []),
            doi=r["doi"], pmcid=r["pmcid"], source=r["source"] or "",
        ))
    return out


def records_to_extract(store: Store, collected: Collected, fingerprint: str) -> tuple[list[Record], dict[str, dict]]:
    """Which records need the NLP pipeline in this run.

    New or changed records always; unchanged ones are skipped (their rows stay) unless the
    extractor fingerprint changed, in which case every stored paper is re-extracted too.
    Returns (records to extract, paper fields kept from the previous extraction).
    """
    state = store.load_state()
    if not store.has("papers"):
        return list(collected.records.values()), {}
    if state.get("extractor_fingerprint") != fingerprint:
        return list(collected.records.values()) + stored_records(store, set(collected.records) | collected.deletions), {}
    old = {r["pmid"]: r for r in store.read("papers").select(
        ["pmid", "version", "content_hash", "study_design", "study_design_evidence", "sample_size", "sample_size_evidence"]).to_pylist()}
    todo, kept = [], {}
    for rec in collected.records.values():
        prev = old.get(rec.pmid)
        if prev and prev["version"] == rec.version and prev["content_hash"] == content_hash(rec):
            kept[rec.pmid] = {k: prev[k] for k in ("study_design", "study_design_evidence", "sample_size", "sample_size_evidence")}
        else:
            todo.append(rec)
    return todo, kept


def extract(nlp, records: list[Record], batch_size: int = 64, n_process: int = 1,
            show_progress: bool = True) -> tuple[list[DocRows], list[Quarantined]]:
    """Run the NLP pipeline over records (progress shown), splitting results from failures."""
    done: list[DocRows] = []
    failed: list[Quarantined] = []
    bar = Progress("extracting", total=len(records), enabled=show_progress)
    for out in extract_records(nlp, records, batch_size=batch_size, n_process=n_process):
        (failed if isinstance(out, Quarantined) else done).append(out)
        bar.advance()
    bar.close()
    return done, failed


@dataclass
class RunSummary:
    run_id: str
    flow: str
    query: str
    status: str = "completed"
    found: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    extracted: int = 0
    with_findings: int = 0
    window_start: str | None = None
    window_end: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    finished_at: dt.datetime | None = None
    extractor_version: str = ""
    message: str = ""

    def text(self) -> str:
        secs = ((self.finished_at or dt.datetime.now(dt.timezone.utc)) - self.started_at).total_seconds()
        return (f"vdmine {self.flow} {self.run_id} {self.status} in {secs:.1f}s: {self.found} found, "
                f"{self.fetched} read, {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.deleted} deleted, {self.quarantined} quarantined, {self.extracted} extracted, "
                f"{self.with_findings} with findings.")

    def row(self) -> dict:
        fin = self.finished_at or dt.datetime.now(dt.timezone.utc)
        return {
            "run_id": self.run_id, "flow": self.flow, "query": self.query, "window_start": self.window_start,
            "window_end": self.window_end, "started_at": self.started_at, "finished_at": fin, "status": self.status,
            "found": self.found, "fetched": self.fetched, "new": self.new, "updated": self.updated,
            "deleted": self.deleted, "quarantined": self.quarantined, "extracted": self.extracted,
            "vdmine_version": __version__, "extractor_version": self.extractor_version,
            "duration_s": (fin - self.started_at).total_seconds(), "message": self.message or self.text(),
        }


@contextmanager
def failure_recorded(store: Store, summary: RunSummary) -> Iterator[None]:
    """If the run fails, add a 'failed' row to ``runs`` (and nothing else: the data tables stay
    exactly as the previous run left them), then let the error go on."""
    try:
        yield
    except BaseException as exc:
        from vdmine.pubmed.eutils import redact

        summary.status = "failed"
        summary.finished_at = dt.datetime.now(dt.timezone.utc)
        summary.message = redact(f"{type(exc).__name__}: {exc}")[:2000]
        try:
            # one row per run: a run that failed after its commit (say, in the report) is re-marked
            runs = [r for r in store.read("runs").to_pylist() if r["run_id"] != summary.run_id]
            store.commit({"runs": to_table("runs", runs + [summary.row()])})
        except Exception as inner:  # e.g. the disk is full: the error that matters is the first one
            log.warning("could not record the failed run in the runs table: %s", inner)
        raise


def new_summary(flow: str, query: str) -> RunSummary:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return RunSummary(run_id=f"{stamp}-{uuid.uuid4().hex[:6]}", flow=flow, query=query)


def derived_tables(tables: dict) -> dict:
    """evidence_map, mechanisms and delivery, computed from this run's merged tables."""
    from vdmine.evidence.map import build_evidence_map
    from vdmine.evidence.mechanisms import mechanism_and_delivery_rows

    mech, deliv = mechanism_and_delivery_rows(tables["papers"], tables["findings"], tables["conditions"])
    emap = build_evidence_map(tables["papers"], tables["findings"], tables["doses"])
    return {"evidence_map": emap, "mechanisms": mech, "delivery": deliv}


def commit(store: Store, collected: Collected, docs: list[DocRows], failed: list[Quarantined],
           kept_fields: dict[str, dict], summary: RunSummary, fingerprint: str,
           with_evidence: bool = True) -> RunSummary:
    """Merge this run into the tables and publish them, derived tables included, as one atomic
    snapshot; record the run."""
    now = dt.datetime.now(dt.timezone.utc)
    fields = dict(kept_fields)
    fields.update({d.pmid: d.paper_fields for d in docs})
    paper_rows = [paper_row(r, now, fields.get(r.pmid)) for r in collected.records.values()]
    papers, stats = merge_papers(store.read("papers"), paper_rows, collected.deletions)
    refreshed = {d.pmid for d in docs} - set(collected.records)
    if refreshed:  # stored papers re-extracted by a new extractor: new design/sample-size fields
        rows = papers.to_pylist()
        for row in rows:
            if row["pmid"] in refreshed:
                row.update(fields[row["pmid"]])
        papers = to_table("papers", rows)
    # A pmid whose stored version is newer than what arrived keeps its old extraction.
    current_versions = dict(zip(papers.column("pmid").to_pylist(), papers.column("version").to_pylist()))
    extracted = {d.pmid for d in docs
                 if d.pmid in refreshed or current_versions.get(d.pmid) == collected.records[d.pmid].version}
    tables = {"papers": papers}
    for name in SENTENCE_TABLES:
        rows = [row for d in docs if d.pmid in extracted for row in getattr(d, name)]
        tables[name] = merge_sentence_table(name, store.read(name), rows, extracted, collected.deletions)
    quarantined = collected.quarantined + failed
    tables["quarantine"] = merge_quarantine(store.read("quarantine"), [quarantine_row(q, now) for q in quarantined])
    summary.fetched = collected.seen
    summary.new, summary.updated, summary.unchanged, summary.deleted = stats["new"], stats["updated"], stats["unchanged"], stats["deleted"]
    summary.quarantined = len(quarantined)
    summary.extracted = len(extracted)
    summary.with_findings = len(set(tables["findings"].column("pmid").to_pylist())) if tables["findings"].num_rows else 0
    summary.extractor_version = fingerprint
    summary.finished_at = dt.datetime.now(dt.timezone.utc)
    changed = bool(stats["new"] or stats["updated"] or stats["deleted"] or extracted or not store.has("evidence_map"))
    if with_evidence and changed:  # derived tables go into the same snapshot, so they always match the findings
        tables.update(derived_tables(tables))
    runs = store.read("runs").to_pylist() + [summary.row()]
    tables["runs"] = to_table("runs", runs)
    store.commit(tables)
    state = store.load_state()
    state["extractor_fingerprint"] = fingerprint
    state["last_run"] = summary.run_id
    store.save_state(state)
    return summary


# -- incremental windows -----------------------------------------------------------------------

def query_key(query: str) -> str:
    return hashlib.sha256(query.strip().encode()).hexdigest()[:12]


def plan_window(store: Store, cfg: Config, today: dt.date | None = None, full: bool = False) -> tuple[str, str, bool]:
    """The date window of this run: (mindate, maxdate, incremental?).

    An explicit ``[query] mindate/maxdate`` is fetched as given. Otherwise the first run fetches
    everything and later runs fetch what was added or revised since the last successful window
    end, minus ``overlap_days``, up to today.
    """
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if cfg.query.mindate or cfg.query.maxdate:
        return cfg.query.mindate, cfg.query.maxdate, False
    last = store.load_state().get("queries", {}).get(query_key(cfg.query.pubmed), {}).get("window_end")
    if full or not last:
        return "", "", False
    start = dt.datetime.strptime(last, "%Y/%m/%d").date() - dt.timedelta(days=cfg.query.overlap_days)
    return start.strftime("%Y/%m/%d"), today.strftime("%Y/%m/%d"), True


def search_window(client: EutilsClient, cfg: Config, mindate: str, maxdate: str, incremental: bool) -> tuple[int, list[str]]:
    """ESearch for the run's window: added (edat) or revised (mdat) records when incremental."""
    if not incremental:
        return client.search_ids(cfg.query.pubmed, mindate=mindate, maxdate=maxdate, max_records=cfg.query.max_records)
    found_e, added = client.search_ids(cfg.query.pubmed, mindate=mindate, maxdate=maxdate, datetype="edat")
    found_m, revised = client.search_ids(cfg.query.pubmed, mindate=mindate, maxdate=maxdate, datetype="mdat")
    ids = sorted(set(added) | set(revised), key=lambda p: (len(p), p))
    if cfg.query.max_records:
        ids = ids[: cfg.query.max_records]
    return len(set(added) | set(revised)), ids


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y/%m/%d")


def mark_window(store: Store, cfg: Config, window_end: str, run_id: str) -> None:
    """Remember the end of the last successful window of this query (after the commit)."""
    state = store.load_state()
    state.setdefault("queries", {})[query_key(cfg.query.pubmed)] = {
        "query": cfg.query.pubmed, "window_end": window_end, "run_id": run_id}
    store.save_state(state)


# -- E-utilities staging (resume) ------------------------------------------------------------

def run_key(query: str, mindate: str, maxdate: str, ids: list[str]) -> str:
    """Identifies one fetch job: the same query, window and id set resume the same staging."""
    h = hashlib.sha256(json.dumps([query, mindate, maxdate, ids]).encode())
    return h.hexdigest()[:16]


def batch_path(staging: Path, index: int) -> Path:
    return staging / f"batch-{index:06d}.xml.gz"


def fetch_batch_to(client: EutilsClient, ids: list[str], path: Path) -> tuple[Path, int]:
    """EFetch one batch into ``path`` (atomically); skipped when already staged. Returns (path, bytes)."""
    if path.exists():
        return path, 0
    body = client.efetch(ids)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with gzip.open(tmp, "wb", compresslevel=3) as fh:
        fh.write(body)
    os.replace(tmp, path)
    return path, len(body)


def read_staged(paths: list[Path], expected: list[list[str]]) -> Collected:
    """Parse staged batches; a requested pmid that EFetch did not return is quarantined, not lost."""
    out = Collected()
    for path, ids in zip(paths, expected):
        before = set(out.records)
        collect(iter_pubmed_xml(path, name="eutils"), into=out)
        got = set(out.records) - before
        for pmid in ids:
            if pmid not in got and pmid not in out.records and pmid not in out.deletions:
                out.quarantined.append(Quarantined(pmid, f"eutils:{path.name}", "fetch", "requested from EFetch but not returned"))
    return out


