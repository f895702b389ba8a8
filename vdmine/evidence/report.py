"""The human-readable report: ``report.md`` and a self-contained ``report.html``.

Both are rendered from one small document model (headings, paragraphs, lists, quotes, tables,
one image) so they always say the same thing. Abstract text is untrusted: every string from the
data goes through :func:`md_escape` / :func:`html.escape` at the last moment, links are only ever
built to ``https://pubmed.ncbi.nlm.nih.gov/<digits>/``, and the HTML carries a Content Security
Policy that forbids scripts and any external resource (the heatmap is a base64 data URI).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from vdmine.evidence import data
from vdmine.evidence.map import UNSPECIFIED, build_evidence_map, read_table

VERDICT_COLOURS = {
    "supports": "#2e7d32",
    "mixed": "#f9a825",
    "no effect": "#78909c",
    "against": "#c62828",
    "insufficient": "#d7d7d7",
}
MAX_ROWS_PER_SECTION = 12
MAX_QUOTES = 4
MAX_DOSE_ROWS = 300
HEATMAP_MAX_CONDITIONS = 20
HEATMAP_MAX_OUTCOMES = 16

# ------------------------------------------------------------------------------ document model


@dataclass
class Link:
    text: str
    url: str


@dataclass
class Strong:
    text: str


Inline = str | Link | Strong


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    parts: list[Inline]


@dataclass
class Quote:
    text: str
    cite: list[Inline]


@dataclass
class Bullets:
    items: list[list[Inline]]


@dataclass
class Table:
    header: list[str]
    rows: list[list[list[Inline]]]


@dataclass
class Image:
    png: bytes
    alt: str


@dataclass
class Doc:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#|!~])")


def md_escape(text: str) -> str:
    """Make untrusted text inert in Markdown: HTML-escape it, backslash-escape Markdown syntax."""
    text = re.sub(r"\s+", " ", str(text))
    text = html.escape(text, quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_inline(parts: list[Inline]) -> str:
    out = []
    for p in parts:
        if isinstance(p, Link):
            out.append(f"[{md_escape(p.text)}]({p.url})")
        elif isinstance(p, Strong):
            out.append(f"**{md_escape(p.text)}**")
        else:
            out.append(md_escape(p))
    return "".join(out)


def _html_inline(parts: list[Inline]) -> str:
    out = []
    for p in parts:
        if isinstance(p, Link):
            out.append(f'<a href="{html.escape(p.url)}">{html.escape(p.text)}</a>')
        elif isinstance(p, Strong):
            out.append(f"<strong>{html.escape(p.text)}</strong>")
        else:
            out.append(html.escape(str(p)))
    return "".join(out)


def render_markdown(doc: Doc) -> str:
    out = [f"# {md_escape(doc.title)}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * b.level} {md_escape(b.text)}", ""]
        elif isinstance(b, Para):
            out += [_md_inline(b.parts), ""]
        elif isinstance(b, Quote):
            out += [f"> “{md_escape(b.text.strip())}” — {_md_inline(b.cite)}", ""]
        elif isinstance(b, Bullets):
            out += [f"- {_md_inline(item)}" for item in b.items] + [""]
        elif isinstance(b, Table):
            out.append("| " + " | ".join(md_escape(h) for h in b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            out += ["| " + " | ".join(_md_inline(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Image):
            out += [f"![{md_escape(b.alt)}](heatmap.png)", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f3f3f3}blockquote{margin:.4em 0 1em 1em;padding:.3em .8em;border-left:4px solid #9ab;background:#f7f9fa}
img{max-width:100%;height:auto}a{color:#1a5fb4}.cite{color:#555;font-size:.9em}
"""


def render_html(doc: Doc) -> str:
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_html_inline(b.parts)}</p>")
        elif isinstance(b, Quote):
            out.append(f'<blockquote>“{html.escape(b.text.strip())}” <span class="cite">— {_html_inline(b.cite)}</span></blockquote>')
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Image):
            b64 = base64.b64encode(b.png).decode("ascii")
            out.append(f'<p><img alt="{html.escape(b.alt)}" src="data:image/png;base64,{b64}"></p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ helpers


def pubmed_url(pmid: str) -> str | None:
    """PubMed link for a numeric pmid; None for other ids (secondary sources)."""
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if pmid and pmid.isdigit() else None


def cite(pmid: str) -> list[Inline]:
    url = pubmed_url(pmid)
    return [Link(f"PMID {pmid}", url)] if url else [f"{pmid} (secondary source)"]


def cite_list(pmids: list[str], limit: int = 12) -> list[Inline]:
    parts: list[Inline] = []
    for i, p in enumerate(pmids[:limit]):
        if i:
            parts.append(", ")
        parts += cite(p)
    if len(pmids) > limit:
        parts.append(f" (+{len(pmids) - limit} more)")
    return parts


def _num(x) -> str:
    if x is None:
        return ""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def heatmap_png(emap: pa.Table) -> bytes | None:
    """Condition x outcome grid coloured by verdict (the best-weighted exposure row of the cell),
    annotated with the number of distinct papers over all exposures. None when the map is empty."""
    if emap.num_rows == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    cells: dict[tuple[str, str], dict] = {}
    for r in emap.to_pylist():
        key = (r["condition"], r["outcome"])
        total = r["weight_for"] + r["weight_against"] + r["weight_null"] + r["weight_mixed"]
        c = cells.setdefault(key, {"pmids": set(), "best": (-1.0, ""), "verdict": "insufficient"})
        c["pmids"].update(r["pmids"])
        rank = (total, r["exposure"])
        if rank > c["best"]:
            c["best"], c["verdict"] = rank, r["verdict"]
    cond_papers: dict[str, set] = defaultdict(set)
    out_papers: dict[str, set] = defaultdict(set)
    for (cond, outc), c in cells.items():
        cond_papers[cond] |= c["pmids"]
        out_papers[outc] |= c["pmids"]
    conds = sorted(cond_papers, key=lambda k: (-len(cond_papers[k]), k == UNSPECIFIED, k))[:HEATMAP_MAX_CONDITIONS]
    outs = sorted(out_papers, key=lambda k: (-len(out_papers[k]), k == UNSPECIFIED, k))[:HEATMAP_MAX_OUTCOMES]
    order = list(VERDICT_COLOURS)
    grid = [[-1] * len(outs) for _ in conds]
    for i, cond in enumerate(conds):
        for j, outc in enumerate(outs):
            if (cond, outc) in cells:
                grid[i][j] = order.index(cells[(cond, outc)]["verdict"])
    import numpy as np

    arr = np.ma.masked_less(np.array(grid, dtype=float), 0)
    cmap = ListedColormap([VERDICT_COLOURS[v] for v in order]).with_extremes(bad="#ffffff")
    fig_w = max(6.0, 1.0 + 0.65 * len(outs) + 2.5)
    fig_h = max(3.0, 1.6 + 0.42 * len(conds))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=110)
    ax.imshow(arr, cmap=cmap, vmin=-0.5, vmax=len(order) - 0.5, aspect="auto")
    for i, cond in enumerate(conds):
        for j, outc in enumerate(outs):
            c = cells.get((cond, outc))
            if c:
                colour = "white" if c["verdict"] in ("supports", "against") else "black"
                ax.text(j, i, str(len(c["pmids"])), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(outs)), [o[:28] for o in outs], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(conds)), [c[:34] for c in conds], fontsize=8)
    ax.set_xticks([x - 0.5 for x in range(1, len(outs))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(conds))], minor=True)
    ax.grid(which="minor", color="#eeeeee", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("outcome")
    ax.set_ylabel("condition")
    ax.legend(
        handles=[Patch(facecolor=VERDICT_COLOURS[v], label=v) for v in order],
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="verdict", title_fontsize=8,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


# ------------------------------------------------------------------------------------- content


def _counts(out_dir: Path, counts: dict, papers: pa.Table, findings: pa.Table) -> dict:
    c = dict(counts or {})
    quarantine = read_table(out_dir, "quarantine")
    runs = read_table(out_dir, "runs")
    last_run = runs.to_pylist()[-1] if runs.num_rows else {}
    c.setdefault("parsed", papers.num_rows)
    c.setdefault("found", last_run.get("found") if last_run.get("found") is not None else papers.num_rows)
    c.setdefault("with_findings", len(set(findings.column("pmid").to_pylist())))
    c.setdefault("quarantined", quarantine.num_rows)
    c.setdefault("findings", findings.num_rows)
    c.setdefault("papers", papers.num_rows)
    if "date" not in c:
        finished = last_run.get("finished_at")
        c["date"] = (finished.date() if finished else _dt.date.today()).isoformat()
    return c


def _row_line(r: dict) -> list[Inline]:
    designs = [
        (r["n_meta_analysis"], "meta-analysis"),
        (r["n_rct"], "RCT"),
        (r["n_observational"], "observational"),
        (r["n_case_report"], "case report"),
        (r["n_animal_in_vitro"], "animal/in vitro"),
        (r["n_other_design"], "other design"),
    ]
    dirs = [
        (r["n_benefit"], "benefit"),
        (r["n_harm"], "harm"),
        (r["n_no_effect"], "no effect"),
        (r["n_mixed"], "mixed"),
        (r["n_association_positive"], "positive association"),
        (r["n_association_negative"], "negative association"),
        (r["n_unclear"], "unclear"),
    ]
    parts: list[Inline] = [
        Strong(f"{r['exposure']} → {r['outcome']}"),
        f" ({r['condition']}): ",
        Strong(r["verdict"]),
        f" — {r['n_papers']} paper(s): " + ", ".join(f"{n} {d}" for n, d in designs if n),
        "; findings: " + ", ".join(f"{n} {d}" for n, d in dirs if n) + ".",
    ]
    if r["iu_per_day_min"] is not None:
        parts.append(f" Daily dose in these papers: {_num(r['iu_per_day_min'])}–{_num(r['iu_per_day_max'])} IU/day.")
    if r["bolus_iu"]:
        parts.append(" Bolus: " + ", ".join(_num(b) for b in r["bolus_iu"]) + " IU.")
    parts.append(" Papers: ")
    parts += cite_list(r["supporting_pmids"])
    if r["opposing_pmids"]:
        parts.append("; disagreeing: ")
        parts += cite_list(r["opposing_pmids"])
    return parts


def _condition_sections(doc: Doc, emap: pa.Table) -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in emap.to_pylist():
        groups[r["condition_group"] or r["condition"]].append(r)
    papers_of = {g: {p for r in rows for p in r["pmids"]} for g, rows in groups.items()}
    order = sorted(groups, key=lambda g: (g == UNSPECIFIED, -len(papers_of[g]), g))
    for g in order:
        rows = sorted(groups[g], key=lambda r: (-r["n_papers"], -r["n_findings"], r["condition"], r["exposure"], r["outcome"]))
        title = "Findings without a named condition" if g == UNSPECIFIED else g[:1].upper() + g[1:]
        doc.add(Heading(3, title))
        doc.add(Para([f"{len(papers_of[g])} paper(s), {len(rows)} condition × exposure × outcome row(s)."]))
        for r in rows[:MAX_ROWS_PER_SECTION]:
            doc.add(Bullets([_row_line(r)]))
            if r["representative_sentence"]:
                doc.add(Quote(r["representative_sentence"], cite(r["representative_pmid"])))
        if len(rows) > MAX_ROWS_PER_SECTION:
            doc.add(Para([f"{len(rows) - MAX_ROWS_PER_SECTION} smaller row(s) not shown; see the evidence_map table."]))


def _sentence_section(doc: Doc, table: pa.Table, key: str, keep, describe) -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in table.to_pylist():
        if keep(r):
            groups[r[key]].append(r)
    if not groups:
        doc.add(Para(["No sentence in this corpus matched."]))
        return
    for name in sorted(groups, key=lambda k: (-len({r["pmid"] for r in groups[k]}), k)):
        rows = sorted(groups[name], key=lambda r: (not r.get("vitd_in_sentence", True), data.pmid_key(r["pmid"]), r["sent_idx"]))
        pmids = sorted({r["pmid"] for r in rows}, key=data.pmid_key)
        doc.add(Bullets([[Strong(name), f": {len(rows)} sentence(s) in {len(pmids)} paper(s)" + describe(rows) + ": "] + cite_list(pmids)]))
        for r in rows[:MAX_QUOTES]:
            doc.add(Quote(r["sentence"], cite(r["pmid"])))


def _dose_table(doc: Doc, doses: pa.Table) -> None:
    rows = [d for d in doses.to_pylist()]
    rows.sort(key=lambda d: (d["iu_per_day"] is None and d["bolus_iu"] is None, data.pmid_key(d["pmid"]), d["sent_idx"], d["start_char"] or 0))
    if not rows:
        doc.add(Para(["No dose was extracted."]))
        return
    table = Table(["compound", "regimen", "frequency", "IU/day", "bolus IU", "route", "duration (days)", "as written", "pmid"], [])
    for d in rows[:MAX_DOSE_ROWS]:
        table.rows.append(
            [
                [d["compound"] or ""],
                [d["regimen"] or ""],
                [d["frequency"] or ""],
                [_num(d["iu_per_day"])],
                [_num(d["bolus_iu"])],
                [d["route"] or ""],
                [_num(d["duration_days"])],
                [d["text"] or ""],
                cite(d["pmid"]),
            ]
        )
    doc.add(table)
    if len(rows) > MAX_DOSE_ROWS:
        doc.add(Para([f"{len(rows) - MAX_DOSE_ROWS} more dose row(s) in the doses table."]))


def build_report(out_dir: Path, config=None, counts: dict | None = None, claims_path: str | Path | None = None) -> tuple[Doc, bytes | None]:
    """The report's document model and heatmap PNG (no files written)."""
    out_dir = Path(out_dir)
    papers = read_table(out_dir, "papers", required=True)
    findings = read_table(out_dir, "findings")
    doses = read_table(out_dir, "doses")
    emap = read_table(out_dir, "evidence_map") if (out_dir / "evidence_map").exists() else build_evidence_map(papers, findings, doses)
    if (out_dir / "mechanisms").exists() and (out_dir / "delivery").exists():
        mech, deliv = read_table(out_dir, "mechanisms"), read_table(out_dir, "delivery")
    else:
        from vdmine.evidence.mechanisms import mechanism_and_delivery_rows

        mech, deliv = mechanism_and_delivery_rows(papers, findings, read_table(out_dir, "conditions"))
    c = _counts(out_dir, counts or {}, papers, findings)
    query = getattr(config, "query", None)
    name = getattr(query, "name", "") or "query"
    doc = Doc(f"vdmine evidence report: {name}")

    doc.add(Heading(2, "Question and data"))
    doc.add(
        Bullets(
            [
                [Strong("Question: "), getattr(query, "question", "") or "(not set in the config)"],
                [Strong("PubMed query: "), getattr(query, "pubmed", "") or "(local files)"],
                [Strong("Date: "), str(c["date"])],
            ]
        )
    )
    doc.add(
        Table(
            ["found", "parsed", "with findings", "quarantined", "papers in the tables", "findings", "evidence-map rows"],
            [[[str(c[k])] for k in ("found", "parsed", "with_findings", "quarantined", "papers", "findings")] + [[str(emap.num_rows)]]],
        )
    )
    doc.add(
        Para(
            [
                "Verdicts weigh each paper once, by design (meta-analysis 4, RCT 3, observational 2, case report 1, "
                "animal/in vitro 0.5) and halve hedged or non-significant statements; a stance needs two thirds of the "
                "weight, and a total below 3 is insufficient (docs/evidence_map.md). Statements are machine-extracted "
                "from abstracts: check the quoted sentences before relying on them. Ids like vdw:12 are secondary "
                "sources (VitaminDWiki quotations), not PubMed records."
            ]
        )
    )

    png = heatmap_png(emap)
    doc.add(Heading(2, "Evidence map"))
    if png:
        doc.add(Image(png, "Heatmap: conditions (rows) by outcomes (columns), coloured by verdict, annotated with the number of papers"))
        doc.add(Para([f"Top {HEATMAP_MAX_CONDITIONS} conditions × {HEATMAP_MAX_OUTCOMES} outcomes by number of papers; a cell shows the verdict of its best-weighted exposure and the papers over all exposures."]))
    else:
        doc.add(Para(["No findings yet: the evidence map is empty."]))

    if claims_path:
        from vdmine.evidence.claims import check_claims

        doc.add(Heading(2, "Claims of the seed document"))
        rows = check_claims(out_dir, claims_path)
        t = Table(["id", "claim", "expected", "status", "supporting", "disagreeing"], [])
        for r in rows:
            t.rows.append([[r["id"]], [r["claim"]], [r["expected"]], [r["status"]], cite_list(r["supporting_pmids"], 6), cite_list(r["opposing_pmids"], 6)])
        doc.add(t)

    doc.add(Heading(2, "By condition"))
    if emap.num_rows:
        _condition_sections(doc, emap)
    else:
        doc.add(Para(["No findings were extracted."]))

    doc.add(Heading(2, "Mechanisms"))
    doc.add(Para(["Sentences naming a pain mechanism next to a pain mention (vdmine/evidence/mechanism_cues.tsv)."]))
    _sentence_section(
        doc, mech, "mechanism", lambda r: r["pain_context"],
        lambda rows: f", {sum(bool(r['vitd_in_sentence']) for r in rows)} naming vitamin D",
    )

    doc.add(Heading(2, "Delivery"))
    doc.add(Para(["How vitamin D was given, from sentences that name vitamin D (vdmine/evidence/delivery_cues.tsv); result = the paper's best finding."]))

    def _results(rows: list[dict]) -> str:
        got = sorted({f"{r['direction']} ({r['outcome']})" for r in rows if r["direction"]})
        return ("; results: " + ", ".join(got[:5])) if got else ""

    _sentence_section(doc, deliv, "delivery", lambda r: True, _results)

    doc.add(Heading(2, "Doses"))
    _dose_table(doc, doses)
    return doc, png


def write_report(out_dir: Path, config=None, counts: dict | None = None, claims_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``out_dir/report.md`` (+ ``heatmap.png`` beside it) and self-contained ``out_dir/report.html``.

    ``config`` is a :class:`vdmine.config.Config` (question and query are read from it; None is
    fine); ``counts`` may give found/parsed/with_findings/quarantined/date, anything missing is
    read from the tables. With ``claims_path`` the report also carries the seed-claims check.
    """
    out_dir = Path(out_dir)
    doc, png = build_report(out_dir, config, counts, claims_path)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    if png:
        (out_dir / "heatmap.png").write_bytes(png)
    md_path.write_text(render_markdown(doc), encoding="utf-8")
    html_path.write_text(render_html(doc), encoding="utf-8")
    return md_path, html_path


def counts_from_summary(summary) -> dict:
    """Report counts from a :class:`vdmine.run.RunSummary` (None -> {} and the tables decide)."""
    if summary is None:
        return {}
    when = getattr(summary, "finished_at", None) or getattr(summary, "started_at", None)
    out = {
        "found": summary.found,
        "parsed": summary.fetched,
        "with_findings": summary.with_findings,
        "quarantined": summary.quarantined,
    }
    if when is not None:
        out["date"] = when.date().isoformat()
    return out


def write_outputs(out_dir: Path, config=None, summary=None, claims_path: str | Path | None = None) -> tuple[Path, Path]:
    """What the flow and ``vdmine report`` call: rebuild and publish evidence_map, mechanisms and
    delivery (:func:`vdmine.evidence.map.build_and_write_evidence_map`), then write the report."""
    from vdmine.evidence.map import build_and_write_evidence_map

    build_and_write_evidence_map(out_dir)
    return write_report(Path(out_dir), config, counts_from_summary(summary), claims_path)
