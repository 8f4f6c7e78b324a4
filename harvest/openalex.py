"""OpenAlex: a small client for /works (search, filter, cursor paging) and pure parse functions.

OpenAlex adds what PubMed lacks: institutions with ROR ids and countries, citation counts,
referenced and related works, topics and open-access status. An API key
(`OPENALEX_API_KEY`) is required since February 2026. Saved answers parse whole
(`parse_payload`); snapshot part files, JSON Lines, stream a line at a time (`parse_lines`).
"""

import json
import os

from .errors import HarvestError, ParseError, guarded, payload_guarded
from .http import Client, Page, follow
from .limits import TooLong
from .pubmed import DamagedFile
from .records import (SUMMARY, initials_of, new_author, new_work, normalize_doi, normalize_pmcid,
                      normalize_pmid, openalex_key)

SOURCE = "openalex"
API = "https://api.openalex.org"
PER_PAGE = 200
# Only what the KB stores: list calls cost less and pages are smaller.
SELECT = ("id,doi,ids,title,display_name,publication_year,publication_date,language,type,primary_location,"
          "open_access,authorships,cited_by_count,biblio,is_retracted,topics,keywords,mesh,"
          "referenced_works,related_works,abstract_inverted_index,updated_date")


def abstract_from_index(index):
    """Rebuild an abstract from OpenAlex's abstract_inverted_index {word: [positions]}."""
    if not index:
        return None
    positions = {}
    for word, places in index.items():
        for place in places:
            positions[place] = word
    return " ".join(positions[place] for place in sorted(positions)) or None


def parse_work(work):
    """One OpenAlex work object (any schema generation, any select=) -> work record."""
    ids = work.get("ids") or {}
    location = work.get("primary_location") or work.get("host_venue") or {}
    venue = location.get("source") or location
    biblio = work.get("biblio") or {}
    authors = []
    for position, authorship in enumerate(work.get("authorships") or [], 1):
        person = authorship.get("author") or {}
        name = person.get("display_name") or authorship.get("raw_author_name") or ""
        fore, _, last = name.rpartition(" ")
        authors.append(new_author(position, last_name=last or name or None, fore_name=fore or None,
                                  initials=initials_of(fore), orcid=person.get("orcid"),
                                  affiliations=author_affiliations(authorship),
                                  is_corresponding=authorship.get("is_corresponding")))
    pages = "-".join(filter(None, (biblio.get("first_page"), biblio.get("last_page")))) or None
    key = openalex_key(work.get("id") or ids.get("openalex"))
    links = [{"relation": "cites", "scheme": "openalex", "target": openalex_key(w)}
             for w in work.get("referenced_works") or [] if openalex_key(w)]
    links += [{"relation": "related", "scheme": "openalex", "target": openalex_key(w)}
              for w in work.get("related_works") or [] if openalex_key(w)]
    work_type = work.get("type")
    title = work.get("title") or work.get("display_name")
    return new_work(
        source_id=key or normalize_doi(work.get("doi") or ids.get("doi")),
        openalex_id=key,
        doi=work.get("doi") or ids.get("doi"),
        pmid=normalize_pmid(ids.get("pmid")),
        pmcid=normalize_pmcid(ids.get("pmcid")),
        title=title,
        abstract=abstract_from_index(work.get("abstract_inverted_index")),
        year=work.get("publication_year"),
        pub_date=work.get("publication_date"),
        journal=venue.get("display_name"),
        issn=venue.get("issn_l"),
        volume=biblio.get("volume"),
        issue=biblio.get("issue"),
        pages=pages,
        language=work.get("language"),
        pub_types=[work_type] if work_type else [],
        keywords=[k.get("display_name") for k in work.get("keywords") or [] if k.get("display_name")],
        mesh=[{"ui": m.get("descriptor_ui"), "name": m.get("descriptor_name"),
               "major": bool(m.get("is_major_topic")), "qualifiers": [m["qualifier_name"]] if m.get("qualifier_name") else []}
              for m in work.get("mesh") or [] if m.get("descriptor_ui")],
        authors=authors,
        links=links,
        is_retracted=bool(work.get("is_retracted")),
        is_preprint=work_type == "preprint",
        cited_by_count=work.get("cited_by_count"),
        oa_status=(work.get("open_access") or {}).get("oa_status"),
        topics=[t.get("display_name") for t in work.get("topics") or [] if t.get("display_name")],
        version=(work.get("updated_date") or "")[:10] or None,
        completeness=SUMMARY if title is None else work_completeness(work),
    )


def author_affiliations(authorship):
    """An authorship's affiliation strings, each with the institutions OpenAlex says it names.

    One affiliation dict per (string, institution): {"name": string, "identifiers": {ror,
    openalex, country, type}, "institution": the institution's name}; a string naming two
    institutions gives two dicts, a string naming none one dict without identifiers. The
    2023+ schema says which string names which institution (`affiliations[]`); older records
    only list both, so they pair by position when the counts match. Institutions no string
    names are kept under their own names.
    """
    institutions = {openalex_key(i.get("id")): i for i in authorship.get("institutions") or []}
    strings = authorship.get("raw_affiliation_strings") or (
        [authorship["raw_affiliation_string"]] if authorship.get("raw_affiliation_string") else [])
    if "affiliations" in authorship:  # the 2023+ schema, even when it maps no string
        named = {}
        for entry in authorship["affiliations"] or []:
            keys = named.setdefault(entry.get("raw_affiliation_string"), [])
            keys += [key for key in map(openalex_key, entry.get("institution_ids") or [])
                     if key and key not in keys]
        # raw_affiliation_strings keeps the paper's order; affiliations[] may list them otherwise.
        pairs = [(text, named.get(text, [])) for text in dict.fromkeys(strings + list(named)) if text]
    elif len(strings) == len(institutions):
        pairs = [(text, [key]) for text, key in zip(strings, institutions) if text]
    else:
        pairs = [(text, []) for text in dict.fromkeys(strings) if text]
    affiliations = []
    for text, keys in pairs:
        affiliations += [institution_affiliation(text, institutions.get(key, {"id": key})) for key in keys] or [
            {"name": text, "identifiers": {}}]
    named_keys = {key for _, keys in pairs for key in keys}
    affiliations += [institution_affiliation(institution["display_name"], institution)
                     for key, institution in institutions.items()
                     if key not in named_keys and institution.get("display_name")]
    return affiliations


def institution_affiliation(text, institution):
    """The affiliation dict of one string at one (dehydrated) OpenAlex institution."""
    identifiers = {key: value for key, value in (
        ("ror", institution.get("ror")), ("openalex", openalex_key(institution.get("id"))),
        ("country", institution.get("country_code")), ("type", institution.get("type"))) if value}
    return {"name": text, "identifiers": identifiers, "institution": institution.get("display_name")}


def work_completeness(work):
    """A work fetched with a narrow select= is a summary; one with its authorships is full."""
    return 2 if "authorships" in work else SUMMARY


def not_found(data):
    text = data.decode("utf-8", "replace")
    return "<title>404 Not Found</title>" in text or text.strip().lower() in ("not found", "resource not found.")


ENTITY_KINDS = {"W": "work", "A": "author", "I": "institution", "S": "source", "T": "topic", "C": "concept",
                "P": "publisher", "F": "funder"}


def parse_entity(entity):
    """An OpenAlex author or institution (or other non-work entity) -> a flat dict."""
    key = openalex_key(entity.get("id"))
    geo = entity.get("geo") or {}
    return {"kind": ENTITY_KINDS.get(key[0], "entity") if key else "entity", "openalex_id": key,
            "name": entity.get("display_name"), "ror": entity.get("ror"),
            "orcid": entity.get("orcid"), "country": entity.get("country_code") or geo.get("country_code"),
            "type": entity.get("type"), "city": geo.get("city"), "latitude": geo.get("latitude"),
            "longitude": geo.get("longitude")}


def is_object(payload):
    """Whether a JSON value is one OpenAlex work or entity (not a list page, not an error)."""
    return isinstance(payload, dict) and "results" not in payload and bool(
        payload.keys() & {"id", "doi", "ids", "title", "display_name", "open_access"})


def json_lines(head):
    """Whether a file whose first two lines are `head` is JSON Lines of OpenAlex objects, as
    the snapshot's part files are (data/works/updated_date=*/part_*.gz), rather than one
    JSON document: its first line is a whole object, or its second is and the first opens
    no JSON list (a list written one work a line is one document)."""
    def whole(line):
        try:
            return is_object(json.loads(line))
        except (ValueError, RecursionError):  # not JSON, or nested past Python's limit
            return False
    first, second = (list(head) + [b"", b""])[:2]  # a file may hold fewer than two lines
    return whole(first) or (not first.lstrip().startswith(b"[") and whole(second))


def parse_lines(lines, origin, entities):
    """Works of a JSON Lines file (a snapshot part), one line at a time, in constant memory.

    Yields work records and ParseErrors: a line that is no OpenAlex object is that line's
    ParseError (record_id "line N") and the lines after it still load; a compressed file
    found damaged ends the stream with a fatal ParseError. Entities other than works (a
    part of the institutions snapshot) are appended to `entities` as parse_entity dicts.
    """
    number = 0
    try:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"line {number}"
            if isinstance(line, TooLong):
                yield ParseError(line.problem(where), source=SOURCE, origin=origin, record_id=where, raw=line)
                continue
            try:
                work = json.loads(line)
            except (ValueError, RecursionError) as error:
                work, problem = None, f"{where} is not JSON: {error!r}"[:500]
            else:
                problem = None if is_object(work) else f"{where} is not an OpenAlex object: {line[:200]!r}"
            if problem:
                yield ParseError(problem, source=SOURCE, origin=origin, record_id=where, raw=line[:65536])
                continue
            key = openalex_key(work.get("id"))
            if key and not key.startswith("W"):
                entities.append(parse_entity(work))
                continue
            yield guarded(parse_work, work, source=SOURCE, origin=f"{origin} {where}", record_id=key,
                          raw=line.strip())
    except DamagedFile as error:
        yield ParseError(f"damaged file after line {number}: {error}", source=SOURCE, origin=origin,
                         record_id=f"after line {number}", fatal=True)


@payload_guarded(SOURCE)
def parse_payload(data, origin):
    """Works in an OpenAlex response: one work, a /works list page, or a JSON list of works.

    Returns (items, meta): items are work records or ParseErrors; meta holds `next_cursor`
    and `count` of list pages and `entities` (authors, institutions, ...) the payload holds
    instead of works. A 404 page or a body that is not OpenAlex JSON gives one fatal ParseError.
    """
    try:
        payload = json.loads(data)
    except ValueError:
        reason = "not found (HTTP 404 page)" if not_found(data) else "not JSON"
        return [ParseError(f"not an OpenAlex response: {reason}", source=SOURCE, origin=origin,
                           raw=data[:65536], fatal=True)], {}
    meta = {"entities": []}
    if isinstance(payload, dict) and "results" in payload:
        works = payload["results"]
        meta.update(next_cursor=(payload.get("meta") or {}).get("next_cursor"),
                    count=(payload.get("meta") or {}).get("count"))
    elif isinstance(payload, list):
        works = payload
    elif is_object(payload):
        works = [payload]
    else:
        return [ParseError(f"not an OpenAlex response: {str(payload)[:200]}", source=SOURCE, origin=origin,
                           raw=data[:65536], fatal=True)], {}
    items = []
    for work in works:
        key = openalex_key(work.get("id"))
        if key and not key.startswith("W"):
            meta["entities"].append(parse_entity(work))
            continue
        raw = json.dumps(work, ensure_ascii=False, sort_keys=True).encode()
        items.append(guarded(parse_work, work, source=SOURCE, origin=origin, record_id=key, raw=raw))
    return items, meta



class OpenAlex:
    """/works client with cursor paging. `harvest(search=..., filter=...)` yields Pages."""

    def __init__(self, client=None, base_url=API, api_key=None, email=None, per_page=PER_PAGE):
        self.client = client or Client(SOURCE, rate_per_second=10, email=email, uncached=(r"/works\?",))
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENALEX_API_KEY")
        self.per_page = per_page

    def params(self, **params):
        params.update(mailto=self.client.email, api_key=self.api_key)
        return {k: v for k, v in params.items() if v}

    def harvest(self, search=None, since=None, state=None, filter=None):
        """Yield Pages of works; with `since`, only works updated on or after that date."""
        filters = [f for f in (filter, f"from_updated_date:{since.isoformat()}" if since else None) if f]
        state = dict(state or {"cursor": "*", "pages": 0})
        seen = set()
        while state["cursor"]:
            follow(seen, state["cursor"], f"{SOURCE} /works after page {state['pages']}")
            params = self.params(search=search, filter=",".join(filters), select=SELECT,
                                 per_page=self.per_page, cursor=state["cursor"])
            response = self.client.get(f"{self.base_url}/works", params)
            origin = f"openalex /works search={search!r} filter={filter!r} page {state['pages'] + 1}"
            try:
                meta = json.loads(response.content).get("meta") or {}
            except ValueError:
                self.client.forget(response)
                raise HarvestError(f"{origin} answered a body that is not JSON") from None
            state = {"cursor": meta.get("next_cursor"), "pages": state["pages"] + 1}
            yield Page(response.content, origin, dict(state))

    def works_by(self, key, values, batch=50):
        """Works whose `key` (openalex, doi, pmid) is one of `values`: one /works call per 50."""
        for start in range(0, len(values), batch):
            chunk = values[start:start + batch]
            yield self.client.get(f"{self.base_url}/works", self.params(
                filter=f"{key}:{'|'.join(chunk)}", select=SELECT, per_page=self.per_page)).content

    def institutions_by(self, ids, batch=50):
        """/institutions entities by OpenAlex id: one call per 50."""
        for start in range(0, len(ids), batch):
            yield self.client.get(f"{self.base_url}/institutions", self.params(
                filter=f"openalex:{'|'.join(ids[start:start + batch])}", per_page=self.per_page)).content

    def work(self, identifier):
        """One work by W id, DOI or PMID ('pmid:123')."""
        return self.client.get(f"{self.base_url}/works/{identifier}", self.params()).content
