"""The job's steps as plain, typed functions; ``flows/`` wires them into Prefect flows.

record source -> :func:`stage` (read, extract, stage rows on disk, batch by batch) -> :func:`commit`
(merge partition by partition, one atomic snapshot) (-> report)

Memory follows ``[run] batch_records``, not the size of the input or of the store: each batch's
rows are written as delta files (Arrow IPC) under ``OUT/.vdmine/work/`` and dropped; what stays in
memory is one small tuple per pmid of the run (version, batch, kind) and the quarantined items.

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
import shutil
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vdmine import __version__
from vdmine.config import Config
from vdmine.nlp.extract import DocRows, bounded_vocab, extract_records
from vdmine.progress import Progress
from vdmine.pubmed.eutils import EutilsClient
from vdmine.pubmed.xml import Item, iter_pubmed_xml
from vdmine.records import Deletion, Quarantined, Record
from vdmine.store.dataset import PartitionMerge, Store, bucket_of, group_by_bucket
from vdmine.store.schemas import TABLES
from vdmine.store.tables import (
    SENTENCE_TABLES,
    content_hash,
    keep_pmids,
    merge_papers_part,
    merge_quarantine,
    merge_sentence_table,
    paper_row,
    quarantine_row,
    to_table,
)

log = logging.getLogger("vdmine")


def extractor_fingerprint(cfg: Config) -> str:
    """Changes whenever extraction output could change: code version, lexicons, NLP config."""
    h = hashlib.sha256(__version__.encode())
    lex = resources.files("vdmine.nlp") / "lexicons"
    for entry in sorted(lex.iterdir(), key=lambda p: p.name):
        if entry.is_file():
            h.update(entry.name.encode())
            h.update(entry.read_bytes())
    # every module of vdmine.nlp (extractors, tokenizer, prefilters, abbreviations, rules), so a
    # new helper module cannot be forgotten here
    for src in sorted(resources.files("vdmine.nlp").iterdir(), key=lambda p: p.name):
        if src.is_file() and src.name.endswith(".py"):
            h.update(src.name.encode())
            h.update(src.read_bytes())
    h.update(json.dumps([cfg.nlp.model, cfg.nlp.vocabularies, cfg.exposure.name, cfg.exposure.lexicon,
                         cfg.exposure.co_interventions], sort_keys=True).encode())
    return h.hexdigest()[:16]


# -- staging: read, extract and stage a run batch by batch ------------------------------------

# What a run does with a pmid (its "kind"). Extracted kinds get new rows in this run.
NEW, UPDATED, SAME, SAME_X, STALE, DELETED, REFRESH = (
    "new", "updated", "unchanged", "unchanged-reextracted", "stale", "deleted", "refreshed")
EXTRACTED_KINDS = (NEW, UPDATED, SAME_X, REFRESH)

ExtractBatches = Callable[[Iterable[list[Record]]], Iterator[tuple[list[DocRows], list[Quarantined]]]]


@dataclass
class Staged:
    """What a run read, kept small: extracted rows are in delta files (Arrow IPC) under ``work`` (one
    per table, pmid partition and batch); in memory stays one tuple per pmid, (version, batch,
    kind), so that within a run the highest version of a pmid wins (the later one on a tie) and a
    DeleteCitation removes it, wherever in the input they come. :func:`commit` consumes it: it
    empties ``pmids``, ``failed`` and ``quarantined`` once they are in its plan and tables, so
    that this index is not in memory while the derived tables are built."""

    work: Path
    now: dt.datetime
    width: int  # the pmid partition width its delta files are cut for (the store's, see stage)
    pmids: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    failed: set[tuple[str, int]] = field(default_factory=set)  # (pmid, batch) whose extraction failed
    quarantined: list[Quarantined] = field(default_factory=list)
    seen: int = 0
    batches: int = 0
    stats: dict[str, int] = field(default_factory=dict)


def use_system_memory_pool() -> None:
    """Arrow's default pool (mimalloc) keeps the pages of freed batches and partitions for reuse,
    so a long run's resident memory creeps up with its size; the system allocator gives them
    back (docs/performance.md, "Commit stage" and "Arrow's allocator").

    ``vdmine/__init__.py`` makes it Arrow's default through ``ARROW_DEFAULT_MEMORY_POOL``, which
    Arrow's C++ library reads when pyarrow is first imported (Parquet and IPC readers, compute
    kernels). If pyarrow was imported before vdmine that is too late, and this switches at least
    pyarrow's own default pool (conversions from Python). A pool the user chose in the
    environment is left alone."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL", "system") == "system" and pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def _kind(stored: tuple[int, str] | None, rec: Record, refresh_all: bool) -> str:
    """What the store makes of this record (the upsert rules of vdmine.store.tables)."""
    if stored is None:
        return NEW
    version, chash = stored
    if version > rec.version:
        return STALE  # an older version arrived: the newer one stays
    if version == rec.version and chash == content_hash(rec):
        return SAME_X if refresh_all else SAME
    return UPDATED


def _stored_index(store: Store) -> dict[str, tuple[int, str]]:
    """pmid -> (version, content hash) of the stored papers, read partition by partition."""
    out: dict[str, tuple[int, str]] = {}
    for f in sorted(store.table_path("papers").glob("part-*.parquet")):
        cols = pq.read_table(f, columns=["pmid", "version", "content_hash"]).to_pydict()
        out.update(zip(cols["pmid"], zip(cols["version"], cols["content_hash"])))
    return out


def _record_from_row(r: dict) -> Record:
    from vdmine.records import MeshHeading, Section

    return Record(
        pmid=r["pmid"], version=r["version"], title=r["title"] or "", abstract=r["abstract"] or "",
        sections=[Section(**s) for s in r["abstract_sections"] or []], journal=r["journal"], year=r["year"],
        language=r["language"], pub_types=list(r["pub_types"] or []),
        mesh=[MeshHeading(**m) for m in r["mesh"] or []], keywords=list(r["keywords"] or []),
        doi=r["doi"], pmcid=r["pmcid"], source=r["source"] or "",
    )


def _stored_to_refresh(store: Store, pmids: dict[str, tuple[int, int, str]]) -> Iterator[Record]:
    """Stored papers this run does not extract anyway, streamed partition by partition (to
    re-extract them when the extractor changed)."""
    for f in sorted(store.table_path("papers").glob("part-*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=1000):
            for row in batch.to_pylist():
                got = pmids.get(row["pmid"])
                if got is None or got[2] == STALE:
                    yield _record_from_row(row)


def local_extractor(nlp, batch_size: int = 64, n_process: int = 1) -> ExtractBatches:
    """Extraction of each batch in this process (and its ``n_process`` forked workers).

    In this process (``n_process = 1``) each batch runs in :func:`bounded_vocab`, so a long run's
    vocabulary does not grow with the corpus's distinct words (forked workers are recycled
    instead). Only here, where one thread uses the pipeline: a memory zone is not thread-safe."""
    def run(batches: Iterable[list[Record]]) -> Iterator[tuple[list[DocRows], list[Quarantined]]]:
        for records in batches:
            with bounded_vocab(nlp) if n_process == 1 else nullcontext():
                out = extract(nlp, records, batch_size, n_process, show_progress=False)
            yield out
    return run


# Delta files are Arrow IPC (lz4), not Parquet: a run writes one per table, partition and batch
# and the merge reads each back once, so with fine partitions they are many and small, and
# Parquet's per-file encode/decode dominated (docs/performance.md, "Finer pmid partitions").
_DELTA_OPTS = pa.ipc.IpcWriteOptions(compression="lz4")


def _write_delta(work: Path, name: str, index: int, table: pa.Table, width: int) -> None:
    """One batch's rows of one table, split by pmid partition (internal files, not published)."""
    if table.num_rows == 0:
        return
    for bucket, part in group_by_bucket(table, width):
        d = work / name / bucket
        d.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(d / f"{index:06d}.arrow"), "wb") as sink, \
                pa.ipc.new_file(sink, part.schema, options=_DELTA_OPTS) as writer:
            writer.write_table(part)


def stage(store: Store, cfg: Config, nlp, items: Iterable[Item], fingerprint: str, *,
          extract_batches: ExtractBatches | None = None, batch_records: int | None = None,
          show_progress: bool = True, now: dt.datetime | None = None) -> Staged:
    """Read items and extract what needs it, ``[run] batch_records`` records at a time; each
    batch's rows go to delta files and leave memory. New or changed records are extracted;
    unchanged ones are skipped (their rows stay) unless the extractor fingerprint changed, in
    which case every stored paper is re-extracted too (streamed from the store). The run's pmid
    partition width is ``[output] pmid_partition_width`` if set, else the store's
    (:attr:`Store.pmid_width`); a store at another width is re-partitioned by the commit."""
    use_system_memory_pool()
    n = batch_records or cfg.run.batch_records
    extract_batches = extract_batches or local_extractor(nlp, cfg.nlp.batch_size, cfg.nlp.n_process)
    shutil.rmtree(store.internal / "work", ignore_errors=True)  # a dead run's leftovers: we hold the lock
    out = Staged(work=store.internal / "work" / uuid.uuid4().hex[:12], now=now or dt.datetime.now(dt.timezone.utc),
                 width=cfg.output.pmid_partition_width or store.pmid_width)
    out.work.mkdir(parents=True)
    stored = _stored_index(store)
    refresh_all = store.has("papers") and store.load_state().get("extractor_fingerprint") != fingerprint
    pending: dict[str, Record] = {}
    inflight: deque[tuple[int, list[Record]]] = deque()
    bar = Progress("reading and extracting", enabled=show_progress)

    def flush() -> list[Record]:
        batch = list(pending.values())
        pending.clear()
        inflight.append((out.batches, batch))
        out.batches += 1
        return batch

    def batches() -> Iterator[list[Record]]:
        for item in items:
            if isinstance(item, Record):
                out.seen += 1
                bar.advance()
                prev = out.pmids.get(item.pmid)
                if prev is not None and prev[2] != DELETED and item.version < prev[0]:
                    continue  # a lower version than one already read in this run
                kind = _kind(stored.get(item.pmid), item, refresh_all)
                pending.pop(item.pmid, None)
                if kind in EXTRACTED_KINDS:
                    pending[item.pmid] = item
                out.pmids[item.pmid] = (item.version, out.batches if kind in EXTRACTED_KINDS else -1, kind)
            elif isinstance(item, Deletion):
                pending.pop(item.pmid, None)
                out.pmids[item.pmid] = (0, -1, DELETED)
            else:
                out.quarantined.append(item)
            if len(pending) >= n:
                yield flush()
        if refresh_all:
            for rec in _stored_to_refresh(store, out.pmids):
                pending[rec.pmid] = rec
                out.pmids[rec.pmid] = (rec.version, out.batches, REFRESH)
                if len(pending) >= n:
                    yield flush()
        if pending:
            yield flush()

    for docs, failed in extract_batches(batches()):
        index, records = inflight.popleft()
        fields = {d.pmid: d.paper_fields for d in docs}
        for q in failed:
            out.failed.add((q.record_id, index))
            out.quarantined.append(q)
        _write_delta(out.work, "papers", index, to_table("papers", [paper_row(r, out.now, fields.get(r.pmid)) for r in records]), out.width)
        for name in SENTENCE_TABLES:
            _write_delta(out.work, name, index, to_table(name, [row for d in docs for row in getattr(d, name)]), out.width)
        del docs, failed, records, fields
        pa.default_memory_pool().release_unused()
    bar.close()
    kinds = Counter(k for _, _, k in out.pmids.values())
    out.stats = {
        "new": kinds[NEW], "updated": kinds[UPDATED], "unchanged": kinds[SAME] + kinds[SAME_X],
        "deleted": sum(1 for p, (_, _, k) in out.pmids.items() if k == DELETED and p in stored),
        "extracted": sum(1 for p, (_, b, k) in out.pmids.items() if b >= 0 and (p, b) not in out.failed),
    }
    return out


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


def derived_tables(inputs: dict) -> dict:
    """evidence_map, computed from this run's merged tables, one pmid partition at a time
    (:func:`_derived_inputs`), so memory does not grow with the corpus. (mechanisms and delivery
    are sentence tables filled in the extraction pass, merged like findings.)"""
    from vdmine.evidence.map import build_evidence_map_from_parts

    return {"evidence_map": build_evidence_map_from_parts(inputs["evidence_parts"], inputs["scratch"])}


@dataclass
class _Plan:
    """Per pmid partition: which pmids this run deletes, replaces or refreshes, and in which
    batch's delta file their new rows are. The sentence rows replaced in a partition are those of
    the pmids of its ``doc_batches`` (not kept twice)."""

    deleted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    full: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # papers rows taken whole
    fields: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # only extraction fields
    paper_batches: dict[str, dict[int, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    doc_batches: dict[str, dict[int, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))

    def replaced(self, bucket: str) -> list[str]:
        """pmids whose sentence rows this run replaces in a partition."""
        return [p for pmids in self.doc_batches.get(bucket, {}).values() for p in pmids]


def _plan(staged: Staged) -> _Plan:
    plan = _Plan()
    width = staged.width
    for pmid, (_, batch, kind) in staged.pmids.items():
        bucket = bucket_of(pmid, width)
        if kind == DELETED:
            plan.deleted[bucket].append(pmid)
            continue
        if batch < 0:
            continue
        ok = (pmid, batch) not in staged.failed
        if kind in (NEW, UPDATED):  # a failed extraction still stores the record, without rows
            plan.full[bucket].append(pmid)
            plan.paper_batches[bucket][batch].append(pmid)
        elif ok:
            plan.fields[bucket].append(pmid)
            plan.paper_batches[bucket][batch].append(pmid)
        if ok:
            plan.doc_batches[bucket][batch].append(pmid)
    return plan


def _read_delta(work: Path, name: str, bucket: str, wanted: dict[int, list[str]]) -> pa.Table:
    """The winning rows of one partition from the batches' delta files."""
    parts = []
    for index, pmids in sorted(wanted.items()):
        f = work / name / bucket / f"{index:06d}.arrow"
        if f.exists():
            with pa.OSFile(str(f), "rb") as source:
                t = pa.ipc.open_file(source).read_all()
            parts.append(t if name == "papers" and t.num_rows == len(pmids) else keep_pmids(t, pmids))  # all won
    return pa.concat_tables(parts) if parts else TABLES[name].empty_table()


def _merges(staged: Staged, plan: _Plan) -> dict[str, PartitionMerge]:
    def papers(bucket: str, old: pa.Table) -> pa.Table:
        delta = _read_delta(staged.work, "papers", bucket, plan.paper_batches.get(bucket, {}))
        full, fields = plan.full.get(bucket, []), plan.fields.get(bucket, [])
        # delta holds exactly the pmids of full + fields: split it only when both are there
        return merge_papers_part(old, keep_pmids(delta, full) if fields else delta,
                                 keep_pmids(delta, fields) if full else delta, plan.deleted.get(bucket, []))

    def sentences(name: str):
        def merge(bucket: str, old: pa.Table) -> pa.Table:
            delta = _read_delta(staged.work, name, bucket, plan.doc_batches.get(bucket, {}))
            return merge_sentence_table(name, old, delta, plan.replaced(bucket), plan.deleted.get(bucket, []))
        return merge

    merges = {"papers": PartitionMerge(set(plan.paper_batches) | set(plan.deleted), papers, staged.width)}
    for name in SENTENCE_TABLES:
        merges[name] = PartitionMerge(set(plan.doc_batches) | set(plan.deleted), sentences(name), staged.width)
    return merges


def _distinct_pmids(folder: Path | None) -> int:
    """Distinct pmids of a pmid-partitioned table (partitions hold disjoint pmids)."""
    if folder is None:
        return 0
    return sum(pc.count_distinct(pq.read_table(f, columns=["pmid"]).column("pmid")).as_py()
               for f in sorted(folder.glob("part-*.parquet")))


def _derived_inputs(folder: Callable[[str], Path | None], scratch: Path) -> dict:
    """The partition files the evidence map reads, matched by partition name: (papers, findings,
    doses) of every partition with findings; None where a table has no such partition.
    ``scratch`` is a folder for the evidence map's spill files."""
    def files(name: str) -> dict[str, Path]:
        d = folder(name)
        return {f.name: f for f in sorted(d.glob("part-*.parquet"))} if d is not None else {}

    papers, findings, doses = (files(n) for n in ("papers", "findings", "doses"))
    return {"evidence_parts": [(papers.get(n), f, doses.get(n)) for n, f in findings.items()], "scratch": scratch}


def commit(store: Store, staged: Staged, summary: RunSummary, fingerprint: str,
           with_evidence: bool = True) -> RunSummary:
    """Merge this run into the tables, partition by partition, and publish them, derived tables
    and the run's row included, as one atomic snapshot.

    It consumes ``staged``: its per-pmid index goes into the merge plan and is emptied, and the
    plan (held only by the merges, which :meth:`Store.commit` drops after merging) is gone before
    the derived tables are built."""
    use_system_memory_pool()
    merges = _merges(staged, _plan(staged))
    quarantine = merge_quarantine(store.read("quarantine"), [quarantine_row(q, staged.now) for q in staged.quarantined])
    summary.fetched = staged.seen
    summary.new, summary.updated = staged.stats["new"], staged.stats["updated"]
    summary.unchanged, summary.deleted = staged.stats["unchanged"], staged.stats["deleted"]
    summary.quarantined = len(staged.quarantined)
    staged.pmids, staged.failed, staged.quarantined = {}, set(), []  # in the plan and the tables now
    summary.extracted = staged.stats["extracted"]
    summary.extractor_version = fingerprint
    changed = bool(summary.new or summary.updated or summary.deleted or summary.extracted or not store.has("evidence_map"))

    def finalize(folder: Callable[[str], Path | None]) -> dict[str, pa.Table]:
        summary.with_findings = _distinct_pmids(folder("findings"))
        out = {}
        if with_evidence and changed:  # in the same snapshot, so they always match the findings
            out.update(derived_tables(_derived_inputs(folder, staged.work / "derived")))
        summary.finished_at = dt.datetime.now(dt.timezone.utc)
        out["runs"] = to_table("runs", store.read("runs").to_pylist() + [summary.row()])
        return out

    store.commit({"quarantine": quarantine}, merges=merges, finalize=finalize, pmid_width=staged.width)
    state = store.load_state()
    state["extractor_fingerprint"] = fingerprint
    state["last_run"] = summary.run_id
    store.save_state(state)
    shutil.rmtree(staged.work, ignore_errors=True)
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


def quarantine_missing(staged: Staged, paths: list[Path], expected: list[list[str]]) -> None:
    """A pmid requested from EFetch that no staged batch returned is quarantined, not lost."""
    for path, ids in zip(paths, expected):
        for pmid in ids:
            if pmid not in staged.pmids:
                staged.quarantined.append(Quarantined(pmid, f"eutils:{path.name}", "fetch", "requested from EFetch but not returned"))


def iter_staged(paths: list[Path]) -> Iterator[Item]:
    """Items of the staged EFetch batches, in order."""
    for path in paths:
        yield from iter_pubmed_xml(path, name="eutils")
