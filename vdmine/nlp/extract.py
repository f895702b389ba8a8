"""Records -> spaCy Docs -> typed rows, one pass per document.

Each extractor module exposes ``rows(doc, pmid) -> list[dict]`` whose dicts match its table's
schema in :mod:`vdmine.store.schemas`; :mod:`vdmine.nlp.design` also exposes
``paper_fields(doc, pub_types) -> dict`` for the design and sample-size columns of ``papers``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from spacy.language import Language

from vdmine.nlp import conditions, design, doses, exposures, findings, mechanisms
from vdmine.records import Quarantined, Record

T = TypeVar("T")


@dataclass
class DocRows:
    """Everything extracted from one record."""

    pmid: str
    paper_fields: dict = field(default_factory=dict)
    conditions: list[dict] = field(default_factory=list)
    exposures: list[dict] = field(default_factory=list)
    doses: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    mechanisms: list[dict] = field(default_factory=list)
    delivery: list[dict] = field(default_factory=list)


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
    out.mechanisms, out.delivery = mechanisms.rows(doc, record.pmid, fields.get("study_design"), out.findings,
                                                   out.conditions)
    return out


# Pipelines that have run their first batch outside a memory zone (see bounded_vocab).
_WARMED: "weakref.WeakSet[Language]" = weakref.WeakSet()


@contextmanager
def bounded_vocab(nlp: Language) -> Iterator[None]:
    """A block whose new words the pipeline forgets at its end (spaCy's ``nlp.memory_zone()``).

    Why: spaCy keeps a lexeme and its strings for every distinct word it has seen, so a long run in
    one process grows with the corpus's vocabulary. The pipeline's first block runs outside a zone,
    so its words (the common ones) stay, in the vocabulary and in the tokenizer's chunk cache, for
    every later block. Whatever leaves the block must be plain Python values (rows), not Docs or
    Spans."""
    if nlp in _WARMED:
        with nlp.memory_zone():
            yield
    else:
        yield
        _WARMED.add(nlp)


def _quarantine(record: Record, exc: Exception) -> Quarantined:
    return Quarantined(record.pmid, record.source, "extract", f"{type(exc).__name__}: {exc}", record.text[:500])


def _one(nlp: Language, record: Record) -> DocRows | Quarantined:
    try:
        return doc_rows(nlp(record.text), record)
    except Exception as exc:  # one bad document must not stop the run
        return _quarantine(record, exc)


def process_batch(nlp: Language, texts: list[str], batch_size: int = 64) -> list:
    """The Docs of ``nlp.pipe(texts)``, computed one component at a time over the whole batch.

    Why: spaCy's ``nlp.pipe`` chains the components as generators, so each document passes
    through every component before the next one starts. Running each component over the whole
    batch instead keeps one component's code and tables hot in the CPU caches: measured ~20% less
    CPU time on the corpus (2026-11-24, docs/performance.md) for the same Docs. Components with a
    ``pipe`` method (a statistical model's, spaCy's sentencizer) get the batch through it, as in
    ``nlp.pipe``.
    """
    docs = [nlp.make_doc(t) for t in texts]
    for _name, proc in nlp.pipeline:
        if hasattr(proc, "pipe"):
            docs = list(proc.pipe(docs, batch_size=batch_size))
        else:
            docs = [proc(doc) for doc in docs]
    return docs


def _serial(nlp: Language, chunk: list[Record], batch_size: int) -> list[DocRows | Quarantined]:
    """One chunk in this process; if spaCy fails inside it, redo it one document at a time."""
    out: list[DocRows | Quarantined] = []
    try:
        docs = process_batch(nlp, [r.text for r in chunk], batch_size)
    except Exception:
        return [_one(nlp, r) for r in chunk]
    for doc, record in zip(docs, chunk):
        try:
            out.append(doc_rows(doc, record))
        except Exception as exc:
            out.append(_quarantine(record, exc))
    return out


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last one shorter), read lazily."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# The pipeline of a forked worker: handed over by the pool initializer, which a forked process
# inherits in memory (no pickling of the Language, no rebuild per worker).
_WORKER: tuple[Language, int] | None = None
_CHUNKS_PER_WORKER = 100


def _init_worker(nlp: Language, batch_size: int) -> None:
    global _WORKER
    _WORKER = (nlp, batch_size)


def _work(chunk: list[Record]) -> list[DocRows | Quarantined]:
    assert _WORKER is not None
    nlp, batch_size = _WORKER
    return _serial(nlp, chunk, batch_size)


def _lost(chunk: list[Record], exc: BaseException) -> list[Quarantined]:
    reason = (f"the worker process died while extracting this record, alone ({type(exc).__name__}: {exc}); "
              "often out of memory: lower [nlp] batch_size or n_process")
    return [Quarantined(r.pmid, r.source, "extract", reason, r.text[:500]) for r in chunk]


def _parallel(nlp: Language, records: Iterable[Record], batch_size: int, n_process: int) -> Iterator[DocRows | Quarantined]:
    """Chunks of records go to ``n_process`` forked workers, which return rows, not Docs: the
    rows are much smaller to send back than serialized Docs, and the row building runs in the
    workers too. At most ``2 * n_process`` chunks are in flight, so memory is bounded by the
    batch size, not by the number of records; results come back in input order.

    Workers are forked anew (a new pool) every ``_CHUNKS_PER_WORKER`` chunks per worker, because
    spaCy's vocabulary and caches grow with every new word a long-lived worker sees. A worker that
    dies (killed, out of memory) breaks its pool: ``concurrent.futures`` then fails the chunks in
    flight instead of waiting forever (``multiprocessing.Pool`` hangs). Each such chunk is retried
    in a fresh worker of its own, then record by record; only a record whose own worker dies is
    quarantined.
    """
    import gc
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("fork")

    def new_pool(workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(nlp, batch_size))

    def alone(chunk: list[Record]) -> list[DocRows | Quarantined]:
        """The chunk in a fresh worker of its own; if that worker dies too, one record at a time,
        so only the record that kills its worker is quarantined."""
        with new_pool(1) as pool:
            try:
                return pool.submit(_work, chunk).result()
            except BrokenProcessPool:
                pass
        out: list[DocRows | Quarantined] = []
        for record in chunk:
            with new_pool(1) as pool:
                try:
                    out += pool.submit(_work, [record]).result()
                except BrokenProcessPool as exc:
                    out += _lost([record], exc)
        return out

    def result(future, chunk: list[Record]) -> list[DocRows | Quarantined]:
        try:
            return future.result()
        except BrokenProcessPool:  # this chunk's worker died, or another one in the same pool
            return alone(chunk)

    # Objects that exist before the fork move to a permanent generation, so the workers' garbage
    # collector does not write to (and thereby copy) every shared page of the parent's pipeline.
    gc.freeze()
    pool, submitted = None, 0
    pending: deque = deque()
    try:
        for chunk in chunks(records, batch_size):
            if pool is None or submitted >= _CHUNKS_PER_WORKER * n_process:
                if pool is not None:
                    pool.shutdown(wait=False)  # its workers finish the chunks already given to them
                pool, submitted = new_pool(n_process), 0
            try:
                future = pool.submit(_work, chunk)
            except BrokenProcessPool:  # a worker died: start over with a fresh pool
                pool = new_pool(n_process)
                future = pool.submit(_work, chunk)
            submitted += 1
            pending.append((future, chunk))
            if len(pending) >= 2 * n_process:
                yield from result(*pending.popleft())
        while pending:
            yield from result(*pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()


def extract_records(
    nlp: Language, records: Iterable[Record], batch_size: int = 64, n_process: int = 1
) -> Iterator[DocRows | Quarantined]:
    """Run the pipeline over records, one pass per document, in input order.

    Work goes in chunks of ``batch_size``; if spaCy fails inside a chunk, that chunk is redone one
    document at a time so the culprit is quarantined and no record is emitted twice or lost.
    ``n_process > 1`` (or -1: all cores) spreads the chunks over forked worker processes, with
    identical output; where ``fork`` is unavailable it falls back to spaCy's own ``n_process``.
    """
    import multiprocessing as mp
    import os

    if n_process == -1:
        n_process = os.cpu_count() or 1
    if n_process > 1 and "fork" in mp.get_all_start_methods():
        yield from _parallel(nlp, records, batch_size, n_process)
        return
    if n_process > 1:  # no fork (Windows/macOS spawn): spaCy's multiprocessing, rows built here
        for chunk in chunks(records, batch_size * n_process):
            try:
                pairs = ((r.text, r) for r in chunk)
                docs = list(nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process))
            except Exception:
                yield from (_one(nlp, r) for r in chunk)
                continue
            for doc, record in docs:
                try:
                    yield doc_rows(doc, record)
                except Exception as exc:
                    yield _quarantine(record, exc)
        return
    for chunk in chunks(records, batch_size):
        yield from _serial(nlp, chunk, batch_size)
