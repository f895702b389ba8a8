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


def _representative(findings: list[dict], carriers: set[str], winning) -> dict | None:
    """Best sentence from a paper that carries the verdict (rules in the schema doc)."""
    pool = [f for f in findings if f["pmid"] in carriers and (winning is None or f["_stance"] == winning)]
    pool = pool or [f for f in findings if f["_stance"] is not None] or findings
    if not pool:
        return None
    return min(
        pool,
        key=lambda f: (
            -f["_design_w"],
            bool(f.get("hedged")),
            SECTION_RANK.get((f.get("section") or "other").lower(), 3),
            data.pmid_key(f["pmid"]),
            f["sent_idx"],
        ),
    )


_FINDING_COLUMNS = ("pmid", "sent_idx", "section", "condition", "exposure", "outcome", "direction", "hedged",
                    "significant", "study_design")


def _group_row(key: tuple[str, str, str], group: list[dict], dose_of, hier) -> tuple[dict, dict | None]:
    """One evidence-map row from the findings of one (condition, exposure, outcome) group, and
    the representative finding (its sentence is filled in by the caller).

    ``group`` rows carry the finding columns plus ``_design`` (the paper's design) and ``_ref``
    (where to find the sentence); they are in findings-table order. ``dose_of`` maps a pmid to its
    vitamin D (iu_per_day values, bolus values)."""
    for f in group:
        f["_design_w"] = design_weight(f["_design"])
    condition, exposure, outcome = key
    fs = sorted(group, key=lambda f: (data.pmid_key(f["pmid"]), f["sent_idx"]))
    dir_counts = {d: 0 for d in DIRECTIONS}
    unclear = hedged = 0
    for f in fs:
        d = f.get("direction")
        if d in dir_counts:
            dir_counts[d] += 1
        else:
            unclear += 1
        hedged += bool(f.get("hedged"))
    majority_assoc = 1 if dir_counts["association_positive"] >= dir_counts["association_negative"] else -1

    dir_weight = {d: 0.0 for d in DIRECTIONS}
    items = []
    for f in fs:
        d = f.get("direction")
        factor = finding_factor(f.get("hedged"), f.get("significant"), d)
        f["_stance"] = map_stance(d, exposure, outcome, majority_assoc)
        if d in dir_weight:
            dir_weight[d] += factor * f["_design_w"]
        items.append((f["pmid"], f["_design"], f["_stance"], factor))
    papers_st = reduce_papers(items)
    v = decide(papers_st)

    pmids = _sorted_pmids(f["pmid"] for f in fs)
    if v.winning is None:
        carriers = set(papers_st)
    else:
        carriers = {p for p, st in papers_st.items() if st.stance == v.winning}
    opposing = [p for p in papers_st if p not in carriers]

    bucket_counts = {b: 0 for b in DESIGN_BUCKETS}
    seen = {}
    for f in fs:
        seen.setdefault(f["pmid"], f["_design"])
    for design in seen.values():
        bucket_counts[design_bucket(design)] += 1

    no_dose = ([], [])
    days = [x for p in carriers for x in dose_of.get(p, no_dose)[0]]
    boluses = sorted({x for p in carriers for x in dose_of.get(p, no_dose)[1]})
    top = max(dir_weight.values())
    direction = next((d for d in DIRECTIONS if dir_weight[d] == top), None) if top > 0 else None
    rep = _representative(fs, carriers, v.winning)
    row = {
        "condition": condition,
        "condition_group": hier.group(condition) if condition != UNSPECIFIED else UNSPECIFIED,
        "exposure": exposure,
        "outcome": outcome,
        "n_papers": len(pmids),
        "n_findings": len(fs),
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
        "representative_pmid": rep["pmid"] if rep else None,
        "representative_sent_idx": rep["sent_idx"] if rep else None,
        "representative_sentence": None,
    }
    return row, rep


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

    # Rows become Python values one (condition, exposure, outcome) group at a time, and only the
    # columns the aggregation reads. The representative sentence is taken from Arrow at the end.
    cols = [c for c in _FINDING_COLUMNS if c in findings.column_names]
    index_of: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, key in enumerate(_keys(findings)):
        index_of[key].append(i)
    table = findings.select(cols)
    sentences = findings.column("sentence") if "sentence" in findings.column_names else pa.nulls(findings.num_rows, pa.string())
    out = []
    for key in sorted(index_of):
        idx = index_of[key]
        group = table.take(pa.array(idx, pa.int64())).to_pylist()
        for f, i in zip(group, idx):
            f["_ref"] = i
            f["_design"] = design_of.get(f["pmid"]) or f.get("study_design")
        row, rep = _group_row(key, group, dose_of, hier)
        if rep:
            row["representative_sentence"] = sentences[rep["_ref"]].as_py()
        out.append(row)
    return pa.Table.from_pylist(out, schema=TABLES["evidence_map"])


# Findings rows per spill file and per read batch in build_evidence_map_from_parts: memory
# follows this, not the corpus (a group is never split, so one very large group is held whole).
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
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for key, f in zip(_keys(spilled), spilled.to_pylist()):
            groups[key].append(f)
        del spilled
        path.unlink()
        for key, group in groups.items():
            dose_of = {f["pmid"]: (f["_days"], f["_boluses"]) for f in group}
            row, rep = _group_row(key, group, dose_of, hier)
            if rep:
                row["_ref"] = (rep["_part"], rep["_row"])
            out.append(row)
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
