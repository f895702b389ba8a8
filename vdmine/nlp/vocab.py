"""Condition vocabularies: the packaged curated lexicon and bring-your-own disease vocabularies.

Every loader returns :class:`Term` records (surface string -> canonical name + MeSH id + source)
that :mod:`vdmine.nlp.conditions` turns into PhraseMatcher patterns. Supported files:

* the curated lexicon ``lexicons/conditions.jsonl`` (one concept per line: canonical, mesh_id,
  terms, abbreviations), expanded with spelling and plural variants;
* CTD MEDIC as CTD distributes it (``CTD_diseases.tsv[.gz]``: ``#`` comment header, tab-separated
  DiseaseName, DiseaseID ``MESH:D...``/``OMIM:...``, AltDiseaseIDs, ..., Synonyms);
* the MEDIC flat file ``ID[|altIDs]||Preferred name|synonym|...`` (e.g. ``medic_06Jul2012.txt.gz``);
* a MeSH descriptor/tree table ``mesh_id<TAB>mesh_name<TAB>mesh_tree_number`` (C tree = diseases).

Vocabulary files are parsed once per process per (path, size, mtime).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from vdmine.errors import VdmineError


@dataclass(frozen=True)
class Term:
    """One surface string of a concept."""

    text: str
    canonical: str
    mesh_id: str | None
    source: str  # lexicon | medic | mesh | gazetteer ...
    case_sensitive: bool = False  # abbreviations ("OA", "CKD") match exactly


# --- morphological / spelling variants ------------------------------------------------------------

_SPELLING: tuple[tuple[str, str], ...] | None = None


def _spelling_pairs() -> tuple[tuple[str, str], ...]:
    global _SPELLING
    if _SPELLING is None:
        raw = resources.files("vdmine.nlp").joinpath("lexicons/conditions_spelling.tsv").read_text("utf-8")
        pairs = []
        for line in raw.splitlines():
            if line.strip() and not line.startswith("#"):
                uk, us = line.split("\t")[:2]
                pairs.append((uk.strip(), us.strip()))
        _SPELLING = tuple(pairs)
    return _SPELLING


def _plural(word: str) -> str | None:
    """English plural of a head noun, or None when pluralising would make nonsense."""
    w = word.lower()
    if len(w) < 4 or not w.isalpha() or w.endswith(("s", "ic", "al", "ed", "ing", "ous", "ive", "ary", "emia", "aemia")):
        return None
    if w.endswith("y") and w[-2] not in "aeiou":
        return word[:-1] + "ies"
    if w.endswith(("x", "ch", "sh")):
        return word + "es"
    return word + "s"


def variants(term: str, plural: bool = True) -> set[str]:
    """The term, its UK/US spelling variants and (optionally) the plural of its last word."""
    out = {term}
    low = term.lower()
    for uk, us in _spelling_pairs():
        if uk in low:
            out |= {v.lower().replace(uk, us) for v in list(out)}
        elif us in low:
            out |= {v.lower().replace(us, uk) for v in list(out)}
    if plural:
        for v in list(out):
            head, _, last = v.rpartition(" ")
            p = _plural(last)
            if p:
                out.add(f"{head} {p}" if head else p)
    return out


# --- the packaged curated lexicon -----------------------------------------------------------------


def _read_lexicon_text(name_or_path: str) -> str:
    p = Path(name_or_path)
    if p.suffix == ".jsonl" and p.is_file():
        return p.read_text("utf-8")
    return resources.files("vdmine.nlp").joinpath(f"lexicons/{name_or_path}.jsonl").read_text("utf-8")


@lru_cache(maxsize=4)
def load_lexicon(name_or_path: str = "conditions") -> tuple[Term, ...]:
    """Curated concepts -> terms (with variants); abbreviations become case-sensitive terms."""
    terms: list[Term] = []
    for n, line in enumerate(_read_lexicon_text(name_or_path).splitlines(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        canonical, mesh_id = entry["canonical"], entry.get("mesh_id") or None
        for t in [canonical, *entry.get("terms", [])]:
            for v in variants(t):
                terms.append(Term(v, canonical, mesh_id, "lexicon"))
        for a in entry.get("abbreviations", []):
            terms.append(Term(a, canonical, mesh_id, "lexicon", case_sensitive=True))
    return tuple(terms)


@lru_cache(maxsize=1)
def load_qualifiers() -> frozenset[str]:
    """Clinical qualifiers allowed between a body site and a condition (``lexicons/condition_qualifiers.tsv``)."""
    raw = resources.files("vdmine.nlp").joinpath("lexicons/condition_qualifiers.tsv").read_text("utf-8")
    return frozenset(
        line.split("\t")[0].strip().lower() for line in raw.splitlines() if line.strip() and not line.startswith("#")
    )


def lexicon_concepts(name_or_path: str = "conditions") -> list[dict]:
    """The raw concept entries of the curated lexicon (for tests and docs)."""
    return [json.loads(ln) for ln in _read_lexicon_text(name_or_path).splitlines() if ln.strip()]


# --- bring-your-own vocabularies ------------------------------------------------------------------


def uninvert(name: str) -> str:
    """MeSH-style 'Osteoarthritis, Knee' -> 'Knee Osteoarthritis' (one comma only)."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 2 and parts[1] and not parts[1][0].isdigit():
        return f"{parts[1]} {parts[0]}"
    return name


_ABBREV_RE = re.compile(r"^[A-Z0-9\-/]{1,6}$")


def usable_term(text: str) -> bool:
    """Filter vocabulary synonyms that never occur as such in running text or are too ambiguous.

    Inverted entries ('Deficiencies, Vitamin D'), OMIM qualifiers (';', 'INCLUDED'), very short
    strings and short all-capital strings (gene symbols, abbreviations such as 'OA'; abbreviations
    are resolved per abstract instead).
    """
    t = text.strip()
    if len(t) < 3 or "," in t or ";" in t or "INCLUDED" in t or _ABBREV_RE.match(t):
        return False
    return True


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _mesh_first(ids: list[str]) -> str | None:
    ids = [i.strip() for i in ids if i.strip()]
    for i in ids:
        i2 = i.removeprefix("MESH:")
        if re.fullmatch(r"[CD]\d{6,9}", i2):
            return i2
    for i in ids:
        if i.startswith("OMIM:"):
            return i
        if i.isdigit():
            return f"OMIM:{i}"
    return ids[0] if ids else None


def _terms_for(canonical_raw: str, synonyms: list[str], mesh_id: str | None, source: str) -> list[Term]:
    canonical = uninvert(canonical_raw).lower() if canonical_raw else canonical_raw
    out = []
    for s in [canonical_raw, *synonyms]:
        for cand in {s, uninvert(s)}:
            if usable_term(cand):
                out.append(Term(cand, canonical, mesh_id, source))
    return out


def _parse_medic_flat(lines) -> list[Term]:
    terms: list[Term] = []
    for line in lines:
        line = line.rstrip("\n")
        if "||" not in line:
            continue
        ids, names = line.split("||", 1)
        names = [n for n in names.split("|") if n]
        if not names:
            continue
        terms += _terms_for(names[0], names[1:], _mesh_first(ids.split("|")), "medic")
    return terms


_CTD_DEFAULT = ["DiseaseName", "DiseaseID", "AltDiseaseIDs", "Definition", "ParentIDs", "TreeNumbers",
                "ParentTreeNumbers", "Synonyms", "SlimMappings"]


def _parse_ctd_tsv(lines) -> list[Term]:
    header = list(_CTD_DEFAULT)
    terms: list[Term] = []
    prev_comment = ""
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("#"):
            body = line.lstrip("#").strip()
            if body.startswith("DiseaseName") and "\t" in body:
                header = [h.strip() for h in body.split("\t")]
            elif prev_comment.lower().startswith("fields") and body.startswith("DiseaseName"):
                header = [h.strip() for h in body.split("\t")]
            prev_comment = body
            continue
        if not line.strip():
            continue
        cols = line.split("\t")
        row = dict(zip(header, cols))
        name = row.get("DiseaseName", "")
        ids = [row.get("DiseaseID", "")] + row.get("AltDiseaseIDs", "").split("|")
        synonyms = [s for s in row.get("Synonyms", "").split("|") if s]
        terms += _terms_for(name, synonyms, _mesh_first(ids), "medic")
    return terms


def _parse_mesh_tree(lines) -> list[Term]:
    terms: list[Term] = []
    seen: set[str] = set()
    for line in lines:
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 3 or cols[0] == "mesh_id":
            continue
        mesh_id, name, tree = cols[0], cols[1], cols[2]
        if not tree.startswith("C") or mesh_id in seen:
            continue
        seen.add(mesh_id)
        terms += _terms_for(name, [], mesh_id, "mesh")
    return terms


def _sniff(first_lines: list[str]) -> str:
    data = [ln for ln in first_lines if ln.strip() and not ln.startswith("#")]
    if any(ln.startswith("#") and "DiseaseName" in ln for ln in first_lines) or (
        data and "\t" in data[0] and re.search(r"\t(MESH|OMIM):", data[0])
    ):
        return "ctd"
    if data and data[0].split("\t")[0] == "mesh_id":
        return "mesh"
    if data and "\t" in data[0] and re.fullmatch(r"D\d{6,9}", data[0].split("\t")[0]):
        return "mesh"
    if data and "||" in data[0]:
        return "medic"
    return "unknown"


@lru_cache(maxsize=16)
def _load_cached(path: str, size: int, mtime: float) -> tuple[Term, ...]:
    p = Path(path)
    try:
        with _open_text(p) as fh:
            head = [fh.readline() for _ in range(40)]
            fmt = _sniff(head)
            if fmt == "unknown":
                raise VdmineError("E041", path=p, detail="unrecognised format (expected CTD MEDIC TSV, MEDIC flat file or MeSH tree TSV)")
            lines = [*head, *fh]
    except VdmineError:
        raise
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise VdmineError("E041", path=p, detail=f"{type(exc).__name__}: {exc}") from None
    parser = {"ctd": _parse_ctd_tsv, "medic": _parse_medic_flat, "mesh": _parse_mesh_tree}[fmt]
    return tuple(parser(lines))


def load_vocabulary(path: str | os.PathLike) -> tuple[Term, ...]:
    """Terms of a CTD MEDIC / MEDIC flat / MeSH tree file; raises ``VdmineError('E041')`` if unreadable."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError as exc:
        raise VdmineError("E041", path=p, detail=f"{type(exc).__name__}: {exc.strerror or exc}") from None
    if not p.is_file():
        raise VdmineError("E041", path=p, detail="not a file")
    return _load_cached(str(p.resolve()), st.st_size, st.st_mtime)
