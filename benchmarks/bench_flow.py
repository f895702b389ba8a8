"""End-to-end flow timings: `vdmine run` against the loopback E-utilities server replaying the
149-record on-topic corpus (first run, then a nightly run with nothing new), and `vdmine extract`
on the same records from JSONL. Each command is a fresh process, Prefect start-up included.

    .venv/bin/python benchmarks/bench_flow.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vdmine.config import shared_dir  # noqa: E402
from vdmine.pubmed.replay import ReplayServer, load_state  # noqa: E402


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    lines = p.stdout.strip().splitlines()
    return time.perf_counter() - t, lines[-1] if lines else ""


def main() -> int:
    shared = shared_dir()
    if shared is None:
        print("needs ../shared (or VDMINE_SHARED)", file=sys.stderr)
        return 1
    corpus = shared / "corpus" / "vitd_pain.jsonl"
    vdmine = [str(ROOT / ".venv" / "bin" / "vdmine"), "-q"]
    with tempfile.TemporaryDirectory() as tmp, ReplayServer(load_state([corpus])) as url:
        env = dict(os.environ, VDMINE_EUTILS_URL=url)
        out = Path(tmp) / "run"
        for label in ("run, first (149 records)", "run, nightly, nothing new"):
            secs, line = timed(vdmine + ["run", "--out", str(out)], env)
            print(f"{label}: {secs:.1f}s wall  | {line}")
        secs, line = timed(vdmine + ["extract", "--input", str(corpus), "--out", str(Path(tmp) / "ex")], env)
        print(f"extract, JSONL (149 records): {secs:.1f}s wall  | {line}")
        secs, _ = timed([str(ROOT / ".venv" / "bin" / "python"), "-c", "import prefect, flows.vdmine_flow"], env)
        print(f"import vdmine + prefect only: {secs:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
