"""A researcher's own reference library: BibTeX and BibLaTeX, RIS, CSL-JSON (Zotero's,
citeproc's and our own export), Zotero's API JSON and EndNote XML, sniffed from content.

Each entry becomes a work record of source `library` whose source_id is the file's name and
the entry's key ("my.bib#smith2020"); its raw record is the entry as the parser read it, so
`parse_raw` rebuilds the record exactly. A broken entry is a ParseError naming the file and
line, and the rest of the file loads. What a work row has no column for (ISBN, URLs, notes,
attachments' file names) is returned beside the records as `meta["entries"]` rows.

Names are kept as written (Persian zero-width non-joiners included); the directional marks
(RLM, LRM, embeddings, isolates) are dropped from the name parts people are matched by. A year
before 1600 is a Hijri year: converted to the Gregorian year it starts in, and kept as written
in pub_date_text with its calendar.
"""

import json
import logging
import os
import re

import bibtexparser
import rispy
from bibtexparser.middlewares.names import parse_single_name_into_parts
from lxml import etree
from pylatexenc.latex2text import LatexNodes2Text

from . import registries
from .errors import ParseError, payload_guarded
from .records import DOI_IN_TEXT, SUMMARY, initials_of, new_author, new_work, normalize_pmcid

SOURCE = "library"
FORMATS = ("bibtex", "ris", "csljson", "zotero", "endnote")
DIRECTIONAL = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
# Letters Persian writes and Arabic does not (peh, tcheh, jeh, gaf, Farsi yeh, keheh).
PERSIAN_LETTERS = re.compile("[\u067e\u0686\u0698\u06af\u06cc\u06a9]")
# Words that make a name written without a comma a body's, not a person's ("World Health Organization").
GROUP_WORDS = re.compile(r"\b(group|organi[sz]ation|consortium|committee|society|association|institute|"
                         r"investigators|collaborat\w*|network|council|trialists|study|foundation|agency|"
                         r"ministry|university|centre|center|working party|task force)\b", re.I)
PMID_IN_TEXT = re.compile(r"\bPMID:?\s*(\d{1,9})\b|pubmed\.ncbi\.nlm\.nih\.gov/(\d{1,9})"
                          r"|ncbi\.nlm\.nih\.gov/pubmed/(\d{1,9})", re.I)
PMCID_IN_TEXT = re.compile(r"\bPMC\d{3,9}\b")
LATEX = LatexNodes2Text()
# A formula: $ next to its first and last character ('$^+$'), as a $ that is money never is.
MATH = re.compile(r"((?<!\\)\$(?=\S)[^$]*?(?<=[^\s\\])\$)")
# bibtexparser logs each broken block with a 0-based line; the quarantine names it 1-based instead.
logging.getLogger("bibtexparser").setLevel(logging.ERROR)


def sniff(head):
    """The library format of a file from its first bytes, or None."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return "endnote" if re.search(rb"<records?\b", head) else None
    if text.startswith((b"[", b"{")):
        return "zotero" if re.search(rb'"(itemType|creators)"\s*:', head) else "csljson"
    if re.search(rb"^TY  - ", head, re.M):
        return "ris"
    if re.search(rb"^\s*@\w+\s*[{(]", head, re.M):
        return "bibtex"
    return None


@payload_guarded(SOURCE)
def parse_payload(data, origin):
    """Every entry of a library file: (records or ParseErrors, {"format", "entries"}).

    `entries` holds, per loaded record, what the work row has no place for."""
    data = utf8(data)
    kind = sniff(data[:65536])
    if kind is None:
        return [ParseError("not a BibTeX, RIS, CSL-JSON, Zotero JSON or EndNote XML file", source=SOURCE,
                           origin=origin, raw=data[:65536], fatal=True)], {}
    name = os.path.basename(origin)
    items, entries = [], []
    for raw in SPLITTERS[kind](data, name):
        try:
            record, extras = parse_raw(raw)
        except Exception as error:  # noqa: BLE001 - one entry's fault is that entry's
            entry = json.loads(raw)
            items.append(ParseError(f"cannot parse entry: {error}"[:500], source=SOURCE,
                                    origin=origin, record_id=f"{name} {entry['at']}", raw=entry["text"].encode()))
            continue
        record["raw"] = raw
        items.append(record)
        entries.append({"source_id": record["source_id"], "format": kind, "origin": origin, **extras})
    return items, {"format": kind, "entries": entries}


def utf8(data):
    """A file's bytes as UTF-8: UTF-16 (the 'Unicode' of EndNote and other Windows tools) and
    Windows-1252 (older BibTeX files) are read as what they are."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16").encode()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace").encode()
    return data


def raw_entry(kind, name, at, key, entry, text, failed=None):
    """An entry as stored: what parse_raw needs, where it is in its file ("line 12", "item 3" of a
    JSON list) and the text it came from (for the quarantine)."""
    return json.dumps({"format": kind, "file": name, "at": at, "key": key, "entry": entry, "text": text,
                       **({"failed": failed} if failed else {})}, ensure_ascii=False).encode()


def parse_raw(raw):
    """A stored raw entry -> (work record, extras), purely."""
    stored = json.loads(raw)
    if stored.get("failed"):
        raise ValueError(stored["failed"])
    key = stored["key"] or stored["at"].replace(" ", "")
    return build(f"{stored['file']}#{key}", PARSERS[stored["format"]](stored["entry"]))


def parse_work(raw):
    """A stored raw entry -> its work record (for kb.merge.reparse)."""
    record, _ = parse_raw(raw)
    record["raw"] = raw
    return record


# --- splitting a file into entries, each with its line ---------------------------------------

def split_bibtex(data, name):
    text = data.decode("utf-8-sig", "replace")
    library = bibtexparser.parse_string(text)
    for entry in library.entries:
        fields = {field.key.lower(): field.value for field in entry.fields}
        yield raw_entry("bibtex", name, f"line {entry.start_line + 1}", entry.key,
                        {"type": entry.entry_type.lower(), "fields": fields}, entry.raw)
    for block in library.failed_blocks:
        yield raw_entry("bibtex", name, f"line {block.start_line + 1}", None, None, block.raw,
                        failed="not a complete entry (unbalanced braces or quotes, or a field without a value)")


def split_ris(data, name):
    lines = data.decode("utf-8-sig", "replace").splitlines()
    start = None
    for number, line in enumerate(lines + ["TY  - "], 1):
        if line.startswith("TY  -") or number == len(lines) + 1:
            if start is not None:  # an entry whose ER line is missing ends where the next begins
                yield ris_entry(lines[start - 1:number - 1], name, start)
            start = number if number <= len(lines) else None
        elif line.startswith("ER  -") and start is not None:
            yield ris_entry(lines[start - 1:number], name, start)
            start = None


def ris_entry(lines, name, line):
    text = "\n".join(lines)
    block = text if lines[-1].startswith("ER  -") else text + "\nER  - "
    try:
        [entry] = rispy.loads(block, mapping={tag: tag for tag in rispy.TAG_KEY_MAPPING}, list_tags=RIS_LIST_TAGS)
    except Exception as error:  # noqa: BLE001 - rispy's complaint about this entry alone
        return raw_entry("ris", name, f"line {line}", None, None, text, failed=f"not a RIS entry: {error}")
    return raw_entry("ris", name, f"line {line}", entry.get("ID") or None, entry, text)


RIS_LIST_TAGS = ["A1", "A2", "A3", "A4", "AU", "KW", "N1", "UR", "L1", "L2", "L4", "SN", "C1"]


def split_json(data, name):
    items = json.loads(data.decode("utf-8-sig"))
    if isinstance(items, dict):  # one item, or a Zotero API answer of items
        items = items.get("items", [items]) if isinstance(items.get("items"), list) else [items]
    kind = "zotero" if sniff(data[:65536]) == "zotero" else "csljson"
    for number, item in enumerate(items, 1):
        data_part = item.get("data", item) if isinstance(item, dict) else {}
        key = data_part.get("key") or data_part.get("id") if isinstance(data_part, dict) else None
        yield raw_entry(kind, name, f"item {number}", str(key) if key else None, item,
                        json.dumps(item, ensure_ascii=False)[:65536])


def split_endnote(data, name):
    from .pubmed import SAFE_XML

    root = etree.fromstring(data, SAFE_XML)
    for record in root.iter("record"):
        number = record.findtext("rec-number")
        yield raw_entry("endnote", name, f"line {record.sourceline}", number.strip() if number else None,
                        etree.tostring(record, encoding="unicode"), etree.tostring(record, encoding="unicode"))


SPLITTERS = {"bibtex": split_bibtex, "ris": split_ris, "csljson": split_json, "zotero": split_json,
             "endnote": split_endnote}


# --- each format's fields -> one common shape -------------------------------------------------

def latex(value):
    """LaTeX accents and commands as Unicode text ({\\'e} -> é, \\textit{x} -> x, \\% -> %)."""
    value = str(value or "")
    if "\\" in value or "{" in value or "$" in value or "~" in value:
        # A bare % or & in a field means the character (LaTeX would read a comment, an
        # alignment tab), and so does a $ that opens no formula.
        value = re.sub(r"(?<!\\)([%&])", r"\\\1", value)
        value = "".join(part if MATH.fullmatch(part) else re.sub(r"(?<!\\)\$", r"\\$", part)
                        for part in MATH.split(value))
        value = LATEX.latex_to_text(value)
    return " ".join(value.split()) or None


def bibtex_names(value):
    """BibTeX's 'A and B and {Body}' -> names; an empty slot ('and }') and 'others' are left out,
    a name wholly in braces is a body's."""
    names, depth, current = [], 0, ""
    for token in re.split(r"(\s+and\s+|[{}])", f" {value} ", flags=re.I):
        if token == "{":
            depth += 1
        elif token == "}":
            depth = max(depth - 1, 0)
        if depth == 0 and token and token.strip().lower() == "and":
            names.append(current)
            current = ""
        else:
            current += token
    names.append(current)
    people = []
    for name in (n.strip() for n in names):
        if not name or name.lower() in ("others", "et al."):
            continue
        if name.startswith("{") and name.endswith("}") and balanced(name[1:-1]):
            people.append({"collective": latex(name[1:-1])})
            continue
        parts = parse_single_name_into_parts(name, strict=False)
        people.append({"last": latex(" ".join(parts.von + parts.last)), "first": latex(" ".join(parts.first)),
                       "suffix": latex(" ".join(parts.jr)), "written": latex(name)})
    return people


def balanced(text):
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def written_names(values):
    """'Last, First' as RIS and EndNote write names; a comma-less name is a body's when it
    says so (GROUP_WORDS), else a surname alone ('van der Aa'); empty slots are left out."""
    people = []
    for value in values:
        written = " ".join((value or "").split())
        name = written.replace("\u060c", ",")  # the Arabic comma too
        if not DIRECTIONAL.sub("", name).strip(" ,.") or name.lower() in ("others", "et al.", "et al"):
            continue
        if "," in name:
            last, first, *rest = [part.strip() for part in name.split(",")]
            people.append({"last": last, "first": (rest[-1] if rest else first) or None,
                           "suffix": first if rest else None, "written": written})
        else:  # RIS and EndNote write a person 'Last, First': without a comma, a body or a surname alone
            people.append({"collective": name} if GROUP_WORDS.search(name) else {"last": name, "written": written})
    return people


def verbatim(value):
    """An identifier or path field with BibTeX's escapes undone ('ijpvm\\_441' -> 'ijpvm_441');
    no other LaTeX is read in it."""
    return re.sub(r"\\([{}%&$#_~])", r"\1", value) if value else value


def bibtex_fields(entry):
    f = {key: verbatim(value) if key in VERBATIM else value for key, value in entry["fields"].items()}
    date = f.get("date") or ""
    return {
        "type": entry["type"], "title": latex(f.get("title")), "authors": bibtex_names(f.get("author", "")),
        "journal": latex(f.get("journal") or f.get("journaltitle") or f.get("booktitle")),
        "journal_iso": latex(f.get("shortjournal")),
        "year": f.get("year") or date[:4] or None, "month": f.get("month") or (date[5:7] if len(date) >= 7 else None),
        "day": date[8:10] if len(date) >= 10 else None,
        "volume": latex(f.get("volume")), "issue": latex(f.get("number") or f.get("issue")),
        "pages": latex((f.get("pages") or "").replace("--", "-")), "doi": f.get("doi"), "pmid": f.get("pmid"),
        "pmcid": f.get("pmcid"), "issn": f.get("issn"), "isbn": f.get("isbn"), "abstract": latex(f.get("abstract")),
        "language": latex(f.get("language") or f.get("langid")),
        "keywords": [latex(k) for k in re.split(r"[;,]", f.get("keywords") or f.get("keyword") or "") if k.strip()],
        "notes": [latex(f[k]) for k in ("note", "annote", "annotation", "addendum") if f.get(k)],
        "urls": [f["url"]] if f.get("url") else [],
        "attachments": attachment_names(re.split(r";(?=[^;]*:)", f.get("file") or "") if f.get("file") else []),
        "eprint": f.get("eprint") if (f.get("eprinttype") or "").lower() == "pubmed" else None,
    }


VERBATIM = ("doi", "url", "file", "isbn", "issn", "pmid", "pmcid", "eprint")


def attachment_names(values):
    """Attachments' file names: 'Full Text PDF:files/12/x.pdf:application/pdf' (Zotero's BibTeX),
    'file:///C:/papers/x.pdf', 'internal-pdf://0123/x.pdf' -> 'x.pdf'."""
    names = []
    for value in values:
        value = value.strip()
        parts = value.split(":")
        if len(parts) >= 3 and "/" in parts[-1] and not value.startswith(("file:", "internal-pdf:", "http")):
            value = parts[-2]
        elif len(parts) == 3:
            value = parts[1]
        name = re.split(r"[\\/]", value.rstrip("/\\"))[-1]
        if name:
            names.append(name)
    return names


def ris_fields(entry):
    def one(*tags):
        for tag in tags:
            value = entry.get(tag)
            if isinstance(value, list):
                value = next((v for v in value if v and v.strip()), None)
            if value and value.strip():
                return value.strip()
        return None

    def every(*tags):
        return [v for tag in tags for v in (entry.get(tag) if isinstance(entry.get(tag), list)
                                            else [entry.get(tag)]) if v and v.strip()]

    date = one("PY", "Y1", "DA") or ""
    year, month, day = (re.split(r"[/-]", date) + ["", "", ""])[:3]
    first, last = one("SP"), one("EP")
    issn, isbn = serial_numbers(every("SN"))
    says_pubmed = re.search(r"pubmed|medline|nlm", " ".join(every("DB", "DP")), re.I)
    return {
        "type": one("TY"), "title": one("TI", "T1", "CT", "BT"), "authors": written_names(
            entry.get("AU") or entry.get("A1") or []),
        "journal": one("JF", "JO", "T2"),
        "journal_iso": one("JA", "J2"), "year": year, "month": month, "day": day,
        "volume": one("VL"), "issue": one("IS"), "pages": f"{first}-{last}" if first and last else first,
        "doi": one("DO"), "pmid": one("AN") if says_pubmed else None, "pmcid": None,
        "issn": issn, "isbn": isbn, "abstract": one("AB", "N2"), "language": one("LA"), "keywords": every("KW"),
        "notes": every("N1"), "urls": every("UR", "L2"), "attachments": attachment_names(every("L1", "L4")),
    }


def csl_fields(item):
    issued = item.get("issued") or {}
    parts = (issued.get("date-parts") or [[]])[0] if isinstance(issued, dict) else []
    raw_date = str(issued.get("raw") or issued.get("literal") or "") if isinstance(issued, dict) else str(issued)
    parts = [str(p) for p in parts if p not in (None, "")] or re.findall(r"\d+", raw_date)[:3]
    authors = []
    for person in item.get("author") or []:
        if person.get("literal"):
            authors.append({"collective": person["literal"]})
        elif person.get("family") or person.get("given"):
            family = " ".join(p for p in (person.get("non-dropping-particle"), person.get("family")) if p)
            authors.append({"last": family or person.get("given"), "first": person.get("given") if family else None,
                            "suffix": person.get("suffix")})
    note = item.get("note") or ""
    return {
        "type": item.get("type"), "title": item.get("title"), "authors": authors,
        "journal": item.get("container-title"), "journal_iso": item.get("container-title-short")
        or item.get("journalAbbreviation"), **dict(zip(("year", "month", "day"), parts + [None] * 3)),
        "volume": item.get("volume"), "issue": item.get("issue"), "pages": item.get("page"),
        "doi": item.get("DOI"), "pmid": item.get("PMID"), "pmcid": item.get("PMCID"),
        "issn": item.get("ISSN"), "isbn": item.get("ISBN"), "abstract": item.get("abstract"),
        "language": item.get("language"),
        "keywords": [k.strip() for k in re.split(r"[;,]", item.get("keyword") or "") if k.strip()],
        "notes": [note] if note else [], "urls": [item["URL"]] if item.get("URL") else [], "attachments": [],
    }


def zotero_fields(item):
    data = item.get("data", item)
    authors = []
    for creator in data.get("creators") or []:
        if creator.get("creatorType", "author") != "author":
            continue
        if creator.get("name"):
            authors.append({"collective": creator["name"]})
        elif creator.get("lastName") or creator.get("firstName"):
            authors.append({"last": creator.get("lastName") or creator.get("firstName"),
                            "first": creator.get("firstName") if creator.get("lastName") else None})
    extra = data.get("extra") or ""
    return {
        "type": data.get("itemType"), "title": data.get("title"), "authors": authors,
        "journal": data.get("publicationTitle"), "journal_iso": data.get("journalAbbreviation"),
        **dict(zip(("year", "month", "day"), (re.findall(r"\d+", data.get("date") or "") + [None] * 3)[:3])),
        "volume": data.get("volume"), "issue": data.get("issue"), "pages": data.get("pages"),
        "doi": data.get("DOI"), "pmid": None, "pmcid": None, "issn": data.get("ISSN"), "isbn": data.get("ISBN"),
        "abstract": data.get("abstractNote"), "language": data.get("language"),
        "keywords": [t["tag"] for t in data.get("tags") or [] if t.get("tag")],
        "notes": [extra] if extra else [], "urls": [data["url"]] if data.get("url") else [], "attachments": [],
    }


def endnote_fields(text):
    from .pubmed import SAFE_XML

    record = etree.fromstring(text.encode(), SAFE_XML)

    def texts(path):
        return [" ".join("".join(node.itertext()).split()) for node in record.findall(path)
                if "".join(node.itertext()).strip()]

    def one(*paths):
        return next((value for path in paths for value in texts(path)), None)

    date = one("dates/year") or ""
    pub_date = one("dates/pub-dates/date") or ""
    issn, isbn = serial_numbers(texts("isbn"))
    pmcid = one("custom2")  # where EndNote's PubMed import puts the PMCID
    month = re.search(r"\b(\d{1,2})[/-]", pub_date)
    return {
        "type": record.find("ref-type").get("name") if record.find("ref-type") is not None else None,
        "title": one("titles/title"), "authors": written_names(texts("contributors/authors/author")),
        "journal": one("periodical/full-title", "titles/secondary-title", "periodical/abbr-1"),
        "journal_iso": one("periodical/abbr-1", "alt-periodical/abbr-1"),
        "year": date, "month": month.group(1) if month else None, "day": None,
        "volume": one("volume"), "issue": one("number"), "pages": one("pages"),
        "doi": one("electronic-resource-num"), "pmid": one("accession-num") if re.search(
            r"pubmed|medline|nlm", one("remote-database-name", "remote-database-provider") or "", re.I) else None,
        "pmcid": pmcid if pmcid and pmcid.upper().startswith("PMC") else None, "issn": issn, "isbn": isbn,
        "abstract": one("abstract"), "language": one("language"), "keywords": texts("keywords/keyword"),
        "notes": texts("notes") + texts("research-notes"), "urls": texts("urls/related-urls/url"),
        "attachments": attachment_names(texts("urls/pdf-urls/url")),
    }


def serial_numbers(values):
    """(ISSN, ISBN) from RIS SN or EndNote isbn values, which hold either ('2008-7802 (Print)')."""
    issn = next((m.group(0) for v in values for m in [ISSN.search(v)] if m), None)
    isbn = next((v.strip() for v in values if not ISSN.search(v) and len(re.sub(r"[^\dXx]", "", v)) in (10, 13)), None)
    return issn, isbn


ISSN = re.compile(r"\b\d{4}-\d{3}[\dXx]\b")


PARSERS = {"bibtex": bibtex_fields, "ris": ris_fields, "csljson": csl_fields, "zotero": zotero_fields,
           "endnote": endnote_fields}


# --- the common shape -> a work record --------------------------------------------------------

def build(source_id, f):
    """(work record, extras) from an entry's fields in the common shape."""
    if not f["title"]:
        raise ValueError("an entry without a title")
    text = " ".join(filter(None, [*f["notes"], *f["urls"], f.get("eprint") or ""]))
    doi = f["doi"] or next((m.group(0).rstrip(".,;)]") for m in [DOI_IN_TEXT.search(text)] if m), None)
    pmid = f["pmid"] or f.get("eprint") or next((next(g for g in m.groups() if g) for m in [PMID_IN_TEXT.search(text)]
                                                 if m), None)
    pmcid = f["pmcid"] or next((m.group(0) for m in [PMCID_IN_TEXT.search(text)] if m), None)
    language = f["language"]
    year, pub_date, pub_date_text = gregorian(f["year"], f["month"], f["day"], f["title"], language)
    authors = [author(position, person) for position, person in enumerate(f["authors"], 1)]
    registry_ids = [{"registry": registries.NAMES[scheme], "accession": accession, "found_in": "note"}
                    for scheme, accession in registries.find_in_text(" ".join(f["notes"]))]
    record = new_work(
        source_id=source_id, doi=clean(doi), pmid=clean(pmid), pmcid=normalize_pmcid(clean(pmcid)),
        title=clean(f["title"]), abstract=clean(f["abstract"]), year=year, pub_date=pub_date,
        pub_date_text=pub_date_text, journal=clean(f["journal"]), journal_iso=clean(f["journal_iso"]),
        issn=clean(f["issn"]), volume=clean(f["volume"]), issue=clean(f["issue"]), pages=clean(f["pages"]),
        language=clean(language), keywords=[k for k in map(clean, f["keywords"]) if k], authors=authors,
        registry_ids=registry_ids, completeness=SUMMARY)
    extras = {"entry_type": f["type"], "isbn": clean(f["isbn"]),
              "urls": json.dumps(f["urls"], ensure_ascii=False) if f["urls"] else None,
              "notes": "\n\n".join(f["notes"]) or None,
              "attachments": json.dumps(f["attachments"], ensure_ascii=False) if f["attachments"] else None}
    return record, extras


def clean(value):
    value = " ".join(str(value).split()) if value is not None else ""
    return value or None


def author(position, person):
    if person.get("collective"):
        return new_author(position, collective_name=clean(person["collective"]))
    last = clean(DIRECTIONAL.sub("", person.get("last") or "")) or None
    first = clean(DIRECTIONAL.sub("", person.get("first") or "")) or None
    written = clean(person.get("written")) or " ".join(p for p in (last, first) if p)
    return new_author(position, written_name=written, last_name=last, fore_name=first,
                      initials=initials_of(first), suffix=clean(person.get("suffix")))


def gregorian(year, month, day, title, language):
    """(Gregorian year, ISO date or None, the date as written with its calendar or None).

    A year before 1600 in a reference library is a Hijri one: Solar Hijri (the Persian
    calendar, whose year Y starts in March of Gregorian Y + 621) unless the entry is in
    Arabic, then Lunar Hijri (33 lunar years are 32 solar ones, counted from 622)."""
    match = re.search(r"\d{4}", DIRECTIONAL.sub("", str(year or "")).translate(DIGITS))
    if not match:
        return None, None, None
    number = int(match.group(0))
    month = month_number(month)
    day = int(day) if str(day or "").isdigit() and 1 <= int(day) <= 31 else None
    if number >= 1600:
        date = "-".join([str(number)] + [f"{part:02d}" for part in (month, day if month else None) if part])
        return number, date, None
    arabic = re.match(r"ar\b|arabic", language or "", re.I) and not PERSIAN_LETTERS.search(title or "")
    if arabic:
        return number - number // 33 + 622, None, f"{number} (Lunar Hijri)"
    # Dey 11 (month 10) is 1 January: months after it fall in the next Gregorian year.
    late = month and (month > 10 or (month == 10 and (day or 0) > 10))
    written = "/".join(str(p) for p in (number, month, day) if p)
    return number + 621 + bool(late), None, f"{written} (Solar Hijri)"


DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
MONTHS = {name: number for number, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")], 1) for name in names}


def month_number(value):
    value = str(value or "").strip().lower().rstrip(".")
    if value.isdigit():
        return int(value) if 1 <= int(value) <= 12 else None
    return MONTHS.get(value[:3] if value[:3] in MONTHS else value)
