"""Text normalisation shared by loading, matching and linking."""

import functools
import hashlib
import unicodedata


@functools.lru_cache(maxsize=200_000)
def stable_id(key):
    """A positive 63-bit integer id that is the same for the same key in every KB."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") >> 1


@functools.lru_cache(maxsize=200_000)
def fold(text):
    """Lower-case, accents removed, whitespace collapsed: the form names are compared in."""
    if (text or "").isascii():
        return " ".join(text.casefold().split()) if text else ""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())
