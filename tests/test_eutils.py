"""The E-utilities client against a real loopback HTTP server replaying real PubMed records."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time

import pytest

from vdmine.config import EutilsConfig
from vdmine.errors import VdmineError
from vdmine.pubmed.eutils import EutilsClient, RateLimiter, check_query, redact
from vdmine.pubmed.replay import Fault
from vdmine.pubmed.xml import iter_pubmed_xml
from vdmine.records import Record


def _client(cfg: EutilsConfig, **kw) -> EutilsClient:
    c = EutilsClient(dataclasses.replace(cfg, **kw))
    c.limiter = RateLimiter(1000)  # tests do not need NCBI's pace; the limiter has its own test
    return c


def test_search_pages_and_every_record_arrives_once(replay, fast_eutils):
    server, _ = replay
    c = _client(fast_eutils)
    total, ids = c.search_ids("vitamin d AND pain")
    assert total == len(server.state.records) == 149 + 93
    assert sorted(ids, key=int) == ids and set(ids) == set(server.state.records)
    got = []
    for i in range(0, len(ids), 50):
        got += [r.pmid for r in iter_pubmed_xml(c.efetch(ids[i:i + 50])) if isinstance(r, Record)]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))
    efetches = [e for e in server.state.log if e["endpoint"] == "efetch"]
    assert efetches and all(e["method"] == "POST" for e in efetches)
    esearches = [e for e in server.state.log if e["endpoint"] == "esearch"]
    assert all(e["params"]["usehistory"] == "y" and e["params"]["tool"] == "vdmine" for e in esearches)


def test_result_set_beyond_the_paging_limit_is_sliced_by_date(replay, fast_eutils):
    server, _ = replay
    server.state.page_limit = 40  # the server refuses retstart > 40, like NCBI past 9,998
    c = _client(fast_eutils, page_limit=40)
    total, ids = c.search_ids("vitamin d")
    assert total == 242 and len(ids) == 242 and set(ids) == set(server.state.records)
    assert all(int(e["params"].get("retstart", 0)) <= 40 for e in server.state.log if e["endpoint"] == "esearch")
    assert any("mindate" in e["params"] for e in server.state.log)


def test_paging_limit_error_is_clear_when_not_sliced(replay, fast_eutils):
    server, _ = replay
    server.state.page_limit = 40
    c = _client(fast_eutils)
    with pytest.raises(VdmineError) as e:
        c.esearch("vitamin d", retstart=50, retmax=10)
    assert e.value.code == "E022" and "retstart" in e.value.message


def test_429_honours_retry_after_then_succeeds(replay, fast_eutils):
    server, _ = replay
    server.state.faults.append(Fault("429", "efetch", seconds=1))
    c = _client(fast_eutils)
    t = time.monotonic()
    body = c.efetch(["7843955"])
    assert time.monotonic() - t >= 0.95
    assert [r.pmid for r in iter_pubmed_xml(body)] == ["7843955"]


@pytest.mark.parametrize("kind", ["500", "502", "503", "drop", "truncate", "malformed"])
def test_transient_faults_are_retried(replay, fast_eutils, kind):
    server, _ = replay
    server.state.faults.extend([Fault(kind, "efetch"), Fault(kind, "efetch")])
    c = _client(fast_eutils)
    body = c.efetch(["7843955", "8256988"])
    assert [r.pmid for r in iter_pubmed_xml(body)] == ["7843955", "8256988"]
    assert c.requests_made == 3


def test_slow_response_times_out_and_is_retried(replay, fast_eutils):
    server, _ = replay
    server.state.faults.append(Fault("slow", "efetch", seconds=3))
    c = _client(fast_eutils, timeout_s=0.5)
    body = c.efetch(["7843955"])
    assert c.requests_made == 2 and b"7843955" in body


def test_gives_up_with_a_clear_error_after_max_retries(replay, fast_eutils):
    server, _ = replay
    server.state.faults.extend([Fault("503", "efetch")] * 3)
    c = _client(fast_eutils, max_retries=2)
    with pytest.raises(VdmineError) as e:
        c.efetch(["7843955"])
    assert e.value.code == "E021" and "503" in e.value.message and c.requests_made == 3


def test_esearch_error_block_and_empty_result(replay, fast_eutils):
    server, _ = replay
    server.state.faults.append(Fault("error", "esearch"))
    c = _client(fast_eutils)
    with pytest.raises(VdmineError) as e:
        c.search_ids("vitamin d")
    assert e.value.code == "E022" and "Invalid query" in e.value.message
    server.state.queries["nothingatall"] = []
    assert c.search_ids("nothingatall") == (0, [])


def test_query_checks():
    for bad, code in [("", "E005"), ("   ", "E005"), ("(vitamin d AND pain", "E006"), ('"vitamin d', "E006"),
                      ("vitamin d AND", "E006"), ("a) OR (b", "E006")]:
        with pytest.raises(VdmineError) as e:
            check_query(bad)
        assert e.value.code == code, bad
    assert check_query(' ("vitamin d"[tiab]) AND pain ') == '("vitamin d"[tiab]) AND pain'


def test_unreachable_endpoint_fails_fast():
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = EutilsClient(EutilsConfig(base_url=f"http://127.0.0.1:{port}/eutils/"))
    t = time.monotonic()
    with pytest.raises(VdmineError) as e:
        c.preflight()
    assert time.monotonic() - t < 10
    assert e.value.code == "E020" and "VDMINE_EUTILS_URL" in e.value.message and "vdmine extract" in e.value.message


def test_rate_limiter_holds_three_per_second():
    lim = RateLimiter(3.0)
    t = time.monotonic()
    for _ in range(7):
        lim.wait()
    assert time.monotonic() - t >= 1.9  # 7 requests at 3/s need at least 2 s


def test_api_key_never_logged(replay, fast_eutils, caplog):
    server, _ = replay
    server.state.faults.append(Fault("503", "efetch"))
    c = EutilsClient(dataclasses.replace(fast_eutils), api_key="SECRET123KEY")
    c.limiter = RateLimiter(1000)
    logging.getLogger("vdmine").propagate = True  # the CLI turns this off; caplog listens at the root
    with caplog.at_level(logging.DEBUG):
        c.efetch(["7843955"])
    assert server.state.log[-1]["params"]["api_key"] == "SECRET123KEY"  # sent to NCBI...
    assert "503" in caplog.text  # the retry was logged...
    assert "SECRET123KEY" not in caplog.text  # ...without the key
    assert redact("https://x/efetch.fcgi?db=pubmed&api_key=SECRET123KEY&id=1") == "https://x/efetch.fcgi?db=pubmed&api_key=***&id=1"
