"""report.md / report.html: content, citations, self-containedness and escaping of untrusted text."""

from __future__ import annotations

import base64
import datetime as dt
import re
from types import SimpleNamespace

import pyarrow as pa
import pytest

from evidence_testdata import make_tables, write_out_dir
from vdmine.evidence.report import heatmap_png, md_escape, write_outputs, write_report
from vdmine.store.schemas import TABLES

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

CONFIG = SimpleNamespace(query=SimpleNamespace(name="vitd_bone_pain", question="Does vitamin D relieve bone pain?",
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
        assert "Does vitamin D relieve bone pain?" in text
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
        if f["pmid"] == "28859173":
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
