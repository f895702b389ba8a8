"""Small, realistic input tables for the evidence-map, report, claims and docs tests.

Papers are REAL records read at run time from the shared corpus (vitd_pain.jsonl and
secondary/vitamindwiki_records.jsonl); every finding sentence below is quoted verbatim from its
record (``make_tables`` asserts it) with hand-set finding values, as the NLP extractors would
write them. Nothing from /work/shared is copied into the repo beyond these quotations.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from vdmine.store.schemas import TABLES

# pmid -> study design (hand-set, as the design extractor would write it)
DESIGNS = {
    "vdw:3": "randomized controlled trial",  # Schreuder 2012, Ann Fam Med
    "vdw:327": "randomized controlled trial",  # McAlindon 2013, JAMA
    "vdw:1": "cross-sectional",  # Haga 2013, Clin Rheumatol
    "vdw:48": "case-control",  # Sabbagh 2013, Nutrients
    "vdw:105": "cross-sectional",  # Prakash 2010
    "28859173": "case-control",  # Helde-Frankling 2017
}

FINDINGS = [
    dict(pmid="vdw:3", section="results", condition="musculoskeletal pain", exposure="vitamin D", outcome="pain",
         relation="effect", direction="benefit", effect_direction="decrease", significant=None, hedged=True,
         sentence="High-dose vitamin D supplementation may have a positive effect on persistent musculoskeletal pain among vitamin D-deficient patients."),
    dict(pmid="vdw:3", section="results", condition="musculoskeletal pain", exposure="vitamin D", outcome="pain",
         relation="effect", direction="benefit", effect_direction="decrease", significant=True, hedged=False,
         sentence="Specifically, patients randomized to receive vitamin D supplementation were significantly more likely than those in a control group to report pain relief 6 weeks after treatment (35% vs 20%)."),
    dict(pmid="vdw:327", section="conclusions", condition="knee osteoarthritis", exposure="cholecalciferol", outcome="pain",
         relation="effect", direction="no_effect", effect_direction="no_difference", significant=False, hedged=False,
         sentence="Vitamin D supplementation for 2 years at a dose sufficient to elevate 25-hydroxyvitamin D plasma levels to higher than 36 ng/mL, when compared with placebo, did not reduce knee pain or cartilage volume loss in patients with symptomatic knee OA."),
    dict(pmid="vdw:1", section="results", condition="rheumatoid arthritis", exposure="serum 25(OH)D", outcome="disease activity",
         relation="association", direction="no_effect", effect_direction="no_difference", significant=False, hedged=False,
         sentence="There was no significant correlation between the serum level of 25-hydroxyvitamin D(3) and Disease Activity Score 28 (DAS28) (3w) score."),
    dict(pmid="vdw:48", section="results", condition="rheumatoid arthritis", exposure="vitamin D deficiency", outcome="disease activity",
         relation="association", direction="association_positive", effect_direction="increase", significant=True, hedged=False,
         sentence="RA cases with low plasma 25(OH)D had over five times higher risk of disease activity (OR =  5.1595% CI 1.16, 22.9; p = 0.031)."),
    dict(pmid="vdw:105", section="results", condition="osteomalacia", exposure="vitamin D deficiency", outcome="osteomalacia",
         relation="association", direction="association_positive", effect_direction="increase", significant=True, hedged=False,
         sentence="Low serum 25(OH) D level (<20 ng/dl) was significantly associated with headache, musculoskeletal pain, and osteomalacia."),
    dict(pmid="vdw:105", section="results", condition="musculoskeletal pain", exposure="vitamin D deficiency", outcome="pain",
         relation="association", direction="association_positive", effect_direction="increase", significant=True, hedged=False,
         sentence="Low serum 25(OH) D level (<20 ng/dl) was significantly associated with headache, musculoskeletal pain, and osteomalacia."),
    dict(pmid="28859173", section="conclusions", condition="cancer pain", exposure="vitamin D", outcome="pain",
         relation="effect", direction="benefit", effect_direction="decrease", significant=None, hedged=False,
         sentence="Conclusion: Vitamin D supplementation to palliative cancer patients is safe and improvement in pain management is noted as early as 1 month after treatment."),
]

DOSES = [
    dict(pmid="vdw:3", text="150,000 IU of Vitamin D3", compound="cholecalciferol", amount=150000.0, unit="IU",
         frequency="single", route="oral", duration_days=None, iu_per_day=None, bolus_iu=150000.0, regimen="bolus"),
    dict(pmid="vdw:327", text="oral cholecalciferol, 2000 IU/d", compound="cholecalciferol", amount=2000.0, unit="IU",
         frequency="daily", route="oral", duration_days=730.0, iu_per_day=2000.0, bolus_iu=None, regimen="maintenance"),
]


def load_records(corpus: Path, pmids) -> dict[str, dict]:
    want, out = set(pmids), {}
    for name in ("vitd_pain.jsonl", "secondary/vitamindwiki_records.jsonl"):
        with open(corpus / name, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                if r["pmid"] in want:
                    out[r["pmid"]] = r
    assert set(out) == want, f"records missing from the corpus: {want - set(out)}"
    return out


def doc_text(r: dict) -> str:
    return f"{r['title']}\n{r['abstract']}" if r.get("title") and r.get("abstract") else (r.get("title") or r.get("abstract") or "")


def _sent_idx(nlp, text: str, start: int) -> int:
    doc = nlp(text)
    for i, s in enumerate(doc.sents):
        if s.start_char <= start < s.end_char:
            return i
    raise AssertionError("offset outside the document")


def make_tables(corpus: Path, extra_papers: dict | None = None) -> dict[str, pa.Table]:
    """papers/findings/doses tables for the records above (+ optional extra real-record pmids), and
    their mechanisms/delivery rows as the extraction pass would write them."""
    from vdmine.evidence.mechanisms import _nlp, mechanism_and_delivery_rows

    nlp = _nlp()
    designs = dict(DESIGNS, **(extra_papers or {}))
    recs = load_records(corpus, designs)
    papers = [
        dict(pmid=p, title=r["title"], abstract=r["abstract"], year=r.get("year"), journal=r.get("journal"),
             pub_types=r.get("pub_types") or [], study_design=designs[p], version=1, source="jsonl:test")
        for p, r in recs.items()
    ]
    findings = []
    for f in FINDINGS:
        text = doc_text(recs[f["pmid"]])
        start = text.find(f["sentence"])
        assert start >= 0, f"not a verbatim quote of {f['pmid']}: {f['sentence'][:60]}"
        findings.append(dict(f, sent_idx=_sent_idx(nlp, text, start), comparator=None, negated=False,
                             study_design=designs[f["pmid"]], trigger="test"))
    doses = []
    for d in DOSES:
        text = doc_text(recs[d["pmid"]])
        start = text.find(d["text"])
        assert start >= 0, f"not a verbatim dose of {d['pmid']}"
        doses.append(dict(d, sent_idx=_sent_idx(nlp, text, start), start_char=start, end_char=start + len(d["text"])))
    tables = {
        "papers": pa.Table.from_pylist(papers, schema=TABLES["papers"]),
        "findings": pa.Table.from_pylist(findings, schema=TABLES["findings"]),
        "doses": pa.Table.from_pylist(doses, schema=TABLES["doses"]),
    }
    tables["mechanisms"], tables["delivery"] = mechanism_and_delivery_rows(tables["papers"], tables["findings"])
    return tables


def write_out_dir(out: Path, tables: dict[str, pa.Table]) -> Path:
    """An output folder as the flow leaves it (tables published through the store)."""
    from vdmine.store.dataset import Store

    Store(out).commit(tables)
    return out
