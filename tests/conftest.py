"""Shared fixtures: the ../shared data folder, a loopback E-utilities server, quiet Prefect."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Prefect: local ephemeral server, project-local home, no telemetry, patient start-up.
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("NCBI_API_KEY", None)
os.environ.pop("VDMINE_EUTILS_URL", None)
warnings.filterwarnings("ignore", category=FutureWarning)


def _shared() -> Path | None:
    from vdmine.config import shared_dir

    return shared_dir()


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder; tests that need it skip with a clear reason when it is absent."""
    path = _shared()
    if path is None or not (path / "corpus").is_dir():
        pytest.skip("needs the shared data folder ../shared (or set VDMINE_SHARED) with corpus/ and bench/")
    return path


@pytest.fixture(scope="session")
def corpus(shared: Path) -> Path:
    return shared / "corpus"


@pytest.fixture(scope="session")
def corpus_texts(corpus: Path) -> list[str]:
    """Title + newline + abstract of every record in every corpus JSONL (the extractor's text)."""
    import json

    texts = []
    for path in sorted(corpus.glob("*.jsonl")) + sorted((corpus / "secondary").glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            r = json.loads(line)
            texts.append((r.get("title") or "") + "\n" + (r.get("abstract") or ""))
    return texts


@pytest.fixture()
def replay(corpus: Path):
    """A loopback E-utilities server replaying the 149 on-topic records plus one real XML file."""
    from vdmine.pubmed.replay import ReplayServer, load_state

    state = load_state([corpus / "vitd_pain.jsonl", corpus / "pubmed_xml" / "xizhou_pubMR__pubmed_result.xml.gz"])
    server = ReplayServer(state)
    url = server.start()
    try:
        yield server, url
    finally:
        server.stop()


@pytest.fixture()
def fast_eutils(replay):
    """An E-utilities config pointing at the replay server, with short waits for tests."""
    from vdmine.config import EutilsConfig

    server, url = replay
    return EutilsConfig(base_url=url, backoff_base_s=0.01, backoff_max_s=2.0, timeout_s=2.0, connect_timeout_s=1.0)
