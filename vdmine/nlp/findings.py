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
from collections import Counter

from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span

from vdmine.nlp.findings_rules import DIRECTION_CLASSES, Lexicons, judge, lexicons, tokenize

SPAN_KEY = "findings"
_RISK_WORDS = {"risk", "risks", "odds", "odds ratio", "hazard ratio", "relative risk", "or", "hr", "rr", "aor", "ahr"}
YIELDING_SECTIONS = {"results", "conclusions"}
_STATEMENT_CLASSES = set(DIRECTION_CLASSES) | {"nodiff", "assoc", "assoc_pos", "assoc_neg"}
_LABEL_RE = re.compile(r"(?:^|(?<=\n)|(?<=[.!?]\s))\s*([A-Z][A-Za-z &/,-]{2,60}?)\s*:\s")

# Span extensions are stored per (start, end): one span per sentence carries all its rows.
if not Span.has_extension("findings"):
    Span.set_extension("findings", default=None)


def _ext(span, name: str):
    return getattr(span._, name, None) if Span.has_extension(name) else None


def _canonical(span) -> str:
    return _ext(span, "canonical") or span.label_ or span.text


def section_labels(text: str, lex: Lexicons) -> list[tuple[int, str]]:
    """(offset, section) for each structured-abstract label ('RESULTS:', 'Conclusion:') in the text."""
    out = []
    for m in _LABEL_RE.finditer(text):
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


def sentence_sections(sents: list[Span], text: str, lex: Lexicons) -> list[str]:
    """Section of every sentence ('title' for sentence 0); ``text`` is ``doc.text``."""
    labels = section_labels(text, lex)
    out = []
    for i, sent in enumerate(sents):
        sec = "title" if i == 0 else labelled_section(labels, sent.start_char)
        if sec is None:
            cues = lex.cues.find(text[sent.start_char : sent.end_char])
            sec = cue_section(set().union(*(c.classes for c in cues)) if cues else set(), i, len(sents))
        out.append(sec)
    return out


def sentences(doc: Doc) -> list[Span]:
    """``list(doc.sents)`` without spaCy's per-token Python loop (same boundaries, much faster)."""
    if not doc.has_annotation("SENT_START"):
        return list(doc.sents)
    starts = [i for i, v in enumerate(doc.to_array(SENT_START).tolist()) if v == 1]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    ends = starts[1:] + [len(doc)]
    return [doc[a:b] for a, b in zip(starts, ends)]


class FindingsComponent:
    """Judge result/conclusion sentences; matchers and lexicons are built once, here."""

    def __init__(self, nlp: Language, name: str, exposure_name: str):
        self.name = name
        self.exposure_name = exposure_name
        self.lex = lexicons()
        # Fallback exposure mentions when no exposures component filled doc.spans["exposures"]:
        # the configured name and the measured levels of it listed in outcomes.jsonl (level_of).
        names = [exposure_name] + self.lex.level_terms.get(exposure_name.lower(), []) if exposure_name else []
        alts = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
        self.exposure_re = re.compile(rf"(?<![\w])(?:{alts})(?![\w])", re.I) if alts else None

    def _exposures(self, doc: Doc, sent: Span, text: str) -> tuple[list[tuple[int, int]], str | None]:
        """Exposure mentions in the sentence (sentence-relative offsets) and the statement's exposure."""
        spans = [s for s in doc.spans.get("exposures", []) if sent.start_char <= s.start_char < sent.end_char]
        if spans:
            rel = [(s.start_char - sent.start_char, s.end_char - sent.start_char) for s in spans]
            return rel, _canonical(spans[0])
        rel = []
        if self.exposure_re is not None:
            rel = [(m.start(), m.end()) for m in self.exposure_re.finditer(text)]
        return rel, None

    def _doc_default(self, doc: Doc, key: str) -> str | None:
        names = Counter(_canonical(s) for s in doc.spans.get(key, []))
        return names.most_common(1)[0][0] if names else None

    def __call__(self, doc: Doc) -> Doc:
        sents = sentences(doc)
        doc_text = doc.text  # spaCy rebuilds doc.text on every access: once per doc
        labels = section_labels(doc_text, self.lex)
        found: list[Span] = []
        default_exposure = self._doc_default(doc, "exposures")
        if default_exposure is None and self.exposure_re is not None and self.exposure_re.search(doc_text):
            default_exposure = self.exposure_name
        default_condition = self._doc_default(doc, "conditions")
        n = len(sents)
        for idx in range(1, n):  # sentence 0 is the title
            sent = sents[idx]
            section = labelled_section(labels, sent.start_char)
            if section is not None and section not in YIELDING_SECTIONS:
                continue
            sent_text = doc_text[sent.start_char : sent.end_char]
            toks = tokenize(sent_text)
            if not self.lex.may_state_result(toks):  # cheap prefilter before any matching
                continue
            cues = self.lex.cues.find(sent_text, toks)
            classes = set().union(*(c.classes for c in cues)) if cues else set()
            if not classes & _STATEMENT_CLASSES:
                continue
            if section is None:
                section = cue_section(classes, idx, n)
                if section not in YIELDING_SECTIONS:
                    continue
            sent_rows = self._judge_sentence(doc, sent, sent_text, idx, section, toks, cues, default_exposure, default_condition)
            if sent_rows:
                span = Span(doc, sent.start, sent.end, label="finding")
                span._.findings = sent_rows  # one row per outcome named in the sentence
                found.append(span)
        doc.spans[SPAN_KEY] = found
        return doc

    def _judge_sentence(self, doc, sent, text, idx, section, toks, cues, default_exposure, default_condition) -> list[dict]:
        exp_spans, exposure = self._exposures(doc, sent, text)
        exposure = exposure or default_exposure
        conds = [s for s in doc.spans.get("conditions", []) if sent.start_char <= s.start_char < sent.end_char]
        condition = _canonical(conds[0]) if conds else default_condition
        classes = set().union(*(c.classes for c in cues))
        relation = "effect"
        assoc = [c for c in cues if c.classes & {"assoc", "assoc_pos", "assoc_neg"}]
        if assoc:
            # "supplementation reduced the risk of falls" is an effect; "associated", "correlated" and
            # risk statements without a treatment word are associations
            risk_only = all(c.text.lower() in _RISK_WORDS for c in assoc)
            relation = "effect" if risk_only and "treatment" in classes else "association"
        outcomes = self.lex.find_outcomes(text, toks)
        if relation == "association" and exp_spans:
            # the exposure level is not the outcome ("low 25(OH)D was associated with pain")
            outcomes = [o for o in outcomes if not any(o.start < e and s < o.end for s, e in exp_spans)]
        by_name: dict[str, object] = {}
        for o in outcomes:
            by_name.setdefault(o.value, o)
        targets = list(by_name.values()) or [None]
        rows = []
        for o in targets:
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
            rows.append(
                {
                    "sent_idx": idx,
                    "sentence": text,
                    "section": section,
                    "exposure": exposure,
                    "comparator": j.comparator,
                    "condition": condition,
                    "outcome": j.outcome,
                    "relation": j.relation,
                    "effect_direction": j.effect_direction,
                    "direction": j.direction,
                    "significant": j.significant,
                    "hedged": j.hedged,
                    "negated": j.negated,
                    "trigger": j.trigger or None,
                }
            )
        _mark_mixed(rows)
        return rows


def _mark_mixed(rows: list[dict]) -> None:
    """One outcome judged both benefit and harm within a sentence -> 'mixed'."""
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
    for span in doc.spans.get(SPAN_KEY, []):
        for row in span._.findings or []:
            out.append({"pmid": pmid, **row, "study_design": study_design})
    return out
