"""The conditions benchmark harness (vdmine.eval.conditions) on BC5CDR / NCBI-disease."""

from __future__ import annotations

import pytest
import spacy

from vdmine.config import shared_dir
from vdmine.eval import conditions as ev
from vdmine.nlp.tokenizer import make_tokenizer
from vdmine.nlp.vocab import Term

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def shared():
    root = shared_dir()
    if root is None or not (root / "bench/bc5cdr").is_dir():
        pytest.skip("needs ../shared/bench/bc5cdr (set VDMINE_SHARED)")
    return root


def test_read_pubtator_counts_and_offsets(shared):
    train = ev.load_split("bc5cdr", "train", shared)
    assert len(train) == 500
    assert sum(len(d.mentions) for d in train) == 4182  # official BC5CDR training Disease count
    for d in train:
        for s, e, text, _type, _ids in d.mentions:
            assert d.text[s:e] == text  # title + "\n" + abstract keeps PubTator offsets
    ncbi = ev.load_split("ncbi", "dev", shared)
    assert len(ncbi) == 100 and sum(len(d.mentions) for d in ncbi) == 787
    ids = {i for d in ncbi for m in d.mentions for i in m[4]}
    assert any(i.startswith("OMIM:") for i in ids) and any(i.startswith("D") for i in ids)


def test_score_counts():
    d = ev.GoldDoc("1", "Naloxone reverses the antihypertensive effect of clonidine.", "In hypertensive rats.",
                   [(62, 74, "hypertensive", "Disease", ("D006973",))])
    perfect = ev.score([d], [[(62, 74, "D006973", False)]])
    assert perfect["mention"]["f1"] == 1.0 and perfect["doc-id"]["f1"] == 1.0
    wrong_id = ev.score([d], [[(62, 74, "D000001", False), (0, 8, None, False)]])
    assert wrong_id["mention"]["tp"] == 1 and wrong_id["mention"]["fp"] == 1
    assert wrong_id["mention+id"]["tp"] == 0 and wrong_id["doc-id"]["fn"] == 1
    assert ev.score([d], [[]])["mention"]["recall"] == 0.0


def test_build_gazetteer_keeps_disease_strings_and_blocks_ambiguous(shared):
    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    train = ev.load_split("bc5cdr", "train", shared)
    extra = [Term("death", "death", "D003643", "medic")]
    terms, blocked = ev.build_gazetteer(nlp, train, extra)
    by_text = {t.text.lower(): t for t in terms}
    assert by_text["hypertensive"].mesh_id == "D006973"  # from the first training abstract (PMID 227508)
    assert all(t.source == "gazetteer" for t in terms)
    assert "death" in blocked  # occurs in the training texts, rarely annotated as a disease


@pytest.mark.slow
def test_bc5cdr_dev_full_setting(shared):
    """Development split (gazetteer from train only): the figure the rules were developed on."""
    res = ev.evaluate("bc5cdr", "dev", "full")
    assert res["mention"]["f1"] >= 0.79
    assert res["doc-id"]["f1"] >= 0.79


def test_main_without_shared_reports_and_fails(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(ev, "shared_dir", lambda: None)
    assert ev.main(["--corpus", "ncbi", "--split", "dev"]) == 2
    assert "VDMINE_SHARED" in capsys.readouterr().err
