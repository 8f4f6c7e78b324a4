"""The one HTTP layer every harvester uses: polite, retrying, cached.

- a User-Agent naming regenkb and a contact address (`REGENKB_EMAIL`);
- a per-host rate limit shared by every client in the process;
- retries with exponential backoff on 429, 5xx, connection errors and timeouts,
  honouring `Retry-After` (seconds or an HTTP date);
- an on-disk response cache (requests-cache, SQLite) so a re-run does not download again;
- bounded answers: each body is streamed and refused past its source's MAX_RESPONSE_BYTES
  or when still arriving DEADLINE seconds after the request began, never retried;
- redirects followed here, not by requests: at most MAX_REDIRECTS, each through the rate
  limit (and the caller's check, such as robots.txt), within the host and http(s) only.
  One policy for every source: the APIs answer on their own host, and no harvester
  follows a DOI to its publisher, so a redirect to another host is refused.
"""

import contextlib
import email.utils
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from .errors import HarvestError
from .limits import MB, setting

RETRY_STATUSES = {429, 500, 502, 503, 504}
DEFAULT_EMAIL = "regenkb-user@example.org"
MAX_WAIT = 120.0
MAX_REDIRECTS = 5  # as RFC 9309 (2.3.1.2) asks of a robots.txt fetch; browsers allow 20

# The largest answer each source may send, a few times its largest page as measured on
# recorded real answers: PubMed records are 15 KB (median) to 74 KB, so an
# efetch batch of 500 is 8-37 MB; CT.gov studies 11 to 360 KB, a page of 1,000 mostly
# 10-100 MB; Crossref items 16-44 KB (1,000 a page); Europe PMC core results 1-10 KB (1,000
# a page); OpenAlex works 22-30 KB (200 a page); a portal record page under 200 KB. Past
# it the answer is refused, not buffered. REGENKB_MAX_RESPONSE_MB sets them all at once.
MAX_RESPONSE_BYTES = {source: setting("REGENKB_MAX_RESPONSE_MB", mb) * MB for source, mb in
                      {"pubmed": 128, "ctgov": 256, "europepmc": 64, "crossref": 128, "openalex": 64,
                       "portal": 16}.items()}
DEFAULT_MAX_BYTES = setting("REGENKB_MAX_RESPONSE_MB", 64) * MB
# Wall-clock limit of one request, from connecting to the last byte. The socket timeout
# alone bounds each wait, so a server sending a byte every few seconds never trips it.
DEADLINE = setting("REGENKB_DEADLINE_SECONDS", 300)
CHUNK = 64 * 1024
BLOCK = 1 << 20


def cache_path():
    """Where responses are cached: $REGENKB_CACHE, else ~/.cache/regenkb/http.sqlite."""
    if os.environ.get("REGENKB_CACHE"):
        return Path(os.environ["REGENKB_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "regenkb" / "http.sqlite"


# A server counts arrivals, and arrivals carry network and scheduling jitter: requests spaced
# exactly 1/rate apart can land four in one second of a 3/s limit. Spacing them a tenth wider
# keeps every window the server sees within the documented rate.
HEADROOM = 1.1

# RFC 9309 (2.4): a crawler should not use a cached robots.txt for more than 24 hours.
ROBOTS_MAX_AGE = 24 * 3600


class RateLimiter:
    """At most `rate` requests per second to one host, across threads, with HEADROOM."""

    def __init__(self, rate, clock=time.monotonic, sleep=time.sleep):
        self.interval = HEADROOM / rate
        self.clock = clock
        self.sleep = sleep
        self.next_slot = 0.0
        self.lock = threading.Lock()

    def wait(self):
        with self.lock:
            now = self.clock()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        if slot > now:
            self.sleep(slot - now)
            # A sleep that overran its slot must not shorten the gap to the next request,
            # or a one-second window on the server's side sees one request too many.
            with self.lock:
                self.next_slot = max(self.next_slot, self.clock() + self.interval)


_limiters = {}
_limiters_lock = threading.Lock()


def limiter_for(host, rate):
    """The limiter of a host; asking for a slower rate slows it down, never the reverse."""
    with _limiters_lock:
        limiter = _limiters.get(host)
        if limiter is None:
            limiter = _limiters[host] = RateLimiter(rate)
        limiter.interval = max(limiter.interval, HEADROOM / rate)
        return limiter


def retry_after_seconds(value):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Refused(HarvestError):
    """An answer given up on for good (too large, or too slow): retrying would cost as much again."""


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """Streams each body in and refuses it past `max_bytes` (decompressed) or once `deadline`
    seconds have passed since the request was sent; below the cache, so nothing larger is stored."""

    def __init__(self, max_bytes, deadline):
        super().__init__()
        self.max_bytes, self.deadline = max_bytes, deadline

    def send(self, request, stream=False, timeout=None, **kwargs):
        end = time.monotonic() + self.deadline
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        read = min(read or self.deadline, self.deadline)
        response = super().send(request, stream=True, timeout=(connect, read), **kwargs)
        try:
            response._content = self.body(response, end, read)
        except BaseException:
            response.close()
            raise
        response._content_consumed = True
        return response

    def body(self, response, end, read_timeout):
        length = response.headers.get("Content-Length", "").strip()
        if length.isdigit() and int(length) > self.max_bytes:
            raise Refused(f"it announces {int(length):,} bytes, more than the {self.max_bytes:,} allowed "
                          "(REGENKB_MAX_RESPONSE_MB raises it)", response.status_code)
        # Gathered into blocks of a megabyte, joined once at the end: a growing buffer would copy
        # itself as it grows, and a slow reader gets many small chunks, each with its overhead.
        chunks, block, size = [], bytearray(), 0
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Refused(f"the answer was still coming after {self.deadline:g} s ({size:,} bytes so far; "
                              "REGENKB_DEADLINE_SECONDS raises the limit)", response.status_code)
            # Each wait ends at the deadline at the latest, however slowly the bytes come.
            sock = getattr(response.raw.connection, "sock", None)
            if sock is not None:
                sock.settimeout(min(read_timeout, left))
            try:
                chunk = response.raw.read1(CHUNK, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError as error:
                if time.monotonic() >= end:
                    continue  # reported as past the deadline
                raise requests.exceptions.ReadTimeout(error)
            except urllib3.exceptions.DecodeError as error:
                raise requests.exceptions.ContentDecodingError(error)
            except urllib3.exceptions.SSLError as error:
                raise requests.exceptions.SSLError(error)
            except urllib3.exceptions.ProtocolError as error:  # cut short, or reset
                raise requests.exceptions.ChunkedEncodingError(error)
            if not chunk:
                chunks.append(bytes(block))
                return b"".join(chunks)
            block += chunk
            if len(block) >= BLOCK:
                chunks.append(bytes(block))
                block.clear()
            size += len(chunk)
            if size > self.max_bytes:
                raise Refused(f"the answer passed the {self.max_bytes:,} bytes allowed (REGENKB_MAX_RESPONSE_MB "
                              "raises it)", response.status_code)


def not_fetched(url):
    """Why a URL is never fetched (not http or https), or None."""
    try:
        scheme, host = urlsplit(url).scheme, urlsplit(url).hostname
    except ValueError:  # urllib.parse on a malformed address
        return "not a valid address"
    if scheme.lower() not in ("http", "https"):
        return "not an http(s) address"
    if not host:
        return "an address without a host"
    return None


def redirect_refused(url, target):
    """Why a redirect from `url` to `target` is not followed, or None: it leaves http(s) or the host."""
    if why := not_fetched(target):
        return why
    if urlsplit(target).hostname != urlsplit(url).hostname:
        return "another host (redirects are followed within the host only)"
    return None


class Client:
    """A requests session for one source: `get(url, params)` returns a successful response or raises.

    uncached: regular expressions of URLs never cached, such as a search whose answer is
    the "what is new since the last run" question. max_bytes (default: the source's
    MAX_RESPONSE_BYTES) and deadline (seconds) bound each answer.
    """

    def __init__(self, source, rate_per_second, email=None, cache=None, uncached=(),
                 max_retries=5, backoff=1.0, timeout=(10, 60), sleep=time.sleep, max_bytes=None,
                 deadline=DEADLINE):
        self.source = source
        self.email = email or os.environ.get("REGENKB_EMAIL") or DEFAULT_EMAIL
        self.rate = rate_per_second
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        if cache is False:
            self.session = requests.Session()
        else:
            # Imported here: requests-cache imports boto3 (13 MB) for a backend we do not use,
            # and a process that only loads files never makes a Client.
            import requests_cache

            path = Path(cache or cache_path())
            path.parent.mkdir(parents=True, exist_ok=True)
            self.session = requests_cache.CachedSession(
                str(path), backend="sqlite", expire_after=requests_cache.NEVER_EXPIRE,
                urls_expire_after={re.compile(r"/robots\.txt$"): ROBOTS_MAX_AGE,
                                   **{re.compile(pattern): requests_cache.DO_NOT_CACHE for pattern in uncached}},
                allowable_methods=("GET", "POST"), allowable_codes=(200,))
        self.session.headers["User-Agent"] = (
            f"regenkb/0.1 (+https://github.com/regenkb/regenkb; mailto:{self.email})")
        adapter = BoundedAdapter(max_bytes or MAX_RESPONSE_BYTES.get(source, DEFAULT_MAX_BYTES), deadline)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def get(self, url, params=None, allowed=None):
        return self.request("GET", url, allowed=allowed, params=params)

    def post(self, url, data=None):
        return self.request("POST", url, data=data)

    def request(self, method, url, allowed=None, **kwargs):
        """The answer to a request, its redirects followed (see the module's docstring);
        allowed(url) may name why a redirect's target must not be fetched (robots.txt), or None."""
        if why := not_fetched(url):
            raise HarvestError(f"{self.source}: {url} is {why}; not fetched")
        start = url
        for _ in range(MAX_REDIRECTS + 1):
            response = self.answer(method, url, **kwargs)
            if not response.is_redirect:
                return response
            target = response.headers["Location"]
            with contextlib.suppress(ValueError):  # a malformed one stays as it is, for not_fetched to name
                target = urljoin(response.url, target)
            if why := redirect_refused(response.url, target) or (allowed and allowed(target)):
                raise HarvestError(f"{self.source}: {response.url} redirects to {target}: {why}; not followed",
                                   response.status_code)
            # As browsers do: a 303, or a 301/302 answering a POST, is followed by a GET.
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, kwargs = "GET", {}
            kwargs.pop("params", None)  # the target names its own query
            url = target
        raise HarvestError(f"{self.source}: {start} redirected more than {MAX_REDIRECTS} times (last to {url}); "
                           "not followed", response.status_code)

    def answer(self, method, url, **kwargs):
        """The answer to one request (a redirect included), retried as the module's docstring says."""
        limiter = limiter_for(urlsplit(url).netloc, self.rate)
        problem, status, wait = None, None, 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(min(MAX_WAIT, wait))
            try:
                if not self.is_cached(method, url, **kwargs):
                    limiter.wait()
                response = self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
            # A body cut short (ChunkedEncodingError) is a transient fault like a reset connection.
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as error:
                problem, status = f"{type(error).__name__}: {error}", None
                wait = self.backoff * 2 ** attempt
                continue
            except Refused as error:
                raise HarvestError(f"{self.source}: {method} {url} refused: {error}", error.status) from None
            except requests.RequestException as error:  # an address requests cannot use
                raise HarvestError(f"{self.source}: {method} {url} failed: {type(error).__name__}: {error}") from None
            if response.status_code < 400:
                return response
            # As bytes: requests would guess an encoding (UTF-16, say) for a short body without a charset.
            problem = f"HTTP {response.status_code}: {response.content[:200].decode('utf-8', 'replace').strip()}"
            status = response.status_code
            if response.status_code not in RETRY_STATUSES:
                break
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is None:
                wait = self.backoff * 2 ** attempt
        raise HarvestError(f"{self.source}: {method} {url} failed after {attempt + 1} attempt(s): {problem}",
                           status)

    def is_cached(self, method, url, **kwargs):
        """Whether the cache answers this request without asking the server (an expired answer does not)."""
        cache = getattr(self.session, "cache", None)
        if cache is None:
            return False
        request = self.session.prepare_request(requests.Request(method, url, **kwargs))
        response = cache.get_response(cache.create_key(request))
        return response is not None and not response.is_expired

    def forget(self, response):
        """Drop a cached response that turned out to be unusable (an error page sent with 200)."""
        cache = getattr(self.session, "cache", None)
        if cache is not None and getattr(response, "cache_key", None):
            cache.delete(response.cache_key)


@dataclass
class Page:
    """One fetched page of a harvest and the harvest state to store once it is loaded."""
    data: bytes
    origin: str
    state: dict


def follow(seen, cursor, where, noun="cursor"):
    """Note that a paged harvest follows `cursor`. One it followed before would loop for
    ever: the run stops there with HarvestError, resumable, rather than finish as done with
    the pages after it missing."""
    if cursor in seen:
        raise HarvestError(f"{where} repeated the {noun} {cursor!r} of an earlier page")
    seen.add(cursor)
