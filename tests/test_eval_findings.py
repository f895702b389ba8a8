"""The Evidence Inference evaluation of the direction rules (vdmine.eval.findings).

Reads /work/shared/bench/evidence_inference at run time; skips when it is absent. The full
validation run takes about a second; the test split is never touched here (it is run once, by hand,
for docs/extraction_findings.md).
"""

from __future__ import annotations

import json

import pytest

from vdmine.config import shared_dir
from vdmine.eval import findings as ev


@pytest.fixture(scope="module")
def shared():
    d = shared_dir()
    if d is None or not (d / "bench" / "evidence_inference" / "v2_annotations.csv.gz").is_file():
        pytest.skip("needs ../shared/bench/evidence_inference (set VDMINE_SHARED)")
    return d


@pytest.fixture(scope="module")
def items(shared):
    return ev.load_items(shared)


def test_scores_per_class_and_macro():
    pairs = [("increase", "increase"), ("increase", "decrease"), ("decrease", "decrease"),
             ("no_difference", "no_difference"), ("no_difference", "unclear")]
    s = ev.scores(pairs)
    assert s["per_class"]["increase"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s["per_class"]["decrease"]["precision"] == 0.5 and s["per_class"]["decrease"]["recall"] == 1.0
    assert s["per_class"]["no_difference"]["recall"] == 0.5  # 'unclear' counts as a miss
    assert s["confusion"]["no_difference"]["unclear"] == 1
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 2 / 3) / 3)


def test_items_are_abstract_evidence_with_majority_labels(shared, items):
    splits = {it.split for it in items}
    assert splits == {"ev2_train", "ev2_validation", "ev2_test"}
    assert {it.gold for it in items} == set(ev.LABELS)
    bad = ev.incorrect_prompt_ids(ev._ei_dir(shared))
    assert "911" in bad and not any(it.prompt_id in bad for it in items)
    counts = {sp: sum(1 for it in items if it.split == sp) for sp in splits}
    assert counts["ev2_train"] > 800 and counts["ev2_validation"] > 100 and counts["ev2_test"] > 100
    assert all(it.text for it in items)


def test_the_prvc_prompt(items):
    # PMC article (ev2_train): "Peak inspiratory pressure was significantly lower during PRVC ventilation
    # than during VC ventilation" -> significantly decreased for PRVC vs VC
    hits = [it for it in items if "peak inspiratory pressure" in it.text.lower() and "PRVC" in it.text]
    assert hits
    for it in hits:
        j = ev.predict(it.text, it.intervention, it.comparator, it.outcome)
        assert j.effect_direction == it.gold


def test_validation_macro_f1_floor(shared, capsys):
    # A regression floor well below the measured figure (0.758 on validation, see docs/extraction_findings.md).
    assert ev.main(["--split", "validation", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["all"]["n"] > 100
    assert out["all"]["macro_f1"] >= 0.70
    assert out["vitd"]["n"] == 23


# Evidence Inference train prompts (ev2_train) whose evidence gives no direction word, only each arm's value and a
# p-value; read at run time. prompt id -> the structure it stands for
NUMERIC_TRAIN = {
    "12941": "VALUE (SD) in ARM and VALUE (SD) in ARM",  # "77.4% (26.3) in the intervention group and 69.0% ..."
    "11792": "VALUE (range) in ARM versus VALUE (range) in ARM",  # "3.6 cm (range, 2–6) in the SaphLITE group versus"
    "11228": "VALUE for ARM as compared to VALUE for ARM",  # "at 17.5 h for butoconazole ... 22.9 h for fluconazole"
    "12882": "VALUE ± SD unit in ARM and ...",  # "3.26 ± 1.57 min in the snare cauterization group and 12.7 ± ..."
    "12282": "fraction (percent)",  # "Heparin was discontinued in 24/73 (33%) of patients whereas citrate ... 5/66 (8%)"
    "11247": "a cut-off is no value",  # "A LVEF ≤ 30% was observed in 18% in the controls and in 12% of the GIK group"
    "12511": "values, then arms, respectively",  # "53.3% and 86.6% in patients treated with sorafenib and capecitabine, respectively"
    "13099": "counts (percent), then arms, respectively",  # "17 (27.4%) and 31 (50.0%) patients in the etomidate and ..."
    "13059": "after a colon: VALUE in ARM, ...",  # "(0.021): 26.08% in PP, 9.09% in SP, ..."
    "11577": "hyphenated arm name",  # "138 hours (105–164 hours) for cefixime-treated patients"
}


def test_per_arm_numbers_on_train_prompts(items):
    got = {it.prompt_id: it for it in items if it.split == "ev2_train" and it.prompt_id in NUMERIC_TRAIN}
    assert set(got) == set(NUMERIC_TRAIN)
    for pid, it in got.items():
        j = ev.predict(it.text, it.intervention, it.comparator, it.outcome)
        assert "numbers" in j.notes and " vs " in j.trigger, (pid, NUMERIC_TRAIN[pid], j)
        assert j.effect_direction == it.gold, (pid, NUMERIC_TRAIN[pid], j)
