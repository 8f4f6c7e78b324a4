"""Field by field: what the KB stores for each recorded real portal page equals what the page
itself says.

The expected facts are read from the HTML here, simply and independently of harvest.portal:
the scholarly <meta> tags with html.parser, and the few facts PubMed's web page gives only
in its layout (numbered affiliations, the citation line, the abstract) with regular
expressions on its markup. The folder comes from $REGENKB_REAL_DATA; when the variable is
set and the folder is missing, these tests fail.
"""

import json
import re
from html import unescape
from html.parser import HTMLParser

import pytest

from kb.ingest import load_portal_page

from test_conformance_real import files_of, real_data


class MetaTags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and (attrs.get("name") or attrs.get("property")) and attrs.get("content"):
            self.tags.append(((attrs.get("name") or attrs["property"]).lower(), " ".join(attrs["content"].split())))


def meta_of(html):
    parser = MetaTags()
    parser.feed(html)
    return parser.tags


def first(tags, *names):
    return next((value for name in names for key, value in tags if key == name), None)


def text(fragment):
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def parts(strings):
    """Affiliation strings compared as the KB keeps them: split at ';', no closing punctuation."""
    return [part.strip(" .;,") for string in strings for part in string.split(";") if part.strip(" .;,")]


def authors_of(html, tags):
    """[(name, [institution strings])] in page order."""
    authors = []
    for name, value in tags:
        if name == "citation_author":
            authors.append((value, []))
        elif name == "citation_author_institution" and authors:
            authors[-1][1].append(value)
    # Sinaweb journal sites give an affiliation row opening with <sup id="au">, no number for one author.
    rows = [text(row) for row in re.findall(r'<sup id="au\d*">\d*</sup>(.*?)</td>', html, re.S)]
    if len(authors) == 1 and not authors[0][1] and len(rows) == 1:
        return [(authors[0][0], rows)]
    if authors:
        return authors
    names = [n.strip() for n in (first(tags, "citation_authors") or "").split(";") if n.strip()]
    # PubMed's page numbers each author's affiliations in its layout.
    listed = {number: text(body) for number, body in re.findall(
        r'<li data-affiliation-id="affiliation-(\d+)"><sup class="key">\d+</sup>(.*?)</li>', html, re.S)}
    items = re.findall(r'<span class="authors-list-item ">(.*?)</span></span>', html, re.S)
    numbers = [re.findall(r'href="#affiliation-(\d+)"', item) for item in items[:len(names)]]
    if len(numbers) == len(names):
        return [(name, [listed[n] for n in found]) for name, found in zip(names, numbers)]
    return [(name, []) for name in names]


def expected_facts(html):
    tags = meta_of(html)
    facts = {"title": first(tags, "citation_title", "dc.title"), "doi": first(tags, "citation_doi"),
             "pmid": first(tags, "citation_pmid"), "volume": first(tags, "citation_volume"),
             "issue": first(tags, "citation_issue"), "journal": first(tags, "citation_journal_title"),
             "language": first(tags, "citation_language"), "abstract": first(tags, "citation_abstract")}
    facts["doi"] = facts["doi"].lower() if (facts["doi"] or "").startswith("10.") else None
    date = first(tags, "citation_publication_date", "citation_date")
    facts["year"] = int(re.search(r"\d{4}", date).group()) if date else None
    first_page, last_page = first(tags, "citation_firstpage"), first(tags, "citation_lastpage")
    facts["pages"] = f"{first_page}-{last_page}" if first_page and last_page else first_page
    cited = re.search(r'<span class="cit">[^<]*;\s*(\w+)\((\w+)\):([\w-]+)\.</span>', html)
    if cited and cited.group(1) == facts["volume"]:
        facts["pages"] = facts["pages"] or cited.group(3)
    keywords = [k.strip() for name, value in tags if name == "citation_keywords" for k in value.split(";")]
    facts["keywords"] = [k for k in keywords if k] or None
    abstract = re.search(r'<div class="abstract-content selected"\s+id="enc-abstract">\s*<p>(.*?)</p>', html, re.S)
    facts["abstract"] = facts["abstract"] or (abstract and text(abstract.group(1)))
    authors = authors_of(html, tags)
    facts["author names"] = [name for name, _ in authors]
    facts.update({f"institutions of author {position}": parts(found)
                  for position, (_, found) in enumerate(authors, 1)})
    return {field: value for field, value in facts.items() if value is not None}


def stored_facts(db):
    work = next(db.query("select * from works"))
    facts = {field: work[field] for field in ("title", "doi", "pmid", "volume", "issue", "journal", "language",
                                               "abstract", "year", "pages")}
    facts["keywords"] = json.loads(work["keywords"])
    facts["author names"] = [name for name, in db.execute(
        "select written_name from work_authors where work_id = ? order by position", [work["id"]])]
    for position, in db.execute("select position from work_authors where work_id = ?", [work["id"]]):
        facts[f"institutions of author {position}"] = parts(name for name, in db.execute(
            "select a.name from work_author_affiliations w join affiliations a on a.id = w.affiliation_id "
            "where w.work_id = ? and w.position = ? order by w.number", [work["id"], position]))
    return facts


@pytest.mark.parametrize("name", files_of("portal_html"))
def test_every_field_of_a_recorded_portal_page_is_stored_as_the_page_gives_it(db, name):
    path = real_data() / "portal_html" / name
    html = path.read_text(encoding="utf-8", errors="replace")
    expected = expected_facts(html)
    assert expected["title"] and expected["author names"], f"{name}: the page names no title or authors"
    load_portal_page(db, path.read_bytes(), path.resolve().as_uri())
    stored = stored_facts(db)
    wrong = {field: (value, stored.get(field)) for field, value in expected.items() if stored.get(field) != value}
    assert not wrong, f"{name}: {len(wrong)} of {len(expected)} fields differ (page, KB): {wrong}"
