"""A loopback E-utilities server that replays real PubMed records (tests, demos, offline runs).

It speaks NCBI's wire format (ESearch ``eSearchResult`` with WebEnv/QueryKey, EFetch
``PubmedArticleSet`` with its DOCTYPE) over real HTTP on 127.0.0.1, built from real records:
``PubmedArticle`` elements copied from PubMed XML files, and JSONL corpus records rendered into
``PubmedArticle`` XML. It can lower ESearch's paging limit and inject faults (429 with
Retry-After, 5xx, dropped connections, slow, truncated or malformed bodies, ESearch error blocks)
so that the client's retries and slicing are tested against a real socket.

Query semantics are deliberately simple: a query listed in ``queries`` returns those pmids; any
other query returns every record; ``mindate``/``maxdate`` filter by each record's date.

Run it by hand: ``vdmine eutils-replay --input ../shared/corpus/vitd_pain.jsonl`` and point
``VDMINE_EUTILS_URL`` at the URL it prints.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

from lxml import etree

ESEARCH_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
EFETCH_HEAD = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)
EINFO = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eInfoResult PUBLIC "-//NLM//DTD einfo 20190110//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20190110/einfo.dtd">\n<eInfoResult><DbInfo><DbName>pubmed</DbName>'
    b"<MenuName>PubMed</MenuName><Description>PubMed bibliographic record</Description></DbInfo></eInfoResult>\n"
)


@dataclass
class ReplayRecord:
    pmid: str
    xml: bytes  # one <PubmedArticle> element
    date: dt.date  # entry date (edat / pdat)
    mdate: dt.date | None = None  # last revision date (mdat); defaults to the entry date

    def when(self, datetype: str) -> dt.date:
        return (self.mdate or self.date) if datetype == "mdat" else self.date


def _hash_day(pmid: str, year: int) -> dt.date:
    """A stable pseudo entry date inside the record's year, for records that carry only a year."""
    h = int(hashlib.sha256(pmid.encode()).hexdigest()[:8], 16)
    return dt.date(year, 1, 1) + dt.timedelta(days=h % 365)


def _element_date(el: etree._Element, pmid: str) -> dt.date:
    for path in (".//PubMedPubDate[@PubStatus='entrez']", ".//DateCompleted", ".//DateCreated", ".//PubDate"):
        d = el.find(path)
        if d is not None and (d.findtext("Year") or "").isdigit():
            y = int(d.findtext("Year"))
            m, day = d.findtext("Month") or "", d.findtext("Day") or ""
            if m.isdigit() and day.isdigit():
                try:
                    return dt.date(y, int(m), int(day))
                except ValueError:
                    pass
            return _hash_day(pmid, y)
    return _hash_day(pmid, 2000)


def records_from_xml(path: str | Path) -> list[ReplayRecord]:
    """Real ``PubmedArticle`` elements from a PubMed XML file (bare MedlineCitations get wrapped)."""
    path = Path(path)
    fh = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    out = []
    with fh:
        for _ev, el in etree.iterparse(fh, events=("end",), tag=("PubmedArticle", "MedlineCitation"),
                                       resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True):
            if el.tag == "MedlineCitation" and el.getparent() is not None and el.getparent().tag == "PubmedArticle":
                continue
            pmid = (el.findtext(".//PMID") or "").strip()
            if not pmid:
                continue
            xml = etree.tostring(el, encoding="utf-8")
            if el.tag == "MedlineCitation":
                xml = b"<PubmedArticle>" + xml + b"</PubmedArticle>"
            out.append(ReplayRecord(pmid, xml, _element_date(el, pmid)))
    return out


def json_to_pubmed_xml(obj: dict) -> bytes:
    """Render one corpus JSONL record as a PubMed ``PubmedArticle`` (the fields the record has)."""
    pmid = escape(str(obj["pmid"]))
    parts = [f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID><Article PubModel="Print">']
    parts.append("<Journal><JournalIssue><PubDate>")
    if obj.get("year"):
        parts.append(f"<Year>{int(obj['year'])}</Year>")
    parts.append(f"</PubDate></JournalIssue><Title>{escape(obj.get('journal') or '')}</Title></Journal>")
    parts.append(f"<ArticleTitle>{escape(obj.get('title') or '')}</ArticleTitle>")
    sections = obj.get("abstract_sections") or []
    if sections:
        parts.append("<Abstract>")
        for s in sections:
            attrs = ""
            if s.get("label"):
                attrs += f' Label="{escape(s["label"], {chr(34): "&quot;"})}"'
            if s.get("nlm_category"):
                attrs += f' NlmCategory="{escape(s["nlm_category"])}"'
            parts.append(f"<AbstractText{attrs}>{escape(s.get('text') or '')}</AbstractText>")
        parts.append("</Abstract>")
    elif obj.get("abstract"):
        parts.append(f"<Abstract><AbstractText>{escape(obj['abstract'])}</AbstractText></Abstract>")
    parts.append('<Language>eng</Language><PublicationTypeList>')
    for pt in obj.get("pub_types") or []:
        parts.append(f"<PublicationType>{escape(pt)}</PublicationType>")
    parts.append("</PublicationTypeList></Article>")
    if obj.get("mesh"):
        parts.append("<MeshHeadingList>")
        for m in obj["mesh"]:
            parts.append(f'<MeshHeading><DescriptorName MajorTopicYN="N">{escape(m)}</DescriptorName></MeshHeading>')
        parts.append("</MeshHeadingList>")
    if obj.get("keywords"):
        parts.append("<KeywordList>" + "".join(f"<Keyword>{escape(k)}</Keyword>" for k in obj["keywords"]) + "</KeywordList>")
    parts.append("</MedlineCitation><PubmedData><ArticleIdList>")
    parts.append(f'<ArticleId IdType="pubmed">{pmid}</ArticleId>')
    if obj.get("doi"):
        parts.append(f'<ArticleId IdType="doi">{escape(obj["doi"])}</ArticleId>')
    if obj.get("pmcid"):
        parts.append(f'<ArticleId IdType="pmc">{escape(obj["pmcid"])}</ArticleId>')
    parts.append("</ArticleIdList></PubmedData></PubmedArticle>")
    return "".join(parts).encode("utf-8")


def records_from_jsonl(path: str | Path, pubmed_only: bool = True) -> list[ReplayRecord]:
    """Corpus JSONL records as PubMed XML. Non-numeric ids (``vdw:12``) are skipped by default."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = json.loads(line)
            pmid = str(obj["pmid"])
            if pubmed_only and not pmid.isdigit():
                continue
            out.append(ReplayRecord(pmid, json_to_pubmed_xml(obj), _hash_day(pmid, int(obj.get("year") or 2000))))
    return out


@dataclass
class Fault:
    """One injected fault, consumed by the next matching request."""

    kind: str  # "429", "500", "502", "503", "drop", "slow", "truncate", "malformed", "error"
    endpoint: str = "any"  # "esearch", "efetch", "einfo" or "any"
    seconds: float = 1.0  # Retry-After for 429, delay for "slow"


@dataclass
class ReplayState:
    records: dict[str, ReplayRecord] = field(default_factory=dict)
    queries: dict[str, list[str]] = field(default_factory=dict)
    page_limit: int = 9998
    faults: deque = field(default_factory=deque)
    log: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, recs: list[ReplayRecord]) -> None:
        for r in recs:
            self.records[r.pmid] = r

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.endpoint in ("any", endpoint):
                    del self.faults[i]
                    return f
        return None


def _date(text: str | None, default: dt.date) -> dt.date:
    if not text:
        return default
    parts = [int(p) for p in text.replace("-", "/").split("/") if p.strip().isdigit()]
    try:
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except (ValueError, IndexError):
        return default


class _Handler(BaseHTTPRequestHandler):
    server_version = "vdmine-replay/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    @property
    def state(self) -> ReplayState:
        return self.server.state  # type: ignore[attr-defined]

    def _params(self) -> dict[str, str]:
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if self.command == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8")
            params.update({k: v[-1] for k, v in parse_qs(body).items()})
        return params

    def _send(self, status: int, body: bytes, headers: dict | None = None, ctype: str = "text/xml; charset=UTF-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        params = self._params()
        endpoint = urlparse(self.path).path.rstrip("/").rsplit("/", 1)[-1].replace(".fcgi", "")
        with self.state.lock:
            self.state.log.append({"endpoint": endpoint, "method": self.command, "params": params})
        fault = self.state.take_fault(endpoint)
        if fault and self._fault(fault, endpoint):
            return
        if endpoint == "einfo":
            self._send(200, EINFO)
        elif endpoint == "esearch":
            self._esearch(params, fault)
        elif endpoint == "efetch":
            self._efetch(params, fault)
        else:
            self._send(404, b"unknown endpoint", ctype="text/plain")

    def _fault(self, fault: Fault, endpoint: str) -> bool:
        """Apply a fault; True when the response has been sent (or the connection dropped)."""
        if fault.kind == "429":
            self._send(429, b'{"error":"API rate limit exceeded"}', {"Retry-After": str(fault.seconds)}, "application/json")
            return True
        if fault.kind in ("500", "502", "503"):
            self._send(int(fault.kind), b"<html><body>Service unavailable</body></html>", ctype="text/html")
            return True
        if fault.kind == "drop":
            # Promise a long body, send part of it, then reset the connection.
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(EFETCH_HEAD + b"<PubmedArticleSet><PubmedArticle><MedlineCitation>")
            self.wfile.flush()
            self.close_connection = True
            try:
                import socket
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if fault.kind == "slow":
            time.sleep(fault.seconds)
            return False
        return False  # truncate / malformed / error are applied by the endpoint

    def _esearch(self, params: dict[str, str], fault: Fault | None) -> None:
        st = self.state
        if fault and fault.kind == "error":
            self._send(200, ESEARCH_HEAD + b"<eSearchResult><ERROR>Invalid query: syntax error near 'AND'</ERROR></eSearchResult>\n")
            return
        term = params.get("term", "")
        if term in st.queries:
            ids = [i for i in st.queries[term] if i in st.records]
        else:
            ids = list(st.records)
        if "mindate" in params or "maxdate" in params:
            lo = _date(params.get("mindate"), dt.date(1000, 1, 1))
            hi = _date(params.get("maxdate"), dt.date(3000, 12, 31))
            if params.get("maxdate") and params["maxdate"].count("/") < 2:
                hi = dt.date(hi.year, 12, 31)
            datetype = params.get("datetype", "pdat")
            ids = [i for i in ids if lo <= st.records[i].when(datetype) <= hi]
        ids.sort(key=lambda i: (-st.records[i].date.toordinal(), i))  # newest first, like PubMed
        retstart = int(params.get("retstart") or 0)
        retmax = int(params.get("retmax") if params.get("retmax") not in (None, "") else 20)
        if retstart > st.page_limit:
            msg = (f"Search Backend failed: Exception:\n'retstart' cannot be larger than {st.page_limit}. For PubMed, "
                   f"ESearch can only retrieve the first {st.page_limit + 1} records matching the query.")
            self._send(200, ESEARCH_HEAD + f"<eSearchResult><ERROR>{escape(msg)}</ERROR></eSearchResult>\n".encode())
            return
        page = ids[retstart:retstart + retmax]
        webenv = "MCID_" + hashlib.sha1(term.encode()).hexdigest()[:24]
        body = [f"<eSearchResult><Count>{len(ids)}</Count><RetMax>{len(page)}</RetMax><RetStart>{retstart}</RetStart>"]
        if params.get("usehistory") == "y":
            body.append(f"<QueryKey>1</QueryKey><WebEnv>{webenv}</WebEnv>")
        body.append("<IdList>" + "".join(f"\n<Id>{i}</Id>" for i in page) + "\n</IdList>")
        body.append(f"<TranslationSet/><QueryTranslation>{escape(term)}</QueryTranslation>")
        if not ids:
            body.append(f"<ErrorList><PhraseNotFound>{escape(term)}</PhraseNotFound></ErrorList>"
                        "<WarningList><OutputMessage>No items found.</OutputMessage></WarningList>")
        body.append("</eSearchResult>\n")
        self._send(200, ESEARCH_HEAD + "".join(body).encode("utf-8"))

    def _efetch(self, params: dict[str, str], fault: Fault | None) -> None:
        ids = [i.strip() for i in params.get("id", "").split(",") if i.strip()]
        recs = [self.state.records[i] for i in ids if i in self.state.records]
        body = EFETCH_HEAD + b"<PubmedArticleSet>\n" + b"\n".join(r.xml for r in recs) + b"\n</PubmedArticleSet>\n"
        if fault and fault.kind == "truncate":
            body = body[: max(len(EFETCH_HEAD) + 40, len(body) // 2)]
        elif fault and fault.kind == "malformed":
            body = body.replace(b"</PubmedArticleSet>", b"</PubmedArticleSetX>")
        self._send(200, body)


class ReplayServer:
    """Context manager: ``with ReplayServer(state) as url: ...`` serves on 127.0.0.1:<free port>."""

    def __init__(self, state: ReplayState | None = None, port: int = 0) -> None:
        self.state = state or ReplayState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/entrez/eutils/"

    def start(self) -> str:
        self.thread.start()
        return self.url

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def load_state(paths: list[str | Path]) -> ReplayState:
    """A replay state from PubMed XML and JSONL files."""
    state = ReplayState()
    for p in paths:
        p = Path(p)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            if f.name.endswith((".xml", ".xml.gz")):
                state.add(records_from_xml(f))
            elif f.name.endswith(".jsonl"):
                state.add(records_from_jsonl(f))
    return state
