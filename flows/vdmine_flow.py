"""Prefect flows of vdmine: thin wiring of the plain functions in ``vdmine``.

``pubmed_flow``: ESearch (history server, date-sliced past the paging limit) -> EFetch batches,
mapped as tasks and staged on disk (resume) -> parse -> extract -> atomic commit -> report.

``files_flow``: the same from local PubMed XML / JSONL files, with no network.

Both hold the output folder's writer lock for the whole run, so two runs on the same folder
cannot interleave. With ``[run] task_runner = "dask"`` the parallel work (one parse task per input
file, extraction in chunks of ``[run] extract_chunk`` records) goes to a Dask cluster through
prefect-dask's ``DaskTaskRunner`` (``dask_address``, or a LocalCluster started for the run);
results are gathered in input order, so the tables are identical to a thread run. Committing and
the report stay in the flow's process, which holds the writer lock. Network tasks carry explicit
Prefect retries on top of the client's own per-request retries; nothing large is cached or
persisted by Prefect.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.limits import ensure_ncbi_limit, ncbi_slot
from vdmine import run as steps
from vdmine.config import Config, load_config
from vdmine.nlp.pipeline import get_pipeline
from vdmine.pubmed.eutils import EutilsClient
from vdmine.pubmed.sources import iter_files, resolve_inputs
from vdmine.store.dataset import Store


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # called outside a run (plain function use)
        return logging.getLogger("vdmine")


@task(name="search", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def search(cfg: Config, mindate: str, maxdate: str, incremental: bool) -> tuple[int, list[str]]:
    """PMIDs for the query in this run's window (the client retries each request; this retries the search)."""
    client = EutilsClient(cfg.eutils, cfg.api_key, before_request=ncbi_slot)
    return steps.search_window(client, cfg, mindate, maxdate, incremental)


@task(name="fetch-batch", retries=3, retry_delay_seconds=[2, 10, 30], cache_policy=NO_CACHE)
def fetch_batch(cfg: Config, ids: list[str], path: str) -> str:
    client = EutilsClient(cfg.eutils, cfg.api_key, before_request=ncbi_slot)
    p, nbytes = steps.fetch_batch_to(client, ids, Path(path))
    return str(p)


@task(name="parse-file", cache_policy=NO_CACHE)
def parse_file(path: str) -> list:
    """Every item (records, deletions, quarantined) of one input file, in file order."""
    return list(iter_files([Path(path)]))


@task(name="extract-chunk", cache_policy=NO_CACHE)
def extract_chunk(cfg: Config, records: list) -> tuple[list, list]:
    """Rows for one chunk of records, in a Dask worker (the pipeline is built once per worker)."""
    nlp = get_pipeline(cfg.nlp, cfg.exposure)
    return steps.extract(nlp, records, cfg.nlp.batch_size, 1, show_progress=False)


@contextlib.contextmanager
def dask_runner(cfg: Config) -> Iterator:
    """A started ``DaskTaskRunner`` on ``[run] dask_address``, or on a LocalCluster (one
    single-threaded worker process per core) that lives as long as the block."""
    from prefect_dask import DaskTaskRunner

    if cfg.run.dask_address:
        with DaskTaskRunner(address=cfg.run.dask_address) as runner:
            yield runner
        return
    from distributed import LocalCluster

    with LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        with DaskTaskRunner(address=cluster.scheduler_address) as runner:
            yield runner


def _runner_for(cfg: Config) -> contextlib.AbstractContextManager:
    return dask_runner(cfg) if cfg.run.task_runner == "dask" else contextlib.nullcontext()


@task(name="extract", cache_policy=NO_CACHE)
def extract(cfg: Config, store: Store, collected: steps.Collected, fingerprint: str, progress: bool):
    nlp = get_pipeline(cfg.nlp, cfg.exposure)
    todo, kept = steps.records_to_extract(store, collected, fingerprint)
    docs, failed = steps.extract(nlp, todo, cfg.nlp.batch_size, cfg.nlp.n_process, show_progress=progress)
    return docs, failed, kept


def extract_distributed(runner, cfg: Config, store: Store, collected: steps.Collected, fingerprint: str):
    """The ``extract`` step with its chunks mapped over the Dask runner, gathered in order."""
    todo, kept = steps.records_to_extract(store, collected, fingerprint)
    n = cfg.run.extract_chunk
    futures = [runner.submit(extract_chunk, parameters={"cfg": cfg, "records": todo[i:i + n]})
               for i in range(0, len(todo), n)]
    docs: list = []
    failed: list = []
    for f in futures:
        d, q = f.result()
        docs += d
        failed += q
    return docs, failed, kept


@task(name="commit", cache_policy=NO_CACHE)
def commit(store: Store, collected, docs, failed, kept, summary, fingerprint) -> steps.RunSummary:
    return steps.commit(store, collected, docs, failed, kept, summary, fingerprint)


@task(name="report", cache_policy=NO_CACHE)
def report(cfg: Config, out: Path, summary: steps.RunSummary) -> None:
    """report.md / report.html from the snapshot just committed (the evidence map is in it)."""
    from vdmine.evidence.report import counts_from_summary, write_report

    write_report(out, cfg, counts_from_summary(summary))


def _finish(cfg: Config, store: Store, collected: steps.Collected, summary: steps.RunSummary, progress: bool,
            runner=None) -> dict:
    fingerprint = steps.extractor_fingerprint(cfg)
    if runner is not None:
        docs, failed, kept = extract_distributed(runner, cfg, store, collected, fingerprint)
    else:
        with _runner_for(cfg) as runner:
            if runner is not None:
                docs, failed, kept = extract_distributed(runner, cfg, store, collected, fingerprint)
            else:
                docs, failed, kept = extract(cfg, store, collected, fingerprint, progress)
    summary = commit(store, collected, docs, failed, kept, summary, fingerprint)
    if cfg.output.report:
        report(cfg, store.root, summary)
    _logger().info(summary.text())
    return summary.row()


@flow(name="vdmine-run", log_prints=False)
def pubmed_flow(config_path: str | None = None, query: str | None = None, out: str | None = None,
                max_records: int | None = None, progress: bool = True, full: bool = False) -> dict:
    """Fetch a PubMed query through E-utilities (incrementally after the first run) and update the tables."""
    cfg = load_config(config_path)
    if query is not None:
        cfg.query.pubmed = query
    if max_records is not None:
        cfg.query.max_records = max_records
    store = Store(out or cfg.output.dir)
    logger = _logger()
    summary = steps.new_summary("run", cfg.query.pubmed)
    with store.lock(), steps.failure_recorded(store, summary):
        mindate, maxdate, incremental = steps.plan_window(store, cfg, full=full)
        window_end = maxdate or steps.today()
        summary.window_start, summary.window_end = mindate or None, window_end
        EutilsClient(cfg.eutils, cfg.api_key).preflight()
        ensure_ncbi_limit(cfg.api_key is not None)
        retry = dict(retries=cfg.eutils.task_retries, retry_delay_seconds=cfg.eutils.task_retry_delay_s)
        found, ids = search.with_options(**retry)(cfg, mindate, maxdate, incremental)
        summary.found = found
        logger.info("ESearch%s: %d found, %d to fetch in batches of %d", " (incremental)" if incremental else "",
                    found, len(ids), cfg.eutils.batch_size)
        batches = [ids[i:i + cfg.eutils.batch_size] for i in range(0, len(ids), cfg.eutils.batch_size)]
        staging = store.staging(steps.run_key(cfg.query.pubmed, mindate, maxdate, ids))
        paths = [str(steps.batch_path(staging, i)) for i in range(len(batches))]
        futures = fetch_batch.with_options(**retry).map([cfg] * len(batches), batches, paths)
        fetched = [Path(f.result()) for f in futures]  # raises if a batch failed after its retries
        collected = steps.read_staged(fetched, batches)
        row = _finish(cfg, store, collected, summary, progress)
        steps.mark_window(store, cfg, window_end, summary.run_id)
        for p in fetched:
            p.unlink(missing_ok=True)
        staging.rmdir() if staging.exists() and not any(staging.iterdir()) else None
        return row


@flow(name="vdmine-extract", log_prints=False)
def files_flow(inputs: list[str], out: str | None = None, config_path: str | None = None,
               progress: bool = True) -> dict:
    """Extract local PubMed XML / JSONL files into the evidence tables (no network)."""
    cfg = load_config(config_path)
    files = resolve_inputs(inputs)
    store = Store(out or cfg.output.dir)
    summary = steps.new_summary("extract", " ".join(str(f) for f in files))
    with store.lock(), steps.failure_recorded(store, summary), _runner_for(cfg) as runner:
        if runner is not None or len(files) > 1:
            # one parse task per file (baseline files in parallel), gathered in input order so
            # versions, deletions and quarantine resolve exactly as in a sequential read
            if runner is not None:
                futures = [runner.submit(parse_file, parameters={"path": str(f)}) for f in files]
            else:
                futures = parse_file.map([str(f) for f in files])
            collected = steps.collect(item for fut in futures for item in fut.result())
        else:
            collected = steps.collect(iter_files(files))
        summary.found = collected.seen
        return _finish(cfg, store, collected, summary, progress, runner=runner)


def serve(config_path: str | None, cron: str | None = None, timezone: str | None = None) -> None:
    """Register the nightly deployment of the default query and run it on its cron schedule."""
    from prefect.schedules import Cron

    cfg = load_config(config_path)
    ensure_ncbi_limit(cfg.api_key is not None)
    pubmed_flow.serve(
        name=f"nightly-{cfg.query.name}",
        schedule=Cron(cron or cfg.schedule.cron, timezone=timezone or cfg.schedule.timezone),
        parameters={"config_path": str(Path(config_path).resolve()) if config_path else None, "progress": False},
        description=f"Nightly incremental PubMed sync and evidence map for: {cfg.query.question or cfg.query.name}",
        tags=["vdmine", "nightly"],
        pause_on_shutdown=False,
    )
