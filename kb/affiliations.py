"""Affiliation strings into department, institution, city and country: pure functions.

"Department of Hematology, Faculty of Medical Sciences, Tarbiat Modares University,
Tehran, Iran" is read right to left: the country is the last segment when it is a whole
country name, alias or capitalised code (`places.country_code`); the city is the place
between the institution and the country that the gazetteer knows as a city of that
country and not as a state or province (`places`); the institution is the segment that
names an organisation (a university before a hospital before an institute or centre),
and the department is the first segment, when it comes before the institution.
"""

import functools
import re
from dataclasses import dataclass

from anyascii import anyascii

from harvest import places
from harvest.records import ascii_fold

# Words that make a segment an organisation, strongest first: a university outranks the
# hospital or research centre inside it. Each tier lists translations too.
ORGANISATION_TIERS = (
    ("university", "universidad", "universite", "universitat", "universita", "universidade", "universiteit",
     "uniwersytet", "univ", "universitatsmedizin"),
    ("hospital", "hopital", "ospedale", "klinikum", "klinik", "universitatsklinik", "universitatsklinikum",
     "clinic", "clinica", "clinique", "infirmary", "medical center", "medical centre", "health system",
     "healthcare"),
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
# University systems whose campuses are institutions of their own, named by their city after a
# comma ('University of California, San Francisco' is UCSF, not the system).
CAMPUS_SYSTEMS = {"university of california", "university of texas", "university of maryland",
                  "university of colorado", "university of massachusetts", "university of illinois",
                  "university of wisconsin", "university of missouri", "university of nebraska",
                  "university of north carolina", "university of alabama", "university of hawaii",
                  "university of tennessee", "university of arkansas"}
# UK and Canadian postcodes, then numbers with an optional country prefix (I-67100, SE-171 77).
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[\dA-Z]?\s*\d[A-Z]{2}\b|\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b|\b([A-Z]{1,2}-)?\d[\d-]*\b")
ACRONYM = re.compile(r"^[A-Z][A-Z&]{2,7}$")
EMAIL_TAIL = re.compile(r"\s*(electronic address:?\s*)?\S+@\S+.*$|\s*electronic address:?\s*$", re.I)
# The authors' initials a journal puts after each place: 'Gothenburg, Sweden (C.K., C.J., S.I.)'.
INITIALS = re.compile(r"\s*\([A-Z]\.[-A-Z.]*(?:,\s*[A-Z]\.[-A-Z.]*)*\)")
# Those initials end each place of a list: 'Hamilton, ON (P.M.O.), and the Institute ...,
# Vancouver (J.M.F.) - both in Canada' (NEJM) holds two, joined by ', and'.
AFTER_INITIALS = re.compile(r"^[\s,]*(?:and\s+)?")
# A segment's break: a comma, or the ' - both in' before the place such a list shares.
SEGMENT_BREAK = re.compile(r",|\s+-\s+(?:both|all)\s+in\s+(?:the\s+)?", re.I)
# Where 'Department of A, X and Department of B, Y' may hold two affiliations.
AND_DEPARTMENT = re.compile(r"\s+and\s+(?=(?:the\s+)?department\b)", re.I)
# Strings the parse caches keep. Loading caches each whole string's rows (load.py), so these
# catch only a part repeated in other strings: a load of 50,000 distinct strings hit them not
# once, and an entry of the two costs about 470 bytes (93 MB when each kept 200,000).
CACHED = 1 << 12


@dataclass(frozen=True)
class Affiliation:
    text: str  # the affiliation as cleaned: no e-mail, no "Electronic address:"
    department: str | None
    institution: str | None
    city: str | None
    country: str | None  # ISO 3166-1 alpha-2
    type: str | None  # education, healthcare or facility (ROR's types)


def clean(text):
    """Without e-mail addresses, 'Electronic address:' tails and authors' initials, spaces collapsed."""
    text = " ".join((text or "").split())
    text = INITIALS.sub("", EMAIL_TAIL.sub("", text))
    return text.strip(" .;,")


@functools.lru_cache(maxsize=CACHED)
def split_affiliations(text):
    """The affiliations in one source string: 'A, Tehran, Iran; B, Isfahan, Iran' holds two.

    A part after a semicolon counts as an affiliation of its own only if it names an
    organisation or a country; otherwise the semicolon was punctuation inside one. 'A and
    Department of B, C' is two only if each side names its organisation after its unit
    ('Department of A, X Hospital and Department of B, Y University'): in 'Department of
    Neurology and Department of Neurosurgery, X University' or 'Stroke Center and Department
    of Neurology, X Hospital' both units are X's, and splitting would make the first an institution."""
    parts = []
    for part in re.split(r";\s*", text or ""):
        for place in places_of(part):
            sides = [clean(side) for side in AND_DEPARTMENT.split(place)]
            parts.extend(sides if len(sides) > 1 and all(map(names_its_organisation, sides)) else [clean(place)])
    parts = [part for part in parts if part]
    if len(parts) > 1 and all(tier_of(part) is not None or country_of(part) for part in parts):
        return tuple(parts)
    cleaned = clean(text)
    return (cleaned,) if cleaned else ()


def places_of(part):
    """A part cut after each set of authors' initials, when every piece names an organisation
    or a country: 'McMaster University, Hamilton, ON (P.M.O.), and the Institute for Heart and
    Lung Health, University of British Columbia, Vancouver (J.M.F.) - both in Canada' is two
    (the tail that names their country stays with the last)."""
    pieces = [AFTER_INITIALS.sub("", piece) for piece in INITIALS.split(part)]
    pieces = [piece for piece in pieces[:-1] if piece.strip(" .,")] + [pieces[-1]]
    if len(pieces) > 1 and not pieces[-1][:1].isalpha():  # ' - both in Canada' ends the one before
        pieces[-2:] = [f"{pieces[-2]} {pieces[-1]}"]
    if len(pieces) > 1 and all(tier_of(clean(piece)) is not None or country_of(piece) for piece in pieces):
        return pieces
    return [part]


def names_its_organisation(text):
    """Does a segment after the first name an organisation other than a unit of one?"""
    return any(tier_of(segment) is not None and not is_department(segment) for segment in text.split(",")[1:])


def country_of(text):
    """ISO 3166 alpha-2 code of the country an affiliation string ends with, or None."""
    return country_at_end([segment.strip(" .") for segment in clean(text).split(",")])[0]


def place_name(segment):
    """A segment without its postcodes: 'Tehran 1985717443' is Tehran, 'MA 02115' is MA."""
    return POSTCODE.sub("", segment).strip(" .-")


def country_at_end(segments):
    """(country code, index of its segment) of the last segment, or of the one before a
    segment that is only a postcode; (None, len(segments)) when neither names a country.
    'Seoul, Korea, Republic of' ends with a country name that holds a comma."""
    last = len(segments) - 1
    if last >= 1 and re.search(r"\bof( the)?$", segments[last], re.I):
        code = places.country_code(f"{place_name(segments[last - 1])}, {place_name(segments[last])}")
        if code:
            return code, last - 1
    for i in (last, last - 1):
        if i < 0:
            break
        name = place_name(segments[i])
        code = places.country_code(name)
        if code:
            return code, i
        if name:
            break
    return None, len(segments)


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


@functools.lru_cache(maxsize=CACHED)
def parse(text):
    """An Affiliation from one affiliation string."""
    text = clean(text)
    segments = [segment.strip(" .") for segment in SEGMENT_BREAK.split(text) if segment.strip(" .")]
    country, end = country_at_end(segments)
    # 'Decatur, Georgia' names the US state, not the country.
    if country and (state_of := region_country(segments[:end + 1])) not in (None, country):
        country, end = state_of, len(segments)
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
    country = country or region_country(body[at + 1:])
    if tier is None and is_department(body[0]):
        return Affiliation(text, body[0], None, city_in(body[1:], country), country, None)
    department = body[0] if at > 0 else None
    institution = body[at]
    if ascii_fold(institution).removeprefix("the ") in CAMPUS_SYSTEMS and at + 1 < len(body) \
            and places.city(place_name(body[at + 1]), country):
        institution = f"{institution}, {body[at + 1]}"
    return Affiliation(text, department, institution, city_in(body[at + 1:], country), country, type_of(institution))


def region_country(segments):
    """The one country whose state or province ends the segments, after a city of that
    country (of that state, in the US): 'Athens, GA' and 'Decatur, Georgia' are in the US,
    'Hamilton, ON' in Canada, addresses that often stop at that. Else None."""
    region = place_name(segments[-1]) if len(segments) >= 2 else ""
    countries = places.region_countries(region) if region else ()
    if not countries:
        return None
    state = places.us_state(region)
    found = {country for country in countries if any(
        places.city(place_name(segment), country, state if country == "US" else None) for segment in segments[:-1])}
    return found.pop() if len(found) == 1 else None


def type_of(institution):
    words = ascii_fold(institution)
    for kind, pattern in TYPES:
        if re.search(rf"\b({pattern})\b", words):
            return kind
    return "facility"


def city_in(segments, country=None):
    """The city among the place segments after the institution, nearest the country first:
    one the gazetteer knows in that country and not as a state or province ('Pittsburgh,
    Pennsylvania'), else one that is both (Tehran, New York), else the nearest segment that
    looks like a place and is no region: a town too small for the gazetteer. With no
    country, only a city the gazetteer knows counts ('Nic', cut from a longer word, is none)."""
    names = [name for name in (place_name(segment) for segment in reversed(segments)) if name]
    found = [(name, places.city(name, country)) for name in names if country or looks_like_place(name)]
    for name, known in found:
        if known and not places.is_region(name, country):
            return name
    for name, known in found:
        if known:
            return name
    if country:
        for name in names:
            if looks_like_place(name) and not places.is_region(name, country):
                return name
    return None


def looks_like_place(name):
    """No street, organisation or department; capitalised ('and' left by a cut string is no town)."""
    return not name[0].islower() and tier_of(name) is None and not STREET.search(name) and not is_department(name) \
        and len(name.split()) <= 4


def institution_key(name):
    """The form names of one institution share: transliterated, abbreviations expanded,
    stop words dropped, words sorted ('Univ. of Med. Sci., Shahid Beheshti' and 'Shahid
    Beheshti University of Medical Sciences' agree)."""
    # Numbers stay: Paris 5 and Paris 7 are two universities.
    words = [ABBREVIATIONS.get(word, word) for word in re.sub(r"[^a-z0-9]+", " ", anyascii(name).lower()).split()]
    return " ".join(sorted(word for word in words if word not in NAME_STOPWORDS))
