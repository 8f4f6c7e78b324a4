"""PubMed and Europe PMC, field by field: what the KB stores against what each record says.

The expected values are read here from the files themselves with xml.etree, json and gzip
alone (never with harvest.pubmed or harvest.europepmc): identifiers, title, dates, journal,
ISSNs, volume, issue and pages, authors in order (people and groups), each author's
affiliation strings, abstract sections, copyright, MeSH headings with their major topics,
investigators and references.
"""

import gzip
import json
import re
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from test_conformance_real import files_of, real_data

from kb.ingest import LoadError, load_pubmed_file, load_works_file

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
EMAIL = re.compile(r"(electronic address:?\s*)?\S+@\S+", re.I)
INITIALS = re.compile(r"\s*\((?:[A-Z]\.(?:-?[A-Z]\.)*(?:,\s*)?)+\)")
# The place a journal's list of places ends with, which each place it covers carries: '...,
# Hamilton, ON - both in Canada' is a row of '..., Hamilton, ON (P.M.O.), and ... - both in Canada'.
SHARED_TAIL = re.compile(r"\s+[-\u2013\u2014]\s+(?:both|all)\s+in\s+.*$", re.I)


def collapse(text):
    return " ".join((text or "").split()) or None


def text_of(element):
    return None if element is None else collapse("".join(element.itertext()))


def folded(text):
    """Case and accents aside: author_names keeps one row per folded name, in the form first seen."""
    return "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c)).casefold()


def alnum(text):
    return re.sub(r"[\W_]+", "", text or "").lower()


def tiled(text, pieces):
    """Whether the letters and digits of `text` are the pieces one after another (a 'From',
    'and' or 'the' before one may be the words that join a list of places, left out)."""
    rest, pieces = alnum(EMAIL.sub("", text)), sorted({alnum(p) for p in pieces if alnum(p)}, key=len, reverse=True)
    while rest:
        piece = next((p for p in pieces if rest.startswith(p)), None)
        join = next((word for word in ("from", "and", "the") if rest.startswith(word)), None)
        if piece is None and join is None:
            return False
        rest = rest[len(piece or join):]
    return True


class Check:
    """One stored fact against the source: holds when `stored` equals `expected`, or when
    `holds` (given) says so."""

    def __init__(self, key, field, expected, stored, holds=None):
        self.key, self.field, self.expected, self.stored = key, field, expected, stored
        self.holds = expected == stored if holds is None else holds

    def __repr__(self):
        return f"{self.key} {self.field}: source {self.expected!r}, KB {self.stored!r}"


def affiliation_checks(db, key, work_id, strings_by_author):
    """Every affiliation string of an author is in the KB word for word (split into the rows
    it holds, e-mail addresses and the authors' initials some journals tag places with, such
    as '(P.M.O.)', left out), and every row the KB gives the author comes from one of them
    (a row's shared tail, '- both in Canada', from the end of that string's list).

    A string several authors share may be shared out among them by those initials: it is
    covered by the rows of every author who has it."""
    stored = {position: [name for name, in db.execute(
        "SELECT a.name FROM work_author_affiliations waa JOIN affiliations a ON a.id = waa.affiliation_id "
        "WHERE waa.work_id = ? AND waa.position = ? ORDER BY waa.number", [work_id, position])]
        for position in range(1, len(strings_by_author) + 1)}
    strings_by_author = [[s for s in map(collapse, strings) if s and alnum(EMAIL.sub("", s))]
                         for strings in strings_by_author]
    holders = {}
    for position, strings in enumerate(strings_by_author, 1):
        for text in strings:
            holders.setdefault(text, set()).add(position)
    tiles = {position: [piece for row in rows for piece in SHARED_TAIL.split(row) + SHARED_TAIL.findall(row)]
             for position, rows in stored.items()}
    checks = []
    for position, strings in enumerate(strings_by_author, 1):
        rows = stored[position]
        holds = (all(tiled(INITIALS.sub("", text), [r for p in holders[text] for r in tiles[p]]) for text in strings)
                 and all(any(all(alnum(piece) in alnum(INITIALS.sub("", text)) for piece in
                                 SHARED_TAIL.split(name) + SHARED_TAIL.findall(name)) for text in strings)
                         for name in rows)
                 and len(rows) >= len(set(strings)))
        checks.append(Check(key, f"author {position} affiliations", strings, rows, holds))
    return checks


def stored_authors(db, work_id):
    return [(written, group, folded(name)) for written, group, name in db.execute(
        "SELECT wa.written_name, n.is_collective, CASE WHEN n.is_collective THEN n.name ELSE n.last_name END "
        "FROM work_authors wa JOIN author_names n ON n.id = wa.name_id WHERE wa.work_id = ? ORDER BY wa.position",
        [work_id])]


def stored_mesh(db, work_id):
    return {name: (bool(major), json.loads(qualifiers or "null"), bool(descriptor_major),
                   json.loads(major_qualifiers or "null"))
            for name, major, qualifiers, descriptor_major, major_qualifiers in db.execute(
                "SELECT m.name, wm.major_topic, wm.qualifiers, wm.descriptor_major, wm.major_qualifiers "
                "FROM work_mesh wm JOIN mesh_terms m ON m.id = wm.mesh_id WHERE wm.work_id = ?", [work_id])}


def stored_investigators(db, work_id):
    return [tuple(row) for row in db.execute(
        "SELECT last_name, initials FROM work_investigators WHERE work_id = ? ORDER BY position", [work_id])]


def work_columns(db, where, arguments):
    row = db.execute("SELECT id, pmid, doi, pmcid, title, year, pub_date, pub_date_text, journal, issn, eissn, "
                     f"volume, issue, pages, abstract, copyright FROM works WHERE {where}", arguments).fetchone()
    return None if row is None else dict(zip(
        ("id", "pmid", "doi", "pmcid", "title", "year", "pub_date", "pub_date_text", "journal", "issn", "eissn",
         "volume", "issue", "pages", "abstract", "copyright"), row))


def scalar_checks(key, row, expected):
    return [Check(key, field, value, row[field]) for field, value in expected.items()]


# ---------------------------------------------------------------- PubMed

def month_number(word):
    word = (word or "").strip().lower()
    if word.isdigit():
        return int(word)
    return MONTHS.index(word[:3]) + 1 if word[:3] in MONTHS else SEASONS.get(word)


def expected_date(pub_date):
    """(year, ISO start date, text as written when it names a span) of a PubDate element."""
    if pub_date is None:
        return None, None, None
    year, month, day = (pub_date.findtext(tag) for tag in ("Year", "Month", "Day"))
    written = None
    if pub_date.find("Season") is not None:
        written = f"{year} {pub_date.findtext('Season')}"
        month = re.split(r"[-/ ]", pub_date.findtext("Season"))[0]
    elif year is None and pub_date.find("MedlineDate") is not None:
        written = collapse(pub_date.findtext("MedlineDate"))
        found = re.match(r"(\d{4})(?: (\w+))?(?: (\d{1,2})\b)?", written)
        if not found:
            return None, None, written
        year, month, day = found.groups()
    if year is None:
        return None, None, written
    iso = year
    if month_number(month):
        iso += f"-{month_number(month):02d}" + (f"-{int(day):02d}" if day and day.isdigit() else "")
    return int(year), iso, written


def pubmed_authors(author_list):
    """(written name, is a group, last name or group name) of each author, and their affiliation strings."""
    authors, affiliations = [], []
    for author in [] if author_list is None else author_list.findall("Author"):
        last, group = author.findtext("LastName"), author.findtext("CollectiveName")
        if last:
            written = " ".join(filter(None, (last, author.findtext("Initials") or author.findtext("ForeName"),
                                             author.findtext("Suffix"))))
            authors.append((collapse(written), 0, folded(collapse(last))))
        else:
            authors.append((text_of(author.find("CollectiveName")), 1, folded(text_of(author.find("CollectiveName")))))
        affiliations.append([a.findtext("Affiliation") for a in author.findall("AffiliationInfo")])
        assert last or group, f"an author with neither a last name nor a group name: {ET.tostring(author)!r}"
    return authors, affiliations


def pubmed_checks(db, element):
    """Every Check of one PubmedArticle or PubmedBookArticle."""
    book = element.tag == "PubmedBookArticle"
    if book:
        document = element.find("BookDocument")
        pmid, article, journal_title = document.findtext("PMID"), document, text_of(document.find("Book/BookTitle"))
        data = element.find("PubmedBookData")
        pub_date = document.find("Book/PubDate")
        title = text_of(document.find("ArticleTitle")) or text_of(document.find("Book/BookTitle"))
        author_list = next((a for a in document.findall("AuthorList") if a.get("Type") != "editors"), None)
        references = list(document.iter("Reference"))
        investigators, headings = [], []
    else:
        citation = element.find("MedlineCitation")
        article, data = citation.find("Article"), element.find("PubmedData")
        pmid, journal_title = citation.findtext("PMID"), text_of(article.find("Journal/Title"))
        pub_date = article.find("Journal/JournalIssue/PubDate")
        title = text_of(article.find("ArticleTitle")) or text_of(article.find("VernacularTitle"))
        author_list = article.find("AuthorList")
        references = [] if data is None else list(data.iter("Reference"))
        investigators = citation.findall("InvestigatorList/Investigator")
        headings = citation.findall("MeshHeadingList/MeshHeading")
    key = f"PMID {pmid.strip()}"
    row = work_columns(db, "pmid = ?", [pmid.strip()])
    checks = [Check(key, "stored as one work", True, row is not None)]
    if row is None:
        return checks
    ids = {} if data is None else {i.get("IdType"): i.text.strip()
                                   for i in reversed(data.findall("ArticleIdList/ArticleId")) if i.text}
    doi = ids.get("doi") or next((e.text for e in article.findall("ELocationID") if e.get("EIdType") == "doi"), None)
    year, iso, written = expected_date(pub_date)
    if year is None and article.find("ArticleDate") is not None:
        year, iso, _ = expected_date(article.find("ArticleDate"))
    issn = article.find("Journal/ISSN")
    pagination = article.find("Pagination")
    pages = None if pagination is None else collapse(pagination.findtext("MedlinePgn")) or collapse("-".join(
        filter(None, (pagination.findtext("StartPage"), pagination.findtext("EndPage")))))
    abstract = article.find("Abstract")
    sections = [] if abstract is None else [
        f"{part.get('Label')}: {text_of(part)}" if part.get("Label") else text_of(part)
        for part in abstract.findall("AbstractText") if text_of(part)]
    checks += scalar_checks(key, row, {
        "doi": doi.strip().lower() if doi else None, "pmcid": ids.get("pmc"), "title": title, "year": year,
        "pub_date": iso, "pub_date_text": written, "journal": journal_title,
        "issn": text_of(issn) if not book else None,
        "eissn": text_of(issn) if issn is not None and issn.get("IssnType") == "Electronic" else None,
        "volume": text_of(article.find("Journal/JournalIssue/Volume")) if not book else text_of(
            document.find("Book/Volume")),
        "issue": text_of(article.find("Journal/JournalIssue/Issue")) if not book else None,
        "pages": pages if not book else None,
        "copyright": None if abstract is None else text_of(abstract.find("CopyrightInformation")),
    })
    checks.append(Check(key, "abstract sections, labels and text", sections,
                        row["abstract"].split("\n") if row["abstract"] else []))
    authors, affiliations = pubmed_authors(author_list)
    checks.append(Check(key, "authors in order (written name, is a group, last name or group, folded)", authors,
                        stored_authors(db, row["id"])))
    checks += affiliation_checks(db, key, row["id"], affiliations)
    mesh = {}
    for heading in headings:
        descriptor, qualifiers = heading.find("DescriptorName"), heading.findall("QualifierName")
        mesh[text_of(descriptor)] = (
            descriptor.get("MajorTopicYN") == "Y" or any(q.get("MajorTopicYN") == "Y" for q in qualifiers),
            [text_of(q) for q in qualifiers], descriptor.get("MajorTopicYN") == "Y",
            [text_of(q) for q in qualifiers if q.get("MajorTopicYN") == "Y"])
    checks.append(Check(key, "MeSH headings (major, qualifiers, descriptor major, major qualifiers)", mesh,
                        stored_mesh(db, row["id"])))
    checks.append(Check(key, "investigators in order", [
        (collapse(i.findtext("LastName")), collapse(i.findtext("Initials"))) for i in investigators],
        stored_investigators(db, row["id"])))
    checks.append(Check(key, "references in order (citation text)", [text_of(r.find("Citation")) for r in references],
                        [c for c, in db.execute("SELECT citation FROM work_references WHERE work_id = ? AND "
                                                "source = 'pubmed' ORDER BY position", [row["id"]])]))
    return checks


def pubmed_records(path):
    """The PubmedArticle and PubmedBookArticle elements of an efetch answer or a baseline
    file, or None for another E-utilities answer (esearch, esummary, elink, an error body)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    if root.tag not in ("PubmedArticleSet", "PubmedBookArticleSet"):
        return None
    return root.findall("PubmedArticle") + root.findall("PubmedBookArticle")


def summaries_in(path):
    """(PMID, title, journal, [(name, is a group)], ISSN, ESSN) of each document of an esummary
    answer, JSON or XML; [] for another answer."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        result = json.loads(data).get("result") or {}
        return [(uid, result[uid].get("title"), result[uid].get("fulljournalname") or result[uid].get("source"),
                 [(a["name"], int(a.get("authtype") == "CollectiveName")) for a in result[uid].get("authors", [])
                  if a.get("authtype") in ("Author", "CollectiveName")],
                 result[uid].get("issn") or result[uid].get("essn") or None, result[uid].get("essn") or None)
                for uid in result.get("uids", [])]
    root = ET.fromstring(data)
    if root.tag != "eSummaryResult":
        return []
    documents = []
    for doc in root.findall("DocSum"):
        def item(name):
            return collapse(doc.findtext(f"Item[@Name='{name}']"))
        documents.append((doc.findtext("Id"), item("Title"), item("FullJournalName") or item("Source"),
                          [(collapse(a.text), 0) for a in doc.findall("Item[@Name='AuthorList']/Item")],
                          item("ISSN") or item("ESSN"), item("ESSN")))
    return documents


def summary_checks(db, path):
    checks = []
    for pmid, title, journal, authors, issn, essn in summaries_in(path):
        key = f"PMID {pmid} (esummary)"
        row = work_columns(db, "pmid = ?", [pmid])
        checks.append(Check(key, "stored as one work", True, row is not None))
        if row is not None:
            checks += scalar_checks(key, row, {"title": title, "journal": journal, "issn": issn, "eissn": essn})
            checks.append(Check(key, "authors in order (written name, is a group)", authors,
                                [(written, group) for written, group, _ in stored_authors(db, row["id"])]))
    return checks


def pubmed_file_checks(db, path):
    load_pubmed_file(db, path)
    return [check for element in pubmed_records(path) for check in pubmed_checks(db, element)]


@pytest.mark.parametrize("name", files_of("pubmed"))
def test_every_recorded_pubmed_article_is_stored_field_by_field(db, name):
    path = real_data() / "pubmed" / name
    assert path.is_file(), f"{path} is missing"
    elements = pubmed_records(path)
    if elements is None:  # esearch, esummary, elink or an error body: no full record may come of it
        try:
            load_pubmed_file(db, path)
        except LoadError:
            return
        assert db.execute("SELECT count(*) FROM records WHERE completeness = 2").fetchone()[0] == 0
        summaries = summary_checks(db, path)
        assert [check for check in summaries if not check.holds] == []
        return
    checks = pubmed_file_checks(db, path)
    assert db["works"].count == len(elements)
    assert len(checks) >= len(elements)
    assert [check for check in checks if not check.holds] == []


# ---------------------------------------------------------------- Europe PMC

def xml_result(element):
    """A <result> of Europe PMC's XML answer as a dict: leaves as text, *List elements as lists."""
    result = {}
    for child in element:
        if child.tag.endswith("List"):
            result[child.tag] = {child[0].tag: [xml_result(item) if len(item) else item.text for item in child]} \
                if len(child) else {}
        else:
            result[child.tag] = xml_result(child) if len(child) else child.text
    return result


def europepmc_results(path):
    """('search', results) of a /search answer (JSON, a JSON list of pages, or XML), ('dc',
    rdf:Description elements) of a Dublin Core answer, or None for an error body."""
    data = path.read_bytes()
    if data.lstrip().startswith((b"{", b"[")):
        payload = json.loads(data)
        pages = payload if isinstance(payload, list) else [payload]
        return "search", [r for page in pages for r in (page.get("resultList") or {}).get("result", [])]
    root = ET.fromstring(data)
    if root.tag == "errorBean":
        return None
    descriptions = list(root.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"))
    if descriptions:
        return "dc", descriptions
    return "search", [xml_result(r) for r in root.findall("resultList/result")]


GROUP = re.compile(r"\b(group|consortium|committee|team|network|investigators|collaborat\w*)\b", re.I)
# Words that may name a group or a person ('Project BJ' is the BioBank Japan Project).
UNSURE = re.compile(r"\b(project|office|study|trial|society|association|programm?e?|registry|council|board|"
                    r"panel|writing|working|initiative|alliance)\b", re.I)


def lite_author(name):
    """(written name, is a group, last name or group, folded) of one name of an authorString:
    'Flaherty KT' is a person and 'METRIC Study Group' a group; of a name that could be either
    ('Editorial Office', 'GEC-ESTRO') only the written name is known (None for the rest)."""
    last, _, initials = name.rpartition(" ")
    if GROUP.search(name):
        return name, 1, folded(name)
    if UNSURE.search(name) or not last:
        return name, None, None
    return name, 0, folded(last if initials.replace("-", "").isupper() else name)


def same_authors(expected, stored):
    return len(expected) == len(stored) and all(
        e == s or (e[1] is None and e[0] == s[0]) for e, s in zip(expected, stored))


def europepmc_checks(db, result):
    key = f"{result.get('source')}:{result.get('id')}"
    found = db.execute("SELECT work_id FROM records WHERE source = 'europepmc' AND source_id = ?", [key]).fetchone()
    checks = [Check(key, "stored as a record of one work", True, found is not None)]
    if found is None:
        return checks
    row = work_columns(db, "id = ?", [found[0]])
    info = result.get("journalInfo") or {}
    journal = info.get("journal") or {}
    issns = [part.strip().upper() for part in (result.get("journalIssn") or "").split(";") if part.strip()]
    year = result.get("pubYear") or info.get("yearOfPublication")
    checks += scalar_checks(key, row, {
        "pmid": result.get("pmid"), "doi": (result.get("doi") or "").lower() or None, "pmcid": result.get("pmcid"),
        "title": result.get("title"), "year": int(year) if year else None,
        "journal": journal.get("title") or result.get("journalTitle"),
        "issn": journal.get("issn") or journal.get("essn") or (issns[0] if issns else None),
        "eissn": journal.get("essn") or (issns[1] if len(issns) > 1 else None),
        "volume": info.get("volume") or result.get("journalVolume"), "issue": info.get("issue") or result.get("issue"),
        "pages": result.get("pageInfo"), "abstract": result.get("abstractText"),
    })
    authors = (result.get("authorList") or {}).get("author") or []
    if authors:
        expected = [(a.get("fullName") or a.get("collectiveName"), int("lastName" not in a),
                     folded(a.get("lastName") or a.get("collectiveName"))) for a in authors]
    else:
        names = [n.strip() for n in (result.get("authorString") or "").strip().rstrip(".").split(",") if n.strip()]
        expected = [lite_author(name) for name in names]
    stored = stored_authors(db, row["id"])
    checks.append(Check(key, "authors in order (written name, is a group, last name or group, folded)", expected,
                        stored, same_authors(expected, stored)))
    checks += affiliation_checks(db, key, row["id"], [
        [a.get("affiliation") for a in (author.get("authorAffiliationDetailsList") or {}).get("authorAffiliation", [])]
        or [author.get("affiliation")] for author in authors])
    mesh = {}
    for heading in (result.get("meshHeadingList") or {}).get("meshHeading", []):
        qualifiers = (heading.get("meshQualifierList") or {}).get("meshQualifier", [])
        mesh[heading["descriptorName"]] = (
            heading.get("majorTopic_YN") == "Y" or any(q.get("majorTopic_YN") == "Y" for q in qualifiers),
            [q["qualifierName"] for q in qualifiers], heading.get("majorTopic_YN") == "Y",
            [q["qualifierName"] for q in qualifiers if q.get("majorTopic_YN") == "Y"])
    checks.append(Check(key, "MeSH headings (major, qualifiers, descriptor major, major qualifiers)", mesh,
                        stored_mesh(db, row["id"])))
    checks.append(Check(key, "investigators in order", [
        (i.get("lastName"), i.get("initials")) for i in (result.get("investigatorList") or {}).get("investigator", [])],
        stored_investigators(db, row["id"])))
    return checks


def dublin_core_checks(db, description):
    dc = "{http://purl.org/dc/elements/1.1/}"
    about = description.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about") or ""
    source, identifier = re.search(r"/abstract/(\w+)/(\w+)", about).groups()
    key = f"{source}:{identifier}"
    found = db.execute("SELECT work_id FROM records WHERE source = 'europepmc' AND source_id = ?", [key]).fetchone()
    checks = [Check(key, "stored as a record of one work", True, found is not None)]
    if found is None:
        return checks
    row = work_columns(db, "id = ?", [found[0]])
    doi = next((i.text for i in description.iter(dc + "identifier") if "doi.org/" in (i.text or "")), None)
    date = description.findtext(dc + "date")
    checks += scalar_checks(key, row, {
        "pmid": identifier if source == "MED" else None,
        "doi": re.sub(r"^https?://(dx\.)?doi\.org/", "", doi).lower() if doi else None,
        "title": description.findtext(dc + "title"), "year": int(date[:4]) if date else None})
    checks.append(Check(key, "authors in order (written name)", [
        " ".join(c.text.split(", ", 1)) for c in description.iter(dc + "creator")],
        [written for written, _, _ in stored_authors(db, row["id"])]))
    return checks


def europepmc_file_checks(db, path):
    kind, results = europepmc_results(path)
    load_works_file(db, "europepmc", path)
    if kind == "dc":
        return [check for description in results for check in dublin_core_checks(db, description)]
    # A work that holds two records of this file shows one of them: only single-record works are compared.
    shared = {source_id for source_id, in db.execute(
        "SELECT source_id FROM records WHERE work_id IN (SELECT work_id FROM records WHERE source = 'europepmc' "
        "GROUP BY work_id HAVING count(*) > 1)")}
    return [check for result in results if f"{result.get('source')}:{result.get('id')}" not in shared
            for check in europepmc_checks(db, result)]


@pytest.mark.parametrize("name", files_of("europepmc"))
def test_every_recorded_europepmc_result_is_stored_field_by_field(db, name):
    path = real_data() / "europepmc" / name
    assert path.is_file(), f"{path} is missing"
    answer = europepmc_results(path)
    if answer is None:
        with pytest.raises(LoadError, match=re.escape(name)):
            load_works_file(db, "europepmc", path)
        return
    checks = europepmc_file_checks(db, path)
    assert len(checks) >= len(answer[1])
    assert [check for check in checks if not check.holds] == []
