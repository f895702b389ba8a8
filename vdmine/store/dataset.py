"""Atomic, idempotent Parquet datasets.

Layout of an output folder::

    OUT/papers -> .vdmine/current/papers          (fixed symlinks: what readers open)
    OUT/.vdmine/current -> snapshots/<version>    (the one pointer a commit swaps)
    OUT/.vdmine/snapshots/<version>/<table>/part-<bucket>.parquet
    OUT/.vdmine/lock                              (one writer at a time)
    OUT/.vdmine/state.json                        (run state: windows, fingerprints)
    OUT/.vdmine/work/<run>/<table>/<bucket>/...   (a running run's staged rows; removed at commit)

A commit writes a complete new snapshot (every table: the ones it changes written anew, the
others hard-linked from the current snapshot), fsyncs it, then swaps ``current`` with one atomic
``rename``. All tables therefore change together: a reader sees either the previous snapshot or
the new one, never a mix and never a half-written file, and a crash or ``kill -9`` at any moment
leaves the previous snapshot in place (orphan snapshot folders are removed at the next commit).
Files inside a table keyed by pmid are partitioned by pmid range, and a file's name says its
range: ``part-038000000-038999999.parquet`` holds pmids 38,000,000 to 38,999,999 (width
1,000,000, :data:`DEFAULT_PMID_WIDTH`), ``part-x-<prefix>.parquet`` the non-numeric ids of one
prefix. A partition whose bytes did not change is a hard link to the previous file, so an
incremental night rewrites only the partitions it touched. A run's merge
(:class:`PartitionMerge`) reads and rewrites one partition at a time, so its memory follows the
size of a partition, not of the table.

The partition width is a property of the store (``Store(out, pmid_width=...)``, ``[output]
pmid_partition_width``). It is never recorded apart from the files: the names are the layout, so
the layout changes atomically with the snapshot, and a mix of widths is visible in a listing.
Stores written before the width was configurable have ``part-NNN.parquet`` files (pmid // 5
million, :data:`LEGACY_PMID_WIDTH`); they stay readable, and the next commit re-partitions them.
Whenever the wanted width differs from a stored table's, the commit re-partitions every
pmid-keyed table into the new snapshot (old partitions are read one at a time, so memory follows
a partition, not the table); all such tables of one snapshot share one width, because the
derived tables match partitions across tables by name. A crash during it leaves the previous
snapshot, as for any commit.

Writes are deterministic: rows are sorted, no wall-clock value is added, and the Parquet writer
options are fixed, so the same rows give byte-identical files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vdmine.errors import VdmineError
from vdmine.store.schemas import TABLES
from vdmine.store.tables import sort_rows

INTERNAL = ".vdmine"
WRITE_OPTS = dict(compression="zstd", use_dictionary=True, write_statistics=True, version="2.6")
# Tables keyed by pmid are partitioned by pmid range; the others are one file.
UNPARTITIONED = {"quarantine", "runs", "evidence_map"}


# Tables partitioned by pmid range (all of one snapshot share one width).
PMID_TABLES = frozenset(n for n, s in TABLES.items() if n not in UNPARTITIONED and "pmid" in s.names)
# ~41 partitions over today's PubMed id range: a partition of all of PubMed holds ~0.9 M papers
# (measured trade-off: docs/performance.md, "Finer pmid partitions").
DEFAULT_PMID_WIDTH = 1_000_000
LEGACY_PMID_WIDTH = 5_000_000  # ``part-NNN.parquet`` names of stores before 2026-11-24
_RANGE_NAME = re.compile(r"part-(\d+)-(\d+)\.parquet")
_LEGACY_NAME = re.compile(r"part-(\d+)\.parquet")


def bucket_of(pmid: str, width: int = DEFAULT_PMID_WIDTH) -> str:
    """Partition name for a pmid: numeric ids by ranges of ``width`` (the name is the range,
    first and last pmid), others by their prefix."""
    if pmid.isdigit():
        start = int(pmid) // width * width
        return f"{start:09d}-{start + width - 1:09d}"
    prefix = pmid.split(":", 1)[0] if ":" in pmid else "other"
    safe = "".join(ch for ch in prefix if ch.isalnum())[:20] or "other"
    return f"x-{safe}"


def part_range(file_name: str) -> tuple[int, int] | None:
    """(first, last) pmid of a partition file of a pmid-keyed table, from its name; legacy
    ``part-NNN`` names are ranges of 5 million; None for ``part-x-*`` and ``part-empty``."""
    m = _RANGE_NAME.fullmatch(file_name)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = _LEGACY_NAME.fullmatch(file_name)
    if m:
        start = int(m.group(1)) * LEGACY_PMID_WIDTH
        return start, start + LEGACY_PMID_WIDTH - 1
    return None


def _at_width(file_name: str, width: int) -> bool:
    """Whether a partition file is laid out for ``width`` (non-numeric partitions always are)."""
    if _RANGE_NAME.fullmatch(file_name) is None:
        return part_range(file_name) is None
    first, last = part_range(file_name)
    return last - first + 1 == width and first % width == 0


def group_by_bucket(table: pa.Table, width: int) -> list[tuple[str, pa.Table]]:
    """The rows of a pmid-keyed table split by partition, in partition order; each part keeps
    the rows' relative order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, pmid in enumerate(table.column("pmid").to_pylist()):
        groups[bucket_of(pmid, width)].append(i)
    return [(b, table.take(pa.array(idx, pa.int64()))) for b, idx in sorted(groups.items())]


@dataclass
class PartitionMerge:
    """How a commit changes one pmid-partitioned table: the partitions it touches, and a function
    from (partition, its current rows) to its new rows."""

    buckets: set[str]
    merge: Callable[[str, pa.Table], pa.Table]
    width: int | None = None  # the partition width ``buckets`` were cut for (checked by the commit)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, **WRITE_OPTS)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise VdmineError("E032", path=path) from None
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise VdmineError("E030", path=path.parent, detail=exc.strerror) from None
        raise


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Store:
    """One output folder of tables.

    ``pmid_width``: the pmid partition width commits lay tables out at; None keeps the width
    the current snapshot's files have, or :data:`DEFAULT_PMID_WIDTH` for a new or legacy store."""

    def __init__(self, out_dir: str | Path, pmid_width: int | None = None) -> None:
        if pmid_width is not None and pmid_width < 1:
            raise ValueError(f"pmid_width must be >= 1, not {pmid_width}")
        self.root = Path(out_dir)
        self.internal = self.root / INTERNAL
        self.wanted_width = pmid_width

    # -- setup -------------------------------------------------------------------------------
    def ensure(self) -> None:
        try:
            (self.internal / "tables").mkdir(parents=True, exist_ok=True)
            probe = self.internal / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise VdmineError("E032", path=self.root) from None
            raise VdmineError("E030", path=self.root, detail=exc.strerror or exc) from None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive writer lock. A second run exits with a clear message instead of corrupting."""
        self.ensure()
        path = self.internal / "lock"
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._lock_holder(path)
                if holder is None:  # stale lock of a dead process on this host: take it over
                    path.unlink(missing_ok=True)
                    continue
                raise VdmineError("E031", path=self.root, pid=holder.get("pid"), since=holder.get("since"), lock=path) from None
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            break
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    @staticmethod
    def _lock_holder(path: Path) -> dict | None:
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            return {"pid": "?", "since": "?"}
        if holder.get("host") == socket.gethostname():
            try:
                os.kill(int(holder["pid"]), 0)
            except ProcessLookupError:
                return None
            except (PermissionError, ValueError, KeyError):
                pass
        return holder

    # -- reading -----------------------------------------------------------------------------
    def table_path(self, name: str) -> Path:
        return self.root / name

    def has(self, name: str) -> bool:
        return self.table_path(name).exists()

    def read(self, name: str) -> pa.Table:
        """The current table, or an empty one with the right schema."""
        schema = TABLES[name]
        path = self.table_path(name)
        if not path.exists():
            return schema.empty_table()
        return pq.read_table(path, schema=schema)

    @property
    def pmid_width(self) -> int:
        """The partition width the next commit writes: the wanted one, else the one every
        range-named partition of the current snapshot has, else the default (a new store, a
        legacy one, or a mix, which the next commit re-partitions)."""
        if self.wanted_width is not None:
            return self.wanted_width
        widths, legacy = set(), False
        snap = self.current
        for name in sorted(PMID_TABLES) if snap is not None else ():
            tdir = snap / name
            for f in tdir.glob("part-*.parquet") if tdir.is_dir() else ():
                if _RANGE_NAME.fullmatch(f.name):
                    first, last = part_range(f.name)
                    widths.add(last - first + 1)
                elif part_range(f.name) is not None:
                    legacy = True
        return widths.pop() if len(widths) == 1 and not legacy else DEFAULT_PMID_WIDTH

    # -- writing -----------------------------------------------------------------------------
    @property
    def current(self) -> Path | None:
        """The snapshot folder readers see now, if any."""
        link = self.internal / "current"
        if link.is_symlink():
            return (link.parent / os.readlink(link)).resolve()
        return None

    def commit(self, tables: dict[str, pa.Table], merges: dict[str, PartitionMerge] | None = None,
               finalize: Callable[[Callable[[str], Path | None]], dict[str, pa.Table]] | None = None,
               pmid_width: int | None = None) -> str:
        """Publish these tables, with every other current table unchanged, as one new snapshot.

        ``tables`` are written whole. ``merges`` rewrite a table partition by partition: only the
        partitions a merge touches are read (one at a time) and rewritten, the others are hard
        links, so memory follows the largest partition, not the table. ``finalize`` runs after both,
        before the switch, with a function giving each table's folder in the new snapshot (or the
        current one's if this commit does not write it); the tables it returns go into the same
        snapshot (derived tables, the runs row). Returns the snapshot version. The swap of
        ``.vdmine/current`` is the only moment a reader's view changes, and it changes for all
        tables at once.

        Every pmid-keyed table is laid out at ``pmid_width`` (default: :attr:`pmid_width`): a
        current table at another width is re-partitioned into the new snapshot first. The
        ``merges`` are dropped before ``finalize`` runs (with whatever per-pmid state their
        functions hold; they are popped from the ``merges`` dict), so the derived tables are built
        without it.
        """
        self.ensure()
        width = pmid_width or self.pmid_width
        version = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        snap = self.internal / "snapshots" / version
        previous = self.current
        merges = merges or {}
        # a comprehension, not a loop: a loop variable would keep the last merge (and the run's
        # plan its function holds) alive until finalize (tests/test_store_partitions.py)
        wrong = [f"{name}: merge cut for pmid width {m.width}, commit writes {width}"
                 for name, m in merges.items() if m.width is not None and m.width != width]
        if wrong:
            raise ValueError(wrong[0])
        regrid = snap / ".regrid"  # re-partitioned tables a merge then reads (removed before the swap)
        old_dirs = {}
        for name in sorted(PMID_TABLES) if previous is not None else ():
            old_dir = previous / name
            if name in tables or not old_dir.is_dir():
                continue
            if not all(_at_width(f.name, width) for f in old_dir.glob("part-*.parquet")):
                dest = regrid / name if name in merges else snap / name
                self._repartition(old_dir, dest, name, width)
                old_dirs[name] = dest
        for name in list(merges):
            self._write_merged(snap, old_dirs.get(name, previous / name if previous is not None else None),
                               name, merges.pop(name), width)
        del merges  # the merge functions may hold a run's per-pmid index: not needed any more
        shutil.rmtree(regrid, ignore_errors=True)
        for name, table in tables.items():
            self._write_table(snap, previous, name, table, width)
        if finalize is not None:
            def folder(name: str) -> Path | None:
                for base in (snap, previous):
                    if base is not None and (base / name).is_dir():
                        return base / name
                return None

            for name, table in finalize(folder).items():
                self._write_table(snap, previous, name, table, width)
        if previous is not None:  # tables this commit does not touch are carried over as they are
            for old_dir in previous.iterdir():
                if old_dir.is_dir() and not (snap / old_dir.name).exists():
                    (snap / old_dir.name).mkdir(parents=True)
                    for f in old_dir.iterdir():
                        os.link(f, snap / old_dir.name / f.name)
        snap.mkdir(parents=True, exist_ok=True)
        _fsync_dir(snap)
        tmp_link = self.internal / f".current.{uuid.uuid4().hex}"
        os.symlink(os.path.join("snapshots", version), tmp_link)
        os.replace(tmp_link, self.internal / "current")  # the atomic switch
        _fsync_dir(self.internal)
        for tdir in snap.iterdir():
            self._ensure_link(tdir.name)
        self.gc()
        return version

    @staticmethod
    def _write_part(table: pa.Table, target: Path, old: Path | None) -> None:
        _write_file(table, target)
        if old is not None and old.exists() and _file_digest(old) == _file_digest(target):
            target.unlink()
            os.link(old, target)  # unchanged partition: keep the very same file

    def _write_table(self, snap: Path, previous: Path | None, name: str, table: pa.Table,
                     width: int = DEFAULT_PMID_WIDTH) -> None:
        schema = TABLES[name]
        table = table.cast(schema) if table.schema != schema else table
        tdir = snap / name
        tdir.mkdir(parents=True, exist_ok=False)
        old_dir = previous / name if previous is not None else None
        for part, ptable in self._partitions(name, table, width):
            target = tdir / f"part-{part}.parquet"
            self._write_part(ptable, target, old_dir / target.name if old_dir is not None else None)
        if table.num_rows == 0:
            _write_file(schema.empty_table(), tdir / "part-empty.parquet")
        _fsync_dir(tdir)

    def _write_merged(self, snap: Path, old_dir: Path | None, name: str, merge: PartitionMerge, width: int) -> None:
        """One pmid-partitioned table, rewritten only in the partitions ``merge`` touches;
        ``old_dir`` is its current folder, already at ``width``."""
        schema = TABLES[name]
        tdir = snap / name
        tdir.mkdir(parents=True, exist_ok=False)
        old_parts = {}
        if old_dir is not None and old_dir.is_dir():
            old_parts = {f.name[len("part-"):-len(".parquet")]: f for f in old_dir.glob("part-*.parquet")
                         if f.name != "part-empty.parquet"}
        written = 0
        for bucket in sorted(set(old_parts) | set(merge.buckets)):
            target = tdir / f"part-{bucket}.parquet"
            old_file = old_parts.get(bucket)
            if bucket not in merge.buckets:
                os.link(old_file, target)
                written += 1
                continue
            old = pq.read_table(old_file, schema=schema) if old_file is not None else schema.empty_table()
            table = merge.merge(bucket, old)
            del old
            if table.num_rows == 0:
                continue
            self._write_part(table.cast(schema) if table.schema != schema else table, target, old_file)
            written += 1
            del table
            pa.default_memory_pool().release_unused()  # one partition at a time: give its memory back
        if not written:
            _write_file(schema.empty_table(), tdir / "part-empty.parquet")
        _fsync_dir(tdir)

    def _repartition(self, old_dir: Path, tdir: Path, name: str, width: int) -> None:
        """A pmid-keyed table's files laid out again at ``width`` in ``tdir``: the same rows, each
        partition in the store's sort order (what a store written at ``width`` holds). Old
        partitions are read one at a time in pmid order; a new partition is written as soon as no
        later old one can add to it, so memory follows a partition (old or new), not the table.

        Rows are placed by their own pmid, not by the file they come from: ``mechanisms`` and
        ``delivery`` were one unpartitioned ``part-000.parquet`` holding every pmid (numeric or
        not) until 2026-11-24, and such a file is laid out like any other."""
        schema = TABLES[name]
        tdir.mkdir(parents=True, exist_ok=False)
        ranged, other, written = [], {}, 0
        for f in sorted(old_dir.glob("part-*.parquet")):
            if f.name == "part-empty.parquet":
                continue
            span = part_range(f.name)
            if span is None:  # non-numeric ids: the same partition at every width
                other[f.name[len("part-"):-len(".parquet")]] = f
            else:
                ranged.append((span, f))
        pending: dict[str, list[pa.Table]] = defaultdict(list)

        def write(bucket: str, parts: list[pa.Table]) -> None:
            nonlocal written
            table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            self._write_part(sort_rows(name, table), tdir / f"part-{bucket}.parquet", None)
            written += 1

        def flush(upto: int) -> None:
            for bucket in sorted(pending):
                span = part_range(f"part-{bucket}.parquet")
                if span is not None and span[1] <= upto:
                    write(bucket, pending.pop(bucket))

        for (_, last), f in sorted(ranged):
            old = pq.read_table(f, schema=schema)
            for bucket, part in group_by_bucket(old, width):
                pending[bucket].append(part)
            del old
            flush(last)  # old ranges are disjoint: no later file holds numeric pmids <= last
            pa.default_memory_pool().release_unused()
        for bucket in sorted(set(pending) | set(other)):
            if bucket not in pending:  # untouched non-numeric partition: the very same file
                os.link(other[bucket], tdir / f"part-{bucket}.parquet")
                written += 1
                continue
            parts = pending.pop(bucket)
            if bucket in other:
                parts.insert(0, pq.read_table(other[bucket], schema=schema))
            write(bucket, parts)
        if not written:
            _write_file(schema.empty_table(), tdir / "part-empty.parquet")
        _fsync_dir(tdir)

    def _ensure_link(self, name: str) -> None:
        link = self.table_path(name)
        target = os.path.join(INTERNAL, "current", name)
        if link.is_symlink() and os.readlink(link) == target:
            return
        if link.exists() and not link.is_symlink():
            raise VdmineError("E030", path=link, detail="exists and is not a vdmine table link")
        tmp = self.root / f".{name}.{uuid.uuid4().hex}.lnk"
        os.symlink(target, tmp)
        os.replace(tmp, link)

    @staticmethod
    def _partitions(name: str, table: pa.Table, width: int = DEFAULT_PMID_WIDTH) -> list[tuple[str, pa.Table]]:
        if table.num_rows == 0:
            return []
        if name in UNPARTITIONED or "pmid" not in table.column_names:
            return [("000", table)]
        return group_by_bucket(table, width)

    def gc(self, keep: int = 2) -> None:
        """Remove old snapshots, keeping the current one and the newest ``keep`` before it
        (a reader that listed a folder just before a swap can still open its files)."""
        base = self.internal / "snapshots"
        if not base.is_dir():
            return
        current = self.current
        old = sorted((v for v in base.iterdir() if v.is_dir() and v.resolve() != current), key=lambda p: p.name)
        for v in old[: max(0, len(old) - keep)]:
            shutil.rmtree(v, ignore_errors=True)
        legacy = self.internal / "tables"  # layout of vdmine before snapshots
        if legacy.is_dir() and current is not None:
            shutil.rmtree(legacy, ignore_errors=True)

    # -- run state ---------------------------------------------------------------------------
    def load_state(self) -> dict:
        path = self.internal / "state.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except ValueError:
            return {}

    def save_state(self, state: dict) -> None:
        self.ensure()
        path = self.internal / "state.json"
        tmp = path.with_name(f".state.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp, path)

    def staging(self, key: str) -> Path:
        """Folder for raw fetched batches of one run key (kept until the run commits: resume)."""
        d = self.internal / "staging" / key
        d.mkdir(parents=True, exist_ok=True)
        return d
