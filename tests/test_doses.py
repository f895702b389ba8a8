"""vdmine_doses on real strings/sentences from the shared corpus (quoted; each is checked to be there)."""

from __future__ import annotations

import pytest
from corpus_text import real

from vdmine.store.schemas import DOSES

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def nlp():
    from vdmine.nlp.pipeline import build_pipeline

    return build_pipeline()


def doses_of(nlp, text):
    from vdmine.nlp import doses

    return doses.rows(nlp(text), "t")


def test_every_two_weeks_with_duration(nlp, shared):
    s = real(shared, "evidence_inference_vitd_ico.jsonl", "vitamin D supplements at a dosage of 50,000 IU (n = 30) every 2 weeks for 12 weeks")
    [d] = doses_of(nlp, s)
    assert (d["amount"], d["unit"], d["frequency"], d["duration_days"]) == (50000, "IU", "every 2 weeks", 84)
    assert d["iu_per_day"] == pytest.approx(50000 / 14, rel=1e-3)
    assert d["compound"] == "vitamin D" and d["regimen"] == "maintenance"
    assert list(d) == DOSES.names


def test_loading_bolus_then_daily(nlp, shared):
    s = real(shared, "evidence_inference_vitd_ico.jsonl",
             "vitamin D group receiving an initial bolus dose of 100,000 IU (in 2 capsules) followed by 4,000 IU (in 4 capsules) of cholecalciferol daily")
    bolus, daily = doses_of(nlp, s)
    assert (bolus["amount"], bolus["frequency"], bolus["iu_per_day"], bolus["bolus_iu"], bolus["regimen"]) == (
        100000, "single", None, 100000, "loading")
    assert (daily["amount"], daily["frequency"], daily["iu_per_day"], daily["compound"]) == (4000, "daily", 4000, "cholecalciferol")


def test_intramuscular_route(nlp, shared):
    s = real(shared, "evidence_inference_vitd_ico.jsonl", "600,000 IU of Intramuscular vitamin D3")
    [d] = doses_of(nlp, s)
    assert (d["amount"], d["route"], d["compound"], d["frequency"], d["iu_per_day"]) == (600000, "intramuscular", "cholecalciferol", None, None)


def test_arm_list_shares_unit_and_frequency(nlp, shared):
    s = real(shared, "secondary/vitamindwiki_records.jsonl",
             "were supplemented with increasing doses of vitamin D3 (400, 800, 1700, and  ≥3500 IU/day)")
    rows = doses_of(nlp, s)
    assert [(r["amount"], r["unit"], r["frequency"]) for r in rows] == [
        (400, "IU", "daily"), (800, "IU", "daily"), (1700, "IU", "daily"), (3500, "IU", "daily")]


def test_other_compounds_keep_their_own_name(nlp, shared):
    s = real(shared, "vitd_other.jsonl",
             "high-dose vitamin D3 (4000 IU daily) plus calcium supplementation (1000 mg calcium carbonate daily)")
    vd, ca = doses_of(nlp, s)
    assert (vd["compound"], vd["iu_per_day"]) == ("cholecalciferol", 4000)
    assert (ca["compound"], ca["amount"], ca["unit"], ca["iu_per_day"]) == ("calcium", 1000, "mg", None)


def test_a_listed_substance_after_the_dose_is_its_compound(nlp, shared):
    # vitd_pain.jsonl PMID 32453393 and vitd_other.jsonl: a comma list of supplements
    s = real(shared, "vitd_pain.jsonl", "receive 2000 IU vitamin D3, 1000 mg fish oil, or placebo daily")
    vd, fish = doses_of(nlp, s)
    assert vd["compound"] == "cholecalciferol"
    assert (fish["compound"], fish["iu_per_day"]) == ("fish oil", None)
    s = real(shared, "vitd_other.jsonl", "800 UI of vitamin D3, 1000 µg of folic acid, and 15 µg of vitamin B12")
    assert [r["compound"] for r in doses_of(nlp, s)][1:] == ["folic acid", "vitamin B12"]


def test_no_vitamin_d_dose_beyond_any_ever_given(nlp, shared):
    # vitd_pain.jsonl PMID 11908491: the 60 mg/day is sodium fluoride (NaF), not ergocalciferol
    s = real(shared, "vitd_pain.jsonl", "ergocalciferol (D) 0.25 mg per 25 kg once weekly and were randomly assigned to "
                                        "cyclical NaF (6 months on, 3 months off, initial dose 60 mg/day;")
    rows = {r["text"]: r for r in doses_of(nlp, s)}
    assert rows["0.25 mg"]["compound"] == "ergocalciferol"
    assert rows["60 mg"]["compound"] is None and rows["60 mg"]["iu_per_day"] is None


def test_levels_are_not_doses(nlp, shared):
    s = real(shared, "vitd_other.jsonl",
             "However, after 4 weeks of the GPO oral multivitamin, serum 25(OH)D levels significantly increased from 19.4\xa0\xb1\xa06.3\xa0ng/ml at baseline to 22.2\xa0\xb1\xa05.2\xa0ng/ml (p\xa0=\xa00.01) and from 19.5\xa0\xb1\xa05.0\xa0ng/ml to 23.3\xa0\xb1\xa05.2\xa0ng/ml (p\xa0<\xa00.01) in the groups receiving vitamin D 300\xa0IU and 600\xa0IU/day, respectively.")
    rows = doses_of(nlp, s)
    assert [(r["amount"], r["unit"], r["frequency"]) for r in rows] == [(300, "IU", "daily"), (600, "IU", "daily")]


def test_micrograms_to_iu_and_bracketed_equivalents(nlp, shared):
    s = real(shared, "vitd_other.jsonl", "randomized to 20\u00a0µg/d vitamin D3 or placebo")
    [d] = doses_of(nlp, s)
    assert (d["unit"], d["iu_per_day"]) == ("ug", 800)
    s = real(shared, "vitd_pain.jsonl", "randomised to receive daily either 10 μg (400 IU) or 30 μg (1 200 IU) of vitamin D3 supplementation")
    rows = doses_of(nlp, s)
    assert [(r["amount"], r["unit"], r["iu_per_day"]) for r in rows] == [(10, "ug", 400), (30, "ug", 1200)]


def test_active_analogues_are_not_converted_to_iu(nlp, shared):
    s = real(shared, "evidence_inference_vitd_ico.jsonl", "paricalcitol (1 or 2 μg/day)")
    rows = doses_of(nlp, s)
    assert [(r["amount"], r["frequency"], r["compound"], r["iu_per_day"]) for r in rows] == [
        (1, "daily", "paricalcitol", None), (2, "daily", "paricalcitol", None)]


@pytest.mark.parametrize("num,unit,k,value", [
    ("50,000", "IU", False, 50000), ("50 000", "IU", False, 50000), ("50.000", "IU", False, 50000),
    ("50", "IU", True, 50000), ("1.25", "mg", False, 1.25), ("0,25", "ug", False, 0.25)])
def test_parse_amount(num, unit, k, value):
    from vdmine.nlp.doses import parse_amount

    assert parse_amount(num, unit, k) == value


def test_gold_sets_meet_target(nlp):
    from vdmine.eval.doses import GOLD, HELDOUT, eval_gold

    assert eval_gold(nlp, GOLD)["amount_unit_frequency_accuracy"] >= 0.90
    assert eval_gold(nlp, HELDOUT)["amount_unit_frequency_accuracy"] >= 0.85


def test_dose_shortcuts_are_exact(nlp, shared):
    """Required-literal skips, start positions and the frequency cache change no dose row."""
    from itertools import islice

    from vdmine.nlp import doses
    from vdmine.pubmed.sources import iter_jsonl
    from vdmine.records import Record

    texts = []
    for name in ("vitd_pain.jsonl", "evidence_inference_vitd_ico.jsonl", "secondary/vitamindwiki_records.jsonl",
                 "vitd_other.jsonl", "offtopic.jsonl"):
        texts += [r.text for r in islice(iter_jsonl(shared / "corpus" / name), 400) if isinstance(r, Record)]
    tagger, d = nlp.get_pipe("vdmine_doses"), doses.data()
    fast, slow = [], []
    try:
        for doc in nlp.pipe(texts):
            d.fast = True
            fast.append(doses.rows(tagger(doc), "t"))
            d.fast = False
            slow.append(doses.rows(tagger(doc), "t"))
    finally:
        d.fast = True
    assert fast == slow
    assert sum(map(len, fast)) > 1000


def test_one_character_start_scan_is_exact(shared):
    """Starts that are all one character (the dose number: a digit or ".") are found by a scan that
    begins with the character itself; the positions equal those of the general scan."""
    from itertools import islice

    from prefilter_reference import start_positions

    from vdmine.nlp import doses
    from vdmine.nlp import prefilter as pf
    from vdmine.pubmed.sources import iter_jsonl
    from vdmine.records import Record

    st = doses.data().dose_starts
    assert st.one_char  # the one-character scan is in use
    texts = [r.text for name in ("vitd_pain.jsonl", "evidence_inference_vitd_ico.jsonl", "offtopic.jsonl")
             for r in islice(iter_jsonl(shared / "corpus" / name), 500) if isinstance(r, Record)]
    texts += ["1.5 mg", ".5 mg", "a1 2", "_1 .2", "x.3,4 (5)", "٣ mg ½", "", "1", "ab"]
    for text in texts:
        assert pf.positions(st, text, pf.fold(text)) == start_positions(st, text), text[:80]


def test_word_before_search_starts_late_but_finds_the_same_match(shared):
    """``word_before_match`` starts the search where a match can begin at the earliest; the match
    (span and groups) equals the plain search over every window before a number in real text and
    over random strings of the characters the tail rule is about (spaces, newlines, "(,:", "-")."""
    import random
    import re
    from itertools import islice

    from vdmine.nlp import doses
    from vdmine.pubmed.sources import iter_jsonl
    from vdmine.records import Record

    windows = []
    for name in ("vitd_pain.jsonl", "evidence_inference_vitd_ico.jsonl", "vitd_other.jsonl"):
        for r in islice(iter_jsonl(shared / "corpus" / name), 600):
            if isinstance(r, Record):
                windows += [r.text[max(0, m.start() - 50): m.start()] for m in re.finditer(r"\d", r.text)]
    rnd = random.Random(7)
    alphabet = "ab Zat_-(,:\n\t\u00a0.;1éß"
    windows += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30))) for _ in range(50_000)]
    windows += ["", "\n", "at", "ramipril at ", "vitamin D3 (", "a b c d e f\n", "x\n\n"]

    def key(m):
        return None if m is None else (m.span(), m.groupdict())

    hits = 0
    for w in windows:
        plain = doses._WORD_BEFORE.search(w)
        assert key(doses.word_before_match(w)) == key(plain), repr(w)
        hits += plain is not None
    assert len(windows) > 60_000 and hits > 5_000
