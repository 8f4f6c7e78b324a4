"""The one HTTP layer every harvester uses: polite, retrying, cached.

- a User-Agent naming regenkb and a contact address (`REGENKB_EMAIL`);
- a per-host rate limit shared by every client in the process;
- retries with exponential backoff on 429, 5xx, connection errors and timeouts,
  honouring `Retry-After` (seconds or an HTTP date);
- an on-disk response cache (requests-cache, SQLite) so a re-run does not download again.
"""

import email.utils
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import requests_cache

from .errors import HarvestError

RETRY_STATUSES = {429, 500, 502, 503, 504}
DEFAULT_EMAIL = "regenkb-user@example.org"
MAX_WAIT = 120.0


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


class Client:
    """A requests session for one source: `get(url, params)` returns a successful response or raises.

    uncached: regular expressions of URLs never cached, such as a search whose answer is
    the "what is new since the last run" question.
    """

    def __init__(self, source, rate_per_second, email=None, cache=None, uncached=(),
                 max_retries=5, backoff=1.0, timeout=(10, 60), sleep=time.sleep):
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
            path = Path(cache or cache_path())
            path.parent.mkdir(parents=True, exist_ok=True)
            self.session = requests_cache.CachedSession(
                str(path), backend="sqlite", expire_after=requests_cache.NEVER_EXPIRE,
                urls_expire_after={re.compile(r"/robots\.txt$"): ROBOTS_MAX_AGE,
                                   **{re.compile(pattern): requests_cache.DO_NOT_CACHE for pattern in uncached}},
                allowable_methods=("GET", "POST"), allowable_codes=(200,))
        self.session.headers["User-Agent"] = (
            f"regenkb/0.1 (+https://github.com/regenkb/regenkb; mailto:{self.email})")

    def get(self, url, params=None):
        return self.request("GET", url, params=params)

    def post(self, url, data=None):
        return self.request("POST", url, data=data)

    def request(self, method, url, **kwargs):
        limiter = limiter_for(urlsplit(url).netloc, self.rate)
        problem, status, wait = None, None, 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(min(MAX_WAIT, wait))
            if not self.is_cached(method, url, **kwargs):
                limiter.wait()
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            # A body cut short (ChunkedEncodingError) is a transient fault like a reset connection.
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as error:
                problem, status = f"{type(error).__name__}: {error}", None
                wait = self.backoff * 2 ** attempt
                continue
            if response.status_code < 400:
                return response
            problem, status = f"HTTP {response.status_code}: {response.text[:200].strip()}", response.status_code
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
