"""Personal names in the forms author disambiguation compares: pure functions, no I/O.

A name is reduced to a surname key (transliterated, folded, no spaces or hyphens), its
initials (`SH` is two initials: S and H) and, when the source spells them out, its given
names with their vowels levelled, so transliteration variants agree: Masoud and Masood
are both `masud`, Mohammad and Muhammad `muhamad`; Mohamed (`muhamid`) is one edit away,
while Mahmoud (`mahmud`) stays a different name.
"""

import re
from dataclasses import dataclass

from anyascii import anyascii
from rapidfuzz.distance import Levenshtein

from harvest.records import ascii_fold

# Vowel spellings that transliterations of one name use interchangeably.
VOWEL_LEVELS = (("ou", "u"), ("oo", "u"), ("o", "u"), ("ee", "i"), ("e", "i"), ("y", "i"))


def given_key(given_name):
    """A spelled-out given name with vowels levelled and doubled letters collapsed."""
    word = ascii_fold(given_name).replace(" ", "")
    for spelling, level in VOWEL_LEVELS:
        word = word.replace(spelling, level)
    return re.sub(r"(.)\1+", r"\1", word)


def same_given(a, b):
    """Two levelled given names that may be one name: equal, or one edit apart when long."""
    return a == b or (min(len(a), len(b)) >= 5 and Levenshtein.distance(a, b) <= 1)


@dataclass(frozen=True)
class Name:
    surname: str  # transliterated, folded, spaces and hyphens removed
    initials: str  # one letter per given name, in order
    given: tuple  # levelled spelled-out given names ('' where only an initial is known)

    @property
    def block(self):
        """The blocking key: surname and first initial."""
        return f"{self.surname}|{self.initials[:1]}"

    def compatible(self, other):
        """Could both forms name one person? Same surname, one's initials a prefix of the
        other's, and no spelled-out given name that disagrees."""
        if self.surname != other.surname:
            return False
        short, long = sorted((self.initials, other.initials), key=len)
        if not long.startswith(short):
            return False
        if all(self.given) and all(other.given) and "".join(self.given) == "".join(other.given):
            return True  # Xiaoming and Xiao-Ming
        return all(not a or not b or same_given(a, b) for a, b in zip(self.given, other.given))


def parse_name(last_name, fore_name=None, initials=None):
    """A Name from a source's surname, given names and initials (any may be missing)."""
    surname = ascii_fold(last_name).replace(" ", "")
    given_names = [g for g in re.split(r"[\s.\-]+", anyascii(fore_name or "")) if g]
    spelled = [g for g in given_names if len(g) > 1 and not g.isupper()]
    if spelled and len(spelled) == len(given_names):
        letters = "".join(ascii_fold(g)[:1] for g in given_names)
        return Name(surname, letters, tuple(given_key(g) for g in given_names))
    letters = ascii_fold(initials or "".join(given_names)).replace(" ", "")
    return Name(surname, letters, tuple("" for _ in letters))
