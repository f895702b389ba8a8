"""vdmine_exposures on real sentences from the shared corpus (quoted; each is checked to be there)."""

from __future__ import annotations

import pytest
from corpus_text import real

from vdmine.errors import VdmineError
from vdmine.store.schemas import EXPOSURES

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def nlp():
    from vdmine.nlp.pipeline import build_pipeline

    return build_pipeline()


@pytest.fixture(scope="module")
def nlp_mg():
    from vdmine.config import ExposureConfig
    from vdmine.nlp.pipeline import build_pipeline

    return build_pipeline(exposure_cfg=ExposureConfig(name="magnesium", lexicon="magnesium", co_interventions=[]))


def _rows(nlp, text):
    from vdmine.nlp import exposures

    return exposures.rows(nlp(text), "t")


def test_status_level_with_cutoff_and_form(nlp, shared):
    s = real(shared, "vitd_other.jsonl",
             "Sixty-five overweight/obese, vitamin D-deficient (25-hydroxyvitamin D [25(OH)D] ≤ 50 nmol/L) adults were "
             "randomized to a single 100,000 IU bolus followed by 4,000 IU daily cholecalciferol or matching placebo for 16 weeks.")
    rows = _rows(nlp, s)
    by_kind = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append(r)
    assert by_kind["status"][0]["canonical"] == "vitamin D deficiency"
    assert by_kind["status"][0]["mesh_id"] == "D014808"
    cut = [r for r in by_kind["level"] if r["value"] is not None]
    assert len(cut) == 1
    assert cut[0]["value"] == 50 and cut[0]["unit"] == "nmol/L" and cut[0]["comparator"] == "<="
    assert cut[0]["value_ng_ml"] == pytest.approx(50 / 2.496, abs=0.01)
    assert [r["canonical"] for r in by_kind["form"]] == ["cholecalciferol"]
    assert by_kind["form"][0]["mesh_id"] == "D002762"
    assert s[cut[0]["start_char"]: cut[0]["end_char"]] == cut[0]["text"]


def test_receptor_and_serum_calcium_are_not_exposures(nlp, shared):
    s = real(shared, "vitd_pain.jsonl",
             "The vitamin K group (vitamin K + vitamin D + calcium supplement; 15 mg of vitamin K2 [menatetrenone] three times "
             "daily, 400 IU of vitamin D once a day, and 315 mg of calcium twice daily) and the control group (vitamin D + "
             "calcium supplement) were randomly assigned.")
    rows = _rows(nlp, s)
    assert {r["canonical"] for r in rows if r["kind"] == "co_intervention"} == {"calcium"}
    assert {r["canonical"] for r in rows if r["kind"] == "form"} == {"vitamin D"}
    # "vitamin D receptor" is not an exposure; "serum calcium" is a lab value
    rows = _rows(nlp, "Vitamin D receptor polymorphisms and serum calcium were measured.")
    assert rows == []


def test_rows_match_schema(nlp):
    rows = _rows(nlp, "Hypovitaminosis D was treated with ergocalciferol.")
    assert rows and all(list(r) == EXPOSURES.names for r in rows)
    assert {r["canonical"] for r in rows} == {"vitamin D deficiency", "ergocalciferol"}


def test_magnesium_lexicon_from_config(nlp_mg, shared):
    # No magnesium-for-migraine sentence exists in the shared corpus; these are real magnesium/pain sentences.
    s = real(shared, "offtopic.jsonl", "Does ketamine or magnesium affect posttonsillectomy pain in children?")
    rows = _rows(nlp_mg, s)
    assert [(r["canonical"], r["kind"], r["mesh_id"]) for r in rows] == [("magnesium", "form", "D008274")]
    s = real(shared, "offtopic.jsonl",
             "Patients received either ketamine 0.15 mg.kg-1, magnesium sulphate 30 mg.kg-1, ketamine 0.15 mg.kg-1 plus "
             "magnesium sulphate 30 mg.kg-1, or placebo intravenously 5 min prior to the start of surgery.")
    doc = nlp_mg(s)
    from vdmine.nlp import doses, exposures

    assert {r["mesh_id"] for r in exposures.rows(doc, "t")} == {"D008278"}
    d = doses.rows(doc, "t")
    assert [(x["compound"], x["amount"], x["unit"]) for x in d] == [
        ("ketamine", 0.15, "mg/kg"), ("magnesium sulfate", 30.0, "mg/kg"),
        ("ketamine", 0.15, "mg/kg"), ("magnesium sulfate", 30.0, "mg/kg")]
    assert all(x["iu_per_day"] is None for x in d)
    # the vitamin D pipeline does not call this a vitamin D exposure
    assert not [r for r in exposures.rows(nlp_mg("Vitamin D3 was given."), "t")]


def test_unknown_lexicon_is_a_coded_error():
    from vdmine.nlp.exposures import load_lexicon

    with pytest.raises(VdmineError) as exc:
        load_lexicon("no_such_vocabulary")
    assert exc.value.code == "E042"
