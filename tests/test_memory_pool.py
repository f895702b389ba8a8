"""vdmine makes the system allocator Arrow's default memory pool, unless the user chose one.

Arrow reads ``ARROW_DEFAULT_MEMORY_POOL`` once, when pyarrow is first imported; each case runs in
a fresh interpreter for that reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# what a run sees: vdmine imported, then the run's own switch (vdmine.run.use_system_memory_pool)
PROBE = ("import vdmine.run, pyarrow; vdmine.run.use_system_memory_pool(); "
         "print(pyarrow.default_memory_pool().backend_name)")


def _backend(env_value: str | None, before: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_value is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_value
    p = subprocess.run([sys.executable, "-c", before + PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_importing_vdmine_before_pyarrow_gives_arrow_the_system_allocator():
    assert _backend(None) == "system"


def test_pyarrow_imported_first_still_gets_the_system_pool_for_the_run():
    assert _backend(None, before="import pyarrow; ") == "system"


@pytest.mark.parametrize("chosen", ["mimalloc", "jemalloc"])
def test_a_pool_chosen_in_the_environment_wins(chosen):
    import pyarrow as pa

    try:
        {"mimalloc": pa.mimalloc_memory_pool, "jemalloc": pa.jemalloc_memory_pool}[chosen]()
    except NotImplementedError:
        pytest.skip(f"this pyarrow build has no {chosen} allocator")
    assert _backend(chosen) == chosen
