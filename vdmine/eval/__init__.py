"""Evaluations of vdmine's extractors against the public gold benchmarks in ``../shared/bench``.

Each module exposes ``main(argv) -> int`` (wired as ``vdmine eval <name>``) and reads the
benchmarks at run time from :func:`vdmine.config.shared_dir`; nothing from the benchmarks is
shipped with the package.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from vdmine.config import shared_dir


def bench_root() -> Path | None:
    """The shared folder holding ``bench/`` for an evaluator, quieting spaCy's warning noise;
    None (after one line on stderr) when it is absent."""
    shared = shared_dir()
    if shared is None or not (shared / "bench").is_dir():
        print("needs ../shared/bench (set VDMINE_SHARED)", file=sys.stderr)
        return None
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*W036.*")
    return shared
