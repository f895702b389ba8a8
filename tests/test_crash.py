"""kill -9 at any moment of a commit leaves the previous, consistent tables; the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vdmine.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
TABLES = ("papers", "conditions", "exposures", "doses", "findings", "evidence_map", "runs")

# Runs `vdmine extract` in a child that dies like `kill -9` (os._exit, no cleanup, lock left behind)
# right after the N-th file rename of the commit: inside a partition write, between tables, or
# just before the snapshot switch.
CHILD = textwrap.dedent("""
    import os, sys
    import vdmine.store.dataset as ds
    count = {"n": 0}
    class DyingOs:  # the store's view of `os`: every rename counts, the N-th one is the last
        def __getattr__(self, name):
            return getattr(os, name)
        def replace(self, a, b):
            os.replace(a, b)
            count["n"] += 1
            if count["n"] == int(sys.argv[1]):
                os._exit(137)
    ds.os = DyingOs()
    from vdmine.cli import main
    sys.exit(main(["-q", "extract", "--input", *sys.argv[3:], "--out", sys.argv[2]]))
""")


def _snapshot(out: Path) -> dict:
    return {t: pq.read_table(out / t) for t in TABLES}


def _consistent(tables: dict) -> None:
    pmids = set(tables["papers"].column("pmid").to_pylist())
    assert len(pmids) == tables["papers"].num_rows
    for t in ("conditions", "exposures", "doses", "findings"):
        assert set(tables[t].column("pmid").to_pylist()) <= pmids, t
    emap_pmids = {p for row in tables["evidence_map"].column("pmids").to_pylist() for p in row}
    assert emap_pmids <= set(tables["findings"].column("pmid").to_pylist())


def test_kill_during_commit_keeps_previous_tables(tmp_path, corpus):
    out = tmp_path / "out"
    first, second = corpus / "vitd_pain.jsonl", corpus / "vitd_other.jsonl"
    assert main(["-q", "extract", "--input", str(first), "--out", str(out)]) == 0
    before = _snapshot(out)
    _consistent(before)
    for n in (1, 3, 8, 14):
        log = tmp_path / f"child-{n}.log"
        with open(log, "w") as fh:
            p = subprocess.Popen([sys.executable, "-c", CHILD, str(n), str(out), str(first), str(second)],
                                 cwd=ROOT, stdout=fh, stderr=fh, start_new_session=True)
            try:
                rc = p.wait(timeout=300)
            finally:  # the dead run's Prefect server child must not outlive it
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        assert rc == 137, log.read_text()[-2000:]
        now = _snapshot(out)
        _consistent(now)
        assert now["papers"].num_rows in (149, 149 + 282)
        if now["papers"].num_rows == 149:  # not yet switched: exactly the previous tables
            for t in TABLES:
                assert now[t].equals(before[t]), t
    # The next run takes over the dead run's lock and completes the work.
    assert main(["-q", "extract", "--input", str(first), str(second), "--out", str(out)]) == 0
    final = _snapshot(out)
    _consistent(final)
    assert final["papers"].num_rows == 149 + 282
