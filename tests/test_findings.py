"""Findings: direction, hedging, negation, association vs effect, p-value-only statements.

Every sentence is a real one, read at run time from /work/shared/corpus (never copied into the
repo); the pmid is quoted next to each case. The component runs in a minimal pipeline (blank
English + sentencizer + vdmine_findings) so the tests stay fast and do not depend on the
conditions/exposures components being finished.
"""

from __future__ import annotations

import json
import warnings

import pytest
import spacy

from vdmine.config import shared_dir
from vdmine.nlp import findings  # noqa: F401  (registers the factory)
from vdmine.nlp.findings import rows
from vdmine.nlp.findings_rules import confidence_intervals, judge, lexicons, p_values
from vdmine.records import Record
from vdmine.store.schemas import FINDINGS

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="module")
def shared():
    d = shared_dir()
    if d is None or not (d / "corpus" / "vitd_pain.jsonl").is_file():
        pytest.skip("needs ../shared/corpus (set VDMINE_SHARED)")
    return d


@pytest.fixture(scope="module")
def corpus(shared):
    recs = {}
    for name in ("vitd_pain.jsonl", "vitd_other.jsonl"):
        for line in (shared / "corpus" / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            recs[r["pmid"]] = r
    return recs


@pytest.fixture(scope="module")
def nlp():
    n = spacy.blank("en")
    n.add_pipe("sentencizer")
    n.add_pipe("vdmine_findings", config={"exposure_name": "vitamin D"})
    return n


def _rows(nlp, corpus, pmid, fragment):
    r = corpus[pmid]
    rec = Record(pmid=pmid, title=r["title"] or "", abstract=r.get("abstract") or "")
    out = [x for x in rows(nlp(rec.text), pmid, study_design="randomized controlled trial") if fragment in x["sentence"]]
    assert out, f"no finding row for {pmid}: {fragment!r}"
    return out


def _one(nlp, corpus, pmid, fragment, outcome):
    got = [x for x in _rows(nlp, corpus, pmid, fragment) if x["outcome"] == outcome]
    assert got, f"no row with outcome {outcome!r}"
    return got[0]


def test_rows_match_schema(nlp, corpus):
    # pmid 7843955: "Therapeutic replacement with vitamin D and calcium resulted in a dramatic reduction
    # in the frequency and duration of their migraine headaches."
    got = _rows(nlp, corpus, "7843955", "dramatic reduction")
    assert set(got[0]) == set(FINDINGS.names)
    assert got[0]["study_design"] == "randomized controlled trial"
    assert got[0]["sent_idx"] == 2  # title is sentence 0


def test_decrease_of_pain_is_benefit(nlp, corpus):
    # pmid 7843955 (as above): reduction of migraine headaches
    x = _one(nlp, corpus, "7843955", "dramatic reduction", "pain")
    assert (x["relation"], x["effect_direction"], x["direction"]) == ("effect", "decrease", "benefit")
    assert x["exposure"] == "vitamin D" and x["trigger"] == "reduction"
    assert x["hedged"] is False and x["negated"] is False


def test_increase_of_bmd_with_only_a_p_value(nlp, corpus):
    # pmid 12665701: "In those patients with baseline and follow-up BMD results (n = 36), BMD increased
    # 1.9% (p = 0.02) at the trochanter and 2.1% (p = 0.001) at the total hip."
    x = _one(nlp, corpus, "12665701", "BMD increased 1.9%", "bone mineral density")
    assert (x["effect_direction"], x["direction"], x["significant"]) == ("increase", "benefit", True)


def test_non_significant_p_value_only_means_no_difference():
    # pmid 29340322 (vitd_other): "In protocol biopsies, interstitial fibrosis and tubular atrophy tended to
    # be higher in the PAR group than in the CAL group (48% vs. 23.8%; P = 0.09)." -- and the p-value alone:
    s = "interstitial fibrosis and tubular atrophy were higher in the PAR group than in the CAL group (48% vs. 23.8%; P = 0.09)."
    j = judge(s, outcome_span=(0, 20))
    assert j.significant is False and j.effect_direction == "no_difference"
    assert [p.significant for p in p_values("(P<0.01)")] == [True]


def test_lower_fracture_incidence_vs_placebo(nlp, corpus):
    # pmid 10979796: "The incidence of vertebral fractures was lower in the alendronate group than in the
    # placebo group (0.8 percent vs. 7.1 percent, P=0.02)."
    x = _one(nlp, corpus, "10979796", "incidence of vertebral fractures was lower", "fracture")
    assert (x["effect_direction"], x["direction"], x["significant"], x["comparator"]) == ("decrease", "benefit", True, "placebo")


def test_increase_of_harm_outcome_is_harm(nlp, corpus):
    # pmid 23787544: "Dose-dependent increases in serum and urinary calcium were observed; however, there were
    # few cases of hypercalcemia: ..."
    x = _one(nlp, corpus, "23787544", "Dose-dependent increases", "hypercalcaemia")
    assert (x["effect_direction"], x["direction"]) == ("increase", "harm")


def test_no_significant_difference(nlp, corpus):
    # pmid 23437144 (PLOS 'Methodology/Principal Findings' section): "At 1 year follow-up, no significant
    # differences were observed between calcitriol and placebo groups for osteocalcin and β-CrossLaps."
    got = _rows(nlp, corpus, "23437144", "no significant differences were observed")
    assert {x["outcome"] for x in got} == {"bone turnover markers", "bone resorption markers"}
    for x in got:
        assert (x["section"], x["effect_direction"], x["direction"]) == ("results", "no_difference", "no_effect")
        assert x["significant"] is False and x["negated"] is True and x["comparator"] == "placebo"


def test_negation_of_the_direction_verb(nlp, corpus):
    # pmid 11908491: "In neither group CaD nor E CaD did lumbar spinal density increase."
    x = _one(nlp, corpus, "11908491", "In neither group", "bone mineral density")
    assert x["negated"] is True and x["effect_direction"] == "no_difference" and x["direction"] == "no_effect"


def test_hedged_conclusion(nlp, corpus):
    # pmid 37269909: "CONCLUSIONS: Moderate consumption (<1 cup/d) of blueberries may be an effective
    # strategy to attenuate bone loss in healthy postmenopausal women."
    x = _one(nlp, corpus, "37269909", "may be an effective strategy", "bone loss")
    assert x["section"] == "conclusions" and x["hedged"] is True
    assert (x["effect_direction"], x["direction"]) == ("decrease", "benefit")


def test_trend_is_not_significant_and_hedged(nlp, corpus):
    # pmid 9552083: "In comparison with patients in the control group, there was a trend toward a lower rate
    # of new vertebral fractures in the treatment groups."
    x = _one(nlp, corpus, "9552083", "trend toward", "fracture")
    assert x["significant"] is False and x["hedged"] is True and x["effect_direction"] == "no_difference"


def test_association_negative_with_deficiency(nlp, corpus):
    # pmid 40046048: "Mechanistically, hypovitaminosis D was associated with higher levels of cytokines ..."
    # low vitamin D <-> more of the outcome: a negative association with the vitamin D LEVEL
    got = _rows(nlp, corpus, "40046048", "hypovitaminosis D was associated with higher")
    assert all(x["relation"] == "association" and x["direction"] == "association_negative" for x in got)
    # pmid 40046048: "Moreover, vitamin D level was negatively associated with peak serum cardiac troponin T level ..."
    (x,) = _rows(nlp, corpus, "40046048", "negatively associated")
    assert (x["relation"], x["direction"], x["trigger"]) == ("association", "association_negative", "negatively")


def test_association_positive(nlp, corpus):
    # pmid 40111479: "Higher 25OHD concentrations were associated with higher SPPB scores in both sexes."
    x = _one(nlp, corpus, "40111479", "Higher 25OHD concentrations were associated", "physical function")
    assert (x["relation"], x["effect_direction"], x["direction"]) == ("association", "increase", "association_positive")


def test_no_association_is_no_effect(nlp, corpus):
    # pmid 12846271: "In the HRT or non-HRT groups, the 5-year serum E2 change was not associated with CYP19
    # polymorphism (P = 0.87 and 0.74, respectively)."
    (x,) = _rows(nlp, corpus, "12846271", "not associated with CYP19")
    assert (x["relation"], x["direction"], x["negated"], x["significant"]) == ("association", "no_effect", True, False)


def test_background_and_methods_sentences_yield_nothing(nlp, corpus):
    # pmid 23437144: "Background: Vitamin D supplementation in childhood improves the achievement of peak bone mass."
    r = corpus["23437144"]
    doc = nlp(Record(pmid="23437144", title=r["title"], abstract=r["abstract"]).text)
    got = rows(doc, "23437144")
    assert got and not any("improves the achievement of peak bone mass" in x["sentence"] for x in got)
    assert {x["section"] for x in got} <= {"results", "conclusions"}


def test_comparator_arm_named_as_reference_flips_direction():
    # Evidence Inference, PMC article in ev2_train (prompt: intervention PRVC, comparator VC):
    # "In the crossover trial, peak inspiratory pressure was significantly lower using PRVC than with VC
    # (20 cmH2O vs 24 cmH2O, P < 0.0001)."
    s = ("In the crossover trial, peak inspiratory pressure was significantly lower using PRVC than with VC "
         "(20 cmH2O vs 24 cmH2O, P < 0.0001).")
    span = (s.index("peak"), s.index("pressure") + len("pressure"))
    assert judge(s, outcome_span=span, intervention_words=["prvc"], comparator_words=["vc"]).effect_direction == "decrease"
    # the same sentence asked the other way round (intervention VC vs comparator PRVC) is an increase
    assert judge(s, outcome_span=span, intervention_words=["vc"], comparator_words=["prvc"]).effect_direction == "increase"


def test_confidence_interval_rules():
    # Evidence Inference (ev2_validation) axitinib vs sorafenib: "(hazard ratio 0.390; 95% confidence interval 0.130–1.173; ...)"
    assert [c.significant for c in confidence_intervals("hazard ratio 0.390; 95% confidence interval 0.130–1.173")] == [False]
    # Evidence Inference (ev2_train) erlotinib: "better overall survival (HR 0·76, 95% CI 0·63–0·92, p=0·0058)"
    assert [c.significant for c in confidence_intervals("(HR 0.76, 95% CI 0.63–0.92, p=0.0058)")] == [True]
    # pmid 28859173: "The ESAS QoL-score improved in the Vitamin D group the first month; -1.4; 95% CI -2.6 - (-0.21)."
    assert [c.significant for c in confidence_intervals("-1.4; 95% CI -2.6 - (-0.21).")] == [True]  # pmid 28859173
    # Evidence Inference (ev2_train): "(mean difference [MD] = −0.55, 95% CI −2.00–0.90; p = 0.45)"
    assert [c.significant for c in confidence_intervals("(mean difference [MD] = −0.55, 95% CI −2.00–0.90; p = 0.45)")] == [False]


def test_lexicons_are_data():
    lex = lexicons()
    assert lex.polarity("pain") == "higher_worse" and lex.polarity("bone mineral density") == "higher_better"
    assert {"VAS", "WOMAC", "KOOS", "FIQ", "DAS28", "SF-36"} <= {
        c.text for c in lex.find_outcomes("VAS, WOMAC, KOOS, FIQ, DAS28 and SF-36")
    }


# --- full pipeline (conditions + exposures feed the findings component) -------------------------


@pytest.fixture(scope="module")
def full_nlp():
    from vdmine.nlp.pipeline import get_pipeline

    return get_pipeline()


@pytest.fixture(scope="module")
def vdw(shared):
    recs = {}
    for line in (shared / "corpus" / "secondary" / "vitamindwiki_records.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        recs[r["pmid"]] = r
    return recs


def _full_rows(full_nlp, rec):
    from vdmine.nlp.extract import doc_rows

    record = Record(pmid=rec["pmid"], title=rec["title"], abstract=rec["abstract"])
    return doc_rows(full_nlp(record.title + "\n" + record.abstract), record).findings


def test_paper_condition_baseline_and_background(full_nlp, vdw):
    """vdw:327 (McAlindon 2013, knee OA RCT): "Knee pain decreased in both groups ..." names the outcome, so the
    row's condition is the paper's (knee osteoarthritis); "Baseline knee pain was slightly worse in the treatment
    group ..." and the JAMA "Importance  Knee osteoarthritis ... is a public health problem ..." give no row."""
    rows = _full_rows(full_nlp, vdw["vdw:327"])
    pain = [r for r in rows if r["outcome"] == "pain" and "decreased in both groups" in r["sentence"]]
    assert pain and all(r["condition"] == "knee osteoarthritis" and r["direction"] == "no_effect" for r in pain)
    assert not [r for r in rows if r["sentence"].startswith("Baseline")]
    assert not [r for r in rows if "public health problem" in r["sentence"]]
    # the exposure is what was given, read from the exposure spans
    assert {r["exposure"] for r in pain} == {"vitamin D"}


def test_condition_named_in_an_association_is_its_occurrence(full_nlp, vdw):
    """vdw:105: "Low serum 25(OH) D level (<20 ng/dl) was significantly associated with headache, musculoskeletal
    pain, and osteomalacia." -> osteomalacia occurrence, positively associated with a LOW level."""
    rows = _full_rows(full_nlp, vdw["vdw:105"])
    occ = [r for r in rows if r["condition"] == "osteomalacia" and r["outcome"] == "occurrence" and r["sentence"].startswith("Low serum")]
    assert occ and occ[0]["relation"] == "association"
    assert occ[0]["exposure"] == "serum 25(OH)D" and occ[0]["direction"] == "association_negative"


def test_correlation_sign_and_exposure_fall(full_nlp, vdw):
    """vdw:96: "... increase in pain intensity of 0.61 ... for each 25 nmol/L decrease in 25-OH D (P = 0.011)" is a
    NEGATIVE association of the level with pain; vdw:133: "Vitamin D levels significantly correlated with pain
    intensity (r = -0.653; p = .001) ..." too (the coefficient carries the sign)."""
    r96 = [r for r in _full_rows(full_nlp, vdw["vdw:96"]) if "for each 25" in r["sentence"] and r["outcome"] == "pain"]
    assert r96 and r96[0]["relation"] == "association" and r96[0]["direction"] == "association_negative"
    r133 = [r for r in _full_rows(full_nlp, vdw["vdw:133"]) if "r = -0.653" in r["sentence"] and r["outcome"] == "pain"]
    assert r133 and r133[0]["direction"] == "association_negative"


# --- issue 4/5: two wrong rows of the secondary corpus, fixed by general rules --------------------


def test_comma_and_splits_two_statements_not_a_list(full_nlp, vdw):
    """vdw:416: "An increased risk of bone disease (rickets, osteomalacia and osteoporosis) is attributable to
    vitamin D deficiency, and serum 25(OH)D levels tend to be negatively associated with an increased risk of other
    diseases, ..." -- the ", and" starts a second statement, so its "negatively" must not flip the first one:
    deficiency -> more osteomalacia is a positive association with the deficiency."""
    from vdmine.nlp.findings_rules import clauses

    rows = [r for r in _full_rows(full_nlp, vdw["vdw:416"]) if r["sentence"].startswith("An increased risk of bone disease")]
    text = rows[0]["sentence"]
    parts = [text[a:b] for a, b in clauses(text)]
    assert parts[0].endswith("attributable to vitamin D deficiency") and parts[1].startswith("serum 25(OH)D levels tend")
    occ = {r["condition"]: r for r in rows if r["outcome"] == "occurrence"}
    assert {"osteomalacia", "rickets", "osteoporosis"} <= set(occ)
    assert all(r["exposure"] == "vitamin D deficiency" and r["direction"] == "association_positive" for r in occ.values())
    # a list ending in ", and" stays one clause (vdw:105, see test_condition_named_in_an_association_is_its_occurrence)
    seed = "Low serum 25(OH) D level (<20 ng/dl) was significantly associated with headache, musculoskeletal pain, and osteomalacia"
    assert len(clauses(seed)) == 1


def test_comma_and_after_a_comma_list_stays_whole():
    """pmid 10389953 (offtopic corpus, quoted): "The total dose of morphine received, reduction in severity of pain as
    measured by VAS, rate of hospital admission, and rate of return to the ED for discharged patients did not
    differ significantly between the two groups." A list whose items carry cue words is not two statements."""
    from vdmine.nlp.findings_rules import clauses

    text = ("The total dose of morphine received, reduction in severity of pain as measured by VAS, rate of hospital "
            "admission, and rate of return to the ED for discharged patients did not differ significantly between the two groups.")
    assert len(clauses(text)) == 1
    i = text.index("pain")
    assert judge(text, outcome_span=(i, i + 4), outcome="pain").effect_direction == "no_difference"


def test_decrease_of_a_worsening_is_a_benefit(full_nlp, vdw):
    """vdw:206: "Therefore correcting moderate vitamin deficiency may attenuate worsening of knee or hip pain in
    elderly people but ..." -- attenuating a worsening is a double negative: less pain, a (hedged) benefit."""
    rows = [r for r in _full_rows(full_nlp, vdw["vdw:206"]) if "may attenuate worsening" in r["sentence"] and r["outcome"] == "pain"]
    assert rows and rows[0]["direction"] == "benefit" and rows[0]["effect_direction"] == "decrease" and rows[0]["hedged"]
    assert rows[0]["trigger"] == "attenuate worsening"


def test_decrease_of_a_loss_or_decline(shared):
    """General form of the rule on other real sentences (offtopic corpus; read at run time): pmid 22705301
    "... (HMB) attenuates the loss of muscle mass in various catabolic conditions ..." (more muscle mass) and pmid
    37953732 "... EGCG inhibited the decline of bone density, ..." (more BMD). The change must be the outcome's:
    in pmid 36232509 "... alleviated the DSS-induced colitis symptoms, resulting in less weight loss ..." the
    symptoms row keeps its own cue."""
    from vdmine.pubmed.sources import iter_jsonl

    recs = {r.pmid: r.text for r in iter_jsonl(shared / "corpus" / "offtopic.jsonl")
            if isinstance(r, Record) and r.pmid in ("22705301", "37953732", "36232509")}
    lex = lexicons()

    def judged(pmid, fragment, outcome_words):
        text = next(s for s in recs[pmid].replace("\n", " ").split(". ") if fragment in s)
        i = text.index(outcome_words)
        o = lex.find_outcomes(outcome_words)
        return judge(text, outcome_span=(i, i + len(outcome_words)), outcome=o[0].value if o else None)

    assert judged("22705301", "attenuates the loss of muscle mass", "muscle mass").effect_direction == "increase"
    assert judged("37953732", "inhibited the decline of bone density", "bone density").effect_direction == "increase"
    symptoms = judged("36232509", "less weight loss", "symptoms")
    assert symptoms.direction == "benefit" and "loss" not in symptoms.trigger


def test_not_only_is_no_negation():
    """pmid 9366459 (offtopic corpus): "Naloxone infusion ... not only attenuates these side effects but appears to
    reduce postoperative ... opioid requirements." -- "not only" does not negate "attenuates"."""
    text = ("Naloxone infusion at 0.25 microg x kg(-1) x h(-1) not only attenuates these side effects but appears to "
            "reduce postoperative (beyond 4-8 h) opioid requirements.")
    i = text.index("side effects")
    j = judge(text, outcome_span=(i, i + 12), outcome="adverse events")
    assert not j.negated and j.effect_direction == "decrease" and j.direction == "benefit"


# --- issue 3/6: the fast paths give exactly what the plain computation gives ----------------------


def test_statement_prefilter_lowercase_boundaries():
    """The statement prefilter looks for whole words in text.lower(); that is exact only if no non-word character
    lowercases to a string that starts or ends with a word character (checked over all of Unicode, so a Python
    upgrade that changes it fails here)."""
    import re

    word = re.compile(r"[\w\u0370-\u03ff]")
    bad = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if not word.match(c):
            low = c.lower()
            if low and (word.match(low[0]) or word.match(low[-1])):
                bad.append(hex(cp))
    assert not bad


def test_ignorecase_ascii_folds():
    """The guarded regexes look for IGNORECASE literals in text.lower(); that is exact because, apart from the
    characters listed in findings_rules._ASCII_FOLDS (texts holding one skip the shortcut), re.IGNORECASE matches
    an ASCII letter only to itself in either case."""
    import re

    from vdmine.nlp.findings_rules import _ASCII_FOLDS

    every = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    for x in "abcdefghijklmnopqrstuvwxyz":
        extra = set(re.findall(x, every, re.I)) - {x, x.upper()}
        assert extra <= set(_ASCII_FOLDS), (x, extra)


def test_tokens_and_cues_equal_the_plain_computation():
    """Tokens (re.split + one lower()) equal tokenize() + per-word lower(), also on awkward Unicode (final sigma,
    dotted capital I, Kelvin sign); the statement prefilter never says no where a statement cue matches."""
    from vdmine.nlp.findings_rules import STATEMENT_CLASSES, Tokens, tokenize

    lex = lexicons()
    texts = [
        "ΟΔΟΣ Σ ΑΣ-Β İstanbul \u212aelvin x'increased NON-SIGNIFICANT did not differ",
        "p<0.05, OR 1.2 (95% CI 1.1-1.3); aOR 0.8 and no-treatment arm",
        "Pain scores were significantly lower in the vitamin D group than in the placebo group.",
        "",
    ]
    for text in texts:
        t = Tokens(text)
        assert t.as_tuples() == tokenize(text)
        assert t.lowers == [w.lower() for _, _, w in tokenize(text)]
        cues = lex.cues.find(text)
        if any(c.classes & STATEMENT_CLASSES for c in cues):
            assert lex.may_state_statement(text)


def _plain_section_labels(text, lex):
    """section_labels without shortcuts: finditer of both label regexes over the whole text."""
    from vdmine.nlp.findings import _HEADING_RE, _LABEL_RE

    plain = []
    for m in sorted([*_LABEL_RE.finditer(text), *_HEADING_RE.finditer(text)], key=lambda m: m.start(1)):
        label = m.group(1).strip().lower()
        sec = lex.section_labels.get(label) or lex.section_labels.get(label.split()[0])
        if sec and (m.group(1).isupper() or m.group(1).istitle() or len(label.split()) <= 3):
            plain.append((m.start(1), sec))
    return plain


def test_label_shortcut_edge_cases():
    """The label precheck (_label_possible) at its limits: a 61-character label still matches, 62 does not;
    whitespace runs (incl. Unicode spaces) before the colon; a double space ends a label; "\\s" is str.isspace."""
    import re

    from vdmine.nlp.findings import section_labels

    lex = lexicons()
    long_ok = "Results of the trial in the knee osteoarthritis group and more"  # 63 letters/spaces
    texts = [
        "A.\tRESULTS: x", "x!\nConclusion: y", "  Methods:  x", "Background\nfoo", "a? Results  Xy",
        ".\u2003Results: z", "Results:x: y", "RESULTS\n\nMethods:\n", "x. Results \u2003 \n :\tz", "x. Results\n\n\n: z",
        "x. Conclusions" + "s" * 47 + ":  y", "x. Conclusions" + "s" * 48 + ":  y", "x. " + long_ok[:61] + ": z",
        "x. " + long_ok[:62] + ": z", "x. Methods" + " " * 70 + ": z", "x. Results (n = 3): z", "x. results: z",
    ]
    for text in texts:
        assert section_labels(text, lex) == _plain_section_labels(text, lex), text
    assert section_labels("x. Results \u2003 \n :\tz", lex)  # a match the precheck must let through
    every = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    assert {ch for ch in every if re.fullmatch(r"\s", ch)} == {ch for ch in every if ch.isspace()}


def _plain_p_values(text):
    """_p_values read off a plain _P_RE.finditer (the regex tried at every character)."""
    from vdmine.nlp.findings_rules import _P_RE

    return [(m.start(), m.group(0)) for m in _P_RE.finditer(text)]


def _starts_shortcuts_agree(text) -> None:
    """The regexes tried at candidate starts only (_clause_splits, _ci_matches, _p_values) find what plain finditer
    finds; bracket depths (_depth_at, with its no-bracket shortcut) are those of a walk over every character."""
    from vdmine.nlp.findings_rules import _CI_RE, _CLAUSE_SPLIT, _ci_matches, _clause_splits, _depth_at, _p_values

    spans = lambda ms: [(m.span(), m.groups()) for m in ms]  # noqa: E731
    assert spans(_clause_splits(text)) == spans(_CLAUSE_SPLIT.finditer(text)), text
    assert spans(_ci_matches(text)) == spans(_CI_RE.rx.finditer(text)), text
    assert [(s.start, s.text) for s in _p_values.__wrapped__(text)] == _plain_p_values(text), text
    assert _depth_at(text, list(range(len(text)))) == _plain_depths(text), text


def _plain_depths(text):
    """Bracket depth after each character, walking every one ('(' and '[' open, ')' and ']' close, never below 0)."""
    out, d = [], 0
    for ch in text:
        if ch in "([":
            d += 1
        elif ch in ")]" and d:
            d -= 1
        out.append(d)
    return out


def _plain_find(phrases, text):
    """_PhraseSet.find the slow way: every token position and phrase length looked up, regex cues by plain
    finditer, then longest first without overlaps (a stable sort; phrases before regex cues)."""
    from vdmine.nlp.findings_rules import Cue, tokenize

    toks = tokenize(text)
    words = [w for _, _, w in toks]
    lowers = [w.lower() for w in words]
    longest = max(len(k) for k in [*phrases._ci_info, *phrases._cs_info])
    raw = []
    for i in range(len(toks)):
        for n in range(1, longest + 1):
            if i + n > len(toks):
                break
            hit = phrases._ci_info.get(tuple(lowers[i : i + n]))
            cs = phrases._cs_info.get(tuple(words[i : i + n]))
            if hit and cs:
                hit = (hit[0] | cs[0], hit[1])
            if hit or cs:
                raw.append((toks[i][0], toks[i + n - 1][1], *(hit or cs)))
    for (g, _, value), classes in zip(phrases.rx, phrases._rx_classes):
        raw += [(m.start(), m.end(), classes, value) for m in g.rx.finditer(text)]
    kept = {}
    for st, en, classes, value in sorted(raw, key=lambda r: (r[0] - r[1], r[0])):
        if (st, en) in kept:
            kept[(st, en)] = (kept[(st, en)][0] | classes, kept[(st, en)][1] or value)
        elif not any(st < e and s < en for s, e in kept):
            kept[(st, en)] = (classes, value)
    return [Cue(st, en, text[st:en], *kept[(st, en)]) for st, en in sorted(kept)]


def test_phrase_matching_equals_the_plain_computation(shared):
    """The cue, outcome and hedge matchers (candidates only where a phrase's first word occurs, a fast path when
    only one-word phrases match) equal the plain lookup of every token span, on the on-topic corpus and on
    awkward text."""
    import re

    lex = lexicons()
    texts = ["OR = 1.2, or 3; 95% CI 1-2 p<0.05 no-treatment NON-SIGNIFICANT did not differ significantly in both groups",
             "ΟΔΟΣ Σ İstanbul \u212aelvin p < .05; HR, HR 2", "", "no significant difference no significant"]
    for name in ("vitd_pain.jsonl",):
        for line in (shared / "corpus" / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            texts += re.split(r"(?<=[.!?])\s+|\n", (r.get("title") or "") + "\n" + (r.get("abstract") or ""))
    for text in texts:
        for phrases in (lex.cues, lex.outcome_terms, lex.hedges):
            assert phrases.find(text) == _plain_find(phrases, text), text


class _NoMatch:
    def span(self):
        return None


_NO = _NoMatch()


def test_fast_paths_are_exact_on_the_corpus(shared):
    """On every sentence-ish piece of the on-topic corpus: the statement prefilter never skips a sentence with a
    statement cue; a guarded regex is never skipped where it matches; section labels found at anchor positions
    equal plain finditer; the regexes tried at candidate starts only find what plain finditer finds."""
    import re

    from vdmine.nlp.findings import section_labels
    from vdmine.nlp.findings_rules import STATEMENT_CLASSES

    lex = lexicons()
    texts = []
    for name in ("vitd_pain.jsonl", "vitd_other.jsonl"):
        for line in (shared / "corpus" / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            texts.append((r.get("title") or "") + "\n" + (r.get("abstract") or ""))
    from vdmine.nlp.findings_rules import _CI_RE, _meets

    exposure_guard = findings.FindingsComponent(spacy.blank("en"), "f", "vitamin D").exposure_re
    guarded = [p for p, _, _ in lex.cues.rx] + [*lex.baseline, _CI_RE, exposure_guard]
    skipped = guard_skips = 0
    for text in texts:
        assert section_labels(text, lex) == _plain_section_labels(text, lex)
        _starts_shortcuts_agree(text)
        for sent in re.split(r"(?<=[.!?])\s+|\n", text):
            if lex.statement_prefilter.cs.search(sent):  # the case-sensitive scan is skipped only without its keys
                assert lex.statement_prefilter.cs_held(sent), sent
            if not lex.may_state_statement(sent):
                skipped += 1
                assert not any(c.classes & STATEMENT_CLASSES for c in lex.cues.find(sent)), sent
            for g in guarded:  # a regex skipped for a missing literal would not have matched
                assert g.meets(sent.lower()) == _meets(g.needs, sent.lower())
                if not g.possible(sent):
                    guard_skips += 1
                    assert g.rx.search(sent) is None, (g.pattern, sent)
                # tried at its start words only: the same matches
                assert [m.span() for m in g.finditer(sent)] == [m.span() for m in g.rx.finditer(sent)], (g.pattern, sent)
                assert (g.search(sent) or _NO).span() == (g.rx.search(sent) or _NO).span(), (g.pattern, sent)
        for g in guarded:
            assert [m.span() for m in g.finditer(text)] == [m.span() for m in g.rx.finditer(text)], g.pattern
            _starts_shortcuts_agree(sent)
    assert skipped > 100 and guard_skips > 100  # the shortcuts do skip work
    assert sum(bool(g.starts) for g in guarded) >= 5  # \\bOR\\b, \\bp, no-, two baseline regexes, the exposure


def test_labelled_section_by_bisection(shared):
    """labelled_section_at (bisection over the label offsets) gives labelled_section at every offset of the
    labelled on-topic abstracts."""
    from vdmine.nlp.findings import labelled_section, labelled_section_at, section_labels

    lex = lexicons()
    checked = 0
    for line in (shared / "corpus" / "vitd_pain.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        text = (r.get("title") or "") + "\n" + (r.get("abstract") or "")
        labels = section_labels(text, lex)
        starts = [p for p, _ in labels]
        for pos in range(0, len(text) + 1, 7 if labels else 97):
            assert labelled_section_at(labels, starts, pos) == labelled_section(labels, pos)
            checked += bool(labels)
    assert checked > 1000


def test_start_shortcuts_read_the_patterns_they_assume():
    """_clause_splits and _ci_matches derive match starts from the shape of their regexes: every top-level
    alternative of _CLAUSE_SPLIT begins with ";", ":" or "," except ",?\\s+(but|whereas|...)", and _CI_RE is one
    sequence (no top-level "|") that begins with the optional "\\d{2}\\s*%\\s*" then CI|confidence interval. A
    change to either regex that breaks this fails here."""
    from re import _constants as C
    from re import _parser

    from vdmine.nlp.findings_rules import _CI_HEAD, _CI_RE, _CLAUSE_SPLIT, _SPLIT_WORDS

    (op, (_, alts)), = _parser.parse(_CLAUSE_SPLIT.pattern, _CLAUSE_SPLIT.flags).data
    assert op is C.BRANCH
    firsts = [alt.data[0] for alt in alts]
    assert firsts[0] == (C.LITERAL, ord(";")) and firsts[1] == (C.LITERAL, ord(":"))
    assert all(f == (C.LITERAL, ord(",")) for f in firsts[3:]) and len(firsts) == 5
    assert str(alts[2]) == str(_parser.parse(r",?\s+(?:" + "|".join(
        "but(?!\\s+not\\b)" if w == "but" else w for w in _SPLIT_WORDS) + r")\s+", _CLAUSE_SPLIT.flags))
    ci = _parser.parse(_CI_RE.pattern, _CI_RE.rx.flags).data
    head = _parser.parse(_CI_HEAD, _CI_RE.rx.flags).data
    assert all(op is not C.BRANCH for op, _ in ci[:1]) and str(ci[: len(head)]) == str(head)


def test_start_shortcuts_on_awkward_text():
    """Clause splits, CIs and p-values tried at candidate starts only, at their limits: case and Unicode folds
    ("BUT", "whereaſ" with a long s, which IGNORECASE matches as "whereas", a dotted capital I), whitespace runs
    (incl. Unicode spaces) before a split word and inside "95 % CI", a split word right after ": ", more digits
    before "95", "p" after a word character or at the start and before each kind of continuation, the Greek
    question mark."""
    from vdmine.nlp.findings_rules import _clause_splits

    texts = [
        "Pain fell BUT not BMD x", "A rose whereaſ B fell", "A rose,\nAND increased B", "x: y", "a; b",
        "In contrast to A", "A rose, and B fell", "A rose and B fell", "A rose. B fell", "x:  but y",
        "A fell,\u2003 while B rose", "x ;\u00a0however, y", "ok:\tyet", "but", " but ", "İ but x, and increased",
        "95 % CI 1-2", "a 95%\tci: 1 to 2", "195 % CI 1–2, 95%CI (1; 3)", "CIs 1, 2", "95 %\u2009 CI −1.2 to 3",
        "CI: 1-2 ci 1 to 2 specific 1-2", "İ 95% CI 1-2", "p<0.05 P = .3 Ip<.1", "p < .05", "(p=0.2)", "_p<0.01",
        "p\u037e<0.01", "P-value < 0.001, p value of 0.04, p for trend = 0.3", "İp < 0.05",
        # what may follow the "p" of a p-value: no space, Unicode space, entities, words, capitals, the text end
        "pless than 0.01, Pof 0.2", "pValues=0.3 pvalue<.01", "P\u00a0< 0.05", "pFOR trend=0.3", "p&lt;0.05 p&gt;0.1",
        "p≤0.05;p≥0.06", "P<0.05 p", "pain p", "placebo p<.01 (pOR=0.2)", "p\u2009=\u20090.04", "P\u212a=0.2",
    ]
    texts += ["OR 1.2", "xOR 1.2 (OR=2)", "_or 2, or 3", "İ OR 1", "odds: or: 3", "non-smokers, no-treatment",
              "nonno-x", "p=0.2;P<.01", "Serum 25(OH)D and vitamin D3", "xvitamin D, vitamin Dx, 25OHD"]
    exposure_guard = findings.FindingsComponent(spacy.blank("en"), "f", "vitamin D").exposure_re
    guarded = [g for g, _, _ in lexicons().cues.rx] + [*lexicons().baseline, exposure_guard]
    for text in texts:
        _starts_shortcuts_agree(text)
        for g in guarded:
            assert [m.span() for m in g.finditer(text)] == [m.span() for m in g.rx.finditer(text)], (g.pattern, text)
    assert len(_clause_splits("x:  but y")) == 2  # ": " then " but " from inside the whitespace run


def test_sentences_equal_doc_sents(full_nlp, vdw):
    """findings.sentences reads boundaries and character offsets off doc.to_array: the same as doc.sents,
    also with trailing whitespace and on an empty doc."""
    from vdmine.nlp.findings import sentences

    texts = [r["title"] + "\n" + r["abstract"] for r in list(vdw.values())[:40]]
    texts += ["Pain fell.  Then  rose!  \n", "One", " ", ""]
    for text in texts:
        doc = full_nlp(text)
        got = [tuple(s) for s in sentences(doc)]
        want = [(s.start, s.end, s.start_char, s.end_char) for s in doc.sents] or [(0, 0, 0, 0)]
        assert got == want, text[:80]


def test_span_attribute_reader_is_exact(full_nlp, vdw):
    """findings._span_attribute reads plain span extensions straight from doc.user_data: the same values as
    ``span._.<name>`` for every exposure and condition span of real abstracts, set or left at the default; an
    extension with a getter, or an unregistered one, is still answered."""
    from spacy.tokens import Span

    from vdmine.nlp.findings import _span_attribute

    names = ("canonical", "condition_negated", "condition_source", "vdmine_exposure", "findings")
    seen = dict.fromkeys(names, 0)
    for r in list(vdw.values())[:150]:
        doc = full_nlp(r["title"] + "\n" + r["abstract"])
        readers = {n: _span_attribute(n, doc) for n in names}
        for key in ("conditions", "vdmine_exposures", "findings"):  # findings: written the same way
            for s in doc.spans.get(key, []):
                for n in names:
                    if Span.has_extension(n):
                        want = getattr(s._, n)
                        assert readers[n](s, s.start_char, s.end_char) == want, (n, s.text)
                        seen[n] += want not in (None, False)
    assert seen["condition_source"] > 50 and seen["condition_negated"] > 0 and seen["vdmine_exposure"] > 50, seen
    assert seen["findings"] > 50, seen
    if not Span.has_extension("_vdmine_test_getter"):
        Span.set_extension("_vdmine_test_getter", getter=lambda s: s.text.upper())
    doc = full_nlp("Vitamin D and knee pain.")
    assert _span_attribute("_vdmine_test_getter", doc)(doc[0:2], 0, 9) == "VITAMIN D"
    assert _span_attribute("_vdmine_not_registered", doc)(doc[0:2], 0, 9) is None


# --- issue 4: per-arm numbers as evidence of direction --------------------------------------------


def _numbers_judged(text, outcome_words, intervention_words=(), comparator_words=()):
    i = text.index(outcome_words)
    return judge(text, outcome_span=(i, i + len(outcome_words)), intervention_words=list(intervention_words),
                 comparator_words=list(comparator_words), relation_hint="effect")


def test_values_tied_to_arms_give_the_direction(shared):
    """No direction word, only each arm's value and a p-value: the arm with the larger value says which way.
    Real sentences (offtopic corpus); the arms are the cue words "intervention/study/treatment group" and
    "control group"."""
    from corpus_text import real

    # "VALUE in ARM and VALUE in ARM" (pmid 29238501)
    text = real(shared, "offtopic.jsonl", "Frequency of episiotomy was 69.47% in the intervention group and 92.31% "
                "in the control group, and the difference was statistically significant (p<0.05).")
    j = _numbers_judged(text, "episiotomy")
    assert (j.effect_direction, j.significant, j.notes) == ("decrease", True, ["numbers"])
    assert j.trigger == "69.47% vs 92.31%"
    # a count with its fraction: the percentage is the value, compared control first (pmid 19852337)
    text = real(shared, "offtopic.jsonl", "The incidence of PVT was 100% (21/21) in the control group and only 9.5% "
                "(2/21) in the study group (p<0.0001).")
    assert _numbers_judged(text, "PVT").effect_direction == "decrease"
    # "VALUE for ARM (95% CI ...)": the CI's numbers are not values (pmid 10901769)
    text = real(shared, "offtopic.jsonl", "Rates of the combined endpoints of renal failure and natural death per "
                "100 person-years were 2.9 for the treatment group (95% CI, 1.7-4.6) and 4.8 for the control group "
                "(95% CI, 3.3-7.0).")
    j = _numbers_judged(text, "renal failure")
    assert j.effect_direction == "decrease" and j.trigger == "2.9 vs 4.8"


def test_values_with_respectively_and_colon_forms(shared):
    """Several values per arm, each run of values followed by ", respectively, in the ARM" (pmid 12786634), and
    "ARM: VALUE" pairs (pmid 38337402; the second pair of the quote)."""
    from corpus_text import real

    text = real(shared, "offtopic.jsonl", "After 12 months, the per protocol and intention-to-treat healing rates "
                "of oesophagitis were 95.1% (88.5-100%) and 79.6% (68.3-90.9%), respectively, in the treatment group "
                "vs. 32.7% (19.9-45.4%) and 30.4% (18.3-42.4%), respectively, in the placebo group (P = 0.0001).")
    j = _numbers_judged(text, "healing rates")
    assert j.effect_direction == "increase" and j.significant is True
    assert j.trigger == "95.1% (88.5-100%) and 79.6% (68.3-90.9%) vs 32.7% (19.9-45.4%) and 30.4% (18.3-42.4%)"
    text = real(shared, "vitd_pain.jsonl", "T2 (control group: 72 (48-112), treated group: 0 (0-0), p < 0.0001)")
    j = judge(text, intervention_words=["treated"], comparator_words=["control"], relation_hint="effect")
    assert j.effect_direction == "decrease" and j.trigger == "72 (48-112) vs 0 (0-0)"


def test_numbers_that_are_not_values(shared):
    """p-values, CIs, ratios, doses, sample sizes, cut-offs and time points are never read as values."""
    from corpus_text import real
    from vdmine.nlp.findings_rules import _group_mentions, _numeric_arms, arm_values

    # pmid 38337402: doses ("200 mg/twice a day", "50 mcg") and "n = 25": no value at all
    text = real(shared, "vitd_pain.jsonl", "They were treated with vaginal progesterone (200 mg/twice a day) (control "
                "group; n = 25) or vaginal progesterone plus oral 200 mg HMWHA, 100 mg ALA, 450 mg magnesium, 2.6 mg "
                "vitamin B6, and 50 mcg vitamin D (treatment group; n = 31; DAV®-HA, LoLi Pharma srl, Rome, Italy).")
    assert arm_values(text) == []
    # a cut-off ("less than 30 ng/mL"), group sizes in brackets ("vitamin D (40)"), a duration ("for 6 weeks"):
    # only the head count is left, and an allocation sentence gives no direction (vitd_other, pmid 28376103)
    text = real(shared, "vitd_other.jsonl", "80 CHC patients with vitamin D levels less than 30 ng/mL were assigned to "
                "receive vitamin D (40) or placebo (40) supplements for 6 weeks.")
    assert [v.value for v in arm_values(text)] == [80.0]
    assert _numbers_judged(text, "vitamin D levels", ["vitamin"], ["placebo"]).effect_direction == "unclear"
    # the percentages are values; "at 24 months", the hazard ratio, its CI and the p-value are not (pmid 24646104)
    text = real(shared, "vitd_pain.jsonl", "Denosumab significantly reduced the risk of new or worsening vertebral "
                "fracture by 65.7%, with incidences of 3.6% in denosumab and 10.3% in placebo at 24 months (hazard ratio "
                "0.343; 95% confidence interval 0.194–0.606, P = .0001).")
    assert [(v.value, v.unit) for v in arm_values(text)] == [(65.7, "%"), (3.6, "%"), (10.3, "%")]
    lex = lexicons()
    i_pos, c_pos = _group_mentions(text, lex.cues.find(text), ["denosumab"], [], None)
    assert _numeric_arms(text, (0, len(text)), i_pos, c_pos)[0] == -1  # 3.6% (denosumab) < 10.3% (placebo)
    # numbers allocated to arms (pmid 23875866, offtopic corpus) are no outcome values
    text = real(shared, "offtopic.jsonl", "A total of 161 participated in the study, 76 persons allocated to the "
                "control group and 85 to the intervention group were analysed throughout the study.")
    assert judge(text, relation_hint="effect").effect_direction == "unclear"


def test_numbers_only_where_no_word_gives_a_direction(shared):
    """The word rules come first: in pmid 24646104 a direction word decides, the per-arm incidences are not read."""
    from corpus_text import real

    text = real(shared, "vitd_pain.jsonl", "Denosumab significantly reduced the risk of new or worsening vertebral "
                "fracture by 65.7%, with incidences of 3.6% in denosumab and 10.3% in placebo at 24 months (hazard ratio "
                "0.343; 95% confidence interval 0.194–0.606, P = .0001).")
    j = _numbers_judged(text, "vertebral fracture", ["denosumab"], ["placebo"])
    assert j.effect_direction == "decrease" and "numbers" not in j.notes and " vs " not in j.trigger


def test_pipeline_row_keeps_cut_offs_and_group_sizes_out(full_nlp, corpus):
    """In the pipeline the arms are exposure spans and comparator cues. pmid 28376103 (vitd_other): "80 CHC patients
    with vitamin D levels less than 30 ng/mL were assigned to receive vitamin D (40) or placebo (40) supplements for
    6 weeks." names both arms; its serum 25(OH)D row must stay unclear (30 is a cut-off, 40 a group size)."""
    got = [r for r in _full_rows(full_nlp, corpus["28376103"]) if r["sentence"].startswith("80 CHC patients")]
    assert got and all(r["effect_direction"] == "unclear" and " vs " not in (r["trigger"] or "") for r in got)
