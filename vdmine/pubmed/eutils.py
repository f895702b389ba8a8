"""NCBI E-utilities client: ESearch (history server) and EFetch (batched POST) for PubMed.

Rate limiting and retries live here and nowhere else (as in ``Bio.Entrez``):

* one :class:`RateLimiter` per base URL and process holds 3 requests/s without an API key and
  10/s with one (``NCBI_API_KEY``), shared by every thread (Prefect maps fetch tasks on threads);
* retries with exponential backoff and jitter on 429 (honouring ``Retry-After``), 5xx, timeouts,
  connection errors, bodies cut off mid-transfer and bodies that are not well-formed XML;
* the API key is sent but never logged: every URL or parameter set that reaches a log or an
  error message goes through :func:`redact`.

ESearch cannot page past ``retstart`` 9,998, so :meth:`EutilsClient.search_ids` slices large
result sets by date (bisecting the window) until every slice fits under the limit.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import requests
from lxml import etree

from vdmine import __version__
from vdmine.config import EutilsConfig
from vdmine.errors import VdmineError

log = logging.getLogger("vdmine.eutils")

RETRY_STATUS = {429, 500, 502, 503, 504}
_KEY_RE = re.compile(r"(api_key=)[^&\s]+", re.I)


def redact(text: str) -> str:
    """Remove API keys from a URL or message before it is logged or raised."""
    return _KEY_RE.sub(r"\1***", str(text))


class RateLimiter:
    """Minimum spacing between requests, shared by all threads of a process."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


_LIMITERS: dict[tuple[str, bool], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(base_url: str, has_key: bool) -> RateLimiter:
    """The process-wide limiter for an endpoint: 10 req/s with an API key, 3 without."""
    with _LIMITERS_LOCK:
        key = (base_url, has_key)
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(10.0 if has_key else 3.0)
        return _LIMITERS[key]


@dataclass
class SearchResult:
    count: int
    ids: list[str] = field(default_factory=list)
    webenv: str | None = None
    query_key: str | None = None
    translation: str | None = None
    warnings: list[str] = field(default_factory=list)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def check_query(term: str) -> str:
    """Reject queries that cannot be right before spending a request on them."""
    term = (term or "").strip()
    if not term:
        raise VdmineError("E005")
    depth = 0
    for ch in term:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            raise VdmineError("E006", detail="a ')' closes a parenthesis that was never opened")
    if depth:
        raise VdmineError("E006", detail="unbalanced parentheses")
    if term.count('"') % 2:
        raise VdmineError("E006", detail="unbalanced double quotes")
    if re.search(r"^(AND|OR|NOT)\b|\b(AND|OR|NOT)$", term):
        raise VdmineError("E006", detail="a boolean operator has nothing on one side")
    return term


class EutilsClient:
    """A small, real E-utilities client for PubMed."""

    def __init__(self, cfg: EutilsConfig, api_key: str | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 before_request: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        self.base = cfg.base_url.rstrip("/") + "/"
        self.api_key = api_key
        self.limiter = limiter_for(self.base, bool(api_key))
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"vdmine/{__version__} (+{cfg.email or 'no email set'})"
        self._sleep = sleep
        # Extra pacing shared beyond this process (the flows pass a Prefect global rate limit).
        self.before_request = before_request
        self.requests_made = 0

    # -- transport ---------------------------------------------------------------------------
    def _params(self, params: dict) -> dict:
        p = {k: v for k, v in params.items() if v not in (None, "")}
        p["tool"] = self.cfg.tool
        if self.cfg.email:
            p["email"] = self.cfg.email
        if self.api_key:
            p["api_key"] = self.api_key
        return p

    def _backoff(self, attempt: int) -> float:
        base = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * (2 ** attempt))
        return base / 2 + random.uniform(0, base / 2)

    def request(self, endpoint: str, params: dict, post: bool = False, attempts: int | None = None,
                expect_xml: bool = True) -> bytes:
        """One E-utilities call with rate limiting and retries; returns the body bytes."""
        url = self.base + endpoint
        data = self._params(params)
        attempts = attempts if attempts is not None else self.cfg.max_retries + 1
        last = ""
        for attempt in range(attempts):
            self.limiter.wait()
            if self.before_request is not None:
                self.before_request()
            self.requests_made += 1
            wait: float | None = None
            try:
                timeout = (self.cfg.connect_timeout_s, self.cfg.timeout_s)
                if post:
                    resp = self.session.post(url, data=data, timeout=timeout)
                else:
                    resp = self.session.get(url, params=data, timeout=timeout)
                body = resp.content  # reads the whole body: a cut connection raises here
                if resp.status_code in RETRY_STATUS:
                    last = f"HTTP {resp.status_code} from {endpoint}"
                    if resp.status_code == 429:
                        wait = _retry_after(resp.headers.get("Retry-After"))
                elif resp.status_code >= 400:
                    raise VdmineError("E022", what=endpoint, detail=f"HTTP {resp.status_code}: {redact(body[:300].decode('utf-8', 'replace'))}")
                else:
                    if expect_xml:
                        try:
                            etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
                        except etree.XMLSyntaxError as exc:
                            last = f"{endpoint} body is not well-formed XML ({exc})"
                            log.warning("E-utilities %s: %s (attempt %d/%d)", endpoint, last, attempt + 1, attempts)
                            if attempt + 1 < attempts:
                                self._sleep(self._backoff(attempt))
                                continue
                            raise VdmineError("E023", what=endpoint, detail=str(exc)) from None
                    return body
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                last = f"{type(exc).__name__}: {redact(exc)}"
            if attempt + 1 < attempts:
                delay = wait if wait is not None else self._backoff(attempt)
                delay = min(delay, self.cfg.backoff_max_s)
                log.warning("E-utilities %s failed (%s); retry %d/%d in %.1fs", endpoint, last, attempt + 1, attempts - 1, delay)
                self._sleep(delay)
        raise VdmineError("E021", attempts=attempts, detail=redact(last))

    def preflight(self) -> None:
        """Fail in seconds, not minutes, when the endpoint is unreachable."""
        try:
            self.request("einfo.fcgi", {"db": "pubmed"}, attempts=self.cfg.preflight_attempts)
        except VdmineError as exc:
            if exc.code in ("E021",):
                raise VdmineError("E020", url=redact(self.base), detail=exc.message) from None
            raise

    # -- ESearch -----------------------------------------------------------------------------
    def esearch(self, term: str, retstart: int = 0, retmax: int = 0, mindate: str = "", maxdate: str = "",
                datetype: str = "pdat") -> SearchResult:
        params = {"db": "pubmed", "term": term, "usehistory": "y", "retstart": retstart, "retmax": retmax}
        if mindate or maxdate:
            params.update({"datetype": datetype, "mindate": mindate or "1000/01/01", "maxdate": maxdate or "3000/12/31"})
        body = self.request("esearch.fcgi", params, post=True)
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        error = root.findtext("ERROR")
        if error:
            raise VdmineError("E022", what="esearch", detail=redact(error))
        count_text = root.findtext("Count")
        if count_text is None:
            raise VdmineError("E022", what="esearch", detail="response has no <Count>")
        warnings = [f"{el.tag}: {el.text}" for el in root.iterfind("ErrorList/*")]
        warnings += [f"{el.tag}: {el.text}" for el in root.iterfind("WarningList/*")]
        return SearchResult(
            count=int(count_text),
            ids=[i.text.strip() for i in root.iterfind("IdList/Id") if i.text],
            webenv=root.findtext("WebEnv"),
            query_key=root.findtext("QueryKey"),
            translation=root.findtext("QueryTranslation"),
            warnings=warnings,
        )

    def search_ids(self, term: str, mindate: str = "", maxdate: str = "", datetype: str = "pdat",
                   max_records: int = 0, progress: Callable[[int, int], None] | None = None) -> tuple[int, list[str]]:
        """All PMIDs matching ``term`` (deduplicated, ascending); slices by date past the paging limit.

        Returns ``(count reported by ESearch for the whole window, ids)``.
        """
        term = check_query(term)
        first = self.esearch(term, retmax=0, mindate=mindate, maxdate=maxdate, datetype=datetype)
        for w in first.warnings:
            log.warning("ESearch: %s", w)
        total = first.count
        seen: dict[str, None] = {}
        limit = self.cfg.page_limit

        def collect(lo: str, hi: str, count: int) -> None:
            if max_records and len(seen) >= max_records:
                return
            if count <= limit:
                page = min(limit, 10000)
                start = 0
                while start < count:
                    res = self.esearch(term, retstart=start, retmax=page, mindate=lo, maxdate=hi, datetype=datetype)
                    for pmid in res.ids:
                        seen.setdefault(pmid, None)
                    if not res.ids:
                        break
                    start += len(res.ids)
                    if progress:
                        progress(len(seen), total)
                return
            a, b = _parse_date(lo, low=True), _parse_date(hi, low=False)
            if a >= b:
                raise VdmineError("E022", what="esearch", detail=f"{count} records share the date {lo}; cannot slice below one day (limit {limit})")
            mid = a + (b - a) // 2
            for x, y in ((a, mid), (mid + dt.timedelta(days=1), b)):
                sx, sy = _fmt(x), _fmt(y)
                sub = self.esearch(term, retmax=0, mindate=sx, maxdate=sy, datetype=datetype)
                if sub.count:
                    collect(sx, sy, sub.count)

        collect(mindate or "1800/01/01", maxdate or _fmt(dt.date.today() + dt.timedelta(days=366)), total)
        ids = sorted(seen, key=_pmid_key)
        if max_records:
            ids = ids[:max_records]
        return total, ids

    # -- EFetch ------------------------------------------------------------------------------
    def efetch(self, ids: Iterable[str]) -> bytes:
        """PubMed XML for a batch of ids, sent by POST (long id lists do not fit in a URL)."""
        ids = list(ids)
        return self.request("efetch.fcgi", {"db": "pubmed", "id": ",".join(ids), "retmode": "xml"}, post=True)


def _pmid_key(pmid: str) -> tuple[int, str]:
    return (int(pmid), "") if pmid.isdigit() else (1 << 62, pmid)


def _parse_date(text: str, low: bool) -> dt.date:
    parts = [int(p) for p in re.split(r"[/-]", text.strip()) if p]
    year = parts[0]
    month = parts[1] if len(parts) > 1 else (1 if low else 12)
    day = parts[2] if len(parts) > 2 else (1 if low else 31)
    while True:
        try:
            return dt.date(year, month, day)
        except ValueError:
            day -= 1


def _fmt(d: dt.date) -> str:
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"
