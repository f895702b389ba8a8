"""vdmine: PubMed records -> spaCy Docs -> typed rows -> Arrow tables -> Parquet evidence map."""

import os

__version__ = "0.1.0"

# Arrow's default allocator (mimalloc) keeps freed memory in per-thread heaps: the whole
# 50,000-record job peaked at ~370 MiB with it and ~325 MiB with the system allocator, at the same
# speed (docs/performance.md, "Arrow's allocator"). Arrow reads this variable once, when pyarrow
# is first imported, so it is set here, before any vdmine module imports pyarrow; a value already
# in the environment wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
