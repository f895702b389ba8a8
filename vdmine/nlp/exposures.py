"""The ``vdmine_exposures`` component: what the paper gives or measures (vitamin D by default).

The vocabulary is DATA chosen by the query config (``exposure.lexicon``): a packaged name
(``lexicons/exposures_<name>.jsonl``) or a path to a JSONL file, so a magnesium/migraine query
brings its own file and no code changes. Each entry has a canonical name, a MeSH id and a kind:

* ``form`` - a compound given (cholecalciferol, calcitriol, "vitamin D", ...);
* ``status`` - deficiency / insufficiency;
* ``level`` - a measured serum level (25(OH)D ...), with the value, unit and cut-off written
  right after it ("25(OH)D < 20 ng/mL" -> value 20, unit ng/mL, comparator '<');
* ``co_intervention`` - only the names listed in ``exposure.co_interventions`` are switched on
  (a name missing from the lexicon is matched literally, without a MeSH id).

Terms are found with two PhraseMatchers (LOWER, and ORTH for short case-sensitive terms such as
"D3" or "Ca"), built once; the longest match wins. Spans go to ``doc.spans["vdmine_exposures"]``
with ``label_`` = canonical, ``kb_id_`` = MeSH id and the rest in ``span._.vdmine_exposure``.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from vdmine.errors import VdmineError
from vdmine.nlp.docs import doc_text

SPAN_KEY = "vdmine_exposures"
LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"

if not Span.has_extension("vdmine_exposure"):
    Span.set_extension("vdmine_exposure", default=None)
if not Doc.has_extension("vdmine_exposure_lexicon"):
    Doc.set_extension("vdmine_exposure_lexicon", default=None)


@dataclass
class Lexicon:
    """A parsed exposure lexicon: its ``_meta`` line and its entries."""

    name: str
    meta: dict
    entries: list[dict] = field(default_factory=list)

    @property
    def iu_per_ug(self) -> float | None:
        return self.meta.get("iu_per_ug")


def packaged_lexicons() -> list[str]:
    return sorted(p.stem[len("exposures_"):] for p in LEXICON_DIR.glob("exposures_*.jsonl"))


@lru_cache(maxsize=16)
def load_lexicon(lexicon: str) -> Lexicon:
    """Read a lexicon by packaged name or path (cached: lexicons are read once per process)."""
    path = Path(lexicon)
    if not (path.suffix == ".jsonl" or path.is_file()):
        path = LEXICON_DIR / f"exposures_{lexicon}.jsonl"
    known = ", ".join(packaged_lexicons())
    if not path.is_file():
        raise VdmineError("E042", lexicon=lexicon, detail=f"no file {path}", known=known)
    meta: dict = {}
    entries: list[dict] = []
    try:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            if "_meta" in obj:
                meta = obj["_meta"]
                continue
            if "canonical" not in obj or obj.get("kind") not in {"form", "status", "level", "co_intervention"}:
                raise ValueError(f"line {n}: needs 'canonical' and kind form|status|level|co_intervention")
            entries.append(obj)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise VdmineError("E042", lexicon=lexicon, detail=str(exc), known=known) from None
    return Lexicon(name=meta.get("name", path.stem), meta=meta, entries=entries)


# --- serum level values ------------------------------------------------------------------------

_NUM = r"\d+(?:[.,]\d+)?"
_LEVEL_VALUE = re.compile(
    r"(?P<gap>[^.;:\d<>≤≥≦≧=]{0,45}?)\s*"
    r"(?P<cmp><=|>=|=<|=>|≤|≥|≦|≧|<|>|=|less than or equal to|greater than or equal to|less than|lower than|below|under|"
    r"greater than|higher than|more than|above|over|at least|exceeding|up to)?\s*"
    rf"(?P<num>{_NUM})\s*(?:(?:±|\+/-|-|–|to|and)\s*{_NUM}\s*)?"
    r"(?P<unit>ng\s*/\s*ml|ng\s*ml-1|ng\s*ml−1|nmol\s*/\s*l(?:iter|itre)?|nmol\s*l-1|nmol\s*l−1|[uµμ]g\s*/\s*l|mcg\s*/\s*l|"
    r"pmol\s*/\s*l|pg\s*/\s*ml|mg\s*/\s*dl|mmol\s*/\s*l|meq\s*/\s*l)(?![a-z])",
    re.IGNORECASE,
)
_CMP = {
    "<": "<", "less than": "<", "lower than": "<", "below": "<", "under": "<",
    "<=": "<=", "=<": "<=", "≤": "<=", "≦": "<=", "less than or equal to": "<=", "up to": "<=",
    ">": ">", "greater than": ">", "higher than": ">", "more than": ">", "above": ">", "over": ">", "exceeding": ">",
    ">=": ">=", "=>": ">=", "≥": ">=", "≧": ">=", "greater than or equal to": ">=", "at least": ">=",
}
# The words that may sit between an analyte and its value ("levels were", "concentration of").
_GAP_OK = re.compile(
    r"^[\s(\[\])]*(?:(?:serum|plasma|mean|median|baseline|total|level|levels|concentration|concentrations|status|"
    r"values?|was|were|is|are|of|at|as|with|a|an|the|±\s*sd|sd|\(|\)|\[|\]|,|defined|threshold|cut-?off|"
    r"increased|decreased|rose|fell|from|reached|in|between)\s*)*$",
    re.IGNORECASE,
)


def _unit_key(raw: str) -> str:
    u = re.sub(r"\s+", "", raw.lower()).replace("−", "-").replace("µ", "u").replace("μ", "u").replace("mcg", "ug")
    u = u.replace("ml-1", "/ml").replace("l-1", "/l").replace("liter", "l").replace("litre", "l")
    return {"ng/ml": "ng/mL", "nmol/l": "nmol/L", "ug/l": "ug/L", "pmol/l": "pmol/L", "pg/ml": "pg/mL",
            "mg/dl": "mg/dL", "mmol/l": "mmol/L", "meq/l": "mEq/L"}.get(u, raw)


def _parse_level(text: str, start: int, limit: int, lexicon: Lexicon) -> dict | None:
    """Value, unit and comparator written right after an analyte mention, or None."""
    m = _LEVEL_VALUE.match(text, start, min(limit, start + 90))
    if not m or not _GAP_OK.match(m.group("gap") or ""):
        return None
    unit = _unit_key(m.group("unit"))
    units = lexicon.meta.get("level_units", {})
    if unit not in units:
        return None
    value = float(m.group("num").replace(",", "."))
    factor = units[unit]
    cmp_raw = (m.group("cmp") or "").lower()
    return {
        "value": value,
        "unit": unit,
        "value_ng_ml": round(value * factor, 3) if factor is not None else None,
        "comparator": _CMP.get(cmp_raw),
        "end": m.end(),
    }


# --- the component -----------------------------------------------------------------------------


class ExposureTagger:
    """Marks exposure mentions; see the module docstring."""

    def __init__(self, nlp: Language, lexicon: str, co_interventions: list[str]):
        self.lexicon_key = lexicon
        self.lexicon = load_lexicon(lexicon)
        wanted = {c.strip().lower() for c in co_interventions if c.strip()}
        entries = [e for e in self.lexicon.entries if e["kind"] != "co_intervention" or e["canonical"].lower() in wanted]
        have = {e["canonical"].lower() for e in entries if e["kind"] == "co_intervention"}
        for name in sorted(wanted - have):  # configured but not in the lexicon: literal match, no MeSH id
            entries.append({"canonical": name, "mesh_id": None, "kind": "co_intervention", "terms": [name]})
        self.entries = entries
        meta = self.lexicon.meta
        self.before = {w.lower() for w in meta.get("measurement_before", [])}
        self.after = {w.lower() for w in meta.get("measurement_after", [])}
        self.not_after = {w.lower() for w in meta.get("not_exposure_after", [])}
        self.lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.orth = PhraseMatcher(nlp.vocab, attr="ORTH")
        for i, e in enumerate(entries):
            key = str(i)
            if e.get("terms"):
                self.lower.add(key, [nlp.make_doc(t) for t in e["terms"]])
            if e.get("terms_cs"):
                self.orth.add(key, [nlp.make_doc(t) for t in e["terms_cs"]])

    def __call__(self, doc: Doc) -> Doc:
        vocab = doc.vocab.strings
        spans = [Span(doc, s, t, label=vocab[k]) for k, s, t in self.lower(doc)]
        spans += [Span(doc, s, t, label=vocab[k]) for k, s, t in self.orth(doc)]
        out: list[Span] = []
        text = doc_text(doc)
        sent_ends = None  # only level mentions need them
        for span in filter_spans(spans):
            entry = self.entries[int(span.label_)]
            kind = entry["kind"]
            nxt = doc[span.end].lower_ if span.end < len(doc) else ""
            prev = doc[span.start - 1].lower_ if span.start > 0 else ""
            if kind in {"form", "co_intervention"}:
                if nxt in self.not_after:
                    continue  # "vitamin D receptor", "calcium excretion": not an exposure
                if kind == "co_intervention" and (prev in self.before or nxt in self.after):
                    continue  # "serum calcium": a lab value, not a co-intervention
                if kind == "form" and (prev in self.before or nxt in self.after):
                    kind = "level"  # "circulating calcitriol", "calcitriol levels"
            info = {"kind": kind, "value": None, "unit": None, "value_ng_ml": None, "comparator": None}
            end_char = span.end_char
            if kind == "level":
                if sent_ends is None:
                    sent_ends = _sent_ends(doc)
                i = bisect_right(sent_ends, span.start_char)
                limit = sent_ends[i] if i < len(sent_ends) else len(text)
                level = _parse_level(text, span.end_char, limit, self.lexicon)
                if level:
                    end_char = level.pop("end")
                    info.update(level)
            new = doc.char_span(span.start_char, end_char, alignment_mode="expand") or span
            new = Span(doc, new.start, new.end, label=entry["canonical"], kb_id=entry.get("mesh_id") or "")
            new._.vdmine_exposure = info
            out.append(new)
        doc.spans[SPAN_KEY] = out
        doc._.vdmine_exposure_lexicon = self.lexicon_key
        return doc


def _sent_ends(doc: Doc) -> list[int]:
    try:
        return [s.end_char for s in doc.sents]
    except ValueError:  # no sentence boundaries set (component used alone)
        return [len(doc_text(doc))]


@Language.factory("vdmine_exposures", default_config={"lexicon": "vitamin_d", "co_interventions": ["calcium"]})
def make_exposures(nlp: Language, name: str, lexicon: str, co_interventions: list[str]) -> ExposureTagger:
    return ExposureTagger(nlp, lexicon, list(co_interventions))


def load_lexicon_for(doc: Doc) -> Lexicon | None:
    """The lexicon the exposures component used on this doc (None if it did not run)."""
    key = doc._.vdmine_exposure_lexicon
    return load_lexicon(key) if key else None


def sentence_index(doc: Doc):
    """A function char offset -> 0-based sentence index (title is sentence 0)."""
    starts = [s.start_char for s in doc.sents]
    return lambda char: max(0, bisect_right(starts, char) - 1)


def rows(doc: Doc, pmid: str, **kwargs) -> list[dict]:
    """``exposures`` table rows (see vdmine.store.schemas.EXPOSURES)."""
    spans = doc.spans.get(SPAN_KEY, []) if SPAN_KEY in doc.spans else []
    if not spans:
        return []
    sidx = sentence_index(doc)
    out = []
    for span in spans:
        info = span._.vdmine_exposure or {}
        out.append({
            "pmid": pmid,
            "sent_idx": sidx(span.start_char),
            "start_char": span.start_char,
            "end_char": span.end_char,
            "text": span.text,
            "canonical": span.label_,
            "kind": info.get("kind"),
            "mesh_id": span.kb_id_ or None,
            "value": info.get("value"),
            "unit": info.get("unit"),
            "value_ng_ml": info.get("value_ng_ml"),
            "comparator": info.get("comparator"),
        })
    return out
