"""Local record sources: PubMed XML files and JSONL records (the schema of ``shared/corpus/*.jsonl``).

A source is just an iterator of :class:`Record`, :class:`Deletion` or :class:`Quarantined`.
Paths are resolved once up front so that a missing or unsupported input fails before any work
starts (one clear error), while a bad *line* or *record* inside a file is quarantined and the run
goes on.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from vdmine.errors import VdmineError
from vdmine.pubmed.xml import Item, iter_pubmed_xml
from vdmine.records import MeshHeading, Quarantined, Record, Section

XML_SUFFIXES = (".xml", ".xml.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(XML_SUFFIXES):
        return "xml"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def resolve_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders (sorted, recursive) and check every file exists and is readable."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise VdmineError("E010", path=p)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _kind(f))
            files.extend(found)
            continue
        if _kind(p) is None:
            raise VdmineError("E012", path=p)
        if not os.access(p, os.R_OK):
            raise VdmineError("E011", path=p, detail="permission denied")
        files.append(p)
    return files


def _str_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and str(v).strip()]
    if isinstance(value, str) and value.strip():
        return [value]
    return []


def record_from_json(obj: dict, source: str) -> Record:
    """Map one JSONL object to a Record. Raises ValueError when it has no usable id."""
    if not isinstance(obj, dict):
        raise ValueError("line is not a JSON object")
    pmid = obj.get("pmid")
    if pmid is None or not str(pmid).strip():
        raise ValueError("record has no 'pmid'")
    year = obj.get("year")
    try:
        year = int(year) if year not in (None, "") else None
    except (TypeError, ValueError):
        year = None
    mesh: list[MeshHeading] = []
    detail = obj.get("mesh_detail")
    if isinstance(detail, list) and detail:
        for d in detail:
            if isinstance(d, dict) and d.get("descriptor_name", d.get("name")):
                mesh.append(MeshHeading(d.get("descriptor_ui", d.get("ui")), str(d.get("descriptor_name", d.get("name"))),
                                        str(d.get("major_topic", d.get("MajorTopicYN", ""))) in ("Y", "True", "true")))
    if not mesh:
        mesh = [MeshHeading(None, m) for m in _str_list(obj.get("mesh"))]
    sections = []
    for s in obj.get("abstract_sections") or []:
        if isinstance(s, dict) and s.get("text"):
            sections.append(Section(s.get("label"), s.get("nlm_category"), str(s["text"])))
    language = obj.get("language")
    return Record(
        pmid=str(pmid).strip(),
        version=int(obj.get("version") or 1),
        title=str(obj.get("title") or ""),
        abstract=str(obj.get("abstract") or ""),
        sections=sections,
        journal=obj.get("journal") or None,
        year=year,
        language=";".join(language) if isinstance(language, list) else (language or None),
        pub_types=_str_list(obj.get("pub_types")),
        mesh=mesh,
        keywords=_str_list(obj.get("keywords")),
        doi=obj.get("doi") or None,
        pmcid=obj.get("pmcid") or None,
        source=source,
    )


def iter_jsonl(path: str | Path) -> Iterator[Record | Quarantined]:
    """Stream records from a JSONL file; bad lines (not UTF-8, not JSON, no pmid) are quarantined."""
    path = Path(path)
    label = f"jsonl:{path.name}"
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{label}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Quarantined(None, where, "input", f"line is not valid UTF-8: {exc}", raw[:500].decode("utf-8", "replace"))
                continue
            try:
                yield record_from_json(json.loads(line), label)
            except (json.JSONDecodeError, ValueError, TypeError) as exc:
                rid = None
                try:
                    rid = str(json.loads(line).get("pmid"))
                except Exception:
                    pass
                yield Quarantined(rid, where, "input", f"{type(exc).__name__}: {exc}", line[:500])


def iter_files(files: Iterable[Path]) -> Iterator[Item]:
    """Records from already-resolved files, in order."""
    for f in files:
        if _kind(f) == "xml":
            yield from iter_pubmed_xml(f)
        else:
            yield from iter_jsonl(f)
