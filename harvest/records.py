"""The record shape every publication source parses to, identifier normalisation, and the
ASCII folding names and places are compared in."""

import re

from anyascii import anyascii

from .limits import TEXT_CHARS, TITLE_CHARS, clipped

# How complete a record is: a fuller record replaces a thinner one, never the reverse.
FULL, SUMMARY = 2, 1


def new_work(**fields):
    """A work record with every key the loader reads; absent fields are empty.

    `source_id` is the record's own id at its source (a PMID, an OpenAlex W id, a DOI,
    "MED:123" for Europe PMC); it defaults to the PMID for PubMed records.
    """
    record = {
        "source_id": None, "pmid": None, "doi": None, "pmcid": None, "openalex_id": None,
        "title": None, "vernacular_title": None, "abstract": None, "year": None, "pub_date": None,
        "article_date": None, "journal": None, "journal_iso": None, "issn": None, "volume": None,
        "issue": None, "pages": None, "language": None, "languages": [], "pub_types": [], "keywords": [], "mesh": [],
        "authors": [], "grants": [], "registry_ids": [], "links": [], "is_retracted": False,
        "is_preprint": False, "cited_by_count": None, "oa_status": None, "topics": [], "copyright": None,
        "pub_date_text": None, "eissn": None, "investigators": [],
        "references": [], "layers": {}, "version": None, "completeness": FULL,
    }
    unknown = set(fields) - set(record) - {"raw"}
    if unknown:
        raise KeyError(f"unknown record fields: {sorted(unknown)}")
    record.update(fields)
    # A source gives one language or (PubMed, for an article in several) a list: `language`
    # is the first, `languages` all of them.
    if record["languages"] and not record["language"]:
        record["language"] = record["languages"][0]
    elif record["language"] and not record["languages"]:
        record["languages"] = [record["language"]]
    for field, limit in CLIPPED_FIELDS.items():
        record[field] = clipped(record[field], limit)
    record["doi"] = normalize_doi(record["doi"])
    record["pmcid"] = normalize_pmcid(record["pmcid"])
    record["pmid"] = normalize_pmid(record["pmid"])
    record["source_id"] = record["source_id"] or record["pmid"]
    return record


# What the KB indexes and compares of a work's text (harvest.limits); the raw record keeps all.
CLIPPED_FIELDS = {"title": TITLE_CHARS, "vernacular_title": TITLE_CHARS, "journal": TITLE_CHARS,
                  "abstract": TEXT_CHARS, "copyright": TITLE_CHARS}


def new_author(position, written_name=None, last_name=None, fore_name=None, initials=None, suffix=None,
               collective_name=None, orcid=None, affiliations=(), is_corresponding=None):
    """An author of a work record; affiliations are {"name", "identifiers"} dicts."""
    last_name, fore_name, collective_name = (clipped(name, TITLE_CHARS) for name in (last_name, fore_name,
                                                                                    collective_name))
    affiliations = [{**a, "name": clipped(a.get("name"), TITLE_CHARS)} for a in affiliations]
    return {"position": position, "written_name": clipped(written_name, TITLE_CHARS) or " ".join(
                p for p in (last_name, initials or fore_name) if p) or collective_name,
            "last_name": last_name, "fore_name": fore_name, "initials": initials, "suffix": suffix,
            "collective_name": collective_name, "orcid": normalize_orcid(orcid),
            "affiliations": list(affiliations), "is_corresponding": is_corresponding}


# A DOI as citations write it ("doi: 10.1097/PEP.0b013e318219352d.", "https://doi.org/10...").
DOI_IN_TEXT = re.compile(r"\b10\.\d{4,9}/[^\s\"<>]+")


def new_reference(citation=None, title=None, year=None, doi=None, pmid=None, pmcid=None, openalex_id=None):
    """One entry of a work's reference list, as its source writes it: the citation text and
    whatever identifiers it carries. A DOI written in the citation text counts as its DOI."""
    if not doi:
        # Most citations hold no "10.": the substring test spares them the pattern.
        found = DOI_IN_TEXT.search(citation) if citation and "10." in citation else None
        doi = found.group(0).rstrip(".,;)]") if found else None
    year = str(year).strip() if year else ""
    return {"citation": citation, "title": title, "year": int(year) if year.isdigit() and int(year) else None,
            "doi": normalize_doi(doi), "pmid": normalize_pmid(pmid), "pmcid": normalize_pmcid(pmcid),
            "openalex_id": openalex_key(openalex_id)}


def initials_of(fore_name):
    return "".join(part[0] for part in re.split(r"[\s.-]+", fore_name or "") if part) or None


def normalize_orcid(value):
    match = re.search(r"(\d{4}-?\d{4}-?\d{4}-?\d{3}[\dXx])", value or "")
    if not match:
        return None
    digits = match.group(1).replace("-", "").upper()
    return "-".join(digits[i:i + 4] for i in range(0, 16, 4))


DOI_PREFIX = re.compile(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", re.I)
OPENALEX_KEY = re.compile(r"[WAISPTCF]\d+", re.I)


def normalize_doi(value):
    """Lower case, no resolver prefix: 'https://doi.org/10.1073/PNAS.1' -> '10.1073/pnas.1'."""
    value = (value or "").strip()
    # Every record and reference passes here: the pattern only where a prefix can be.
    if value[:4].lower() in ("http", "doi:"):
        value = DOI_PREFIX.sub("", value)
    return value.lower() or None


def normalize_pmid(value):
    if not value:
        return None
    value = str(value).strip().rstrip("/")
    value = value.rsplit("/", 1)[-1]
    return value if value.isdigit() else None


def normalize_pmcid(value):
    if not value:
        return None
    value = str(value).strip().rstrip("/").rsplit("/", 1)[-1]
    if not value:
        return None
    value = value.upper()
    return value if value.startswith("PMC") else ("PMC" + value if value.isdigit() else None)


def openalex_key(value):
    """'https://openalex.org/W2109415576' -> 'W2109415576'."""
    if not value:
        return None
    value = str(value).strip().rstrip("/").rsplit("/", 1)[-1]
    return value.upper() if OPENALEX_KEY.fullmatch(value) else None


def ascii_fold(text):
    """Lower-case ASCII letters and spaces: any script transliterated, punctuation dropped."""
    text = anyascii(text or "").lower().replace("'", "").replace("`", "")
    return " ".join(re.sub(r"[^a-z]+", " ", text).split())
