"""CPU time of each pipeline component, run alone over the first N real corpus abstracts.

    .venv/bin/python benchmarks/bench_components.py [--docs 1500]

Tokenizes all docs first, then runs each pipe in turn over all of them, then builds the table
rows (``doc_rows``): per-component ms/abstract and the sum. CPU time (``time.process_time``), so
the figure moves less than wall time when other work shares the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_extract import corpus_records  # noqa: E402
from vdmine.config import load_config, shared_dir  # noqa: E402
from vdmine.nlp.extract import doc_rows  # noqa: E402
from vdmine.nlp.pipeline import get_pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1500)
    args = ap.parse_args(argv)
    shared = shared_dir()
    if shared is None:
        print("needs ../shared (or VDMINE_SHARED)", file=sys.stderr)
        return 1
    recs = corpus_records(shared)[: args.docs]
    n = len(recs)
    cfg = load_config(ROOT / "configs" / "vitd_bone_pain.toml")
    nlp = get_pipeline(cfg.nlp, cfg.exposure)
    total = 0.0

    def line(name: str, dt: float) -> None:
        print(f"{name:30s} {n / dt:9,.0f}/s  {dt / n * 1000:.3f} ms")

    t = time.process_time()
    docs = [nlp.make_doc(r.text) for r in recs]
    dt = time.process_time() - t
    total += dt
    line("tokenizer", dt)
    for name, proc in nlp.pipeline:
        t = time.process_time()
        docs = [proc(d) for d in docs]
        dt = time.process_time() - t
        total += dt
        line(name, dt)
    t = time.process_time()
    for d, r in zip(docs, recs):
        doc_rows(d, r)
    dt = time.process_time() - t
    total += dt
    line("doc_rows", dt)
    print(f"{'TOTAL':30s} {n / total:9,.0f}/s  {total / n * 1000:.3f} ms  ({n} abstracts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
