"""A run streamed in small batches (rows staged on disk, merged partition by partition) gives the
very same tables as one batch, and the same rows as extracting the winning records directly."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vdmine import run as steps
from vdmine.config import load_config
from vdmine.records import Deletion, Quarantined, Record
from vdmine.store.dataset import Store

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.timezone.utc)
DATA = ("papers", "conditions", "exposures", "doses", "findings", "quarantine", "evidence_map", "mechanisms", "delivery")


@pytest.fixture(scope="module")
def nlp():
    from vdmine.nlp.pipeline import get_pipeline

    return get_pipeline()


@pytest.fixture(scope="module")
def items(corpus) -> list:
    """60 real records (two of them with PubMed-like ids of another partition), then a revised
    version 2 of one of them, an older version 0 of another (ignored), a deletion and a bad line."""
    from vdmine.pubmed.sources import iter_jsonl

    recs = [r for r in iter_jsonl(corpus / "vitd_pain.jsonl") if isinstance(r, Record)][:60]
    recs[20] = dataclasses.replace(recs[20], pmid="38000001")
    recs[21] = dataclasses.replace(recs[21], pmid="38000002")
    revised = dataclasses.replace(recs[3], version=2, title="Revised: " + recs[3].title)
    older = dataclasses.replace(recs[40], version=0, title="Older")
    return [*recs, Quarantined("x", "jsonl:test", "input", "bad line"), revised, older,
            Deletion(recs[10].pmid, "test"), Deletion("99999999", "test")]


def _run(out: Path, items: list, nlp, batch: int, fingerprint: str = "fp1"):
    store = Store(out)
    cfg = load_config(None)
    with store.lock():
        staged = steps.stage(store, cfg, nlp, iter(items), fingerprint, batch_records=batch, show_progress=False, now=NOW)
        summary = steps.commit(store, staged, steps.new_summary("extract", "test"), fingerprint)
    return staged, summary


def _files(out: Path) -> dict[str, bytes]:
    return {f"{t}/{f.name}": f.read_bytes() for t in DATA for f in sorted((out / t).iterdir())}


def test_small_batches_give_byte_identical_tables(tmp_path, items, nlp):
    staged, summary = _run(tmp_path / "many", items, nlp, batch=7)
    one, _ = _run(tmp_path / "one", items, nlp, batch=10_000)
    assert staged.batches >= 9 and one.batches == 1
    many_files, one_files = _files(tmp_path / "many"), _files(tmp_path / "one")
    assert many_files == one_files
    assert "papers/part-038000000-038999999.parquet" in many_files  # partition names are pmid ranges
    assert sum(f.startswith("papers/part-") for f in many_files) >= 2  # two partitions at least
    assert not any((tmp_path / "many" / ".vdmine" / "work").iterdir())  # staged rows are cleaned up

    recs = [i for i in items if isinstance(i, Record)]
    revised, deleted = recs[-2], items[-2].pmid
    papers = {r["pmid"]: r for r in pq.read_table(tmp_path / "many" / "papers").to_pylist()}
    assert len(papers) == 59 and deleted not in papers
    assert papers[revised.pmid]["version"] == 2 and papers[revised.pmid]["title"].startswith("Revised: ")
    assert papers[recs[40].pmid]["title"] != "Older"
    assert (summary.new, summary.deleted, summary.quarantined) == (59, 0, 1)

    # The same rows as extracting the winning records in one go (the pre-batching path).
    from vdmine.nlp.extract import extract_records
    from vdmine.store.tables import sort_rows, to_table

    winners = [r for r in recs[:60] if r.pmid not in (deleted, revised.pmid)] + [revised]
    docs = list(extract_records(nlp, winners))
    for name in ("conditions", "exposures", "doses", "findings"):
        expected = sort_rows(name, to_table(name, [row for d in docs for row in getattr(d, name)]))
        got = pq.read_table(tmp_path / "many" / name)
        assert got.to_pylist() == expected.to_pylist(), name
        assert deleted not in got.column("pmid").to_pylist()
    assert pq.read_table(tmp_path / "many" / "findings").num_rows > 10


def test_rerun_extractor_change_and_deletion_stream_through_partitions(tmp_path, items, nlp):
    out = tmp_path / "out"
    _run(out, items, nlp, batch=7)
    before = _files(out)
    inodes = {f: (out / f).stat().st_ino for f in before}

    # The same input again: nothing extracted, every file kept as it is (hard links).
    staged, summary = _run(out, items, nlp, batch=7)
    assert summary.extracted == 0 and summary.unchanged == 59 and staged.batches == 0
    assert {f: (out / f).stat().st_ino for f in before if not f.startswith("quarantine")} == \
           {f: i for f, i in inodes.items() if not f.startswith("quarantine")}

    # A new extractor fingerprint, with only three records in the input: every stored paper is
    # re-extracted (streamed from the store), and as the extractor is in fact the same, the
    # tables come out identical, first retrieval times included.
    recs = [i for i in items if isinstance(i, Record)][:3]
    staged, summary = _run(out, recs, nlp, batch=7, fingerprint="fp2")
    assert summary.extracted == 59 and summary.unchanged == 3 and staged.batches == 9
    assert _files(out) == before

    # A deletion only: one partition rewritten, the others are the very same files.
    gone = recs[1].pmid
    _run(out, [Deletion(gone, "test")], nlp, batch=7, fingerprint="fp2")
    for t in ("papers", "conditions", "findings"):
        assert gone not in pq.read_table(out / t).column("pmid").to_pylist()
    assert (out / "papers" / "part-038000000-038999999.parquet").stat().st_ino == inodes["papers/part-038000000-038999999.parquet"]
    assert pq.read_table(out / "papers").num_rows == 58


def _rows(out: Path, name: str) -> list[str]:
    import pyarrow.dataset as ds

    t = ds.dataset(out / name, format="parquet").to_table()
    return sorted(repr(sorted(r.items())) for r in t.drop([c for c in ("retrieved_at",) if c in t.column_names]).to_pylist())


def test_an_output_with_unpartitioned_mechanisms_is_upgraded_without_duplicates(tmp_path, items, nlp, corpus):
    """Before 2026-11-24 `mechanisms` and `delivery` were derived tables, one file holding every
    pmid. The next run of the new extractor (a new fingerprint: every stored paper is extracted
    again) must leave them partitioned by pmid, each row once, equal to a fresh output's; also the
    rows of non-numeric ids (VitaminDWiki's vdw:96 and vdw:309 name pain mechanisms)."""
    import pyarrow as pa

    from vdmine.pubmed.sources import iter_jsonl

    items = items + [r for r in iter_jsonl(corpus / "secondary" / "vitamindwiki_records.jsonl")
                     if isinstance(r, Record) and r.pmid in ("vdw:96", "vdw:309")]
    old = tmp_path / "old"
    _run(old, items, nlp, batch=10_000, fingerprint="fp-old")
    snap = Store(old).current
    for name in ("mechanisms", "delivery"):  # the old layout: the whole table in one file
        table = pa.concat_tables([pq.read_table(f) for f in sorted((snap / name).glob("part-*.parquet"))])
        assert table.num_rows and len(set(table.column("pmid").to_pylist())) > 1
        if name == "mechanisms":
            assert {"vdw:96", "vdw:309"} <= set(table.column("pmid").to_pylist())
        for f in (snap / name).iterdir():
            f.unlink()
        pq.write_table(table, snap / name / "part-000.parquet")
    _run(old, items, nlp, batch=10_000, fingerprint="fp-new")
    fresh = tmp_path / "fresh"
    _run(fresh, items, nlp, batch=10_000, fingerprint="fp-new")
    for name in ("mechanisms", "delivery", "findings"):
        assert _rows(old, name) == _rows(fresh, name), name
    assert len(list((old / "mechanisms").glob("part-*.parquet"))) >= 2  # partitioned now
