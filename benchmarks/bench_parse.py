"""PubMed XML parse speed (records/s) on the real shared XML files, replicated to N records.

    .venv/bin/python benchmarks/bench_parse.py [--records 50000]

The real files are concatenated in memory (records re-wrapped in one PubmedArticleSet) until N
records, then parsed from a gzip file on disk, as a baseline file would be. Prints wall-clock and
CPU-time rates (CPU time is the steadier figure when other work shares the machine).
"""

from __future__ import annotations

import argparse
import gzip
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vdmine.config import shared_dir  # noqa: E402
from vdmine.pubmed.xml import iter_pubmed_xml  # noqa: E402
from vdmine.records import Record  # noqa: E402


def articles(shared: Path) -> list[bytes]:
    out = []
    for f in sorted((shared / "corpus" / "pubmed_xml").glob("*.xml*")):
        data = gzip.open(f).read() if f.name.endswith(".gz") else f.read_bytes()
        found = re.findall(rb"<PubmedArticle>.*?</PubmedArticle>", data, re.S)
        if not found:
            found = [b"<PubmedArticle>" + m + b"</PubmedArticle>" for m in re.findall(rb"<MedlineCitation .*?</MedlineCitation>", data, re.S)]
        out += found
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=50_000)
    args = ap.parse_args(argv)
    shared = shared_dir()
    if shared is None:
        print("needs ../shared (or VDMINE_SHARED)", file=sys.stderr)
        return 1
    arts = articles(shared)
    reps = -(-args.records // len(arts))
    body = b"\n".join((arts * reps)[: args.records])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.xml.gz"
        with gzip.open(path, "wb", compresslevel=6) as fh:
            fh.write(b'<?xml version="1.0"?>\n<PubmedArticleSet>\n' + body + b"\n</PubmedArticleSet>\n")
        t, c = time.perf_counter(), time.process_time()
        n = sum(isinstance(i, Record) for i in iter_pubmed_xml(path))
        dt, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"parse: {n} records in {dt:.2f}s = {n / dt:,.0f} records/s wall, {n / cpu:,.0f} records/CPU-s "
          f"({len(arts)} distinct real records replicated; {platform.processor() or platform.machine()}, Python {platform.python_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
