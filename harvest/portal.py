"""Research-portal record pages (university research portals, DSpace, EPrints, Pure, OPUS,
HAL, Sinaweb journal sites): a polite crawler and a pure parser.

Each field is read in layers, most reliable first: scholarly <meta> tags (citation_*,
DC.*), then JSON-LD, then the visible layout, found by its headings and labels ("Authors
Affiliations", "Source:", "Abstract", "Other Related Docs") rather than by CSS classes.
The record says which layer gave each field.
"""

import json
import re
import unicodedata
import urllib.robotparser
from collections import deque
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, NavigableString

from .errors import HarvestError, ParseError, payload_guarded
from .http import Client, limiter_for
from .records import SUMMARY, new_author, new_work

SOURCE = "portal"
DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩،", "01234567890123456789,")
SUP = "\x1f"  # marks where a <sup> begins in flattened text
NUMBERS = r"[\d۰-۹٠-٩][\d۰-۹٠-٩\s,،\-–]*"
LABELS = {
    "affiliations": re.compile(r"^\s*(authors?\s+)?affiliations?\s*:?\s*$", re.I),
    "authors": re.compile(r"^\s*authors?\s*:?\s*$", re.I),
    "abstract": re.compile(r"^\s*abstract\s*:?\s*$", re.I),
    "related": re.compile(r"^\s*(other\s+)?related\s+(docs|documents|publications|records)\s*:?\s*$", re.I),
}
SECTION = re.compile(r"\b(Background|Objectives?|Aims?|Methods?|Results?|Conclusions?|Discussion)\s*:", re.I)


def clean(text):
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def numbers_of(text):
    """'1, 2, 3', '1,2,3', '1-3', '۱، ۲' -> [1, 2, 3]."""
    result = []
    for part in (text or "").translate(DIGITS).replace("–", "-").split(","):
        part = part.strip()
        if re.fullmatch(r"\d+\s*-\s*\d+", part):
            low, high = (int(x) for x in part.split("-"))
            result.extend(range(low, high + 1))
        elif part.isdigit():
            result.append(int(part))
    return result


def flat_text(element):
    """An element's text with each <sup> marked, so superscript numbers stay apart from names."""
    parts = []
    for node in element.descendants:
        if isinstance(node, NavigableString):
            parent = node.parent
            prefix = SUP if parent.name == "sup" and node is next(iter(parent.strings), None) else ""
            parts.append(prefix + str(node))
    return clean("".join(parts).replace(SUP, " " + SUP))


def split_author(part):
    """'Soleimani M1, 2, 3' or 'Soleimani M' + sup '1,2,3' -> (name as written, [numbers])."""
    part = part.strip()
    if SUP in part:
        name, _, numbers = part.partition(SUP)
        return clean(name), numbers_of(numbers.replace(SUP, ","))
    found = re.fullmatch(rf"(.*?[^\s\d,،\-–۰-۹٠-٩])\s*({NUMBERS})?", part)
    if not found:
        return clean(part), []
    return clean(found.group(1)), numbers_of(found.group(2) or "")


def parse_name(written):
    """'Keshel SH' -> (Keshel, SH, None); 'Masoud Soleimani' -> (Soleimani, M, Masoud); 'Ulbrich, Stefan'."""
    if "," in written:
        last, _, fore = (p.strip() for p in written.partition(","))
    else:
        tokens = written.split()
        if len(tokens) > 1 and re.fullmatch(r"[A-Z]{1,3}", tokens[-1]):
            return " ".join(tokens[:-1]), tokens[-1], None
        last, fore = (tokens[-1], " ".join(tokens[:-1])) if tokens else (written, "")
    initials = "".join(p[0] for p in re.split(r"[\s.-]+", fore) if p).upper() or None
    return last, initials, fore or None


def find_label(soup, kind):
    """The element whose own text is the label of a section ('Authors Affiliations', ...)."""
    pattern = LABELS[kind]
    for element in soup.find_all(True):
        if element.name in ("script", "style", "title", "head"):
            continue
        text = clean(element.get_text(" "))
        if pattern.match(text) and not any(pattern.match(clean(c.get_text(" "))) for c in element.find_all(True)):
            return element
    return None


def following(element, names):
    """The first element after `element` in document order with one of these tag names."""
    return element.find_next(names) if element else None


def meta_values(soup, *names):
    wanted = {n.lower() for n in names}
    return [clean(m.get("content")) for m in soup.find_all("meta")
            if (m.get("name") or m.get("property") or "").lower() in wanted and clean(m.get("content"))]


def json_ld(soup):
    for script in soup.find_all("script", type="application/ld+json"):
        try:
            data = json.loads(script.string or "")
        except ValueError:
            continue
        for item in data if isinstance(data, list) else data.get("@graph", [data]):
            if isinstance(item, dict) and item.get("@type") in ("ScholarlyArticle", "Article", "MedicalScholarlyArticle"):
                return item
    return {}


def layout_title(soup):
    for heading in soup.find_all(["h1", "h2", "h3"]):
        text = clean(heading.get_text(" "))
        text = re.sub(r"\s+Publisher$", "", text)
        if len(text.split()) >= 4 and not any(p.match(text) for p in LABELS.values()):
            return text
    return None


def layout_authors(soup):
    """Authors as the page lists them: '; '-separated names, each with its affiliation numbers."""
    candidates = []
    for element in soup.find_all(["div", "p", "td", "span", "li"]):
        if element.find(["div", "p", "td", "table", "li"]):
            continue
        text = flat_text(element)
        parts = [p for p in text.split(";") if p.strip()]
        if len(parts) >= 2 and all(re.search(r"[^\W\d_]", p) and len(p) < 80 for p in parts):
            candidates.append(parts)
    if candidates:
        return [split_author(part) for part in candidates[0]]
    # A single author: the line just before the "Authors" label (not the block holding the label).
    label = find_label(soup, "authors")
    ancestors = set(map(id, label.parents)) if label else set()
    for previous in label.find_all_previous(["div", "p", "td", "span"]) if label else []:
        if id(previous) not in ancestors and clean(previous.get_text(" ")):
            return [split_author(flat_text(previous))]
    return []


def layout_affiliations(soup):
    """{number: affiliation} from the numbered list that follows the affiliations label."""
    label = find_label(soup, "affiliations")
    container = following(label, ["ol", "ul", "table"])
    if container is None:
        return {}
    items = container.find_all("li") or container.find_all("tr")
    found = {}
    for position, item in enumerate(items, 1):
        text = flat_text(item).replace(SUP, " ").translate(DIGITS)
        number = position
        leading = re.match(r"^\s*(\d+)\s*[.)]?\s*", text)
        while leading:
            number = int(leading.group(1))
            text = text[leading.end():]
            leading = re.match(r"^\s*(\d+)\s*[.)]\s*", text)
        if text.strip():
            found[number] = clean(text)
    return found


def layout_source(soup):
    """'Source: International Journal of Preventive Medicine Published:2022' -> (journal, year)."""
    for element in soup.find_all(["p", "div", "td", "span", "li"]):
        text = clean(element.get_text(" ")).translate(DIGITS)
        found = re.search(r"Source\s*:\s*(.+?)\s*Published\s*:\s*(\d{4})", text)
        if found and not element.find(["p", "div", "td"], string=re.compile("Source")):
            return found.group(1), int(found.group(2))
    return None, None


def layout_abstract(soup):
    """(abstract with its section labels, copyright line) from the block after the Abstract label."""
    label = find_label(soup, "abstract")
    block = following(label, ["p", "div", "td"])
    if block is None:
        return None, None
    text = clean(block.get_text(" "))
    copyright_ = None
    if "©" in text:
        text, _, tail = text.partition("©")
        copyright_ = "© " + tail.strip()
    text = SECTION.sub(lambda m: "\n" + m.group(0), text).strip()
    return text or None, copyright_


def layout_related(soup, base_url):
    """[{position, url, title, journal, year}] from the list after 'Other Related Docs'."""
    label = find_label(soup, "related")
    container = following(label, ["ol", "ul", "table"])
    if container is None:
        return []
    related = []
    for position, item in enumerate(container.find_all("li") or container.find_all("tr"), 1):
        link = item.find("a", href=True)
        text = re.sub(r"^\s*\d+\s*[.)]\s*", "", clean(item.get_text(" ")).translate(DIGITS))
        found = re.fullmatch(r"(.+?)\s*,\s*([^,]+?)\s*\((\d{4})\)", text)
        title, journal, year = (found.group(1), found.group(2), int(found.group(3))) if found else (text, None, None)
        related.append({"position": position, "url": urljoin(base_url, link["href"]) if link else None,
                        "title": title, "journal": journal, "year": year})
    return related


def page_url(soup, url):
    for selector in ({"rel": "canonical"},):
        link = soup.find("link", attrs=selector, href=True)
        if link:
            return urljoin(url, link["href"])
    meta = meta_values(soup, "citation_abstract_html_url", "og:url")
    return meta[0] if meta else url


def parse_page(html, url):
    """A record page -> (work record, related documents). Raises ParseError naming the URL and
    what is missing when the page has no title, no authors, or numbers that point at no
    affiliation, or is no record page at all."""
    soup = BeautifulSoup(html, "lxml")
    url = page_url(soup, url)
    ld = json_ld(soup)
    layers = {}

    def pick(field, *options):
        for layer, value in options:
            if value not in (None, "", []):
                layers[field] = layer
                return value
        return None

    title = pick("title", ("meta", (meta_values(soup, "citation_title", "DC.title") or [None])[0]),
                 ("jsonld", ld.get("headline") or ld.get("name")), ("layout", layout_title(soup)))
    journal_layout, year_layout = layout_source(soup)
    date = pick("pub_date", ("meta", (meta_values(soup, "citation_publication_date", "citation_date",
                                                   "DC.date", "citation_year") or [None])[0]),
                ("jsonld", ld.get("datePublished")))
    year_text = re.search(r"\d{4}", (date or "").translate(DIGITS))
    year = pick("year", ("meta" if date else "jsonld", int(year_text.group()) if year_text else None),
                ("layout", year_layout))
    journal = pick("journal", ("meta", (meta_values(soup, "citation_journal_title", "DC.source") or [None])[0]),
                   ("jsonld", (ld.get("isPartOf") or {}).get("name") if isinstance(ld.get("isPartOf"), dict) else None),
                   ("layout", journal_layout))
    doi = pick("doi", ("meta", (meta_values(soup, "citation_doi") or [None])[0]),
               ("meta", next((v for v in meta_values(soup, "DC.identifier") if "10." in v and "/" in v), None)))
    abstract_layout, copyright_ = layout_abstract(soup)
    abstract = pick("abstract", ("meta", (meta_values(soup, "citation_abstract", "DC.description") or [None])[0]),
                    ("jsonld", ld.get("abstract")), ("layout", abstract_layout))

    affiliations = layout_affiliations(soup)
    written = layout_authors(soup)
    meta_authors = meta_values(soup, "citation_author") or meta_values(soup, "DC.creator")
    ld_authors = [a.get("name") for a in ld.get("author", []) if isinstance(a, dict) and a.get("name")]
    if meta_authors and len(written) == len(meta_authors):
        names, layers["authors"] = [(m, numbers) for m, (_, numbers) in zip(meta_authors, written)], "meta+layout"
    elif meta_authors:
        names, layers["authors"] = [(m, []) for m in meta_authors], "meta"
    elif ld_authors:
        names, layers["authors"] = [(a, []) for a in ld_authors], "jsonld"
    else:
        names, layers["authors"] = written, "layout"
    if affiliations:
        layers["affiliations"] = "layout"
    if not title and not names:
        raise ParseError("not a record page: no title and no authors", source=SOURCE, origin=url, raw=html)
    if not title:
        raise ParseError("record page without a title", source=SOURCE, origin=url, raw=html)
    if not names:
        raise ParseError("record page without authors", source=SOURCE, origin=url, raw=html)
    institutions = meta_values(soup, "citation_author_institution")
    authors = []
    for position, (name, numbers) in enumerate(names, 1):
        missing = [n for n in numbers if n not in affiliations]
        if missing:
            raise ParseError(f"author {name} names affiliation(s) {missing}, which the page does not list",
                             source=SOURCE, origin=url, raw=html)
        last, initials, fore = parse_name(name)
        texts = [affiliations[n] for n in numbers]
        if not texts and len(institutions) == len(names):
            texts = [institutions[position - 1]]
        authors.append(new_author(position, written_name=name, last_name=last, fore_name=fore, initials=initials,
                                  affiliations=[{"name": text, "identifiers": {}} for text in texts]))
    record = new_work(source_id=url, doi=doi, title=title, abstract=abstract, year=year, pub_date=date,
                      journal=journal, authors=authors, copyright=copyright_, layers=layers)
    return record, layout_related(soup, url)


def related_stub(entry, listed_on):
    """A work known only from a listing on another page: title, journal, year."""
    return new_work(source_id=entry["url"], title=entry["title"], journal=entry["journal"], year=entry["year"],
                    completeness=SUMMARY, layers={"title": f"listed on {listed_on}"})


@payload_guarded(SOURCE)
def parse_payload(data, url):
    """A saved or fetched page -> (items, related). Items are the page's record, a stub for each
    related document, or a ParseError; each record carries its raw JSON for provenance."""
    html = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        record, related = parse_page(html, url)
    except ParseError as error:
        error.raw = json.dumps({"url": url, "html": html}).encode()
        error.fatal = True
        return [error], []
    record["raw"] = json.dumps({"url": record["source_id"], "html": html}, ensure_ascii=False).encode()
    record["links"] = [{"relation": "related", "scheme": SOURCE, "target": entry["url"],
                        "evidence": f"Other Related Docs #{entry['position']} on {urlsplit(record['source_id']).netloc or 'the page'}"}
                       for entry in related if entry["url"]]
    stubs = []
    for entry in related:
        if entry["url"]:
            stub = related_stub(entry, record["source_id"])
            stub["raw"] = json.dumps({"url": entry["url"], "listed_on": record["source_id"], "entry": entry},
                                     ensure_ascii=False).encode()
            stubs.append(stub)
    return [record] + stubs, related


def reparse(raw):
    """A stored portal record (a page, or a stub from a listing) -> its record again."""
    data = json.loads(raw)
    if "html" in data:
        return parse_page(data["html"], data["url"])[0]
    return related_stub(data["entry"], data["listed_on"])


class Crawler:
    """Fetches record pages politely: same host only, robots.txt honoured (its Crawl-delay
    too), each page once."""

    def __init__(self, client=None, email=None):
        self.client = client or Client(SOURCE, rate_per_second=1, email=email)
        self.robots = {}
        self.unreadable = {}  # host -> why its robots.txt could not be read

    def fetch(self, url, read):
        """(bytes, read(bytes)) of the page at `url`. A page `read` finds unusable (None), such as
        a maintenance page sent with 200, is dropped from the cache and asked for again, within
        the client's retries; the last answer is returned whatever it is."""
        for _ in range(self.client.max_retries + 1):
            data = (response := self.client.get(url)).content
            if (content := read(data)) is not None:
                break
            self.client.forget(response)
        return data, content

    def rules(self, host):
        """robots.txt of a host, read as RFC 9309 says: a 4xx answer allows everything, an
        answer that never came (5xx, no connection) forbids everything until the next run."""
        if host not in self.robots:
            rules = urllib.robotparser.RobotFileParser()
            try:
                # An HTML page where robots.txt should be holds no rules (and may be an error page).
                lines = self.fetch(host + "/robots.txt", robots_lines)[1]
                rules.parse(lines or [])
            except HarvestError as error:
                if error.status and 400 <= error.status < 500:
                    rules.parse([])
                else:
                    rules.parse(["User-agent: *", "Disallow: /"])
                    self.unreadable[host] = f"robots.txt could not be read, so nothing on the host is fetched ({error})"
            delay = rules.crawl_delay(self.user_agent)
            if delay:
                limiter_for(urlsplit(host).netloc, 1 / float(delay))
            self.robots[host] = rules
        return self.robots[host]

    @property
    def user_agent(self):
        return self.client.session.headers["User-Agent"]

    def forbidden(self, url):
        """Why robots.txt keeps the crawler from `url`, or None."""
        parts = urlsplit(url)
        host = f"{parts.scheme}://{parts.netloc}"
        if self.rules(host).can_fetch(self.user_agent, url):
            return None
        return self.unreadable.get(host, "robots.txt disallows it")

    def crawl(self, start, depth=0, max_pages=50):
        """Yield (url, page bytes, problem) breadth-first from `start`, following related-document
        links `depth` levels deep on the same host, fetching at most `max_pages` pages. A page
        robots.txt forbids or that fails to come is yielded with its problem and no bytes; the
        crawl goes on, and a later run fetches it again."""
        host = urlsplit(start).netloc
        queue, seen = deque([(start, 0)]), {start}
        fetched = 0
        while queue and fetched < max_pages:
            url, level = queue.popleft()
            if reason := self.forbidden(url):
                yield url, None, reason
                continue
            fetched += 1
            try:
                data, page = self.fetch(url, lambda data: record_page(data, url))
            except HarvestError as error:
                yield url, None, str(error)
                continue
            yield url, data, None
            if page and level < depth:
                for entry in page[1]:
                    target = entry["url"]
                    if target and urlsplit(target).netloc == host and target not in seen:
                        seen.add(target)
                        queue.append((target, level + 1))


def robots_lines(data):
    """The lines of a robots.txt, or None when an HTML page came instead."""
    if data.lstrip()[:200].lower().startswith((b"<!doctype html", b"<html")):
        return None
    return data.decode("utf-8", "replace").splitlines()


def record_page(data, url):
    """(record, related) of a fetched page, or None when it is no record page."""
    try:
        return parse_page(data.decode("utf-8", "replace"), url)
    except ParseError:
        return None
