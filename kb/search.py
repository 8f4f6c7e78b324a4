"""Ranked full-text search over works, shared by `kb search` and the Datasette search page."""

import re

# Snippet highlight markers: control characters no title or abstract contains, so the
# CLI and the Datasette plugin can turn them into their own highlighting safely.
MARK_START, MARK_END = "\x02", "\x03"
OPERATORS = {"AND", "OR", "NOT"}
EMPTY_QUERY = '""'
TOKEN = re.compile(r'"([^"]*)"|(\w[\w\'-]*\*?)|(\S)')
# Bounds on a query of the search page. SQLite refuses an expression deeper than 1,000 (its
# search of people's names ANDs one LIKE per word) and a LIKE pattern longer than 50,000
# bytes; a researcher's longest queries are a few hundred characters.
MAX_QUERY_CHARS = 2000
MAX_QUERY_WORDS = 64


class QueryTooLong(ValueError):
    """A search query past MAX_QUERY_CHARS or MAX_QUERY_WORDS."""


def check_query(text):
    """Raise QueryTooLong, saying which limit, for a query too long to run."""
    if len(text or "") > MAX_QUERY_CHARS:
        raise QueryTooLong(f"The query is {len(text):,} characters long; search takes at most {MAX_QUERY_CHARS:,}.")
    words = len(re.findall(r"\w+", text or ""))
    if words > MAX_QUERY_WORDS:
        raise QueryTooLong(f"The query has {words:,} words; search takes at most {MAX_QUERY_WORDS}.")


def fts_query(text):
    """A researcher's query -> a safe FTS5 query.

    Words are matched as terms (all must match), "quoted phrases" as phrases, a trailing *
    as a prefix, and upper-case AND / OR / NOT as operators. Punctuation never raises an
    FTS5 syntax error.
    """
    parts = []
    for phrase, word, _ in TOKEN.findall(text or ""):
        if phrase.strip():
            parts.append('"' + " ".join(re.findall(r"\w+", phrase)) + '"')
        elif word in OPERATORS:
            parts.append(word)
        elif word:
            prefix = word.endswith("*")
            terms = re.findall(r"\w+", word)
            if terms:
                parts.append('"' + " ".join(terms) + '"' + ("*" if prefix else ""))
    while parts and parts[0] in OPERATORS:
        parts.pop(0)
    while parts and parts[-1] in OPERATORS:
        parts.pop()
    # An empty query becomes the empty phrase, which matches nothing instead of raising.
    return " ".join(parts) or EMPTY_QUERY


SEARCH_SQL = {
    "works": """
select works.id, works.title, works.year, works.journal, works.author_list, works.pmid, works.doi,
  snippet(works_fts, -1, char(2), char(3), '…', 24) as snippet, works_fts.rank as rank
from works_fts join works on works.id = works_fts.rowid
where works_fts match fts_query(:q)
order by rank
limit :limit
""",
    "trials": """
select trials.id, trials.nct_id, trials.brief_title as title, trials.start_year as year, trials.overall_status,
  trials.phases, trials.enrollment, trials.lead_sponsor,
  snippet(trials_fts, -1, char(2), char(3), '…', 24) as snippet, trials_fts.rank as rank
from trials_fts join trials on trials.id = trials_fts.rowid
where trials_fts match fts_query(:q)
order by rank
limit :limit
""",
}


def register_functions(conn):
    conn.create_function("fts_query", 1, fts_query, deterministic=True)


def search(db, text, limit=20, kind="works"):
    """Top works (or trials) for `text`, best first, each with a snippet whose hits are marked."""
    if fts_query(text) == EMPTY_QUERY:
        return []
    register_functions(db.conn)
    return list(db.query(SEARCH_SQL[kind], {"q": text, "limit": limit}))


def highlight(snippet, start, end):
    return (snippet or "").replace(MARK_START, start).replace(MARK_END, end)
