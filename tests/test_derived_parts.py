"""The evidence map built partition by partition (what a run does, memory bounded) equals the
one built from the whole tables in memory (what `vdmine report` and the tests of the rules use);
the mechanisms and delivery rows the extraction pass writes equal the ones computed from the
stored tables (what the report uses for an output folder without them).

Input: the real on-topic corpus and the VitaminDWiki records extracted into a store, so the
tables have several pmid partitions (PubMed ids of different 5-million ranges, and vdw: ids).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vdmine import run as steps
from vdmine.config import load_config
from vdmine.evidence.map import build_evidence_map, build_evidence_map_from_parts
from vdmine.evidence.mechanisms import mechanism_and_delivery_rows
from vdmine.records import Record
from vdmine.store.dataset import Store
from vdmine.store.schemas import TABLES

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def store(corpus, tmp_path_factory) -> Store:
    from vdmine.nlp.pipeline import get_pipeline
    from vdmine.pubmed.sources import iter_jsonl

    items = [r for f in (corpus / "vitd_pain.jsonl", corpus / "secondary" / "vitamindwiki_records.jsonl")
             for r in iter_jsonl(f) if isinstance(r, Record)]
    store = Store(tmp_path_factory.mktemp("derived") / "out")
    cfg = load_config(None)
    with store.lock():
        staged = steps.stage(store, cfg, get_pipeline(), iter(items), "fp", show_progress=False)
        steps.commit(store, staged, steps.new_summary("extract", "test"), "fp")
    return store


def _folder(store: Store):
    return lambda name: store.table_path(name) if store.has(name) else None


def test_the_store_has_several_partitions(store):
    parts = steps._derived_inputs(_folder(store), Path("unused"))
    assert len(parts["evidence_parts"]) >= 4
    assert len(list(store.table_path("mechanisms").glob("part-*.parquet"))) >= 3  # a sentence table, partitioned


@pytest.mark.parametrize("spill_rows", [10**6, 97])  # one spill file; many (groups hashed over 20+ files)
def test_evidence_map_from_parts_equals_the_whole_table_build(store, tmp_path, spill_rows):
    whole = build_evidence_map(store.read("papers"), store.read("findings"), store.read("doses"))
    parts = steps._derived_inputs(_folder(store), tmp_path / "scratch")
    got = build_evidence_map_from_parts(parts["evidence_parts"], parts["scratch"], spill_rows=spill_rows)
    assert whole.num_rows > 100
    assert got.equals(whole)
    assert got.schema.equals(TABLES["evidence_map"], check_metadata=True)  # the table's doc goes into the file
    assert not list((tmp_path / "scratch").glob("*.arrow"))  # spill files are removed


def _rows(table) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in table.to_pylist())


def test_extracted_mechanisms_equal_the_rows_from_the_stored_tables(store):
    """One pass per document: the extraction wrote mechanisms and delivery; computed again from
    the stored papers, findings and conditions (a separate tokenizer run), the rows are the same."""
    mech, deliv = mechanism_and_delivery_rows(store.read("papers"), store.read("findings"), store.read("conditions"))
    assert mech.num_rows > 10 and deliv.num_rows > 5
    assert any(r["outcome"] for r in deliv.to_pylist())  # the delivery rows carry the papers' findings
    assert _rows(store.read("mechanisms")) == _rows(mech)
    assert _rows(store.read("delivery")) == _rows(deliv)


def test_the_run_published_the_partitioned_build(store):
    """What the run committed is what the whole-table build gives."""
    whole = build_evidence_map(store.read("papers"), store.read("findings"), store.read("doses"))
    published = pq.read_table(store.table_path("evidence_map"), schema=TABLES["evidence_map"])
    assert published.equals(whole)


def test_mechanism_rows_are_the_same_with_and_without_memory_zones(store, monkeypatch):
    """Mechanism sentences are tokenized a few papers at a time inside spaCy memory zones (their
    strings are dropped after each group): groups of 3 papers give the same rows as no zones."""
    import contextlib

    from vdmine.evidence import mechanisms

    args = (store.read("papers"), store.read("findings"), store.read("conditions"))
    monkeypatch.setattr(mechanisms, "ZONE_DOCS", 3)
    zoned = mechanism_and_delivery_rows(*args)
    nlp = mechanisms._nlp()
    zones = []
    monkeypatch.setattr(nlp, "memory_zone", lambda mem=None: zones.append(1) or contextlib.nullcontext())
    plain = mechanism_and_delivery_rows(*args)
    assert len(zones) > 10  # the second build went through many groups, none of them in a zone
    assert zoned[0].num_rows > 10
    assert zoned[0].equals(plain[0]) and zoned[1].equals(plain[1])
