"""Disease-mention evaluation of ``vdmine_conditions`` on BC5CDR and NCBI-disease.

    python -m vdmine.eval.conditions --corpus bc5cdr --split test
    python -m vdmine.eval.conditions --corpus ncbi --split test --setting lexicon

Settings (what the component knows; no statistical model anywhere):

* ``lexicon``: the packaged curated lexicon only (vdmine's default pipeline);
* ``medic``: + the MEDIC vocabulary of ``../shared/bench/mesh`` (bring-your-own vocabulary path);
* ``full`` (default): + a gazetteer of the gold disease mentions of the *training* splits and
  a blocklist of strings the training splits mostly do not annotate (see :func:`build_gazetteer`).
  For ``--split test`` the training splits are train + dev; for ``--split dev`` train only, so
  dev can be used for development without touching test. The gazetteer is built here, at run time,
  from ``../shared``; it is never written into the package.

Metrics (all micro-averaged; negated mentions count like any other, as in the gold):

* ``mention``: strict span match, (pmid, start, end) equal;
* ``mention+id``: strict span match and the predicted MeSH id is one of the gold ids;
* ``doc-id``: BioCreative V DNER style, the set of (pmid, concept id) pairs per document
  (gold ids '-1' ignored, composite ids split on '|').
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from spacy.language import Language
from spacy.matcher import PhraseMatcher

from vdmine.config import NlpConfig, shared_dir
from vdmine.nlp.vocab import Term, load_lexicon, load_vocabulary

CORPORA = {
    "bc5cdr": {
        "dir": "bench/bc5cdr",
        "files": {
            "train": "CDR_TrainingSet.PubTator.txt.gz",
            "dev": "CDR_DevelopmentSet.PubTator.txt.gz",
            "test": "CDR_TestSet.PubTator.txt.gz",
        },
        "types": {"Disease"},
    },
    "ncbi": {
        "dir": "bench/ncbi_disease",
        "files": {
            "train": "NCBItrainset_corpus.txt.gz",
            "dev": "NCBIdevelopset_corpus.txt.gz",
            "test": "NCBItestset_corpus.txt.gz",
        },
        "types": {"SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"},
    },
}
MEDIC_PATH = "bench/mesh/medic_06Jul2012.txt.gz"
CONDITION_PIPES = ("sentencizer", "senter", "parser", "ner", "abbreviation_detector", "vdmine_conditions")


@dataclass
class GoldDoc:
    pmid: str
    title: str
    abstract: str
    mentions: list[tuple[int, int, str, str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        # PubTator offsets index title + one separator + abstract; vdmine uses "\n" there.
        return f"{self.title}\n{self.abstract}"


def _norm_id(i: str) -> str:
    i = i.strip()
    return i.removeprefix("MESH:")


def read_pubtator(path: Path, types: set[str]) -> list[GoldDoc]:
    """PubTator file -> documents with their gold mentions of ``types``."""
    docs: dict[str, GoldDoc] = {}
    order: list[str] = []
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            if "|t|" in line[:20] or "|a|" in line[:20]:
                pmid, kind, text = line.split("|", 2)
                if pmid not in docs:
                    docs[pmid] = GoldDoc(pmid, "", "")
                    order.append(pmid)
                if kind == "t":
                    docs[pmid].title = text
                else:
                    docs[pmid].abstract = text
                continue
            cols = line.split("\t")
            if len(cols) >= 6 and cols[4] in types:
                ids = tuple(_norm_id(x) for x in cols[5].replace("+", "|").split("|") if x and x != "-1")
                docs[cols[0]].mentions.append((int(cols[1]), int(cols[2]), cols[3], cols[4], ids))
    # PMID 8528200 appears twice in NCBI upstream: keep each pmid once, mentions deduplicated.
    out = []
    for pmid in order:
        d = docs[pmid]
        d.mentions = sorted(set(d.mentions))
        out.append(d)
    return out


def load_split(corpus: str, split: str, root: Path | None = None) -> list[GoldDoc]:
    root = root or shared_dir()
    if root is None:
        raise FileNotFoundError("needs ../shared (set VDMINE_SHARED)")
    spec = CORPORA[corpus]
    return read_pubtator(root / spec["dir"] / spec["files"][split], spec["types"])


# --- gazetteer from the training splits -----------------------------------------------------------


def _key(tokens) -> str:
    return " ".join(t.lower_ for t in tokens)


def build_gazetteer(
    nlp: Language,
    train: list[GoldDoc],
    extra_terms: Iterable[Term] = (),
    min_precision: float = 0.5,
    source: str = "gazetteer",
) -> tuple[list[Term], set[str]]:
    """Gold disease strings of the training docs, and the strings to block.

    Every candidate string (gold strings + ``extra_terms``, e.g. the lexicon and MEDIC) is counted
    wherever it occurs in the training texts, and how often that occurrence is exactly a gold span.
    A gold string is kept when it is a gold span at least ``min_precision`` of the times it occurs;
    any candidate below that rate is blocked. The gold string's id is its most frequent gold id.
    """
    tok = nlp.tokenizer
    gold_ids: dict[str, Counter] = defaultdict(Counter)
    gold_text: dict[str, str] = {}
    gold_spans: set[tuple[str, int, int]] = set()
    for d in train:
        for s, e, text, _type, ids in d.mentions:
            key = _key(tok(text))
            gold_text.setdefault(key, text)
            gold_ids[key].update(ids or ("",))
            gold_spans.add((d.pmid, s, e))
    candidates = set(gold_ids)
    for t in extra_terms:
        if not t.case_sensitive:
            candidates.add(t.text.lower())
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    pattern_docs = list(tok.pipe(sorted(candidates)))
    for i in range(0, len(pattern_docs), 5000):
        matcher.add("C", pattern_docs[i : i + 5000])
    occ: Counter = Counter()
    hit: Counter = Counter()
    for d, doc in zip(train, tok.pipe(d.text for d in train)):
        golds = [(s, e) for s, e, *_ in d.mentions]
        for _, s, e in matcher(doc):
            span = doc[s:e]
            key = _key(span)
            if (d.pmid, span.start_char, span.end_char) in gold_spans:
                hit[key] += 1
            elif any(gs <= span.start_char and span.end_char <= ge for gs, ge in golds):
                continue  # inside a longer gold mention: longest match handles it, not evidence either way
            occ[key] += 1
    terms: list[Term] = []
    for key in hit:
        occ[key] += hit[key]
    for key, ids in gold_ids.items():
        if occ[key] and hit[key] / occ[key] >= min_precision:
            best = [i for i, _ in ids.most_common() if i]
            mesh = best[0] if best else None
            terms.append(Term(gold_text[key], gold_text[key].lower(), mesh, source))
    blocked = {key for key, n in occ.items() if hit[key] / n < min_precision}
    return terms, blocked


# --- running and scoring --------------------------------------------------------------------------


def conditions_pipeline(model: str = "", vocabularies: Iterable[str] = ()) -> Language:
    """vdmine's pipeline (``build_pipeline``) restricted to what condition extraction needs."""
    from vdmine.nlp.pipeline import build_pipeline

    nlp = build_pipeline(NlpConfig(model=model, vocabularies=list(vocabularies)))
    keep = [p for p in nlp.pipe_names if p in CONDITION_PIPES]
    nlp.select_pipes(enable=keep)
    return nlp


def predict(nlp: Language, docs: list[GoldDoc]) -> list[list[tuple[int, int, str | None, bool]]]:
    out = []
    for doc in nlp.pipe((d.text for d in docs), batch_size=64):
        out.append([(sp.start_char, sp.end_char, sp.kb_id_ or None, bool(sp._.condition_negated)) for sp in doc.spans["conditions"]])
    return out


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def score(docs: list[GoldDoc], preds: list[list[tuple[int, int, str | None, bool]]]) -> dict:
    """Mention (strict span), mention+id and document-level id P/R/F1."""
    m_tp = m_fp = m_fn = 0
    mi_tp = mi_fp = mi_fn = 0
    d_tp = d_fp = d_fn = 0
    for d, pred in zip(docs, preds):
        gold = {(s, e): set(ids) for s, e, _t, _ty, ids in d.mentions}
        pspans = {(s, e): mid for s, e, mid, _neg in pred}
        tp = sum(1 for k in pspans if k in gold)
        m_tp += tp
        m_fp += len(pspans) - tp
        m_fn += len(gold) - tp
        itp = sum(1 for k, mid in pspans.items() if k in gold and mid and mid in gold[k])
        mi_tp += itp
        mi_fp += len(pspans) - itp
        mi_fn += len(gold) - itp
        gids = {i for ids in gold.values() for i in ids}
        pids = {mid for mid in pspans.values() if mid}
        d_tp += len(gids & pids)
        d_fp += len(pids - gids)
        d_fn += len(gids - pids)
    return {"mention": _prf(m_tp, m_fp, m_fn), "mention+id": _prf(mi_tp, mi_fp, mi_fn), "doc-id": _prf(d_tp, d_fp, d_fn)}


def evaluate(corpus: str, split: str, setting: str = "full", model: str = "", min_precision: float = 0.5) -> dict:
    """Build the configured pipeline, run it on ``corpus``/``split`` and score it."""
    root = shared_dir()
    if root is None:
        raise FileNotFoundError("needs ../shared/bench (set VDMINE_SHARED)")
    t0 = time.perf_counter()
    vocabularies = [str(root / MEDIC_PATH)] if setting in ("medic", "full") else []
    nlp = conditions_pipeline(model, vocabularies)
    comp = nlp.get_pipe("vdmine_conditions")
    info: dict = {"corpus": corpus, "split": split, "setting": setting, "model": model or None}
    if setting == "full":
        train_splits = ["train", "dev"] if split == "test" else ["train"]
        if split == "train":
            raise ValueError("the 'full' setting learns from train; evaluate it on dev or test")
        train = [d for s in train_splits for d in load_split(corpus, s, root)]
        extra = list(load_lexicon()) + list(load_vocabulary(root / MEDIC_PATH))
        terms, blocked = build_gazetteer(nlp, train, extra, min_precision=min_precision)
        comp.add_terms(terms, override=True)
        comp.block(blocked)
        info.update(gazetteer_from=train_splits, gazetteer_terms=len(terms), blocked_terms=len(blocked))
    docs = load_split(corpus, split, root)
    t1 = time.perf_counter()
    preds = predict(nlp, docs)
    t2 = time.perf_counter()
    info.update(score(docs, preds))
    info.update(docs=len(docs), gold_mentions=sum(len(d.mentions) for d in docs), setup_s=round(t1 - t0, 1),
                docs_per_s=round(len(docs) / (t2 - t1), 1))
    return info


def _table(res: dict) -> str:
    lines = [f"{res['corpus']} {res['split']} setting={res['setting']} docs={res['docs']} gold={res['gold_mentions']}"]
    for k in ("mention", "mention+id", "doc-id"):
        m = res[k]
        lines.append(f"  {k:11s} P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f}  (tp={m['tp']} fp={m['fp']} fn={m['fn']})")
    lines.append(f"  speed {res['docs_per_s']} docs/s (setup {res['setup_s']} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vdmine eval conditions", description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="bc5cdr")
    ap.add_argument("--split", choices=["dev", "test"], default="test")
    ap.add_argument("--setting", choices=["lexicon", "medic", "full"], default="full")
    ap.add_argument("--model", default="", help="optional spaCy model (e.g. en_ner_bc5cdr_md)")
    ap.add_argument("--min-precision", type=float, default=0.5, help="gazetteer/blocklist threshold (full setting)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    try:
        res = evaluate(args.corpus, args.split, args.setting, args.model, args.min_precision)
    except FileNotFoundError as exc:
        print(f"vdmine eval conditions: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=2) if args.json else _table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
