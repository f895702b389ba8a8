"""The evidence map: one row per (condition, exposure, outcome), aggregated from the findings.

Pure functions over pyarrow tables (:func:`build_evidence_map`), a tolerant reader
(:func:`read_table`) and the entry point the flow calls (:func:`build_and_write_evidence_map`),
which publishes through the atomic store. Same input -> byte-identical Parquet: rows and lists are
sorted, nothing depends on the clock, and the store's writer options are fixed.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from vdmine.errors import VdmineError
from vdmine.evidence import data
from vdmine.evidence.verdict import (
    DESIGN_BUCKETS,
    DIRECTIONS,
    decide,
    design_bucket,
    design_weight,
    finding_factor,
    map_stance,
    reduce_papers,
)
from vdmine.nlp.mechanisms import SECTION_RANK
from vdmine.store.schemas import TABLES

UNSPECIFIED = "unspecified"


# ---------------------------------------------------------------------------------------- I/O


def empty(table: str) -> pa.Table:
    return TABLES[table].empty_table()


def read_table(out_dir: str | Path, table: str, required: bool = False) -> pa.Table:
    """Read ``out_dir/<table>`` (a folder of Parquet files, or one file) conformed to the schema.

    Missing columns become nulls and extra columns are dropped, so the aggregation works on output
    of any vdmine version. A missing table is empty, or error E050 when ``required``.
    """
    path = Path(out_dir) / table
    if not path.exists():
        alt = path.with_suffix(".parquet")
        if alt.exists():
            path = alt
        elif required:
            raise VdmineError("E050", table=table, path=out_dir)
        else:
            return empty(table)
    if path.is_dir() and not any(path.rglob("*.parquet")):
        return empty(table)
    t = pq.read_table(path)
    schema = TABLES[table]
    cols = []
    for field in schema:
        if field.name in t.column_names:
            col = t.column(field.name)
            cols.append(col.cast(field.type) if col.type != field.type else col)
        else:
            cols.append(pa.nulls(t.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)


# ------------------------------------------------------------------------------- aggregation


def _s(value) -> str:
    value = (value or "").strip()
    return value if value else UNSPECIFIED


def _sorted_pmids(pmids) -> list[str]:
    return sorted(set(pmids), key=data.pmid_key)


def _designs(papers: pa.Table) -> dict[str, str | None]:
    cols = papers.select(["pmid", "study_design"]).to_pydict()
    return dict(zip(cols["pmid"], cols["study_design"]))


def _doses_by_pmid(doses: pa.Table | None) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    if doses is None or doses.num_rows == 0:
        return out
    d = doses.select(["pmid", "iu_per_day", "bolus_iu"]).to_pydict()
    for pmid, day, bolus in zip(d["pmid"], d["iu_per_day"], d["bolus_iu"]):
        if day is not None:
            out[pmid][0].append(float(day))
        if bolus is not None:
            out[pmid][1].append(float(bolus))
    return out


# A group's findings are held as columns (one Python list per column, findings-table order, the
# strings shared: _pylist), not as one dict per finding: the largest group (no condition, exposure
# or outcome named) grows with the corpus. Python heap peak of the evidence map of the 50,000-record
# benchmark job (tracemalloc): 42 MiB with a dict per finding, 20 MiB with columns.
_GROUP_COLUMNS = ("pmid", "sent_idx", "section", "direction", "hedged", "significant", "_design")


def _representative(g: dict[str, list], order: list[int], stance: list, weight: list[float],
                    carriers: set[str], winning) -> int | None:
    """Index (in ``g``) of the best sentence from a paper that carries the verdict (rules in the
    schema doc); ``order`` is the group's (pmid, sentence) order, which breaks ties."""
    pmid = g["pmid"]
    pool = [i for i in order if pmid[i] in carriers and (winning is None or stance[i] == winning)]
    pool = pool or [i for i in order if stance[i] is not None] or order
    if not pool:
        return None
    hedged, section, sent = g["hedged"], g["section"], g["sent_idx"]
    return min(
        pool,
        key=lambda i: (
            -weight[i],
            bool(hedged[i]),
            SECTION_RANK.get((section[i] or "other").lower(), 3),
            data.pmid_key(pmid[i]),
            sent[i],
        ),
    )


_FINDING_COLUMNS = ("pmid", "sent_idx", "section", "condition", "exposure", "outcome", "direction", "hedged",
                    "significant", "study_design")


def _reading_order(pmid: list[str], sent: list[int]) -> list[int]:
    """Row indices sorted by (pmid, sent_idx), pmids in natural order (:func:`data.pmid_key`);
    ties keep their order."""
    key_of = {p: data.pmid_key(p) for p in set(pmid)}
    return sorted(range(len(pmid)), key=lambda i: (key_of[pmid[i]], sent[i]))


def _group_row(key: tuple[str, str, str], g: dict[str, list], dose_of, hier) -> tuple[dict, int | None]:
    """One evidence-map row from the findings of one (condition, exposure, outcome) group, and
    the index in ``g`` of the representative finding (its sentence is filled in by the caller).

    ``g`` holds the columns of ``_GROUP_COLUMNS`` for the group's findings, in findings-table
    order; ``_design`` is the paper's design. ``dose_of`` maps a pmid to its vitamin D
    (iu_per_day values, bolus values)."""
    pmid, sent, dirs, hedged_col, significant, designs = (
        g["pmid"], g["sent_idx"], g["direction"], g["hedged"], g["significant"], g["_design"])
    weight_of = {d: design_weight(d) for d in set(designs)}
    weight = [weight_of[d] for d in designs]
    order = _reading_order(pmid, sent)
    condition, exposure, outcome = key
    dir_counts = {d: 0 for d in DIRECTIONS}
    unclear = hedged = 0
    for d, h in zip(dirs, hedged_col):
        if d in dir_counts:
            dir_counts[d] += 1
        else:
            unclear += 1
        hedged += bool(h)
    majority_assoc = 1 if dir_counts["association_positive"] >= dir_counts["association_negative"] else -1

    dir_weight = {d: 0.0 for d in DIRECTIONS}
    stance: list = [None] * len(pmid)

    def weighed():  # one finding at a time, not a list of them; fills stance and dir_weight on the way
        for i in order:
            d = dirs[i]
            factor = finding_factor(hedged_col[i], significant[i], d)
            stance[i] = map_stance(d, exposure, outcome, majority_assoc)
            if d in dir_weight:
                dir_weight[d] += factor * weight[i]
            yield pmid[i], designs[i], stance[i], factor

    papers_st = reduce_papers(weighed())  # consumes all of weighed(): stance and dir_weight are complete
    v = decide(papers_st)

    pmids = _sorted_pmids(pmid)
    if v.winning is None:
        carriers = set(papers_st)
    else:
        carriers = {p for p, st in papers_st.items() if st.stance == v.winning}
    opposing = [p for p in papers_st if p not in carriers]

    bucket_counts = {b: 0 for b in DESIGN_BUCKETS}
    seen = {}
    for i in order:
        seen.setdefault(pmid[i], designs[i])
    for design in seen.values():
        bucket_counts[design_bucket(design)] += 1

    no_dose = ([], [])
    days = [x for p in carriers for x in dose_of.get(p, no_dose)[0]]
    boluses = sorted({x for p in carriers for x in dose_of.get(p, no_dose)[1]})
    top = max(dir_weight.values())
    direction = next((d for d in DIRECTIONS if dir_weight[d] == top), None) if top > 0 else None
    rep = _representative(g, order, stance, weight, carriers, v.winning)
    row = {
        "condition": condition,
        "condition_group": hier.group(condition) if condition != UNSPECIFIED else UNSPECIFIED,
        "exposure": exposure,
        "outcome": outcome,
        "n_papers": len(pmids),
        "n_findings": len(pmid),
        "n_meta_analysis": bucket_counts["meta_analysis"],
        "n_rct": bucket_counts["rct"],
        "n_observational": bucket_counts["observational"],
        "n_case_report": bucket_counts["case_report"],
        "n_animal_in_vitro": bucket_counts["animal_in_vitro"],
        "n_other_design": bucket_counts["other"],
        "n_benefit": dir_counts["benefit"],
        "n_harm": dir_counts["harm"],
        "n_no_effect": dir_counts["no_effect"],
        "n_mixed": dir_counts["mixed"],
        "n_association_positive": dir_counts["association_positive"],
        "n_association_negative": dir_counts["association_negative"],
        "n_unclear": unclear,
        "n_hedged": hedged,
        "direction": direction,
        "weight_for": v.weights[1],
        "weight_against": v.weights[-1],
        "weight_null": v.weights[0],
        "weight_mixed": v.weights["m"],
        "verdict": v.verdict,
        "verdict_rule": v.rule,
        "iu_per_day_min": min(days) if days else None,
        "iu_per_day_max": max(days) if days else None,
        "bolus_iu": boluses,
        "pmids": pmids,
        "supporting_pmids": _sorted_pmids(carriers),
        "opposing_pmids": _sorted_pmids(opposing),
        "representative_pmid": pmid[rep] if rep is not None else None,
        "representative_sent_idx": sent[rep] if rep is not None else None,
        "representative_sentence": None,
    }
    return row, rep


def _columns(rows: pa.Table, names) -> dict[str, list]:
    """``names`` columns of ``rows`` as Python lists (a column the table lacks is all None)."""
    n = rows.num_rows
    return {c: _pylist(rows.column(c)) if c in rows.column_names else [None] * n for c in names}


def _take(columns: dict[str, list], idx: list[int]) -> dict[str, list]:
    """The rows ``idx`` of every column."""
    return {c: [values[i] for i in idx] for c, values in columns.items()}


def _pylist(column: pa.ChunkedArray) -> list:
    """``column.to_pylist()``, with one Python string per distinct value instead of one per row
    (a group's sections, directions, designs and pmids repeat)."""
    if not pa.types.is_string(column.type):
        return column.to_pylist()
    encoded = column.combine_chunks().dictionary_encode()
    values = [*encoded.dictionary.to_pylist(), None]  # index -1: null
    return [values[i] for i in pc.fill_null(encoded.indices, -1).to_pylist()]


def _keys(findings: pa.Table) -> list[tuple[str, str, str]]:
    cols = [findings.column(c).to_pylist() if c in findings.column_names else [None] * findings.num_rows
            for c in ("condition", "exposure", "outcome")]
    return [(_s(c), _s(e), _s(o)) for c, e, o in zip(*cols)]


def build_evidence_map(papers: pa.Table, findings: pa.Table, doses: pa.Table | None = None) -> pa.Table:
    """Aggregate findings into the ``evidence_map`` table (schema EVIDENCE_MAP).

    The design of a paper comes from ``papers.study_design`` (falling back to
    ``findings.study_design``); doses from ``doses`` (vitamin D only: ``iu_per_day``/``bolus_iu``).
    For tables too large for memory, :func:`build_evidence_map_from_parts` gives the same table.
    """
    design_of = _designs(papers) if papers is not None and papers.num_rows else {}
    dose_of = _doses_by_pmid(doses)
    hier = data.hierarchy()

    # Only the columns the aggregation reads become Python lists (strings shared); each
    # (condition, exposure, outcome) group takes its rows by index. The representative sentence is
    # taken from Arrow at the end.
    index_of: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, key in enumerate(_keys(findings)):
        index_of[key].append(i)
    columns = _columns(findings, ("pmid", "sent_idx", "section", "direction", "hedged", "significant", "study_design"))
    columns["_design"] = [design_of.get(p) or d for p, d in zip(columns["pmid"], columns.pop("study_design"))]
    sentences = findings.column("sentence") if "sentence" in findings.column_names else pa.nulls(findings.num_rows, pa.string())
    out = []
    for key in sorted(index_of):
        idx = index_of[key]
        row, rep = _group_row(key, _take(columns, idx), dose_of, hier)
        if rep is not None:
            row["representative_sentence"] = sentences[idx[rep]].as_py()
        out.append(row)
    return pa.Table.from_pylist(out, schema=TABLES["evidence_map"])


# Findings rows per spill file and per read batch in build_evidence_map_from_parts: memory
# follows this, not the corpus, except for one very large group: a group is never split, so it is held
# whole (its spill file's columns as Python lists, _columns).
SPILL_ROWS = 10_000
MAX_SPILLS = 512  # open files at once


def build_evidence_map_from_parts(parts: list[tuple[Path | None, Path, Path | None]], scratch: Path,
                                  spill_rows: int = SPILL_ROWS) -> pa.Table:
    """The same table as :func:`build_evidence_map`, from pmid-partitioned Parquet files, in
    memory bounded by ``spill_rows`` rows (plus one partition's pmid -> design and doses index),
    not by the whole findings table.

    ``parts`` are (papers file, findings file, doses file) of one pmid partition each, in the
    order of the partitions (a paper's findings, design and doses are all in the same partition).
    Pass 1 reads one partition at a time, ``spill_rows`` findings at a time, attaches each finding's paper design and doses, and
    spills the rows to one of K Arrow files chosen by a hash of the group key, so each group is
    in one file, in findings-table order. Pass 2 aggregates one spill file at a time. The
    representative sentences are then read back partition by partition.
    """
    hier = data.hierarchy()
    total = sum(pq.ParquetFile(f).metadata.num_rows for _, f, _ in parts)
    k = max(1, min(MAX_SPILLS, -(-total // spill_rows)))
    cols = [c for c in _FINDING_COLUMNS if c != "study_design"]
    spill_schema = pa.schema(
        [(c, TABLES["findings"].field(c).type) for c in cols]
        + [("_design", pa.string()), ("_part", pa.int32()), ("_row", pa.int64()),
           ("_days", pa.list_(pa.float64())), ("_boluses", pa.list_(pa.float64()))])
    scratch.mkdir(parents=True, exist_ok=True)
    writers = [pa.ipc.new_file(scratch / f"spill-{i:04d}.arrow", spill_schema) for i in range(k)]
    try:
        for part, (papers_f, findings_f, doses_f) in enumerate(parts):
            design_of = dose_of = None
            offset = 0  # row number in the partition's findings file, for the representative sentence
            for findings in _batches(findings_f, spill_rows):
                if design_of is None:  # the partition's papers and doses, read once it has findings
                    design_of = _designs(pq.read_table(papers_f, columns=["pmid", "study_design"])) if papers_f else {}
                    dose_of = _doses_by_pmid(pq.read_table(doses_f, columns=["pmid", "iu_per_day", "bolus_iu"]) if doses_f else None)
                _spill(findings, part, offset, design_of, dose_of, cols, spill_schema, writers)
                offset += findings.num_rows
    finally:
        for w in writers:
            w.close()

    out: list[dict] = []
    reps: dict[int, list[tuple[int, int]]] = defaultdict(list)  # partition -> (out row, findings row)
    for i in range(k):
        path = scratch / f"spill-{i:04d}.arrow"
        with pa.memory_map(str(path)) as source:
            spilled = pa.ipc.open_file(source).read_all()
        index_of: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for j, key in enumerate(_keys(spilled)):
            index_of[key].append(j)
        columns = _columns(spilled, _GROUP_COLUMNS)
        first: dict[str, int] = {}  # a paper's doses are on each of its rows: read them once
        for j, p in enumerate(columns["pmid"]):
            first.setdefault(p, j)
        firsts = spilled.take(pa.array(list(first.values()), pa.int64()))
        dose_of = {p: (days, boluses) for p, days, boluses in zip(first, firsts.column("_days").to_pylist(),
                                                                   firsts.column("_boluses").to_pylist())
                   if days or boluses}  # most papers have none: _group_row reads a missing one as none
        del first, firsts
        for key, idx in index_of.items():
            row, rep = _group_row(key, _take(columns, idx), dose_of, hier)
            if rep is not None:
                j = idx[rep]
                row["_ref"] = (spilled.column("_part")[j].as_py(), spilled.column("_row")[j].as_py())
            out.append(row)
        del spilled, index_of, columns, dose_of
        path.unlink()
    out.sort(key=lambda r: (r["condition"], r["exposure"], r["outcome"]))
    for n, row in enumerate(out):
        ref = row.pop("_ref", None)
        if ref is not None:
            reps[ref[0]].append((n, ref[1]))
    for part, wanted in reps.items():
        sentences = pq.read_table(parts[part][1], columns=["sentence"]).column("sentence")
        for n, r in wanted:
            out[n]["representative_sentence"] = sentences[r].as_py()
    return pa.Table.from_pylist(out, schema=TABLES["evidence_map"])


def _batches(findings_f: Path, rows: int) -> Iterator[pa.Table]:
    """The evidence-map columns of one partition's findings file, ``rows`` rows at a time, in file
    order (read as the findings schema, so a column missing from an old file reads as nulls)."""
    dataset = ds.dataset(findings_f, format="parquet", schema=TABLES["findings"])
    for batch in dataset.to_batches(columns=list(_FINDING_COLUMNS), batch_size=rows, use_threads=False):
        if batch.num_rows:
            yield pa.Table.from_batches([batch])


def _spill(findings: pa.Table, part: int, offset: int, design_of: dict, dose_of: dict, cols: list[str],
           spill_schema: pa.Schema, writers: list) -> None:
    """Pass 1 of :func:`build_evidence_map_from_parts` for one batch of findings rows: attach each
    row's paper design and doses, then append it to the spill file of its group key."""
    k = len(writers)
    keys = _keys(findings)
    pmids = findings.column("pmid").to_pylist()
    own = findings.column("study_design").to_pylist()
    no_dose = ([], [])
    extra = {
        "_design": pa.array([design_of.get(p) or d for p, d in zip(pmids, own)], pa.string()),
        "_part": pa.array([part] * len(pmids), pa.int32()),
        "_row": pa.array(range(offset, offset + len(pmids)), pa.int64()),
        "_days": pa.array([dose_of.get(p, no_dose)[0] for p in pmids], pa.list_(pa.float64())),
        "_boluses": pa.array([dose_of.get(p, no_dose)[1] for p in pmids], pa.list_(pa.float64())),
    }
    table = pa.Table.from_arrays([findings.column(c) for c in cols] + list(extra.values()), schema=spill_schema)
    target = np.array([zlib.crc32("\x1f".join(key).encode()) % k for key in keys], np.int64)
    # one stable sort by spill file, then contiguous slices: rows keep their findings-table
    # order within a file, and the batch is not scanned once per file
    grouped = table.take(pa.array(np.argsort(target, kind="stable")))
    start = 0
    for i, count in enumerate(np.bincount(target, minlength=k)):
        if count:
            writers[i].write_table(grouped.slice(start, count))
            start += count


def build_evidence_tables(out_dir: str | Path) -> dict[str, pa.Table]:
    """Read papers/findings/doses from ``out_dir``; return the derived ``evidence_map`` table.
    (``mechanisms`` and ``delivery`` are extraction tables: vdmine.nlp.mechanisms.)

    Raises E050 when there is no ``papers`` table.
    """
    papers = read_table(out_dir, "papers", required=True)
    findings = read_table(out_dir, "findings")
    doses = read_table(out_dir, "doses")
    return {"evidence_map": build_evidence_map(papers, findings, doses)}


def build_and_write_evidence_map(out_dir: str | Path) -> dict[str, pa.Table]:
    """Rebuild evidence_map from the tables in ``out_dir`` and publish it.

    The tables are committed through :class:`vdmine.store.dataset.Store` (atomic symlink swap,
    fixed Parquet options: same input -> byte-identical files). The caller holds the store lock
    when it has one (the flows do); otherwise it is taken here. Returns the tables written.
    """
    from vdmine.store.dataset import Store

    store = Store(out_dir)
    tables = build_evidence_tables(out_dir)
    with _lock_unless_held(store):
        store.commit(tables)
    return tables


def _lock_unless_held(store):
    """The store's writer lock, unless this process already holds it (the flow's report step)."""
    import contextlib
    import json
    import os

    path = store.internal / "lock"
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            return contextlib.nullcontext()
    except (OSError, ValueError):
        pass
    return store.lock()
