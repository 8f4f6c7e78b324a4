"""Research-portal and journal record pages (university research portals, DSpace, EPrints,
Pure, OPUS, HAL, OJS, Sinaweb and publisher sites, PubMed's web pages): a polite crawler
and a pure parser.

Each field is read in layers, most reliable first: scholarly <meta> tags (citation_*,
DC.*, prism.*), a DSpace "full item record" table of dc.* rows, JSON-LD, a page's
embedded JSON state (ScienceDirect), then the visible layout, found by its headings and
labels ("Authors Affiliations", "Source:", "Abstract", "Other Related Docs") rather than by
CSS classes. The record says which layer gave each field. A later layer only fills what
the earlier ones lack: the layout may number the affiliations of authors the meta tags
name, but never names authors when a tag does.
"""

import json
import re
import unicodedata
import urllib.robotparser
import warnings
from collections import deque
from html import unescape
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, NavigableString, XMLParsedAsHTMLWarning

from .errors import HarvestError, ParseError, payload_guarded
from .http import Client, limiter_for, not_fetched
from .limits import PAGE_NESTING, PAGE_TAGS
from .records import SUMMARY, new_author, new_work

SOURCE = "portal"
DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩،", "01234567890123456789,")
SUP = "\u2063"  # marks where a <sup> begins in flattened text (not a space: clean() keeps it)
NUMBERS = r"[\d۰-۹٠-٩][\d۰-۹٠-٩\s,،\-–]*"
# Only these elements can hold a section label: an <option>, link or button reading
# "Abstract" is interface text (PubMed's page has eight of them before its abstract).
LABEL_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "div", "p", "span", "b", "strong", "td", "th", "dt"]
LABELS = {
    "affiliations": re.compile(r"^\s*(authors?\s+)?affiliations?\s*:?\s*$", re.I),
    "authors": re.compile(r"^\s*authors?\s*:?\s*$", re.I),
    "abstract": re.compile(r"^\s*abstract\s*:?\s*$", re.I),
    "related": re.compile(r"^\s*(other\s+)?related\s+(docs|documents|publications|records)\s*:?\s*$", re.I),
}
# Section labels of a structured abstract run together in one block, each at a sentence start.
SECTION = re.compile(r"(?:^|(?<=[.!?] ))(Background|Introduction|Purpose|Objectives?|Aims?|Methods?|Results?|"
                     r"Findings|Conclusions?|Interpretation|Discussion)\s*:", re.I)
KEYWORDS = re.compile(r"^\s*key\s*-?\s*words?\s*:?\s*", re.I)
COPYRIGHT = re.compile(r"^\s*(©|copyright\b)", re.I)
# Words a personal name may hold in lower case (de Araujo, van Gogh, al Fauzi).
PARTICLES = {"al", "bin", "da", "das", "de", "del", "della", "den", "der", "di", "do", "dos", "du", "e", "el",
             "ibn", "la", "le", "ten", "ter", "van", "von", "y", "zu"}
ARTICLE_TYPES = {"ScholarlyArticle", "Article", "MedicalScholarlyArticle", "Thesis", "Report", "Chapter"}
# A DSpace full item record row: the dc.* field name in the first cell, its value in the second.
DC_FIELD = re.compile(r"^(dc|dcterms)(\.[a-z]+)+$", re.I)
DOI = re.compile(r"\b10\.\d{4,9}/\S+")
# PubMed's citation line: "2020 Jul-Sep;27(3):242-247."
CITATION_LINE = re.compile(r"(?:.*\.\s+)?(\d{4})[^;]*;\s*(\w+)\s*(?:\(([^)]+)\))?\s*:\s*([A-Za-z]?\d+(?:\s*[-–]\s*[A-Za-z]?\d+)?)\.?")


def clean(text):
    """Spaces collapsed; a character reference left encoded twice ('&amp;#x20;') decoded."""
    text = unicodedata.normalize("NFC", text or "")
    if "&#" in text:
        text = re.sub(r"&#(x[0-9a-f]+|\d+);", lambda m: unescape(m.group()), text, flags=re.I)
    return " ".join(text.split())


def folded(text):
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def as_list(value):
    return value if isinstance(value, list) else [] if value is None else [value]


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


def marks_of(text):
    """Affiliation marks of a superscript: '1,2', '1-3' -> [1, 2, 3]; 'a, b' -> ['a', 'b'];
    symbols (*, †) mark a corresponding author or equal contribution and are left out."""
    parts = [re.sub(r"[^\w\-–]", "", p) for p in re.split(r"[\s,،]+", (text or "").translate(DIGITS))]
    text = ",".join(p for p in parts if re.fullmatch(r"\d+[-–]\d+|\d+|[a-z]", p))
    if re.fullmatch(r"[a-z](,[a-z])*", text):
        return text.split(",")
    return numbers_of(text)


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
        return clean(name), marks_of(numbers.replace(SUP, ","))
    found = re.fullmatch(rf"(.*?[^\s\d,،\-–۰-۹٠-٩])\s*({NUMBERS})?", part)
    if not found:
        return clean(part), []
    return clean(found.group(1)), numbers_of(found.group(2) or "")


def parse_name(written):
    """'Keshel SH' -> (Keshel, SH, None); 'Masoud Soleimani' -> (Soleimani, M, Masoud); 'Ulbrich, Stefan';
    'Claudia V de Araujo' -> (de Araujo, CV, Claudia V)."""
    if "," in written:
        last, _, fore = (p.strip() for p in written.partition(","))
    else:
        tokens = written.split()
        if len(tokens) > 1 and re.fullmatch(r"[A-Z]{1,3}", tokens[-1]):
            return " ".join(tokens[:-1]), tokens[-1], None
        # A surname starts at the lower-case particle before the last word ('Claudia V de Araujo').
        start = next((i for i in range(len(tokens) - 1) if tokens[i] in PARTICLES and i > 0), len(tokens) - 1)
        last, fore = (" ".join(tokens[start:]), " ".join(tokens[:start])) if tokens else (written, "")
    initials = "".join(p[0] for p in re.split(r"[\s.-]+", fore) if p).upper() or None
    return last, initials, fore or None


def looks_like_name(text):
    """Whether layout text can be a person's name: two to six capitalised words (a surname and
    initials at least), no digits, no label colon ('Keywords: ...'), no sentence ('giant
    prostatic enlargement', 'prostatectomy.'), no menu item ('Home')."""
    tokens = text.replace(",", " ").split()
    if not 1 < len(tokens) <= 6 or len(text) >= 60 or re.search(r"[\d:@/()\[\]|]", text):
        return False
    if text.endswith(".") and not re.search(r"\b[A-Z]\.$", text):
        return False
    return all(not t[0].islower() or t.lower() in PARTICLES for t in tokens)


INTERFACE = {"a", "button", "select", "nav", "footer"}


def interface(element):
    """Whether an element is part of the site's interface (menus, links, buttons), not the record.
    (Not every <form>: ASP.NET pages hold the whole page in one.) A plain walk up: asked of
    every element, BeautifulSoup's find_parent (a matcher built per call) was half a parse."""
    return any(parent.name in INTERFACE for parent in element.parents)


def find_label(soup, kind):
    """The element whose own text is the label of a section ('Authors Affiliations', ...)."""
    pattern = LABELS[kind]
    for element in soup.find_all(LABEL_TAGS):
        if interface(element):
            continue
        text = clean(element.get_text(" "))
        if pattern.match(text) and not any(pattern.match(clean(c.get_text(" "))) for c in element.find_all(True)):
            return element
    return None


def following(element, names):
    """The first element after `element` in document order with one of these tag names."""
    return element.find_next(names) if element else None


def meta_tags(soup):
    """(name, content) of every <meta> tag in page order, names in lower case."""
    return [((m.get("name") or m.get("property") or "").lower(), clean(m.get("content")))
            for m in soup.find_all("meta") if clean(m.get("content"))]


def record_table(soup):
    """(field, value) rows of a DSpace "full item record" table, field names in lower case."""
    rows = []
    for row in soup.find_all("tr"):
        cells = row.find_all(["td", "th"], recursive=False)
        if len(cells) >= 2 and DC_FIELD.match(clean(cells[0].get_text())):
            value = clean(cells[1].get_text(" "))
            if value:
                rows.append((clean(cells[0].get_text()).lower(), value))
    return rows


def values(pairs, *names):
    """The values of these fields, in page order of the names given."""
    return [value for name in names for key, value in pairs if key == name]


def first(pairs, *names):
    return next(iter(values(pairs, *names)), None)


def pages_of(pairs, start, end):
    """'53' and '74' -> '53-74'; a first page that is already a range stays as it is."""
    first_page, last_page = first(pairs, start), first(pairs, end)
    if first_page and last_page and "-" not in first_page:
        return f"{first_page}-{last_page}"
    return first_page


def doi_in(texts):
    return next((found.group().rstrip(".") for text in texts if isinstance(text, str)
                 for found in [DOI.search(text)] if found), None)


def keywords_of(texts):
    """Keyword tags hold one keyword or a ';'-separated list."""
    found = []
    for text in texts:
        for keyword in (text.split(";") if isinstance(text, str) else []):
            if clean(keyword).strip(" .") and clean(keyword).strip(" .") not in found:
                found.append(clean(keyword).strip(" ."))
    return found


def author_entry(name, affiliations=(), orcid=None):
    """An author as a layer gives it: the name as written and affiliation strings."""
    return {"name": clean(name), "affiliations": [clean(a) for a in affiliations if clean(a)], "orcid": orcid}


def tag_authors(tags):
    """Authors of citation_author tags, each with the citation_author_institution and
    citation_author_orcid tags that follow it (an author may have several institutions)."""
    authors = []
    for name, value in tags:
        if name == "citation_author":
            authors.append(author_entry(value))
        elif authors and name in ("citation_author_institution", "citation_author_affiliation"):
            authors[-1]["affiliations"].append(value)
        elif authors and name == "citation_author_orcid":
            authors[-1]["orcid"] = value
    if len(authors) > 1 and not any(a["affiliations"] for a in authors[:-1]):
        # Every institution tag after the last author: a page that lists all its authors, then
        # all institutions, or one whose last author alone gives any. Which, it cannot say.
        authors[-1]["affiliations"] = []
    if authors:
        return authors
    # PubMed's pages give one citation_authors tag: 'Ojewola RW;Tijani KH;...;'
    listed = [author_entry(name) for text in values(tags, "citation_authors") for name in text.split(";") if clean(name)]
    return listed or [author_entry(name) for name in values(tags, "dc.creator", "dc.creator.personalname",
                                                             "dc.contributor.author")]


def table_authors(rows):
    """Authors of a DSpace record; its affiliation rows belong to them by position only when
    there is one per author (a record lists them in author order)."""
    # A name holds letters: some repositories put a date in dc.creator.
    names = [name for name in values(rows, "dc.contributor.author", "dc.creator") if re.search(r"[^\W\d_]", name)]
    affiliations = values(rows, "dc.contributor.affiliation", "dc.description.affiliation")
    if len(affiliations) != len(names):
        affiliations = [None] * len(names)
    return [author_entry(name, [affiliation] if affiliation else []) for name, affiliation in zip(names, affiliations)]


def json_ld(soup):
    """The page's ScholarlyArticle (or Article) JSON-LD object, also where a WebPage holds it
    as its mainEntity (Springer Nature)."""
    for script in soup.find_all("script", type="application/ld+json"):
        try:
            data = json.loads(script.string or "")
        except ValueError:
            continue
        for item in data if isinstance(data, list) else data.get("@graph", [data]):
            for candidate in (item, item.get("mainEntity")) if isinstance(item, dict) else ():
                if isinstance(candidate, dict) and ARTICLE_TYPES & set(as_list(candidate.get("@type"))):
                    return candidate
    return {}


def ld_text(value):
    """A JSON-LD value that may be a string, an object with a name, or a list of them."""
    value = as_list(value)[0] if as_list(value) else None
    return value.get("name") if isinstance(value, dict) else value


def ld_affiliation(affiliation):
    """An Organization's affiliation string: its address's name when that holds the full
    string (Springer Nature), else its name."""
    if not isinstance(affiliation, dict):
        return affiliation if isinstance(affiliation, str) else None
    address = affiliation.get("address")
    return address.get("name") if isinstance(address, dict) and address.get("name") else affiliation.get("name")


def ld_authors(ld):
    authors = []
    for person in as_list(ld.get("author")):
        person = {"name": person} if isinstance(person, str) else person
        if not isinstance(person, dict):
            continue
        name = person.get("name") or " ".join(filter(None, (person.get("givenName"), person.get("familyName"))))
        ids = [v for key in ("identifier", "sameAs", "url", "@id") for v in as_list(person.get(key)) if isinstance(v, str)]
        if name:
            authors.append(author_entry(name, [ld_affiliation(a) for a in as_list(person.get("affiliation"))],
                                 next((v for v in ids if "orcid" in v), None)))
    return authors


def ld_part(ld, key):
    """A property of the article or of the issue or volume it is part of (isPartOf chain)."""
    node = ld
    while isinstance(node, dict):
        if node.get(key):
            return node[key]
        node = node.get("isPartOf")
    return None


def embedded_state(soup):
    """A page's embedded JSON state when it describes an article: ScienceDirect's preloaded
    state, where the article, its authors and their lettered affiliations are XML turned
    into JSON ('#name' nodes, '_' text, '$' attributes, '$$' children)."""
    for script in soup.find_all("script", type="application/json"):
        try:
            data = json.loads(script.string or "")
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("article"), dict) and isinstance(data.get("authors"), dict):
            return data
    return {}


def node_text(node):
    if isinstance(node, list):
        return "".join(node_text(n) for n in node)
    if not isinstance(node, dict):
        return ""
    return node.get("_", "") + node_text(node.get("$$", []))


def state_authors(state):
    """Authors of ScienceDirect state: each author's cross-refs name its affiliations; an
    author without one belongs to the affiliations of its author group."""
    authors = []

    def walk(node, group):
        for child in as_list(node):
            if not isinstance(child, dict):
                continue
            if child.get("#name") == "author-group":
                members = child.get("$$", [])
                walk(members, [n for n in members if isinstance(n, dict) and n.get("#name") == "affiliation"])
            elif child.get("#name") == "author":
                parts = {p.get("#name"): p for p in child.get("$$", []) if isinstance(p, dict)}
                refs = [r for p in child.get("$$", []) if isinstance(p, dict) and p.get("#name") == "cross-ref"
                        for r in p.get("$", {}).get("refid", "").split()]
                # Cross-refs also point at footnotes (the corresponding author's): only those
                # naming an affiliation count; an author with none has the group's.
                named = [a for a in group if a.get("$", {}).get("id") in refs] or group
                name = ", ".join(filter(None, (node_text(parts.get("surname")), node_text(parts.get("given-name")))))
                texts = []
                for affiliation in named:
                    parts_of = [p for p in affiliation.get("$$", []) if isinstance(p, dict)]
                    texts.append(node_text(next((p for p in parts_of if p.get("#name") == "textfn"), {}))
                                 or ", ".join(node_text(p) for p in parts_of if p.get("#name") != "label"))
                authors.append(author_entry(name, texts, child.get("$", {}).get("orcid")))
            else:
                walk(child.get("$$", []), group)

    walk(state.get("authors", {}).get("content", []), [])
    return authors


def layout_title(soup):
    for heading in soup.find_all(["h1", "h2", "h3"]):
        text = clean(heading.get_text(" "))
        text = re.sub(r"\s+Publisher$", "", text)
        if len(text.split()) >= 4 and not any(p.match(text) for p in LABELS.values()):
            return text
    return None


def in_sup(node, element):
    for parent in node.parents:
        if parent is element:
            return False
        if parent.name == "sup":
            return True
    return False


def marked_names(element):
    """[(name, marks)] of an author line whose names each carry superscript marks
    ('Rufus Wale Ojewola<sup>1</sup>, ...', 'Soleimani M<sup>3,</sup><sup>4</sup>'), or None
    when the line holds anything but names."""
    authors, name, marks = [], "", ""
    for node in element.descendants:
        if not isinstance(node, NavigableString) or node.parent.name in ("script", "style"):
            continue
        if in_sup(node, element):
            marks += "," + str(node)
            continue
        text = str(node)
        if marks and clean(text).strip(",;&") and not re.fullmatch(r"\s*(and)?\s*", clean(text).strip(",;&")):
            authors.append((name, marks))
            name, marks = "", ""
        name += text if not marks else ""
    if name.strip(" ,;&") or marks:
        authors.append((name, marks))
    result = []
    for name, marks in authors:
        name = re.sub(r"^\s*(and\b|&|[,;])\s*", "", clean(name)).strip(" ,;")
        if not looks_like_name(name):
            return None
        result.append((name, marks_of(marks)))
    return result if any(marks for _, marks in result) else None


def layout_authors(soup):
    """Authors as the page lists them, each with its affiliation marks: names with superscript
    marks, or '; '-separated names with numbers after them ('Soleimani M1, 2, 3 ; ...')."""
    for element in soup.find_all(["div", "p", "td", "span", "li"]):
        if element.find(["div", "p", "td", "table", "li"]) or interface(element):
            continue
        if element.find("sup") and (found := marked_names(element)):
            return found
        parts = [p for p in flat_text(element).split(";") if p.strip()]
        if len(parts) >= 2:
            found = [split_author(part) for part in parts]
            if all(looks_like_name(name) for name, _ in found):
                return found
    # A single author: the line just before the "Authors" label (not the block holding the label).
    label = find_label(soup, "authors")
    ancestors = set(map(id, label.parents)) if label else set()
    for previous in label.find_all_previous(["div", "p", "td", "span"]) if label else []:
        if id(previous) not in ancestors and clean(previous.get_text(" ")):
            found = split_author(flat_text(previous))
            return [found] if looks_like_name(found[0]) else []
    return []


def layout_affiliations(soup):
    """{mark: affiliation} from the numbered or lettered list that follows the affiliations label."""
    label = find_label(soup, "affiliations")
    container = following(label, ["ol", "ul", "table"])
    if container is None:
        return {}
    items = container.find_all("li") or container.find_all("tr")
    found = {}
    for position, item in enumerate(items, 1):
        sup = item.find("sup")
        text = flat_text(item).translate(DIGITS)
        mark, leading = position, None
        if sup and text.startswith(SUP) and marks_of(sup.get_text()):
            mark = marks_of(sup.get_text())[0]
            text = text[1:].replace(clean(sup.get_text()).translate(DIGITS), "", 1)
        else:
            leading = re.match(r"^\s*(\d+|[a-z](?=[.)]))\s*[.)]?\s*", text)
        text = text.replace(SUP, " ")
        while leading:
            mark = int(leading.group(1)) if leading.group(1).isdigit() else leading.group(1)
            text = text[leading.end():]
            leading = re.match(r"^\s*(\d+)\s*[.)]\s*", text)
        if text.strip():
            found[mark] = clean(text)
    return found


def marked_affiliations(soup):
    """{mark: affiliation} of rows that open with a <sup id="au..."> mark (Sinaweb journal
    sites, whose affiliations follow the authors with no label); the mark is empty when the
    paper has one author."""
    found = {}
    for position, sup in enumerate(soup.find_all("sup", id=re.compile(r"^au")), 1):
        text = clean(sup.parent.get_text(" ")).replace(clean(sup.get_text(" ")), "", 1).strip()
        if text:
            found[next(iter(marks_of(sup.get_text())), position)] = text
    return found


def layout_source(soup):
    """'Source: International Journal of Preventive Medicine Published:2022' -> (journal, year)."""
    for element in soup.find_all(["p", "div", "td", "span", "li"]):
        text = clean(element.get_text(" ")).translate(DIGITS)
        found = re.search(r"Source\s*:\s*(.+?)\s*Published\s*:\s*(\d{4})", text)
        if found and not element.find(["p", "div", "td"], string=re.compile("Source")):
            return found.group(1), int(found.group(2))
    return None, None


def layout_citation(soup, year, volume):
    """(volume, issue, pages) from a citation line ('2020 Jul-Sep;27(3):242-247.') that agrees
    with the volume, or the year, the page's tags give: a page lists other works' lines too."""
    for element in soup.find_all("span"):
        if element.find(True):
            continue
        found = CITATION_LINE.fullmatch(clean(element.get_text(" ")))
        if found and (found.group(2) == volume if volume else year and int(found.group(1)) == year):
            return found.group(2), found.group(3), found.group(4)
    return None, None, None


def layout_keywords(soup):
    """The keywords of a 'Keywords: a; b; c.' line."""
    for element in soup.find_all(["p", "div", "dd", "li"]):
        text = clean(element.get_text(" "))
        if KEYWORDS.match(text) and not element.find(["p", "div", "li"]):
            listed = KEYWORDS.sub("", text)
            return keywords_of([listed if ";" in listed else listed.replace(",", ";")])
    return []


def section_of(paragraph):
    """'Label: text' of one paragraph of a structured abstract whose label is set in bold,
    or None when the paragraph starts with no such label."""
    lead = paragraph.find(["b", "strong"])
    text = clean(paragraph.get_text(" "))
    label = clean(lead.get_text(" ")).rstrip(" :") if lead else ""
    if label and text.startswith(clean(lead.get_text(" "))) and len(label.split()) <= 5 and not KEYWORDS.match(label):
        return f"{label}: {text[len(clean(lead.get_text(' '))):].lstrip(' :')}"
    return None


def layout_abstract(soup):
    """(abstract, copyright line) from the block after the Abstract label. A structured
    abstract keeps every section, one per line as 'Label: text' (as PubMed stores them),
    whether its sections run together in one block or stand in blocks of their own."""
    label = find_label(soup, "abstract")
    block = label and label.find_next_sibling()
    if block is None or not clean(block.get_text(" ")):
        block = following(label, ["p", "div", "td"])
    links = " ".join(a.get_text(" ") for a in block.find_all("a")) if block else ""
    if block is None or len(clean(links)) * 2 > len(clean(block.get_text(" "))):
        return None, None  # a row of links and buttons (PDF, Cite, ...), not an abstract
    paragraphs = block.find_all(["p", "div"], recursive=False)
    paragraphs = paragraphs if len(paragraphs) > 1 else [block]
    if section_of(block):
        for sibling in block.find_next_siblings():
            if sibling.name not in ("p", "div") or not (section_of(sibling) or COPYRIGHT.match(sibling.get_text())):
                break
            paragraphs.append(sibling)
    lines, copyright_ = [], None
    for paragraph in paragraphs:
        text = section_of(paragraph) or clean(paragraph.get_text(" "))
        if COPYRIGHT.match(text):
            copyright_ = text
            continue
        if "©" in text:
            text, _, tail = text.partition("©")
            copyright_ = "© " + tail.strip()
        lines.append(SECTION.sub(lambda m: "\n" + m.group(0), text.strip()).strip())
    text = "\n".join(line for line in lines if line)
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
    link = soup.find("link", rel="canonical", href=True)
    if link:
        return urljoin(url, link["href"])
    meta = values(meta_tags(soup), "citation_abstract_html_url", "og:url")
    return meta[0] if meta else url


def same_people(authors, others):
    """Whether two layers list the same authors in the same order: each surname one layer
    gives is in the name the other gives ('Ojewola RW' and 'Rufus Wale Ojewola')."""
    return len(authors) == len(others) and all(
        folded(parse_name(a["name"])[0]) in folded(b["name"]) or folded(parse_name(b["name"])[0]) in folded(a["name"])
        for a, b in zip(authors, others))


def marked_authors(written, affiliations):
    """Layout authors with their marks turned into affiliation strings; the marks no listed
    affiliation carries, by author."""
    missing = {name: [m for m in marks if m not in affiliations] for name, marks in written}
    return ([author_entry(name, [affiliations[m] for m in marks if m in affiliations]) for name, marks in written],
            {name: marks for name, marks in missing.items() if marks})


def nesting(soup):
    """How deep the page's elements are nested, in one pass (parents come before children)."""
    depth = {}
    for element in soup.find_all(True):
        depth[id(element)] = depth.get(id(element.parent), 0) + 1
    return max(depth.values(), default=0)


def parse_page(html, url):
    """A record page -> (work record, related documents). Raises ParseError naming the URL and
    what is missing when the page has no title, no authors, or numbers that point at no
    affiliation, or is no record page at all, or past the limits of a page (limits.PAGE_TAGS,
    PAGE_NESTING): each layer walks the tree again, so time grows with elements times depth."""
    if (opened := html.count("<") - html.count("</")) > PAGE_TAGS:
        raise ParseError(f"{opened:,} tags, more than the {PAGE_TAGS:,} a page may hold (REGENKB_MAX_PAGE_TAGS "
                         "raises the limit): not read", source=SOURCE, origin=url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # an XHTML page is still a page
        soup = BeautifulSoup(html, "lxml")
    if (depth := nesting(soup)) > PAGE_NESTING:
        raise ParseError(f"elements nested {depth:,} deep, past the {PAGE_NESTING} levels a page may have "
                         "(REGENKB_MAX_PAGE_NESTING raises the limit): not read", source=SOURCE, origin=url)
    url = page_url(soup, url)
    tags, table, ld, state = meta_tags(soup), record_table(soup), json_ld(soup), embedded_state(soup)
    article = state.get("article", {})
    layers = {}

    def pick(field, *options):
        for layer, value in options:
            value = "\n".join(map(clean, value.split("\n"))) if isinstance(value, str) else value
            if value not in (None, "", []):
                layers[field] = layer
                return value
        return None

    title = pick("title", ("meta", first(tags, "citation_title", "dc.title")), ("dspace", first(table, "dc.title")),
                 ("jsonld", ld_text(ld.get("headline") or ld.get("name"))), ("state", article.get("titleString")),
                 ("layout", layout_title(soup)))
    journal_layout, year_layout = layout_source(soup)
    date = pick("pub_date", ("meta", first(tags, "citation_publication_date", "citation_date", "dc.date.issued",
                                           "dc.date", "dc.issued", "prism.publicationdate", "citation_year")),
                ("dspace", first(table, "dc.date.issued", "dc.date")), ("jsonld", ld.get("datePublished")),
                ("state", article.get("cover-date-start")))
    year_text = re.search(r"\d{4}", (date or "").translate(DIGITS))
    year = pick("year", (layers.get("pub_date"), int(year_text.group()) if year_text else None),
                ("layout", year_layout))
    journal = pick("journal", ("meta", first(tags, "citation_journal_title", "prism.publicationname", "dc.source",
                                             "dc.relation.ispartof")),
                   ("dspace", first(table, "dc.relation.ispartof", "dc.source")),
                   ("jsonld", ld_part(ld.get("isPartOf"), "name")), ("state", article.get("srctitle")),
                   ("layout", journal_layout))
    doi = pick("doi", ("meta", doi_in(values(tags, "citation_doi", "prism.doi", "dc.identifier.doi"))),
               ("meta", doi_in(values(tags, "dc.identifier"))),
               ("dspace", doi_in(values(table, "dc.identifier.doi", "dc.identifier.uri", "dc.identifier"))),
               ("jsonld", doi_in([ld.get("doi")] + as_list(ld.get("identifier")) + as_list(ld.get("sameAs")))),
               ("state", article.get("doi")))
    pmid = pick("pmid", ("meta", first(tags, "citation_pmid")), ("dspace", first(table, "dc.identifier.pmid")))
    pmcid = pick("pmcid", ("meta", first(tags, "citation_pmcid")), ("dspace", first(table, "dc.identifier.pmcid")))
    volume = pick("volume", ("meta", first(tags, "citation_volume", "prism.volume", "dc.citation.volume")),
                  ("dspace", first(table, "dc.citation.volume", "dc.identifier.volume")),
                  ("jsonld", ld_part(ld, "volumeNumber")), ("state", article.get("vol-first")))
    issue = pick("issue", ("meta", first(tags, "citation_issue", "prism.number", "dc.citation.issue")),
                 ("dspace", first(table, "dc.citation.issue", "dc.identifier.issue")),
                 ("jsonld", ld_part(ld, "issueNumber")), ("state", article.get("iss-first")))
    state_pages = next(iter(article.get("pages") or []), {})
    pages = pick("pages", ("meta", pages_of(tags, "citation_firstpage", "citation_lastpage")
                           or pages_of(tags, "prism.startingpage", "prism.endingpage")
                           or pages_of(tags, "dc.citation.spage", "dc.citation.epage")),
                 ("dspace", pages_of(table, "dc.citation.spage", "dc.citation.epage")),
                 ("jsonld", "-".join(str(p) for p in (ld.get("pageStart"), ld.get("pageEnd")) if p)
                  or ld.get("pagination")),
                 ("state", "-".join(filter(None, (state_pages.get("first-page"), state_pages.get("last-page"))))))
    cited_volume, cited_issue, cited_pages = layout_citation(soup, year, volume)
    volume = volume or pick("volume", ("layout", cited_volume))
    issue = issue or pick("issue", ("layout", cited_issue))
    pages = pages or pick("pages", ("layout", cited_pages))
    issn = pick("issn", ("meta", first(tags, "citation_issn", "prism.issn")),
                ("dspace", first(table, "dc.identifier.issn")), ("jsonld", ld_text(ld_part(ld, "issn"))))
    language = pick("language", ("meta", first(tags, "citation_language", "dc.language")),
                    ("dspace", first(table, "dc.language.iso", "dc.language")),
                    ("jsonld", ld_text(ld.get("inLanguage"))), ("state", article.get("language")))
    keywords = pick("keywords", ("meta", keywords_of(values(tags, "citation_keywords"))),
                    ("meta", keywords_of(values(tags, "dc.subject"))),
                    ("dspace", keywords_of(values(table, "dc.subject"))),
                    ("jsonld", keywords_of([k if ";" in k else k.replace(",", ";")
                                            for k in as_list(ld.get("keywords")) if isinstance(k, str)])),
                    ("layout", layout_keywords(soup))) or []
    abstract_layout, copyright_ = layout_abstract(soup)
    abstract = pick("abstract", ("meta", first(tags, "citation_abstract", "dc.description.abstract", "dc.description")),
                    ("dspace", first(table, "dc.description.abstract")), ("jsonld", ld_text(ld.get("abstract"))),
                    ("layout", abstract_layout))
    if layers.get("abstract") != "layout":
        copyright_ = None

    written, affiliations = layout_authors(soup), layout_affiliations(soup) or marked_affiliations(soup)
    layout, missing = marked_authors(written, affiliations)
    options = [("meta", tag_authors(tags)), ("dspace", table_authors(table)), ("jsonld", ld_authors(ld)),
               ("state", state_authors(state)), ("layout", layout)]
    layer, names = next(((layer, found) for layer, found in options if found), (None, []))
    if layer == "layout" and missing:
        name, marks = next(iter(missing.items()))
        raise ParseError(f"author {name} names affiliation(s) {marks}, which the page does not list",
                         source=SOURCE, origin=url, raw=html)
    if layer and not any(a["affiliations"] for a in names):
        # Affiliations from a later layer that lists the same people: the layout's numbers for
        # authors the meta tags name, JSON-LD's affiliations for names in citation_author tags.
        for other, found in options:
            if other != layer and (other != "layout" or not missing) and any(a["affiliations"] for a in found) \
                    and same_people(names, found):
                for author, match in zip(names, found):
                    author["affiliations"] = match["affiliations"]
                    author["orcid"] = author["orcid"] or match["orcid"]
                layer = f"{layer}+{other}"
                break
        else:
            if len(names) == 1 and len(affiliations) == 1 and len(written) <= 1:
                # One author and one affiliation on the page, which needs no numbers to be his.
                names[0]["affiliations"] = list(affiliations.values())
                layer = f"{layer}+layout" if layer != "layout" else layer
    if layer:
        layers["authors"] = layer
    if any(a["affiliations"] for a in names):
        layers["affiliations"] = layer.rsplit("+", 1)[-1]
    if not title and not names:
        raise ParseError("not a record page: no title and no authors", source=SOURCE, origin=url, raw=html)
    if not title:
        raise ParseError("record page without a title", source=SOURCE, origin=url, raw=html)
    if not names:
        raise ParseError("record page without authors", source=SOURCE, origin=url, raw=html)
    authors = []
    for position, author in enumerate(names, 1):
        last, initials, fore = parse_name(author["name"])
        authors.append(new_author(position, written_name=author["name"], last_name=last, fore_name=fore,
                                  initials=initials, orcid=author["orcid"],
                                  affiliations=[{"name": text, "identifiers": {}} for text in author["affiliations"]]))
    record = new_work(source_id=url, doi=doi, pmid=pmid, pmcid=pmcid, title=title, abstract=abstract, year=year, pub_date=date,
                      journal=journal, volume=volume, issue=issue, pages=pages, issn=issn, language=language,
                      keywords=keywords, authors=authors, copyright=copyright_, layers=layers)
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
    """Fetches record pages politely: same host only (redirects too), robots.txt honoured (its
    Crawl-delay too, and for where a redirect leads), each page once."""

    def __init__(self, client=None, email=None):
        self.client = client or Client(SOURCE, rate_per_second=1, email=email)
        self.robots = {}
        self.unreadable = {}  # host -> why its robots.txt could not be read

    def fetch(self, url, read, allowed=None):
        """(bytes, read(bytes)) of the page at `url`. A page `read` finds unusable (None), such as
        a maintenance page sent with 200, is dropped from the cache and asked for again, within
        the client's retries; the last answer is returned whatever it is. allowed(url): why a
        redirect may not be followed there, or None."""
        for _ in range(self.client.max_retries + 1):
            data = (response := self.client.get(url, allowed=allowed)).content
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
        if why := not_fetched(start):
            raise HarvestError(f"{start} is {why}; not fetched")
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
                data, page = self.fetch(url, lambda data: record_page(data, url), allowed=self.forbidden)
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
