"""Evaluate dose extraction (``python -m vdmine.eval.doses``).

1. Vitamin D Evidence Inference prompts: the Intervention/Comparator strings that contain a digit
   (``bench/evidence_inference/vitamin_d_prompts.csv`` + ``corpus/evidence_inference_vitd_ico.jsonl``),
   hand-labelled in ``vdmine/eval/gold/vitd_doses_gold.jsonl`` (amount, unit, frequency, and route,
   duration, compound where written). Metric: a gold dose is correct when one predicted row of the
   same string has the same amount, unit and frequency (one-to-one); precision counts predicted
   rows that match a gold dose. HTML entities in the strings (``&nbsp;``) are unescaped first.
   A second, held-out file ``gold/vitd_doses_heldout_vdw.jsonl`` holds 20 randomly sampled dose
   sentences from the VitaminDWiki quotes (``corpus/secondary``), labelled by hand before the
   extractor was run on them (the EI strings above were seen while writing the rules).
2. ADE corpus v2 DRUG-DOSE pairs: recall of the gold dose spans that contain a number followed by
   a unit, counted as found when a predicted dose span overlaps the gold span in the sentence. The
   ADE dose spans are free text (''4 times per day'', ''1 drop'', ''overdose''); only the
   number+unit ones are scored, so this is a span-recall check, not an amount/unit/frequency check.
3. Speed of the exposures + doses components over ``corpus/vitd_pain.jsonl`` (everything else in
   the pipeline disabled), for information.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from vdmine.eval import bench_root

GOLD = Path(__file__).resolve().parent / "gold" / "vitd_doses_gold.jsonl"
# Held-out: 20 random dose sentences from VitaminDWiki quotes, labelled before the extractor saw them.
HELDOUT = Path(__file__).resolve().parent / "gold" / "vitd_doses_heldout_vdw.jsonl"
ADE_NUMBER_UNIT = re.compile(
    r"\d\s*(?:mg|g|gm|grams?|µg|μg|mcg|micro\s?g|microg|ug|iu|ui|u|units?|ml|meq|mmol|mol|%)(?![a-z])", re.IGNORECASE
)
SUPPORTED_UNIT = re.compile(
    r"\d\s*(?:mg|g|gm|grams?|µg|μg|mcg|micro\s?g|microg|ug|iu|ui|u|units?|ml)(?![a-z])", re.IGNORECASE
)


def _nlp():
    from vdmine.nlp.pipeline import build_pipeline

    return build_pipeline()


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def eval_gold(nlp, gold_path: Path = GOLD, verbose: bool = False) -> dict:
    from vdmine.nlp import doses

    items = [json.loads(line) for line in gold_path.read_text(encoding="utf-8").split("\n") if line.strip()]
    n_gold = n_pred = exact = 0
    route_ok = dur_ok = comp_ok = matched_pairs = 0
    strings_ok = 0
    errors = []
    for it in items:
        pred = doses.rows(nlp(it["text"]), it["pmcid"])
        gold = it["doses"]
        n_gold += len(gold)
        n_pred += len(pred)
        used: set[int] = set()
        ok_here = 0
        for g in gold:
            hit = next(
                (i for i, p in enumerate(pred) if i not in used and _same(p["amount"], g["amount"]) and p["unit"] == g["unit"]
                 and p["frequency"] == g["frequency"]),
                None,
            )
            if hit is None:
                errors.append((it["text"], g, pred))
                continue
            used.add(hit)
            exact += 1
            ok_here += 1
            p = pred[hit]
            matched_pairs += 1
            route_ok += p["route"] == g["route"]
            dur_ok += _same(p["duration_days"], g["duration_days"])
            comp_ok += g["compound"] is None or p["compound"] == g["compound"]
        if ok_here == len(gold) and len(pred) == len(gold):
            strings_ok += 1
        elif len(pred) > len(used):
            errors.append((it["text"], "extra", [p for i, p in enumerate(pred) if i not in used]))
    res = {
        "strings": len(items),
        "gold_doses": n_gold,
        "predicted_doses": n_pred,
        "amount_unit_frequency_accuracy": exact / n_gold if n_gold else 0.0,
        "precision": exact / n_pred if n_pred else 0.0,
        "strings_all_correct": strings_ok / len(items) if items else 0.0,
        "route_accuracy_on_matched": route_ok / matched_pairs if matched_pairs else 0.0,
        "duration_accuracy_on_matched": dur_ok / matched_pairs if matched_pairs else 0.0,
        "compound_accuracy_on_matched": comp_ok / matched_pairs if matched_pairs else 0.0,
    }
    if verbose:
        for text, g, pred in errors:
            print("  MISS" if g != "extra" else "  EXTRA", text, "|", g if g != "extra" else "",
                  [(p["amount"], p["unit"], p["frequency"]) for p in pred])
    return res


def eval_ade(nlp, path: Path, verbose: bool = False) -> dict:
    from vdmine.nlp import doses

    seen = set()
    cases = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        parts = line.split("|")
        if len(parts) < 8:
            continue
        pmid, sent, dose = parts[0], parts[1], parts[2]
        key = (pmid, sent, dose, parts[3])
        if key in seen:
            continue
        seen.add(key)
        cases.append((pmid, sent, dose))
    scored = [c for c in cases if ADE_NUMBER_UNIT.search(c[2])]
    sents = sorted({c[1] for c in scored})
    spans: dict[str, list[tuple[int, int]]] = {}
    for doc in nlp.pipe(sents, batch_size=64):
        spans[doc.text] = [(r["start_char"], r["end_char"]) for r in doses.rows(doc, "ade")]
    found = found_sup = n_sup = 0
    misses = []
    for _pmid, sent, dose in scored:
        start = sent.find(dose)
        end = start + len(dose)
        hit = start >= 0 and any(s < end and e > start for s, e in spans.get(sent, []))
        found += hit
        if SUPPORTED_UNIT.search(dose):
            n_sup += 1
            found_sup += hit
        if not hit:
            misses.append(dose)
    if verbose:
        print("  ADE misses:", misses)
    return {
        "pairs": len(cases),
        "number_unit_spans": len(scored),
        "recall_overlap": found / len(scored) if scored else 0.0,
        "supported_unit_spans": n_sup,
        "recall_overlap_supported_units": found_sup / n_sup if n_sup else 0.0,
    }


def speed(nlp, path: Path) -> dict:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    texts = [f"{r.get('title') or ''}\n{r.get('abstract') or ''}" for r in records]
    keep = {"sentencizer", "vdmine_exposures", "vdmine_doses"}
    disabled = [p for p in nlp.pipe_names if p not in keep]
    out = {}
    with nlp.select_pipes(disable=disabled):
        t0 = time.perf_counter()
        base = [nlp.make_doc(t) for t in texts]
        t_tok = time.perf_counter() - t0
        for name in ("vdmine_exposures", "vdmine_doses"):
            pass
        sentencizer = nlp.get_pipe("sentencizer")
        docs = [sentencizer(d) for d in base]
        for name in ("vdmine_exposures", "vdmine_doses"):
            comp = nlp.get_pipe(name)
            t0 = time.perf_counter()
            docs = [comp(d) for d in docs]
            out[f"{name}_docs_per_s"] = len(docs) / (time.perf_counter() - t0)
    out["docs"] = len(texts)
    out["tokenizer_docs_per_s"] = len(texts) / t_tok
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vdmine.eval.doses", description=__doc__.split("\n")[0])
    ap.add_argument("--verbose", "-v", action="store_true", help="print every miss")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    shared = bench_root()
    if shared is None:
        return 2
    nlp = _nlp()
    res = {
        "evidence_inference_vitd_gold": eval_gold(nlp, verbose=args.verbose),
        "heldout_vitamindwiki_gold": eval_gold(nlp, HELDOUT, verbose=args.verbose),
        "ade_drug_dose": eval_ade(nlp, shared / "bench" / "ade_corpus_v2" / "DRUG-DOSE.rel", verbose=args.verbose),
        "speed_vitd_pain": speed(nlp, shared / "corpus" / "vitd_pain.jsonl"),
    }
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for part, vals in res.items():
            print(part)
            for k, v in vals.items():
                print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
