"""The ``vdmine_findings`` component: result and conclusion statements with their direction.

One pass per document. Each sentence gets a section (structured-abstract label, else cue words
and position); only results/conclusions sentences that pass a cheap trigger prefilter are judged
by :mod:`vdmine.nlp.findings_rules`, once per outcome named in the sentence (outcome vocabulary:
``lexicons/outcomes.jsonl``). Each judged statement becomes a span in ``doc.spans["findings"]``
carrying its rows (one per outcome) in ``span._.findings``; :func:`rows` turns them into ``findings`` table rows.

Exposure, condition and arm mentions come from ``doc.spans["exposures"]`` /
``doc.spans["conditions"]`` when earlier components filled them; otherwise the configured
``exposure_name`` found in the text stands in for the exposure.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span

from vdmine.nlp.docs import doc_text as cached_text
from vdmine.nlp.findings_rules import (
    STATEMENT_CLASSES,
    Lexicons,
    _association_direction,
    _Guarded,
    judge,
    lexicons,
    tokens_of,
)

SPAN_KEY = "findings"
EXPOSURE_SPAN_KEYS = ("vdmine_exposures", "exposures")
_RISK_WORDS = {"risk", "risks", "odds", "odds ratio", "hazard ratio", "relative risk", "or", "hr", "rr", "aor", "ahr"}
YIELDING_SECTIONS = {"results", "conclusions"}
_STATEMENT_CLASSES = STATEMENT_CLASSES
# "RESULTS: ...", "Conclusion: ..." and JAMA's "Importance  Knee osteoarthritis ..." (label + 2 spaces)
_LABEL_RE = re.compile(r"(?:^|(?<=\n)|(?<=[.!?]\s))\s*([A-Z][A-Za-z &/,-]{2,60}?)(?:\s*:\s| {2,}(?=[A-Z]))")

# Span extensions are stored per (start, end): one span per sentence carries all its rows.
if not Span.has_extension("findings"):
    Span.set_extension("findings", default=None)


# a heading alone on its line ("Background\n...", "What This Study Found\n...")
_HEADING_RE = re.compile(r"(?:^|(?<=\n))[ \t]*([A-Z][A-Za-z &/,'-]{2,60}?)[ \t]*:?[ \t]*(?=\n)")
# Where those two can start: the text start, after a newline, after [.!?] + one space character.
_AFTER_NEWLINE_RE = re.compile(r"\n")
_AFTER_STOP_RE = re.compile(r"[.!?]\s")


def _anchored_matches(pattern: re.Pattern, text: str, starts: list[int], possible=None) -> list[re.Match]:
    """``list(pattern.finditer(text))`` for a pattern that can only match at ``starts`` (sorted):
    ``pattern.match`` is tried there only, instead of at every character (same matches, since
    finditer tries each position in turn and goes on after the end of each match), and only where
    ``possible(text, p)`` (a necessary condition) holds."""
    out, resume = [], 0
    for p in starts:
        if p < resume or (possible is not None and not possible(text, p)):
            continue
        m = pattern.match(text, p)
        if m:
            out.append(m)
            resume = m.end()
    return out


_SPACES = re.compile(r"\s*")


def _label_possible(text: str, p: int) -> bool:
    """Necessary for a _LABEL_RE match at ``p``: after the whitespace, an A-Z letter starts a label of 3-61
    characters, which ends at k (q+3 <= k <= q+61) where "  " follows or whitespace then ":" follows. The first
    ":" from q+3 on is the only one that can be reached (a later one has that ":" in between). The regex tries
    every label length (lazy), ~2 µs per sentence start; this check rules out most starts (regex whitespace
    in a str pattern is ``str.isspace``, tested)."""
    q = p
    if q < len(text) and text[q].isspace():  # most starts have no whitespace to skip: no regex call
        q = _SPACES.match(text, p).end()
    if q >= len(text) or not ("A" <= text[q] <= "Z"):
        return False
    if "  " in text[q + 3 : q + 63]:
        return True
    c = text.find(":", q + 3)
    if c < 0:
        return False
    k = c
    while k > q + 3 and text[k - 1].isspace():
        k -= 1
    return k <= q + 61


def section_labels(text: str, lex: Lexicons) -> list[tuple[int, str]]:
    """(offset, section) for each structured-abstract label ('RESULTS:', 'Conclusion:', a heading
    line) in the text."""
    after_newline = [m.end() for m in _AFTER_NEWLINE_RE.finditer(text)]
    line_starts = [0, *after_newline]
    found = _anchored_matches(_HEADING_RE, text, line_starts)
    if ":" in text or "  " in text:  # a _LABEL_RE match ends in ":" or in two spaces (unlabelled abstracts: neither)
        label_starts = sorted({*line_starts, *(m.end() for m in _AFTER_STOP_RE.finditer(text))})
        found = [*_anchored_matches(_LABEL_RE, text, label_starts, _label_possible), *found]
    out = []
    for m in sorted(found, key=lambda m: m.start(1)):
        label = m.group(1).strip().lower()
        sec = lex.section_labels.get(label) or lex.section_labels.get(label.split()[0])
        if sec and (m.group(1).isupper() or m.group(1).istitle() or len(label.split()) <= 3):
            out.append((m.start(1), sec))
    return out


def labelled_section(labels: list[tuple[int, str]], sent_start: int) -> str | None:
    """The structured-abstract section in force at a sentence start, if the abstract has labels."""
    current = None
    for pos, sec in labels:
        if pos >= sent_start + 3:
            break
        current = sec
    return current


def labelled_section_at(labels: list[tuple[int, str]], starts: list[int], sent_start: int) -> str | None:
    """:func:`labelled_section` by bisection (``starts``: the label offsets, increasing as section_labels gives
    them): the section of the last label before ``sent_start + 3``, without a Python loop over the labels."""
    k = bisect_left(starts, sent_start + 3) if starts else 0
    return labels[k - 1][1] if k else None


def cue_section(classes: set, i: int, n: int) -> str:
    """Section of a sentence in an unlabelled abstract, from its cue classes and position."""
    if "conclusion_cue" in classes:
        return "conclusions"
    if "background_cue" in classes and i <= max(2, n // 3):
        return "background"
    if "methods_cue" in classes and "result_cue" not in classes:
        return "methods"
    if "result_cue" in classes or classes & _STATEMENT_CLASSES:
        return "conclusions" if i == n - 1 else "results"
    return "background" if i == 1 else "other"


class Sent(NamedTuple):
    """A sentence as token and character offsets (what a sentence Span gives, without making one)."""

    start: int
    end: int
    start_char: int
    end_char: int


def sentences(doc: Doc) -> list[Sent]:
    """The boundaries of ``doc.sents`` from one ``to_array(SENT_START)``, without spaCy's per-token Python
    loop and without Span objects; ``end_char`` is the last token's idx + length, as for a Span (reading
    just the boundary tokens beats ``to_array`` of IDX and LENGTH)."""
    if not doc.has_annotation("SENT_START"):
        return [Sent(s.start, s.end, s.start_char, s.end_char) for s in doc.sents]
    if not len(doc):
        return [Sent(0, 0, 0, 0)]
    starts = np.flatnonzero(doc.to_array(SENT_START) == 1).tolist()
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    ends = starts[1:] + [len(doc)]
    out = []
    for a, b in zip(starts, ends):
        last = doc[b - 1]
        out.append(Sent(a, b, doc[a].idx, last.idx + len(last)))
    return out


@dataclass(frozen=True, init=False)
class _Mention:
    """An exposure or condition mention, character offsets in the document text."""

    start: int
    end: int
    name: str
    kind: str = ""  # exposures: form | status | level | co_intervention
    negated: bool = False

    def __init__(self, start: int, end: int, name: str, kind: str = "", negated: bool = False):
        # fields written straight into __dict__ (as findings_rules.Cue does): a frozen dataclass's own __init__
        # goes through object.__setattr__ per field, and every paper makes a few of these
        d = self.__dict__
        d["start"], d["end"], d["name"], d["kind"], d["negated"] = start, end, name, kind, negated


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


_UNDERSCORE_KEY = "._."  # spaCy's key prefix for span extension values in doc.user_data (Underscore._get_key)


def _span_attribute(name: str, doc: Doc):
    """A reader ``(span, start_char, end_char) -> span._.<name>`` for spans of ``doc``, None for an unregistered
    extension. A plain extension (see _plain_extension) is read straight from ``doc.user_data`` under the key
    spaCy's Underscore uses, ``("._.", name, start_char, end_char)``: the same value without building an
    Underscore per span and going through its ``__getattr__`` (~1 µs per span and attribute;
    ``tests/test_findings.py::test_span_attribute_reader_is_exact`` compares with ``span._``). Anything else
    goes through ``span._``."""
    if not Span.has_extension(name):
        return _no_attribute
    if not _plain_extension(name):
        return lambda s, st, en: getattr(s._, name)
    default = Span.get_extension(name)[0]
    user_data = doc.user_data

    def read(s: Span, st: int, en: int):
        return user_data.get((_UNDERSCORE_KEY, name, st, en), default)

    return read


def _plain_extension(name: str) -> bool:
    """A registered span extension whose value spaCy's Underscore keeps in ``doc.user_data`` (no getter, setter
    or method) and whose default it hands out as is (not a mutable one it copies and stores)."""
    if not Span.has_extension(name):
        return False
    default, method, getter, setter = Span.get_extension(name)
    return getter is None and setter is None and method is None and not isinstance(default, (dict, list, set))


def _no_attribute(s, st, en):
    return None


def _exposure_mentions(doc: Doc) -> list[_Mention]:
    """Exposure spans of the exposures component (``doc.spans["vdmine_exposures"]``), sorted."""
    for key in EXPOSURE_SPAN_KEYS:
        if key in doc.spans:
            out = []
            info_of, canonical_of = _span_attribute("vdmine_exposure", doc), _span_attribute("canonical", doc)
            for s in doc.spans[key]:
                st, en = s.start_char, s.end_char
                info = info_of(s, st, en) or {}
                name = canonical_of(s, st, en) or s.label_ or s.text
                out.append(_Mention(st, en, name, info.get("kind") or "form"))
            return sorted(out, key=lambda m: m.start)
    return []


def _condition_mentions(doc: Doc, exposures: list[_Mention]) -> list[_Mention]:
    """Condition spans that are not the exposure itself ("vitamin D deficiency" is a MeSH disease,
    but here it is the exposure status), sorted; negated ones are kept but flagged."""
    out = []
    if "conditions" not in doc.spans:
        return out
    core = [(e.start, e.end) for e in exposures if e.kind != "co_intervention"]
    negated_of, canonical_of = _span_attribute("condition_negated", doc), _span_attribute("canonical", doc)
    for s in doc.spans["conditions"]:
        st, en = s.start_char, s.end_char
        if any(st < e and b < en for b, e in core):
            continue
        name = canonical_of(s, st, en) or s.label_ or s.text
        out.append(_Mention(st, en, name, negated=bool(negated_of(s, st, en))))
    return sorted(out, key=lambda m: m.start)


def _in_range(items: list[_Mention], starts: list[int], lo: int, hi: int) -> list[_Mention]:
    return items[bisect_left(starts, lo) : bisect_left(starts, hi)]


class FindingsComponent:
    """Judge result/conclusion sentences; matchers and lexicons are built once, here."""

    def __init__(self, nlp: Language, name: str, exposure_name: str):
        self.name = name
        self.exposure_name = exposure_name
        self.lex = lexicons()
        self._symptom_cache: dict[str, bool] = {}
        # Fallback exposure mentions when no exposures component filled doc.spans["vdmine_exposures"]:
        # the configured name and the measured levels of it listed in outcomes.jsonl (level_of).
        names = [exposure_name] + self.lex.level_terms.get(exposure_name.lower(), []) if exposure_name else []
        alts = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
        # guarded: the regex runs only where one of the names occurs in the lowercased text
        self.exposure_re = _Guarded(rf"(?<![\w])(?:{alts})(?![\w])", re.I) if alts else None

    # --- paper-level defaults -------------------------------------------------------------------

    def _is_symptom(self, name: str) -> bool:
        """A condition that is itself an outcome of the vocabulary (knee pain, back pain, headache):
        in a paper about a disease it names the symptom measured, not the population."""
        low = name.lower()
        hit = self._symptom_cache.get(low)
        if hit is None:
            hit = any(o.end == len(low) for o in self.lex.find_outcomes(low) if self.lex.polarity(o.value) != "neutral")
            self._symptom_cache[low] = hit
        return hit

    def main_condition(self, conds: list[_Mention], title_end: int) -> str | None:
        """The paper's population: a non-negated condition of the title (a disease before a symptom:
        "Knee Pain ... in Patients With Symptomatic Osteoarthritis" is about osteoarthritis), else the
        most frequent one of the abstract; then its most specific variant in the abstract
        ("knee osteoarthritis" for "osteoarthritis")."""
        usable = [c for c in conds if not c.negated]
        if not usable:
            return None
        counts = Counter(c.name for c in usable)
        title = [c for c in usable if c.start < title_end]
        if title:
            best = min(title, key=lambda c: (self._is_symptom(c.name), -counts[c.name], c.start)).name
        else:
            best = max(counts, key=lambda n: (counts[n], not self._is_symptom(n)))
        low = best.lower()
        variants = [n for n in counts if n.lower() != low and n.lower().endswith(" " + low)]
        return max(variants, key=lambda n: counts[n]) if variants else best

    @staticmethod
    def _default_exposures(exps: list[_Mention]) -> dict[str, str | None]:
        """The paper's most frequent mention of each kind: what it gives (form), what it measures."""
        out: dict[str, str | None] = {}
        if not exps:  # most papers: no Counter to build
            return {"form": None, "status": None, "level": None}
        for kind in ("form", "status", "level"):
            names = Counter(_exposure_label(e, "effect" if kind == "form" else "association") for e in exps if e.kind == kind)
            out[kind] = names.most_common(1)[0][0] if names else None
        return out

    def __call__(self, doc: Doc) -> Doc:
        sents = sentences(doc)
        doc_text = cached_text(doc)  # spaCy rebuilds doc.text on every access: share one copy
        labels = section_labels(doc_text, self.lex)
        label_starts = [pos for pos, _ in labels]
        found: list[Span] = []
        exps = _exposure_mentions(doc)
        conds = _condition_mentions(doc, exps)
        ctx = {
            "exps": exps,
            "exp_starts": [e.start for e in exps],
            "conds": conds,
            "cond_starts": [c.start for c in conds],
            "main_condition": self.main_condition(conds, sents[0].end_char if sents else 0),
            "defaults": self._default_exposures(exps),
            "fallback": _UNSET,  # looked up only when a statement needs it (see _fallback)
            "doc_text": doc_text,
        }
        n = len(sents)
        user_data, direct = doc.user_data, _plain_extension("findings")
        for idx in range(1, n):  # sentence 0 is the title
            sent = sents[idx]
            section = labelled_section_at(labels, label_starts, sent.start_char)
            if section is not None and section not in YIELDING_SECTIONS:
                continue
            sent_text = doc_text[sent.start_char : sent.end_char]
            if not self.lex.may_state_statement(sent_text):  # exact prefilter: no statement cue can match
                continue
            toks = tokens_of(sent_text)
            if not self.lex.may_state_result(toks):  # cheap prefilter before any matching
                continue
            cues = self.lex.cues.find(sent_text, toks)
            classes = set().union(*[c.classes for c in cues]) if cues else set()
            if not classes & _STATEMENT_CLASSES:
                continue
            if section is None:
                section = cue_section(classes, idx, n)
                if section not in YIELDING_SECTIONS:
                    continue
            if self.lex.is_baseline(_strip_label(sent_text, self.lex)):
                continue  # groups compared before treatment: not a result
            sent_rows = self._judge_sentence(sent, sent_text, idx, section, toks, cues, classes, ctx)
            if sent_rows:
                span = Span(doc, sent.start, sent.end, label="finding")
                found.append(span)
                # span._.findings = sent_rows (one row per outcome named in the sentence), written where spaCy's
                # Underscore writes it (see _span_attribute) without making one
                if direct:
                    user_data[(_UNDERSCORE_KEY, "findings", sent.start_char, sent.end_char)] = sent_rows
                else:
                    span._.findings = sent_rows
        doc.spans[SPAN_KEY] = found
        return doc

    def _judge_sentence(self, sent, text, idx, section, toks, cues, classes, ctx) -> list[dict]:
        lo, hi = sent.start_char, sent.end_char
        exps = [e for e in _in_range(ctx["exps"], ctx["exp_starts"], lo, hi)]
        core = [e for e in exps if e.kind != "co_intervention"] or exps
        exp_spans = [(e.start - lo, e.end - lo) for e in core]
        if not exps and self.exposure_re is not None:
            exp_spans = [(m.start(), m.end()) for m in self.exposure_re.finditer(text)]
        conds = [c for c in _in_range(ctx["conds"], ctx["cond_starts"], lo, hi) if not c.negated]
        treatment = "treatment" in classes or any("arm_active" in c.classes or ("comparator" in c.classes and c.value != "baseline") for c in cues)
        relation = "effect"
        assoc = [c for c in cues if c.classes & {"assoc", "assoc_pos", "assoc_neg"}]
        if assoc:
            # "supplementation reduced the risk of falls" is an effect; "associated", "correlated" and
            # risk statements without a treatment word are associations
            risk_only = all(c.text.lower() in _RISK_WORDS for c in assoc)
            relation = "effect" if risk_only and "treatment" in classes else "association"
        outcomes = self.lex.find_outcomes(text, toks)
        if not assoc and core and not treatment and all(e.kind in ("status", "level") for e in core):
            # "deficient patients had more pain", "more pain for each 25 nmol/L decrease in 25-OH D":
            # a status or level compared, nothing given -> an association (unless the level is the
            # only outcome: "25(OH)D rose to 30 ng/mL" reports what supplementation did)
            other = [o for o in outcomes if not any(o.start < e and s < o.end for s, e in exp_spans)]
            if other or any(e.kind == "status" for e in core):
                relation = "association"
        if relation == "association" and exp_spans:
            # the exposure level is not the outcome ("low 25(OH)D was associated with pain")
            outcomes = [o for o in outcomes if not any(o.start < e and s < o.end for s, e in exp_spans)]
        by_name: dict[str, object] = {}
        for o in outcomes:
            by_name.setdefault(o.value, o)
        targets: list[tuple[object, str | None]] = [(o, None) for o in by_name.values() if o.value != OCCURRENCE]
        occurrence = by_name.get(OCCURRENCE)
        if relation == "association":
            # "deficiency was associated with ... osteomalacia" / "... was prevalent in patients with CWP":
            # the occurrence of a condition named is an outcome (a population "in patients with RA" is
            # one only when the sentence has no other outcome)
            alone = occurrence is not None or not targets
            for c in conds:
                if any(_overlaps(c.start - lo, c.end - lo, o.start, o.end) for o, _ in targets):
                    continue
                if alone or not _POPULATION_RE.search(text[max(0, c.start - lo - 40) : c.start - lo]):
                    targets.append((_Cue(c.start - lo, c.end - lo, OCCURRENCE), c.name))
        if occurrence is not None and not any(o.value == OCCURRENCE for o, _ in targets):
            targets.append((occurrence, None))
        if not targets:
            targets = [(None, None)]
        exposure, chosen = self._statement_exposure(core, exps, relation, treatment, ctx)
        flip = relation == "association" and chosen is not None and chosen.kind == "status"
        if chosen is not None and exp_spans:
            # the rules read the exposure side from the first mention: make it the one the row names
            first = (chosen.start - lo, chosen.end - lo)
            exp_spans = [first] + [sp for sp in exp_spans if sp != first]
        rows = []
        for o, cond_name in targets:
            j = judge(
                text,
                outcome_span=(o.start, o.end) if o is not None else None,
                outcome=o.value if o is not None else None,
                intervention_spans=exp_spans if relation == "effect" else None,
                exposure_spans=exp_spans,
                relation_hint=relation,
                lex=self.lex,
                cues=cues,
            )
            if o is None and j.effect_direction == "unclear" and j.relation == "effect":
                continue  # nothing to say: no outcome and no direction
            direction = j.direction
            if (
                direction == "unclear" and j.relation == "association" and o is not None and not j.negated
                and j.significant is True and (cond_name or any(_overlaps(c.start - lo, c.end - lo, o.start, o.end) for c in conds))
            ):
                # "associated with headache ... and osteomalacia": an association with a condition
                # (disease or symptom) named without a direction word is with its presence
                j.effect_direction = "increase"
                direction = _association_direction(text, cues, j, 1, exp_spans)
            if flip and direction in _FLIP:
                direction = _FLIP[direction]  # the rules read the level; the row names the deficiency
            rows.append(
                {
                    "sent_idx": idx,
                    "sentence": text,
                    "section": section,
                    "exposure": exposure,
                    "comparator": j.comparator,
                    "condition": cond_name or self._row_condition(conds, o, lo, ctx),
                    "outcome": j.outcome,
                    "relation": j.relation,
                    "effect_direction": j.effect_direction,
                    "direction": direction,
                    "significant": j.significant,
                    "hedged": j.hedged,
                    "negated": j.negated,
                    "trigger": j.trigger or None,
                }
            )
        _mark_mixed(rows)
        return rows

    def _row_condition(self, conds: list[_Mention], outcome, lo: int, ctx) -> str | None:
        """The population of one row: a condition of the sentence that is not the outcome itself
        ("Knee pain decreased" names the outcome), a disease before a symptom; else the paper's."""
        own = [c for c in conds if outcome is None or not _overlaps(c.start - lo, c.end - lo, outcome.start, outcome.end)]
        main = ctx["main_condition"]
        if own:
            diseases = [c for c in own if not self._is_symptom(c.name)]
            if diseases:
                return diseases[0].name
            if main and not self._is_symptom(main):
                return main  # the sentence names only a symptom of the paper's disease
            return own[0].name
        return main

    def _statement_exposure(self, core, exps, relation, treatment, ctx) -> tuple[str | None, _Mention | None]:
        """(label, mention) of what the statement is about: for an effect the form given (named in
        the sentence, else the paper's most frequent form: "pain decreased in the treatment group");
        for an association the status or level measured (see _exposure_label), else the paper's.
        An effect in a paper that names no form has no known exposure (None)."""
        order = _KIND_ORDER[relation]
        d = ctx["defaults"]
        if relation == "effect":
            forms = [e for e in core if e.kind == "form"]
            if forms:
                return _exposure_label(forms[0], relation, treatment), forms[0]
            if d.get("form"):
                return d["form"], None
            if core and any(e.kind == "co_intervention" for e in core):
                return core[0].name, core[0]
            return (None, None) if ctx["exps"] else (self._fallback(ctx), None)
        if core:
            best = min(core, key=lambda e: (order.index(e.kind) if e.kind in order else len(order), e.start))
            return _exposure_label(best, relation, treatment), best
        for kind in order:
            if d.get(kind):
                return d[kind], None
        return (exps[0].name, None) if exps else (self._fallback(ctx), None)

    def _fallback(self, ctx) -> str | None:
        """The configured exposure name if a paper without exposure spans names it: searched in the whole
        text once per paper, and only when a statement asks for it."""
        fb = ctx["fallback"]
        if fb is _UNSET:
            found = not ctx["exps"] and self.exposure_re is not None and self.exposure_re.search(ctx["doc_text"])
            fb = ctx["fallback"] = self.exposure_name if found else None
        return fb


_UNSET = object()
_KIND_ORDER = {"effect": ("form", "status", "level"), "association": ("status", "level", "form")}
_FLIP = {"association_positive": "association_negative", "association_negative": "association_positive"}
OCCURRENCE = "occurrence"


@dataclass(frozen=True)
class _Cue:
    start: int
    end: int
    value: str


def _exposure_label(e: _Mention, relation: str, treatment: bool = False) -> str:
    """A form in an effect statement is the compound given ("cholecalciferol"); a status is itself
    ("vitamin D deficiency"); a measured level, or a form named in an association without any
    treatment word ("vitamin D was inversely associated with pain"), is the level ("vitamin D level",
    "serum 25(OH)D")."""
    if e.kind == "status" or e.kind == "co_intervention":
        return e.name
    if e.kind == "level" or (relation == "association" and not treatment):
        return e.name if e.name.lower().startswith(("serum", "plasma")) else f"{e.name} level"
    return e.name


# words before a condition that make it the population studied, not an outcome
_POPULATION_RE = re.compile(
    r"(?:\b(?:in|among|amongst)\s+(?:[\w-]+\s+){0,3}?(?:with\s+|having\s+)?|\b(?:patients|subjects|participants|people|women|men|children|adults|individuals|cases|those)\s+(?:with|having)\s+(?:[\w-]+\s+)?)$",
    re.I,
)


def _strip_label(text: str, lex: Lexicons) -> str:
    """The sentence without a leading structured-abstract label ("RESULTS: At baseline, ...")."""
    m = _LABEL_RE.match(text) if _label_possible(text, 0) else None
    if m and m.start(1) <= 2 and (m.group(1).strip().lower() in lex.section_labels):
        return text[m.end() :]
    return text


def _mark_mixed(rows: list[dict]) -> None:
    """One outcome judged both benefit and harm within a sentence -> 'mixed' (needs two rows)."""
    if len(rows) < 2:
        return
    seen: dict[str | None, set] = {}
    for r in rows:
        seen.setdefault(r["outcome"], set()).add(r["direction"])
    for r in rows:
        if {"benefit", "harm"} <= seen[r["outcome"]]:
            r["direction"] = "mixed"


@Language.factory("vdmine_findings", default_config={"exposure_name": "vitamin D"})
def make_findings(nlp: Language, name: str, exposure_name: str) -> FindingsComponent:
    return FindingsComponent(nlp, name, exposure_name)


def rows(doc: Doc, pmid: str, study_design: str | None = None, **kwargs) -> list[dict]:
    """Rows of the ``findings`` table for one processed Doc (keys = FINDINGS schema columns)."""
    out = []
    findings_of = _span_attribute("findings", doc)
    for span in doc.spans.get(SPAN_KEY, []):
        for row in findings_of(span, span.start_char, span.end_char) or []:
            out.append({"pmid": pmid, **row, "study_design": study_design})
    return out
