"""Trial registry identifiers: their exact patterns, and finding them in free text.

Used wherever a registry number can appear: a PubMed DataBankList or abstract, a
ClinicalTrials.gov secondary id, a portal page.
"""

import re

# scheme -> pattern of one identifier (case-insensitive), most specific first where they overlap.
PATTERNS = {
    "nct": r"NCT\d{8}",
    "isrctn": r"ISRCTN\d{8}",
    "ctis": r"\d{4}-5\d{5}-\d{2}-\d{2}",
    "eudract": r"(?:EUCTR)?(?:19|20)\d{2}-\d{6}-\d{2}",
    "chictr": r"ChiCTR(?:-[A-Z]{2,5}-)?\d{8,12}",
    "irct": r"IRCT\d{8,14}N\d{1,3}",
    "actrn": r"ACTRN\d{14}",
    "jrct": r"jRCT[a-z]?\d{9,10}",
    "umin": r"UMIN\d{9}",
    "drks": r"DRKS\d{8}",
    "ctri": r"CTRI/\d{4}/\d{2,3}/\d{6}",
    "kct": r"KCT\d{7}",
}
NAMES = {
    "nct": "ClinicalTrials.gov", "isrctn": "ISRCTN", "ctis": "CTIS", "eudract": "EudraCT",
    "chictr": "ChiCTR", "irct": "IRCT", "actrn": "ANZCTR", "jrct": "jRCT", "umin": "UMIN-CTR",
    "drks": "DRKS", "ctri": "CTRI", "kct": "CRIS",
}
_ANY = re.compile(r"(?<![\w/-])(?:" + "|".join(f"(?P<{k}>{p})" for k, p in PATTERNS.items()) + r")(?![\w/])",
                  re.IGNORECASE)
_WHOLE = {scheme: re.compile(f"^(?:{pattern})$", re.IGNORECASE) for scheme, pattern in PATTERNS.items()}


def normalize(scheme, identifier):
    """The canonical spelling of an identifier: upper case, except jRCT's own prefix; no EUCTR prefix."""
    identifier = identifier.strip()
    if scheme == "jrct":
        return "jRCT" + identifier[4:].lower()
    if scheme == "chictr":
        return "ChiCTR" + identifier[6:].upper()
    if scheme == "eudract" and identifier.upper().startswith("EUCTR"):
        identifier = identifier[5:]
    return identifier.upper()


def scheme_of(identifier):
    """(scheme, canonical id) of a whole identifier such as 'NCT03384433', or None."""
    candidate = re.sub(r"\s+", "", identifier or "")
    for scheme, pattern in _WHOLE.items():
        if pattern.match(candidate):
            return scheme, normalize(scheme, candidate)
    return None


# Every identifier has a run of 7+ digits, a EudraCT-style dash group or CTRI's slashes: most
# abstracts have none, and a cheap test for these spares them the full pattern.
_MAYBE = re.compile(r"\d{7}|\d{4}-\d{6}|CTRI/", re.IGNORECASE)
# The same test on an ASCII text's shape (each digit a "0", "-" and "/" kept, all else a space),
# in C: the regular expression above takes 300 us over a 2,000-character abstract, this 12 us.
_SHAPE = bytes(ord("0") if chr(c) in "0123456789" else c if chr(c) in "-/" else ord(" ") for c in range(256))
_SHAPE_NEEDLES = (b"0000000", b"0000-000000", b"/0000/")


def may_hold_an_identifier(text):
    if text.isascii():
        shape = text.encode("ascii").translate(_SHAPE)
        return any(needle in shape for needle in _SHAPE_NEEDLES)
    return _MAYBE.search(text) is not None


def find_in_text(text):
    """Every registry identifier named in free text, as (scheme, canonical id), in order, once each."""
    if not text or not may_hold_an_identifier(text):
        return []
    found = {}
    for match in _ANY.finditer(text or ""):
        scheme = match.lastgroup
        found.setdefault((scheme, normalize(scheme, match.group(0))), None)
    return list(found)
