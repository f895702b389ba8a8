"""report.md / report.html: content, citations, self-containedness and escaping of untrusted text."""

from __future__ import annotations

import base64
import datetime as dt
import re
from types import SimpleNamespace

import pyarrow as pa
import pytest

from evidence_testdata import make_tables, write_out_dir
from vdmine.evidence import report as report_mod
from vdmine.evidence.report import heatmap_png, md_escape, question_topics, write_outputs, write_report
from vdmine.store.schemas import TABLES

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

QUESTION = "Does vitamin D relieve bone pain in osteomalacia, knee osteoarthritis or tendinopathy?"
CONFIG = SimpleNamespace(query=SimpleNamespace(name="vitd_bone_pain", question=QUESTION,
                                               pubmed='"vitamin D"[tiab] AND pain[tiab]'))


@pytest.fixture(scope="module")
def out(corpus, tmp_path_factory):
    d = write_out_dir(tmp_path_factory.mktemp("rep") / "out", make_tables(corpus))
    write_outputs(d, CONFIG, None)
    return d


def test_report_content_and_citations(out):
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for text in (md, html):
        assert QUESTION in text
        # one section per condition group, in the spirit of the seed
        for heading in ("Osteoarthritis", "Rheumatoid arthritis", "Chronic pain", "Osteomalacia", "Mechanisms", "Delivery", "Doses"):
            assert heading in text, heading
        # numeric pmids link to PubMed; secondary ids are labelled, never linked
        assert "https://pubmed.ncbi.nlm.nih.gov/28859173/" in text
        assert "vdw:327 (secondary source)" in text
        assert "pubmed.ncbi.nlm.nih.gov/vdw" not in text
    # the representative sentence of McAlindon's trial is quoted
    assert "did not reduce knee pain or cartilage volume loss" in html
    # dose table: compound, IU/day, route, duration, pmid
    assert re.search(r"\| cholecalciferol \| maintenance \| daily \| 2,000 \|  \| oral \| 730 \|", md)


def test_html_is_self_contained_with_embedded_heatmap(out):
    html = (out / "report.html").read_text()
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert m and base64.b64decode(m.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    # no external resources: every src is a data URI, no stylesheet/script links
    assert all(s.startswith("data:") for s in re.findall(r'src="([^"]*)"', html))
    assert "<link" not in html and "<script" not in html.lower()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert (out / "heatmap.png").read_bytes() == base64.b64decode(m.group(1))


def test_untrusted_abstract_text_is_escaped(corpus, tmp_path):
    """A hostile title/abstract/sentence must render as text in both outputs."""
    tables = make_tables(corpus)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> [click](javascript:alert(1)) | cell'
    papers = tables["papers"].to_pylist()
    for p in papers:
        if p["pmid"] == "28859173":
            p["title"] = evil + " " + p["title"]
    findings = tables["findings"].to_pylist()
    for f in findings:
        # 28859173 lands in the "Other conditions" table (outcome shown), vdw:327 in a section (sentence quoted)
        if f["pmid"] in ("28859173", "vdw:327"):
            f["sentence"] = f["sentence"] + " " + evil
            f["outcome"] = "pain <b>bold</b>"
    tables["papers"] = pa.Table.from_pylist(papers, schema=TABLES["papers"])
    tables["findings"] = pa.Table.from_pylist(findings, schema=TABLES["findings"])
    out = write_out_dir(tmp_path / "out", tables)
    md_path, html_path = write_report(out, CONFIG, {})
    html, md = html_path.read_text(), md_path.read_text()
    assert "<script" not in html.lower() and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "javascript:" not in re.findall(r'href="([^"]*)"', html).__str__()
    assert "<script" not in md.lower() and "<b>" not in md
    assert "&lt;script&gt;" in md and r"\[click\]" in md and r"\| cell" in md


def test_md_escape_neutralises_markdown_and_html():
    assert md_escape("a|b *c* [d](e) <i>") == r"a\|b \*c\* \[d\](e) &lt;i&gt;"
    assert md_escape("  two\n lines ") == " two lines "


def test_counts_come_from_the_run_summary(out):
    summary = SimpleNamespace(found=149, fetched=148, with_findings=60, quarantined=1,
                              finished_at=dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc), started_at=None)
    md_path, _ = write_outputs(out, CONFIG, summary)
    md = md_path.read_text()
    assert "| 149 | 148 | 60 | 1 | 6 | 8 | 7 |" in md
    assert "2025-01-02" in md


def test_empty_map_still_gives_a_report(tmp_path):
    out = write_out_dir(tmp_path / "out", {"papers": TABLES["papers"].empty_table()})
    md_path, html_path = write_outputs(out, None, None)
    assert "No findings were extracted." in md_path.read_text()
    assert heatmap_png(TABLES["evidence_map"].empty_table()) is None
    assert "<img" not in html_path.read_text()


def _sections(md: str) -> list[str]:
    """### headings of the "By condition" part, in order."""
    part = md.split("## By condition", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^### (.+)$", part, flags=re.M)


def test_question_topics_longest_name_and_hierarchy():
    # "knee osteoarthritis" -> its group; "musculoskeletal pain" wins over "pain"; abbreviations match case-sensitively
    assert question_topics("Pain in knee osteoarthritis, RA and musculoskeletal pain?") == [
        "pain", "osteoarthritis", "rheumatoid arthritis", "chronic pain"]
    assert question_topics("a random question about ra") == []
    assert question_topics(None) == []


def test_sections_follow_the_question_then_the_cut_off(out):
    md = (out / "report.md").read_text()
    # bone pain -> chronic pain group, then osteomalacia and knee OA (-> osteoarthritis) in the question's order;
    # the small groups the question does not name (RA: 2 papers, cancer pain: 1) go to the table at the end
    assert _sections(md) == ["Chronic pain", "Osteomalacia", "Osteoarthritis", "Other conditions"]
    assert "Named in the question but without any finding in this corpus: **tendinopathy**." in md
    table = md.split("### Other conditions", 1)[1].split("\n## ", 1)[0]
    # RA: two rows of one paper each (weight 2 each); the tie goes to the first by name
    assert ("| Rheumatoid arthritis | 2 | serum 25(OH)D → disease activity | insufficient | "
            "vdw:1 (secondary source), vdw:48 (secondary source) |") in table
    assert "| Cancer pain | 1 |" in table and "https://pubmed.ncbi.nlm.nih.gov/28859173/" in table


def test_every_group_is_a_section_or_a_table_line_and_the_cut_off_is_configurable(out, monkeypatch):
    from vdmine.evidence.map import read_table

    groups = {r["condition_group"] for r in read_table(out, "evidence_map").to_pylist()}
    md = (out / "report.md").read_text()
    listed = set(_sections(md)) | set(re.findall(r"^\| ([^|]+?) \| \d+ \|", md, flags=re.M))
    assert {g[:1].upper() + g[1:] for g in groups} <= listed
    # no question and no cut-off: every group gets a section, ordered by weight of evidence
    cfg = dict(report_mod.settings(), sections=dict(report_mod.settings()["sections"], min_papers=1, min_decided=0))
    monkeypatch.setattr(report_mod, "settings", lambda: cfg)
    md_path, _ = write_report(out, None, {})
    sections = _sections(md_path.read_text())
    assert "Other conditions" not in sections and len(sections) == len(groups)
    # RA: two observational papers (weight 4) > knee OA: one RCT (3) > osteomalacia: one cross-sectional (2)
    assert sections.index("Rheumatoid arthritis") < sections.index("Osteoarthritis") < sections.index("Osteomalacia")


def test_seed_claims_section_when_a_claims_file_is_given(out):
    from vdmine.evidence.claims import DEFAULT_CLAIMS

    md = write_report(out, CONFIG, {}, DEFAULT_CLAIMS)[0].read_text()
    part = md.split("## Seed claims", 1)[1].split("\n## ", 1)[0]
    # McAlindon's knee-OA RCT (vdw:327) contradicts the OA pain claim
    assert "| oa\\_supplementation\\_pain | osteoarthritis / vitamin D supplementation / pain | benefit | contradicted |" in part
    assert "## Seed claims" not in write_report(out, CONFIG, {})[0].read_text()
