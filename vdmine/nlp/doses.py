"""The ``vdmine_doses`` component: amount, unit, frequency, route, duration and compound of doses.

Why regex over ``doc.text`` rather than token patterns: dose text is written in many ways the
tokenizer may or may not split ("50,000IU", "50 000 IU", "100,000IU/3months", "mg.kg-1"), so we
match characters once per document and snap the result to tokens with ``doc.char_span(...,
alignment_mode="expand")``. All units, frequencies, routes, number words and context words are
data (``lexicons/dose_*.tsv``, ``lexicons/dose_cues.json``).

One row per arm: lists and ranges ("1000 or 4000 IU/day", "400, 800, 1700 IU/day", "800-1000 IU")
give a row per number, sharing the unit and frequency; an equivalent in brackets ("10 ug (400
IU)") is the same dose, not a new arm. The compound is the nearest exposure mention (from
``vdmine_exposures``) written next to the dose, else another substance named next to it
(metformin 500 mg keeps 'metformin'), else the nearest exposure in the sentence. Only doses of an
IU-convertible exposure form get ``iu_per_day`` / ``bolus_iu`` (1 ug = 40 IU, 1 mg = 40,000 IU;
weekly / 7, monthly / 30, every N days / N); serum levels (ng/mL, nmol/L) and concentrations
(mg/dL, IU/mL) are never doses.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from vdmine.nlp import exposures as _exposures
from vdmine.nlp import prefilter as pf
from vdmine.nlp.docs import doc_text
from vdmine.nlp.lexicon import read_tsv

SPAN_KEY = "vdmine_doses"
LEX = Path(__file__).resolve().parent / "lexicons"

if not Doc.has_extension("vdmine_doses"):
    Doc.set_extension("vdmine_doses", default=None)


_LIST_SEP = re.compile(r"[,;]")
# module-level patterns compiled once (``re.search(str, ...)`` looks each up in re's cache per call)
_ANY_DIGIT = re.compile(r"\d")
_LOADING = re.compile(r"\bloading\b", re.I)
_ALNUM_WORDS = re.compile(r"[a-z0-9]+")
_DIGITS = re.compile(r"\d+")
_AFTER_LEAD = re.compile(r"\s?(?:of\s|\(\s?)?")
_AFTER_TOKENS = re.compile(r"[^\s,;()\[\]]+|[,;()\[\]]")
_LETTER = re.compile(r"[A-Za-zα-ω]")
_WORD_BEFORE = re.compile(r"(?:(?P<w0>[A-Za-z][\w\-]*)\s)?(?P<w>[A-Za-z][\w\-]*)\s?(?:\(|,|\bat\b|:)?\s?$")
# The longest end of a string that a _WORD_BEFORE match can cover, read backwards: characters of
# [\w\-(,:] with at most three whitespace characters (the pattern has three \s, and no other
# character can be part of a match).
_WORD_BEFORE_TAIL = re.compile(r"[\w\-(,:]*(?:\s[\w\-(,:]*){0,3}")


def word_before_match(pre: str) -> re.Match | None:
    """``_WORD_BEFORE.search(pre)``, started where a match can begin at the earliest.

    A match runs to the end of ``pre`` (or to just before a final newline), so it lies inside the
    longest tail of ``pre`` (without that newline) made of the characters a match can hold; the
    search starts there instead of trying every position of the window (each try scans to the end).
    No match can start earlier, so the leftmost match, and its groups, are the same."""
    t = pre[:-1] if pre.endswith("\n") else pre
    return _WORD_BEFORE.search(pre, len(t) - _WORD_BEFORE_TAIL.match(t[::-1]).end())


def _dose_iu(x: "_Dose", entry: dict | None, iu_per_ug: float | None) -> float | None:
    """IU in one dose when the compound is an IU-convertible form of the exposure, else None."""
    if entry is None or entry.get("kind") != "form" or not entry.get("iu_convertible", True) or not iu_per_ug:
        return None
    if x.unit == "IU":
        return x.amount
    if x.unit in {"ug", "mg"} and x.iu_factor:
        return x.amount * x.iu_factor * (iu_per_ug / 40.0)
    return None


@lru_cache(maxsize=1)
def number_words() -> dict[str, int]:
    return {w.lower(): int(v) for w, v in read_tsv("dose_number_words.tsv")}


def words_to_int(text: str) -> int | None:
    """'One hundred and seventy-six' -> 176, '1,481' -> 1481, 'Eighty-nine' -> 89; else None."""
    t = text.strip().lower()
    digits = re.sub(r"[,\s\u00a0\u2009\u202f]", "", t)
    if digits.isdigit():
        return int(digits)
    words = number_words()
    total = current = 0
    seen = False
    for w in re.split(r"[\s\-]+", t):
        if w in {"and", ""}:
            continue
        if w not in words:
            return None
        v = words[w]
        seen = True
        if v == 100:
            current = max(current, 1) * 100
        elif v == 1000:
            total += max(current, 1) * 1000
            current = 0
        else:
            current += v
    return total + current if seen else None


def _numword_re() -> str:
    words = sorted((w for w in number_words() if w not in {"hundred", "thousand", "zero"}), key=len, reverse=True)
    return r"(?:\d+(?:\.\d+)?|" + "|".join(words) + ")"


# --- compiled data ------------------------------------------------------------------------------

NUM = (
    r"\d{1,3}(?:(?:,|[^\S\r\n])\d{3})+(?:\.\d+)?(?!\d)"  # 50,000  50 000 (any space but a newline)
    r"|\d{1,3}(?:\.\d{3})+(?![\d.])"  # 50.000 (European thousands; decimal unless the unit is IU)
    r"|\d*\.\d+|\d+(?:,\d+)?"
)


@dataclass
class _Freq:
    regex: re.Pattern
    label: str
    period: str  # days per dose: number, expression of n, or "single"
    req: object = None  # prefilter.checker(regex): literals a match needs, or None


class _Data:
    """All dose vocabularies, compiled once per process."""

    def __init__(self) -> None:
        self.units = read_tsv("dose_units.tsv")
        unit_alts = "|".join(f"(?:{u[0]})" for u in self.units)
        self._unit_memo: dict[str, tuple[str, float | None]] = {}
        self.unit_res = [(re.compile(rf"(?:{u[0]})$"), u[1], float(u[2]) if len(u) > 2 and u[2] else None) for u in self.units]
        self.per = [(re.compile(p), s) for p, s in read_tsv("dose_per.tsv")]
        per_alts = "|".join(f"(?:{p})" for p, _ in read_tsv("dose_per.tsv"))
        self.dose = re.compile(
            rf"(?<![\w.,])(?P<num>{NUM})\s?(?P<k>[kK](?![a-zA-Z]))?\s?-?\s?(?P<unit>{unit_alts})(?P<per>{per_alts})?(?![\w])"
        )
        # A number written before a dose and joined to it: "1000 or [4000 IU]", "800-[1000 IU]".
        self.arm_back = re.compile(
            rf"(?<![\w.,/])(?P<num>{NUM})(?P<sep>\s?,\s*(?:and\s+|or\s+)?|\s+(?:or|and|to)\s+|\s?[-–—]\s?)[≥≤<>]?\s?$"
        )
        # Concentrations and rates are not doses: ug/L, mg/dL, IU/mL, mg/24 h, ug/h.
        self.not_dose_after = re.compile(
            r"\s?(?:/|per\s)\s?(?:d?l(?:iter|itre)?|ml|dl|l|h|hr|hours?|min|24|g|kg\s(?:of\s)?(?:diet|feed))(?![a-z])|\s?%",
            re.IGNORECASE,
        )
        self.feed = re.compile(r"\s?(?:of\s)?(?:feed|diet|food|chow)\b", re.IGNORECASE)
        numw = _numword_re()
        self.freqs = [
            _Freq(re.compile(r.replace("(?P<n>N)", f"(?P<n>{numw})").replace("(?P<n2>N)", f"(?P<n2>{numw})")
                             .replace("(?P<n3>N)", f"(?P<n3>{numw})").replace("(?P<n4>N)", f"(?P<n4>{numw})"),
                             re.IGNORECASE), label, period)
            for r, label, period in read_tsv("dose_frequency.tsv")
        ]
        self.routes = []
        for r, route, where in read_tsv("dose_routes.tsv"):
            flags = 0 if "(?-i:" in r else re.IGNORECASE
            pattern = r.replace("(?-i:", "(?:") if flags == 0 else r
            self.routes.append((re.compile(rf"(?<![\w.])(?:{pattern})(?![\w])", flags), route, where))
        self.duration = re.compile(
            r"(?:(?<![\w])(?:for|over|during|lasting|through|throughout|x|×)\s"
            r"(?:a\s(?:total\s)?(?:period|duration)\sof\s|(?:the\s)?(?:first|next|following|last|subsequent)\s|(?:an?\s)?(?:additional|further)\s)?"
            rf"(?P<n>{numw})\s?(?:consecutive\s|additional\s|more\s)?(?P<u>days?|d|weeks?|wks?|months?|mo|years?|yrs?)(?![a-z])"
            rf"|(?<![\w-])(?P<n2>{numw})-(?P<u2>day|week|month|year|wk|mo)(?!ly|[a-z]))",
            re.IGNORECASE,
        )
        cues = json.loads((LEX / "dose_cues.json").read_text(encoding="utf-8"))
        self.cues = {k: set(v) for k, v in cues.items() if isinstance(v, list)}
        self.max_vitamin_d_iu = float(cues["max_plausible_vitamin_d_iu_per_dose"])
        self.loading_after = re.compile(
            r"^[^.;]{0,60}?\b(?:" + "|".join(re.escape(w) for w in sorted(cues["loading_after"], key=len, reverse=True)) + r")\b",
            re.IGNORECASE,
        )
        self.loading_before = re.compile(
            r"\b(?:" + "|".join(re.escape(w) for w in cues["loading_before"]) + r")\b", re.IGNORECASE
        )
        self.equiv_gap = re.compile(
            r"^(?:\s?/\s?(?:day|d|week|wk|month))?\s?[(\[]\s?(?:=\s?|i\.e\.,?\s|equivalent\sto\s|equal\sto\s|approximately\s|about\s|~\s?|≈\s?|or\s)?$", re.IGNORECASE
        )
        self.close_paren = re.compile(r"[^()\[\]]{0,30}?[)\]]")
        self.group_gap = re.compile(r"^\s?[,;]?\s?(?:or|and|to|versus|vs\.?|[-–—/])?\s?(?:,\s?)?(?:or\s|and\s)?$", re.IGNORECASE)
        self.word = re.compile(r"[A-Za-zα-ωΑ-Ω0-9][\w\-+]*|[(),:;=+–\[\]-]")
        # Exact shortcuts (vdmine.nlp.prefilter): skip a pattern whose required literals are
        # missing, try the dose pattern only where a number can start. ``fast = False`` turns
        # them off (the tests compare both ways).
        self.fast = True
        for f in self.freqs:
            f.req = pf.checker(f.regex)
        self.dose_starts = pf.starts(self.dose)
        self.duration_req = pf.checker(self.duration)
        self.route_req = [pf.checker(rx) for rx, _, _ in self.routes]
        # the routes of each kind in file order, split once instead of per dose
        self.route_adjacent = [(rx, route) for rx, route, where in self.routes if where == "adjacent"]
        self.route_window = [(rx, route, req) for (rx, route, where), req in zip(self.routes, self.route_req) if where == "window"]

    def unit_of(self, raw: str) -> tuple[str, float | None]:
        hit = self._unit_memo.get(raw)  # a pure function of the string; few distinct spellings
        if hit is None:
            hit = self._unit_of(raw)
            if len(self._unit_memo) < 4096:
                self._unit_memo[raw] = hit
        return hit

    def _unit_of(self, raw: str) -> tuple[str, float | None]:
        raw = raw.strip()
        for rx, unit, iu in self.unit_res:
            if rx.fullmatch(raw):
                return unit, iu
        return raw, None

    def per_of(self, raw: str | None) -> str:
        if not raw:
            return ""
        for rx, suffix in self.per:
            if rx.fullmatch(raw):
                return suffix
        return ""


@lru_cache(maxsize=1)
def data() -> _Data:
    return _Data()


@lru_cache(maxsize=8192)  # a pure function; the same numbers recur ("1000", "50,000")
def parse_amount(num: str, unit: str, k: bool = False) -> float:
    """'50,000' -> 50000; '50 000' -> 50000; '50.000' IU -> 50000; '1.25' mg -> 1.25; '0,25' -> 0.25."""
    s = re.sub(r"[^\S\r\n]", " ", num)
    if re.fullmatch(r"\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?", s):
        value = float(re.sub(r"[, ]", "", s))
    elif re.fullmatch(r"\d{1,3}(?:\.\d{3})+", s) and unit == "IU":
        value = float(s.replace(".", ""))
    else:
        value = float(s.replace(",", "."))
    return value * 1000 if k else value


def _period_days(expr: str, n: float | None) -> float | None:
    if expr == "single":
        return None
    if "n" in expr:
        if n is None or n == 0:
            return None
        return float(eval(expr, {"__builtins__": {}}, {"n": n}))  # noqa: S307 - data-file arithmetic on one number
    return float(expr)


def find_frequency(text: str, first: bool = True, anchored: bool = False) -> tuple[str, float | None, int, int] | None:
    """The frequency written in ``text``: (label, days per dose or None for single, start, end).

    ``first`` picks the earliest match, else the last one; ``anchored`` requires it at the start.
    """
    d = data()
    if not d.fast:
        return _find_frequency(text, first, anchored, False)
    return _find_frequency_cached(text, bool(first), bool(anchored))


@lru_cache(maxsize=8192)
def _find_frequency_cached(text: str, first: bool, anchored: bool):
    """Short windows ("/day", " of ", " daily for 8 weeks") recur across doses and documents."""
    return _find_frequency(text, first, anchored, True)


def _find_frequency(text: str, first: bool, anchored: bool, fast: bool):
    d = data()
    best = None
    if fast:
        folded = pf.fold(text)
        ws = len(text) - len(text.lstrip())
    for f in d.freqs:
        if fast and f.req is not None and not f.req(folded):
            continue  # a literal every match of this row needs is missing
        matches = f.regex.finditer(text)
        if fast:
            if anchored:
                # only the leftmost match counts, and only if it starts in the leading
                # whitespace: try those positions in order
                m = None
                for p in range(ws + 1):
                    m = f.regex.match(text, p)
                    if m is not None:
                        break
                matches = (m,) if m is not None else ()
        for m in matches:
            if anchored and text[: m.start()].strip():
                break
            if m.start() > 0 and (text[m.start() - 1].isalnum()) and not text[m.start()] in "/·":
                continue
            n_raw = next((m.group(g) for g in ("n", "n2", "n3", "n4") if g in m.re.groupindex and m.group(g)), None)
            n = words_to_int(n_raw) if n_raw else None
            label = f.label.replace("{n}", str(n) if n is not None else "N")
            if n is not None and f.period != "single":
                if label == "every 1 days":
                    label = "daily"
                elif label == "every 1 weeks":
                    label = "weekly"
                elif label == "every 1 months":
                    label = "monthly"
            cand = (m.start(), -(m.end() - m.start()), label, _period_days(f.period, n), m.end())
            if best is None or (cand[:2] < best[:2] if first else cand[:2] > best[:2]):
                best = cand
            if first:
                break  # later matches of this row are never earlier
    if best is None:
        return None
    return best[2], best[3], best[0], best[4]


def find_duration(text: str, last: bool = False) -> float | None:
    """Treatment duration in days from 'for 12 weeks', 'over 6 months', 'a 12-week trial'."""
    d = data()
    if d.fast and d.duration_req is not None and not d.duration_req(pf.fold(text)):
        return None
    if last:
        m = None
        for m in d.duration.finditer(text):
            pass
    else:
        m = d.duration.search(text)  # the first of finditer's matches
    if m is None:
        return None
    n = words_to_int(m.group("n") or m.group("n2"))
    unit = (m.group("u") or m.group("u2")).lower()
    if n is None:
        return None
    days = 1 if unit.startswith("d") else 7 if unit.startswith("w") else 30 if unit.startswith("mo") else 365
    return float(n * days)


def find_route(pre: str, after: str) -> str | None:
    d = data()
    if d.route_adjacent:  # adjacent abbreviations: '60 mg sc', '2 g IV'
        stripped = after.lstrip()
        for rx, route in d.route_adjacent:
            if rx.match(stripped):
                return route
    fast = d.fast
    f_after = pf.fold(after) if fast else ""
    f_pre = pf.fold(pre) if fast else ""
    best_after = None
    for rx, route, req in d.route_window:
        if fast and req is not None and not req(f_after):
            continue
        m = rx.search(after)
        if m and (best_after is None or m.start() < best_after[0]):
            best_after = (m.start(), route)
    best_pre = None
    for rx, route, req in d.route_window:
        if fast and req is not None and not req(f_pre):
            continue
        for m in rx.finditer(pre):
            if best_pre is None or m.start() > best_pre[0]:
                best_pre = (m.start(), route)
    if best_pre and (not best_after or len(pre) - best_pre[0] < best_after[0]):
        return best_pre[1]
    return best_after[1] if best_after else None


# --- the component ------------------------------------------------------------------------------


@dataclass
class _Dose:
    start: int  # start of this arm's number
    core_start: int  # start of the number that carries the unit
    end: int  # end of the unit (+ per-size suffix)
    ext_end: int  # end including a bracketed equivalent
    amount: float
    unit: str
    iu_factor: float | None
    group: int = 0
    freq: tuple | None = None
    loading_cue: bool = False


class DoseTagger:
    """Finds doses once per document; see the module docstring."""

    def __init__(self, nlp: Language):
        self.d = data()

    # candidates -------------------------------------------------------------------------------
    def _candidates(self, text: str) -> list[_Dose]:
        d = self.d
        cores: list[_Dose] = []
        matches = d.dose.finditer(text)
        if d.fast and d.dose_starts is not None:
            cand = pf.positions(d.dose_starts, text, pf.fold(text))
            if cand is not None:
                matches = pf.finditer(d.dose, text, cand)
        for m in matches:
            if d.not_dose_after.match(text, m.end()):
                continue
            if m.group("per") and d.feed.match(text, m.end()):
                continue  # "200 IU/kg feed": a concentration in the diet, not a dose
            unit, iu = d.unit_of(m.group("unit"))
            per = d.per_of(m.group("per"))
            amount = parse_amount(m.group("num"), unit, bool(m.group("k")))
            cores.append(_Dose(m.start(), m.start(), m.end(), m.end(), amount, unit + per, iu if not per else None))
        # bracketed equivalents: "10 ug (400 IU)" is one dose
        kept: list[_Dose] = []
        for c in cores:
            if kept and c.unit != kept[-1].unit and d.equiv_gap.match(text[kept[-1].ext_end: c.start]):
                close = d.close_paren.match(text, c.end)
                kept[-1].ext_end = close.end() if close else c.end
                prev = kept[-1]
                if prev.freq is None:
                    f = find_frequency(text[c.end: kept[-1].ext_end], anchored=True)
                    if f:
                        prev.freq = f
                continue
            kept.append(c)
        # arms and ranges written before a dose: "1000 or 4000 IU/day", "400, 800, 1700 IU/day"
        out: list[_Dose] = []
        floor = 0
        for c in kept:
            arms = []
            cur = c.start
            while True:
                lo = max(floor, cur - 40)
                m = d.arm_back.search(text, lo, cur)
                if not m or m.end() != cur:
                    break
                num = m.group("num")
                if re.fullmatch(r"(?:19|20)\d\d", num) and "," in m.group("sep"):
                    break  # "In 2012, 800 IU": a year, not an arm
                unit_base = c.unit.split("/")[0]
                arms.append(_Dose(m.start(), c.start, c.end, c.ext_end, parse_amount(num, unit_base), c.unit, c.iu_factor))
                cur = m.start()
            out.extend(reversed(arms))
            out.append(c)
            floor = c.ext_end
        return out

    def __call__(self, doc: Doc) -> Doc:
        text = doc_text(doc)
        if not _ANY_DIGIT.search(text):
            doc._.vdmine_doses = []
            doc.spans[SPAN_KEY] = []
            return doc
        doses = self._candidates(text)
        if not doses:
            doc._.vdmine_doses = []
            doc.spans[SPAN_KEY] = []
            return doc
        d = self.d
        sents = [(s.start_char, s.end_char) for s in doc.sents]
        starts = [s for s, _ in sents]
        exp_spans = [
            s for s in doc.spans.get(_exposures.SPAN_KEY, [])
            if (s._.vdmine_exposure or {}).get("kind") in {"form", "co_intervention"}
        ] if _exposures.SPAN_KEY in doc.spans else []
        lexicon = _exposures.load_lexicon_for(doc)
        iu_per_ug = lexicon.iu_per_ug if lexicon else None

        # groups of arms written together, for sharing a frequency
        group = 0
        for i, x in enumerate(doses):
            if i and not (
                x.core_start == doses[i - 1].core_start
                or d.group_gap.match(text[doses[i - 1].ext_end: x.start])
            ):
                group += 1
            x.group = group

        rows = []
        for i, x in enumerate(doses):
            si = max(0, bisect_right(starts, x.start) - 1)
            s_start, s_end = sents[si]
            nxt = next((y.start for y in doses[i + 1:] if y.core_start != x.core_start), len(text))
            prev_end = max([y.ext_end for y in doses[:i] if y.core_start != x.core_start] or [0])
            after = text[x.ext_end: min(nxt, s_end, x.ext_end + 60)].split(";")[0]
            pre = text[max(prev_end, s_start, x.start - 40): x.start]
            # frequency: right after the unit > written just before ('daily 800 IU') > later in the clause
            freq = x.freq if x.core_start == x.start else None
            if freq is None:
                f = find_frequency(text[x.end: min(nxt, s_end, x.end + 60)], anchored=True)
                freq = f
            if freq is None:
                freq = self._pre_frequency(pre)
            if freq is None:
                freq = find_frequency(after)
            x.freq = freq
            x.loading_cue = bool(d.loading_before.search(pre[-25:])) or bool(d.loading_after.match(after))
            rows.append((x, si, after, pre))
        # share a frequency inside a group of arms
        by_group: dict[int, set] = {}
        for x, *_ in rows:
            if x.freq:
                by_group.setdefault(x.group, set()).add(x.freq[:2])
        for x, *_ in rows:
            if x.freq is None and len(by_group.get(x.group, ())) == 1:
                label, period = next(iter(by_group[x.group]))
                x.freq = (label, period, 0, 0)

        out = []
        spans = []
        compounds = {}
        for x, si, _after, _pre in rows:
            compounds[id(x)] = self._compound(doc, x, exp_spans, iu_per_ug, *sents[si])
        for x, *_ in rows:  # arms of one list are the same compound: prefer a lexicon match
            if compounds[id(x)][1] is None:
                same = [compounds[id(y)] for y, *_ in rows if y.core_start == x.core_start and compounds[id(y)][1] is not None]
                if same:
                    compounds[id(x)] = same[0]
        for x, si, after, pre in rows:
            s_start, s_end = sents[si]
            compound, entry = compounds[id(x)]
            label, period = (x.freq[0], x.freq[1]) if x.freq else (None, None)
            single = label == "single"
            nxt = next((y.start for y, *_ in rows if y.start > x.ext_end and y.core_start != x.core_start), s_end)
            duration = None if single else find_duration(text[x.ext_end: min(nxt, s_end)]) or find_duration(text[s_start: x.start], last=True)
            route = find_route(pre, after)
            iu = _dose_iu(x, entry, iu_per_ug)
            followed = bool(d.loading_after.match(after)) and any(
                y.start > x.ext_end and y.core_start != x.core_start for y, *_ in rows if y.start < s_end
            )
            if single:
                regimen = "loading" if (followed or x.loading_cue and "loading" in pre.lower()) else "bolus"
            elif label:
                regimen = "loading" if followed or _LOADING.search(pre[-30:]) else "maintenance"
            else:
                regimen = "loading" if _LOADING.search(pre[-30:]) else None
            out.append({
                "start_char": x.start,
                "end_char": x.end,
                "text": text[x.start: x.end],
                "sent_idx": si,
                "compound": compound,
                "amount": x.amount,
                "unit": x.unit,
                "frequency": label,
                "route": route,
                "duration_days": duration,
                "iu_per_day": round(iu / period, 3) if (iu is not None and period) else None,
                "bolus_iu": iu if (iu is not None and single) else None,
                "regimen": regimen,
            })
            span = doc.char_span(x.start, x.end, alignment_mode="expand")
            if span is not None:
                spans.append(span)
        doc._.vdmine_doses = out
        doc.spans[SPAN_KEY] = spans
        return doc

    def _pre_frequency(self, pre: str):
        """A frequency written just before the dose, with only filler words between ('a weekly dose of')."""
        f = find_frequency(pre, first=False)
        if not f:
            return None
        between = pre[f[3]:].lower()
        words = _ALNUM_WORDS.findall(between)
        if all(w in self.d.cues["filler_before_dose"] for w in words):
            return f
        return None

    def _compound(self, doc: Doc, x: _Dose, exp_spans, iu_per_ug: float | None, s_start: int, s_end: int):
        """(compound name, lexicon entry or None) for a dose."""
        d = self.d
        text = doc_text(doc)
        in_sent = [s for s in exp_spans if s.start_char >= s_start and s.end_char <= s_end]
        fill_after = d.cues["filler_compound_after"]
        fill_before = d.cues["filler_compound_before"]
        # 1. an exposure written right after the dose: '4,000 IU of cholecalciferol', '93 mg Ca2+'
        for s in sorted(in_sent, key=lambda s: s.start_char):
            if s.start_char >= x.ext_end:
                gap = text[x.ext_end: s.start_char]
                if self._only(gap, fill_after, allow_freq=True):
                    return s.label_, self._entry(doc, s)
                break
        after_name = self._word_after(text[x.ext_end: min(s_end, x.ext_end + 50)])
        # 2. right before it: 'vitamin D3 (4,000 IU/d)', 'Vit D as 50 000 IU/week' -- unless a list
        #    separator comes between and another substance follows the dose ('vitamin D3, 1000 mg fish oil')
        for s in sorted(in_sent, key=lambda s: -s.end_char):
            if s.end_char <= x.start:
                gap = text[s.end_char: x.start]
                if self._only(gap, fill_before, allow_freq=True, allow_numbers=True) and not (after_name and _LIST_SEP.search(gap)):
                    return s.label_, self._entry(doc, s)
                break
        # 3. another substance named next to it: '200 mg HMWHA', 'denosumab 60 mg', 'ramipril at 10 mg/d'
        name = after_name or self._word_before(text[max(s_start, x.start - 50): x.start])
        if name:
            return name, None
        # 4. the nearest exposure in the sentence (a weak guess: not for a dose no vitamin D dose could be)
        if in_sent:
            s = min(in_sent, key=lambda s: min(abs(s.start_char - x.end), abs(x.start - s.end_char)))
            entry = self._entry(doc, s)
            if not self._implausible_vitamin_d(x, entry, iu_per_ug):
                return s.label_, entry
            return None, None
        # 5. IU / ug doses with no compound in the sentence: the last form mentioned before
        if x.unit in {"IU", "ug"}:
            before = [s for s in exp_spans if s.end_char <= x.start and (s._.vdmine_exposure or {}).get("kind") == "form"]
            if before:
                entry = self._entry(doc, before[-1])
                if not self._implausible_vitamin_d(x, entry, iu_per_ug):
                    return before[-1].label_, entry
        return None, None

    def _implausible_vitamin_d(self, x: _Dose, entry: dict | None, iu_per_ug: float | None) -> bool:
        """A vitamin D form given this dose would exceed the largest dose ever given at once."""
        iu = _dose_iu(x, entry, iu_per_ug)
        return iu is not None and iu > self.d.max_vitamin_d_iu

    def _only(self, gap: str, allowed: set, allow_freq: bool = False, allow_numbers: bool = False) -> bool:
        g = gap
        if allow_freq:
            f = find_frequency(g)
            while f:
                g = g[: f[2]] + " " + g[f[3]:]
                f = find_frequency(g)
        if len(g) > 40:
            return False
        for w in self.d.word.findall(g.lower()):
            if w in allowed or (allow_numbers and _DIGITS.fullmatch(w)):
                continue
            return False
        return True

    _SALTS = {"carbonate", "citrate", "sulfate", "sulphate", "oxide", "acetate", "valerate", "chloride", "lactate",
              "gluconate", "hydrochloride", "sodium", "potassium", "phosphate", "bicarbonate"}

    def _word_after(self, after: str) -> str | None:
        """Up to three words after the dose that are not stop/context words: '200 mg HMWHA', 'of vitamin K2'."""
        m = _AFTER_LEAD.match(after)
        words = []
        for w in _AFTER_TOKENS.finditer(after, m.end()):
            tok = w.group().rstrip(".:")
            if tok in {",", ";", "(", ")", "[", "]"} or not _LETTER.match(tok):
                break
            if tok.lower() in self.d.cues["not_compound"] or not _LETTER.search(tok) or len(words) == 3:
                break
            words.append(tok)
            if w.group().endswith((".", ":")):
                break
        if not words or len(words[0]) < 2:
            return None
        return " ".join(words)

    def _word_before(self, pre: str) -> str | None:
        """The word right before the dose: 'denosumab 60 mg', 'ramipril at 10 mg/d', 'magnesium sulphate 30 mg'."""
        m = word_before_match(pre)
        if not m:
            return None
        last = m.group("w")
        if last.lower() in self.d.cues["not_compound"] or len(last) < 3:
            return None
        w0 = m.group("w0")
        if w0 and last.lower() in self._SALTS and w0.lower() not in self.d.cues["not_compound"]:
            return f"{w0} {last}"
        return last

    @staticmethod
    def _entry(doc: Doc, span) -> dict | None:
        lex = _exposures.load_lexicon_for(doc)
        if lex is None:
            return None
        info = span._.vdmine_exposure or {}
        for e in lex.entries:
            if e["canonical"] == span.label_:
                return e
        return {"canonical": span.label_, "kind": info.get("kind")}


@Language.factory("vdmine_doses", default_config={})
def make_doses(nlp: Language, name: str) -> DoseTagger:
    return DoseTagger(nlp)


def rows(doc: Doc, pmid: str, **kwargs) -> list[dict]:
    """``doses`` table rows (see vdmine.store.schemas.DOSES)."""
    found = doc._.vdmine_doses or []
    cols = ("sent_idx", "start_char", "end_char", "text", "compound", "amount", "unit", "frequency", "route",
            "duration_days", "iu_per_day", "bolus_iu", "regimen")
    return [{"pmid": pmid, **{c: r[c] for c in cols}} for r in found]
