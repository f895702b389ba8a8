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
UNSPECIFIED_TITLE = "Findings without a named condition"


def settings() -> dict:
    """Layout numbers (section cut-off, limits) from vdmine/evidence/report.toml."""
    return data.report_settings()

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


def heatmap_png(emap: pa.Table, group_order: list[str] | None = None) -> bytes | None:
    """Condition group x outcome grid coloured by verdict (the best-weighted row of the cell),
    annotated with the number of distinct papers over all its rows. None when the map is empty.

    Rows are the groups of the report's sections (condition_hierarchy.tsv), so the picture and the
    text agree. Rows follow ``group_order`` (the report's section order) when given, then the other
    groups by papers; columns are the outcomes with the most papers (report.toml [heatmap])."""
    if emap.num_rows == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    limits = settings()["heatmap"]
    cells: dict[tuple[str, str], dict] = {}
    for r in emap.to_pylist():
        key = (_group_of(r), r["outcome"])
        c = cells.setdefault(key, {"pmids": set(), "best": (-1.0, ""), "verdict": "insufficient"})
        c["pmids"].update(r["pmids"])
        rank = (_row_weight(r), r["condition"] + "\t" + r["exposure"])
        if rank > c["best"]:
            c["best"], c["verdict"] = rank, r["verdict"]
    cond_papers: dict[str, set] = defaultdict(set)
    out_papers: dict[str, set] = defaultdict(set)
    for (cond, outc), c in cells.items():
        cond_papers[cond] |= c["pmids"]
        out_papers[outc] |= c["pmids"]
    first = [g for g in (group_order or []) if g in cond_papers]
    rest = sorted((k for k in cond_papers if k not in first), key=lambda k: (-len(cond_papers[k]), k == UNSPECIFIED, k))
    conds = (first + rest)[: int(limits["max_groups"])]
    outs = sorted(out_papers, key=lambda k: (k == UNSPECIFIED, -len(out_papers[k]), k))[: int(limits["max_outcomes"])]
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
    ylabels = ["(no named condition)" if c == UNSPECIFIED else c[:34] for c in conds]
    ax.set_yticks(range(len(conds)), ylabels, fontsize=8)
    ax.set_xticks([x - 0.5 for x in range(1, len(outs))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(conds))], minor=True)
    ax.grid(which="minor", color="#eeeeee", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("outcome")
    ax.set_ylabel("condition group")
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
    n = int(settings()["sections"]["max_pmids"])
    if r["supporting_pmids"]:
        parts.append(" Papers: ")
        parts += cite_list(r["supporting_pmids"], n)
    else:
        parts.append(" Papers (no finding with a direction): ")
        parts += cite_list(r["pmids"], n)
    if r["opposing_pmids"]:
        parts.append("; disagreeing: ")
        parts += cite_list(r["opposing_pmids"], n)
    return parts


def _group_of(r: dict) -> str:
    return r.get("condition_group") or r["condition"] or UNSPECIFIED


def _row_weight(r: dict) -> float:
    return (r["weight_for"] or 0.0) + (r["weight_against"] or 0.0) + (r["weight_null"] or 0.0) + (r["weight_mixed"] or 0.0)


def _row_rank(r: dict) -> tuple:
    """Strongest rows first: named exposure and outcome, a verdict, then weight and papers."""
    return (
        UNSPECIFIED in (r["exposure"], r["outcome"]),
        r["verdict"] == "insufficient",
        -_row_weight(r),
        -r["n_papers"],
        -r["n_findings"],
        r["condition"],
        r["exposure"],
        r["outcome"],
    )


@dataclass
class Group:
    """The rows of one condition group (a report section) and how much evidence they hold."""

    name: str
    rows: list[dict]
    pmids: set[str]
    weighed: set[str]  # papers whose findings carry a stance
    weight: float  # summed design weight of ``weighed``
    decided: int  # rows with a verdict other than insufficient
    members: dict[str, set[str]]  # condition -> its papers

    @property
    def title(self) -> str:
        return UNSPECIFIED_TITLE if self.name == UNSPECIFIED else self.name[:1].upper() + self.name[1:]


def condition_groups(emap: pa.Table, design_of: dict[str, str | None]) -> dict[str, Group]:
    """Evidence-map rows grouped by ``condition_group`` (the condition hierarchy)."""
    from vdmine.evidence.verdict import design_weight

    by: dict[str, list[dict]] = defaultdict(list)
    for r in emap.to_pylist():
        by[_group_of(r)].append(r)
    out = {}
    for name, rows in by.items():
        rows.sort(key=_row_rank)
        pmids = {p for r in rows for p in r["pmids"]}
        weighed = {p for r in rows for p in (r["supporting_pmids"] or []) + (r["opposing_pmids"] or [])}
        members: dict[str, set[str]] = defaultdict(set)
        for r in rows:
            members[r["condition"]] |= set(r["pmids"])
        out[name] = Group(
            name, rows, pmids, weighed, sum(design_weight(design_of.get(p)) for p in weighed),
            sum(r["verdict"] != "insufficient" for r in rows), dict(members),
        )
    return out


def _name_patterns() -> list[tuple[re.Pattern, str]]:
    """(pattern, canonical condition) for every name the curated lexicon and the hierarchy know."""
    from vdmine.nlp.vocab import load_lexicon

    names: dict[tuple[str, bool], str] = {}
    for t in load_lexicon():
        names.setdefault((t.text if t.case_sensitive else t.text.lower(), t.case_sensitive), t.canonical)
    hier = data.hierarchy()
    for child, parent in hier.parent.items():
        names.setdefault((child, False), child)
        names.setdefault((parent, False), parent)
    out = []
    for (text, case_sensitive), canonical in names.items():
        flags = 0 if case_sensitive else re.IGNORECASE
        out.append((re.compile(r"(?<![\w-])" + re.escape(text) + r"(?![\w-])", flags), canonical))
    return out


def question_topics(question: str | None) -> list[str]:
    """Condition groups the question names, in the order it names them.

    Longest name wins where names overlap ("musculoskeletal pain", not "pain"); each name maps to
    its group through the condition hierarchy ("knee osteoarthritis" -> osteoarthritis).
    """
    if not question:
        return []
    hits = []
    for pattern, canonical in _name_patterns():
        for m in pattern.finditer(question):
            hits.append((m.start(), -(m.end() - m.start()), m.end(), canonical))
    hits.sort()
    taken_until, topics = -1, []
    hier = data.hierarchy()
    for start, _, end, canonical in hits:
        if start < taken_until:
            continue
        taken_until = end
        group = hier.group(canonical)
        if group not in topics:
            topics.append(group)
    return topics


def plan_sections(groups: dict[str, Group], topics: list[str]) -> tuple[list[Group], list[Group], list[str]]:
    """(full sections in order, groups for the "Other conditions" table, topics without findings).

    Cut-off and order are in report.toml [sections]; see docs/evidence_map.md."""
    cfg = settings()["sections"]
    by_lower = {name.lower(): g for name, g in groups.items()}
    topic_groups = [by_lower[t.lower()] for t in topics if t.lower() in by_lower] if cfg.get("question_topics_first", True) else []
    missing = [t for t in topics if t.lower() not in by_lower]
    strongest = sorted(groups.values(), key=lambda g: (g.name == UNSPECIFIED, -g.weight, -len(g.pmids), g.name.lower()))
    full = list(topic_groups)
    table = []
    for g in strongest:
        if g in full:
            continue
        if len(g.pmids) >= int(cfg["min_papers"]) and g.decided >= int(cfg["min_decided"]):
            full.append(g)
        else:
            table.append(g)
    return full, table, missing


def _condition_sections(doc: Doc, groups: dict[str, Group], topics: list[str]) -> None:
    cfg = settings()["sections"]
    full, table, missing = plan_sections(groups, topics)
    n_topics = sum(g.name.lower() in {t.lower() for t in topics} for g in full)
    intro = (
        f"{len(full)} condition group(s) get a section and {len(table)} more are listed in the table at the end "
        f"(conditions are grouped by vdmine/evidence/condition_hierarchy.tsv). A group gets a section when the question "
        f"names it or when it has at least {cfg['min_papers']} papers and at least {cfg['min_decided']} row(s) with a verdict "
        f"other than insufficient (vdmine/evidence/report.toml). "
    )
    if n_topics:
        intro += f"The {n_topics} group(s) the question names come first, in its order; the others follow by weight of evidence "
    else:
        intro += "Sections are ordered by weight of evidence "
    intro += "(summed design weight of the papers whose findings carry a stance)."
    doc.add(Para([intro]))
    if missing:
        doc.add(Para(["Named in the question but without any finding in this corpus: ", Strong(", ".join(missing)), "."]))
    topic_names = {t.lower() for t in topics}
    for g in full:
        max_rows = int(cfg["max_rows_topic"] if g.name.lower() in topic_names else cfg["max_rows"])
        doc.add(Heading(3, g.title))
        line = (
            f"{len(g.pmids)} paper(s), {len(g.weighed)} with a weighed finding (evidence weight {g.weight:g}); "
            f"{len(g.rows)} condition × exposure × outcome row(s), {g.decided} with a verdict other than insufficient."
        )
        if len(g.members) > 1:
            parts = sorted(g.members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            line += " Conditions: " + ", ".join(f"{c} ({len(p)})" for c, p in parts) + "."
        doc.add(Para([line]))
        for r in g.rows[:max_rows]:
            doc.add(Bullets([_row_line(r)]))
            if r["representative_sentence"]:
                doc.add(Quote(r["representative_sentence"], cite(r["representative_pmid"])))
        rest = g.rows[max_rows:]
        if rest:
            weak = sum(r["verdict"] == "insufficient" or UNSPECIFIED in (r["exposure"], r["outcome"]) for r in rest)
            doc.add(Para([f"{len(rest)} more row(s) ({weak} of them insufficient or without a named exposure/outcome) "
                          "are in the evidence_map table."]))
    if table:
        doc.add(Heading(3, "Other conditions"))
        doc.add(Para(["Groups below the cut-off, strongest first: the strongest row of each, its verdict and the papers."]))
        t = Table(["condition", "papers", "strongest row", "verdict", "pmids"], [])
        n = int(cfg["max_table_pmids"])
        for g in table:
            name = g.title
            others = sorted(c for c in g.members if c.lower() != g.name.lower())
            if others:
                name += " (incl. " + ", ".join(others) + ")"
            top = g.rows[0]
            t.rows.append([[name], [str(len(g.pmids))], [f"{top['exposure']} → {top['outcome']}"], [top["verdict"]],
                           cite_list(sorted(g.pmids, key=data.pmid_key), n)])
        doc.add(t)


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
        for r in rows[: int(settings()["sentences"]["max_quotes"])]:
            doc.add(Quote(r["sentence"], cite(r["pmid"])))


def _dose_table(doc: Doc, doses: pa.Table) -> None:
    """Vitamin D doses with an IU figure, one line per distinct dose per paper (a dose repeated in the
    methods, results and conclusions is one line); mentions without an IU figure are counted."""
    all_rows = doses.to_pylist()
    if not all_rows:
        doc.add(Para(["No dose was extracted."]))
        return
    fields = ("compound", "regimen", "frequency", "iu_per_day", "bolus_iu", "route", "duration_days")
    seen, rows = set(), []
    for d in sorted(all_rows, key=lambda d: (data.pmid_key(d["pmid"]), d["sent_idx"], d["start_char"] or 0)):
        if d["iu_per_day"] is None and d["bolus_iu"] is None:
            continue
        key = (d["pmid"],) + tuple(d[f] for f in fields)
        if key not in seen:
            seen.add(key)
            rows.append(d)
    without = sum(d["iu_per_day"] is None and d["bolus_iu"] is None for d in all_rows)
    max_rows = int(settings()["doses"]["max_rows"])
    doc.add(Para([f"{len(rows)} distinct vitamin D dose(s) with an IU figure in {len({d['pmid'] for d in rows})} paper(s), "
                  "by paper; a dose repeated in one abstract is listed once."]))
    if rows:
        table = Table(["compound", "regimen", "frequency", "IU/day", "bolus IU", "route", "duration (days)", "as written", "pmid"], [])
        for d in rows[:max_rows]:
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
    notes = []
    if len(rows) > max_rows:
        notes.append(f"{len(rows) - max_rows} more dose(s) are in the doses table.")
    if without:
        notes.append(f"{without} dose mention(s) without an IU figure (other compounds, or units that do not convert) are in the doses table.")
    if notes:
        doc.add(Para([" ".join(notes)]))


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
    design_of = dict(zip(papers.column("pmid").to_pylist(), papers.column("study_design").to_pylist()))
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

    groups = condition_groups(emap, design_of)
    topics = question_topics(getattr(query, "question", None))
    png = heatmap_png(emap, [g.name for g in plan_sections(groups, topics)[0]])
    doc.add(Heading(2, "Evidence map"))
    if png:
        doc.add(Image(png, "Heatmap: condition groups (rows) by outcomes (columns), coloured by verdict, annotated with the number of papers"))
        hm = settings()["heatmap"]
        doc.add(Para([f"Up to {hm['max_groups']} condition groups, in the order of the sections below, × the {hm['max_outcomes']} outcomes with the most papers; "
                      "a cell is coloured by the verdict of its best-weighted row and shows the number of papers over all its rows."]))
    else:
        doc.add(Para(["No findings yet: the evidence map is empty."]))

    if claims_path:
        from vdmine.evidence.claims import check_claims

        doc.add(Heading(2, "Seed claims"))
        rows = check_claims(out_dir, claims_path)
        t = Table(["id", "claim", "expected", "status", "supporting", "disagreeing"], [])
        for r in rows:
            t.rows.append([[r["id"]], [r["claim"]], [r["expected"]], [r["status"]], cite_list(r["supporting_pmids"], 6), cite_list(r["opposing_pmids"], 6)])
        doc.add(t)

    doc.add(Heading(2, "By condition"))
    if emap.num_rows:
        _condition_sections(doc, groups, topics)
    else:
        doc.add(Para(["No findings were extracted."]))

    doc.add(Heading(2, "Mechanisms"))
    doc.add(Para(["Sentences naming a pain mechanism next to a pain mention (vdmine/nlp/lexicons/mechanism_cues.tsv)."]))
    _sentence_section(
        doc, mech, "mechanism", lambda r: r["pain_context"],
        lambda rows: f", {sum(bool(r['vitd_in_sentence']) for r in rows)} naming vitamin D",
    )

    doc.add(Heading(2, "Delivery"))
    doc.add(Para(["How vitamin D was given, from sentences that name vitamin D (vdmine/nlp/lexicons/delivery_cues.tsv); result = the paper's best finding."]))

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
    """What ``vdmine report`` calls: rebuild and publish evidence_map
    (:func:`vdmine.evidence.map.build_and_write_evidence_map`), then write the report."""
    from vdmine.evidence.map import build_and_write_evidence_map

    build_and_write_evidence_map(out_dir)
    return write_report(Path(out_dir), config, counts_from_summary(summary), claims_path)
