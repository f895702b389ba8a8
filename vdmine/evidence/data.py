"""Load the evidence package's data files (rules, hierarchy, families) once.

Everything that is a judgement call (weights, thresholds, which names group together) lives in
the TSV/TOML files beside this module so it can be read, reviewed and changed without touching
code. (The mechanism and delivery cue words are extraction lexicons: vdmine/nlp/lexicons/.)
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


def _text(name: str) -> str:
    return resources.files("vdmine.evidence").joinpath(name).read_text(encoding="utf-8")


def _tsv(name: str) -> list[list[str]]:
    rows = []
    for line in _text(name).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        rows.append(line.split("\t"))
    return rows


@lru_cache(maxsize=1)
def rules() -> dict:
    """The verdict rules (verdict_rules.toml)."""
    return tomllib.loads(_text("verdict_rules.toml"))


@lru_cache(maxsize=1)
def report_settings() -> dict:
    """Report layout: section cut-off, row and quote limits (report.toml)."""
    return tomllib.loads(_text("report.toml"))


@dataclass(frozen=True)
class Hierarchy:
    parent: dict[str, str]
    section: frozenset[str]

    def ancestors(self, name: str) -> list[str]:
        """name itself, then its parent, grandparent ... (lower-cased; cycles stop)."""
        out = [name.lower()]
        while out[-1] in self.parent and self.parent[out[-1]] not in out:
            out.append(self.parent[out[-1]])
        return out

    def group(self, name: str) -> str:
        """The report section a condition belongs to: nearest ancestor-or-self marked section."""
        chain = self.ancestors(name)
        for node in chain:
            if node in self.section:
                return name if node == chain[0] else node
        return name


@lru_cache(maxsize=1)
def hierarchy() -> Hierarchy:
    parent: dict[str, str] = {}
    section: set[str] = set()
    for row in _tsv("condition_hierarchy.tsv"):
        child, par = row[0].strip().lower(), row[1].strip().lower()
        parent[child] = par
        if len(row) > 2 and row[2].strip() == "yes":
            section.add(child)
    return Hierarchy(parent, frozenset(section))


@dataclass(frozen=True)
class FamilyLine:
    kind: str
    family: str
    pattern: re.Pattern
    polarity: int


@lru_cache(maxsize=1)
def families() -> tuple[FamilyLine, ...]:
    out = []
    for row in _tsv("families.tsv"):
        kind, family, pattern, polarity = row[0], row[1], row[2], int(row[3])
        out.append(FamilyLine(kind, family.lower(), re.compile(pattern), polarity))
    return tuple(out)


@lru_cache(maxsize=4096)
def membership(kind: str, name: str) -> dict[str, int]:
    """Families a name belongs to, with its polarity in each (first matching line per family)."""
    low = (name or "").strip().lower()
    out: dict[str, int] = {}
    for line in families():
        if line.kind == kind and line.family not in out and line.pattern.fullmatch(low):
            out[line.family] = line.polarity
    if kind == "exposure" or kind == "outcome":
        out.setdefault(low, 1)  # every name is a family of itself
    return out


@lru_cache(maxsize=1)
def _lexicon_outcome_polarity() -> dict[str, int]:
    """Polarity of the canonical outcomes the findings extractor writes (nlp/lexicons/outcomes.jsonl)."""
    import json

    sign = {"higher_better": 1, "higher_worse": -1, "neutral": 0}
    out: dict[str, int] = {}
    try:
        text = resources.files("vdmine.nlp").joinpath("lexicons/outcomes.jsonl").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return out
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("canonical") and entry.get("polarity") in sign:
            out[entry["canonical"].strip().lower()] = sign[entry["polarity"]]
    return out


@lru_cache(maxsize=4096)
def outcome_polarity(outcome: str) -> int:
    """+1 higher is better, -1 lower is better, 0 unknown.

    The outcomes lexicon of the findings extractor decides for its canonical names; other names
    take the first matching outcome line of families.tsv.
    """
    low = (outcome or "").strip().lower()
    lex = _lexicon_outcome_polarity()
    if low in lex:
        return lex[low]
    for line in families():
        if line.kind == "outcome" and line.pattern.fullmatch(low):
            return line.polarity
    if low in _condition_names() or low in hierarchy().parent:
        return -1  # a disease named as the outcome ("deficiency was associated with osteomalacia")
    return 0


@lru_cache(maxsize=1)
def _condition_names() -> frozenset[str]:
    """Canonical condition names of the conditions lexicon (nlp/lexicons/conditions.jsonl)."""
    import json

    try:
        text = resources.files("vdmine.nlp").joinpath("lexicons/conditions.jsonl").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return frozenset()
    names = set()
    for line in text.splitlines():
        if line.strip():
            entry = json.loads(line)
            if entry.get("canonical"):
                names.add(entry["canonical"].strip().lower())
    return frozenset(names)


def exposure_polarity(exposure: str) -> int:
    """-1 when the exposure means less vitamin D (deficiency), else +1."""
    return membership("exposure", exposure).get("vitamin d level", 1)


def pmid_key(pmid: str) -> tuple:
    """Natural sort key: numeric PubMed ids by value, then other ids (vdw:12) naturally."""
    if pmid.isdigit():
        return (0, int(pmid), "")
    m = re.fullmatch(r"(.*?)(\d+)", pmid)
    if m:
        return (1, m.group(1), int(m.group(2)))
    return (2, pmid, 0)
