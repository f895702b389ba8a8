"""Record sources: PubMed XML files and JSONL records (the schema of ``shared/corpus/*.jsonl``).

A source is just an iterator of :class:`Record`, :class:`Deletion` or :class:`Quarantined`.
Paths are resolved once up front so that a missing or unsupported input fails before any work
starts (one clear error), while a bad *line* or *record* inside a file is quarantined and the run
goes on.

An input is a local path or a URL (``s3://bucket/baseline/``, ``gs://...``, ``https://...``,
``memory://...``): URLs are listed and opened with fsspec, so baseline files can be read straight
from object storage once the protocol's fsspec package (s3fs, gcsfs, ...) is installed.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from vdmine.errors import VdmineError
from vdmine.pubmed.xml import Item, gzip_reader, iter_pubmed_xml
from vdmine.records import MeshHeading, Quarantined, Record, Section

XML_SUFFIXES = (".xml", ".xml.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")


Input = Path | str  # a local path, or a URL string


def is_url(raw: str | Path) -> bool:
    return isinstance(raw, str) and "://" in raw


def _name(f: Input) -> str:
    return f.rstrip("/").rsplit("/", 1)[-1] if isinstance(f, str) else f.name


def _kind(path: Input) -> str | None:
    name = _name(path).lower()
    if name.endswith(XML_SUFFIXES):
        return "xml"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def _resolve_url(url: str) -> list[str]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
        if fs.isdir(root):
            return sorted(fs.unstrip_protocol(f) for f in fs.find(root) if _kind(f))
        if not fs.exists(root):
            raise VdmineError("E010", path=url)
    except (ImportError, ValueError) as exc:  # no fsspec driver installed for this protocol
        raise VdmineError("E013", path=url, detail=exc) from None
    except OSError as exc:
        raise VdmineError("E011", path=url, detail=exc) from None
    if _kind(url) is None:
        raise VdmineError("E012", path=url)
    return [url]


def resolve_inputs(paths: Iterable[str | Path]) -> list[Input]:
    """Expand folders (sorted, recursive) and check every file exists and is readable."""
    files: list[Input] = []
    for raw in paths:
        if is_url(raw):
            files.extend(_resolve_url(str(raw)))
            continue
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


@contextmanager
def open_input(f: Input) -> Iterator[IO[bytes]]:
    """A binary stream of the file's content, decompressed when its name ends in .gz."""
    if is_url(f):
        import fsspec

        raw = fsspec.open(str(f), "rb").open()
    else:
        raw = open(f, "rb")
    try:
        yield gzip_reader(raw) if _name(f).endswith(".gz") else raw
    finally:
        raw.close()


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


def iter_jsonl(path: Input) -> Iterator[Record | Quarantined]:
    """Stream records from a JSONL file; bad lines (not UTF-8, not JSON, no pmid) are quarantined."""
    label = f"jsonl:{_name(path)}"
    with open_input(path if is_url(path) else Path(path)) as fh:
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


def iter_files(files: Iterable[Input]) -> Iterator[Item]:
    """Records from already-resolved files (paths or URLs), in order."""
    for f in files:
        if _kind(f) == "xml":
            with open_input(f) as fh:
                yield from iter_pubmed_xml(fh, name=f"xml:{_name(f)}")
        else:
            yield from iter_jsonl(f)


def spool(items: Iterable[Item], path: Path) -> int:
    """Write parsed items to ``path`` as a stream of pickles (atomically); returns how many.

    Lets one task per input file parse in parallel (on Dask workers) while the run reads the
    results back in input order, far faster than parsing XML again."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    n = 0
    with open(tmp, "wb") as fh:
        for item in items:
            pickle.dump(item, fh, protocol=pickle.HIGHEST_PROTOCOL)
            n += 1
    os.replace(tmp, path)
    return n


def iter_spooled(path: Path) -> Iterator[Item]:
    """The items :func:`spool` wrote, in order."""
    with open(path, "rb") as fh:
        while True:
            try:
                yield pickle.load(fh)
            except EOFError:
                return
