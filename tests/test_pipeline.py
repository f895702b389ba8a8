"""The assembled spaCy pipeline: built once, sentence boundaries, one pass over real records."""

from __future__ import annotations

import warnings

from vdmine.config import ExposureConfig, NlpConfig
from vdmine.nlp.extract import DocRows, extract_records
from vdmine.nlp.pipeline import get_pipeline
from vdmine.pubmed.sources import iter_jsonl
from vdmine.records import Quarantined, Record

warnings.filterwarnings("ignore")


def test_pipeline_is_built_once_per_configuration():
    a = get_pipeline(NlpConfig(), ExposureConfig())
    assert get_pipeline(NlpConfig(), ExposureConfig()) is a
    assert a.pipe_names[:3] == ["vdmine_line_breaks", "sentencizer", "abbreviation_detector"]


def test_title_and_sections_are_sentences_of_their_own(corpus):
    # pmid 35035700: the title has no full stop, the abstract follows on the next line.
    rec = next(r for r in iter_jsonl(corpus / "vitd_pain.jsonl") if r.pmid == "35035700")
    doc = get_pipeline()(rec.text)
    sents = list(doc.sents)
    assert sents[0].text.strip() == rec.title.strip()
    labelled = Record(pmid="x", title="Vitamin D in knee osteoarthritis",
                      abstract="BACKGROUND: Pain is common\nRESULTS: Pain fell. Function rose.")
    texts = [s.text.strip() for s in get_pipeline()(labelled.text).sents]
    assert texts == ["Vitamin D in knee osteoarthritis", "BACKGROUND: Pain is common", "RESULTS: Pain fell.", "Function rose."]


def test_one_result_per_record_in_order(corpus):
    recs = list(iter_jsonl(corpus / "vitd_pain.jsonl"))
    out = list(extract_records(get_pipeline(), recs, batch_size=16))
    assert [o.pmid if isinstance(o, DocRows) else o.record_id for o in out] == [r.pmid for r in recs]
    assert not [o for o in out if isinstance(o, Quarantined)]
    for o in out:
        for row in o.conditions + o.exposures + o.doses + o.findings:
            assert row["pmid"] == o.pmid and row["sent_idx"] >= 0


def test_extraction_one_alone_gives_the_same_rows_as_the_full_pipeline(corpus):
    """Issue 3's speed is measured over extraction I alone (`bench_extract.py --disable
    vdmine_findings --disable vdmine_mechanisms`): leaving the later components out must not
    change a single row of the tables extraction I fills (conditions, exposures, doses, the
    papers' design and sample size)."""
    recs = [r for r in iter_jsonl(corpus / "vitd_pain.jsonl") if isinstance(r, Record)]
    nlp = get_pipeline()
    full = list(extract_records(nlp, recs, batch_size=16))
    later = ["vdmine_findings", "vdmine_mechanisms"]
    with nlp.select_pipes(disable=later):
        assert not set(later) & set(nlp.pipe_names)
        alone = list(extract_records(nlp, recs, batch_size=16))
    assert nlp.pipe_names[-2:] == later  # the shared pipeline is left as it was
    assert len(alone) == len(full) == len(recs)
    for a, f in zip(alone, full):
        assert (a.pmid, a.paper_fields, a.conditions, a.exposures, a.doses) == (
            f.pmid, f.paper_fields, f.conditions, f.exposures, f.doses)
        assert a.findings == a.mechanisms == a.delivery == []
    assert sum(len(f.doses) for f in full) > 100 and sum(len(f.findings) for f in full) > 100
    assert sum(len(f.mechanisms) for f in full) > 20
    assert sum(1 for f in full if f.paper_fields.get("sample_size")) >= 40
