"""vdmine's array sentencizer sets exactly spaCy's Sentencizer sentence starts."""

from __future__ import annotations

import pickle
import random
import warnings

import pytest
import spacy
from spacy.attrs import SENT_START
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc

from vdmine.nlp.pipeline import ArraySentencizer, get_pipeline, line_breaks

warnings.filterwarnings("ignore")


def _same_starts(make_doc, docs, **settings) -> None:
    ref, ours = Sentencizer(**settings), ArraySentencizer(**settings)
    for doc in docs:
        a, b = ref(make_doc(doc)), ours(make_doc(doc))
        assert a.to_array(SENT_START).tolist() == b.to_array(SENT_START).tolist(), a.text[:80]


def test_same_sentence_starts_as_spacy_on_every_corpus_abstract(corpus_texts):
    """After the line-break rule (whose starts must be kept), and on its own, and overwriting."""
    nlp = get_pipeline()
    texts = corpus_texts
    assert len(texts) > 6000
    _same_starts(lambda t: line_breaks(nlp.make_doc(t)), texts)
    _same_starts(nlp.make_doc, texts[:1000])
    _same_starts(lambda t: line_breaks(nlp.make_doc(t)), texts[:1000], overwrite=True)
    _same_starts(lambda t: line_breaks(nlp.make_doc(t)), texts[:1000], punct_chars=[".", ";", ")", "e.g."])


def test_same_sentence_starts_on_random_token_mixes():
    """Seeded random docs mixing sentence punctuation, other punctuation, words and preset starts."""
    vocab = spacy.blank("en").vocab
    rng = random.Random(20261124)
    pieces = [".", "!", "?", "。", ")", "(", '"', ",", "...", "a", "B", "e.g.", "12", "\n", "-"]
    docs = []
    for _ in range(3000):
        n = rng.randint(0, 12)
        words = [rng.choice(pieces) for _ in range(n)]
        starts = [rng.choice([None, None, None, True, False]) for _ in range(n)]
        docs.append((words, starts))

    def make(spec):
        words, starts = spec
        return Doc(vocab, words=words, sent_starts=starts or None)

    _same_starts(make, docs)
    _same_starts(make, docs, overwrite=True)
    _same_starts(make, docs, punct_chars=["a", ")"])


def test_pipeline_uses_it_and_it_pickles():
    nlp = get_pipeline()
    assert isinstance(nlp.get_pipe("sentencizer"), ArraySentencizer)
    copy = pickle.loads(pickle.dumps(nlp.get_pipe("sentencizer")))
    doc = nlp.make_doc("Pain fell. Function rose! Why? Because.")
    assert [s.text for s in copy(doc).sents] == ["Pain fell.", "Function rose!", "Why?", "Because."]
    restored = ArraySentencizer().from_bytes(ArraySentencizer(punct_chars=["!"]).to_bytes())
    assert restored.punct_chars == {"!"} and len(list(restored(nlp.make_doc("a. b! c")).sents)) == 2


@pytest.mark.parametrize("text", ["", "x", "."])
def test_tiny_docs(text):
    nlp = get_pipeline()
    _same_starts(nlp.make_doc, [text])
