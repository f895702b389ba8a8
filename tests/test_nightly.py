"""Nightly operation against the loopback server: incremental windows, resume, no duplicates."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from vdmine.cli import main
from vdmine.pubmed.replay import Fault, ReplayRecord, records_from_jsonl

pytestmark = pytest.mark.slow


def _config(tmp_path, **eutils) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in eutils.items())
    cfg = tmp_path / "nightly.toml"
    cfg.write_text(
        '[query]\nname = "t"\npubmed = "vitamin d AND pain"\n'
        f"[eutils]\nbatch_size = 50\nbackoff_base_s = 0.01\ntask_retry_delay_s = 0.1\n{extra}"
        "[output]\nreport = false\n"
    )
    return str(cfg)


def test_incremental_night_fetches_only_new_and_revised(tmp_path, replay, corpus, monkeypatch):
    server, url = replay
    monkeypatch.setenv("VDMINE_EUTILS_URL", url)
    out, cfg = tmp_path / "out", _config(tmp_path)
    assert main(["-q", "run", "--config", cfg, "--out", str(out)]) == 0
    assert pq.read_table(out / "papers").num_rows == 242
    # Overnight: two records are added, one is revised (new version, new title).
    today = dt.datetime.now(dt.timezone.utc).date()
    extra = [r for r in records_from_jsonl(corpus / "vitd_other.jsonl")[:2]]
    for r in extra:
        server.state.records[r.pmid] = ReplayRecord(r.pmid, r.xml, today)
    old = server.state.records["7843955"]
    revised = old.xml.replace(b'<PMID Version="1">', b'<PMID Version="2">').replace(b"Alleviation of migraines", b"Relief of migraines")
    server.state.records["7843955"] = ReplayRecord("7843955", revised, old.date, mdate=today)
    server.state.log.clear()
    assert main(["-q", "run", "--config", cfg, "--out", str(out)]) == 0
    fetched = {i for e in server.state.log if e["endpoint"] == "efetch" for i in e["params"]["id"].split(",")}
    assert fetched == {extra[0].pmid, extra[1].pmid, "7843955"}
    assert {e["params"].get("datetype") for e in server.state.log if e["endpoint"] == "esearch"} >= {"edat", "mdat"}
    papers = {r["pmid"]: r for r in pq.read_table(out / "papers").to_pylist()}
    assert len(papers) == 244 and papers["7843955"]["version"] == 2 and papers["7843955"]["title"].startswith("Relief")
    run = pq.read_table(out / "runs").to_pylist()[-1]
    assert (run["new"], run["updated"], run["status"]) == (2, 1, "completed") and run["window_start"]
    # The same night again: identical tables.
    before = {f.name: f.read_bytes() for f in (out / "papers").iterdir()}
    assert main(["-q", "run", "--config", cfg, "--out", str(out)]) == 0
    assert {f.name: f.read_bytes() for f in (out / "papers").iterdir()} == before


def test_interrupted_fetch_resumes_without_refetching(tmp_path, replay, monkeypatch, capsys):
    server, url = replay
    monkeypatch.setenv("VDMINE_EUTILS_URL", url)
    out = tmp_path / "out"
    cfg = _config(tmp_path, max_retries=0, task_retries=0)
    # Five EFetch batches (242 ids / 50); the third request gets a 503 and no retry is allowed.
    server.state.faults.extend([Fault("slow", "efetch", 0.0), Fault("slow", "efetch", 0.0), Fault("503", "efetch")])
    rc = main(["-q", "run", "--config", cfg, "--out", str(out)])
    assert rc == 2 and "[E021]" in capsys.readouterr().err
    staged = list((out / ".vdmine" / "staging").rglob("batch-*.xml.gz"))
    assert not (out / "papers").exists()  # nothing half-published
    failed = pq.read_table(out / "runs").to_pylist()
    assert [r["status"] for r in failed] == ["failed"] and "E021" in failed[0]["message"]
    assert len(staged) == 4
    done_ids = set()
    import gzip
    import re
    for f in staged:
        done_ids |= set(re.findall(rb"<PMID Version=\"\d\">(\d+)</PMID>", gzip.open(f).read()))
    server.state.log.clear()
    assert main(["-q", "run", "--config", cfg, "--out", str(out)]) == 0
    refetched = {i.encode() for e in server.state.log if e["endpoint"] == "efetch" for i in e["params"]["id"].split(",")}
    assert not (refetched & done_ids)
    papers = pq.read_table(out / "papers")
    assert papers.num_rows == 242 and len(set(papers.column("pmid").to_pylist())) == 242
    assert [r["status"] for r in pq.read_table(out / "runs").to_pylist()] == ["failed", "completed"]


def test_api_key_never_lands_in_outputs_or_logs(tmp_path, replay, monkeypatch, capsys, caplog):
    server, url = replay
    monkeypatch.setenv("VDMINE_EUTILS_URL", url)
    monkeypatch.setenv("NCBI_API_KEY", "SECRETKEY0123456789")
    server.state.faults.append(Fault("503", "efetch"))  # a retry gets logged: it must be redacted
    out = tmp_path / "out"
    cfg = tmp_path / "k.toml"
    cfg.write_text('[query]\npubmed = "vitamin d AND pain"\n[eutils]\nbackoff_base_s = 0.01\n')
    assert main(["-q", "run", "--config", str(cfg), "--out", str(out), "--max-records", "20"]) == 0
    assert all(e["params"].get("api_key") == "SECRETKEY0123456789" for e in server.state.log if e["endpoint"] != "einfo")
    captured = capsys.readouterr()
    assert "503" in captured.err  # the retry warning was printed...
    assert "SECRETKEY" not in captured.out + captured.err + caplog.text  # ...without the key
    for f in out.rglob("*"):
        if f.is_file():
            assert b"SECRETKEY" not in f.read_bytes(), f


def test_empty_result_completes_and_a_second_writer_is_refused(tmp_path, replay, monkeypatch, capsys):
    server, url = replay
    monkeypatch.setenv("VDMINE_EUTILS_URL", url)
    server.state.queries["nothing matches this"] = []
    out = tmp_path / "out"
    cfg = _config(tmp_path)
    assert main(["-q", "run", "--config", cfg, "--query", "nothing matches this", "--out", str(out)]) == 0
    assert pq.read_table(out / "papers").num_rows == 0
    assert "0 found" in capsys.readouterr().out
    from vdmine.store.dataset import Store

    with Store(out).lock():
        assert main(["-q", "run", "--config", cfg, "--out", str(out)]) == 2
    assert "[E031]" in capsys.readouterr().err
