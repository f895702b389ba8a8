"""Extraction speed (abstracts/s) and peak memory on the real shared corpus.

    .venv/bin/python benchmarks/bench_extract.py [--records 5000] [--n-process 1] [--batch-size 64] [--disable COMPONENT ...]

Reads every record of shared/corpus (vitd_pain, vitd_other, offtopic: 5,675 real abstracts),
replicated to --records, and runs the full pipeline (all extractors, all tables' rows) over them,
streaming: rows are turned into Arrow tables per chunk and dropped, so the figure is the
extractor's own cost and memory, not the final table merge. ``--disable vdmine_findings --disable
vdmine_mechanisms`` measures extraction I (issue 3: conditions, exposures, doses, design, sample size)
without the later components; the rows of its tables are the same (tests/test_pipeline.py). Peak RSS is this process's maximum
resident set (ru_maxrss); with --n-process > 1 the workers' peak is given separately (ru_maxrss
of the children, which counts pages shared copy-on-write with the parent at fork time). "peak PSS"
is the proportional set size of this process plus its workers, sampled twice a second (Linux,
psutil): the memory the extraction really uses, shared pages counted once.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore")

from vdmine.config import shared_dir  # noqa: E402
from vdmine.nlp.extract import DocRows, extract_records  # noqa: E402
from vdmine.nlp.pipeline import get_pipeline  # noqa: E402
from vdmine.pubmed.sources import iter_jsonl  # noqa: E402
from vdmine.records import Record  # noqa: E402
from vdmine.store.tables import to_table  # noqa: E402


def corpus_records(shared: Path) -> list[Record]:
    recs: list[Record] = []
    for name in ("vitd_pain.jsonl", "vitd_other.jsonl", "offtopic.jsonl"):
        recs += [r for r in iter_jsonl(shared / "corpus" / name) if isinstance(r, Record)]
    return recs


def replicated(recs: list[Record], n: int):
    for i in range(n):
        r = recs[i % len(recs)]
        yield Record(pmid=f"{r.pmid}{'' if i < len(recs) else f'-{i // len(recs)}'}", title=r.title, abstract=r.abstract,
                     pub_types=r.pub_types, source=r.source)


class PssSampler(threading.Thread):
    """Peak total PSS (MiB) of this process and its children, sampled every ``every`` seconds."""

    def __init__(self, every: float = 0.5):
        super().__init__(daemon=True)
        self.every, self.peak, self.stop = every, 0.0, threading.Event()

    def run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self.stop.is_set():
            total = 0
            for p in [me] + me.children(recursive=True):
                try:
                    total += p.memory_full_info().pss
                except (psutil.Error, AttributeError):
                    pass
            self.peak = max(self.peak, total / 2**20)
            self.stop.wait(self.every)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--n-process", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--disable", action="append", default=[], metavar="COMPONENT",
                    help="leave this pipeline component out (repeatable); --disable vdmine_findings --disable "
                         "vdmine_mechanisms measures extraction I alone (conditions, exposures, doses, design, "
                         "sample size: issue 3)")
    args = ap.parse_args(argv)
    shared = shared_dir()
    if shared is None:
        print("needs ../shared (or VDMINE_SHARED)", file=sys.stderr)
        return 1
    recs = corpus_records(shared)
    nlp = get_pipeline()
    for name in args.disable:
        nlp.disable_pipe(name)  # unknown names fail here, with spaCy's list of the pipeline's components
    list(extract_records(nlp, recs[:50]))  # warm-up (lexicon loading, first-call costs)
    counts = {"conditions": 0, "exposures": 0, "doses": 0, "findings": 0, "mechanisms": 0, "delivery": 0}
    chunk: dict[str, list] = {k: [] for k in counts}
    sampler = PssSampler()
    sampler.start()
    t = time.perf_counter()
    cpu = time.process_time()
    n = 0
    for out in extract_records(nlp, replicated(recs, args.records), batch_size=args.batch_size, n_process=args.n_process):
        n += 1
        if isinstance(out, DocRows):
            for k in counts:
                rows = getattr(out, k)
                counts[k] += len(rows)
                chunk[k] += rows
        if n % 1000 == 0:
            for k in counts:
                to_table(k, chunk[k])
                chunk[k] = []
    dt = time.perf_counter() - t
    cpu = time.process_time() - cpu
    sampler.stop.set()
    sampler.join()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"extract: {n} abstracts in {dt:.1f}s = {n / dt:,.0f} abstracts/s (n_process={args.n_process}, "
          f"batch={args.batch_size}, components: {', '.join(nlp.pipe_names)}); this process's CPU {cpu:.1f}s = {n / cpu:,.0f} abstracts per CPU-second; peak RSS {rss:,.0f} MiB (children {child:,.0f} MiB); "
          f"peak PSS incl. workers {sampler.peak:,.0f} MiB; rows {counts}; "
          f"{platform.machine()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
