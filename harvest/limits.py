"""What one input may expand to, whatever its size on disk: the stated limits.

A compressed file of a few megabytes can unzip to gigabytes of zeros, a record can hold a
200 MB title, a file can be /dev/zero. Each limit below bounds memory and time; what
passes one is refused or set aside with a message naming the limit and the variable that
raises it. The raw record always keeps everything that was read.
"""

import os

MB = 1 << 20


def setting(variable, default):
    """The limit from the environment (a whole number), else its default."""
    value = os.environ.get(variable, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


# A payload read whole (JSON answers, esummary and elink XML, ClinicalTrials.gov files):
# the largest real answers are a few tens of MB; harvest.http refuses answers past 256 MB.
PAYLOAD_BYTES = setting("REGENKB_MAX_PAYLOAD_MB", 256) * MB
# One record of a streamed file (a <PubmedArticle>, a line of a JSON Lines snapshot): real
# ones stay under 2 MB, consortium papers of thousands of authors included.
RECORD_BYTES = setting("REGENKB_MAX_RECORD_MB", 64) * MB
# What the KB indexes and compares of one text field; longer text is cut, marked with
# TRUNCATED, and kept whole in the raw record. Real titles stay under 1,000 characters and
# abstracts under 20,000.
# A ZIP of trial records (the legacy registry's "download all" of clinical_study XML files, or
# v2 JSON files): the registry holds about 550,000 studies; each file is one record, read no
# further than RECORD_BYTES and no further than ZIP_RATIO times its compressed size (XML and
# JSON compress about 10 times; a zip bomb a thousand times and more), but always up to 1 MB.
ZIP_MEMBERS = setting("REGENKB_MAX_ZIP_MEMBERS", 1_000_000)
ZIP_RATIO = 200
TITLE_CHARS = setting("REGENKB_MAX_TITLE_CHARS", 4_000)
TEXT_CHARS = setting("REGENKB_MAX_TEXT_CHARS", 100_000)
TRUNCATED = " [...]"
# A record page (HTML) is read as a tree whose layers the parser walks again and again: real
# pages hold under 1,200 elements nested under 30 deep. A page past either limit is refused
# whole (its parse time grows with elements times depth: 100,000 nested divs take hours).
PAGE_TAGS = setting("REGENKB_MAX_PAGE_TAGS", 20_000)
PAGE_NESTING = setting("REGENKB_MAX_PAGE_NESTING", 256)


def clipped(text, limit):
    """`text` cut to `limit` characters (marked), or as it is."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - len(TRUNCATED)] + TRUNCATED


def read_bounded(handle, origin, limit=None):
    """A whole payload from a stream, refused (ValueError naming the limit) past `limit` bytes."""
    limit = limit or PAYLOAD_BYTES
    # In pieces: read(limit + 1) would reserve the whole limit up front, whatever the size.
    pieces, size = [], 0
    while size <= limit and (piece := handle.read(1 << 20)):
        pieces.append(piece)
        size += len(piece)
    data = b"".join(pieces)
    if len(data) > limit:
        raise ValueError(f"{origin}: expands to more than {limit // MB} MB, the limit for one payload "
                         "(REGENKB_MAX_PAYLOAD_MB raises it)")
    return data


class TooLong(bytes):
    """The first bytes of a line longer than its limit; the rest of it was skipped unread."""

    def problem(self, where):
        return (f"{where} is longer than {RECORD_BYTES // MB} MB, the limit for one record "
                "(REGENKB_MAX_RECORD_MB raises it): set aside unread")


def lines(handle, limit=None):
    """The lines of a stream, each read no further than `limit` bytes (RECORD_BYTES): a
    longer line comes as TooLong, and the stream goes on at the next line."""
    limit = limit or RECORD_BYTES
    while line := handle.readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            line = TooLong(line[:1 << 16])
        yield line
