"""One row per real work, whatever the number of sources that describe it.

Records of different sources are matched by normalised identifiers first (DOI, PMID,
PMCID, OpenAlex id), then by title, year and first-author surname under a strict fuzzy
threshold. A preprint and its journal version are two works joined by `version_of`.
The work row takes each field from the best source for it (`PRECEDENCE`), keeps the
source of every value (`works.provenance`) and records disagreements (`work_conflicts`).
"""

import functools
import json
import re
import zlib

from lxml import etree
from rapidfuzz import fuzz

from harvest import crossref, europepmc, library, openalex, portal, pubmed

from .text import fold

# Titles must be equal but for a typo or a spelling variant (haemorrhage / hemorrhage).
TITLE_THRESHOLD = 98
# A researcher's own library ("library") comes last: its entries are copies of what the
# bibliographic sources say first-hand, so they fill gaps and never override.
DEFAULT_ORDER = ("pubmed", "crossref", "europepmc", "openalex", "portal", "library")
PRECEDENCE = {
    "abstract": ("pubmed", "europepmc", "openalex", "crossref"),
    "mesh": ("pubmed", "europepmc", "openalex"),
    "pub_types": ("pubmed", "europepmc", "crossref", "openalex"),
    "journal": ("crossref", "pubmed", "europepmc", "openalex"),
    "journal_iso": ("pubmed", "europepmc", "crossref", "openalex"),
    "volume": ("crossref", "pubmed", "europepmc", "openalex"),
    "issue": ("crossref", "pubmed", "europepmc", "openalex"),
    "pages": ("crossref", "pubmed", "europepmc", "openalex"),
    "issn": ("crossref", "pubmed", "europepmc", "openalex"),
    "eissn": ("crossref", "pubmed", "europepmc", "openalex"),
    "doi": ("crossref", "pubmed", "europepmc", "openalex"),
    "cited_by_count": ("openalex", "crossref", "europepmc"),
    "oa_status": ("openalex",),
    "topics": ("openalex",),
    "openalex_id": ("openalex",),
}
MERGED_FIELDS = ("pmid", "doi", "pmcid", "openalex_id", "title", "vernacular_title", "abstract", "year",
                 "pub_date", "article_date", "journal", "journal_iso", "issn", "volume", "issue", "pages",
                 "language", "languages", "pub_types", "keywords", "mesh", "authors", "grants", "registry_ids",
                 "cited_by_count", "oa_status", "topics", "copyright", "version", "pub_date_text", "eissn",
                 "investigators")
# Fields whose disagreement between sources is worth showing a researcher.
COMPARED = ("pmid", "doi", "pmcid", "title", "year", "journal", "volume", "issue", "pages")


def reparse(source, raw):
    """A stored raw record -> its record dict again (the parsers are pure, so this is exact)."""
    if source == "pubmed":
        if raw.lstrip().startswith((b"<PubmedArticle", b"<PubmedBookArticle", b"<MedlineCitation")):
            return pubmed.parse_element(etree.fromstring(raw, pubmed.SAFE_XML), "records")
        if raw.lstrip().startswith(b"<DocSum"):
            return pubmed.parse_esummary(b"<eSummaryResult>" + raw + b"</eSummaryResult>")[0]
        doc = json.loads(raw)
        return pubmed.parse_esummary(json.dumps({"result": {"uids": [doc["uid"]], doc["uid"]: doc}}).encode())[0]
    if source == "portal":
        return portal.reparse(raw)
    if source == "library":
        return library.parse_work(raw)
    if source == "europepmc" and raw.lstrip().startswith(b"<"):
        return europepmc.parse_dublin_core(etree.fromstring(raw, pubmed.SAFE_XML))
    parse = {"openalex": openalex.parse_work, "europepmc": europepmc.parse_result,
             "crossref": crossref.parse_work}[source]
    return parse(json.loads(raw))


def empty(value):
    return value is None or value == "" or value == [] or value == {}


def merge_records(records):
    """{source: record} -> (merged record, {field: source}, [(field, source, value)] conflicts)."""
    merged, provenance, conflicts = {}, {}, []
    for field in MERGED_FIELDS:
        order = PRECEDENCE.get(field, DEFAULT_ORDER)
        candidates = [s for s in order if s in records] + [s for s in records if s not in order]
        chosen = next((s for s in candidates if not empty(records[s].get(field))), None)
        merged[field] = records[chosen][field] if chosen else records[candidates[0]].get(field)
        if chosen:
            layer = records[chosen].get("layers", {}).get(field)
            provenance[field] = f"{chosen} ({layer})" if layer else chosen
        if field in COMPARED and chosen:
            for other in candidates:
                value = records[other].get(field)
                if other != chosen and not empty(value) and comparable(value) != comparable(merged[field]):
                    conflicts.append((field, other, str(value)))
    first = records[next(s for s in DEFAULT_ORDER + tuple(records) if s in records)]
    merged.update(
        source_id=first["source_id"], completeness=max(r["completeness"] for r in records.values()),
        is_retracted=any(r["is_retracted"] for r in records.values()),
        is_preprint=all(r["is_preprint"] for r in records.values()), links=[])
    return merged, provenance, conflicts


def combine(records):
    """Records of one source that describe one work (a paper's page on two portals) -> one
    record: the fullest, the first given among equals, with each field it lacks from the
    next record that has it."""
    if len(records) == 1:
        return records[0]
    records = sorted(records, key=lambda record: -record["completeness"])
    combined = {key: value for key, value in records[0].items() if key != "registry_found"}
    combined["layers"] = dict(records[0]["layers"])
    for field in MERGED_FIELDS:
        donor = next((r for r in records if not empty(r.get(field))), records[0])
        if donor is not records[0]:
            combined[field] = donor[field]
            combined["layers"].pop(field, None)
            if field in donor["layers"]:
                combined["layers"][field] = donor["layers"][field]
    return combined


def comparable(value):
    return re.sub(r"[^\w]+", " ", fold(str(value))).strip().rstrip(".")


MARKUP, NOT_WORD = re.compile(r"<[^>]+>"), re.compile(r"[^\w]+")


# A load asks for a record's title key three times (its block, its candidates, its work row):
# the last few thousand titles are kept.
@functools.lru_cache(maxsize=1 << 12)
def title_key(title):
    """A title as it is compared: folded, punctuation and markup gone, spaces collapsed."""
    return " ".join(NOT_WORD.sub(" ", fold(MARKUP.sub(" ", title or ""))).split())


def match_key(record):
    """The block a record's title is compared within: first-author surname and first title word.

    Titles equal up to the strict threshold almost always share their first word, and the
    block stays small even for the commonest surnames."""
    author = first_author_key(record)
    words = title_key(record["title"]).split()
    return f"{author}|{words[0]}" if author and words else None


def first_author_key(record):
    authors = record["authors"]
    if not authors:
        return None
    name = authors[0]["last_name"] or authors[0]["collective_name"] or ""
    return fold(name).replace(" ", "").replace("-", "") or None


def same_title(a, b):
    """(same?, score): titles equal under the strict fuzzy threshold."""
    score = fuzz.ratio(title_key(a), title_key(b))
    return score >= TITLE_THRESHOLD, score


def languages_read_again(db):
    """The languages of a KB loaded before they were kept: a work's one language, and every
    language of its PubMed record where that lists several (PubMed comes first for a work's
    language, `DEFAULT_ORDER`; the fullest record last, so its list stands)."""
    db.execute("UPDATE works SET languages = json_array(language) WHERE language IS NOT NULL")
    several = []
    for work_id, raw in db.execute("SELECT work_id, raw FROM records WHERE source = 'pubmed' AND work_id IS NOT NULL "
                                   "ORDER BY completeness, rowid"):
        raw = zlib.decompress(raw)
        # Only a record that may list two languages is parsed again: most list one.
        if raw.count(b"<Language>") > 1 or raw.count(b'Name="Lang"') > 1 or raw.lstrip().startswith(b"{"):
            languages = reparse("pubmed", raw)["languages"]
            if len(languages) > 1:
                several.append((json.dumps(languages, ensure_ascii=False), work_id))
    db.conn.executemany("UPDATE works SET languages = ? WHERE id = ?", several)


def conflicting_ids(record, row):
    """True when the record and a work row carry different values of the same identifier."""
    return any(record[key] and row[key] and record[key] != row[key] for key in ("doi", "pmid", "pmcid"))
