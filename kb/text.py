"""Text normalisation shared by loading, matching and linking."""

import functools
import hashlib
import re
import unicodedata

# Keys each cache keeps: a load repeats a name or an affiliation within a paper and its
# neighbours, and an entry costs about 300 bytes (the two caches held up to 125 MB at 200,000).
CACHED = 1 << 15


@functools.lru_cache(maxsize=CACHED)
def stable_id(key):
    """A positive 63-bit integer id that is the same for the same key in every KB."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") >> 1


@functools.lru_cache(maxsize=CACHED)
def fold(text):
    """Lower-case, accents removed, whitespace collapsed: the form names are compared in."""
    if (text or "").isascii():
        return " ".join(text.casefold().split()) if text else ""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


WORD = re.compile(r"[^\W\d_]+")


def respelled(text, written):
    """`text` with each of its words that `written` also holds (the same letters but for accents
    and case) spelt as `written` spells it: author_names keeps one spelling of a folded name,
    a paper its own. respelled('Hans Müller', 'Muller H') is 'Hans Muller'."""
    if not text or not written:
        return text
    spelling = {fold(word): word for word in WORD.findall(written)}

    def spelt(match):
        word = spelling.get(fold(match.group()), match.group())
        return match.group() if word.casefold() == match.group().casefold() else word

    return WORD.sub(spelt, text)
