"""Evaluate the direction rules on Evidence Inference 2.0 (abstract evidence only).

    python -m vdmine.eval.findings --split validation      # develop on train / validation
    python -m vdmine.eval.findings --split test            # the final figure, run once

For each EI v2 prompt (intervention, comparator, outcome) the gold label is the majority label of
all its annotation rows ("significantly increase" merged into "significantly increased"; ties
dropped; prompts listed as "Incorrect" in README.annotations.md dropped). Among the rows that
carry the gold label, the earliest evidence quote lying wholly inside the abstract
(``Evidence End <= abstract_end``) is the evidence; it is expanded to the sentence(s) it overlaps
(``--unit sentence``, default) or used as quoted (``--unit span``). The rules in
:mod:`vdmine.nlp.findings_rules` then predict the effect on the outcome for the intervention
relative to the comparator; the prediction is compared with the label.

Also reported: agreement on the labelled vitamin D prompts in
``corpus/evidence_inference_vitd_ico.jsonl`` (evidence string as given, majority label).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from vdmine.config import shared_dir
from vdmine.nlp.findings_rules import content_words, find_words, judge, lexicons, clauses

LABELS = ("increase", "decrease", "no_difference")
_LABEL_MAP = {
    "significantly increased": "increase",
    "significantly increase": "increase",
    "significantly decreased": "decrease",
    "no significant difference": "no_difference",
}
SPLITS = {"train": "ev2_train", "validation": "ev2_validation", "dev": "ev2_validation", "test": "ev2_test"}


@dataclass
class Item:
    prompt_id: str
    pmcid: str
    split: str
    gold: str
    unanimous: bool
    text: str
    intervention: str
    comparator: str
    outcome: str


def _ei_dir(shared: Path) -> Path:
    return shared / "bench" / "evidence_inference"


def incorrect_prompt_ids(ei: Path) -> set[str]:
    """The prompt ids README.annotations.md flags as 'Incorrect' (obviously wrong)."""
    text = (ei / "README.annotations.md").read_text(encoding="utf-8-sig")
    m = re.search(r"### Incorrect:\s*\n(.*?)(?:\n\s*\n|\n###)", text, re.S)
    return set(re.findall(r"\d+", m.group(1))) if m else set()


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])|\n+")


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _SENT_SPLIT.finditer(text):
        if m.start() > start:
            out.append((start, m.start()))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out


def load_items(shared: Path, unit: str = "sentence") -> list[Item]:
    ei = _ei_dir(shared)
    bad = incorrect_prompt_ids(ei)
    prompts = {}
    with gzip.open(ei / "prompts_merged.csv.gz", "rt", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            prompts[r["PromptID"]] = r
    articles = {}
    with gzip.open(ei / "fulltext_v2_vitd_pilot_articles.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            a = json.loads(line)
            articles[str(a["pmcid"])] = a
    rows = defaultdict(list)
    with gzip.open(ei / "v2_annotations.csv.gz", "rt", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            rows[r["PromptID"]].append(r)
    items = []
    for pid, rs in rows.items():
        if pid in bad or pid not in prompts:
            continue
        counts = Counter(_LABEL_MAP.get(r["Label"].strip()) for r in rs)
        counts.pop(None, None)
        if not counts:
            continue
        (top, n), *rest = counts.most_common()
        if rest and rest[0][1] == n:
            continue  # tie: no majority
        art = articles.get(rs[0]["PMCID"])
        if art is None:
            continue
        end_abs = art["abstract_end"]
        ev = []
        for r in rs:
            s, e = int(r["Evidence Start"]), int(r["Evidence End"])
            if _LABEL_MAP.get(r["Label"].strip()) == top and 0 <= s < e <= end_abs:
                ev.append((s, e))
        if not ev:
            continue
        s, e = min(ev)
        text = art["text"]
        if unit == "sentence":
            bounds = [b for b in sentence_bounds(text[:end_abs]) if b[0] < e and s < b[1]]
            if bounds:
                s, e = bounds[0][0], bounds[-1][1]
        split = next((sp for sp in art["splits"] if sp.startswith("ev2_")), "")
        p = prompts[pid]
        items.append(
            Item(pid, str(art["pmcid"]), split, top, len(counts) == 1, text[s:e].strip(),
                 p["Intervention"], p["Comparator"], p["Outcome"])
        )
    return items


def _arm_words(intervention: str, comparator: str) -> tuple[list[str], list[str]]:
    iw, cw = content_words(intervention), content_words(comparator)
    si, sc = set(iw), set(cw)
    return [w for w in dict.fromkeys(iw) if w not in sc], [w for w in dict.fromkeys(cw) if w not in si]


def outcome_anchor(text: str, outcome: str) -> tuple[int, int] | None:
    """Where the prompt's outcome is named: the first run of outcome words in the clause naming most of them."""
    words = content_words(outcome, numbers=False) or content_words(outcome)
    hits = find_words(text, words)
    if not hits:
        return None
    best, best_n = None, 0
    for lo, hi in clauses(text):
        inside = [h for h in hits if lo <= h[0] < hi]
        n = len({text[s:e].lower() for s, e in inside})
        if n > best_n:
            run = [inside[0]]
            for h in inside[1:]:
                if h[0] - run[-1][1] > 12:
                    break
                run.append(h)
            best, best_n = (run[0][0], run[-1][1]), n
    return best


def predict(text: str, intervention: str, comparator: str, outcome: str):
    lex = lexicons()
    iw, cw = _arm_words(intervention, comparator)
    span = outcome_anchor(text, outcome)
    terms = lex.find_outcomes(outcome)
    canonical = terms[0].value if terms else None
    return judge(
        text,
        outcome_span=span,
        outcome=canonical,
        intervention_words=iw,
        comparator_words=cw,
        relation_hint="effect",  # every EI prompt compares two trial arms
        lex=lex,
    )


def scores(pairs: list[tuple[str, str]]) -> dict:
    """Per-class P/R/F1 over the three gold classes; 'unclear' predictions count as misses."""
    per = {}
    for lab in LABELS:
        tp = sum(1 for g, p in pairs if g == lab and p == lab)
        fp = sum(1 for g, p in pairs if g != lab and p == lab)
        fn = sum(1 for g, p in pairs if g == lab and p != lab)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    cols = LABELS + ("unclear",)
    confusion = {g: {p: sum(1 for gg, pp in pairs if gg == g and pp == p) for p in cols} for g in LABELS}
    acc = sum(1 for g, p in pairs if g == p) / len(pairs) if pairs else 0.0
    return {
        "n": len(pairs),
        "macro_f1": sum(v["f1"] for v in per.values()) / len(LABELS),
        "accuracy": acc,
        "per_class": per,
        "confusion": confusion,
    }


def vitd_agreement(shared: Path) -> dict:
    path = shared / "corpus" / "evidence_inference_vitd_ico.jsonl"
    pairs, rows = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        anns = r.get("annotations") or []
        labs = Counter(_LABEL_MAP.get(a["label"].strip()) for a in anns)
        labs.pop(None, None)
        if not labs:
            continue
        (top, n), *rest = labs.most_common()
        tie = bool(rest and rest[0][1] == n)
        ev = next(a["evidence"] for a in anns if _LABEL_MAP.get(a["label"].strip()) == top)
        j = predict(ev, r["intervention"], r["comparator"], r["outcome"])
        pairs.append((top, j.effect_direction))
        rows.append({"prompt_id": r["prompt_id"], "gold": top, "tie": tie, "pred": j.effect_direction,
                     "trigger": j.trigger, "evidence": ev[:200]})
    agree = sum(1 for g, p in pairs if g == p)
    return {"n": len(pairs), "agree": agree, "rows": rows}


def _fmt(res: dict, title: str) -> str:
    out = [f"{title}: n={res['n']}  macro-F1={res['macro_f1']:.3f}  accuracy={res['accuracy']:.3f}", "",
           "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for lab, v in res["per_class"].items():
        out.append(f"| {lab} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    out += ["", "confusion (rows gold, columns predicted):", "",
            "| gold \\ pred | " + " | ".join(LABELS + ("unclear",)) + " |", "|---" * 5 + "|"]
    for g, row in res["confusion"].items():
        out.append(f"| {g} | " + " | ".join(str(row[p]) for p in LABELS + ("unclear",)) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vdmine.eval.findings", description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="validation", choices=sorted(SPLITS) + ["all"],
                    help="EI v2 article split (develop on train/validation; test once)")
    ap.add_argument("--unit", default="sentence", choices=["sentence", "span"],
                    help="evidence unit: the quote expanded to its sentence(s), or the quote as annotated")
    ap.add_argument("--errors", type=int, default=0, help="print this many misclassified items")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON")
    args = ap.parse_args(argv)
    shared = shared_dir()
    if shared is None or not (_ei_dir(shared) / "v2_annotations.csv.gz").is_file():
        print("vdmine: error needs ../shared/bench/evidence_inference (set VDMINE_SHARED)", file=sys.stderr)
        return 2
    items = load_items(shared, args.unit)
    if args.split != "all":
        items = [it for it in items if it.split == SPLITS[args.split]]
    t0 = time.perf_counter()
    preds = [predict(it.text, it.intervention, it.comparator, it.outcome) for it in items]
    dt = time.perf_counter() - t0
    pairs = [(it.gold, p.effect_direction) for it, p in zip(items, preds)]
    res = scores(pairs)
    res_u = scores([(it.gold, p.effect_direction) for it, p in zip(items, preds) if it.unanimous])
    vd = vitd_agreement(shared)
    if args.json:
        print(json.dumps({"split": args.split, "unit": args.unit, "all": res, "unanimous": res_u,
                          "vitd": {k: v for k, v in vd.items() if k != "rows"}}, indent=2))
    else:
        print(f"Evidence Inference 2.0, split={args.split}, unit={args.unit}, {len(items)} prompts with "
              f"abstract evidence ({dt * 1000 / max(1, len(items)):.2f} ms/prompt)\n")
        print(_fmt(res, "majority labels"))
        print()
        print(_fmt(res_u, "unanimous labels only"))
        print(f"\nvitamin D prompts (corpus/evidence_inference_vitd_ico.jsonl): {vd['agree']}/{vd['n']} agree")
    if args.errors:
        shown = 0
        for it, p in zip(items, preds):
            if it.gold != p.effect_direction and shown < args.errors:
                shown += 1
                print(f"\n#{it.prompt_id} gold={it.gold} pred={p.effect_direction} sig={p.significant} "
                      f"trig={p.trigger!r} notes={p.notes}\n  I={it.intervention[:80]!r}\n  C={it.comparator[:80]!r}\n"
                      f"  O={it.outcome[:80]!r}\n  S={it.text[:400]!r}")
        if args.split != "test":
            for r in vd["rows"]:
                if r["gold"] != r["pred"]:
                    print(f"\nvitd #{r['prompt_id']} gold={r['gold']} pred={r['pred']} trig={r['trigger']!r} ev={r['evidence']!r}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
