"""Affiliation strings into department, institution, city and country: pure functions.

"Department of Hematology, Faculty of Medical Sciences, Tarbiat Modares University,
Tehran, Iran" is read right to left: the country is looked up in pycountry, the city is
the place between the institution and the country, the institution is the segment that
names an organisation (a university before a hospital before an institute or centre),
and the department is the first segment, when it comes before the institution.
"""

import functools
import re
from dataclasses import dataclass

import pycountry
from anyascii import anyascii

from .names import ascii_fold

# Country spellings affiliations use that pycountry's names, codes and official names miss.
COUNTRY_ALIASES = {"uk": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
                   "korea": "KR", "republic of korea": "KR", "south korea": "KR", "pr china": "CN",
                   "p.r. china": "CN", "people's republic of china": "CN", "taiwan": "TW", "u.s.a.": "US",
                   "the netherlands": "NL", "russia": "RU", "iran": "IR", "vietnam": "VN", "turkey": "TR",
                   "czech republic": "CZ", "the united kingdom": "GB", "united states of america": "US"}
# Words that make a segment an organisation, strongest first: a university outranks the
# hospital or research centre inside it. Each tier lists translations too.
ORGANISATION_TIERS = (
    ("university", "universidad", "universite", "universitat", "universita", "universidade", "universiteit",
     "uniwersytet", "univ"),
    ("hospital", "hopital", "ospedale", "klinikum", "clinic", "clinica", "clinique", "infirmary",
     "medical center", "medical centre", "health system", "healthcare"),
    ("institute", "institut", "instituto", "istituto", "academy", "college", "school", "foundation",
     "council", "agency", "ministry", "company", "corporation", "inc", "ltd", "gmbh", "laboratories",
     "center", "centre", "centro", "zentrum", "research"),
)
TIER_PATTERNS = [re.compile(r"\b(" + "|".join(keywords) + r")\b") for keywords in ORGANISATION_TIERS]
DEPARTMENT_PATTERN = re.compile(r"(department|dept|division|faculty|school of|laboratory|lab|unit|section|program"
                                r"|service|group|chair)\b|.*\b(research (center|centre)|department)\b")
# ROR's organisation types, by the first keyword found in the institution's name.
TYPES = (("healthcare", r"hospital|hopital|ospedale|klinikum|clinic\w*|infirmary|medical cent(er|re)|health"),
         ("education", r"universit\w*|univ|college|school|academy"),
         ("company", r"inc|ltd|gmbh|company|corporation|pharmaceuticals?|biotech\w*"),
         ("government", r"ministry|agency|council|national institutes? of"),
         ("nonprofit", r"foundation|society|association"))
STREET = re.compile(r"\b(street|st|avenue|ave|road|rd|boulevard|blvd|box|floor|building|bldg|suite)\b", re.I)
ABBREVIATIONS = {"univ": "university", "med": "medical", "sci": "sciences", "science": "sciences",
                 "hosp": "hospital", "inst": "institute", "ctr": "center", "cntr": "center", "centre": "center",
                 "natl": "national", "coll": "college", "acad": "academy", "res": "research", "st": "saint",
                 "universidad": "university", "universite": "university", "universitat": "university",
                 "universitaet": "university", "universita": "university", "universidade": "university",
                 "universiteit": "university", "uniwersytet": "university", "hopital": "hospital",
                 "ospedale": "hospital", "institut": "institute", "instituto": "institute",
                 "istituto": "institute", "centro": "center", "zentrum": "center", "tech": "technology"}
NAME_STOPWORDS = {"of", "the", "and", "for", "de", "di", "der", "des", "la", "le", "du", "y", "e", "da", "do",
                  "del", "degli", "della", "fur", "at", "in"}
US_STATE = re.compile(r"^[A-Z]{2}$")
ACRONYM = re.compile(r"^[A-Z][A-Z&]{2,7}$")
EMAIL_TAIL = re.compile(r"\s*(electronic address:?\s*)?\S+@\S+.*$|\s*electronic address:?\s*$", re.I)


@dataclass(frozen=True)
class Affiliation:
    text: str  # the affiliation as cleaned: no e-mail, no "Electronic address:"
    department: str | None
    institution: str | None
    city: str | None
    country: str | None  # ISO 3166-1 alpha-2
    type: str | None  # education, healthcare or facility (ROR's types)


def clean(text):
    """Without e-mail addresses and 'Electronic address:' tails, spaces collapsed."""
    text = " ".join((text or "").split())
    text = EMAIL_TAIL.sub("", text)
    return text.strip(" .;,")


@functools.lru_cache(maxsize=200_000)
def split_affiliations(text):
    """The affiliations in one source string: 'A, Tehran, Iran; B, Isfahan, Iran' holds two.

    A part after a semicolon counts as an affiliation of its own only if it names an
    organisation or a country; otherwise the semicolon was punctuation inside one."""
    parts = [clean(part) for part in re.split(r";\s*|\s+and\s+(?=(?:the\s+)?department\b)", text or "", flags=re.I)]
    parts = [part for part in parts if part]
    if len(parts) > 1 and all(tier_of(part) is not None or country_of(part) for part in parts):
        return tuple(parts)
    cleaned = clean(text)
    return (cleaned,) if cleaned else ()


def country_of(text):
    """ISO 3166 alpha-2 code of the country an affiliation string ends with, or None."""
    text = clean(text)
    for part in reversed([p.strip(" .;") for p in text.split(",")][-3:]):
        part = re.sub(r"\b\d{3,}(-\d+)?\b", "", part).strip(" .")
        code = country_code(part)
        if code:
            return code
    return None


@functools.lru_cache(maxsize=50_000)
def country_code(part):
    if not part:
        return None
    alias = COUNTRY_ALIASES.get(part.lower())
    if alias:
        return alias
    if len(part) == 2 and part.isupper() and part not in ("UK",):
        return None  # a US state (MA, CA) is not a country code here
    try:
        return pycountry.countries.lookup(part).alpha_2
    except LookupError:
        return None


def tier_of(segment):
    """0 for a university, 1 for a hospital, 2 for an organisation known by its acronym
    alone (EPFL, MIT), 3 for another organisation, None for none."""
    words = ascii_fold(segment)
    for tier, pattern in enumerate(TIER_PATTERNS):
        if pattern.search(words):
            return tier if tier < 2 else 3
    if ACRONYM.match(segment.strip()):
        return 2
    return None


def is_department(segment):
    """Does the segment name a unit inside an organisation (department, division, lab, ...)?"""
    return bool(DEPARTMENT_PATTERN.match(ascii_fold(segment)))


@functools.lru_cache(maxsize=200_000)
def parse(text):
    """An Affiliation from one affiliation string (cached: a KB repeats a lab's string on
    every paper, and parsing it is most of what loading an author costs)."""
    text = clean(text)
    segments = [segment.strip(" .") for segment in text.split(",") if segment.strip(" .")]
    country, end = None, len(segments)
    for i in range(len(segments) - 1, max(-1, len(segments) - 3), -1):
        code = country_code(re.sub(r"\b\d{3,}(-\d+)?\b", "", segments[i]).strip(" ."))
        if code:
            country, end = code, i
            break
    body = segments[:end]
    tiers = [tier_of(segment) for segment in body]
    ranked = [(tier, i) for i, tier in enumerate(tiers) if tier is not None
              and not (is_department(body[i]) and any(t is not None and t <= tier for t in tiers[i + 1:]))]
    if ranked:
        # The first university or hospital; of acronyms, the last (ISIC, EPFL: EPFL holds ISIC).
        tier = min(tier for tier, _ in ranked)
        at = [i for t, i in ranked if t == tier][-1 if tier == 2 else 0]
    elif body:
        tier, at = None, 0
    else:
        return Affiliation(text, None, None, None, country, None)
    if tier is None and is_department(body[0]):
        return Affiliation(text, body[0], None, city_in(body[1:]), country, None)
    department = body[0] if at > 0 else None
    return Affiliation(text, department, body[at], city_in(body[at + 1:]), country, type_of(body[at]))


def type_of(institution):
    words = ascii_fold(institution)
    for kind, pattern in TYPES:
        if re.search(rf"\b({pattern})\b", words):
            return kind
    return "facility"


def city_in(segments):
    """The place closest to the country: postal codes removed; no street, organisation or US state."""
    for segment in reversed(segments):
        place = re.sub(r"\b[A-Z]{1,2}\d[\dA-Z]?\s*\d[A-Z]{2}\b|\b([A-Z]{1,2}-)?\d[\d-]*\b", "", segment).strip(" .-")
        if place and not US_STATE.match(place) and tier_of(place) is None and not STREET.search(place) \
                and not is_department(place) and len(place.split()) <= 4:
            return place
    return None


def institution_key(name):
    """The form names of one institution share: transliterated, abbreviations expanded,
    stop words dropped, words sorted ('Univ. of Med. Sci., Shahid Beheshti' and 'Shahid
    Beheshti University of Medical Sciences' agree)."""
    # Numbers stay: Paris 5 and Paris 7 are two universities.
    words = [ABBREVIATIONS.get(word, word) for word in re.sub(r"[^a-z0-9]+", " ", anyascii(name).lower()).split()]
    return " ".join(sorted(word for word in words if word not in NAME_STOPWORDS))
