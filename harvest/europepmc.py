"""Europe PMC: a small client (/search with cursorMark paging, citations, references) and
pure parse functions for its JSON, XML and Dublin Core answers."""

import json
import re

from lxml import etree

from .errors import HarvestError, ParseError, guarded, payload_guarded
from .http import Client, Page
from .records import FULL, SUMMARY, initials_of, new_author, new_reference, new_work

SOURCE = "europepmc"
API = "https://www.ebi.ac.uk/europepmc/webservices/rest"
PAGE_SIZE = 1000
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"

# commentCorrection type -> link relation from this record to the other.
CORRECTIONS = {"Retraction in": "retracted_by", "Retraction of": "retraction_of", "Erratum in": "erratum_in",
               "Erratum for": "erratum_for", "Comment in": "commented_in", "Comment on": "comment_on",
               "Update in": "update_in", "Update of": "update_of",
               "Expression of concern in": "expression_of_concern_in"}


def listed(value, key):
    """Europe PMC wraps lists: {"authorList": {"author": [...]}}; absent lists are empty."""
    return ((value or {}).get(key) or []) if isinstance(value, dict) else []


# Words that name a group, never a person. The lite answer's authorString lists groups among
# people ("..., Schadendorf D, METRIC Study Group.") and nothing else tells them apart: a name
# without such a word stays a person, since a person may be written without initials ("Da Zhou").
GROUP_WORDS = re.compile(
    r"\b(groups?|consortium|collaborat\w*|committee|investigators?|network|team|study|trial(ist)?s?|society|"
    r"association|working|writing|alliance|initiative|council|registry|programm?e?|project|office|board|panel)\b",
    re.I)


def author_of(position, author):
    """One author (or investigator) of a core answer's authorList (investigatorList)."""
    orcid = (author.get("authorId") or {}).get("value") if (author.get("authorId") or {}).get("type") == "ORCID" else None
    affiliations = [{"name": a["affiliation"], "identifiers": {}}
                    for a in listed(author.get("authorAffiliationDetailsList"), "authorAffiliation")
                    if a.get("affiliation")]
    if not affiliations and author.get("affiliation"):
        affiliations = [{"name": author["affiliation"], "identifiers": {}}]
    return new_author(position, written_name=author.get("fullName"), last_name=author.get("lastName"),
                      fore_name=author.get("firstName"),
                      initials=author.get("initials") or initials_of(author.get("firstName")),
                      collective_name=author.get("collectiveName"), orcid=orcid, affiliations=affiliations)


def author_of_string(position, name):
    """One name of an authorString: 'Flaherty KT', 'Şen Ş', 'Tseng H-', 'METRIC Study Group', 'GEC-ESTRO'."""
    if GROUP_WORDS.search(name) or (" " not in name and name.isupper()):
        return new_author(position, collective_name=name)
    last, _, initials = name.rpartition(" ")
    if last and initials.replace("-", "").isupper():
        return new_author(position, written_name=name, last_name=last, initials=initials)
    return new_author(position, written_name=name, last_name=name)


def issns_of(result, journal):
    """(ISSN, electronic ISSN): core answers name both; lite ones join them ('0028-4793; 1533-4406; ')."""
    listed_issns = [part.strip().upper() for part in (result.get("journalIssn") or "").split(";") if part.strip()]
    issn = journal.get("issn") or journal.get("essn") or next(iter(listed_issns), None)
    essn = journal.get("essn") or (listed_issns[1] if len(listed_issns) > 1 else None)
    return issn, essn


def split_types(pub_types):
    """pubType is a list on most records and a single '; '-joined string on some."""
    result = []
    for value in pub_types if isinstance(pub_types, list) else [pub_types]:
        result.extend(part.strip() for part in re.split(r";\s*", value or "") if part.strip())
    return result


def related_link(entry):
    """(scheme, target) of a /citations or /references entry: a PMID for source MED, else
    Europe PMC's own SOURCE:id; None for an entry without an id."""
    if not entry.get("id"):
        return None
    if entry.get("source") == "MED":
        return "pmid", entry["id"]
    return "europepmc", f"{entry.get('source')}:{entry['id']}"


def reference_of(entry):
    """One /references entry -> a reference, its citation written from the fields the entry
    gives: 'Authors. Title. Journal. Year;Volume(Issue):Pages.'"""
    def field(name, form="{}"):
        # pubYear comes as a number.
        return form.format(str(entry[name]).strip()) if str(entry.get(name) or "").strip() else ""

    parts = [field("authorString"), field("title"), field("journalAbbreviation") or field("publicationTitle"),
             ";".join(filter(None, [field("pubYear"), field("volume") + field("issue", "({})")
                                    + field("pageInfo", ":{}")]))]
    citation = " ".join(f"{part.rstrip('.')}." for part in parts if part) or None
    source = entry.get("source")
    return new_reference(citation=citation, title=entry.get("title"), year=entry.get("pubYear"),
                         doi=entry.get("doi"), pmid=entry.get("id") if source == "MED" else None,
                         pmcid=entry.get("id") if source == "PMC" else None)


def parse_result(result):
    """One /search result (resultType core, lite or idlist) -> work record."""
    source, identifier = result.get("source"), result.get("id")
    journal_info = result.get("journalInfo") or {}
    journal = journal_info.get("journal") or {}
    authors = [author_of(position, author)
               for position, author in enumerate(listed(result.get("authorList"), "author"), 1)]
    if not authors and result.get("authorString"):
        names = [name.strip() for name in result["authorString"].strip().rstrip(".").split(",")]
        authors = [author_of_string(position, name) for position, name in enumerate(filter(None, names), 1)]
    mesh = []
    for heading in listed(result.get("meshHeadingList"), "meshHeading"):
        qualifiers = listed(heading.get("meshQualifierList"), "meshQualifier")
        names = [(q["qualifierName"], q.get("majorTopic_YN") == "Y") for q in qualifiers if q.get("qualifierName")]
        descriptor_major = heading.get("majorTopic_YN") == "Y"
        mesh.append({"ui": heading.get("descriptorName"), "name": heading.get("descriptorName"),
                     "major": descriptor_major or any(major for _, major in names),
                     "qualifiers": [name for name, _ in names], "descriptor_major": descriptor_major,
                     "major_qualifiers": [name for name, major in names if major]})
    links = []
    for correction in listed(result.get("commentCorrectionList"), "commentCorrection"):
        relation = CORRECTIONS.get(correction.get("type"), re.sub(r"\W+", "_", (correction.get("type") or "related").lower()))
        if correction.get("id"):
            scheme, target = related_link(correction)
            links.append({"relation": relation, "scheme": scheme, "target": target})
    # A reference list joins a result only when `with_references` adds its /references answer.
    cited = listed(result.get("referenceList"), "reference")
    links.extend({"relation": "cites", "scheme": scheme, "target": target}
                 for scheme, target in filter(None, map(related_link, cited)))
    pub_types = split_types(listed(result.get("pubTypeList"), "pubType") or result.get("pubType"))
    year = result.get("pubYear") or journal_info.get("yearOfPublication")
    issn, eissn = issns_of(result, journal)
    return new_work(
        source_id=f"{source}:{identifier}" if source and identifier else None,
        pmid=result.get("pmid"), pmcid=result.get("pmcid"), doi=result.get("doi"),
        title=result.get("title"), abstract=result.get("abstractText"),
        year=int(year) if str(year or "").isdigit() else None,
        pub_date=result.get("firstPublicationDate") or journal_info.get("printPublicationDate"),
        journal=journal.get("title") or result.get("journalTitle"),
        journal_iso=journal.get("isoabbreviation") or journal.get("medlineAbbreviation"),
        issn=issn, eissn=eissn,
        volume=journal_info.get("volume") or result.get("journalVolume"),
        issue=journal_info.get("issue") or result.get("issue"), pages=result.get("pageInfo"),
        language=result.get("language"), pub_types=pub_types,
        keywords=listed(result.get("keywordList"), "keyword"), mesh=mesh, authors=authors,
        references=[reference_of(entry) for entry in cited],
        investigators=[author_of(position, person) for position, person in
                       enumerate(listed(result.get("investigatorList"), "investigator"), 1)],
        grants=[{"grant_id": g.get("grantId"), "acronym": g.get("acronym"), "agency": g.get("agency"),
                 "country": None} for g in listed(result.get("grantsList"), "grant")],
        links=links,
        is_retracted="Retracted Publication" in pub_types or any(l["relation"] == "retracted_by" for l in links),
        is_preprint=source == "PPR" or "Preprint" in pub_types,
        # The XML answer gives it as text.
        cited_by_count=int(result["citedByCount"]) if str(result.get("citedByCount")).isdigit() else None,
        version=result.get("dateOfRevision"),
        completeness=FULL if "authorList" in result or "journalInfo" in result else SUMMARY,
    )


def can_list_references(raw):
    """Whether a stored record can hold a reference list: a JSON result can (`with_references`),
    a Dublin Core XML record cannot."""
    return raw.lstrip().startswith(b"{")


def with_references(raw, entries, origin):
    """A stored core result (its raw JSON) with the entries of its /references answer, every
    one in the answer's order, as the record to load again; a ParseError if it cannot be."""
    result = json.loads(raw)
    result["referenceList"] = {"reference": entries}
    return guarded(parse_result, result, source=SOURCE, origin=origin, record_id=result.get("id"),
                   raw=json.dumps(result, ensure_ascii=False, sort_keys=True).encode())


def xml_to_result(element):
    """A <result> of the XML answer as the dict its JSON twin would be: a *List element wraps a
    list ({"authorList": {"author": [...]}}), any other element with children is an object
    ({"journalInfo": {"journal": {"issn": ...}}})."""
    result = {}
    for child in elements(element):
        tag = etree.QName(child).localname
        if tag.endswith("List") and elements(child):
            items = elements(child)
            result[tag] = {etree.QName(items[0]).localname: [xml_value(item) for item in items]}
        else:
            result[tag] = xml_value(child)
    return result


def elements(element):
    """An element's child elements; an entity reference the parser kept is text, not a field."""
    return list(element.iterchildren(etree.Element))


def xml_value(element):
    """An element's JSON twin: an object, or its text; a leaf with attributes, such as
    <authorId type="ORCID">, is {"type": "ORCID", "value": text} as in JSON."""
    if elements(element):
        return xml_to_result(element)
    text = "".join(element.itertext()) or None
    if element.attrib:
        return {**element.attrib, "value": text}
    return text


def parse_dublin_core(description):
    """One rdf:Description of the format=dc answer -> thin work record."""
    identifiers = [i.text or "" for i in description.iter(DC + "identifier")]
    about = description.get(RDF + "about") or ""
    match = re.search(r"/abstract/(\w+)/(\w+)", about)
    doi = next((i for i in identifiers if "doi.org/" in i), None)
    date = description.findtext(DC + "date")
    source, identifier = (match.group(1), match.group(2)) if match else (None, None)
    authors = []
    for position, creator in enumerate(description.iter(DC + "creator"), 1):
        last, _, initials = (creator.text or "").partition(", ")
        authors.append(new_author(position, written_name=f"{last} {initials}".strip(), last_name=last,
                                  initials=initials or None))
    return new_work(
        source_id=f"{source}:{identifier}" if identifier else None,
        pmid=identifier if source == "MED" else None, doi=doi, title=description.findtext(DC + "title"),
        year=int(date[:4]) if date and date[:4].isdigit() else None, pub_date=date,
        language=description.findtext(DC + "language"),
        pub_types=split_types(description.findtext(DC + "description")), authors=authors, completeness=SUMMARY)


@payload_guarded(SOURCE)
def parse_payload(data, origin):
    """Works in a Europe PMC answer: /search JSON (core, lite, idlist), its XML twin, Dublin
    Core, or a JSON list of /search pages. Returns (items, meta) with `next_cursor` and
    `hit_count`. An errorBean or an unknown body gives one fatal ParseError."""
    text = data.lstrip()
    if text.startswith((b"{", b"[")):
        payload = json.loads(data)
        pages = payload if isinstance(payload, list) else [payload]
        results = [r for page in pages for r in listed(page.get("resultList"), "result")]
        meta = {"next_cursor": pages[-1].get("nextCursorMark") if pages else None,
                "hit_count": pages[0].get("hitCount") if pages else None}
        parse, raw_of = parse_result, (lambda r: json.dumps(r, ensure_ascii=False, sort_keys=True).encode())
    else:
        # Each <result> is parsed alone (after the document's prolog, which declares its
        # encoding and entities): one odd result, such as one naming an undeclared entity,
        # costs only itself.
        results = RESULT.findall(data)
        first = ELEMENT_START.search(data)
        prolog = data[:first.start()] if first else b""
        try:
            root = etree.fromstring(RESULT.sub(b"", data) if results else data, XML)
        except etree.XMLSyntaxError as error:
            return [*xml_results(results, prolog, origin),
                    ParseError(f"not a Europe PMC answer: {error}", source=SOURCE, origin=origin,
                               raw=data[:65536], fatal=True)], {}
        if root.tag == "errorBean":
            return [ParseError(f"Europe PMC error: {root.findtext('errMsg')}", source=SOURCE, origin=origin,
                               raw=data, fatal=True)], {}
        meta = {"next_cursor": root.findtext("nextCursorMark"), "hit_count": root.findtext("hitCount")}
        descriptions = list(root.iter(RDF + "Description"))
        if not descriptions:
            return xml_results(results, prolog, origin), meta
        results, parse, raw_of = descriptions, parse_dublin_core, etree.tostring
    items = []
    for result in results:
        items.append(guarded(parse, result, source=SOURCE, origin=origin, record_id=None, raw=raw_of(result)))
    return items, meta


# Untrusted XML: entities are never expanded nor fetched; comments and processing
# instructions are no fields.
XML = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True)
# A result holds no <result> of its own, so the first closing tag after one ends it.
RESULT = re.compile(rb"<result[\s>].*?</result>", re.S)
ELEMENT_START = re.compile(rb"<[A-Za-z_]")


def xml_results(results, prolog, origin):
    """Work records (or ParseErrors) of the XML answer's <result> elements, each parsed alone."""
    items = []
    for data in results:
        try:
            result = xml_to_result(etree.fromstring(prolog + data, XML))
        except etree.XMLSyntaxError as error:
            found = re.search(rb"<id>([^<]{1,100})</id>", data)
            items.append(ParseError(f"cannot parse <result>: {error}", source=SOURCE, origin=origin,
                                    record_id=found.group(1).decode(errors="replace") if found else None, raw=data))
            continue
        items.append(guarded(parse_result, result, source=SOURCE, origin=origin, record_id=None,
                             raw=json.dumps(result, ensure_ascii=False, sort_keys=True).encode()))
    return items


class EuropePMC:
    """/search client with cursorMark paging; citations and references of one record."""

    def __init__(self, client=None, base_url=API, page_size=PAGE_SIZE, email=None):
        self.client = client or Client(SOURCE, rate_per_second=5, email=email, uncached=(r"/search\?",))
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size

    def harvest(self, query, since=None, state=None):
        """Yield Pages of core results; with `since`, only records updated on or after it."""
        if since:
            query = f"({query}) AND UPDATE_DATE:[{since.isoformat()} TO 3000-01-01]"
        state = dict(state or {"cursor": "*", "pages": 0})
        while True:
            response = self.client.get(f"{self.base_url}/search", {
                "query": query, "resultType": "core", "format": "json", "pageSize": self.page_size,
                "cursorMark": state["cursor"]})
            origin = f"europepmc /search {query!r} page {state['pages'] + 1}"
            try:
                page = json.loads(response.content)
            except ValueError:
                self.client.forget(response)
                raise HarvestError(f"{origin} answered a body that is not JSON") from None
            next_cursor = page.get("nextCursorMark")
            # The last page may echo the cursor it was given instead of leaving it out.
            done = not next_cursor or next_cursor == state["cursor"] or not listed(page.get("resultList"), "result")
            state = {"cursor": None if done else next_cursor, "pages": state["pages"] + 1}
            yield Page(response.content, origin, dict(state))
            if done:
                return

    def related(self, source, identifier, kind):
        """Every entry of every page of /{source}/{id}/citations or /references, in order."""
        entries, page = [], 1
        while True:
            payload = json.loads(self.client.get(
                f"{self.base_url}/{source}/{identifier}/{kind}",
                {"format": "json", "page": page, "pageSize": PAGE_SIZE}).content)
            found = listed(payload.get(f"{kind[:-1]}List"), kind[:-1])
            entries.extend(found)
            if len(found) < PAGE_SIZE:
                return entries
            page += 1
