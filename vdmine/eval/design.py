"""Evaluate study design and sample size (``python -m vdmine.eval.design``).

1. RCT vs non-RCT on ``bench/rct_oncology_design/rct_oncology_test.csv.gz`` (100 abstracts,
   title + abstract text only, no publication types): accuracy, and precision/recall/F1 of the
   RCT class, read from the Prodigy ``accept`` column. NOTE: the shared copy (2026-11-23) kept
   only ``answer`` (the annotation status, "accept" on all rows) and lost ``accept`` (the labels),
   so the script then reports only the predicted design counts and says the labels are absent.
2. Sample size on the PICO corpus (``bench/pico_corpus/pico_corpus_brat_annotated_files.tar.gz``,
   read in memory): gold = the ``total-participants`` spans of an abstract, read as numbers.
   Abstracts are split by PMID parity: even = dev (used while writing the rules), odd = test.
   'exact_any' = the predicted number equals one of the abstract's gold total-participants
   values; 'exact_first' = it equals the first one in the text. Both over abstracts that have a
   gold value; 'predicted_without_gold' counts abstracts with no gold value where we still
   predicted one.
3. ``--dev``: text-only design accuracy on the shared corpus records that carry PubMed
   publication types (the types, mapped by the same priority list, serve as labels). This is the
   development check for the cue lists.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

from vdmine.eval import bench_root


def _nlp():
    from vdmine.nlp.pipeline import build_pipeline

    nlp = build_pipeline()
    # design reads only text and sentence boundaries
    keep = {"sentencizer", "vdmine_design"}
    for name in [p for p in nlp.pipe_names if p not in keep]:
        nlp.disable_pipe(name)
    return nlp


def eval_rct(nlp, path: Path, verbose: bool = False) -> dict:
    from vdmine.nlp import design

    rows = list(csv.DictReader(io.TextIOWrapper(gzip.open(path), encoding="utf-8")))
    texts = [f"{r['title']}\n{r['abstract']}" for r in rows]
    # The labels are Prodigy's 'accept' column (e.g. "['RCT']"); 'answer' is only the annotation
    # status ("accept" on every row). Without the 'accept' column there is nothing to score.
    if rows and "accept" not in rows[0]:
        preds = Counter(design.paper_fields(doc, [])["study_design"] for doc in nlp.pipe(texts, batch_size=32))
        return {
            "abstracts": len(rows),
            "labels": "ABSENT: the file has no 'accept' (label) column, only 'answer' = "
                      + ",".join(sorted({r.get("answer", "") for r in rows})) + "; accuracy cannot be computed",
            "predicted_rct": preds["randomized controlled trial"],
            "predicted_designs": dict(preds.most_common()),
        }
    tp = fp = fn = tn = 0
    for r, doc in zip(rows, nlp.pipe(texts, batch_size=32)):
        gold = "RCT" in r["accept"]
        fields = design.paper_fields(doc, [])
        pred = fields["study_design"] == "randomized controlled trial"
        tp += gold and pred
        fp += pred and not gold
        fn += gold and not pred
        tn += not gold and not pred
        if verbose and gold != pred:
            print("  ", "FN" if gold else "FP", fields["study_design"], "|", fields["study_design_evidence"], "|", r["title"][:90])
    p = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {
        "abstracts": len(rows),
        "rct_gold": tp + fn,
        "accuracy": (tp + tn) / len(rows),
        "rct_precision": p,
        "rct_recall": rec,
        "rct_f1": 2 * p * rec / (p + rec) if p + rec else 0.0,
        "tp_fp_fn_tn": f"{tp}/{fp}/{fn}/{tn}",
    }


def _pico(path: Path) -> list[tuple[str, str, list[int]]]:
    from vdmine.nlp.doses import words_to_int

    texts: dict[str, str] = {}
    anns: dict[str, list[tuple[int, str]]] = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            pmid, ext = Path(m.name).stem, Path(m.name).suffix
            data = tar.extractfile(m).read().decode("utf-8")
            if ext == ".txt":
                texts[pmid] = data
            elif ext == ".ann":
                for line in data.splitlines():
                    parts = line.split("\t")
                    if len(parts) >= 3 and parts[1].startswith("total-participants "):
                        start = int(parts[1].split()[1].split(";")[0])
                        anns.setdefault(pmid, []).append((start, parts[2]))
    out = []
    for pmid in sorted(texts):
        gold = []
        for _, s in sorted(anns.get(pmid, [])):
            n = words_to_int(re.sub(r"[^\w\s,\-]", "", s).strip())
            if n is not None:
                gold.append(n)
        out.append((pmid, texts[pmid], gold))
    return out


def eval_pico(nlp, path: Path, verbose: bool = False) -> dict:
    from vdmine.nlp import design

    data = _pico(path)
    res = {}
    for split, parity in (("dev", 0), ("test", 1)):
        part = [d for d in data if int(re.sub(r"\D", "", d[0]) or 0) % 2 == parity]
        with_gold = any_ok = first_ok = predicted = fp = 0
        for (pmid, text, gold), doc in zip(part, nlp.pipe([d[1] for d in part], batch_size=32)):
            ss = design.paper_fields(doc, [])["sample_size"]
            if gold:
                with_gold += 1
                predicted += ss is not None
                any_ok += ss in gold
                first_ok += ss == gold[0]
                if verbose and split == "dev" and ss not in gold:
                    print("  ", pmid, "gold", gold, "pred", ss, "|", doc._.vdmine_sample_size)
            elif ss is not None:
                fp += 1
        res[split] = {
            "abstracts": len(part),
            "with_gold": with_gold,
            "exact_any": any_ok / with_gold if with_gold else 0.0,
            "exact_first": first_ok / with_gold if with_gold else 0.0,
            "coverage": predicted / with_gold if with_gold else 0.0,
            "predicted_without_gold": fp,
        }
    return res


def eval_dev_pubtypes(nlp, corpus: Path, verbose: bool = False) -> dict:
    from vdmine.nlp import design

    records = []
    for name in ("vitd_pain.jsonl", "vitd_other.jsonl", "offtopic.jsonl"):
        for line in (corpus / name).read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            r = json.loads(line)
            if not r.get("pub_types"):
                continue
            gold, ev = design.decide(r["pub_types"], None)
            if ev.startswith("text:"):
                continue  # no decisive publication type
            if gold in {"other"}:
                continue
            records.append((gold, f"{r.get('title') or ''}\n{r.get('abstract') or ''}"))
    ok = Counter()
    total = Counter()
    confusion = Counter()
    for (gold, _), doc in zip(records, nlp.pipe([t for _, t in records], batch_size=64)):
        pred = design.paper_fields(doc, [])["study_design"]
        total[gold] += 1
        ok[gold] += pred == gold
        if pred != gold:
            confusion[(gold, pred)] += 1
    out = {"records": len(records), "accuracy": sum(ok.values()) / max(1, len(records))}
    for g in sorted(total):
        out[f"acc[{g}]"] = f"{ok[g]}/{total[g]}"
    if verbose:
        print("  top confusions:", confusion.most_common(12))
    return out


def speed(nlp, path: Path) -> dict:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    docs = [nlp.get_pipe("sentencizer")(nlp.make_doc(f"{r.get('title') or ''}\n{r.get('abstract') or ''}")) for r in records]
    comp = nlp.get_pipe("vdmine_design")
    t0 = time.perf_counter()
    for d in docs:
        comp(d)
    return {"docs": len(docs), "vdmine_design_docs_per_s": len(docs) / (time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vdmine.eval.design", description=__doc__.split("\n")[0])
    ap.add_argument("--verbose", "-v", action="store_true", help="print errors")
    ap.add_argument("--dev", action="store_true", help="also run the publication-type development check on the shared corpus")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    shared = bench_root()
    if shared is None:
        return 2
    nlp = _nlp()
    res = {
        "rct_oncology_design": eval_rct(nlp, shared / "bench/rct_oncology_design/rct_oncology_test.csv.gz", args.verbose),
        "pico_sample_size": eval_pico(nlp, shared / "bench/pico_corpus/pico_corpus_brat_annotated_files.tar.gz", args.verbose),
        "speed_vitd_pain": speed(nlp, shared / "corpus/vitd_pain.jsonl"),
    }
    if args.dev:
        res["dev_pubtype_corpus"] = eval_dev_pubtypes(nlp, shared / "corpus", args.verbose)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for part, vals in res.items():
            print(part)
            for k, v in vals.items():
                if isinstance(v, dict):
                    print(f"  {k}: " + ", ".join(f"{a}={b:.3f}" if isinstance(b, float) else f"{a}={b}" for a, b in v.items()))
                else:
                    print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
