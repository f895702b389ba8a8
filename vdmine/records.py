"""The in-memory shape of one bibliographic record, whatever its source.

Every source (E-utilities, PubMed XML files, JSONL) yields :class:`Record`; parsers that find a
``DeleteCitation`` yield :class:`Deletion`; anything that cannot be turned into a record becomes a
:class:`Quarantined` item instead of an exception, so one bad record never stops a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    label: str | None
    nlm_category: str | None
    text: str


@dataclass(frozen=True)
class MeshHeading:
    ui: str | None
    name: str
    major_topic: bool = False


@dataclass
class Record:
    pmid: str
    title: str = ""
    abstract: str = ""
    version: int = 1
    sections: list[Section] = field(default_factory=list)
    journal: str | None = None
    year: int | None = None
    language: str | None = None
    pub_types: list[str] = field(default_factory=list)
    mesh: list[MeshHeading] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    doi: str | None = None
    pmcid: str | None = None
    source: str = ""

    @property
    def text(self) -> str:
        """Title and abstract as one text, the unit the NLP pipeline reads (title is sentence 0)."""
        if self.title and self.abstract:
            return f"{self.title}\n{self.abstract}"
        return self.title or self.abstract


@dataclass(frozen=True)
class Deletion:
    """A ``DeleteCitation`` entry from a PubMed update file: these pmids must leave the tables."""

    pmid: str
    source: str


@dataclass(frozen=True)
class Quarantined:
    """An input item that could not be parsed; it becomes a row of the ``quarantine`` table."""

    record_id: str | None
    source: str
    stage: str
    reason: str
    snippet: str = ""
