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
# hospital or research centre inside it, a college the institute inside it ('National Heart
# and Lung Institute, Imperial College'). Each tier lists translations too.
ORGANISATION_TIERS = (
    ("university", "universidad", "universite", "universitat", "universita", "universidade", "universiteit",
     "uniwersytet", "univ", "universitatsmedizin"),
    ("hospital", "hopital", "ospedale", "klinikum", "klinik", "universitatsklinik", "universitatsklinikum",
     "clinic", "clinica", "clinique", "infirmary", "medical center", "medical centre", "health system",
     "healthcare"),
    ("college",),
    ("institute", "institut", "instituto", "istituto", "academy", "school", "foundation",
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
# One author's initials inside such a tag: 'J.-G.D.' is Jean-Guillaume Dillinger.
AUTHOR_INITIALS = re.compile(r"[A-Z]\.[-A-Z.]*")
# The words that join a journal's list of places, not a part of the first place's name: 'From
# the Firestone Institute', '; the Division of Pulmonology', '; and Woolcock Institute'. A
# capital 'The' stays: 'The Ohio State University' is the name.
LEADING_JOINS = re.compile(r"^(?:(?:From|from|and)\s+)?(?:the\s+)?")
# A segment's break: a comma, or the ' - both in' before the place such a list shares.
SEGMENT_BREAK = re.compile(r",|\s+[-–—]\s+(?:both|all)\s+in\s+(?:the\s+)?", re.I)
# That shared place ends the list: ' - both in Canada' is the place of the two places before
# it, ' - all in Boston' of every place of the list.
SHARED_TAIL = re.compile(r"\s*[-–—]\s+(both|all)\s+in\s+.*$", re.I)
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
    """Without e-mail addresses, 'Electronic address:' tails, authors' initials and the words
    that join a list of places ('From the', 'and the'), spaces collapsed."""
    text = " ".join((text or "").split())
    text = INITIALS.sub("", EMAIL_TAIL.sub("", text))
    return LEADING_JOINS.sub("", text.strip(" .;,")).strip(" .;,")


def split_affiliations(text):
    """The affiliations in one source string: 'A, Tehran, Iran; B, Isfahan, Iran' holds two
    (tagged_affiliations without the tags)."""
    return tuple(place for place, _ in tagged_affiliations(text))


@functools.lru_cache(maxsize=CACHED)
def tagged_affiliations(text):
    """(affiliation, initials of the authors the string tags it with) for each affiliation in one
    source string; the initials are letters ('PMO' for '(P.M.O.)'), () where it tags none.

    A part after a semicolon counts as an affiliation of its own only if it names an
    organisation or a country; otherwise the semicolon was punctuation inside one. 'A and
    Department of B, C' is two only if each side names its organisation after its unit
    ('Department of A, X Hospital and Department of B, Y University'): in 'Department of
    Neurology and Department of Neurosurgery, X University' or 'Stroke Center and Department
    of Neurology, X Hospital' both units are X's, and splitting would make the first an institution."""
    parts = []
    for part in re.split(r";\s*", text or ""):
        for place, tags in places_of(part):
            # Both units of 'Department of A, X Hospital and Department of B, Y University (A.B.)' are A.B.'s,
            # and both are in the place a list shares ('- both in Canada').
            tail = SHARED_TAIL.search(place)
            tail = tail.group() if tail else ""
            sides = [clean(side + tail) for side in AND_DEPARTMENT.split(place.removesuffix(tail))]
            parts.extend((side, tags) for side in (
                sides if len(sides) > 1 and all(map(names_its_organisation, sides)) else [clean(place)]))
    parts = [(part, tags) for part, tags in parts if part]
    if len(parts) > 1 and all(tier_of(part) is not None or country_of(part) for part, _ in parts):
        return tuple(parts)
    cleaned = clean(text)
    return ((cleaned, initials_in(text)),) if cleaned else ()


def places_of(part):
    """A part cut after each set of authors' initials, when every piece names an organisation
    or a country, each piece with the initials after it: 'McMaster University, Hamilton, ON
    (P.M.O.), and the Institute for Heart and Lung Health, University of British Columbia,
    Vancouver (J.M.F.) - both in Canada' is two, PMO's and JMF's, each ending with the tail that
    names their country ('both': the two pieces before it, 'all': every piece). A part not cut
    has all the initials it holds."""
    cut = re.split(f"({INITIALS.pattern})", part)
    pieces = []
    for piece, tag in zip(cut[::2], cut[1::2] + [""]):
        piece = AFTER_INITIALS.sub("", piece)
        if pieces and not piece.strip(" .,"):  # '(A.B.) (C.D.)': both tag the piece before
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + initials_in(tag))
        else:
            pieces.append((piece, initials_in(tag)))
    if len(pieces) > 1 and not pieces[-1][0][:1].isalpha():  # '.' or ' - both in Canada' after the last tags
        tail = pieces.pop()[0]
        shared = SHARED_TAIL.match(" " + tail)
        covered = (2 if shared.group(1).lower() == "both" else len(pieces)) if shared else 1
        pieces[-covered:] = [(f"{piece} {tail}", tags) for piece, tags in pieces[-covered:]]
    if len(pieces) > 1 and all(tier_of(clean(piece)) is not None or country_of(piece) for piece, _ in pieces):
        return pieces
    return [(part, initials_in(part))]


def initials_in(text):
    """The authors' initials the tags in a text hold, as letters: '(C.K., J.-G.D.)' is CK, JGD."""
    return tuple(re.sub(r"[^A-Z]", "", initials) for tag in INITIALS.findall(text)
                 for initials in AUTHOR_INITIALS.findall(tag))


def initials_forms(last_name, fore_name=None, initials=None):
    """The letters a journal may tag an author's places with, given names' then surname's:
    Paul M (PubMed initials PM) O'Byrne is PMO, Jean-Guillaume Dillinger JGD, Timothée Besseyre
    des Horts TB, TBDH or TBH (a particle's letter written or left out). No letters for a
    group (no surname)."""
    if not last_name:
        return frozenset()
    given = {"".join(word[:1] for word in re.split(r"[\s.\-]+", anyascii(fore_name or "")) if word).upper(),
             re.sub(r"[^A-Z]", "", anyascii(initials or "").upper())} - {""}
    words = [word for word in re.split(r"[\s\-]+", anyascii(last_name)) if word[:1].isalpha()]
    surname = {words[0][:1], "".join(word[:1] for word in words),
               "".join(word[:1] for word in words if word[:1].isupper())} - {""} if words else set()
    return frozenset(g + s.upper() for g in given for s in surname)


def places_by_initials(text, forms, holders):
    """{author: the affiliations of `text` tagged with their initials}, when the tags share the
    string out among the authors who hold it. `forms` maps every author of the work to their
    initials_forms; `holders` are the authors the source gives the string.

    None, so that every holder keeps every place, wherever a share could give someone a place
    that is not theirs: fewer than two places, a place tagged with no initials, initials that
    name no author of the work or two (two J.L.s), two sets of initials naming one author, a
    named author who does not hold the string, or a holder named by no initials."""
    places = tagged_affiliations(text)
    if len(places) < 2 or not all(tags for _, tags in places):
        return None
    named = {}
    for tag in {tag for _, tags in places for tag in tags}:
        authors = [author for author, theirs in forms.items() if tag in theirs]
        if len(authors) != 1:
            return None
        named[tag] = authors[0]
    if len(set(named.values())) != len(named) or set(named.values()) != set(holders):
        return None
    return {author: tuple(place for place, tags in places if any(named[tag] == author for tag in tags))
            for author in holders}


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
    """0 for a university, 1 for a hospital, 2 for a college, 3 for an organisation known by
    its acronym alone (EPFL, MIT), 4 for another organisation, None for none."""
    words = ascii_fold(segment)
    for tier, pattern in enumerate(TIER_PATTERNS):
        if pattern.search(words):
            return tier if tier < 3 else 4
    if ACRONYM.match(segment.strip()):
        return 3
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
        at = [i for t, i in ranked if t == tier][-1 if tier == 3 else 0]
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
