"""pmid partition width: names that say their range, legacy (5 million, ``part-NNN``) stores
re-partitioned by the next commit, atomically and with the rows of a store written at the new
width; and the run's per-pmid index released before the derived tables are built."""

from __future__ import annotations

import datetime as dt
import os
import weakref
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vdmine import run as steps
from vdmine.config import load_config
from vdmine.errors import VdmineError
from vdmine.records import Deletion, Record
from vdmine.store.dataset import (
    DEFAULT_PMID_WIDTH,
    LEGACY_PMID_WIDTH,
    PMID_TABLES,
    PartitionMerge,
    Store,
    bucket_of,
    part_range,
)
from vdmine.store.tables import drop_pmids, paper_row, to_table

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)
# spread like PubMed ids (several per 5 M and per 1 M range, some alone) and two non-numeric ids
PMIDS = ["7", "999999", "1000000", "1234567", "4999999", "5000000", "5000001", "12345678",
         "38000001", "38000002", "38999999", "40999999", "PMC:77", "PMC:78"]


def _tables() -> dict[str, pa.Table]:
    papers = to_table("papers", [paper_row(Record(p, title=f"Title {p}", abstract=f"Abstract of {p}."), NOW) for p in PMIDS])
    findings = to_table("findings", [
        {"pmid": p, "sent_idx": i, "sentence": f"s{i} of {p}", "start_char": 0, "end_char": 5}
        for p in PMIDS[::2] for i in range(2)])
    return {"papers": papers, "findings": findings}


def _files(out: Path) -> dict[str, bytes]:
    return {f"{t}/{f.name}": f.read_bytes() for t in sorted(PMID_TABLES) if (out / t).is_dir()
            for f in sorted((out / t).iterdir())}


def _make_legacy(out: Path) -> None:
    """A store as vdmine wrote it before partition widths: pmid // 5 M, ``part-NNN.parquet``
    (the same rows and writer, so only the names differ from a store at width 5 M)."""
    Store(out, pmid_width=LEGACY_PMID_WIDTH).commit(_tables())
    for t in PMID_TABLES:
        for f in (out / t).glob("part-*.parquet"):
            span = part_range(f.name)
            if span is not None:
                f.rename(f.with_name(f"part-{span[0] // LEGACY_PMID_WIDTH:03d}.parquet"))


def _widths(out: Path) -> set[int]:
    return {last - first + 1 for f in _files(out) if (span := part_range(f.split("/")[1])) for first, last in [span]}


def test_partition_names_say_their_range():
    assert bucket_of("38000001") == "038000000-038999999"
    assert bucket_of("38000001", 100_000) == "038000000-038099999"
    assert bucket_of("PMC:77", 100_000) == "x-PMC"
    assert part_range("part-038000000-038999999.parquet") == (38_000_000, 38_999_999)
    assert part_range("part-007.parquet") == (35_000_000, 39_999_999)  # legacy name
    assert part_range("part-x-PMC.parquet") is None and part_range("part-empty.parquet") is None


def test_legacy_store_is_repartitioned_by_the_next_commit(tmp_path):
    legacy, fresh = tmp_path / "legacy", tmp_path / "fresh"
    _make_legacy(legacy)
    names = {f.split("/")[1] for f in _files(legacy)}
    assert "part-007.parquet" in names and "part-x-PMC.parquet" in names
    before = pq.read_table(legacy / "papers").to_pylist()
    assert Store(legacy).pmid_width == DEFAULT_PMID_WIDTH  # a legacy store is not kept at 5 M

    # A commit that writes none of the pmid tables still lays them all out at the new width,
    # with the very bytes a store written at that width from the start has.
    runs = to_table("runs", [])
    Store(legacy).commit({"runs": runs})
    Store(fresh, pmid_width=DEFAULT_PMID_WIDTH).commit({**_tables(), "runs": runs})
    assert _files(legacy) == _files(fresh)
    assert _widths(legacy) == {DEFAULT_PMID_WIDTH}
    assert "papers/part-038000000-038999999.parquet" in _files(legacy)
    assert pq.read_table(legacy / "papers").to_pylist() == before
    assert Store(legacy).pmid_width == DEFAULT_PMID_WIDTH


def test_legacy_store_repartitioned_before_a_merge(tmp_path):
    """A run's merge on a legacy store reads the re-partitioned table: same result as the merge
    on a store written at the new width."""
    gone = {"5000001", "38000002"}

    def drop(bucket: str, old: pa.Table) -> pa.Table:
        return drop_pmids(old, gone)

    buckets = {bucket_of(p) for p in gone}
    results = []
    for name, prepare in (("legacy", _make_legacy), ("fresh", lambda out: Store(out).commit(_tables()))):
        out = tmp_path / name
        prepare(out)
        Store(out).commit({}, merges={t: PartitionMerge(set(buckets), drop, DEFAULT_PMID_WIDTH) for t in ("papers", "findings")})
        results.append(_files(out))
        assert not gone & set(pq.read_table(out / "papers").column("pmid").to_pylist())
        assert not (out / ".vdmine" / "current" / ".regrid").exists()
    assert results[0] == results[1]


def test_a_crash_while_repartitioning_leaves_the_old_snapshot(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _make_legacy(out)
    current, files = os.readlink(out / ".vdmine" / "current"), _files(out)
    rows = {t: pq.read_table(out / t).to_pylist() for t in PMID_TABLES if (out / t).is_dir()}
    real = Store._write_part
    calls = []

    def failing(table, target, old):
        calls.append(target)
        if len(calls) > 1:
            raise OSError("simulated crash after the first new partition")
        return real(table, target, old)

    monkeypatch.setattr(Store, "_write_part", staticmethod(failing))
    with pytest.raises(OSError, match="simulated crash"):
        Store(out).commit({"runs": to_table("runs", [])})
    assert len(calls) == 2 and ".regrid" not in str(calls[0])  # it failed inside the re-partitioning
    assert os.readlink(out / ".vdmine" / "current") == current
    assert _files(out) == files
    assert {t: pq.read_table(out / t).to_pylist() for t in rows} == rows

    monkeypatch.setattr(Store, "_write_part", staticmethod(real))  # the next commit completes it
    Store(out).commit({"runs": to_table("runs", [])})
    assert _widths(out) == {DEFAULT_PMID_WIDTH}
    assert {t: pq.read_table(out / t).to_pylist() for t in rows} == rows


def test_the_chosen_width_is_honoured_and_kept(tmp_path):
    out = tmp_path / "out"
    Store(out, pmid_width=100_000).commit(_tables())
    assert _widths(out) == {100_000}
    assert "papers/part-038000000-038099999.parquet" in _files(out)
    assert Store(out).pmid_width == 100_000  # a store without a wanted width keeps its own
    Store(out).commit({"runs": to_table("runs", [])})
    assert _widths(out) == {100_000}

    # Coarser again (several old partitions into one new one): the bytes of a store written so.
    Store(out, pmid_width=2_000_000).commit({"runs": to_table("runs", [])})
    Store(tmp_path / "fresh", pmid_width=2_000_000).commit({**_tables(), "runs": to_table("runs", [])})
    assert _files(out) == _files(tmp_path / "fresh")

    with pytest.raises(ValueError, match="pmid width"):
        Store(out).commit({}, merges={"papers": PartitionMerge({bucket_of("7")}, lambda b, t: t, DEFAULT_PMID_WIDTH)})


def test_config_width(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text("[output]\npmid_partition_width = 10\n")
    with pytest.raises(VdmineError, match="pmid_partition_width"):
        load_config(cfg_file)
    cfg_file.write_text("[output]\npmid_partition_width = 250000\n")
    assert load_config(cfg_file).output.pmid_partition_width == 250_000
    assert load_config(None).output.pmid_partition_width == 0


def _no_extraction(batches):
    """Stands in for the NLP pipeline: every record is stored, with no sentence rows."""
    for records in batches:
        yield [], []


def _run(out: Path, items: list, cfg):
    store = Store(out)
    with store.lock():
        staged = steps.stage(store, cfg, None, iter(items), "fp", extract_batches=_no_extraction,
                             batch_records=3, show_progress=False, now=NOW)
        return staged, steps.commit(store, staged, steps.new_summary("extract", "test"), "fp")


def test_run_uses_the_configured_width(tmp_path):
    cfg = load_config(None)
    cfg.output.pmid_partition_width = 250_000
    items = [Record(p, title=f"T {p}", abstract="A.") for p in PMIDS]
    _run(tmp_path / "out", items, cfg)
    assert _widths(tmp_path / "out") == {250_000}
    cfg.output.pmid_partition_width = 0  # the next run keeps the output's width, and deletes
    staged, summary = _run(tmp_path / "out", [Deletion("7", "test")], cfg)
    assert _widths(tmp_path / "out") == {250_000} and summary.deleted == 1
    assert "7" not in pq.read_table(tmp_path / "out" / "papers").column("pmid").to_pylist()


def test_the_run_index_is_released_before_the_derived_tables(tmp_path, monkeypatch):
    refs = {}
    real_plan, real_distinct = steps._plan, steps._distinct_pmids

    def plan(staged):
        p = real_plan(staged)
        refs["plan"] = weakref.ref(p)
        refs["staged"] = staged
        return p

    def distinct(folder):  # the first thing finalize does
        refs["plan alive in finalize"] = refs["plan"]() is not None
        refs["pmids in finalize"] = len(refs["staged"].pmids)
        return real_distinct(folder)

    monkeypatch.setattr(steps, "_plan", plan)
    monkeypatch.setattr(steps, "_distinct_pmids", distinct)
    items = [Record(p, title=f"T {p}", abstract="A.") for p in PMIDS]
    staged, summary = _run(tmp_path / "out", items, load_config(None))
    assert summary.new == len(PMIDS) and pq.read_table(tmp_path / "out" / "papers").num_rows == len(PMIDS)
    assert refs["plan alive in finalize"] is False
    assert refs["pmids in finalize"] == 0
