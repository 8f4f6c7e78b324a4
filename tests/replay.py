"""Local replay servers: real HTTP on 127.0.0.1 answering like E-utilities, the
ClinicalTrials.gov API, OpenAlex, Europe PMC, Crossref or a research portal from a set of
records, with faults injected on demand."""

import http.server
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from lxml import etree

SET_HEAD = (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
            b'1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
            b"<PubmedArticleSet>\n")


@dataclass
class Fault:
    path: str
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    params: dict = field(default_factory=dict)


def date_key(text):
    return tuple(int(part) for part in text.split("/"))


# Faults chaos() injects: (what, status, headers, body); "reset" closes the connection
# unanswered, "truncate" sends half the body, "stall" answers after the client gave up,
# "repeat" sends a valid page whose next-page token is the one just used.
CHAOS = [("status", 429, {"Retry-After": "1"}, b'{"error":"API rate limit exceeded"}'),
         ("status", 429, {}, b"Too Many Requests"), ("status", 500, {}, b"Internal Server Error"),
         ("status", 502, {}, b"<html><title>502 Bad Gateway</title></html>"),
         ("status", 503, {"Retry-After": "0"}, b"Service Unavailable"), ("reset", 0, {}, b""),
         ("truncate", 200, {}, b""), ("stall", 200, {}, b""),
         ("status", 200, {"Content-Type": "text/html"}, b"<html><head><title>Down for maintenance</title>"
                                                       b"</head><body>Back soon</body></html>"),
         ("repeat", 200, {}, b"")]


class ReplayServer:
    """A threaded HTTP server whose answers come from `answer(path, params)`; faults first.

    `chaos(rate, seed)` faults that share of requests at random (reproducibly); the
    request times are kept, so a test can check the client kept its rate limit. With
    `rate_limit` set, the server enforces it as the real services do: a request that makes
    more than that many in one second is answered 429 and counted in `violations`.
    `redirect(path, location)` answers every request for a path with a redirect. A fault's
    headers may set Content-Length (sent instead of the body's own), X-Drip: seconds
    to wait before each byte of the body, and X-Endless: the body repeated until the client
    hangs up, without a Content-Length."""

    def __init__(self):
        self.faults = []
        self.requests = []
        self.times = []
        self.rate_limit, self.violations = None, 0
        self.chaos_rate, self.rng, self.stall = 0.0, random.Random(0), 1.0
        self.injected = []
        self.redirects = {}

    def redirect(self, path, location, status=301):
        self.redirects[path] = (status, location)

    def fail_next(self, path, **kwargs):
        self.faults.append(Fault(path, **kwargs))

    def chaos(self, rate, seed, stall=1.0):
        self.chaos_rate, self.rng, self.stall = rate, random.Random(seed), stall

    def repeat_token(self, params, body):
        """A valid page whose next-page token is the one just asked for (paged APIs override)."""
        return body

    def max_per_second(self):
        """The most requests that arrived within any one second."""
        times = sorted(self.times)
        return max((sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times)), default=0)

    def respond(self, path, params):
        self.requests.append((path, params))
        now = time.monotonic()
        self.times.append(now)
        if self.rate_limit and sum(1 for t in self.times if now - t < 1.0) > self.rate_limit:
            self.violations += 1
            return 429, {"Retry-After": "1"}, b'{"error":"API rate limit exceeded"}'
        if path in self.redirects:
            status, location = self.redirects[path]
            return status, {"Location": location}, b""

        if self.chaos_rate and self.rng.random() < self.chaos_rate:
            what, status, headers, body = self.rng.choice(CHAOS)
            self.injected.append(what if what != "status" else status)
            if what == "stall":
                time.sleep(self.stall)
                return self.answer(path, params)
            if what == "repeat":
                status, headers, body = self.answer(path, params)
                return status, headers, self.repeat_token(params, body)
            if what == "truncate":
                status, headers, body = self.answer(path, params)
                return status, {**headers, "X-Truncate": "1"}, body
            return (what if what == "reset" else status), headers, body
        for fault in list(self.faults):
            if fault.path in path and all(params.get(k) == v for k, v in fault.params.items()):
                self.faults.remove(fault)
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.body is not None or fault.status != 200:
                    return fault.status, fault.headers, fault.body or b""
                break
        return self.answer(path, params)

    def __enter__(self):
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                self.reply(url.path, parse_qs(url.query))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.reply(urlsplit(self.path).path, parse_qs(self.rfile.read(length).decode()))

            def reply(self, path, query):
                params = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
                status, headers, body = replay.respond(path, params)
                if status == "reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                truncate = headers.pop("X-Truncate", None)
                drip = float(headers.pop("X-Drip", 0))
                endless = headers.pop("X-Endless", None)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if "Content-Length" not in headers and not endless:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if drip:
                        for byte in body:
                            time.sleep(drip)
                            self.wfile.write(bytes([byte]))
                    else:
                        self.wfile.write(body[:len(body) // 2] if truncate else body)
                    while endless:
                        self.wfile.write(body)
                    if truncate:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}" + self.base_path
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def calls(self, endpoint):
        return [params for path, params in self.requests if path.endswith(endpoint)]


class EutilsReplay(ReplayServer):
    """Serves esearch (with usehistory) and efetch (WebEnv/query_key paging) over `articles`.

    articles: list of <PubmedArticle> XML bytes. Each article's publication date (pdat) and
    DateRevised (mdat) decide which date-restricted searches find it.
    """

    base_path = "/entrez/eutils/"

    def __init__(self, articles):
        super().__init__()
        self.articles = []
        self.histories = {}
        self.neighbours = {}
        for raw in articles:
            self.add(raw)

    def add(self, raw):
        elem = etree.fromstring(raw)
        year = elem.findtext(".//PubDate/Year") or elem.findtext(".//ArticleDate/Year")
        revised = elem.find(".//DateRevised")
        mdat = (int(revised.findtext("Year")), int(revised.findtext("Month")), int(revised.findtext("Day")))
        self.articles = [a for a in self.articles if a["pmid"] != elem.findtext(".//PMID")]
        self.articles.append({"pmid": elem.findtext(".//PMID"), "pdat": (int(year), 1, 1),
                              "mdat": mdat, "raw": raw})

    def matching(self, params):
        found = self.articles
        datetype = params.get("datetype")
        if datetype:
            low, high = date_key(params["mindate"]), date_key(params["maxdate"])
            found = [a for a in found if low <= a[datetype] <= high]
        return sorted(found, key=lambda a: int(a["pmid"]), reverse=True)

    def answer(self, path, params):
        if path.endswith("esearch.fcgi"):
            found = self.matching(params)
            history = ""
            if params.get("usehistory") == "y":
                webenv = f"MCID_{len(self.histories) + 1}"
                self.histories[webenv] = found
                history = f"<QueryKey>1</QueryKey><WebEnv>{webenv}</WebEnv>"
            body = (f'<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult><Count>{len(found)}</Count>'
                    f"<RetMax>0</RetMax><RetStart>0</RetStart>{history}<IdList/></eSearchResult>")
            return 200, {"Content-Type": "text/xml"}, body.encode()
        if path.endswith("efetch.fcgi") and "id" in params:
            wanted = set(params["id"].split(","))
            body = SET_HEAD + b"\n".join(a["raw"] for a in self.articles if a["pmid"] in wanted)
            return 200, {"Content-Type": "text/xml"}, body + b"\n</PubmedArticleSet>\n"
        if path.endswith("elink.fcgi"):
            ids = params["id"] if isinstance(params["id"], list) else [params["id"]]
            sets = "".join(
                f"<LinkSet><DbFrom>pubmed</DbFrom><IdList><Id>{pmid}</Id></IdList><LinkSetDb><DbTo>pubmed</DbTo>"
                f"<LinkName>pubmed_pubmed</LinkName>"
                + "".join(f"<Link><Id>{other}</Id><Score>{score}</Score></Link>"
                          for other, score in self.neighbours.get(pmid, []))
                + "</LinkSetDb></LinkSet>" for pmid in ids)
            return 200, {"Content-Type": "text/xml"}, f'<?xml version="1.0"?><eLinkResult>{sets}</eLinkResult>'.encode()
        if path.endswith("efetch.fcgi"):
            found = self.histories.get(params.get("WebEnv"))
            if found is None:
                return 200, {}, b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>"
            start, size = int(params["retstart"]), int(params["retmax"])
            body = SET_HEAD + b"\n".join(a["raw"] for a in found[start:start + size]) + b"\n</PubmedArticleSet>\n"
            return 200, {"Content-Type": "text/xml"}, body
        return 404, {}, b"Not found"



class CtgovReplay(ReplayServer):
    """Serves /api/v2/studies: pages of `page_size` studies chained by nextPageToken, totalCount
    on the first page only (as the real API), filter.advanced LastUpdatePostDate ranges honoured."""

    base_path = "/api/v2"

    def __init__(self, studies, page_size=2):
        super().__init__()
        self.studies = list(studies)
        self.page_size = page_size

    def answer(self, path, params):
        if not path.endswith("/studies"):
            return 404, {}, b'{"message": "Not found"}'
        found = self.studies
        since = re.search(r"RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]", params.get("filter.advanced", ""))
        if since:
            found = [s for s in found
                     if s["protocolSection"]["statusModule"].get("lastUpdatePostDateStruct", {}).get("date", "")
                     >= since.group(1)]
        start = int(params.get("pageToken", "tok0")[3:])
        page = {"studies": found[start:start + self.page_size]}
        if start + self.page_size < len(found):
            page["nextPageToken"] = f"tok{start + self.page_size}"
        if "pageToken" not in params and params.get("countTotal") == "true":
            page["totalCount"] = len(found)
        return 200, {"Content-Type": "application/json"}, json.dumps(page).encode()

    def repeat_token(self, params, body):
        page = json.loads(body)
        if "pageToken" in params and page.get("nextPageToken"):
            page["nextPageToken"] = params["pageToken"]
        return json.dumps(page).encode()


def articles_in(path):
    """The <PubmedArticle> elements of an efetch file, as bytes each."""
    tree = etree.parse(str(path))
    return [etree.tostring(a) for a in tree.getroot() if a.tag == "PubmedArticle"]


def with_pmid(raw, pmid, revised=None, year=None):
    """A copy of an article as another work: another PMID and DOI, no PMCID (and a DateRevised
    'YYYY/MM/DD' or publication year when given)."""
    raw = re.sub(rb"(<PMID Version=\"1\">)\d+", rb"\g<1>" + pmid.encode(), raw, count=1)
    raw = re.sub(rb'(<ArticleId IdType="pubmed">)\d+', rb"\g<1>" + pmid.encode(), raw, count=1)
    raw = re.sub(rb'(IdType="doi"[^>]*>)([^<]+)', rb"\g<1>\g<2>." + pmid.encode(), raw)
    raw = re.sub(rb'<ArticleId IdType="pmc">[^<]*</ArticleId>', b"", raw)
    if revised:
        year, month, day = revised.split("/")
        raw = re.sub(rb"<DateRevised>.*?</DateRevised>",
                     f"<DateRevised><Year>{year}</Year><Month>{month}</Month><Day>{day}</Day></DateRevised>".encode(),
                     raw, count=1, flags=re.S)
    if year:
        raw = re.sub(rb"(<PubDate><Year>)\d{4}", rb"\g<1>" + str(year).encode(), raw, count=1)
    return raw


class PagedReplay(ReplayServer):
    """Serves JSON pages chained by a cursor parameter: pages[cursor] -> (body dict, headers)."""

    base_path = ""

    def __init__(self, path, cursor_param, pages):
        super().__init__()
        self.path = path
        self.cursor_param = cursor_param
        self.pages = pages

    def answer(self, path, params):
        if not path.endswith(self.path) or params.get(self.cursor_param) not in self.pages:
            return 404, {}, b"Resource not found."
        body, headers = self.pages[params[self.cursor_param]]
        return 200, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()

    def repeat_token(self, params, body):
        page = json.loads(body)
        meta = page.get("meta") or {}
        if meta.get("next_cursor"):  # OpenAlex's shape: the next cursor is the one just used
            meta["next_cursor"] = params[self.cursor_param]
        return json.dumps(page).encode()


class OpenAlexReplay(ReplayServer):
    """Serves /works?filter=openalex:W1|W2 (or doi:...) from a list of OpenAlex work objects."""

    base_path = ""

    def __init__(self, works):
        super().__init__()
        self.works = works

    def answer(self, path, params):
        key, _, values = params.get("filter", "").partition(":")
        wanted = set(values.split("|"))
        field = {"openalex": lambda w: w["id"].rsplit("/", 1)[-1],
                 "doi": lambda w: (w.get("doi") or "").replace("https://doi.org/", "")}[key]
        results = [w for w in self.works if field(w) in wanted]
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"meta": {"count": len(results), "next_cursor": None}, "results": results}).encode()


class PortalSite(ReplayServer):
    """A research portal: pages[path?c=N] -> HTML, and a robots.txt (None: the site has none, 404)."""

    base_path = ""

    def __init__(self, pages, robots=b""):
        super().__init__()
        self.pages, self.robots = pages, robots

    def answer(self, path, params):
        if path == "/robots.txt" and self.robots is not None:
            return 200, {"Content-Type": "text/plain"}, self.robots
        key = path + ("?c=" + params["c"] if "c" in params else "")
        if key in self.pages:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, self.pages[key]
        return 404, {"Content-Type": "text/html"}, b"<html><body>Not found</body></html>"
