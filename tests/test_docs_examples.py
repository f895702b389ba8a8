"""Every Python block of docs/evidence_map.md runs against a small real output folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evidence_testdata import make_tables, write_out_dir
from vdmine.evidence.map import build_and_write_evidence_map

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
DOC = Path(__file__).resolve().parent.parent / "docs" / "evidence_map.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def out(corpus, tmp_path_factory) -> Path:
    from vdmine.store.dataset import Store
    from vdmine.store.schemas import TABLES

    d = write_out_dir(tmp_path_factory.mktemp("docs") / "out", make_tables(corpus))
    # the remaining tables as a real run leaves them (empty here), so every table in the doc exists
    Store(d).commit({n: TABLES[n].empty_table() for n in ("conditions", "exposures", "quarantine", "runs")})
    build_and_write_evidence_map(d)
    return d


def test_doc_has_examples_for_each_library():
    text = "\n".join(_blocks())
    assert "import pandas" in text and "import duckdb" in text and "import polars" in text
    assert len(_blocks()) == 4


@pytest.mark.parametrize("index", range(1, 4), ids=["pandas", "duckdb", "polars"])
def test_doc_example_runs(out, index, capsys):
    setup, block = _blocks()[0], _blocks()[index]
    assert re.search(r'^OUT = ".*"$', setup, flags=re.M)
    setup = re.sub(r'^OUT = ".*"$', f"OUT = {str(out)!r}", setup, flags=re.M)
    namespace: dict = {}
    exec(compile(setup, str(DOC), "exec"), namespace)
    exec(compile(block, str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out
    # the examples print real rows of the small folder
    assert "knee osteoarthritis" in printed or "vdw:327" in printed or "musculoskeletal pain" in printed
