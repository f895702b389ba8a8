"""Prefect flows of vdmine: thin wiring of the plain functions in ``vdmine``.

``pubmed_flow``: ESearch (history server, date-sliced past the paging limit) -> EFetch batches,
mapped as tasks and staged on disk (resume) -> parse + extract, streamed in batches of
``[run] batch_records`` whose rows are staged on disk -> commit partition by partition, one
atomic snapshot -> report.

``files_flow``: the same from PubMed XML / JSONL files (local paths or URLs), with no network;
on Dask, one ``parse-file`` task per input file parses the files in parallel.

Both hold the output folder's writer lock for the whole run, so two runs on the same folder
cannot interleave. With ``[run] task_runner = "dask"`` extraction goes to a Dask cluster in chunks
of ``[run] extract_chunk`` records through prefect-dask's ``DaskTaskRunner`` (``dask_address``, or a
LocalCluster started for the run); results are gathered in input order, two batches in flight at
most, so the tables are identical to a thread run. Reading the input, committing and the report
stay in the flow's process, which holds the writer lock. Tasks pass no large lists: the
``extract`` task returns a small per-pmid index, the rows stay in files. Network tasks carry
explicit Prefect retries on top of the client's own per-request retries; nothing large is cached
or persisted by Prefect.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from flows.limits import ensure_ncbi_limit, ncbi_slot
from vdmine import run as steps
from vdmine.config import Config, load_config
from vdmine.nlp.pipeline import get_pipeline
from vdmine.pubmed.eutils import EutilsClient
from vdmine.pubmed.sources import iter_files, iter_spooled, resolve_inputs, spool
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


def dask_extractor(runner, cfg: Config) -> steps.ExtractBatches:
    """Each batch's extraction as ``extract-chunk`` tasks on the Dask runner, gathered in order,
    with at most two batches in flight (so the flow holds two batches' rows at most)."""
    from collections import deque

    def run(batches):
        pending: deque = deque()
        n = cfg.run.extract_chunk

        def gather(futures):
            docs, failed = [], []
            for f in futures:
                d, q = f.result()
                docs += d
                failed += q
            return docs, failed

        for records in batches:
            pending.append([runner.submit(extract_chunk, parameters={"cfg": cfg, "records": records[i:i + n]})
                            for i in range(0, len(records), n)])
            if len(pending) >= 2:
                yield gather(pending.popleft())
        while pending:
            yield gather(pending.popleft())
    return run


@task(name="parse-file", cache_policy=NO_CACHE)
def parse_file(path: str, spool_to: str) -> str:
    """Parse one input file (a baseline file, say) into a spool file; one task per file."""
    spool(iter_files([path]), Path(spool_to))  # already resolved by the flow
    return spool_to


def _parsed_in_parallel(runner, files: list, folder: Path) -> Iterator:
    """Items of all files, parsed by one ``parse-file`` task per file on the runner, read back in
    input order (each file's spool as soon as its task is done)."""
    folder.mkdir(parents=True, exist_ok=True)
    futures = [runner.submit(parse_file, parameters={"path": str(f), "spool_to": str(folder / f"{i:06d}.pkl")})
               for i, f in enumerate(files)]
    for fut in futures:
        spooled = Path(fut.result())
        yield from iter_spooled(spooled)
        spooled.unlink(missing_ok=True)


@task(name="extract", cache_policy=NO_CACHE)
def extract(cfg: Config, store: Store, items, fingerprint: str, progress: bool) -> steps.Staged:
    """Read the input and extract it batch by batch; rows are staged on disk, not returned."""
    nlp = get_pipeline(cfg.nlp, cfg.exposure)
    return steps.stage(store, cfg, nlp, items, fingerprint, show_progress=progress)


def _stage(cfg: Config, store: Store, items, fingerprint: str, progress: bool, runner) -> steps.Staged:
    """The ``extract`` step: one task here, or, on Dask, read here with each batch's chunks
    mapped as ``extract-chunk`` tasks (submitted from the flow, not from inside a task)."""
    if runner is None:
        return extract(cfg, store, quote(items), fingerprint, progress)
    return steps.stage(store, cfg, None, items, fingerprint, extract_batches=dask_extractor(runner, cfg),
                       show_progress=progress)


@task(name="commit", cache_policy=NO_CACHE)
def commit(store: Store, staged: steps.Staged, summary, fingerprint) -> steps.RunSummary:
    return steps.commit(store, staged, summary, fingerprint)


@task(name="report", cache_policy=NO_CACHE)
def report(cfg: Config, out: Path, summary: steps.RunSummary) -> None:
    """report.md / report.html from the snapshot just committed (the evidence map is in it)."""
    from vdmine.evidence.report import counts_from_summary, write_report

    write_report(out, cfg, counts_from_summary(summary), claims_path=cfg.output.claims or None)


def _publish(cfg: Config, store: Store, staged: steps.Staged, summary: steps.RunSummary, fingerprint: str) -> dict:
    summary = commit(store, quote(staged), summary, fingerprint)  # quote: Prefect must not walk the pmid index
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
        fingerprint = steps.extractor_fingerprint(cfg)
        with _runner_for(cfg) as runner:
            staged = _stage(cfg, store, steps.iter_staged(fetched), fingerprint, progress, runner)
        steps.quarantine_missing(staged, fetched, batches)
        row = _publish(cfg, store, staged, summary, fingerprint)
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
        fingerprint = steps.extractor_fingerprint(cfg)
        spool_dir = store.internal / "parsed"
        shutil.rmtree(spool_dir, ignore_errors=True)  # a dead run's leftovers: we hold the lock
        # on Dask, one parse task per input file (baseline files in parallel); else read in order here
        items = iter_files(files) if runner is None else _parsed_in_parallel(runner, files, spool_dir)
        staged = _stage(cfg, store, items, fingerprint, progress, runner)
        shutil.rmtree(spool_dir, ignore_errors=True)
        summary.found = staged.seen
        return _publish(cfg, store, staged, summary, fingerprint)


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
