"""Evaluations of vdmine's extractors against the public gold benchmarks in ``../shared/bench``.

Each module exposes ``main(argv) -> int`` (wired as ``vdmine eval <name>``) and reads the
benchmarks at run time from :func:`vdmine.config.shared_dir`; nothing from the benchmarks is
shipped with the package.
"""
