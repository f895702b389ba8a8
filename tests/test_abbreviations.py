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
        n = 0
        for text in texts:
            a, b = nlp(text), nlp(text)
            reference(a)
            fast(b)
            assert _abbrevs(b) == _abbrevs(a), text[:80]
            n += len(b._.abbreviations)
    assert n > 1000  # the corpus defines plenty: the comparison is not vacuous


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
