"""Atomic, deterministic Parquet tables readable by pyarrow, DuckDB and Polars."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow.parquet as pq
import pytest

from vdmine.errors import VdmineError
from vdmine.pubmed.sources import iter_jsonl
from vdmine.store.dataset import Store
from vdmine.store.schemas import TABLES, data_dictionary
from vdmine.store.tables import merge_papers, paper_row, to_table

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)


def _papers(corpus, n=None):
    recs = list(iter_jsonl(corpus / "vitd_pain.jsonl"))[:n]
    table, _ = merge_papers(TABLES["papers"].empty_table(), [paper_row(r, NOW) for r in recs], set())
    return recs, table


def test_commit_then_read_back_with_three_readers(tmp_path, corpus):
    recs, papers = _papers(corpus)
    store = Store(tmp_path / "out")
    store.commit({"papers": papers})
    back = pq.read_table(tmp_path / "out" / "papers")
    assert back.num_rows == 149 and back.schema.equals(TABLES["papers"], check_metadata=False)
    import duckdb
    import polars as pl

    n = duckdb.sql(f"select count(distinct pmid) from read_parquet('{tmp_path}/out/papers/**/*.parquet')").fetchall()[0][0]
    assert n == 149
    assert pl.read_parquet(f"{tmp_path}/out/papers/*.parquet").height == 149


def test_same_rows_give_identical_bytes_and_unchanged_partitions_are_reused(tmp_path, corpus):
    _, papers = _papers(corpus)
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    a.commit({"papers": papers})
    b.commit({"papers": papers})
    fa = sorted((tmp_path / "a" / "papers").iterdir())
    fb = sorted((tmp_path / "b" / "papers").iterdir())
    assert [f.name for f in fa] == [f.name for f in fb]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb))
    inodes = {f.name: f.stat().st_ino for f in fa}
    a.commit({"papers": papers})  # nothing changed: every partition is a hard link to the old file
    assert {f.name: f.stat().st_ino for f in (tmp_path / "a" / "papers").iterdir()} == inodes


def test_a_failed_commit_leaves_the_previous_table(tmp_path, corpus, monkeypatch):
    _, papers = _papers(corpus)
    store = Store(tmp_path / "out")
    store.commit({"papers": papers})
    import vdmine.store.dataset as ds

    real = ds._write_file
    calls = {"n": 0}

    def dying(table, path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")  # ENOSPC half-way through
        real(table, path)

    monkeypatch.setattr(ds, "_write_file", dying)
    _, fewer = _papers(corpus, 10)
    with pytest.raises(OSError):
        store.commit({"papers": fewer})
    assert pq.read_table(tmp_path / "out" / "papers").num_rows == 149


def test_disk_full_is_a_clear_error(tmp_path, corpus, monkeypatch):
    import pyarrow.parquet as pqmod

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    _, papers = _papers(corpus, 5)
    monkeypatch.setattr(pqmod, "write_table", full)
    with pytest.raises(VdmineError) as e:
        Store(tmp_path / "out").commit({"papers": papers})
    assert e.value.code == "E032"


def test_unwritable_output_folder(tmp_path):
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    with pytest.raises(VdmineError) as e:
        Store(target / "out").ensure()
    assert e.value.code == "E030"


def test_second_writer_is_refused_and_stale_lock_is_recovered(tmp_path):
    store = Store(tmp_path / "out")
    with store.lock():
        with pytest.raises(VdmineError) as e:
            with Store(tmp_path / "out").lock():
                pass
        assert e.value.code == "E031"
    lock = tmp_path / "out" / ".vdmine" / "lock"
    lock.write_text('{"pid": 999999999, "host": "%s", "since": "x"}' % os.uname().nodename)
    with store.lock():  # the holder is dead: the lock is taken over
        pass


def test_data_dictionary_is_in_docs():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "data_dictionary.md").read_text()
    assert doc == data_dictionary(), "regenerate: python -m vdmine.store.schemas > docs/data_dictionary.md"


def test_empty_table_is_still_a_readable_dataset(tmp_path):
    Store(tmp_path / "out").commit({"findings": to_table("findings", [])})
    t = pq.read_table(tmp_path / "out" / "findings")
    assert t.num_rows == 0 and "effect_direction" in t.column_names
