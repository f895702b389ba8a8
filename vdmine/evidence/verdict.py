"""Verdict rules: weigh findings by design and hedging, reduce them per paper, then decide.

Why per paper: a paper that states its result in the results, the conclusion and the title must
not outvote three other papers. Why these weights: the usual evidence hierarchy (meta-analysis >
RCT > observational > case report > animal/in vitro); the numbers live in verdict_rules.toml.

A finding's *stance* is +1 (favourable: benefit, or an association that points to benefit),
-1 (unfavourable), 0 (no effect) or "m" (mixed). Findings with direction unclear/null carry no
stance and are not weighed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from vdmine.evidence import data

DIRECTIONS = ("benefit", "harm", "no_effect", "mixed", "association_positive", "association_negative")
STANCES = (1, -1, 0, "m")
VERDICT_OF = {1: "supports", -1: "against", 0: "no effect", "m": "mixed"}
DESIGN_BUCKETS = ("meta_analysis", "rct", "observational", "case_report", "animal_in_vitro", "other")


def design_bucket(study_design: str | None) -> str:
    return data.rules()["design"].get((study_design or "").strip().lower(), "other")


def design_weight(study_design: str | None) -> float:
    return float(data.rules()["weight"][design_bucket(study_design)])


def finding_factor(hedged: bool | None, significant: bool | None, direction: str | None) -> float:
    """Multiplier of one finding: hedged and explicitly non-significant statements count less."""
    f = data.rules()["finding"]
    w = 1.0
    if hedged:
        w *= float(f["hedged"])
    if significant is False and direction not in (None, "no_effect", "mixed", "unclear"):
        w *= float(f["not_significant"])
    return w


def association_sign(direction: str) -> int:
    return 1 if direction == "association_positive" else -1


def map_stance(direction: str | None, exposure: str, outcome: str, majority_assoc: int):
    """Stance of a finding in the evidence map (see module doc).

    An association is favourable when more vitamin D goes with a better outcome: sign x exposure
    polarity (deficiency = -1) x outcome polarity (pain = -1). When the outcome's polarity is
    unknown, an association supports the row's majority association sign and opposes the other.
    """
    if direction == "benefit":
        return 1
    if direction == "harm":
        return -1
    if direction == "no_effect":
        return 0
    if direction == "mixed":
        return "m"
    if direction in ("association_positive", "association_negative"):
        o = data.outcome_polarity(outcome)
        if o:
            return association_sign(direction) * data.exposure_polarity(exposure) * o
        return 1 if association_sign(direction) == majority_assoc else -1
    return None


@dataclass
class PaperStance:
    pmid: str
    stance: object  # 1, -1, 0, "m"
    weight: float
    bucket: str


def reduce_papers(items: Iterable[tuple[str, str | None, object, float]]) -> dict[str, PaperStance]:
    """(pmid, study_design, stance, finding_factor) -> one net stance and weight per paper.

    The net stance is the stance with the largest summed factor; a tie is "m" (mixed). The paper
    weight is its design weight x the largest factor among the findings of the winning stance
    (so a paper whose only statements are hedged counts half).
    """
    sums: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    best: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    designs: dict[str, str | None] = {}
    for pmid, design, stance, factor in items:
        if stance is None:
            continue
        sums[pmid][stance] += factor
        best[pmid][stance] = max(best[pmid][stance], factor)
        designs[pmid] = design
    out = {}
    for pmid, by in sums.items():
        top = max(by.values())
        winners = [s for s in STANCES if by.get(s, 0.0) == top]
        stance = winners[0] if len(winners) == 1 else "m"
        factor = best[pmid][stance] if stance in best[pmid] else max(best[pmid].values())
        out[pmid] = PaperStance(pmid, stance, design_weight(designs[pmid]) * factor, design_bucket(designs[pmid]))
    return out


@dataclass
class Verdict:
    verdict: str
    rule: str
    weights: dict  # stance -> summed paper weight
    winning: object  # the stance that carries the verdict, or None (mixed / insufficient)


def decide(papers: dict[str, PaperStance]) -> Verdict:
    """supports / against / no effect / mixed / insufficient from the paper weights."""
    cfg = data.rules()["verdict"]
    w = {s: 0.0 for s in STANCES}
    for p in papers.values():
        w[p.stance] += p.weight
    total = sum(w.values())
    shown = ", ".join(f"{VERDICT_OF[s]}={w[s]:g}" for s in STANCES)
    if total < float(cfg["min_weight"]):
        return Verdict("insufficient", f"total weight {total:g} < min_weight {cfg['min_weight']:g} ({shown})", w, None)
    for s in (1, -1, 0):
        share = w[s] / total
        if share >= float(cfg["majority"]):
            return Verdict(VERDICT_OF[s], f"{VERDICT_OF[s]} carries {share:.0%} of weight {total:g} ({shown})", w, s)
    return Verdict("mixed", f"no stance reaches {float(cfg['majority']):.0%} of weight {total:g} ({shown})", w, None)
