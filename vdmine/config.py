"""Run configuration: one TOML file per query (see ``configs/vitd_bone_pain.toml``).

Unknown keys are errors (a typo must not silently fall back to a default). Environment variables
override the file where it matters operationally: ``VDMINE_EUTILS_URL`` (E-utilities base URL),
``NCBI_API_KEY`` (never stored in the config, never logged), ``VDMINE_EMAIL``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vdmine.errors import VdmineError

_DATE = re.compile(r"\d{4}(/\d{2}(/\d{2})?)?")
DEFAULT_CONFIG = Path("configs/vitd_bone_pain.toml")
DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"


@dataclass
class QueryConfig:
    """What to look for."""

    name: str = "query"
    question: str = ""
    pubmed: str = ""
    max_records: int = 0  # 0 = no limit
    mindate: str = ""  # YYYY/MM/DD; empty = from the beginning
    maxdate: str = ""
    # Nightly runs fetch records added (edat) or revised (mdat) since the last successful window,
    # re-reading this many days before it so that late-indexed records are not missed.
    overlap_days: int = 3


@dataclass
class ExposureConfig:
    """The exposure vocabulary of this query (vitamin D here; magnesium for a migraine query...)."""

    name: str = "vitamin D"
    # Packaged lexicon name (vdmine/nlp/lexicons/exposures_<name>.jsonl) or a path to a JSONL file.
    lexicon: str = "vitamin_d"
    co_interventions: list[str] = field(default_factory=lambda: ["calcium"])


@dataclass
class EutilsConfig:
    """NCBI E-utilities client settings. The API key comes only from NCBI_API_KEY."""

    base_url: str = DEFAULT_EUTILS_URL
    email: str = ""
    tool: str = "vdmine"
    batch_size: int = 200
    timeout_s: float = 30.0
    connect_timeout_s: float = 3.05
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # ESearch cannot page past retstart 9,998; larger result sets are sliced by date.
    page_limit: int = 9998
    # Preflight: give up on an unreachable endpoint quickly (seconds, not minutes).
    preflight_attempts: int = 2
    # Prefect retries of a whole fetch task, on top of the per-request retries above.
    task_retries: int = 3
    task_retry_delay_s: float = 10.0


@dataclass
class NlpConfig:
    """The spaCy pipeline. Model-free by default; a scispaCy model is an optional upgrade."""

    model: str = ""  # e.g. "en_core_sci_sm" or "en_ner_bc5cdr_md"; "" = spacy.blank("en")
    vocabularies: list[str] = field(default_factory=list)  # MEDIC TSV / MeSH files for other diseases
    batch_size: int = 64
    n_process: int = 1


@dataclass
class ScheduleConfig:
    """When the nightly deployment runs (``vdmine serve``)."""

    cron: str = "30 2 * * *"
    timezone: str = "UTC"


@dataclass
class OutputConfig:
    dir: str = "outputs/vitd_bone_pain"
    report: bool = True
    # An expected-claims file (configs/seed_claims.toml format): the report then checks each claim
    # against the evidence map. A relative path is taken from the config file's folder's parent
    # (the project root for configs/*.toml), else from the working directory.
    claims: str = ""
    # Width of the pmid ranges the tables keyed by pmid are partitioned by (one file per range);
    # 0 = the output's current width, 1,000,000 for a new output. Changing it re-partitions the
    # existing tables at the next run (docs/configuration.md).
    pmid_partition_width: int = 0


@dataclass
class RunConfig:
    """How a run is cut into batches, and where its parallel tasks (extraction chunks) run."""

    task_runner: str = "thread"  # "thread" (this process) or "dask" (a Dask cluster)
    dask_address: str = ""  # scheduler address, e.g. "tcp://10.0.0.5:8786"; "" = start a LocalCluster
    extract_chunk: int = 2000  # records per extraction task on Dask
    # Records read, extracted and staged on disk per batch: a run's memory follows this, not the
    # size of the input or of the store.
    batch_records: int = 2000


@dataclass
class Config:
    query: QueryConfig = field(default_factory=QueryConfig)
    exposure: ExposureConfig = field(default_factory=ExposureConfig)
    eutils: EutilsConfig = field(default_factory=EutilsConfig)
    nlp: NlpConfig = field(default_factory=NlpConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    run: RunConfig = field(default_factory=RunConfig)
    path: str = ""  # where it was loaded from (not a TOML key)

    @property
    def api_key(self) -> str | None:
        """NCBI API key from the environment only, so it never lands in files or parameters."""
        return os.environ.get("NCBI_API_KEY") or None


_SECTIONS = {
    "query": QueryConfig,
    "exposure": ExposureConfig,
    "eutils": EutilsConfig,
    "nlp": NlpConfig,
    "output": OutputConfig,
    "schedule": ScheduleConfig,
    "run": RunConfig,
}


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise VdmineError("E003", key=key, where=where, known=", ".join(sorted(known)))
    kwargs = {}
    for key, value in data.items():
        default = getattr(cls(), key)
        expected = type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise VdmineError("E004", key=f"{where}.{key}", value=value, detail=f"expected {expected.__name__}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise VdmineError("E004", key=f"{where}.{key}", value=value, detail="expected a list of strings")
        kwargs[key] = value
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    e = cfg.eutils
    if e.batch_size < 1 or e.batch_size > 10000:
        raise VdmineError("E004", key="eutils.batch_size", value=e.batch_size, detail="must be 1..10000")
    if e.max_retries < 0:
        raise VdmineError("E004", key="eutils.max_retries", value=e.max_retries, detail="must be >= 0")
    if not (e.base_url.startswith("http://") or e.base_url.startswith("https://")):
        raise VdmineError("E004", key="eutils.base_url", value=e.base_url, detail="must be an http(s) URL")
    if cfg.query.max_records < 0:
        raise VdmineError("E004", key="query.max_records", value=cfg.query.max_records, detail="must be >= 0")
    if cfg.query.overlap_days < 0:
        raise VdmineError("E004", key="query.overlap_days", value=cfg.query.overlap_days, detail="must be >= 0")
    for key in ("mindate", "maxdate"):
        value = getattr(cfg.query, key)
        if value and not _DATE.fullmatch(value):
            raise VdmineError("E004", key=f"query.{key}", value=value, detail="expected YYYY, YYYY/MM or YYYY/MM/DD")
    if len(cfg.schedule.cron.split()) != 5:
        raise VdmineError("E004", key="schedule.cron", value=cfg.schedule.cron, detail="expected 5 cron fields")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(cfg.schedule.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise VdmineError("E004", key="schedule.timezone", value=cfg.schedule.timezone, detail="not an IANA time zone") from None
    if cfg.run.task_runner not in ("thread", "dask"):
        raise VdmineError("E004", key="run.task_runner", value=cfg.run.task_runner, detail='expected "thread" or "dask"')
    if cfg.run.extract_chunk < 1:
        raise VdmineError("E004", key="run.extract_chunk", value=cfg.run.extract_chunk, detail="must be >= 1")
    if cfg.output.claims:
        cfg.output.claims = str(_claims_path(cfg))
    if cfg.output.pmid_partition_width != 0 and not 1000 <= cfg.output.pmid_partition_width <= 1_000_000_000:
        raise VdmineError("E004", key="output.pmid_partition_width", value=cfg.output.pmid_partition_width,
                          detail="must be 0 (keep the output's) or 1000..1000000000")
    if cfg.run.batch_records < 1:
        raise VdmineError("E004", key="run.batch_records", value=cfg.run.batch_records, detail="must be >= 1")
    if cfg.nlp.n_process < 1:
        raise VdmineError("E004", key="nlp.n_process", value=cfg.nlp.n_process, detail="must be >= 1")


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; a missing or invalid file is a coded error (E001, E002)."""
    if not path.is_file():
        raise VdmineError("E001", path=path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VdmineError("E002", path=path, detail=exc) from None


def _claims_path(cfg: Config) -> Path:
    """``[output] claims`` resolved: absolute, or relative to the project root of the config file
    (its folder's parent), else to the working directory; it must exist (E004 otherwise)."""
    p = Path(cfg.output.claims)
    candidates = [p] if p.is_absolute() else ([Path(cfg.path).resolve().parent.parent / p] if cfg.path else []) + [Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return c
    raise VdmineError("E004", key="output.claims", value=cfg.output.claims, detail="file not found")


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a config file; ``None`` gives the built-in defaults."""
    if path is None:
        cfg = Config()
    else:
        p = Path(path)
        data = read_toml(p)
        for key, value in data.items():
            if key not in _SECTIONS:
                raise VdmineError("E003", key=key, where=str(p), known=", ".join(sorted(_SECTIONS)))
            if not isinstance(value, dict):
                raise VdmineError("E004", key=key, value=value, detail="expected a [table]")
        cfg = Config(**{name: _build(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()}, path=str(p))
    env_url = os.environ.get("VDMINE_EUTILS_URL")
    if env_url:
        cfg.eutils.base_url = env_url
    if os.environ.get("VDMINE_EMAIL"):
        cfg.eutils.email = os.environ["VDMINE_EMAIL"]
    _validate(cfg)
    return cfg


def shared_dir() -> Path | None:
    """The shared data folder: $VDMINE_SHARED, else ../shared beside the project root."""
    env = os.environ.get("VDMINE_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent.parent / "shared")
    for c in candidates:
        if c.is_dir():
            return c
    return None
