"""Condition extraction on real sentences from ../shared/corpus (PMIDs and files quoted)."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import pytest
import spacy

from vdmine.config import NlpConfig, shared_dir
from vdmine.errors import VdmineError
from vdmine.nlp import conditions, negation
from vdmine.nlp.tokenizer import make_tokenizer
from vdmine.nlp.vocab import Term, lexicon_concepts, load_lexicon, load_vocabulary, variants
from vdmine.store.schemas import CONDITIONS

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

# MeSH descriptors newer than the shared MeSH 2015 tree file, checked by hand against MeSH.
POST_2015_MESH = {"D000073496": "Frailty", "D000072716": "Cancer Pain", "D000070636": "Rotator Cuff Injuries",
                  "D000086382": "COVID-19"}


@pytest.fixture(scope="module")
def shared():
    root = shared_dir()
    if root is None or not (root / "bench").is_dir():
        pytest.skip("needs ../shared/bench (set VDMINE_SHARED)")
    return root


def _pipeline(vocabularies=()):
    """The model-free pipeline of vdmine.nlp.pipeline, up to the conditions component."""
    import scispacy.abbreviation  # noqa: F401

    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    nlp.add_pipe("sentencizer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.add_pipe("abbreviation_detector", config={"make_serializable": True})
    nlp.add_pipe("vdmine_conditions", config={"vocabularies": list(vocabularies)})
    return nlp


@pytest.fixture(scope="module")
def nlp():
    return _pipeline()


def mentions(nlp, text):
    doc = nlp(text)
    return [(r["text"], r["canonical"], r["mesh_id"], r["negated"], r["source"]) for r in conditions.rows(doc, "x")]


def test_rows_match_schema_and_offsets(nlp):
    # vitd_pain.jsonl PMID 41368655 (title + first sentence)
    title = "Study on Bone Mineral Density Around the Knee in Postmenopausal Women with Osteoarthritis and Osteoporosis."
    abstract = ("Osteoporosis (OP) and knee osteoarthritis (KOA) are common comorbidities in postmenopausal women, "
                "yet the relationship between OP and localized bone mineral density (BMD) around the knee remains unclear.")
    text = title + "\n" + abstract
    rows = conditions.rows(nlp(text), "41368655")
    assert rows and all(set(r) == set(CONDITIONS.names) for r in rows)
    for r in rows:
        assert text[r["start_char"]:r["end_char"]] == r["text"]
    assert [r["sent_idx"] for r in rows if r["text"] == "Osteoarthritis"] == [0]
    assert {r["sent_idx"] for r in rows if r["start_char"] > len(title)} == {1}


def test_abbreviation_defined_in_abstract_resolves_everywhere(nlp):
    # vitd_pain.jsonl PMID 41368655
    text = ("Osteoporosis (OP) and knee osteoarthritis (KOA) are common comorbidities in postmenopausal women, "
            "yet the relationship between OP and localized bone mineral density (BMD) around the knee remains unclear. "
            "KOA was graded radiographically.")
    got = mentions(nlp, text)
    koa = [m for m in got if m[0] == "KOA"]
    assert len(koa) == 2 and all(m[1:3] == ("knee osteoarthritis", "D020370") and m[4] == "abbreviation" for m in koa)
    op = [m for m in got if m[0] == "OP"]
    assert len(op) == 2 and all(m[2] == "D010024" for m in op)
    # longest match: "knee osteoarthritis" is one mention, not "osteoarthritis"
    assert ("knee osteoarthritis", "knee osteoarthritis", "D020370", False, "lexicon") in got
    assert not [m for m in got if m[0] == "osteoarthritis"]


def test_abbreviation_defined_otherwise_is_not_a_condition(nlp):
    # vitd_other.jsonl PMID 40243616: OA = oleanolic acid, not osteoarthritis
    text = ("DKS26 is a derivative of oleanolic acid (OA) optimized for bioavailability while retaining the "
            "anti-inflammatory, antioxidant, and anti-apoptotic properties of OA.")
    assert [m for m in mentions(nlp, text) if m[0] == "OA"] == []
    # vitd_other.jsonl PMID 28923060: RCT = randomized controlled trial, not rotator cuff tear
    text = ("Methods: We used data from a randomized controlled trial (RCT) of daily folic acid and/ or vitamin B12 "
            "supplementation for six months in children aged 6 to 30 months conducted in Delhi, India.")
    assert mentions(nlp, text) == []


def test_abbreviation_definition_beats_curated_meaning(nlp):
    # vitd_other.jsonl PMID 32785036: MS = metabolic syndrome here (curated list says multiple sclerosis)
    text = ("Metabolic syndrome (MS) affects up to 40% of the population and is associated with heart failure, "
            "stroke and diabetes. Phytosterols (PS) could help to manage one or more MS criteria.")
    got = mentions(nlp, text)
    ms = [m for m in got if m[0] == "MS"]
    assert len(ms) == 2 and {m[1] for m in ms} == {"metabolic syndrome"}
    assert {m[1] for m in got} >= {"metabolic syndrome", "heart failure", "stroke", "diabetes mellitus"}


def test_curated_abbreviation_without_definition(nlp):
    # offtopic.jsonl PMID 23495128
    got = mentions(nlp, "METHODS: Six group interviews were conducted with 17 patients with knee OA.")
    assert got == [("knee OA", "knee osteoarthritis", "D020370", False, "lexicon")]


def test_hip_vs_vertebral_fracture_and_negation(nlp):
    # vitd_pain.jsonl PMID 11908491
    text = ("Postmenopausal Caucasian women aged less than 80 years (n = 99) with one or more atraumatic vertebral "
            "fracture and no hip fractures, were treated by cyclical administration of enteric coated sodium "
            "fluoride (NaF) or no NaF for 27 months, with precautions to prevent excessive stimulation of bone turnover.")
    got = mentions(nlp, text)
    assert ("vertebral fracture", "vertebral fracture", "D016103", False, "lexicon") in got
    assert ("hip fractures", "hip fracture", "D006620", True, "lexicon") in got


def test_plural_and_adjective_forms(nlp):
    # vitd_pain.jsonl PMID 10663358
    text = ("In a randomized trial involving 71 postmenopausal osteoporotic women with vertebral compression "
            "fractures, radiocalcium absorption studies using the (45)Ca single isotope method (alpha) were performed.")
    got = mentions(nlp, text)
    assert ("osteoporotic", "osteoporosis", "D010024", False, "lexicon") in got
    assert ("vertebral compression fractures", "vertebral fracture", "D016103", False, "lexicon") in got
    # vitd_other.jsonl (VitaminDWiki vdw:77 quotes the same style): UK spelling
    got = mentions(nlp, "None of the newborns had craniotabes, hypocalcaemia or hyperparathyroidism.")
    assert ("hypocalcaemia", "hypocalcemia", "D006996") in [m[:3] for m in got]


@pytest.mark.parametrize(
    "text, mention, negated",
    [
        # vitd_pain.jsonl PMID 40008355
        ("Patients with fractures showed lower Mg levels compared with those without fractures (P < .001) and more VC (P = .01).",
         "fractures", [False, True]),
        # vitd_pain.jsonl PMID 40045219 (abridged at the comma-free clause)
        ("Those with a history of CVD showed higher levels of urea than patients free of cardiovascular disease events (n = 37).",
         "cardiovascular disease", [True]),
        # vitd_pain.jsonl PMID 12076241
        ("A total of 135 postmenopausal women (aged 41-70 years) with no evidence of moderate or severe periodontal disease "
         "were randomized to receive daily oral conjugated estrogen (Premarin; 0.625 mg) alone or placebo.",
         "periodontal disease", [True]),
        # vitd_pain.jsonl PMID 24849736: a result, not the absence of fracture (pseudo-negation)
        ("In women, no significant effect of supplementation on fracture incidence was seen in any of the study periods.",
         "fracture", [False]),
        # vitd_pain.jsonl PMID 40313432: "with and without" is not a negation
        ("This study was conducted to record vitamin D (VD) levels and assess hip fracture severity in elderly hip-fractured "
         "patients with and without type 2 diabetes mellitus (T2DM).", "type 2 diabetes mellitus", [False]),
        # vitd_pain.jsonl PMID 10979796: post-cue
        ("Men with other secondary causes of osteoporosis were excluded.", "osteoporosis", [True]),
    ],
)
def test_negation(nlp, text, mention, negated):
    got = [m[3] for m in mentions(nlp, text) if m[0] == mention]
    assert got == negated


def test_negation_cues_are_data_and_is_negated_is_reusable():
    kinds = {c.kind for c in negation.load_cues()}
    assert kinds == {"pre", "post", "pseudo", "term"}
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("Osteoporosis was ruled out, but fracture was not.")  # post cue + terminator
    assert negation.is_negated(doc[0:1]) is True
    assert negation.is_negated(doc[6:7]) is False


def test_lexicon_entries_are_complete_and_mesh_ids_real(shared):
    concepts = lexicon_concepts()
    assert len(concepts) >= 100
    tree = {}
    with gzip.open(shared / "bench/mesh/mesh2015_descriptor_tree_numbers.tsv.gz", "rt") as fh:
        for line in fh:
            mesh_id, name, _tree = line.rstrip("\n").split("\t")
            tree.setdefault(mesh_id, name)
    for c in concepts:
        assert c["canonical"] and c["terms"], c
        assert c["mesh_id"] in tree or c["mesh_id"] in POST_2015_MESH, c
    names = {c["canonical"]: tree.get(c["mesh_id"]) for c in concepts}
    assert names["knee osteoarthritis"] == "Osteoarthritis, Knee"
    assert names["vertebral fracture"] == "Spinal Fractures"
    assert names["osteomalacia"] == "Osteomalacia"
    required = {"osteomalacia", "rickets", "osteoporosis", "osteopenia", "hip fracture", "vertebral fracture",
                "fragility fracture", "falls", "sarcopenia", "myopathy", "muscle weakness", "knee osteoarthritis",
                "hip osteoarthritis", "hand osteoarthritis", "rheumatoid arthritis", "fibromyalgia",
                "chronic widespread pain", "musculoskeletal pain", "low back pain", "neuropathic pain", "chronic pain",
                "bone pain", "tendinopathy", "vitamin D deficiency", "vitamin D insufficiency", "hypocalcemia",
                "secondary hyperparathyroidism", "migraine", "headache", "dysmenorrhea", "chronic kidney disease",
                "multiple sclerosis", "diabetes mellitus", "obesity", "depression", "rotator cuff tear",
                "arthralgia", "myalgia"}
    assert required <= set(names)


def test_variants():
    assert {"myopathy", "myopathies"} <= variants("myopathy")
    assert {"hypocalcaemia", "hypocalcemia"} <= variants("hypocalcaemia")
    assert "osteoporosiss" not in variants("osteoporosis")
    assert any(t.case_sensitive and t.text == "KOA" for t in load_lexicon())


def test_medic_and_mesh_vocabularies(shared, tmp_path):
    medic = shared / "bench/mesh/medic_06Jul2012.txt.gz"
    mesh = shared / "bench/mesh/mesh2015_descriptor_tree_numbers.tsv.gz"
    terms = load_vocabulary(medic)
    assert load_vocabulary(medic) is terms  # cached per path
    by_text = {t.text.lower(): t for t in terms}
    assert by_text["knee osteoarthritis"].mesh_id == "D020370"  # uninverted "Osteoarthritis, Knee"
    assert by_text["osteoarthritis"].mesh_id == "D010003"  # "140600|D010003||Osteoarthritis": MeSH id preferred
    assert "oa" not in by_text  # short all-capital synonyms are left to abbreviation resolution
    nlp = _pipeline([str(medic), str(mesh)])
    # vitd_pain.jsonl PMID 12549750: not in the curated lexicon, found through MEDIC
    got = mentions(nlp, "These findings indicate that BMD is markedly reduced in non-ambulatory children and adults "
                        "with neuromuscular disease.")
    assert ("neuromuscular disease", "neuromuscular diseases", "D009468", False, "medic") in got
    mesh_terms = load_vocabulary(mesh)
    assert {t.source for t in mesh_terms} == {"mesh"} and all(t.mesh_id.startswith("D") for t in mesh_terms)
    assert "Calcimycin" not in {t.text for t in mesh_terms}  # D tree (chemicals) excluded


def test_ctd_tsv_format(tmp_path):
    # Layout of CTD's CTD_diseases.tsv (comment header, "# Fields:" line, MESH:/OMIM: ids, |-joined synonyms)
    p = tmp_path / "CTD_diseases.tsv"
    p.write_text(
        "# Comparative Toxicogenomics Database (CTD) -- http://ctdbase.org/\n#\n# Fields:\n"
        "# DiseaseName\tDiseaseID\tAltDiseaseIDs\tDefinition\tParentIDs\tTreeNumbers\tParentTreeNumbers\tSynonyms\tSlimMappings\n#\n"
        "Osteomalacia\tMESH:D010018\t\tDisorder of bone\tMESH:D001851\tC05.116.198.816.640\tC05.116.198.816\t"
        "Adult Rickets|Osteomalacias\tMusculoskeletal disease\n"
        "Hypophosphatemic rickets, X-linked dominant\tOMIM:307800\t\t\tMESH:D053098\t\t\tHYPOPHOSPHATEMIA, X-LINKED\t\n",
        encoding="utf-8",
    )
    terms = load_vocabulary(p)
    got = {(t.text, t.mesh_id) for t in terms}
    assert ("Adult Rickets", "D010018") in got and ("Osteomalacia", "D010018") in got
    assert any(t.mesh_id == "OMIM:307800" for t in terms)


def test_unreadable_vocabulary_is_e041(tmp_path):
    with pytest.raises(VdmineError) as e:
        load_vocabulary(tmp_path / "missing.tsv")
    assert e.value.code == "E041"
    bad = tmp_path / "bad.tsv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(VdmineError) as e:
        load_vocabulary(bad)
    assert e.value.code == "E041"
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\n")
    with pytest.raises(VdmineError) as e:
        load_vocabulary(junk)
    assert e.value.code == "E041"


def test_model_entities_are_merged(tmp_path):
    """A base model with an 'ner' adds DISEASE entities the rules miss (source 'model')."""
    from vdmine.nlp.pipeline import build_pipeline

    base = spacy.blank("en")
    ruler = base.add_pipe("entity_ruler", name="ner")
    ruler.add_patterns([
        {"label": "DISEASE", "pattern": "craniotabes"},
        {"label": "DISEASE", "pattern": [{"LOWER": "hypocalcaemia"}]},
        {"label": "CHEMICAL", "pattern": "calcitriol"},
    ])
    base.to_disk(tmp_path / "tiny")
    nlp = build_pipeline(NlpConfig(model=str(tmp_path / "tiny")))
    assert "ner" in nlp.pipe_names
    # VitaminDWiki quote (secondary/vitamindwiki_records.jsonl vdw:77)
    doc = nlp("None of the newborns had craniotabes, hypocalcaemia or hyperparathyroidism.")
    got = {(r["text"], r["source"], r["mesh_id"]) for r in conditions.rows(doc, "vdw:77")}
    assert ("craniotabes", "model", None) in got
    assert ("hypocalcaemia", "lexicon", "D006996") in got  # the rule span wins over the model's
    assert not any(r["text"] == "calcitriol" for r in conditions.rows(doc, "vdw:77"))


def test_missing_model_is_e040():
    from vdmine.nlp.pipeline import build_pipeline

    with pytest.raises(VdmineError) as e:
        build_pipeline(NlpConfig(model="vdmine_no_such_model_xyz"))
    assert e.value.code == "E040"


def test_add_terms_and_block(nlp):
    comp = _pipeline().get_pipe("vdmine_conditions")
    comp.add_terms([Term("neuromuscular disease", "neuromuscular diseases", "D009468", "gazetteer")])
    comp.block(["pain"])
    doc = comp(comp.tokenizer("Chronic pain and pain in adults with neuromuscular disease."))
    got = [(sp.text, sp._.condition_source) for sp in doc.spans["conditions"]]
    assert got == [("Chronic pain", "lexicon"), ("neuromuscular disease", "gazetteer")]


def test_site_and_qualifier_before_a_condition_give_the_site_concept(nlp):
    # secondary/vitamindwiki_records.jsonl vdw:145 (systematic review of vitamin D and OA)
    text = ("For knee radiographic OA as assessed by the Kellgren and Lawrence (KL) score, there was moderate evidence "
            "showing that low levels of 25-(OH)D were associated with increased progression of radiographic OA.")
    got = mentions(nlp, text)
    assert ("knee radiographic OA", "knee osteoarthritis", "D020370", False, "lexicon") in got
    # no site before the qualifier: plain osteoarthritis
    assert ("OA", "osteoarthritis", "D010003", False, "lexicon") in got
    # vdw:322 (a reference title): site word + qualifier + condition
    got = mentions(nlp, "Le Goaziou MF, Bodier E, Souweine G, Moreau A, et al: Musculoskeletal chronic pains and Vitamin D deficiency")
    assert ("Musculoskeletal chronic pains", "musculoskeletal pain") in [m[:2] for m in got]


def test_qualifiers_are_data_and_need_a_known_site_term(nlp):
    from vdmine.nlp.vocab import load_qualifiers

    assert {"radiographic", "symptomatic", "severe", "early", "advanced", "painful"} <= load_qualifiers()
    # vdw:327 (McAlindon 2013): the qualifier comes before the site and "with" is no site: knee OA, as before
    got = mentions(nlp, "A 2-year randomized, placebo-controlled, double-blind, clinical trial involving 146 participants "
                        "with symptomatic knee OA (mean age, 62.4 years [SD, 8.5]; 57 women [61%], 115 white race [79%]).")
    assert [m[:2] for m in got] == [("knee OA", "knee osteoarthritis")]


def test_condition_shortcuts_are_exact(nlp, shared):
    """The component works on token indices (keys, texts, longest-span filter, negation with a lazy
    sentence lookup); each piece equals the spaCy-object path it replaces, on real abstracts."""
    import random
    from itertools import islice

    from spacy.tokens import Span
    from spacy.util import filter_spans

    from vdmine.pubmed.sources import iter_jsonl
    from vdmine.records import Record

    def negated_reference(span):  # is_negated as first written: the sentence of every span
        cues, terms = negation.doc_cues(span.doc)
        if not cues:
            return False
        sent = span.sent
        for kind, cs, ce, window in cues:
            if kind == "pre":
                if sent.start <= cs and ce <= span.start and span.start - ce <= window:
                    if not any(i in terms for i in range(ce, span.start)):
                        return True
            elif span.end <= cs and ce <= sent.end and cs - span.end <= window:
                if not any(i in terms for i in range(span.end, cs)):
                    return True
        return False

    rng = random.Random(7)
    texts = [r.text for name in ("vitd_pain.jsonl", "offtopic.jsonl")
             for r in islice(iter_jsonl(shared / "corpus" / name), 150) if isinstance(r, Record)]
    negated = 0
    for doc in nlp.pipe(texts):
        n = len(doc)
        toks = conditions._Tokens(doc)
        for s in range(n):
            for e in range(s, min(n, s + 4) + 1):
                assert toks.key(s, e) == conditions._key(doc[s:e])
                assert toks.text(s, e) == doc[s:e].text
        assert toks.text(-3, n + 5) == doc[-3:n + 5].text and toks.key(5, 2) == conditions._key(doc[5:2])
        pairs = {(s, s + rng.randint(1, 5)) for s in rng.sample(range(max(1, n - 5)), min(40, max(1, n - 5)))}
        pairs |= {(sp.start, sp.end) for sp in doc.spans["conditions"]}
        assert conditions._longest_first(pairs) == [(sp.start, sp.end) for sp in filter_spans([Span(doc, s, e) for s, e in pairs])]
        assert conditions.sentence_index(doc) == [s.start for s in doc.sents]
        for s in range(0, n - 3, 2):
            for e in (s + 1, s + 3):
                got = negation.is_negated(doc[s:e])
                assert got == negated_reference(doc[s:e])
                negated += got
    assert negated > 50  # the negation comparison saw negated ranges
