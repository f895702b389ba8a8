"""Peak memory and speed of a whole `vdmine extract` job (extract + commit), by corpus size.

    .venv/bin/python benchmarks/bench_run_memory.py --records 5000 [--again] [--code DIR]

Builds a JSONL of --records records from the real shared corpus (vitd_pain, vitd_other,
offtopic: 5,675 abstracts), replicated with distinct numeric pmids drawn over the real PubMed id
range (1..41,000,000, fixed seed), so the tables' pmid partitions look like real ones. Then runs the
job of `vdmine extract --input FILE --out OUT` (the same steps the Prefect flow calls, in-process,
without Prefect and without the report) into a fresh output folder, in a fresh child process,
and prints wall time, CPU time, records/s and the child's peak RSS (ru_maxrss), also as measured
just before the derived tables (evidence_map, mechanisms, delivery) are built (before their
inputs are read), which is the peak of reading, extracting and merging alone. --again then runs the
job again, in another fresh process, over the same input and output (nothing changed: nothing
should be extracted).
--code runs another checkout of vdmine (e.g. the previous commit from `git archive`), for
before/after comparisons.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("vitd_pain.jsonl", "vitd_other.jsonl", "offtopic.jsonl")


def build_input(shared: Path, n: int, path: Path) -> Path:
    """N records: the corpus lines in order, repeated, each with a new distinct numeric pmid."""
    if path.exists():
        return path
    lines = []
    for name in FILES:
        with open(shared / "corpus" / name, encoding="utf-8") as fh:
            lines += [json.loads(x) for x in fh if x.strip()]
    pmids = random.Random(6).sample(range(1, 41_000_000), n)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for i, pmid in enumerate(pmids):
            obj = dict(lines[i % len(lines)], pmid=str(pmid))
            fh.write(json.dumps(obj) + "\n")
    os.replace(tmp, path)
    return path


# Runs in a fresh child process: the job only, measured from inside.
CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
code, inp, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, code)
from pathlib import Path
import vdmine.run as steps
from vdmine.config import load_config
from vdmine.nlp.pipeline import get_pipeline
from vdmine.pubmed.sources import iter_files
from vdmine.store.dataset import Store

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

cfg = load_config(None)
nlp = get_pipeline(cfg.nlp, cfg.exposure)
marks = {"pipeline_built": peak()}
real_derived = steps.derived_tables
def derived(*a, **k):
    marks["before_derived"] = peak()
    return real_derived(*a, **k)
steps.derived_tables = derived
if hasattr(steps, "_derived_inputs"):  # streaming commit: the derived tables read their inputs themselves
    real_inputs = steps._derived_inputs
    def inputs(*a, **k):
        marks["before_derived"] = peak()
        return real_inputs(*a, **k)
    steps._derived_inputs = inputs
    steps.derived_tables = real_derived

def job():
    store = Store(out)
    summary = steps.new_summary("extract", inp)
    fp = steps.extractor_fingerprint(cfg)
    with store.lock():
        if hasattr(steps, "stage"):  # streaming commit (this change)
            staged = steps.stage(store, cfg, nlp, iter_files([Path(inp)]), fp, show_progress=False)
            summary.found = staged.seen
            return steps.commit(store, staged, summary, fp)
        collected = steps.collect(iter_files([Path(inp)]))  # previous code
        summary.found = collected.seen
        todo, kept = steps.records_to_extract(store, collected, fp)
        docs, failed = steps.extract(nlp, todo, cfg.nlp.batch_size, cfg.nlp.n_process, show_progress=False)
        return steps.commit(store, collected, docs, failed, kept, summary, fp)

t0, c0 = time.perf_counter(), time.process_time()
s = job()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
marks["run"] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "read": s.fetched,
                            "extracted": s.extracted, "new": s.new, "unchanged": s.unchanged,
                "records_per_s": round(s.fetched / wall, 1), "peak_rss_mib": round(peak(), 1)}
print(json.dumps(marks))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--again", action="store_true", help="run the job twice over the same input")
    ap.add_argument("--code", default=str(ROOT), help="checkout of vdmine to run (default: this one)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "vdmine_bench_run_memory"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from vdmine.config import shared_dir

    shared = shared_dir()
    if shared is None or not (shared / "corpus").is_dir():
        print("needs ../shared/corpus (set VDMINE_SHARED)", file=sys.stderr)
        return 2
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    inp = build_input(shared, args.records, work / f"input-{args.records}.jsonl")
    out = work / f"out-{args.records}"
    shutil.rmtree(out, ignore_errors=True)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, code {args.code}")
    print(f"{args.records} records from {inp}")
    for label in ("first run", "second run, same input")[: 2 if args.again else 1]:
        p = subprocess.run([sys.executable, "-c", CHILD, args.code, str(inp), str(out)],
                           capture_output=True, text=True, cwd=args.code)
        if p.returncode != 0:
            print(p.stdout + p.stderr, file=sys.stderr)
            return 1
        print(label, p.stdout.strip().splitlines()[-1], flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
