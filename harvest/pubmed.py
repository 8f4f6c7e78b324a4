"""PubMed through NCBI E-utilities: a small client and pure parse functions.

The parse functions turn raw E-utilities payloads (efetch XML, bulk baseline and
update files, esearch, esummary and elink responses) into plain record dicts;
they do no I/O. `PubMed` is the client: esearch with the history server, then
efetch in batches through WebEnv/query_key, sliced by date so no slice exceeds
what esearch can address.
"""

import datetime as dt
import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass, field

from lxml import etree

from .errors import HarvestError, ParseError, error_message
from .http import Client, Page
from .records import SUMMARY, new_author, new_reference, new_work, normalize_doi, normalize_orcid

SOURCE = "pubmed"
EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
# ESearch can address only the first 9,999 ids of a result set; bigger queries are sliced by date.
ESEARCH_LIMIT = 9999
EFETCH_BATCH = 500


MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

# CommentsCorrections RefType -> link relation; other RefTypes become snake_case.
RELATIONS = {
    "Cites": "cites",
    "RetractionIn": "retracted_by",
    "RetractedandReplacedIn": "retracted_and_replaced_by",
    "CommentIn": "commented_in",
}
WORK_ID_TYPES = {"pubmed": "pmid", "doi": "doi", "pmc": "pmcid"}


# ---------------------------------------------------------------- text helpers

def text_of(elem):
    """All text inside an element, inline markup (<i>, <sub>, ...) flattened, whitespace collapsed."""
    if elem is None:
        return None
    if len(elem):
        text = etree.tostring(elem, method="text", encoding="unicode", with_tail=False)
    else:
        text = elem.text
    if not text:
        return None
    text = text.strip()
    # isprintable() is false for "\n", "\t" and "\xa0" (and other spaces, which stay): one
    # scan instead of three for the usual clean text.
    if "  " in text or not text.isprintable() and ("\n" in text or "\t" in text or "\xa0" in text):
        text = " ".join(text.split())
    return text or None


def every_text(elements):
    """The texts of these elements, in order, each once: a record lists an article's
    languages in <Language> elements, one each."""
    return list(dict.fromkeys(filter(None, map(text_of, elements))))


def children(elem):
    """{tag: first child with that tag}: one pass over an element instead of a find() per field.

    lxml's find() goes through its Python path engine; on the load path that is most of
    the cost of parsing a record.
    """
    index = {}
    if elem is not None:
        for child in elem:
            if child.tag not in index:
                index[child.tag] = child
    return index


def grandchildren(elem, tag, child_tag):
    """The <child_tag> children of elem's first <tag> child (e.g. MeshHeadingList/MeshHeading)."""
    for container in elem.iterchildren(tag):
        return container.iterchildren(child_tag)
    return iter(())


def snake_case(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# ---------------------------------------------------------------- dates

def month_of(word):
    """Month number of '06', 'Jun', 'June', 'Spring' or the start of a range ('May-Jun', 'Fall-Winter')."""
    word = (word or "").split("-")[0].strip()
    if word.isdigit():
        return int(word) if 1 <= int(word) <= 12 else None
    return MONTHS.get(word[:3].lower()) or SEASONS.get(word.lower())


def parse_pub_date(elem):
    """(year, ISO partial date, date as written) from a PubDate/ArticleDate element.

    A MedlineDate ('1999 Jan-Feb', '1998 Dec-1999 Jan', '2001 Spring') or a Season
    ('May-Jun') names a span: the ISO date is its start, and the text as written keeps the
    span (None for a plain Year/Month/Day date, which says all there is).
    """
    if elem is None:
        return None, None, None
    parts = {child.tag: child.text for child in elem}
    year, month, day, season = (parts.get(tag) for tag in ("Year", "Month", "Day", "Season"))
    written = None
    if year is None:
        written = text_of(next(elem.iterchildren("MedlineDate"), None))
        found = re.search(r"\b(1[89]\d\d|20\d\d)\b(?:\s+([A-Za-z]+)(?:\s+(\d{1,2})\b)?)?", written or "")
        if not found:
            return None, None, written
        year, month, day = found.groups()
    elif season:
        month = season
        written = f"{year.strip()} {season.strip()}"
    month_number = month_of(month)
    parts = [year.strip()]
    if month_number:
        parts.append(f"{month_number:02d}")
        if day and day.strip().isdigit() and 1 <= int(day) <= 31:
            parts.append(f"{int(day):02d}")
    return int(year), "-".join(parts), written


def parse_date_parts(elem):
    """ISO date from a Year/Month/Day element such as DateRevised."""
    if elem is None:
        return None
    return parse_pub_date(elem)[1]


# ---------------------------------------------------------------- articles

def parse_authors(author_list, tag="Author"):
    """The <Author>s of an AuthorList, or with tag="Investigator" the people of an InvestigatorList."""
    authors = []
    if author_list is None:
        return authors
    for position, author in enumerate(author_list.iterchildren(tag), 1):
        # One pass over the author's children: this runs for every author of every record.
        last = fore = initials = suffix = collective = orcid = None
        affiliations = []
        for child in author:
            part = child.tag
            if part == "LastName":
                last = text_of(child)
            elif part == "ForeName":
                fore = text_of(child)
            elif part == "Initials":
                initials = text_of(child)
            elif part == "AffiliationInfo":
                name, identifiers = None, {}
                for item in child:
                    if item.tag == "Affiliation":
                        name = text_of(item)
                    elif item.tag == "Identifier":
                        source = item.get("Source")
                        if source and item.text:
                            identifiers[source.lower()] = item.text.strip()
                if name:
                    affiliations.append({"name": name, "identifiers": identifiers})
            elif part == "Identifier":
                if (child.get("Source") or "").upper() == "ORCID":
                    orcid = normalize_orcid(child.text)
            elif part == "Suffix":
                suffix = text_of(child)
            elif part == "CollectiveName":
                collective = text_of(child)
        authors.append({
            "position": position,
            "written_name": collective if collective and not last
            else " ".join(filter(None, (last, initials or fore, suffix))),
            "last_name": last,
            "fore_name": fore,
            "initials": initials,
            "suffix": suffix,
            "collective_name": collective if not last else None,
            "orcid": orcid,
            "affiliations": affiliations,
        })
    return authors


def parse_abstract(abstract):
    """Abstract text with structured-abstract labels kept ('BACKGROUND: ...'), one section per line."""
    if abstract is None:
        return None
    sections = []
    for part in abstract.iterchildren("AbstractText"):
        text = text_of(part)
        if not text:
            continue
        label = part.get("Label")
        sections.append(f"{label}: {text}" if label else text)
    return "\n".join(sections) or None


def parse_copyright(abstract):
    """The publisher's <CopyrightInformation> line, which follows the abstract's sections."""
    if abstract is None:
        return None
    return text_of(next(abstract.iterchildren("CopyrightInformation"), None))


def parse_mesh(citation):
    mesh = []
    for heading in grandchildren(citation, "MeshHeadingList", "MeshHeading"):
        # One pass over the heading's children: a filtered iterchildren() costs more than the
        # whole walk, and a record has a dozen headings.
        descriptor, qualifiers = None, []
        for part in heading:
            tag = part.tag
            if tag == "QualifierName":
                qualifiers.append((text_of(part), part.get("MajorTopicYN") == "Y"))
            elif tag == "DescriptorName" and descriptor is None:
                descriptor = part
        if descriptor is None:
            continue
        name = text_of(descriptor)
        descriptor_major = descriptor.get("MajorTopicYN") == "Y"
        mesh.append({
            "ui": descriptor.get("UI") or name,
            "name": name,
            "major": descriptor_major or any(major for _, major in qualifiers),
            "qualifiers": [name for name, _ in qualifiers],
            # "Stroke/therapy*" and "Stroke*/therapy" differ: which part is the major topic.
            "descriptor_major": descriptor_major,
            "major_qualifiers": [name for name, major in qualifiers if major],
        })
    return mesh


def article_ids(container):
    """The pmid, doi and pmcid of a container's first ArticleIdList (the first id of each kind)."""
    if container is None:
        return {}
    return ids_in(next(container.iterchildren("ArticleIdList"), ()))


def ids_in(article_id_list):
    ids = {}
    for article_id in article_id_list:
        if article_id.tag == "ArticleId":
            kind = WORK_ID_TYPES.get(article_id.get("IdType"))
            if kind and article_id.text and kind not in ids:
                ids[kind] = article_id.text.strip()
    return ids


def parse_references(container):
    """Every <Reference> of the ReferenceLists in PubmedData or a BookDocument (nested lists
    too), in order, with or without ids: its first Citation and its first ArticleIdList."""
    if container is None:
        return []
    references = []
    for reference in container.iter("Reference"):
        # One pass over the reference's children: a record has dozens of references.
        citation, ids = None, None
        for child in reference:
            tag = child.tag
            if tag == "Citation" and citation is None:
                citation = child
            elif tag == "ArticleIdList" and ids is None:
                ids = ids_in(child)
        references.append(new_reference(citation=text_of(citation), **(ids or {})))
    return references


def parse_links(citation, references):
    links = []
    for correction in grandchildren(citation, "CommentsCorrectionsList", "CommentsCorrections"):
        ref_type = correction.get("RefType") or "Related"
        pmid = next((p.text for p in correction.iterchildren("PMID")), None)
        if pmid:
            relation = RELATIONS.get(ref_type, snake_case(ref_type))
            links.append({"relation": relation, "scheme": "pmid", "target": pmid.strip()})
    for reference in references:
        scheme = next((scheme for scheme in ("pmid", "doi", "pmcid") if reference[scheme]), None)
        if scheme:
            links.append({"relation": "cites", "scheme": scheme, "target": reference[scheme]})
    unique = {(link["relation"], link["scheme"], link["target"]): link for link in links}
    return list(unique.values())


def parse_registry_ids(article):
    registry_ids = []
    for bank in grandchildren(article, "DataBankList", "DataBank"):
        name = text_of(children(bank).get("DataBankName"))
        for accession in grandchildren(bank, "AccessionNumberList", "AccessionNumber"):
            if accession.text and accession.text.strip():
                registry_ids.append({"registry": name, "accession": accession.text.strip()})
    return registry_ids


def parse_grants(article):
    return [
        {key: text_of(fields.get(tag)) for key, tag in
         (("grant_id", "GrantID"), ("acronym", "Acronym"), ("agency", "Agency"), ("country", "Country"))}
        for fields in map(children, grandchildren(article, "GrantList", "Grant"))
    ]


def parse_pubmed_article(elem):
    """One <PubmedArticle> (or bare <MedlineCitation>) element -> record dict."""
    top = children(elem)
    citation = elem if elem.tag == "MedlineCitation" else top["MedlineCitation"]
    pubmed_data = top.get("PubmedData")
    cited = children(citation)
    article = cited["Article"]
    fields = children(article)
    pmid = cited["PMID"].text.strip()
    journal = children(fields.get("Journal"))
    issue = children(journal.get("JournalIssue"))
    pagination = children(fields.get("Pagination"))
    year, pub_date, pub_date_text = parse_pub_date(issue.get("PubDate"))
    article_date = parse_date_parts(fields.get("ArticleDate"))
    if year is None and article_date:
        year, pub_date = int(article_date[:4]), article_date
    ids = article_ids(pubmed_data)
    doi = ids.get("doi")
    if doi is None:
        doi = next((e.text for e in article.iterchildren("ELocationID") if e.get("EIdType") == "doi"), None)
    pub_types = [text_of(t) for t in grandchildren(article, "PublicationTypeList", "PublicationType")]
    references = parse_references(pubmed_data)
    links = parse_links(citation, references)
    abstract = fields.get("Abstract")
    issn = journal.get("ISSN")
    return new_work(
        pmid=pmid,
        doi=normalize_doi(doi),
        pmcid=ids.get("pmcid"),
        title=text_of(fields.get("ArticleTitle")) or text_of(fields.get("VernacularTitle")),
        vernacular_title=text_of(fields.get("VernacularTitle")),
        abstract=parse_abstract(abstract),
        copyright=parse_copyright(abstract),
        year=year,
        pub_date=pub_date,
        pub_date_text=pub_date_text,
        article_date=article_date,
        journal=text_of(journal.get("Title")),
        journal_iso=text_of(journal.get("ISOAbbreviation")),
        issn=text_of(issn),
        eissn=text_of(issn) if issn is not None and issn.get("IssnType") == "Electronic" else None,
        volume=text_of(issue.get("Volume")),
        issue=text_of(issue.get("Issue")),
        pages=text_of(pagination.get("MedlinePgn"))
        or "-".join(filter(None, (text_of(pagination.get("StartPage")),
                                  text_of(pagination.get("EndPage"))))) or None,
        languages=every_text(article.iterchildren("Language")),
        pub_types=pub_types,
        # A record may have a KeywordList per owner (NOTNLM, NASA, KIE, ...): all of them.
        keywords=[k for kl in citation.iterchildren("KeywordList") for k in map(text_of, kl.iterchildren("Keyword")) if k],
        mesh=parse_mesh(citation),
        authors=parse_authors(fields.get("AuthorList")),
        investigators=parse_authors(cited.get("InvestigatorList"), "Investigator"),
        grants=parse_grants(article),
        registry_ids=parse_registry_ids(article),
        links=links,
        references=references,
        is_retracted="Retracted Publication" in pub_types
        or any(link["relation"] == "retracted_by" for link in links),
        version=parse_date_parts(cited.get("DateRevised")),
    )


def parse_pubmed_book_article(elem):
    """One <PubmedBookArticle> (a book or chapter, e.g. GeneReviews) -> record dict."""
    document = elem.find("BookDocument")
    book = document.find("Book")
    year, pub_date, pub_date_text = parse_pub_date(book.find("PubDate"))
    ids = article_ids(elem.find("PubmedData"))
    author_list = next((a for a in document.findall("AuthorList") if a.get("Type") != "editors"), None)
    pub_types = [text_of(t) for t in document.findall("PublicationType")]
    references = parse_references(document)
    return new_work(
        pmid=document.findtext("PMID").strip(),
        doi=normalize_doi(ids.get("doi")),
        pmcid=ids.get("pmcid"),
        title=text_of(document.find("ArticleTitle")) or text_of(book.find("BookTitle")),
        vernacular_title=text_of(document.find("VernacularTitle")),
        abstract=parse_abstract(document.find("Abstract")),
        copyright=parse_copyright(document.find("Abstract")),
        year=year,
        pub_date=pub_date,
        pub_date_text=pub_date_text,
        journal=text_of(book.find("BookTitle")),
        volume=text_of(book.find("Volume")),
        languages=every_text(document.iterchildren("Language")),
        pub_types=pub_types,
        keywords=[text_of(k) for k in document.iterfind("KeywordList/Keyword") if text_of(k)],
        authors=parse_authors(author_list),
        grants=parse_grants(document),
        links=parse_links(document, references),
        references=references,
        is_retracted="Retracted Publication" in pub_types,
        version=parse_date_parts(document.find("DateRevised")),
    )


@dataclass
class Deletion:
    """PMIDs that a PubMed update file's <DeleteCitation> removes."""
    pmids: list = field(default_factory=list)


ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle", "MedlineCitation", "DeleteCitation")
SET_TAGS = ("PubmedArticleSet", "MedlineCitationSet", "PubmedBookArticleSet")


def iter_articles(stream, origin, after=None):
    """Stream records from an efetch response or a baseline/update file, in constant memory.

    Yields record dicts (with the record's own XML bytes under "raw"), `Deletion`s for
    <DeleteCitation>, and `ParseError`s for bad records, so one bad record never stops the
    good ones. A document that is not XML, not a PubMed set, or cut short ends the stream
    with a fatal ParseError, after every complete record before the fault. `after` is the
    PMID of the record before the stream's first, for a stream that is part of a file.
    """
    last_pmid = after
    # Only these tags reach Python: the per-element work of iterparse stays in C.
    events = etree.iterparse(stream, events=("start", "end"), tag=SET_TAGS + ARTICLE_TAGS,
                             huge_tree=True, resolve_entities=False, no_network=True)
    try:
        for event, elem in events:
            if event == "start":
                continue
            parent = elem.getparent()
            if parent is None:
                continue
            if elem.tag == "MedlineCitation" and parent.tag != "MedlineCitationSet":
                continue
            if elem.tag == "DeleteCitation":
                yield Deletion([p.text.strip() for p in elem.iterchildren("PMID")])
            else:
                item = parse_element(elem, origin)
                last_pmid = item.record_id if isinstance(item, ParseError) else item["pmid"]
                yield item
            elem.clear()
            while elem.getprevious() is not None:
                del parent[0]
    except (etree.XMLSyntaxError, DamagedFile) as error:
        where = f"the record after PMID {last_pmid}" if last_pmid else "the first record"
        fault = "damaged file" if isinstance(error, DamagedFile) else "malformed or truncated XML"
        yield ParseError(f"{fault} in {where}: {error}", source=SOURCE,
                         origin=origin, record_id=f"after:{last_pmid}" if last_pmid else None, fatal=True)
        return
    if events.root is None or events.root.tag not in SET_TAGS:
        tag = "nothing" if events.root is None else f"<{events.root.tag}>"
        yield ParseError(f"expected a PubmedArticleSet, got {tag}", source=SOURCE, origin=origin, fatal=True)


def parse_element(elem, origin):
    raw = etree.tostring(elem, with_tail=False)  # the record alone, whatever follows it in its file
    try:
        if elem.tag == "PubmedBookArticle":
            record = parse_pubmed_book_article(elem)
        else:
            record = parse_pubmed_article(elem)
        if not record["pmid"]:
            raise ValueError("record has no PMID")
    except Exception as error:  # noqa: BLE001 -- any fault in one record is that record's fault
        pmid = next((p.text.strip() for p in elem.iter("PMID") if p.text), None)
        return ParseError(f"cannot parse <{elem.tag}>: {error!r}", source=SOURCE, origin=origin,
                          record_id=pmid, raw=raw)
    record["raw"] = raw
    return record


# ---------------------------------------------------------------- other E-utilities payloads

# Untrusted XML: entities are never expanded (no billion laughs) nor fetched (no XXE).
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True)


def sniff(data):
    """Which E-utilities payload this is: 'efetch', 'esearch', 'esummary', 'elink' or 'error'."""
    head = data.lstrip()[:4096]
    if head.startswith(b"{"):
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):  # cut short, undecodable or nested past Python's limit
            return "error"
        if not isinstance(payload, dict):
            return "error"
        if "esearchresult" in payload:
            return "esearch"
        if "result" in payload and "uids" in payload.get("result", {}):
            return "esummary"
        if "linksets" in payload:
            return "elink"
        return "error"
    for kind, marker in (("esearch", b"<eSearchResult"), ("esummary", b"<eSummaryResult"),
                         ("elink", b"<eLinkResult"), ("efetch", b"<PubmedArticleSet"),
                         ("efetch", b"<PubmedBookArticleSet"), ("efetch", b"<MedlineCitationSet")):
        if marker in head:
            return kind
    return "error"


@dataclass
class SearchResult:
    count: int
    ids: list
    webenv: str | None = None
    query_key: str | None = None
    errors: list = field(default_factory=list)


def parse_esearch(data, origin="esearch"):
    """An esearch response (XML or JSON) -> SearchResult. An ERROR in the body raises ParseError."""
    if data.lstrip().startswith(b"{"):
        result = json.loads(data).get("esearchresult", {})
        if "ERROR" in result:
            raise ParseError(f"esearch error: {result['ERROR']}", source=SOURCE, origin=origin)
        return SearchResult(int(result.get("count", 0)), list(result.get("idlist", [])),
                            result.get("webenv"), result.get("querykey"))
    try:
        root = etree.fromstring(data, SAFE_XML)
    except etree.XMLSyntaxError as error:
        raise ParseError(f"esearch response is not XML: {error}", source=SOURCE, origin=origin) from error
    if root.tag != "eSearchResult":
        raise ParseError(f"expected eSearchResult, got <{root.tag}>", source=SOURCE, origin=origin)
    if root.find("ERROR") is not None:
        raise ParseError(f"esearch error: {root.findtext('ERROR')}", source=SOURCE, origin=origin)
    errors = [f"{e.tag}: {e.text}" for e in root.iterfind("ErrorList/*")]
    return SearchResult(int(root.findtext("Count") or 0), [i.text for i in root.iterfind("IdList/Id")],
                        root.findtext("WebEnv"), root.findtext("QueryKey"), errors)


def parse_esummary(data, origin="esummary"):
    """An esummary response (v1 XML DocSum or JSON) -> thin record dicts (completeness SUMMARY)."""
    records = []
    if data.lstrip().startswith(b"{"):
        result = json.loads(data)["result"]
        for uid in result["uids"]:
            doc = result[uid]
            ids = {a.get("idtype"): a.get("value") for a in doc.get("articleids", [])}
            # pubdate as the record writes it ('1975 Apr'), never sortpubdate, a sort key that
            # fills in a day the record does not give ('1975/04/01 00:00').
            year, pub_date, pub_date_text = summary_date(doc.get("pubdate"))
            records.append(summary_record(
                # A title in its own language only is the title, as parse_pubmed_article takes it.
                uid, doc.get("title") or doc.get("vernaculartitle"),
                [(a.get("name"), a.get("authtype") == "CollectiveName") for a in doc.get("authors", [])
                 if a.get("authtype", "Author") in ("Author", "CollectiveName")],
                doc.get("fulljournalname") or doc.get("source"), year, pub_date, ids.get("doi"),
                ids.get("pmc"), doc.get("volume"), doc.get("issue"), doc.get("pages"),
                [lang for lang in doc.get("lang") or [] if lang], doc.get("pubtype", []),
                json.dumps(doc, ensure_ascii=False).encode(), doc.get("issn"), doc.get("essn"),
                pub_date_text, doc.get("vernaculartitle") or None))
        return records
    root = etree.fromstring(data, SAFE_XML)
    for doc in root.iterfind("DocSum"):
        items = {item.get("Name"): item for item in doc.iter("Item")}

        def item(name):
            return text_of(items.get(name))

        year, pub_date, pub_date_text = summary_date(item("PubDate"))
        records.append(summary_record(
            doc.findtext("Id"), item("Title"),
            [(text_of(a), False) for a in doc.iterfind("Item[@Name='AuthorList']/Item")],
            item("FullJournalName") or item("Source"), year, pub_date, item("DOI"), item("pmc"),
            item("Volume"), item("Issue"), item("Pages"),
            every_text(i for i in doc.iter("Item") if i.get("Name") == "Lang"),
            [text_of(p) for p in doc.iterfind("Item[@Name='PubTypeList']/Item")], etree.tostring(doc, with_tail=False),
            item("ISSN"), item("ESSN"), pub_date_text))
    return records


def summary_date(text):
    """(year, ISO partial date, date as written) of an esummary PubDate, at the precision it
    has: '1975 Apr' -> (1975, '1975-04', None). A span or season ('1999 Jan-Feb', '2001
    Spring') is dated by its start and kept as written, as parse_pub_date keeps a MedlineDate."""
    text = (text or "").strip()
    found = re.match(r"(\d{4})(?: (\w+))?(?: (\d+))?", text)
    if not found:
        return None, None, text or None
    year, month, day = found.groups()
    month_number = month_of(month)
    parts = [year] + ([f"{month_number:02d}"] if month_number else [])
    if month_number and day and 1 <= int(day) <= 31:
        parts.append(f"{int(day):02d}")
    plain = found.end() == len(text) and (month is None or month[:3].lower() in MONTHS or month.isdigit())
    return int(year), "-".join(parts), None if plain else text


# Name suffixes esummary writes after the initials ("Hambrick GW Jr").
SUFFIXES = {"Jr", "Sr", "II", "III", "IV", "V", "2nd", "3rd"}


def summary_author(position, name, group):
    """An author of an esummary answer: 'Flaherty KT', 'Hambrick GW Jr', or a group's name."""
    if group:
        return new_author(position, written_name=name, collective_name=name)
    parts = name.split()
    suffix = parts.pop() if len(parts) > 2 and parts[-1] in SUFFIXES else None
    last, initials = (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else (name, None)
    return new_author(position, written_name=name, last_name=last, initials=initials, suffix=suffix)


def summary_record(pmid, title, author_names, journal, year, pub_date, doi, pmcid, volume, issue,
                   pages, languages, pub_types, raw, issn=None, eissn=None, pub_date_text=None,
                   vernacular_title=None):
    """A thin record; `author_names` are (name, is a group) pairs, groups being the JSON
    answer's authtype CollectiveName ('METRIC Study Group', never a person 'METRIC Study G')."""
    authors = [summary_author(position, name, group)
               for position, (name, group) in enumerate(((n, g) for n, g in author_names if n), 1)]
    return new_work(
        pmid=str(pmid), doi=normalize_doi(doi), pmcid=pmcid, title=title, vernacular_title=vernacular_title,
        year=year, pub_date=pub_date, pub_date_text=pub_date_text,
        journal=journal, issn=issn or eissn or None, eissn=eissn or None,
        volume=volume or None, issue=issue or None, pages=pages or None,
        languages=languages, pub_types=[p for p in pub_types if p], authors=authors,
        completeness=SUMMARY, raw=raw)


# elink linkname -> (relation, direction): "forward" means from-id <relation> linked-id.
ELINK_RELATIONS = {
    "pubmed_pubmed": "related",
    "pubmed_pubmed_five": "related",
    "pubmed_pubmed_citedin": "cited_by",
    "pubmed_pubmed_refs": "cites",
    "pubmed_pubmed_reviews": "related_review",
    "pubmed_pubmed_reviews_five": "related_review",
}


def parse_elink(data, origin="elink"):
    """An elink response -> link dicts {from, relation, scheme, target, score} between PMIDs.

    Only a LinkSet of one PMID says what that PMID links to. PMIDs asked for in one comma list
    (id=1,2) share one LinkSet, whose links NCBI finds for the set as a whole: each holds for
    some PMID of the set, and nothing in the answer says which, so such a set gives no link
    (see shared_link_sets). PubMed.neighbours asks with one id= per PMID.
    """
    links = {}
    for from_ids, linked in link_sets(data, origin):
        if len(from_ids) != 1:
            continue
        (source_id,) = from_ids
        for relation, target, score in linked:
            if source_id != target:
                links[(source_id, relation, target)] = {
                    "from": source_id, "relation": relation, "scheme": "pmid",
                    "target": target, "score": None if score in (None, "") else int(score)}
    return list(links.values())


def shared_link_sets(data, origin="elink"):
    """The LinkSets of several PMIDs in an elink response, as (PMIDs, {(relation, linked PMID)}):
    what parse_elink cannot attribute to any one of them."""
    return [(from_ids, {(relation, target) for relation, target, _ in linked})
            for from_ids, linked in link_sets(data, origin) if len(from_ids) > 1]


def link_sets(data, origin="elink"):
    """(PMIDs, [(relation, linked PMID, score or None)]) of each LinkSet of an elink response,
    XML or JSON (retmode=json)."""
    if data.lstrip().startswith(b"{"):
        yield from json_link_sets(json.loads(data), origin)
        return
    root = etree.fromstring(data, SAFE_XML)
    for link_set in root.iterfind("LinkSet"):
        linked = []
        for link_set_db in link_set.iterfind("LinkSetDb"):
            relation = ELINK_RELATIONS.get(link_set_db.findtext("LinkName"))
            if relation is None or link_set_db.findtext("DbTo") != "pubmed":
                continue
            linked.extend((relation, link.findtext("Id").strip(), link.findtext("Score"))
                          for link in link_set_db.iterfind("Link"))
        yield [i.text.strip() for i in link_set.iterfind("IdList/Id")], linked


def json_link_sets(payload, origin="elink"):
    """link_sets of a JSON elink answer: {"linksets": [{"ids": [...], "linksetdbs": [{"dbto",
    "linkname", "links"}]}]}, a link being a PMID ("9298984", cmd=neighbor) or, with
    cmd=neighbor_score, {"id": "42026145", "score": 28347383}. An answer NCBI could not give
    says so in "ERROR", beside an empty "linksets"."""
    if payload.get("ERROR"):
        raise ParseError(f"elink error: {payload['ERROR']}", source=SOURCE, origin=origin)
    for link_set in payload["linksets"]:
        linked = []
        for link_set_db in link_set.get("linksetdbs", []):
            relation = ELINK_RELATIONS.get(link_set_db.get("linkname"))
            if relation is None or link_set_db.get("dbto") != "pubmed":
                continue
            for link in link_set_db.get("links", []):
                scored = isinstance(link, dict)
                linked.append((relation, str(link["id"] if scored else link).strip(),
                               link.get("score") if scored else None))
        yield [str(i).strip() for i in link_set.get("ids", [])], linked


def efetch_problem(data):
    """Why an efetch body cannot be loaded (an error body, cut-short XML), or None when it can."""
    if sniff(data) != "efetch":
        return "answered " + error_message(data)
    try:
        etree.fromstring(data, etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        return f"malformed or truncated XML: {error}"
    return None


class DamagedFile(OSError):
    """A compressed file that is corrupt or cut short; the message names the file."""


class Gunzipped(io.RawIOBase):
    """A .gz file's decompressed bytes, whose damage surfaces as DamagedFile rather than as
    zlib.error, EOFError or BadGzipFile from deep inside a parser."""

    def __init__(self, path):
        self.path = path
        self.inner = gzip.open(path, "rb")
        self.damage = None

    def readable(self):
        return True

    def readinto(self, buffer):
        # In small steps, so that the bytes before the damage still come out: gzip loses a
        # whole read when it meets it.
        if self.damage:
            raise self.damage
        filled = 0
        while filled < len(buffer):
            try:
                data = self.inner.read(min(len(buffer) - filled, 1 << 16))
            except (zlib.error, EOFError, gzip.BadGzipFile) as error:
                self.damage = DamagedFile(f"{self.path}: damaged or cut-short gzip file ({error})")
                if filled:
                    break
                raise self.damage from error
            if not data:
                break
            buffer[filled:filled + len(data)] = data
            filled += len(data)
        return filled

    def close(self):
        self.inner.close()
        super().close()


def open_payload(path):
    """Bytes of a file on disk, gunzipped when it is a .gz (damage raises DamagedFile)."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    return io.BufferedReader(Gunzipped(path)) if head == b"\x1f\x8b" else open(path, "rb")


# ---------------------------------------------------------------- the client

class PubMed:
    """E-utilities client. `harvest(term)` yields efetch pages; resume by passing the last stored state."""

    def __init__(self, client=None, api_key=None, email=None, base_url=EUTILS, batch_size=EFETCH_BATCH):
        # NCBI allows 3 requests/s, 10/s with an API key.
        self.client = client or Client(SOURCE, rate_per_second=10 if api_key else 3, email=email,
                                       uncached=(r"/esearch\.fcgi",))
        self.api_key = api_key
        self.base_url = base_url
        self.batch_size = batch_size
        self.search_limit = ESEARCH_LIMIT

    def params(self, **params):
        params.update(tool="regenkb", email=self.client.email)
        if self.api_key:
            params["api_key"] = self.api_key
        return {k: v for k, v in params.items() if v is not None}

    def esearch(self, term, datetype=None, mindate=None, maxdate=None, usehistory=True, retmax=0):
        url = self.base_url + "esearch.fcgi"
        data = self.client.get(url, self.params(
            db="pubmed", term=term, usehistory="y" if usehistory else None, retmax=retmax,
            datetype=datetype, mindate=mindate, maxdate=maxdate)).content
        if sniff(data) != "esearch":
            raise HarvestError(f"pubmed esearch for {term!r} answered {error_message(data)}")
        return parse_esearch(data, origin=f"esearch {term!r}")

    def efetch(self, webenv, query_key, retstart, retmax):
        url = self.base_url + "efetch.fcgi"
        response = self.client.get(url, self.params(
            db="pubmed", query_key=query_key, WebEnv=webenv, retstart=retstart, retmax=retmax,
            retmode="xml"))
        return response

    def fetch_ids(self, pmids):
        """efetch of an explicit PMID list, POSTed in batches; yields each batch's body."""
        for start in range(0, len(pmids), self.batch_size):
            batch = pmids[start:start + self.batch_size]
            response = self.client.post(self.base_url + "efetch.fcgi", self.params(
                db="pubmed", id=",".join(batch), retmode="xml"))
            problem = efetch_problem(response.content)
            if problem:
                self.client.forget(response)
                raise HarvestError(f"pubmed efetch of {len(batch)} PMIDs from {batch[0]}: {problem}")
            yield response.content

    def neighbours(self, pmids, batch=100):
        """Related articles (elink pubmed_pubmed with scores) of each PMID; yields elink bodies.

        One id= parameter per PMID keeps one LinkSet per PMID (a comma list would merge them)."""
        for start in range(0, len(pmids), batch):
            params = list(self.params(dbfrom="pubmed", db="pubmed", cmd="neighbor_score",
                                      linkname="pubmed_pubmed").items())
            params += [("id", pmid) for pmid in pmids[start:start + batch]]
            data = self.client.post(self.base_url + "elink.fcgi", params).content
            if sniff(data) != "elink":
                raise HarvestError(f"pubmed elink for {pmids[start]}...: answered {error_message(data)}")
            yield data

    def slices(self, term, datetype, mindate, maxdate):
        """Date ranges (YYYY/MM/DD pairs) each holding at most search_limit hits, oldest first."""
        result = self.esearch(term, datetype, mindate, maxdate, usehistory=False)
        if result.count <= self.search_limit:
            return [(mindate, maxdate)] if result.count else []
        start = dt.datetime.strptime(mindate, "%Y/%m/%d").date()
        end = dt.datetime.strptime(maxdate, "%Y/%m/%d").date()
        if start >= end:
            raise HarvestError(f"pubmed: {result.count} records for {term!r} on {mindate} alone; "
                               "narrow the query")
        middle = start + (end - start) // 2
        return (self.slices(term, datetype, mindate, middle.strftime("%Y/%m/%d"))
                + self.slices(term, datetype, (middle + dt.timedelta(days=1)).strftime("%Y/%m/%d"),
                              maxdate))

    def harvest(self, term, since=None, state=None, today=None):
        """Yield efetch Pages for `term`; only records modified on or after `since` when given.

        `state` is the last Page.state stored for an interrupted run of the same query: the
        run goes on from the slice and offset it names.
        """
        today = today or dt.date.today()
        if state is None:
            datetype = "mdat" if since else "pdat"
            mindate = since.strftime("%Y/%m/%d") if since else "1800/01/01"
            maxdate = today.strftime("%Y/%m/%d") if since else f"{today.year + 1}/12/31"
            state = {"datetype": datetype, "slices": self.slices(term, datetype, mindate, maxdate),
                     "slice": 0, "retstart": 0}
        state = dict(state)
        while state["slice"] < len(state["slices"]):
            mindate, maxdate = state["slices"][state["slice"]]
            search = self.esearch(term, state["datetype"], mindate, maxdate)
            while state["retstart"] < search.count:
                response = self.efetch(search.webenv, search.query_key, state["retstart"], self.batch_size)
                origin = (f"efetch {term!r} {state['datetype']} {mindate}-{maxdate} "
                          f"retstart={state['retstart']}")
                problem = efetch_problem(response.content)
                if problem:
                    self.client.forget(response)
                    raise HarvestError(f"pubmed {origin}: {problem}")
                state["retstart"] += self.batch_size
                yield Page(response.content, origin, dict(state))
            state["slice"] += 1
            state["retstart"] = 0
