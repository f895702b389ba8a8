"""The ``vdmine_design`` component and :func:`paper_fields`: one study design and one sample size per paper.

The component only collects evidence from the text (design cues in the title and in the
abstract, sample-size candidates); :func:`paper_fields` decides, because PubMed publication types
are better evidence than wording when a record has them. Decision order:

1. publication types, in the priority order of ``lexicons/design_cues.json`` (Meta-Analysis >
   Systematic Review > Guideline > RCT > other clinical trials > Case Reports > Observational
   Study > Review > Letter/Editorial/Comment). Some types are refined by the text where the type
   is coarse: 'Clinical Trial' + "were randomized" -> RCT; 'Review' + "systematic review" ->
   systematic review; 'Observational Study' + "cross-sectional" -> cross-sectional.
2. else the title's cue (": a randomized controlled trial", "a case report", "a review"),
3. else the first abstract cue in priority order (meta-analysis, systematic review, guideline,
   animal, RCT, non-randomized trial, case-control, cross-sectional, cohort, case series, case
   report, in vitro, narrative review), else 'other'.

Sample size = total participants enrolled, randomised or analysed: "A total of 1,481 ...",
"120 patients were randomized", "we enrolled 89 women", "Eighty-nine women participated",
"patients (n = 120)"; number words are read. Subgroups ("of whom 30"), percentages, event counts
and per-arm n are not taken (no noun/verb pattern for them).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from vdmine.nlp import prefilter as pf
from vdmine.nlp.docs import doc_text
from vdmine.nlp.doses import number_words, words_to_int

LEX = Path(__file__).resolve().parent / "lexicons"

if not Doc.has_extension("vdmine_design_cues"):
    Doc.set_extension("vdmine_design_cues", default=None)
if not Doc.has_extension("vdmine_sample_size"):
    Doc.set_extension("vdmine_sample_size", default=None)
if not Doc.has_extension("vdmine_design_done"):
    Doc.set_extension("vdmine_design_done", default=False)


class _Cues:
    """design_cues.json, compiled once per process."""

    def __init__(self, tries: bool = True) -> None:
        """``tries=False`` builds the word alternations flat (the reference the tests compare with)."""
        raw = json.loads((LEX / "design_cues.json").read_text(encoding="utf-8"))
        alt = pf.trie_alternation if tries else (lambda ws, boundary_after=False: "(?:" + "|".join(re.escape(x) for x in ws) + ")")
        self.designs = raw["designs"]
        self.pub_types = [(pt.lower(), target) for pt, target in raw["pub_type_priority"]]
        self.override = raw["pub_type_text_override"]
        self.title = [(d, re.compile(p, re.I)) for d, p in raw["title_cues"]]
        self.text = [(d, re.compile(p, re.I)) for d, p in raw["text_cues"]]
        self.human = re.compile(raw["human_cue"], re.I)
        ss = raw["sample_size"]
        words = sorted(number_words(), key=len, reverse=True)
        # word lists as prefix trees (same matches, far fewer alternatives tried per position)
        w = alt(words)
        num = rf"(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+|{w}(?:[\s-]+(?:and[\s-]+)?{w})*)"
        noun = alt(sorted(ss["nouns"], key=len, reverse=True), boundary_after=True) + r"\b"
        vr = alt(ss["verbs_randomized"], boundary_after=True) + r"\b"
        ve = alt(ss["verbs_enrolled"], boundary_after=True) + r"\b"
        gap = r"(?:[^.;\d]{0,70}?\s)?"  # adjectives: "overweight/obese, vitamin D-deficient"
        # may hold a bracketed definition with numbers: "adults (25(OH)D <= 50 nmol/L)", no bare numbers
        gapd = r"(?:(?:[^.;\d()\[\]]|\((?:[^()]|\([^()]*\)){0,80}\)|\[(?:[^\[\]]|\[[^\[\]]*\]){0,60}\]|\d+(?:[-–]\d+)?-(?:y|yr|year|month|week)s?-old){0,110}?\s)?"  # "6-8-y-old"
        be = r"(?:were|was|had been|have been|are|being|will be|would be)\s+(?:\w+\s+){0,2}?"
        intro = alt(ss["intro_before"])
        pre = r"(?<![\w.,])"
        vr_words = [pf.fold(v) for v in ss["verbs_randomized"]]
        # (priority, pattern, prefilter): the prefilter is words of which the folded text must
        # hold one, or a cheap regex, or None. It is a necessary condition of a match, so skipping
        # a pattern whose prefilter fails is exact; it saves most of the time on abstracts without
        # "total", "randomized" or "(n =".
        total = ["total", "overall", "altogether"]
        self.sample = [
            (0, re.compile(rf"\b(?:a\s+total\s+of|in\s+total,?|total\s+of|overall,?|altogether,?)\s+{num}\s+{gapd}{noun}", re.I), total),
            (0, re.compile(rf"{pre}{num}\s+{gap}{noun}\s+in\s+total\b", re.I), ["total"]),
            (1, re.compile(rf"{pre}{num}\s+{gapd}{noun}[^.;]{{0,60}}?\b{be}{vr}", re.I), vr_words),
            (0, re.compile(rf"\ba\s+total\s+of\s+{num}\s+(?:[^\s.;\d]+\s+){{0,6}}?(?:were|was)\s+(?:\w+\s+)?(?:{vr}|{ve})", re.I), ["total"]),
            (1, re.compile(rf"\b{vr}\s+{num}\s+{gap}{noun}", re.I), vr_words),
            (1, re.compile(rf"\(\s*n\s*=\s*(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+)\s*\)\s*(?:were|was)\s+(?:\w+\s+)?{vr}", re.I), vr_words),
            (1, re.compile(rf"\bof\s+(?:the\s+|all\s+|these\s+)?{num}\s+{gap}{noun}\s+(?:who\s+(?:were|was)\s+)?(?:{vr}|{ve})", re.I), None),
            (2, re.compile(rf"\b{ve}\s+(?:a\s+total\s+of\s+)?{num}\s+{gap}{noun}", re.I), None),
            (2, re.compile(rf"{pre}{num}\s+{gapd}{noun}[^.;]{{0,60}}?\b(?:{be}{ve}|participated|took part|completed)", re.I), None),
            (3, re.compile(rf"\b{intro}\s+(?:a\s+total\s+of\s+)?{num}\s+{gap}{noun}", re.I), None),
            # starts with the noun alternation, tried at every position: wait for "n =" first
            (3, re.compile(rf"{noun}\s*[(\[]\s*(?:total\s+)?[nN]\s*=\s*(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+)\s*[)\]]", re.I), re.compile(r"[(\[]\s*(?:total\s+)?n\s*=", re.I)),
            (4, re.compile(rf"\(\s*N\s*=\s*(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+)\s*\)"), None),
        ]
        self.subgroup = re.compile(
            r"\b(?:" + "|".join(re.escape(s) for s in ss["subgroup_before"]) + r")\s*,?\s*$", re.I
        )
        self.per_arm = re.compile(rf"\s+to\s+(?:the\s+|receive\s+)?[^.;,]{{0,40}}?\b(?:group|arm)\b(?!s)", re.I)
        self.not_after_number = re.compile(
            r"[\s-]*(?:%|percent|per\s?cent|years?|months?|weeks?|days?|hours?|mg|g|kg|iu|µg|μg|mcg|ng|nmol|mmol|ml|"
            r"times|fold|sessions|visits|doses?|trials|studies|articles|rcts|centers|centres|sites|hospitals|countries)\b",
            re.I,
        )
        # Exact shortcuts read off each pattern (see vdmine.nlp.prefilter): the literals a match
        # must contain, and where a match can begin. ``fast = False`` runs every pattern everywhere
        # (the tests compare both ways).
        self.fast = True
        self.title_req = [pf.checker(rx) for _, rx in self.title]
        self.text_req = [pf.checker(rx) for _, rx in self.text]
        self.human_req = pf.checker(self.human)
        self.text_starts = [pf.useful_starts(rx) for _, rx in self.text]
        self.human_starts = pf.useful_starts(self.human)
        self.sample_req = [pf.checker(rx) for _, rx, _ in self.sample]
        self.sample_needs = [pf.contains_any(n) if isinstance(n, list) else None for _, _, n in self.sample]
        # start positions pay off only for patterns re cannot scan for quickly; one-character
        # starts ("(", "a") are left to re
        self.sample_starts = [pf.useful_starts(rx) for _, rx, _ in self.sample]


@lru_cache(maxsize=1)
def cues() -> _Cues:
    return _Cues()


def _title(doc: Doc) -> str:
    try:
        first = next(iter(doc.sents))
        return doc_text(doc)[first.start_char: first.end_char]  # = first.text, without re-joining tokens
    except (StopIteration, ValueError):
        return doc_text(doc).split("\n", 1)[0]


def text_design(title: str, text: str, folded: str | None = None) -> tuple[str, str] | None:
    """(design, cue words) from the title, else the abstract; None when no cue is found.

    ``folded`` is ``prefilter.fold(text)`` if the caller has it already."""
    c = cues()
    fast = c.fast
    if fast:
        folded = pf.fold(text) if folded is None else folded
        ftitle = pf.fold(title)
        cache: dict = {}  # start positions per text, shared by the cues
    human_seen: list[bool] = []

    def human() -> bool:
        """Whether the text mentions humans; looked up only for an animal / in vitro cue (rare)."""
        if not human_seen:
            if fast:
                human_seen.append(bool((c.human_req is None or c.human_req(folded))
                                       and pf.search(c.human, text, folded, c.human_starts, cache)))
            else:
                human_seen.append(bool(c.human.search(text)))
        return human_seen[0]

    for i, (design, rx) in enumerate(c.title):
        if fast and c.title_req[i] is not None and not c.title_req[i](ftitle):
            continue  # a literal every match needs is missing: no match
        m = rx.search(title)
        if m:
            if design == "animal" and human():
                continue
            if design in {"non-randomized trial", "cohort"}:  # "clinical trial" / "prospective" + randomized -> RCT
                rct = dict(c.text)["randomized controlled trial"].search(text)
                if rct:
                    return "randomized controlled trial", rct.group(0)
            return design, m.group(0)
    for i, (design, rx) in enumerate(c.text):
        if fast:
            if c.text_req[i] is not None and not c.text_req[i](folded):
                continue
            m = pf.search(rx, text, folded, c.text_starts[i], cache)
        else:
            m = rx.search(text)
        if m:
            if design in {"animal", "in vitro"} and human():
                continue
            return design, m.group(0)
    return None


def sample_size(text: str, folded: str | None = None) -> tuple[int, str] | None:
    """(total participants, evidence span) or None. ``folded`` = ``prefilter.fold(text)`` if known."""
    c = cues()
    best = None
    folded = pf.fold(text) if folded is None else folded  # what re.I matches folds alike
    fast = c.fast
    cand_cache: dict = {}
    for i, (prio, rx, needs) in enumerate(c.sample):
        if best is not None and prio > best[0]:
            break
        # two necessary conditions of a match (their order is free): the literals every match
        # holds (fast path), then the pattern's own prefilter
        if fast and c.sample_req[i] is not None and not c.sample_req[i](folded):
            continue  # a literal every match needs is missing
        if needs is not None:
            if isinstance(needs, re.Pattern):
                if not needs.search(text):
                    continue
            elif not c.sample_needs[i](folded):  # words are folded
                continue
        # with a result of this priority already, only a match that starts before it can win
        # (fast path only: ``fast = False`` stays the plain search the tests compare with)
        limit = best[1] if fast and best is not None else None
        matches = rx.finditer(text)
        if fast:
            st = c.sample_starts[i]
            if st is not None:  # try the pattern only where a match can begin
                key = (st.lits, st.digit, st.after_nonword)
                if key not in cand_cache:
                    cand_cache[key] = pf.positions(st, text, folded)
                cand = cand_cache[key]
                if cand is not None:
                    if limit is not None:  # matches are found left to right: those before ``limit`` stay the same
                        cand = cand[: bisect_left(cand, limit)]
                    matches = pf.finditer(rx, text, cand)
        for m in matches:
            if limit is not None and m.start() >= limit:
                break  # this and every later match start at or after the current best
            n = words_to_int(m.group("n"))
            if n is None or n < 2 or n > 5_000_000:
                continue
            if prio > 1 and c.subgroup.search(text[max(0, m.start("n") - 20): m.start("n")]):
                continue
            if prio == 1 and c.per_arm.match(text, m.end()):
                continue  # "162 patients were allocated to the mitomycin C group": one arm
            if c.not_after_number.match(text, m.end("n")) or text[m.end("n"): m.end("n") + 1] in {"%", "-"}:
                continue
            cand = (prio, m.start(), n, m.group(0).strip())
            if best is None or cand[:2] < best[:2]:
                best = cand
            break
    if best is None:
        return None
    return best[2], best[3]


class DesignCues:
    """Collects design cues and the sample size once per document (decided in paper_fields)."""

    def __init__(self, nlp: Language):
        cues()

    def __call__(self, doc: Doc) -> Doc:
        title = _title(doc)
        text = doc_text(doc)
        folded = pf.fold(text)
        doc._.vdmine_design_cues = text_design(title, text, folded)
        doc._.vdmine_sample_size = sample_size(text, folded)
        doc._.vdmine_design_done = True
        return doc


@Language.factory("vdmine_design", default_config={})
def make_design(nlp: Language, name: str) -> DesignCues:
    return DesignCues(nlp)


def decide(pub_types: list[str] | None, text_cue: tuple[str, str] | None) -> tuple[str, str]:
    """(design, evidence) from publication types and the text cue; see the module docstring."""
    c = cues()
    have = {p.strip().lower(): p for p in (pub_types or [])}
    for pt, target in c.pub_types:
        if pt in have:
            design, _, refine = target.partition("|")
            evidence = f"pub_type:{have[pt]}"
            if refine and text_cue and text_cue[0] in c.override.get(design, []):
                return text_cue[0], f"{evidence}; text:{text_cue[1]}"
            return design, evidence
    if text_cue:
        return text_cue[0], f"text:{text_cue[1]}"
    return "other", "text:no design cue"


def paper_fields(doc: Doc, pub_types: list[str] | None) -> dict:
    """The design and sample-size columns of ``papers`` for one document."""
    if not doc._.vdmine_design_done:
        # component did not run (e.g. a custom pipeline): compute here. A flag, not "both
        # results None", so a paper with no cue and no sample size is not searched twice.
        text_cue = text_design(_title(doc), doc_text(doc))
        ss = sample_size(doc_text(doc))
    else:
        text_cue, ss = doc._.vdmine_design_cues, doc._.vdmine_sample_size
    design, evidence = decide(pub_types, text_cue)
    return {
        "study_design": design,
        "study_design_evidence": evidence,
        "sample_size": ss[0] if ss else None,
        "sample_size_evidence": ss[1] if ss else None,
    }


def rows(doc: Doc, pmid: str, **kwargs) -> list[dict]:
    """Design has no table of its own: its fields go to ``papers`` via :func:`paper_fields`."""
    return []
