"""Every field `harvest.pubmed.iter_articles` reads from a real PubMed file, against a plain
xml.etree reading of the same file written here, so that a faster parser cannot drop or
change a field unseen: identifiers, titles, abstract sections, dates, journal, pages,
languages, publication types, keywords, MeSH headings with their major topics, authors and
investigators with their affiliations and identifiers, grants, data banks, comments and
corrections, references and the retraction flag.
"""

import io
import re
from pathlib import Path

import pytest
from test_conformance_real import files_of, real_data
from test_fidelity_pubmed import pubmed_records

from harvest.pubmed import iter_articles, open_payload

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
FIXTURES = Path(__file__).parent / "fixtures"


def text(element):
    """Text with inline markup flattened; runs of spaces, newlines, tabs and no-break spaces collapsed."""
    if element is None:
        return None
    value = "".join(element.itertext()).strip()
    if any(mark in value for mark in ("  ", "\n", "\t", "\xa0")):
        value = " ".join(value.split())
    return value or None


def first(element, path):
    return None if element is None else element.find(path)


def doi_of(value):
    value = (value or "").strip()
    value = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", value, flags=re.I).lower()
    return value or None


def pmcid_of(value):
    value = (value or "").strip().upper()
    return value if value.startswith("PMC") else ("PMC" + value if value.isdigit() else None)


def ids_of(container):
    """pmid, doi and pmcid of a container's first ArticleIdList, the first id of each kind."""
    ids = {}
    for article_id in first(container, "ArticleIdList") if first(container, "ArticleIdList") is not None else ():
        kind = {"pubmed": "pmid", "doi": "doi", "pmc": "pmcid"}.get(article_id.get("IdType"))
        if kind and article_id.text and kind not in ids:
            ids[kind] = article_id.text.strip()
    return ids


def month_number(word):
    word = (word or "").split("-")[0].strip()
    if word.isdigit():
        return int(word) if 1 <= int(word) <= 12 else None
    if word[:3].lower() in MONTHS:
        return MONTHS.index(word[:3].lower()) + 1
    return SEASONS.get(word.lower())


def date_of(element):
    """(year, ISO date, the date as written when it names a span or a season)."""
    if element is None:
        return None, None, None
    year, month, day, season = (element.findtext(tag) for tag in ("Year", "Month", "Day", "Season"))
    written = None
    if year is None:
        written = text(element.find("MedlineDate"))
        found = re.search(r"\b(1[89]\d\d|20\d\d)\b(?:\s+([A-Za-z]+)(?:\s+(\d{1,2})\b)?)?", written or "")
        if not found:
            return None, None, written
        year, month, day = found.groups()
    elif season:
        month, written = season, f"{year.strip()} {season.strip()}"
    iso = year.strip()
    if month_number(month):
        iso += f"-{month_number(month):02d}"
        if day and day.strip().isdigit() and 1 <= int(day) <= 31:
            iso += f"-{int(day):02d}"
    return int(year), iso, written


def orcid_of(value):
    found = re.search(r"(\d{4}-?\d{4}-?\d{4}-?\d{3}[\dXx])", value or "")
    digits = found.group(1).replace("-", "").upper() if found else None
    return digits and "-".join(digits[i:i + 4] for i in range(0, 16, 4))


def people(container, tag):
    found = []
    for position, person in enumerate(container.findall(tag) if container is not None else (), 1):
        last, fore, initials, suffix, group = (text(person.find(part)) for part in (
            "LastName", "ForeName", "Initials", "Suffix", "CollectiveName"))
        orcids = [i.text for i in person.findall("Identifier") if (i.get("Source") or "").upper() == "ORCID"]
        affiliations = []
        for info in person.findall("AffiliationInfo"):
            name = text(info.find("Affiliation"))
            if name:
                affiliations.append({"name": name, "identifiers": {
                    i.get("Source").lower(): i.text.strip() for i in info.findall("Identifier")
                    if i.get("Source") and i.text}})
        found.append({
            "position": position,
            "written_name": group if group and not last else " ".join(
                p for p in (last, initials or fore, suffix) if p),
            "last_name": last, "fore_name": fore, "initials": initials, "suffix": suffix,
            "collective_name": None if last else group,
            "orcid": orcid_of(orcids[-1]) if orcids else None, "affiliations": affiliations})
    return found


def mesh_of(citation):
    headings = []
    for heading in citation.findall("MeshHeadingList/MeshHeading"):
        descriptor = heading.find("DescriptorName")
        if descriptor is None:
            continue
        qualifiers = heading.findall("QualifierName")
        majors = [text(q) for q in qualifiers if q.get("MajorTopicYN") == "Y"]
        headings.append({
            "ui": descriptor.get("UI") or text(descriptor), "name": text(descriptor),
            "major": descriptor.get("MajorTopicYN") == "Y" or bool(majors),
            "qualifiers": [text(q) for q in qualifiers], "descriptor_major": descriptor.get("MajorTopicYN") == "Y",
            "major_qualifiers": majors})
    return headings


def references_of(pubmed_data):
    references = []
    for reference in pubmed_data.iter("Reference") if pubmed_data is not None else ():
        citation, ids = text(reference.find("Citation")), ids_of(reference)
        doi = ids.get("doi")
        if not doi and citation and re.search(r"\b10\.\d{4,9}/[^\s\"<>]+", citation):
            doi = re.search(r"\b10\.\d{4,9}/[^\s\"<>]+", citation).group(0).rstrip(".,;)]")
        references.append({"citation": citation, "title": None, "year": None, "doi": doi_of(doi),
                           "pmid": ids.get("pmid") if (ids.get("pmid") or "").isdigit() else None,
                           "pmcid": pmcid_of(ids.get("pmcid")) if ids.get("pmcid") else None, "openalex_id": None})
    return references


def links_of(citation, references):
    links = {}
    for correction in citation.findall("CommentsCorrectionsList/CommentsCorrections"):
        ref_type = correction.get("RefType") or "Related"
        pmid = correction.findtext("PMID")
        if pmid:
            relation = {"Cites": "cites", "RetractionIn": "retracted_by", "CommentIn": "commented_in",
                        "RetractedandReplacedIn": "retracted_and_replaced_by"}.get(
                ref_type, re.sub(r"(?<!^)(?=[A-Z])", "_", ref_type).lower())
            links.setdefault((relation, "pmid", pmid.strip()), None)
    for reference in references:
        scheme = next((s for s in ("pmid", "doi", "pmcid") if reference[s]), None)
        if scheme:
            links.setdefault(("cites", scheme, reference[scheme]), None)
    return [{"relation": r, "scheme": s, "target": t} for r, s, t in links]


def expected_fields(element):
    """The record of one <PubmedArticle>, read plainly."""
    citation, pubmed_data = element.find("MedlineCitation"), element.find("PubmedData")
    article, journal = citation.find("Article"), citation.find("Article/Journal")
    year, pub_date, pub_date_text = date_of(first(journal, "JournalIssue/PubDate"))
    article_date = date_of(article.find("ArticleDate"))[1]
    if year is None and article_date:
        year, pub_date = int(article_date[:4]), article_date
    ids = ids_of(pubmed_data) if pubmed_data is not None else {}
    doi = ids.get("doi") or next((e.text for e in article.findall("ELocationID") if e.get("EIdType") == "doi"), None)
    abstract = article.find("Abstract")
    sections = [f"{s.get('Label')}: {text(s)}" if s.get("Label") else text(s)
                for s in (abstract.findall("AbstractText") if abstract is not None else ()) if text(s)]
    issn = first(journal, "ISSN")
    pub_types = [text(t) for t in article.findall("PublicationTypeList/PublicationType")]
    references = references_of(pubmed_data)
    links = links_of(citation, references)
    start, end = text(article.find("Pagination/StartPage")), text(article.find("Pagination/EndPage"))
    return {
        "pmid": citation.findtext("PMID").strip(), "doi": doi_of(doi),
        "pmcid": pmcid_of(ids.get("pmcid")) if ids.get("pmcid") else None,
        "title": text(article.find("ArticleTitle")) or text(article.find("VernacularTitle")),
        "vernacular_title": text(article.find("VernacularTitle")),
        "abstract": "\n".join(sections) or None, "copyright": text(first(abstract, "CopyrightInformation")),
        "year": year, "pub_date": pub_date, "pub_date_text": pub_date_text, "article_date": article_date,
        "journal": text(first(journal, "Title")), "journal_iso": text(first(journal, "ISOAbbreviation")),
        "issn": text(issn), "eissn": text(issn) if issn is not None and issn.get("IssnType") == "Electronic" else None,
        "volume": text(first(journal, "JournalIssue/Volume")), "issue": text(first(journal, "JournalIssue/Issue")),
        "pages": text(article.find("Pagination/MedlinePgn")) or "-".join(p for p in (start, end) if p) or None,
        "language": text(article.find("Language")), "pub_types": pub_types,
        "keywords": [k for k in map(text, citation.findall("KeywordList/Keyword")) if k],
        "mesh": mesh_of(citation),
        "authors": people(article.find("AuthorList"), "Author"),
        "investigators": people(citation.find("InvestigatorList"), "Investigator"),
        "grants": [{"grant_id": text(g.find("GrantID")), "acronym": text(g.find("Acronym")),
                    "agency": text(g.find("Agency")), "country": text(g.find("Country"))}
                   for g in article.findall("GrantList/Grant")],
        "registry_ids": [{"registry": text(bank.find("DataBankName")), "accession": a.text.strip()}
                         for bank in article.findall("DataBankList/DataBank")
                         for a in bank.findall("AccessionNumberList/AccessionNumber") if a.text and a.text.strip()],
        "links": links, "references": references,
        "is_retracted": "Retracted Publication" in pub_types or any(l["relation"] == "retracted_by" for l in links),
        "version": date_of(citation.find("DateRevised"))[1],
    }


FIXTURE_FILES = sorted(p.name for p in (FIXTURES / "pubmed").glob("*.xml"))


def assert_fields_equal(path):
    found = pubmed_records(path)
    if found is None:
        return 0
    articles = [element for element in found if element.tag == "PubmedArticle"]
    with open_payload(path) as handle:
        records = [r for r in iter_articles(handle, str(path))
                   if isinstance(r, dict) and re.match(rb"<PubmedArticle[\s>]", r["raw"])]
    assert len(records) == len(articles)
    for element, record in zip(articles, records):
        expected = expected_fields(element)
        differing = {field: (value, record[field]) for field, value in expected.items() if record[field] != value}
        assert differing == {}, f"PMID {expected['pmid']}: (plain reading, iter_articles) {differing}"
    return len(articles)


@pytest.mark.parametrize("name", files_of("pubmed"))
def test_every_field_iter_articles_reads_from_a_real_pubmed_file_matches_a_plain_reading(name):
    path = real_data() / "pubmed" / name
    assert path.is_file(), f"{path} is missing"
    assert_fields_equal(path)


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_every_field_iter_articles_reads_from_our_pubmed_fixtures_matches_a_plain_reading(name):
    assert assert_fields_equal(FIXTURES / "pubmed" / name) >= 1


def test_keywords_of_every_keyword_list_are_kept():
    # The DTD allows a KeywordList per owner (NOTNLM, NASA, KIE, ...).
    data = (b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>T</ArticleTitle>"
            b"</Article><KeywordList Owner=\"NOTNLM\"><Keyword>stroke</Keyword></KeywordList>"
            b"<KeywordList Owner=\"NASA\"><Keyword>microgravity</Keyword></KeywordList></MedlineCitation>"
            b"</PubmedArticle></PubmedArticleSet>")
    [record] = iter_articles(io.BytesIO(data), "test")
    assert record["keywords"] == ["stroke", "microgravity"]
