"""Scale-out: multi-process extraction, bounded streaming, exact speed-ups, Dask task runner.

Real records from shared/corpus throughout; the Dask test starts a LocalCluster (slow).
"""

from __future__ import annotations

import datetime

import warnings
from itertools import islice
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", category=FutureWarning)

from vdmine.records import Record  # noqa: E402


@pytest.fixture(scope="module")
def shared() -> Path:
    from vdmine.config import shared_dir

    path = shared_dir()
    if path is None or not (path / "corpus").is_dir():
        pytest.skip("needs ../shared/corpus (set VDMINE_SHARED)")
    return path


@pytest.fixture(scope="module")
def records(shared: Path) -> list[Record]:
    from vdmine.pubmed.sources import iter_jsonl

    return [r for r in iter_jsonl(shared / "corpus" / "vitd_pain.jsonl") if isinstance(r, Record)]


@pytest.fixture(scope="module")
def nlp():
    from vdmine.nlp.pipeline import get_pipeline

    return get_pipeline()


def _rows(out) -> list[dict]:
    return [o.__dict__ for o in out]


def test_two_processes_give_identical_rows(nlp, records):
    from vdmine.nlp.extract import extract_records

    recs = records[:60]
    one = _rows(extract_records(nlp, recs, batch_size=8, n_process=1))
    two = _rows(extract_records(nlp, recs, batch_size=8, n_process=2))
    assert len(one) == 60 and [r["pmid"] for r in two] == [r.pmid for r in recs]
    assert two == one
    # the records actually carry rows (not a vacuous equality of empty lists)
    assert sum(len(r["conditions"]) for r in one) > 30 and sum(len(r["findings"]) for r in one) > 10


def test_workers_are_renewed_without_losing_or_reordering_records(nlp, records, monkeypatch):
    """Every _CHUNKS_PER_WORKER chunks per worker a new pool is forked while the old one finishes
    its chunks in flight: the same rows, in input order."""
    from vdmine.nlp import extract

    recs = records[:40]
    monkeypatch.setattr(extract, "_CHUNKS_PER_WORKER", 2)  # a new pool every 4 chunks: 3 pools here
    one = _rows(extract.extract_records(nlp, recs, batch_size=4, n_process=1))
    two = _rows(extract.extract_records(nlp, recs, batch_size=4, n_process=2))
    assert two == one and [r["pmid"] for r in two] == [r.pmid for r in recs]


def test_parallel_extraction_streams_with_bounded_lookahead(nlp, records):
    """Workers take at most 2 * n_process chunks ahead: memory follows batch size, not corpus size."""
    from vdmine.nlp.extract import extract_records

    pulled = 0

    def source():
        nonlocal pulled
        for i in range(10_000):  # far more than will be read
            pulled += 1
            yield records[i % len(records)]

    first = list(islice(extract_records(nlp, source(), batch_size=4, n_process=2), 3))
    assert len(first) == 3
    assert pulled <= (2 * 2 + 1) * 4


KILL_MARK = "[this worker is killed]"


def _killer(doc):
    """Stands in for the kernel's out-of-memory killer: ends the worker process on one record."""
    import os

    if KILL_MARK in doc.text:
        os._exit(137)
    return doc


def test_a_dead_worker_quarantines_its_record_and_nothing_else(records):
    """A worker that dies mid-chunk must not hang the run (multiprocessing.Pool waits forever) nor
    lose the other records in flight: they are redone, the culprit is quarantined."""
    from spacy.language import Language

    from vdmine.nlp.extract import DocRows, extract_records
    from vdmine.nlp.pipeline import build_pipeline, get_pipeline
    from vdmine.records import Quarantined

    if "vdmine_test_killer" not in Language.factories:
        Language.component("vdmine_test_killer", func=_killer)
    nlp = build_pipeline()
    nlp.add_pipe("vdmine_test_killer", first=True)
    recs = list(records[:22])
    bad = Record(pmid="bad-1", title=recs[9].title, abstract=recs[9].abstract + " " + KILL_MARK, source="test")
    recs.insert(9, bad)
    out = list(extract_records(nlp, recs, batch_size=4, n_process=2))
    ids = [o.record_id if isinstance(o, Quarantined) else o.pmid for o in out]
    assert ids == [r.pmid for r in recs]  # nothing lost, nothing twice, in order
    lost = [o for o in out if isinstance(o, Quarantined)]
    assert [q.record_id for q in lost] == ["bad-1"] and "worker process died" in lost[0].reason
    good = [r for r in recs if r is not bad]
    expected = _rows(extract_records(get_pipeline(), good, batch_size=4, n_process=1))
    assert _rows(o for o in out if isinstance(o, DocRows)) == expected


def test_spacy_docs_survive_serialization_with_custom_extensions(nlp, records):
    """spaCy's own n_process path ships Docs as bytes: the extensions vdmine sets must survive it."""
    from spacy.tokens import Doc

    from vdmine.nlp.extract import doc_rows

    rec = next(r for r in records if "25(OH)D" in r.text and "IU" in r.text)
    doc = nlp(rec.text)
    back = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert doc_rows(back, rec).__dict__ == doc_rows(doc, rec).__dict__
    assert doc_rows(doc, rec).doses  # a dose is actually found in this abstract


def test_cached_doc_text_is_doc_text(nlp, records):
    from vdmine.nlp.docs import doc_text

    for rec in records[:20]:
        doc = nlp(rec.text)
        assert doc_text(doc) == doc.text == rec.text


def test_design_prefilters_are_exact(shared, records):
    """Skipping sample-size patterns whose required words are absent changes no result."""
    from vdmine.nlp import design
    from vdmine.pubmed.sources import iter_jsonl

    texts = [r.text for r in records]
    texts += [r.text for r in islice(iter_jsonl(shared / "corpus" / "vitd_other.jsonl"), 400) if isinstance(r, Record)]
    fast = [design.sample_size(t) for t in texts]
    c = design.cues()
    saved = c.sample
    try:
        c.sample = [(p, rx, None) for p, rx, _ in saved]
        slow = [design.sample_size(t) for t in texts]
    finally:
        c.sample = saved
    assert fast == slow
    assert sum(x is not None for x in fast) > 100


def test_run_section_is_validated(tmp_path):
    from vdmine.config import load_config
    from vdmine.errors import VdmineError

    p = tmp_path / "c.toml"
    p.write_text('[run]\ntask_runner = "dask"\ndask_address = "tcp://127.0.0.1:8786"\n')
    cfg = load_config(p)
    assert cfg.run.task_runner == "dask" and cfg.run.dask_address == "tcp://127.0.0.1:8786"
    p.write_text('[run]\ntask_runner = "spark"\n')
    with pytest.raises(VdmineError) as e:
        load_config(p)
    assert e.value.code == "E004"


def _tables(out: Path) -> dict[str, list[dict]]:
    import pyarrow.parquet as pq

    skip = {"retrieved_at", "quarantined_at", "run_id", "started_at", "finished_at", "extracted_at", "seconds"}
    res = {}
    for name in ("papers", "conditions", "exposures", "doses", "findings", "quarantine"):
        if (out / name).exists():
            rows = pq.read_table(out / name).to_pylist()
            res[name] = [{k: v for k, v in r.items() if k not in skip} for r in rows]
    return res


def _parse_file_task_runs(since) -> int:
    """How many ``parse-file`` task runs Prefect recorded since ``since``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName, TaskRunFilterStartTime

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            name=TaskRunFilterName(like_="parse-file"), start_time=TaskRunFilterStartTime(after_=since)))
    return len(runs)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_tables(tmp_path, shared):
    """files_flow over two input files: thread runner vs a Dask LocalCluster (one parse task per file)."""
    from flows.vdmine_flow import files_flow

    inputs = [str(shared / "corpus" / "vitd_pain.jsonl"),
              str(shared / "corpus" / "pubmed_xml" / "xizhou_pubMR__pubmed_result.xml.gz")]
    outs, parse_tasks = {}, {}
    for runner in ("thread", "dask"):
        cfg = tmp_path / f"{runner}.toml"
        cfg.write_text(f'[run]\ntask_runner = "{runner}"\nextract_chunk = 40\n[output]\nreport = false\n')
        out = tmp_path / runner
        since = datetime.datetime.now(datetime.timezone.utc)
        files_flow(inputs=inputs, out=str(out), config_path=str(cfg), progress=False)
        parse_tasks[runner] = _parse_file_task_runs(since)
        outs[runner] = _tables(out)
        assert not (out / ".vdmine" / "parsed").exists()  # spooled parses are removed
    assert outs["dask"] == outs["thread"]
    assert parse_tasks == {"thread": 0, "dask": 2}  # on Dask: one parse task per input file
    assert len(outs["thread"]["papers"]) > 149 and len(outs["thread"]["findings"]) > 100


def test_single_process_batches_forget_their_new_words(shared):
    """A run's extraction in one process: after the pipeline's first batch, each batch runs in a spaCy
    memory zone, so the vocabulary stays the size the first batch left (a long run does not grow with
    the corpus's distinct words), and the rows are those of a pipeline that never used a zone."""
    from dataclasses import asdict

    from vdmine import run as steps
    from vdmine.nlp.extract import extract_records
    from vdmine.nlp.pipeline import build_pipeline
    from vdmine.pubmed.sources import iter_jsonl

    recs = [r for r in islice(iter_jsonl(shared / "corpus" / "offtopic.jsonl"), 240) if isinstance(r, Record)]
    nlp, plain = build_pipeline(), build_pipeline()
    got, strings = [], []
    for done, failed in steps.local_extractor(nlp)(iter((recs[:80], recs[80:160], recs[160:]))):
        assert not failed
        got += done
        strings.append(len(nlp.vocab.strings))
    want = list(extract_records(plain, recs))
    assert len(recs) == 240 and [asdict(d) for d in got] == [asdict(d) for d in want]
    assert strings[0] == strings[1] == strings[2]  # the zoned batches left no string behind
    assert len(plain.vocab.strings) > strings[0] + 1000  # ... which they would have without zones
