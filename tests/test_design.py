"""Study design and sample size, on real titles/sentences from the shared corpus (quoted and checked)."""

from __future__ import annotations

import pytest
from corpus_text import real

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def nlp():
    from vdmine.nlp.pipeline import build_pipeline

    return build_pipeline()


def fields(nlp, text, pub_types=()):
    from vdmine.nlp import design

    return design.paper_fields(nlp(text), list(pub_types))


def test_pub_type_priority():
    from vdmine.nlp.design import decide

    assert decide(["Journal Article", "Systematic Review", "Meta-Analysis"], None) == ("meta-analysis", "pub_type:Meta-Analysis")
    assert decide(["Randomized Controlled Trial", "Review"], None)[0] == "randomized controlled trial"
    assert decide(["Review"], ("systematic review", "PRISMA")) == ("systematic review", "pub_type:Review; text:PRISMA")
    assert decide(["Clinical Trial"], ("randomized controlled trial", "randomly assigned"))[0] == "randomized controlled trial"
    assert decide(["Clinical Trial"], None)[0] == "non-randomized trial"
    assert decide(["Journal Article"], None) == ("other", "text:no design cue")


def test_rct_from_title_text(nlp, shared):
    title = real(shared, "vitd_other.jsonl",
                 "Effect of vitamin D supplementation on inflammation and nuclear factor kappa-B activity in overweight/obese adults: "
                 "a randomized placebo-controlled trial")
    f = fields(nlp, title)
    assert f["study_design"] == "randomized controlled trial"
    assert f["study_design_evidence"].startswith("text:")


def test_case_report_text(nlp, shared):
    s = real(shared, "offtopic.jsonl",
             "The authors present a case of Staphylococcus aureus spinal subdural abscess in a patient with AIDS.")
    assert fields(nlp, "Spinal subdural abscess\n" + s)["study_design"] == "case report"


@pytest.mark.parametrize("name,sentence,n", [
    ("vitd_other.jsonl", "Sixty-five overweight/obese, vitamin D-deficient (25-hydroxyvitamin D [25(OH)D] ≤ 50 nmol/L) adults were randomized", 65),
    ("vitd_pain.jsonl", "Eighty-four women of South Asian origin, living in Auckland, New Zealand, were randomised to receive either a supplement", 84),
    ("vitd_other.jsonl", "In total, 200 healthy, white 6-8-y-old children were included and randomized to 20\u00a0µg/d vitamin D3 or placebo.", 200),
    ("vitd_pain.jsonl", "A total of 464 early postmenopausal women were randomized to four groups", 464),
])
def test_sample_size(nlp, shared, name, sentence, n):
    f = fields(nlp, real(shared, name, sentence))
    assert f["sample_size"] == n
    assert f["sample_size_evidence"] in sentence


def test_sample_size_not_subgroups_or_percentages(nlp, shared):
    s = real(shared, "secondary/vitamindwiki_records.jsonl",
             "Forty-five male and female athletes were randomized to 4000IU vitamin D (n=23) or placebo (n=22).")
    assert fields(nlp, s)["sample_size"] == 45  # not the per-arm 23 or 22
    assert fields(nlp, "Ninety-four percent of participants completed the study.")["sample_size"] is None
    assert fields(nlp, "Of these, 30 patients developed fractures.")["sample_size"] is None


@pytest.mark.slow
def test_pico_sample_size_dev(nlp, shared):
    from vdmine.eval.design import _nlp, eval_pico

    res = eval_pico(_nlp(), shared / "bench/pico_corpus/pico_corpus_brat_annotated_files.tar.gz")
    assert res["dev"]["exact_any"] >= 0.70
    assert res["test"]["exact_any"] >= 0.65
