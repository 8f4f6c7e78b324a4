"""Crossref: a small client for /works (by DOI, query.bibliographic, cursor paging) that
honours the x-rate-limit headers, and pure parse functions for its JSON and CSL-JSON."""

import json
import re
from urllib.parse import urlsplit

from .errors import HarvestError, ParseError, guarded, payload_guarded
from .http import Client, Page, follow, limiter_for
from .records import FULL, initials_of, new_author, new_reference, new_work

SOURCE = "crossref"
API = "https://api.crossref.org"
ROWS = 1000
PREPRINT_TYPES = {"posted-content", "preprint"}
# update-to / relation types -> link relations from this record to the one it names.
UPDATES = {"retraction": "retraction_of", "correction": "correction_of", "erratum": "erratum_for",
           "expression_of_concern": "expression_of_concern_for", "withdrawal": "withdrawal_of"}


def date_of(value):
    """(year, ISO date) from a Crossref date {"date-parts": [[2014, 10, 27]]}."""
    parts = ((value or {}).get("date-parts") or [[None]])[0]
    parts = [p for p in parts if p is not None]
    if not parts:
        return None, None
    return int(parts[0]), "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(parts))


def first(value):
    return value[0] if isinstance(value, list) and value else (value or None) if not isinstance(value, list) else None


def strip_tags(text):
    """Crossref abstracts are JATS XML: '<jats:p>...</jats:p>' -> plain text."""
    return " ".join(re.sub(r"<[^>]+>", " ", text).split()) if text else None


def parse_reference(reference):
    """One reference[] entry: its `unstructured` text, or else a citation written from the
    fields it has ('Li DM. Cancer Res. 1997;57:2124'); a DOI-only entry has no text."""
    where = "".join(filter(None, (reference.get("year"), reference.get("volume") and ";" + reference["volume"],
                                  reference.get("first-page") and ":" + reference["first-page"])))
    source = reference.get("journal-title") or reference.get("volume-title") or reference.get("series-title")
    written = ". ".join(part.rstrip(".") for part in (reference.get("author"), reference.get("article-title"),
                                                      source, where) if part)
    return new_reference(citation=reference.get("unstructured") or written or None,
                         title=reference.get("article-title"), year=reference.get("year"), doi=reference.get("DOI"))


def affiliation_ids(affiliation):
    """{"ror": url} of an affiliation whose publisher deposited its ROR id (Crossref's
    affiliation[].id[], id-type "ROR"); other id types name no institution we key on."""
    for identifier in affiliation.get("id") or []:
        if str(identifier.get("id-type", "")).upper() == "ROR" and identifier.get("id"):
            value = identifier["id"].strip()
            return {"ror": value if value.startswith("https://") else "https://ror.org/" + value.rsplit("/", 1)[-1]}
    return {}


def parse_work(message):
    """One Crossref work (the /works message, a list item, or a bare CSL-JSON object) -> record."""
    year, pub_date = date_of(message.get("published-print") or message.get("published")
                             or message.get("issued") or message.get("published-online"))
    authors = []
    for position, author in enumerate(message.get("author") or [], 1):
        affiliations = [{"name": a["name"], "identifiers": affiliation_ids(a)}
                        for a in author.get("affiliation") or [] if a.get("name")]
        given, family = author.get("given"), author.get("family")
        authors.append(new_author(position, last_name=family, fore_name=given, initials=initials_of(given),
                                  collective_name=author.get("name") if not family else None,
                                  orcid=author.get("ORCID"), affiliations=affiliations))
    references = [parse_reference(reference) for reference in message.get("reference") or []]
    links = [{"relation": "cites", "scheme": "doi", "target": reference["doi"]}
             for reference in references if reference["doi"]]
    for update in message.get("update-to") or []:
        if update.get("DOI"):
            links.append({"relation": UPDATES.get(update.get("type"), (update.get("type") or "update") + "_of"),
                          "scheme": "doi", "target": update["DOI"].lower()})
    for update in message.get("updated-by") or []:
        if update.get("DOI"):
            kind = update.get("type") or "update"
            relation = {"retraction": "retracted_by", "correction": "corrected_by"}.get(kind, f"{kind}_in")
            links.append({"relation": relation, "scheme": "doi", "target": update["DOI"].lower()})
    for kind, related in (message.get("relation") or {}).items():
        for item in related if isinstance(related, list) else [related]:
            if item.get("id-type") == "doi" and item.get("id"):
                relation = "version_of" if kind in ("is-preprint-of", "is-version-of") else re.sub(r"\W+", "_", kind)
                links.append({"relation": relation, "scheme": "doi", "target": item["id"].lower()})
    work_type = message.get("type")
    unique = {(l["relation"], l["scheme"], l["target"]): l for l in links}
    return new_work(
        source_id=(message.get("DOI") or "").lower() or None, doi=message.get("DOI"),
        title=first(message.get("title")), abstract=strip_tags(message.get("abstract")),
        year=year, pub_date=pub_date, journal=first(message.get("container-title")),
        journal_iso=first(message.get("short-container-title") or message.get("container-title-short")),
        issn=first(message.get("ISSN")), volume=message.get("volume"),
        issue=message.get("issue") or (message.get("journal-issue") or {}).get("issue"),
        pages=message.get("page"), language=message.get("language"),
        pub_types=[work_type] if work_type else [], keywords=message.get("subject") or [],
        authors=authors,
        grants=[{"grant_id": award, "acronym": None, "agency": funder.get("name"), "country": None}
                for funder in message.get("funder") or [] for award in (funder.get("award") or [None])],
        links=list(unique.values()),
        references=references,
        is_retracted=any(l["relation"] == "retracted_by" for l in unique.values()),
        is_preprint=work_type in PREPRINT_TYPES,
        cited_by_count=message.get("is-referenced-by-count"),
        version=date_of(message.get("indexed") or message.get("deposited"))[1],
        completeness=FULL,
    )


@payload_guarded(SOURCE)
def parse_payload(data, origin):
    """Works in a Crossref answer: {status, message} for one work or a work-list, or a bare
    CSL-JSON object (/transform). Returns (items, meta) with `next_cursor` and `total`.
    'Resource not found.' (a 404) or any other body gives one fatal ParseError saying so."""
    try:
        payload = json.loads(data)
    except ValueError:
        text = " ".join(data.decode("utf-8", "replace").split())[:200]
        reason = "not found" if "not found" in text.lower() else f"not JSON: {text}"
        return [ParseError(f"Crossref answered {reason}", source=SOURCE, origin=origin, raw=data[:65536],
                           fatal=True)], {}
    message = payload.get("message", payload) if isinstance(payload, dict) else None
    if (payload.get("status") not in (None, "ok") or not isinstance(message, dict)
            or not message.keys() & {"DOI", "items", "total-results"}):
        return [ParseError(f"not a Crossref work or work list: {str(payload)[:200]}", source=SOURCE, origin=origin,
                           raw=data[:65536], fatal=True)], {}
    meta = {"next_cursor": message.get("next-cursor"), "total": message.get("total-results")}
    works = message.get("items") if "items" in message else [message]
    items = []
    for work in works:
        raw = json.dumps(work, ensure_ascii=False, sort_keys=True).encode()
        items.append(guarded(parse_work, work, source=SOURCE, origin=origin, record_id=work.get("DOI"), raw=raw))
    return items, meta



class Crossref:
    """/works client: by DOI, or a query with cursor paging. Polite pool via mailto."""

    def __init__(self, client=None, base_url=API, rows=ROWS, email=None):
        self.client = client or Client(SOURCE, rate_per_second=5, email=email, uncached=(r"/works\?",))
        self.base_url = base_url.rstrip("/")
        self.rows = rows

    def get(self, url, params):
        response = self.client.get(url, dict(params, mailto=self.client.email))
        self.follow_rate_limit(url, response.headers)
        return response

    def follow_rate_limit(self, url, headers):
        """Crossref states its limit per response (x-rate-limit-limit per x-rate-limit-interval)."""
        try:
            limit = int(headers.get("x-rate-limit-limit", 0))
            interval = float(re.sub(r"[^\d.]", "", headers.get("x-rate-limit-interval", "1s")) or 1)
        except ValueError:
            return
        if limit:
            limiter_for(urlsplit(url).netloc, limit / interval)

    def work(self, doi):
        """The /works/{doi} body."""
        return self.get(f"{self.base_url}/works/{doi}", {}).content

    def harvest(self, query, since=None, state=None):
        """Yield Pages of works matching query.bibliographic; with `since`, only works indexed since."""
        state = dict(state or {"cursor": "*", "pages": 0})
        params = {"query.bibliographic": query, "rows": self.rows}
        if since:
            params["filter"] = f"from-index-date:{since.isoformat()}"
        seen = set()
        while state["cursor"]:
            follow(seen, state["cursor"], f"{SOURCE} /works after page {state['pages']}")
            response = self.get(f"{self.base_url}/works", dict(params, cursor=state["cursor"]))
            origin = f"crossref /works {query!r} page {state['pages'] + 1}"
            try:
                message = json.loads(response.content)["message"]
            except (ValueError, KeyError):
                self.client.forget(response)
                raise HarvestError(f"{origin} answered a body that is not a work list") from None
            done = not message.get("items")
            state = {"cursor": None if done else message.get("next-cursor"), "pages": state["pages"] + 1}
            yield Page(response.content, origin, dict(state))
