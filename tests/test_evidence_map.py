"""Evidence map: verdict rules, counts, dose ranges, determinism, mechanism/delivery sentences.

Inputs are real corpus records with hand-set finding values (tests/evidence_testdata.py).
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from evidence_testdata import FINDINGS, load_records, make_tables, write_out_dir
from vdmine.evidence.map import build_and_write_evidence_map, build_evidence_map, read_table
from vdmine.store.schemas import TABLES

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def tables(corpus):
    return make_tables(corpus)


def _row(emap: pa.Table, condition: str, exposure: str, outcome: str) -> dict:
    rows = [r for r in emap.to_pylist() if (r["condition"], r["exposure"], r["outcome"]) == (condition, exposure, outcome)]
    assert len(rows) == 1, (condition, exposure, outcome)
    return rows[0]


def _with(tables, findings: list[dict], designs: dict | None = None) -> pa.Table:
    papers = tables["papers"]
    if designs:
        rows = papers.to_pylist()
        for r in rows:
            r["study_design"] = designs.get(r["pmid"], r["study_design"])
        papers = pa.Table.from_pylist(rows, schema=TABLES["papers"])
    return build_evidence_map(papers, pa.Table.from_pylist(findings, schema=TABLES["findings"]), tables["doses"])


def test_schema_and_one_row_per_key(tables):
    emap = build_evidence_map(tables["papers"], tables["findings"], tables["doses"])
    assert emap.schema.equals(TABLES["evidence_map"], check_metadata=False)
    keys = [(r["condition"], r["exposure"], r["outcome"]) for r in emap.to_pylist()]
    assert keys == sorted(set(keys)) and len(keys) == 7


def test_rct_benefit_supports_and_counts_the_paper_once(tables):
    """vdw:3 (Schreuder RCT) states its benefit twice: one paper, two findings, weight 3."""
    emap = build_evidence_map(tables["papers"], tables["findings"], tables["doses"])
    r = _row(emap, "musculoskeletal pain", "vitamin D", "pain")
    assert (r["n_papers"], r["n_findings"], r["n_rct"], r["n_benefit"], r["n_hedged"]) == (1, 2, 1, 2, 1)
    assert r["verdict"] == "supports" and r["weight_for"] == 3.0
    assert r["bolus_iu"] == [150000.0] and r["iu_per_day_min"] is None  # a bolus is not a daily dose
    # the unhedged, significant sentence represents the row
    assert r["representative_sentence"].startswith("Specifically, patients randomized")
    assert r["condition_group"] == "chronic pain"


def test_rct_without_effect_gives_no_effect_with_its_dose(tables):
    """McAlindon's RCT: 'did not reduce knee pain' -> no effect; 2000 IU/d is the dose range."""
    emap = build_evidence_map(tables["papers"], tables["findings"], tables["doses"])
    r = _row(emap, "knee osteoarthritis", "cholecalciferol", "pain")
    assert r["verdict"] == "no effect" and r["direction"] == "no_effect"
    assert (r["iu_per_day_min"], r["iu_per_day_max"]) == (2000.0, 2000.0)
    assert r["condition_group"] == "osteoarthritis" and r["pmids"] == ["vdw:327"]


def test_single_observational_paper_is_insufficient(tables):
    emap = build_evidence_map(tables["papers"], tables["findings"], tables["doses"])
    r = _row(emap, "rheumatoid arthritis", "vitamin D deficiency", "disease activity")
    assert r["verdict"] == "insufficient" and r["n_observational"] == 1
    # deficiency x more disease activity points to benefit of vitamin D
    assert r["weight_for"] == 2.0 and r["direction"] == "association_positive"


def test_hedged_only_paper_weighs_half(tables):
    """Without its unhedged sentence, the RCT only 'may have a positive effect': 1.5 < 3."""
    hedged_only = [f for f in tables["findings"].to_pylist() if f["pmid"] == "vdw:3" and f["hedged"]]
    r = _with(tables, hedged_only).to_pylist()[0]
    assert r["verdict"] == "insufficient" and r["weight_for"] == 1.5


def test_design_hierarchy_decides_between_conflicting_papers(tables):
    """Same row: an RCT with benefit against a null result. A meta-analysis null outweighs the RCT
    (4 vs 3 -> mixed); a case report null does not (3 of 4 -> supports)."""
    fs = [f for f in tables["findings"].to_pylist() if f["pmid"] in ("vdw:3", "vdw:327")]
    for f in fs:
        f["condition"], f["exposure"] = "chronic pain", "vitamin D"
    meta = _with(tables, fs, {"vdw:327": "meta-analysis"}).to_pylist()[0]
    assert meta["verdict"] == "mixed" and meta["opposing_pmids"] == []
    case = _with(tables, fs, {"vdw:327": "case report"}).to_pylist()[0]
    assert case["verdict"] == "supports" and case["supporting_pmids"] == ["vdw:3"] and case["opposing_pmids"] == ["vdw:327"]
    # the dose range comes from the supporting paper only
    assert case["bolus_iu"] == [150000.0] and case["iu_per_day_min"] is None


def test_unknown_outcome_polarity_uses_majority_sign(tables):
    base = next(f for f in tables["findings"].to_pylist() if f["pmid"] == "vdw:48")
    a = dict(base, outcome="rheumatoid factor")
    b = dict(base, pmid="vdw:1", sent_idx=9, outcome="rheumatoid factor", direction="association_negative",
             sentence=next(f["sentence"] for f in FINDINGS if f["pmid"] == "vdw:1"))
    r = _with(tables, [a, b]).to_pylist()[0]
    assert r["verdict"] == "mixed" and r["weight_for"] == r["weight_against"] == 2.0


def test_same_input_gives_byte_identical_parquet(tables, tmp_path):
    """Written twice, and once from shuffled input rows: identical bytes."""
    shuffled = dict(tables)
    rows = tables["findings"].to_pylist()
    random.Random(7).shuffle(rows)
    shuffled["findings"] = pa.Table.from_pylist(rows, schema=TABLES["findings"])
    outs = []
    for i, t in enumerate((tables, tables, shuffled)):
        out = write_out_dir(tmp_path / f"o{i}", t)
        build_and_write_evidence_map(out)
        outs.append(out)
    for name in ("evidence_map", "mechanisms", "delivery"):
        blobs = [sorted(p.read_bytes() for p in (o / name).glob("*.parquet")) for o in outs]
        assert blobs[0] and blobs[0] == blobs[1] == blobs[2], name
    assert read_table(outs[0], "evidence_map").num_rows == 7


def test_read_table_conforms_old_or_partial_tables(tmp_path, tables):
    partial = tables["findings"].select(["pmid", "sent_idx", "sentence", "direction"])
    (tmp_path / "findings").mkdir()
    import pyarrow.parquet as pq

    pq.write_table(partial, tmp_path / "findings" / "part-0.parquet")
    t = read_table(tmp_path, "findings")
    assert t.schema.equals(TABLES["findings"], check_metadata=False)
    assert t.column("condition").null_count == t.num_rows == len(FINDINGS)
    assert read_table(tmp_path, "doses").num_rows == 0


def test_mechanism_and_delivery_sentences_on_real_records(corpus):
    """Cue matches on real records: offsets point at the cue, sentences are the record's own."""
    from vdmine.evidence.mechanisms import mechanism_and_delivery_rows

    pmids = ["vdw:96", "vdw:309", "vdw:319", "40218858"]
    recs = load_records(corpus, pmids)
    papers = pa.Table.from_pylist(
        [dict(pmid=p, title=r["title"], abstract=r["abstract"]) for p, r in recs.items()], schema=TABLES["papers"]
    )
    mech, deliv = mechanism_and_delivery_rows(papers)
    for row in mech.to_pylist() + deliv.to_pylist():
        r = recs[row["pmid"]]
        text = f"{r['title']}\n{r['abstract']}"
        assert text[row["start_char"]:row["end_char"]] == row["cue"]
        assert row["cue"] in row["sentence"] and row["sentence"] in text
    got = {(r["pmid"], r["mechanism"], r["pain_context"]) for r in mech.to_pylist()}
    # "Vitamin D and Central Hypersensitivity in Patients with Chronic Pain"
    assert ("vdw:96", "central sensitization", True) in got
    # "... a true immunomodulatory effect of vitamin D or a more subjective effect of low vitamin D on pain perception."
    assert ("vdw:309", "immunomodulation", True) in got
    # "The vitamin D receptor (VDR) is expressed in over 400 tissues, including those of the head and neck ..." (no pain)
    assert ("40218858", "vitamin D receptor", False) in got
    deliveries = {(r["pmid"], r["delivery"]) for r in deliv.to_pylist()}
    # "... Single Intramuscular versus Staggered Oral Dose of 600 000IU Vitamin D in Treatment of Nutritional Rickets"
    assert {("vdw:319", "intramuscular"), ("vdw:319", "oral")} <= deliveries


def test_mechanism_and_delivery_sent_idx_names_the_extraction_pipelines_sentence(corpus):
    """``sent_idx`` joins mechanisms and delivery with findings (docs/data_dictionary.md), so it
    must number sentences as the extraction pipeline does: a title without a full stop and each
    structured-abstract section are sentences of their own there. (Until 2026-11-24 the mechanism
    step used spaCy's plain sentencizer and glued "Title\\nPurpose." into one sentence, shifting
    every later index: 74 of 650 mechanism rows of the 5,000-record benchmark named another
    sentence.)"""
    from vdmine.evidence.mechanisms import mechanism_and_delivery_rows
    from vdmine.nlp.pipeline import get_pipeline
    from vdmine.pubmed.sources import iter_jsonl
    from vdmine.records import Record

    recs = {r.pmid: r for name in ("vitd_pain.jsonl", "vitd_other.jsonl", "offtopic.jsonl")
            for r in iter_jsonl(corpus / name) if isinstance(r, Record)}
    papers = pa.Table.from_pylist(
        [dict(pmid=r.pmid, title=r.title, abstract=r.abstract) for r in recs.values()], schema=TABLES["papers"])
    mech, deliv = mechanism_and_delivery_rows(papers)
    rows = mech.to_pylist() + deliv.to_pylist()
    assert len(rows) > 300
    nlp = get_pipeline()
    sentences = {}
    titled = 0
    for row in rows:
        pmid = row["pmid"]
        if pmid not in sentences:
            sentences[pmid] = [s.text.strip() for s in nlp(recs[pmid].text).sents]
        assert sentences[pmid][row["sent_idx"]] == row["sentence"], (pmid, row["sent_idx"])
        titled += row["sent_idx"] == 0 and recs[pmid].title.strip() == row["sentence"]
    assert titled >= 10  # cue words in titles: the title is sentence 0, alone
