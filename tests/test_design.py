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


def test_mendelian_randomization_is_not_a_trial(nlp, shared):
    # vitd_pain.jsonl PMID 40195255: genetic epidemiology, nobody was randomised
    title = real(shared, "vitd_pain.jsonl", "The Causal Relationship Between Zinc and Osteoarthritis: A Two-Sample Mendelian Randomization Study")
    assert fields(nlp, title)["study_design"] != "randomized controlled trial"
    assert fields(nlp, "Participants were enrolled before randomization.")["study_design"] == "randomized controlled trial"


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


def _corpus_texts(shared, names, limit=None):
    from itertools import islice

    from vdmine.pubmed.sources import iter_jsonl
    from vdmine.records import Record

    out = []
    for name in names:
        out += [r.text for r in islice(iter_jsonl(shared / "corpus" / name), limit) if isinstance(r, Record)]
    return out


def test_design_shortcuts_are_exact(shared, monkeypatch):
    """Prefix-tree word lists, required-literal skips and start positions change no design cue and
    no sample size: compared with flat alternations and every pattern run everywhere."""
    from vdmine.nlp import design

    texts = _corpus_texts(shared, ["vitd_pain.jsonl", "vitd_other.jsonl", "secondary/vitamindwiki_records.jsonl",
                                   "evidence_inference_vitd_ico.jsonl", "offtopic.jsonl"], limit=1200)
    titles = [t.split("\n", 1)[0] for t in texts]
    fast = [(design.text_design(ti, t), design.sample_size(t)) for ti, t in zip(titles, texts)]
    reference = design._Cues(tries=False)
    reference.fast = False
    monkeypatch.setattr(design, "cues", lambda: reference)
    slow = [(design.text_design(ti, t), design.sample_size(t)) for ti, t in zip(titles, texts)]
    assert fast == slow
    assert sum(s is not None for _, s in fast) > 500 and sum(d is not None for d, _ in fast) > 1000


def test_fold_matches_ignorecase():
    """Two characters re.IGNORECASE treats as equal fold to the same character, one for one."""
    import re

    from vdmine.nlp.prefilter import _POST, fold

    specials = {ch for ch in _POST} | {"\u0130", "\u212a", "\u017f", "\u0131"}
    for cp in list(range(0x3000)) + [ord(c) for c in specials]:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        assert len(fold(c)) == 1
        rx = re.compile(re.escape(c), re.I)
        for other in {c.lower()[:1], c.upper()[:1], c.swapcase()[:1], *specials}:
            if rx.fullmatch(other):
                assert fold(other) == fold(c), (hex(cp), other)
    assert fold("RANDOMİZED ſtudy") == "randomized study"


def test_prefix_tree_keeps_alternation_order():
    import re

    from vdmine.nlp.prefilter import trie_alternation

    words = ["elderly subjects", "enroll", "elderly", "enrol", "men", "members"]
    tree = re.compile(trie_alternation(words), re.I)
    flat = re.compile("(?:" + "|".join(map(re.escape, words)) + ")", re.I)
    for text in ["Elderly subjects", "elderly", "enrolled", "enrol", "members", "MEN", "women"]:
        assert [m.span() for m in tree.finditer(text)] == [m.span() for m in flat.finditer(text)]
    # "enroll" before "enrolled" cannot be kept as a tree without the \b that follows: flat
    assert trie_alternation(["enroll", "enrol", "enrolled"]) == "(?:enroll|enrol|enrolled)"


def test_number_start_scan_is_exact(shared):
    """The start scan groups its lookahead by first character (number words and a digit for the
    sample-size patterns); the positions equal those of the flat lookahead it replaces."""
    from prefilter_reference import start_positions

    from vdmine.nlp import design
    from vdmine.nlp import prefilter as pf

    c = design.cues()
    starts = [st for st in c.sample_starts if st is not None and st.after_nonword and st.digit and not st.one_char]
    assert starts  # the number-word + digit scan is in use
    texts = _corpus_texts(shared, ["vitd_pain.jsonl", "offtopic.jsonl", "secondary/vitamindwiki_records.jsonl"], limit=700)
    texts += ["one", "Twenty-five adults", "x1 2", "_one two", "(eleven) 3", "٣ one", "", "o", "onE"]
    for st in starts:
        for text in texts:
            assert pf.positions(st, text, pf.fold(text)) == start_positions(st, text), text[:80]
