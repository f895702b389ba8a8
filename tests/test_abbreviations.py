"""vdmine's abbreviation component gives scispaCy's abbreviations, on real corpus abstracts."""

from __future__ import annotations

import json
import tracemalloc
import warnings

import pytest
import spacy

from vdmine.nlp.abbreviations import FastAbbreviationDetector
from vdmine.nlp.tokenizer import make_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    nlp.add_pipe("sentencizer")
    return nlp


def _abbrevs(doc):
    return sorted(tuple(sorted(a.items())) for a in doc._.abbreviations)


def _long_forms(doc):
    """Every ``span._.long_form`` value set on the doc (spaCy keeps them in user_data)."""
    return {k: v for k, v in doc.user_data.items() if isinstance(k, tuple) and k[:2] == ("._.", "long_form")}


def test_same_abbreviations_as_scispacy_on_corpus_abstracts(nlp, corpus):
    import scispacy.abbreviation

    texts = []
    for name in ("vitd_pain.jsonl", "vitd_other.jsonl"):
        for line in (corpus / name).open(encoding="utf-8"):
            r = json.loads(line)
            texts.append(r["title"] + "\n" + (r.get("abstract") or ""))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = scispacy.abbreviation.AbbreviationDetector(nlp, make_serializable=True)
        fast = FastAbbreviationDetector(nlp)
        assert fast._direct_long_forms  # long forms are written to user_data directly
        n = 0
        for text in texts:
            a, b = nlp(text), nlp(text)
            reference(a)
            fast(b)
            assert _abbrevs(b) == _abbrevs(a), text[:80]
            assert _long_forms(b) == _long_forms(a), text[:80]
            n += len(b._.abbreviations)
    assert n > 1000  # the corpus defines plenty: the comparison is not vacuous


def test_long_forms_written_directly_equal_the_span_api(nlp):
    """The direct user_data write gives what ``span._.long_form = x`` gives (also in order)."""
    text = ("Knee osteoarthritis (KOA) and rheumatoid arthritis (RA): KOA, RA and serum "
            "25-hydroxyvitamin D (25OHD) were studied; KOA (n = 12) improved.")
    direct, span_api = FastAbbreviationDetector(nlp), FastAbbreviationDetector(nlp)
    span_api._direct_long_forms = False
    a, b = direct(nlp(text)), span_api(nlp(text))
    assert list(a.user_data.items()) == list(b.user_data.items())
    assert len(_long_forms(a)) == 3  # KOA thrice: "):" is one token (no RA), 25OHD starts with a digit
    assert a[0:2]._.long_form is None and [a[i:i + 1]._.long_form for i in (3, 11, 24)] == ["Knee osteoarthritis"] * 3


def test_knee_oa_and_its_later_uses(nlp):
    # offtopic.jsonl PMID 37635226
    doc = FastAbbreviationDetector(nlp)(nlp(
        "Knee osteoarthritis (KOA) is a multifactorial, slow-progressing, non-inflammatory "
        "degenerative disease primarily affecting synovial joints. KOA is common."))
    got = [(a["short_text"], a["long_text"], a["short_start"]) for a in doc._.abbreviations]
    assert got == [("KOA", "Knee osteoarthritis", 3), ("KOA", "Knee osteoarthritis", 19)]  # in order


def _growth(det, docs, rounds: int = 40) -> int:
    """Bytes still allocated after running ``det`` over the same docs ``rounds`` times."""
    for d in docs:
        det(d)
        d.user_data.clear()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(rounds):
        for d in docs:
            det(d)
            d.user_data.clear()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return grown


def test_nothing_accumulates_between_documents(nlp):
    """scispaCy's detector keeps the matcher rules it removes after each doc; this one has none."""
    import scispacy.abbreviation

    docs = [nlp("Knee osteoarthritis (KOA) and rheumatoid arthritis (RA): KOA, RA and serum "
                "25-hydroxyvitamin D (25OHD) were studied.") for _ in range(50)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        leaky = _growth(scispacy.abbreviation.AbbreviationDetector(nlp, make_serializable=True), docs)
        ours = _growth(FastAbbreviationDetector(nlp), docs)
    assert leaky > 100_000  # the leak is real: 2,000 docs x 3 rules
    assert ours < 20_000, ours


def test_port_gives_scispacys_decisions_on_every_corpus_candidate(nlp, corpus):
    """filter_matches / short_form_filter / find_abbreviation run on token arrays: the same
    candidates and long forms as scispaCy's Span-based functions, on every "(...)" of every
    corpus abstract (ASCII and non-ASCII text both exercised)."""
    from scispacy.abbreviation import filter_matches, find_abbreviation

    from vdmine.nlp.abbreviations import _Tokens

    det = FastAbbreviationDetector(nlp)
    texts = []
    for name in ("vitd_pain.jsonl", "vitd_other.jsonl", "offtopic.jsonl", "secondary/vitamindwiki_records.jsonl"):
        for line in (corpus / name).open(encoding="utf-8"):
            r = json.loads(line)
            texts.append((r.get("title") or "") + "\n" + (r.get("abstract") or ""))
    pairs = found = non_ascii = 0
    for text in texts:
        doc = nlp(text)
        toks = _Tokens(doc, det.open_id, det.close_id)
        candidates = det._candidates(toks.orth)
        ref = filter_matches(candidates, doc)
        ours = toks.filter_matches(candidates)
        assert ours == [((lf.start, lf.end), (sf.start, sf.end)) for lf, sf in ref], text[:80]
        for (lf, sf), (long, short) in zip(ref, ours):
            _, want = find_abbreviation(lf, sf)
            assert toks.find_abbreviation(long, short) == (None if want is None else (want.start, want.end)), text[:80]
            pairs += 1
            found += want is not None
            non_ascii += not (lf.text + sf.text).isascii()
    assert pairs > 15_000 and found > 9_000 and non_ascii > 1_000, (pairs, found, non_ascii)  # 16,695 / 9,981 / 1,646
