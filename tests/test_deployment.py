"""The nightly deployment on a persistent local Prefect server: schedule, rate limit, a real run.

Starts ``prefect server start`` on a free loopback port (as an operator would), then ``vdmine
serve`` against it, then triggers a run of the deployment that fetches from the loopback
E-utilities server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def test_nightly_deployment_registers_schedule_and_runs(tmp_path, replay):
    server, eutils_url = replay
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api,
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", VDMINE_EUTILS_URL=eutils_url,
               PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_API_HOST="127.0.0.1", PREFECT_SERVER_API_PORT=str(port))
    out = tmp_path / "out"
    cfg = tmp_path / "nightly.toml"
    cfg.write_text('[query]\nname = "nightlytest"\npubmed = "vitamin d AND pain"\n'
                   f'[output]\ndir = "{out}"\nreport = false\n[schedule]\ncron = "15 3 * * *"\ntimezone = "Europe/Berlin"\n')
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                      env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(f"{api}/health", 120)
        procs.append(subprocess.Popen([sys.executable, "-m", "vdmine.cli", "serve", "--config", str(cfg)],
                                      env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api}):
            with get_client(sync_client=True) as client:
                deadline = time.monotonic() + 120
                deployment = None
                while deployment is None and time.monotonic() < deadline:
                    try:
                        deployment = client.read_deployment_by_name("vdmine-run/nightly-nightlytest")
                    except Exception:
                        time.sleep(1)
                if deployment is None:
                    procs[-1].terminate()
                    pytest.fail("deployment was not registered; vdmine serve said: " + procs[-1].communicate(timeout=20)[1].decode()[-2000:])
                sched = deployment.schedules[0].schedule
                assert sched.cron == "15 3 * * *" and sched.timezone == "Europe/Berlin"
                limit = client.read_global_concurrency_limit_by_name("ncbi-eutils")
                assert limit.limit == 3 and limit.slot_decay_per_second == 3
                from prefect.deployments import run_deployment

                run = run_deployment("vdmine-run/nightly-nightlytest", timeout=240)
                assert run.state.is_completed(), run.state
        papers = pq.read_table(out / "papers")
        assert papers.num_rows == len(server.state.records)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
