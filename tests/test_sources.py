"""Local sources: JSONL records in the corpus schema and input path handling."""

from __future__ import annotations

import json

import pytest

from vdmine.errors import VdmineError
from vdmine.pubmed.sources import iter_files, iter_jsonl, resolve_inputs
from vdmine.records import Quarantined, Record


def test_vitd_pain_jsonl_all_records(corpus):
    items = list(iter_jsonl(corpus / "vitd_pain.jsonl"))
    assert len(items) == 149 and all(isinstance(i, Record) for i in items)
    assert len({i.pmid for i in items}) == 149
    r = next(i for i in items if i.pmid == "7843955")
    assert r.title == "Alleviation of migraines with therapeutic vitamin D and calcium." and r.year == 1994
    assert r.source == "jsonl:vitd_pain.jsonl"
    with_sections = [i for i in items if i.sections]
    assert with_sections and all(s.text for i in with_sections for s in i.sections)


def test_secondary_records_keep_non_pubmed_ids(corpus):
    items = list(iter_jsonl(corpus / "secondary" / "vitamindwiki_records.jsonl"))
    assert len(items) == 426 and all(i.pmid.startswith("vdw:") for i in items)


def test_bad_lines_are_quarantined_not_lost(tmp_path, corpus):
    good = (corpus / "vitd_pain.jsonl").read_text().splitlines()[:3]
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(
        good[0].encode() + b"\n"
        + b'{"pmid": "1", "title": "caf\xe9 latin-1"}\n'  # not UTF-8
        + b"{not json\n"
        + b'{"title": "no id"}\n'
        + b"\n"
        + good[1].encode() + b"\n" + good[2].encode() + b"\n"
    )
    items = list(iter_jsonl(f))
    assert [type(i).__name__ for i in items] == ["Record", "Quarantined", "Quarantined", "Quarantined", "Record", "Record"]
    q = [i for i in items if isinstance(i, Quarantined)]
    assert "UTF-8" in q[0].reason and q[0].source.endswith(":2")
    assert "JSONDecodeError" in q[1].reason
    assert "no 'pmid'" in q[2].reason


def test_resolve_inputs_errors(tmp_path):
    with pytest.raises(VdmineError) as e:
        resolve_inputs([tmp_path / "missing.jsonl"])
    assert e.value.code == "E010"
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(VdmineError) as e:
        resolve_inputs([tmp_path / "notes.txt"])
    assert e.value.code == "E012"


def test_folder_input_mixes_xml_and_jsonl(tmp_path, corpus):
    (tmp_path / "a.jsonl").write_text(json.dumps({"pmid": "42", "title": "t", "abstract": "a"}) + "\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.xml.gz").write_bytes((corpus / "pubmed_xml" / "xizhou_pubMR__pubmed_result.xml.gz").read_bytes())
    files = resolve_inputs([tmp_path])
    assert [f.name for f in files] == ["a.jsonl", "b.xml.gz"]
    recs = [i for i in iter_files(files) if isinstance(i, Record)]
    assert len(recs) == 94


def test_object_storage_urls_read_like_local_files(tmp_path, corpus):
    """URL inputs go through fsspec (here its in-memory filesystem, as s3:// would with s3fs)."""
    import gzip

    import fsspec

    xml = corpus / "pubmed_xml" / "xizhou_pubMR__pubmed_result.xml.gz"
    jsonl = corpus / "vitd_pain.jsonl"
    fs = fsspec.filesystem("memory")
    fs.pipe("/vdmine-test/baseline/b.xml.gz", xml.read_bytes())
    fs.pipe("/vdmine-test/baseline/sub/a.jsonl.gz", gzip.compress(jsonl.read_bytes()))
    fs.pipe("/vdmine-test/baseline/README.txt", b"not an input")
    try:
        files = resolve_inputs(["memory://vdmine-test/baseline"])
        assert files == ["memory:///vdmine-test/baseline/b.xml.gz", "memory:///vdmine-test/baseline/sub/a.jsonl.gz"]
        remote = [(i.pmid, i.title, i.abstract) for i in iter_files(files) if isinstance(i, Record)]
        local = [(i.pmid, i.title, i.abstract) for i in iter_files([xml, jsonl]) if isinstance(i, Record)]
        assert remote == local and len(remote) > 149
        with pytest.raises(VdmineError) as e:
            resolve_inputs(["memory://vdmine-test/missing.xml"])
        assert e.value.code == "E010"
        with pytest.raises(VdmineError) as e:
            resolve_inputs(["memory://vdmine-test/baseline/README.txt"])
        assert e.value.code == "E012"
    finally:
        fs.rm("/vdmine-test", recursive=True)


def test_url_with_a_protocol_nobody_installed_gets_a_clear_error():
    with pytest.raises(VdmineError) as e:
        resolve_inputs(["nosuchproto://bucket/baseline/"])
    assert e.value.code == "E013" and "fsspec" in str(e.value)
