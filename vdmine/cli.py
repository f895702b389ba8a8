"""The ``vdmine`` command line.

    vdmine run      [--config FILE] [--query Q] [--out DIR] [--max-records N]   PubMed via E-utilities
    vdmine extract  --input PATH [PATH ...] [--out DIR] [--config FILE]          local XML / JSONL files
    vdmine report   [--out DIR] [--config FILE]                                  evidence map + report
    vdmine claims   [--out DIR] [--claims FILE]                                  seed claims reproduced?
    vdmine eval     {conditions,doses,design,findings} [...]                     benchmark figures
    vdmine eutils-replay --input PATH [...] [--port N]                           loopback E-utilities
    vdmine serve    [--config FILE] [--cron EXPR] [--timezone TZ]                nightly Prefect deployment
    vdmine schema                                                                data dictionary

Errors are one line on stderr (``vdmine: error [Exxx] ...``) and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from vdmine import __version__
from vdmine.errors import VdmineError

EXIT_ERROR = 2


def prefect_env(project_root: Path | None = None) -> None:
    """Quiet, local, telemetry-free Prefect (set before prefect is imported; user values win)."""
    root = project_root or Path.cwd()
    defaults = {
        "PREFECT_HOME": str(root / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        # INFO reaches the Prefect API (run logs, with the run summary); the console shows warnings only.
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "PREFECT_LOGGING_LOG_PRINTS": "false",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    }
    for k, v in defaults.items():
        os.environ.setdefault(k, v)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (not the one at set-up), so redirection works."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one readable line, not a usage dump
        sys.stderr.write(f"vdmine: error: {message} (see `vdmine {self.prog.split()[-1]} --help`)\n")
        sys.exit(EXIT_ERROR)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vdmine", description="PubMed -> evidence map (Parquet tables and a cited report).")
    p.add_argument("--version", action="version", version=f"vdmine {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="more logging")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="fetch a PubMed query via E-utilities and build the tables")
    r.add_argument("--config", default=None, help="TOML config (default: configs/vitd_bone_pain.toml)")
    r.add_argument("--query", default=None, help="PubMed query (overrides [query] pubmed)")
    r.add_argument("--out", default=None, help="output folder (default: [output] dir, under outputs/)")
    r.add_argument("--max-records", type=_positive, default=None, help="fetch at most N records")
    r.add_argument("--full", action="store_true", help="fetch the whole query again instead of only what changed since the last run")

    e = sub.add_parser("extract", help="build the tables from local PubMed XML or JSONL files (no network)")
    e.add_argument("--input", nargs="+", required=True, metavar="PATH", help="files or folders (.xml, .xml.gz, .jsonl)")
    e.add_argument("--out", default=None, help="output folder")
    e.add_argument("--config", default=None, help="TOML config (default: configs/vitd_bone_pain.toml)")

    rep = sub.add_parser("report", help="(re)build the evidence map and report.md/report.html")
    rep.add_argument("--out", default=None, help="output folder holding the tables")
    rep.add_argument("--config", default=None)

    c = sub.add_parser("claims", help="check the seed document's claims against the evidence map")
    c.add_argument("--out", default=None, help="output folder holding the tables")
    c.add_argument("--claims", default="configs/seed_claims.toml", help="expected-claims file")

    ev = sub.add_parser("eval", help="measure extraction quality on the shared benchmarks")
    ev.add_argument("what", choices=["conditions", "doses", "design", "findings"])
    ev.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the evaluator (see its --help)")

    rp = sub.add_parser("eutils-replay", help="serve real records as a loopback E-utilities endpoint")
    rp.add_argument("--input", nargs="+", required=True, metavar="PATH")
    rp.add_argument("--port", type=int, default=8765)

    sv = sub.add_parser("serve", help="register the nightly Prefect deployment (cron schedule) and serve it")
    sv.add_argument("--config", default=None)
    sv.add_argument("--cron", default=None, help="cron expression (default: [schedule] cron)")
    sv.add_argument("--timezone", default=None, help="IANA time zone of the cron (default: [schedule] timezone)")

    sub.add_parser("schema", help="print the data dictionary of every table")
    return p


def _default_config(path: str | None) -> str | None:
    if path:
        return path
    default = Path("configs/vitd_bone_pain.toml")
    return str(default) if default.is_file() else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # vdmine's own messages go to stderr; Prefect configures its own console (warnings only).
    vlog = logging.getLogger("vdmine")
    if not vlog.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        vlog.addHandler(handler)
    vlog.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    vlog.propagate = False
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*\[W036\].*")
    try:
        return _dispatch(args)
    except VdmineError as exc:
        sys.stderr.write(f"vdmine: error {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("vdmine: interrupted; the previous tables are intact and the next run resumes.\n")
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from vdmine.config import load_config

    if args.command == "schema":
        from vdmine.store.schemas import data_dictionary

        print(data_dictionary(), end="")
        return 0
    if args.command == "eval":
        import importlib

        mod = importlib.import_module(f"vdmine.eval.{args.what}")
        return int(mod.main(args.args) or 0)
    if args.command == "eutils-replay":
        return _replay(args)
    config_path = _default_config(getattr(args, "config", None))
    cfg = load_config(config_path)  # validate early: a bad config fails before Prefect starts
    progress = not args.quiet
    if args.command == "run":
        from vdmine.pubmed.eutils import EutilsClient, check_query

        if args.query is not None:
            cfg.query.pubmed = args.query
        check_query(cfg.query.pubmed)
        EutilsClient(cfg.eutils, cfg.api_key).preflight()  # seconds, not minutes, when NCBI is unreachable
        prefect_env()
        from flows.vdmine_flow import pubmed_flow

        row = pubmed_flow(config_path=config_path, query=args.query, out=args.out, max_records=args.max_records, progress=progress, full=args.full)
        print(row["message"])
        return 0
    if args.command == "extract":
        from vdmine.pubmed.sources import resolve_inputs

        resolve_inputs(args.input)  # missing / unsupported inputs fail before Prefect starts
        prefect_env()
        from flows.vdmine_flow import files_flow

        row = files_flow(inputs=args.input, out=args.out, config_path=config_path, progress=progress)
        print(row["message"])
        return 0
    if args.command == "serve":
        prefect_env()
        from flows.vdmine_flow import serve

        serve(config_path, args.cron, args.timezone)
        return 0
    out = Path(args.out or cfg.output.dir)
    if args.command == "report":
        from vdmine.evidence.report import write_outputs
        from vdmine.store.dataset import Store

        if not Store(out).has("papers"):
            raise VdmineError("E050", table="papers", path=out)
        md, html = write_outputs(out, cfg, None, claims_path=cfg.output.claims or None)
        print(f"wrote {md} and {html}")
        return 0
    if args.command == "claims":
        from vdmine.evidence.claims import check_claims, format_claims_table

        print(format_claims_table(check_claims(out, Path(args.claims))))
        return 0
    raise AssertionError(args.command)  # pragma: no cover


def _replay(args: argparse.Namespace) -> int:
    import time

    from vdmine.pubmed.replay import ReplayServer, load_state
    from vdmine.pubmed.sources import resolve_inputs

    resolve_inputs(args.input)
    state = load_state(args.input)
    server = ReplayServer(state, port=args.port)
    url = server.start()
    print(f"Serving {len(state.records)} records as E-utilities at {url}\nexport VDMINE_EUTILS_URL={url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
