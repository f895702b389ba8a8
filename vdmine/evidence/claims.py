"""Check expected claims (configs/seed_claims.toml) against the extracted evidence.

For an effect claim the matching findings are put in the claim's frame (an association with
"vitamin D deficiency" is the mirror image of one with "vitamin D level"), weighed with the same
rules as the evidence map (vdmine/evidence/verdict.py), and the verdict becomes a status:

=================  =============================================================
supports           reproduced
against/no effect  contradicted
mixed              mixed
insufficient       insufficient evidence (findings exist but weigh too little)
(none)             no evidence in corpus
=================  =============================================================

Mechanism and delivery claims have no direction to weigh: they are "reproduced" when a sentence
names the mechanism (or delivery) together with vitamin D near a pain mention (or with a
favourable result), "mentioned" when only part of that holds.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from vdmine.config import read_toml
from vdmine.errors import VdmineError
from vdmine.evidence import data
from vdmine.evidence.map import UNSPECIFIED, read_table
from vdmine.evidence.verdict import decide, finding_factor, reduce_papers

DEFAULT_CLAIMS = Path(__file__).resolve().parents[2] / "configs" / "seed_claims.toml"
STATUS_OF = {
    "supports": "reproduced",
    "against": "contradicted",
    "no effect": "contradicted",
    "mixed": "mixed",
    "insufficient": "insufficient evidence",
}
OPPOSITE = {
    "benefit": "harm",
    "harm": "benefit",
    "association_positive": "association_negative",
    "association_negative": "association_positive",
}
ASSOC = ("association_positive", "association_negative")


def load_claims(path: str | Path | None = None) -> list[dict]:
    """The [[claim]] entries of a claims TOML file (default: configs/seed_claims.toml)."""
    doc = read_toml(Path(path) if path else DEFAULT_CLAIMS)
    claims = doc.get("claim", [])
    for c in claims:
        if "id" not in c or c.get("kind") not in ("effect", "dose", "mechanism", "delivery"):
            raise VdmineError("E004", key="claim", value=c.get("id"), detail="needs an id and kind effect|dose|mechanism|delivery")
    return claims


def _condition_ok(claim_condition: str | list[str] | None, condition: str | None) -> bool:
    """True when the finding's condition is the claim's condition (one of them) or a descendant."""
    names = [claim_condition] if isinstance(claim_condition, str) or claim_condition is None else list(claim_condition)
    if any(n in ("*", "", None) for n in names):
        return True
    if not condition or condition == UNSPECIFIED:
        return False
    chain = data.hierarchy().ancestors(condition)
    return any(n.lower() in chain for n in names)


def _cond_text(claim_condition) -> str:
    return claim_condition if isinstance(claim_condition, str) else " or ".join(claim_condition)


def _outcome_ok(claim: dict, outcome: str | None, condition: str | None) -> bool:
    fam = claim["outcome"].lower()
    if fam in data.membership("outcome", outcome or ""):
        return True
    # "occurrence": the condition itself named as the outcome ("deficiency was associated with osteomalacia").
    return fam == "occurrence" and bool(outcome) and _condition_ok(claim["condition"], outcome)


def _stance(expected: str, direction: str | None, relation: str | None, exposure_pol: int):
    """Stance of one finding towards the expected direction: 1 agrees, -1 opposes, 0 null, "m"."""
    if direction in ASSOC:
        if exposure_pol < 0:
            direction = OPPOSITE[direction]
        if expected not in ASSOC and expected != "no_effect":
            return None  # an association is no evidence for an effect claim
    elif direction in ("benefit", "harm") and expected in ASSOC:
        return None
    if direction == "no_effect":
        if expected in ASSOC and relation == "effect":
            return None
        if expected not in ASSOC and relation == "association":
            return None
        return 1 if expected == "no_effect" else 0
    if direction == "mixed":
        return "m"
    if direction == expected:
        return 1
    if direction == OPPOSITE.get(expected) or (expected == "no_effect" and direction in OPPOSITE):
        return -1
    return None


def _dose_pmids(claim: dict, doses: pa.Table) -> set[str]:
    compounds = {c.lower() for c in claim.get("compounds", [])}
    min_day = float(claim.get("min_iu_per_day", float("inf")))
    min_bolus = float(claim.get("min_bolus_iu", float("inf")))
    out = set()
    for d in doses.select(["pmid", "compound", "iu_per_day", "bolus_iu"]).to_pylist():
        if compounds and (d["compound"] or "").lower() not in compounds:
            continue
        if (d["iu_per_day"] or 0) >= min_day or (d["bolus_iu"] or 0) >= min_bolus:
            out.add(d["pmid"])
    return out


def _check_effect(claim: dict, findings: list[dict], designs: dict, only: set[str] | None) -> dict:
    fam = claim["exposure"].lower()
    items, matched = [], []
    for f in findings:
        if only is not None and f["pmid"] not in only:
            continue
        pols = data.membership("exposure", f["exposure"] or "")
        if fam not in pols or not _condition_ok(claim["condition"], f["condition"]):
            continue
        if not _outcome_ok(claim, f["outcome"], f["condition"]):
            continue
        st = _stance(claim["expected"], f["direction"], f["relation"], pols[fam])
        if st is None:
            continue
        matched.append(f)
        factor = finding_factor(f["hedged"], f["significant"], f["direction"])
        items.append((f["pmid"], designs.get(f["pmid"]) or f["study_design"], st, factor))
    papers = reduce_papers(items)
    if not papers:
        return {"status": "no evidence in corpus", "verdict": None, "rule": "no matching finding", "for": [], "against": []}
    v = decide(papers)
    pro = [p for p, s in papers.items() if s.stance == 1]
    con = [p for p, s in papers.items() if s.stance != 1]
    return {"status": STATUS_OF[v.verdict], "verdict": v.verdict, "rule": v.rule, "for": pro, "against": con}


def _check_mechanism(claim: dict, mech: pa.Table) -> dict:
    wanted = {m.lower() for m in claim.get("mechanisms", [])}
    full, partial, elsewhere = set(), set(), set()
    for r in mech.select(["pmid", "mechanism", "vitd_in_sentence", "pain_context"]).to_pylist():
        if (r["mechanism"] or "").lower() not in wanted:
            continue
        if not r["pain_context"]:
            elsewhere.add(r["pmid"])
            continue
        (full if r["vitd_in_sentence"] else partial).add(r["pmid"])
    if full:
        return {"status": "reproduced", "verdict": None, "rule": "named with vitamin D near a pain mention", "for": sorted(full), "against": []}
    if partial:
        return {"status": "mentioned", "verdict": None, "rule": "named near a pain mention, vitamin D not in the sentence", "for": sorted(partial), "against": []}
    rule = "no sentence names it near a pain mention"
    if elsewhere:  # say where it IS named, so "no evidence" is not read as "never named"
        ids = sorted(elsewhere, key=data.pmid_key)
        rule += f"; named without pain context in {len(ids)} paper(s): " + ", ".join(ids[:6]) + (" ..." if len(ids) > 6 else "")
    return {"status": "no evidence in corpus", "verdict": None, "rule": rule, "for": [], "against": []}


def _check_delivery(claim: dict, deliv: pa.Table) -> dict:
    wanted = {d.lower() for d in claim.get("deliveries", [])}
    good, other, bad = set(), set(), set()
    for r in deliv.select(["pmid", "delivery", "conditions", "direction"]).to_pylist():
        if (r["delivery"] or "").lower() not in wanted:
            continue
        if not _condition_ok(claim.get("condition", "*"), None) and not any(_condition_ok(claim["condition"], c) for c in r["conditions"] or []):
            continue
        if r["direction"] == "benefit":
            good.add(r["pmid"])
        elif r["direction"] in ("harm", "no_effect"):
            bad.add(r["pmid"])
        else:
            other.add(r["pmid"])
    if good and not bad:
        return {"status": "reproduced", "verdict": None, "rule": "delivery named with vitamin D; paper reports benefit", "for": sorted(good), "against": []}
    if bad and not good:
        return {"status": "contradicted", "verdict": None, "rule": "paper reports no effect or harm", "for": [], "against": sorted(bad)}
    if good and bad:
        return {"status": "mixed", "verdict": None, "rule": "papers disagree", "for": sorted(good), "against": sorted(bad)}
    if other:
        return {"status": "mentioned", "verdict": None, "rule": "delivery named with vitamin D; no result extracted", "for": sorted(other), "against": []}
    return {"status": "no evidence in corpus", "verdict": None, "rule": "no sentence names this delivery with vitamin D", "for": [], "against": []}


def check_claims(out_dir: str | Path, claims_path: str | Path | None = None) -> list[dict]:
    """Check every claim of ``claims_path`` against the tables in ``out_dir``.

    Returns one dict per claim: id, section, kind, claim (short text), expected, status, verdict,
    rule, supporting_pmids, opposing_pmids, seed. Mechanism/delivery tables are read from
    ``out_dir`` when present, else built from ``papers`` on the fly.
    """
    claims = load_claims(claims_path)
    out_dir = Path(out_dir)
    papers = read_table(out_dir, "papers", required=True)
    findings_t = read_table(out_dir, "findings")
    doses = read_table(out_dir, "doses")
    designs = dict(zip(papers.column("pmid").to_pylist(), papers.column("study_design").to_pylist()))
    findings = findings_t.to_pylist()
    mech = deliv = None
    out = []
    for c in claims:
        kind = c["kind"]
        if kind in ("mechanism", "delivery") and mech is None:
            if (out_dir / "mechanisms").exists() and (out_dir / "delivery").exists():
                mech, deliv = read_table(out_dir, "mechanisms"), read_table(out_dir, "delivery")
            else:
                from vdmine.evidence.mechanisms import mechanism_and_delivery_rows

                mech, deliv = mechanism_and_delivery_rows(papers, findings_t, read_table(out_dir, "conditions"))
        if kind == "effect":
            res = _check_effect(c, findings, designs, None)
            text = f"{_cond_text(c['condition'])} / {c['exposure']} / {c['outcome']}"
        elif kind == "dose":
            res = _check_effect(c, findings, designs, _dose_pmids(c, doses))
            text = f"{_cond_text(c['condition'])} / high-dose {c['exposure']} / {c['outcome']}"
        elif kind == "mechanism":
            res = _check_mechanism(c, mech)
            text = "mechanism: " + ", ".join(c.get("mechanisms", []))
        else:
            res = _check_delivery(c, deliv)
            text = f"{_cond_text(c.get('condition', '*'))} / delivery: " + ", ".join(c.get("deliveries", []))
        out.append(
            {
                "id": c["id"],
                "section": c.get("section", ""),
                "kind": kind,
                "claim": text,
                "expected": c.get("expected") or ("named near pain" if kind == "mechanism" else "benefit"),
                "status": res["status"],
                "verdict": res["verdict"],
                "rule": res["rule"],
                "supporting_pmids": sorted(set(res["for"]), key=data.pmid_key),
                "opposing_pmids": sorted(set(res["against"]), key=data.pmid_key),
                "seed": c.get("seed", ""),
            }
        )
    return out


def _md(text: str) -> str:
    from vdmine.evidence.report import md_escape

    return md_escape(text)


def _ids(pmids: list[str], limit: int = 8) -> str:
    shown = ", ".join(pmids[:limit])
    return shown + (f" (+{len(pmids) - limit} more)" if len(pmids) > limit else "")


def format_claims_table(rows: list[dict]) -> str:
    """The claim check as a Markdown table (one line per claim)."""
    lines = [
        "| id | claim | expected | status | verdict | supporting pmids | opposing pmids |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["id"],
            r["claim"],
            r["expected"],
            r["status"],
            r["verdict"] or "",
            _ids(r["supporting_pmids"]),
            _ids(r["opposing_pmids"]),
        ]
        lines.append("| " + " | ".join(_md(str(c)) for c in cells) + " |")
    return "\n".join(lines) + "\n"
