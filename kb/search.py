"""Search over the KB, shared by `kb search`, the search page (/-/search, /-/search-all) and
its JSON twin (/-/search.json): one function, `find`, answers all three.

A query that is an identifier (PMID, PMCID, DOI, a trial registry number, an OpenAlex id, an
ORCID, a ROR) names its record. Any other query is full-text search, widened three ways, all
from data: synonyms are the alternatives of one row of the topic vocabulary
(kb/vocabularies/); a MeSH heading or entry term (kb load mesh) of a heading a work or trial
of the KB holds is searched as the heading and its entry terms the index holds; and
British/American spellings are derived by rule (ae/e, oe/e, our/or, is/iz, ...) and kept only
when the other spelling is in the index and finds more. Each widening is returned in words,
so the page can say how a query was expanded.
"""

import functools
import json
import re
import re._parser as regex_parser  # Python's own regex parser (3.11+), to read vocabulary patterns

from harvest import registries
from harvest.records import normalize_doi, normalize_orcid, normalize_pmcid, normalize_pmid, openalex_key

from .classify import DEFAULT_VOCABULARY, Vocabulary
from .evidence import SAME_STUDY, STUDY_RELATIONS
from .linking import FUSE_THRESHOLD
from .mesh import term_key

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
# A vocabulary row with more terms than this names a concept (topic "stem cells": cord blood,
# mononuclear cells, cell therapy, ...), not one thing under several names; it widens nothing.
MAX_SYNONYMS = 12
# A pattern alternative that spells more phrases than this (combinations of optional parts)
# is a classifier's net, not a list of names.
MAX_SPELLINGS = 16
# Hits a page shows at most; paging reaches every hit past it.
MAX_PAGE_SIZE = 100
# Facets count the values of the first this many matches, in the order the page shows them (all of
# them when there are fewer): counted over every match, a word in 50,000 of a million works read
# and counted 50,000 rows on every search, ten times the ranking that finds the page.
FACET_SAMPLE = 1000
SORTS = {"relevance": "rank", "newest": "year DESC NULLS LAST, date DESC NULLS LAST, rank",
         "cited": "cited DESC NULLS LAST, rank"}
# Filters read from the tags table (kb classify) for both works and trials.
TAG_FILTERS = ("design", "phase", "species", "intervention")


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
    """A researcher's query -> a safe FTS5 query, as typed (no synonyms or spellings added).

    Words are matched as terms (all must match), "quoted phrases" as phrases, a trailing *
    as a prefix, and upper-case AND / OR / NOT as operators. Punctuation never raises an
    FTS5 syntax error.
    """
    return rendered([("op", value) if kind == "op" else ("clause", [fts_phrase(value, prefix)])
                     for kind, value, prefix in units(text)])


def units(text):
    """A query's parts in order, as (kind, value, prefix): ("op", "AND", False),
    ("quoted", words, False) or ("word", words, prefix); words lower-cased."""
    found = []
    for phrase, word, _ in TOKEN.findall(text or ""):
        if phrase.strip():
            words = tuple(re.findall(r"\w+", phrase.lower()))
            if words:
                found.append(("quoted", words, False))
        elif word in OPERATORS:
            found.append(("op", word, False))
        elif word:
            words = tuple(re.findall(r"\w+", word.lower()))
            if words:
                found.append(("word", words, word.endswith("*")))
    while found and found[0][0] == "op":
        found.pop(0)
    while found and found[-1][0] == "op":
        found.pop()
    return found


def fts_phrase(words, prefix=False):
    return '"' + " ".join(words) + '"' + ("*" if prefix else "")


# --- synonyms from the vocabulary ---------------------------------------------------------

def top_alternatives(pattern):
    """'a(b|c)|d' -> ['a(b|c)', 'd']: the pattern's alternatives outside brackets."""
    parts, depth, start, escaped, in_class = [], 0, 0, False, False
    for i, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    return parts + [pattern[start:]]


def spellings(items):
    """Every string a parsed regex without repetition matches, or None when it has unbounded
    parts (x*, x+, \\w, .) or more than MAX_SPELLINGS strings."""
    found = [""]
    for op, value in items:
        if op == regex_parser.LITERAL:
            options = [chr(value)]
        elif op in (regex_parser.AT, regex_parser.ASSERT_NOT):
            continue
        elif op == regex_parser.IN:
            if any(kind != regex_parser.LITERAL for kind, _ in value):
                return None
            options = [chr(c) for _, c in value]
        elif op == regex_parser.SUBPATTERN:
            options = spellings(value[-1])
        elif op == regex_parser.BRANCH:
            options = []
            for branch in value[1]:
                more = spellings(branch)
                if more is None:
                    return None
                options += more
        elif op == regex_parser.MAX_REPEAT and value[:2] == (0, 1):
            inner = spellings(value[2])
            options = None if inner is None else ["", *inner]
        else:
            return None
        if options is None or len(found) * len(options) > MAX_SPELLINGS:
            return None
        found = [f + o for f in found for o in options]
    return found


def phrases_of(pattern):
    """The phrases (word tuples, prefix flag) a vocabulary pattern names:
    r'\\bmesenchymal (stem|stromal) cells?\\b|\\bexosom' -> (mesenchymal stem cell), (mesenchymal stromal cell),
    (exosom, prefix). Plurals made by an optional s are dropped (the index stems them)."""
    phrases = {}
    for alternative in top_alternatives(pattern):
        try:
            parsed = list(regex_parser.parse(alternative))
        except re.error:
            continue
        strings = spellings(parsed)
        if not strings:
            continue
        # No \b at its end (before any lookahead): the pattern matches words that start so.
        prefix = not re.sub(r"\(\?!.*\)$", "", alternative).endswith("\\b")
        for string in strings:
            words = tuple(re.findall(r"\w+", string.lower()))
            if words:
                phrases.setdefault((words, prefix), None)
    return [p for p in phrases if not (p[0][-1].endswith("s") and ((*p[0][:-1], p[0][-1][:-1]), p[1]) in phrases)]


@functools.lru_cache(maxsize=4)
def synonym_groups(folder=DEFAULT_VOCABULARY):
    """[(rule name, value, phrases)] for the vocabulary rows that name one thing several ways."""
    groups = []
    for rule in Vocabulary(folder).rules:
        phrases = phrases_of(rule.pattern.pattern)
        if 1 < len(phrases) <= MAX_SYNONYMS:
            groups.append((rule.name, f"{rule.tag}: {rule.value}", phrases))
    return groups


def same_word(typed, listed, prefix):
    if prefix:
        return typed.startswith(listed)
    return typed == listed or typed.removesuffix("s") == listed.removesuffix("s")


def phrase_matches(words, phrase):
    listed, prefix = phrase
    return len(words) == len(listed) and all(
        same_word(t, w, prefix and i == len(listed) - 1) for i, (t, w) in enumerate(zip(words, listed)))


# --- spellings by rule ---------------------------------------------------------------------

# British <-> American spelling pairs, each way: (pattern, replacement). Applied one place at a
# time, and a variant is kept only when the index holds it and it finds works the typed word does not.
SPELLING_RULES = [(r"ae", "e"), (r"e", "ae"), (r"oe", "e"), (r"e", "oe"),
                  (r"(?<=\w\w)our(?=s?$)", "or"), (r"(?<=\w\w\w)or(?=s?$)", "our"),
                  (r"ou(?=l[dt])", "o"), (r"o(?=l[dt])", "ou"),
                  (r"is(?=(e|ed|es|ing|ation|ations)$)", "iz"), (r"iz(?=(e|ed|es|ing|ation|ations)$)", "is"),
                  (r"ys(?=(e|ed|es|ing)$)", "yz"), (r"yz(?=(e|ed|es|ing)$)", "ys"), (r"tre(?=s?$)", "ter"),
                  (r"(?<=\w\w)ter(?=s?$)", "tre")]


def spelling_candidates(word):
    """'haemorrhage' -> {'hemorrhage', ...}: the word with one rule applied at one place."""
    found = set()
    if len(word) < 4 or not word.isalpha():
        return found
    for pattern, replacement in SPELLING_RULES:
        for match in re.finditer(pattern, word):
            found.add(word[:match.start()] + replacement + word[match.end():])
    found.discard(word)
    return found


def adds_hits(conn, variant, word):
    """Whether the index holds `variant` where it does not hold `word` (porter stems both, so a
    variant the stemmer already folds into the word adds nothing)."""
    return index_holds(conn, f'"{variant}" NOT "{word}"')


def index_holds(conn, probe):
    """Whether any work or trial matches the FTS5 query `probe`."""
    return any(conn.execute(f"SELECT 1 FROM {fts} WHERE {fts} MATCH ? LIMIT 1", [probe]).fetchone()
               for fts in ("works_fts", "trials_fts"))


# --- synonyms from MeSH --------------------------------------------------------------------

# The MeSH headings (kb load mesh) a typed phrase names, as a heading or an entry term, among
# those a work is indexed under or a trial's condition maps to (stored as NLM writes the UI:
# kb.mesh.descriptor_ui).
HEADINGS_SQL = """SELECT DISTINCT t.key, d.id, d.name
FROM mesh_entry_terms t JOIN mesh_descriptors d ON d.id = t.descriptor_id
WHERE t.key IN ({marks}) AND (EXISTS (SELECT 1 FROM work_mesh w WHERE w.mesh_id = d.id)
  OR EXISTS (SELECT 1 FROM trial_conditions c WHERE c.mesh_id = d.id)) ORDER BY d.id"""


def mesh_headings(conn, phrases):
    """{words: [(id, heading, phrases)]} for the typed phrases (word tuples) that name a MeSH
    heading the KB holds, each with that heading's terms the index holds other than the typed
    phrase (one per term_key, the heading first); a heading whose terms add none is left out."""
    keys = {term_key(" ".join(words)): words for words in phrases}
    if not keys or not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'mesh_entry_terms'").fetchone():
        return {}  # a KB made before MeSH descriptors were kept
    found = {}
    for key, ui, name in conn.execute(HEADINGS_SQL.format(marks=", ".join("?" for _ in keys)), list(keys)).fetchall():
        seen, held = {key}, []
        for term, term_key_ in conn.execute("SELECT term, key FROM mesh_entry_terms WHERE descriptor_id = ? "
                                            "ORDER BY position", [ui]):
            words = tuple(re.findall(r"\w+", term.lower()))
            if term_key_ not in seen and words and index_holds(conn, fts_phrase(words)):
                held.append((words, False))
            seen.add(term_key_)
        if held:
            found.setdefault(keys[key], []).append((ui, name, held))
    return found


# --- the query, widened --------------------------------------------------------------------

def expand(conn, text, folder=DEFAULT_VOCABULARY):
    """(FTS5 query, expansions, query as typed): the typed query with each synonym span and
    each word with another spelling replaced by their alternatives. An expansion is {"typed",
    "as", "why"}. The query as typed keeps only the typed words and their other spellings, so
    what matches the words a researcher chose can rank first, whichever spelling they chose."""
    parts, typed, expansions = [], [], []
    groups = synonym_groups(folder)
    found = units(text)
    i = 0
    while i < len(found):
        unit = found[i]
        if unit[0] != "word" or unit[2]:
            parts.append(("op", unit[1]) if unit[0] == "op" else ("clause", [fts_phrase(unit[1], unit[2])]))
            typed.append(parts[-1])
            i += 1
            continue
        run = i
        while run < len(found) and found[run][0] == "word" and not found[run][2]:
            run += 1
        span = longest_span(conn, found[i:run], groups)
        if span:
            length, matched, headings = span
            words = tuple(w for u in found[i:i + length] for w in u[1])
            synonyms = [p for _, _, phrases in matched for p in phrases]
            entry_terms = [p for _, _, phrases in headings for p in phrases]
            options = list(dict.fromkeys([(words, False)] + synonyms + entry_terms))
            parts.append(("clause", [fts_phrase(*p) for p in options]))
            typed.append(("clause", [fts_phrase(*p) for p in options if spelled_alike(words, p)]))
            if matched:
                expansions.append(widening(words, synonyms, "synonyms in the topic vocabulary (" +
                                           "; ".join(f"{value}, {name}" for name, value, _ in matched) + ")"))
            if headings:
                named = ", ".join(f"{name} ({ui})" for ui, name, _ in headings)
                expansions.append(widening(words, entry_terms, f"MeSH heading {named} and its entry terms"
                                           if len(headings) == 1 else f"MeSH headings {named} and their entry terms"))
            i += length
            continue
        words = unit[1]
        variants = [v for v in sorted(spelling_candidates(words[0])) if adds_hits(conn, v, words[0])] \
            if len(words) == 1 else []
        parts.append(("clause", [fts_phrase(words)] + [fts_phrase((v,)) for v in variants]))
        typed.append(parts[-1])
        if variants:
            expansions.append({"typed": words[0], "as": [words[0], *variants],
                               "why": "British and American spellings"})
        i += 1
    return rendered(parts), expansions, rendered(typed)


def widening(words, phrases, why):
    """An expansion as `find` reports it: the typed words, what they were searched as, and why."""
    return {"typed": " ".join(words), "why": why,
            "as": [" ".join(w) + ("*" if prefix else "") for w, prefix in dict.fromkeys([(words, False), *phrases])]}


def spelled_alike(words, phrase):
    """Whether a vocabulary phrase is the typed words, each as typed or in another spelling."""
    listed, prefix = phrase
    return not prefix and len(listed) == len(words) and all(
        same_word(t, w, False) or w in spelling_candidates(t) for t, w in zip(words, listed))


def rendered(parts):
    """("op", "OR") and ("clause", [alternatives]) parts as FTS5 syntax. Two clauses with no
    operator between them are ANDed in words, since FTS5 does not AND a bracketed group by
    juxtaposition; of two operators in a row the first stands."""
    out = []
    for kind, value in parts:
        if kind == "op":
            if out and out[-1][0] == "clause":
                out.append((kind, value))
            continue
        if out and out[-1][0] == "clause":
            out.append(("op", "AND"))
        out.append((kind, value[0] if len(value) == 1 else "(" + " OR ".join(value) + ")"))
    while out and out[-1][0] == "op":
        out.pop()
    return " ".join(value for _, value in out) or EMPTY_QUERY


def longest_span(conn, run, groups):
    """(number of units, [vocabulary groups], [MeSH headings]) of the longest start of `run` that
    a vocabulary row or a MeSH heading the KB holds names (mesh_headings)."""
    starts = [tuple(w for unit in run[:length] for w in unit[1]) for length in range(1, len(run) + 1)]
    headings = mesh_headings(conn, starts)
    for length in range(len(run), 0, -1):
        words = starts[length - 1]
        matched = [g for g in groups if any(phrase_matches(words, p) for p in g[2])]
        if matched or words in headings:
            return length, matched, headings.get(words, [])
    return None


# --- identifiers ---------------------------------------------------------------------------

ORCID = re.compile(r"(https?://orcid\.org/)?\d{4}-?\d{4}-?\d{4}-?\d{3}[\dX]", re.I)
# ROR ids: 0, six of Crockford's base 32 (no i, l, o, u), two check digits.
ROR = re.compile(r"(?:https?://)?(?:www\.)?(?:ror\.org/)?(0[a-hj-km-np-tv-z0-9]{6}\d{2})", re.I)
OPENALEX = re.compile(r"(https?://openalex\.org/)?[WI]\d{4,}", re.I)
DOI = re.compile(r"(doi:\s*|https?://(dx\.)?doi\.org/)?10\.\d{4,9}/\S+", re.I)
PMID = re.compile(r"(pmid:?\s*|https?://pubmed\.ncbi\.nlm\.nih\.gov/)?\d{1,9}/?", re.I)
PMCID = re.compile(r"(pmcid:?\s*)?PMC\d+", re.I)
def identifier_of(text):
    """(scheme, canonical value) when the whole query is one identifier, else None:
    'https://doi.org/10.4103/IJPVM.X' -> ('DOI', '10.4103/ijpvm.x'); '35281985' -> ('PMID', '35281985')."""
    text = (text or "").strip()
    if DOI.fullmatch(text):
        return "DOI", normalize_doi(text)
    if PMCID.fullmatch(text):
        return "PMCID", normalize_pmcid(re.sub(r"(?i)^pmcid:?\s*", "", text))
    if PMID.fullmatch(text):
        return "PMID", normalize_pmid(re.sub(r"(?i)^pmid:?\s*", "", text))
    registry = registries.scheme_of(text)
    if registry:
        return registries.NAMES[registry[0]], registry[1]
    if ORCID.fullmatch(text):
        return "ORCID", normalize_orcid(text)
    if OPENALEX.fullmatch(text):
        return "OpenAlex", openalex_key(text)
    match = ROR.fullmatch(text)
    if match and ("ror.org/" in text.lower() or re.search("[a-z]", match.group(1), re.I)):
        return "ROR", "https://ror.org/" + match.group(1).lower()
    return None


# scheme -> [(kind of page, SQL giving (id, label) of the record)], tried in order.
IDENTIFIER_SQL = {
    "PMID": [("work", "SELECT id, title FROM works WHERE pmid = ?")],
    "PMCID": [("work", "SELECT id, title FROM works WHERE pmcid = ?")],
    "DOI": [("work", "SELECT id, title FROM works WHERE doi = ?")],
    "OpenAlex": [("work", "SELECT id, title FROM works WHERE openalex_id IN (?1, 'https://openalex.org/' || ?1)"),
                 ("institution", "SELECT id, name FROM institutions "
                                 "WHERE openalex_id IN (?1, 'https://openalex.org/' || ?1)")],
    "ORCID": [("author", "SELECT id, name FROM authors WHERE orcid = ?1 UNION ALL "
                         "SELECT wa.author_id, a.name FROM author_names n JOIN work_authors wa ON wa.name_id = n.id "
                         "JOIN authors a ON a.id = wa.author_id WHERE n.orcid = ?1")],
    "ROR": [("institution", "SELECT id, name FROM institutions WHERE ror = ?")],
}
# Any registry number: the trial it names, else the works that cite it.
REGISTRY_SQL = [("trial", "SELECT nct_id, brief_title FROM trials WHERE nct_id = ?1 UNION ALL "
                          "SELECT t.nct_id, t.brief_title FROM trial_ids i JOIN trials t ON t.id = i.trial_id "
                          "WHERE i.identifier = ?1 COLLATE NOCASE"),
                ("work", "SELECT w.id, w.title FROM registry_ids r JOIN works w ON w.id = r.work_id "
                         "WHERE r.accession = ?1 ORDER BY w.year DESC, w.id")]


def find_identifier(conn, text):
    """The record a query names when it is an identifier: {"scheme", "value", "kind", "id",
    "label", "path", "records"} (kind None when the KB holds no such record), or
    None when the query is no identifier. `records` lists every record it names (a registry
    number cited by several works)."""
    found = identifier_of(text)
    if not found:
        return None
    scheme, value = found
    answer = {"scheme": scheme, "value": value, "kind": None, "id": None, "label": None, "path": None,
              "records": []}
    for kind, sql in IDENTIFIER_SQL.get(scheme, REGISTRY_SQL):
        records = list(dict.fromkeys(tuple(row) for row in conn.execute(sql, [value]).fetchall()))
        if records:
            answer["records"] = [{"kind": kind, "id": i, "label": label, "path": f"/-/{kind}/{i}"}
                                 for i, label in records]
            answer.update(answer["records"][0])
            break
    return answer


# --- the search ----------------------------------------------------------------------------

# A work has a trial when it names a registry number or is one study with a trial as the evidence
# layer fuses them (an identifier link, or a probably_same_study link of FUSE_THRESHOLD); a trial
# citing it as background and related_trials' ranked candidates do not count.
TRIAL_LINK = (f"(x.relation IN ({', '.join(repr(r) for r in STUDY_RELATIONS)}) OR "
              f"(x.relation = '{SAME_STUDY}' AND x.score >= {FUSE_THRESHOLD}))")
HAS_TRIAL = ("(EXISTS (SELECT 1 FROM registry_ids x WHERE x.work_id = r.id) OR EXISTS (SELECT 1 FROM links x "
             f"WHERE {TRIAL_LINK} AND ((x.from_work_id = r.id AND x.to_trial_id IS NOT NULL) OR "
             "(x.to_work_id = r.id AND x.from_trial_id IS NOT NULL))))")
OPEN_ACCESS = "coalesce(r.oa_status, 'closed') != 'closed'"
COLUMNS = {
    "works": """r.id, r.title, r.year, r.journal, r.author_list, r.pmid, r.doi, r.pmcid, r.pub_types,
  r.cited_by_count, r.oa_status, r.pub_date AS date, r.cited_by_count AS cited""",
    "trials": """r.id, r.nct_id, r.brief_title AS title, r.start_year AS year, r.overall_status, r.phases,
  r.enrollment, r.lead_sponsor, r.start_date AS date, NULL AS cited"""}
TABLES = {"works": ("works_fts", "works", "year", "work"), "trials": ("trials_fts", "trials", "start_year", "trial")}
# What ranked_with_rows keeps of each match: its rank and what the sorts read.
HITS = {"works": "r.id, {fts}.rank AS rank, r.year, r.pub_date AS date, r.cited_by_count AS cited",
        "trials": "r.id, {fts}.rank AS rank, r.start_year AS year, r.start_date AS date, NULL AS cited"}
# What the facets read of each match they count.
SAMPLED = {"works": "r.id, r.year, r.pub_types, r.oa_status", "trials": "r.id, r.start_year AS year"}


def matching(kind, filters):
    """(FROM ... WHERE ... of the works or trials that match :match and pass the filters, parameters);
    the rows are `r`, the index `{kind}_fts`."""
    fts, table, year, subject = TABLES[kind]
    where, params = [f"{fts} MATCH :match"], {}

    def any_of(name, values, test):
        marks = ", ".join(f":{name}{n}" for n in range(len(values)))
        where.append(test.format(marks=marks))
        params.update({f"{name}{n}": value for n, value in enumerate(values)})

    if filters.get("year_from"):
        where.append(f"r.{year} >= :year_from")
        params["year_from"] = filters["year_from"]
    if filters.get("year_to"):
        where.append(f"r.{year} <= :year_to")
        params["year_to"] = filters["year_to"]
    for tag in (*TAG_FILTERS, "relevance"):
        if filters.get(tag):
            any_of(tag, filters[tag], f"EXISTS (SELECT 1 FROM tags t WHERE t.subject = '{subject}' AND "
                                      f"t.subject_id = r.id AND t.tag = '{tag}' AND t.value IN ({{marks}}))")
    if kind == "works":
        if filters.get("pub_type"):
            any_of("pub_type", filters["pub_type"], "EXISTS (SELECT 1 FROM json_each(r.pub_types) WHERE value IN ({marks}))")
        if filters.get("has_trial"):
            where.append(HAS_TRIAL)
        if filters.get("open_access"):
            where.append(OPEN_ACCESS)
    return f"FROM {fts} JOIN {table} r ON r.id = {fts}.rowid WHERE {' AND '.join(where)}", params


def filters_from(args):
    """Search filters from URL arguments ({name: [values]}, as Datasette's request.args.getlist
    reads them): years as numbers, tag and publication-type values as lists, flags as booleans."""
    def first(name):
        return ((args.get(name) or [""])[0] or "").strip()

    filters = {name: int(first(name)) if re.fullmatch(r"\d{1,4}", first(name)) else None
               for name in ("year_from", "year_to")}
    for name in (*TAG_FILTERS, "pub_type"):
        filters[name] = [value for value in args.get(name) or [] if value]
    filters["relevance"] = ["on topic"] if first("on_topic") in ("1", "on") else []
    for flag in ("has_trial", "open_access"):
        filters[flag] = first(flag) in ("1", "on")
    return filters


def find(conn, text, kind="works", filters=None, sort="relevance", page=1, size=20, widen=True):
    """One search, as the page, its JSON and `kb search` give it.

    Returns {"q", "kind", "identifier", "match", "expanded", "total", "page", "size", "sort",
    "rows", "facets", "facets_over", "others"}: the identifier the query is (find_identifier), the FTS5
    query run and how it was widened (expand), how many works (or trials) match, the page
    asked for of them, best first or sorted, each with a snippet marked with MARK_START and
    MARK_END, each filter's values counted over the first FACET_SAMPLE matches in the page's order
    (facets; "facets_over" says how many were counted, the total when all were), and how many
    records of the other kind match (trials beside works).

    Best first with no filter, the index alone counts, ranks and orders the matches
    (ranked_by_index): no match's row is read but those of the page and the facets' sample.
    A filter or another sort reads every match's row (ranked_with_rows)."""
    filters = filters or {}
    kind = "trials" if kind == "trials" else "works"
    sort = sort if sort in SORTS else "relevance"
    # A page past any KB's last (SQLite's OFFSET is a 64-bit integer) is simply empty.
    size, page = max(1, min(int(size), MAX_PAGE_SIZE)), max(1, min(int(page), 10**12))
    answer = {"q": text, "kind": kind, "identifier": find_identifier(conn, text), "match": EMPTY_QUERY,
              "expanded": [], "total": 0, "page": page, "size": size, "sort": sort, "rows": [], "facets": {},
              "facets_over": 0, "others": 0}
    match, expanded, typed = expand(conn, text) if widen else (fts_query(text), [], fts_query(text))
    if match == EMPTY_QUERY:
        return answer
    answer.update(match=match, expanded=expanded)
    offset = (page - 1) * size
    # The matches put in order are as many as the page and the facets' sample reach.
    reach = max(offset + size, FACET_SAMPLE)
    if sort == "relevance" and not any(filters.values()):
        answer["total"], ordered = ranked_by_index(conn, TABLES[kind][0], match, typed, reach)
    else:
        answer["total"], ordered = ranked_with_rows(conn, kind, filters, sort, match, typed, reach)
    facet_sql = facets(kind)
    counted = conn.execute(f"""WITH sample AS MATERIALIZED (SELECT {SAMPLED[kind]} FROM json_each(:sample) s
  JOIN {TABLES[kind][1]} r ON r.id = s.value)
SELECT (SELECT count(*) FROM sample), {", ".join(f"({sql})" for sql in facet_sql.values())}""",
                           {"sample": json.dumps([id_ for id_, _ in ordered[:FACET_SAMPLE]])}).fetchone()
    answer["facets_over"] = counted[0]
    answer["facets"] = {name: json.loads(value) if isinstance(value, str) else value
                        for name, value in zip(facet_sql, counted[1:])}
    answer["rows"] = page_rows(conn, kind, match, ordered[offset:offset + size])
    answer["others"] = index_count(conn, TABLES["trials" if kind == "works" else "works"][0], match)
    return answer


def index_count(conn, fts, match):
    """How many rows of the full-text index `fts` match: read from the index alone, unranked."""
    return conn.execute(f"SELECT count(*) FROM {fts} WHERE {fts} MATCH ?", [match]).fetchone()[0]


def ranked_by_index(conn, fts, match, typed, reach):
    """(how many rows match, the first `reach` of them best first as [(id, rank)]), from the
    full-text index alone: the count is unranked, and FTS5 ranks the matches into a sort that
    keeps `reach` rows (ties by id), not a table of every match. Hits of the words as typed (in
    either spelling) come first, then those only a synonym found: `typed AND match` is the first
    set, ranked on every phrase it matched, and `match NOT typed` ranks the rest as `match` does."""
    def ranked(query, limit):
        return conn.execute(f"SELECT rowid, rank FROM {fts} WHERE {fts} MATCH ? ORDER BY rank, rowid LIMIT ?",
                            [query, limit]).fetchall()

    if typed == match:
        return index_count(conn, fts, match), ranked(match, reach)
    first = ranked(f"({typed}) AND ({match})", reach)
    rest = ranked(f"({match}) NOT ({typed})", reach - len(first)) if len(first) < reach else []
    return index_count(conn, fts, match), first + rest


def ranked_with_rows(conn, kind, filters, sort, match, typed, reach):
    """ranked_by_index's answer for a search that reads its matches' rows: filtered, or sorted by
    year or citations. Each match is read once (`hits`), and the count and the order come from it."""
    source, params = matching(kind, filters)
    fts = TABLES[kind][0]
    order = SORTS[sort]
    if sort == "relevance" and typed != match:
        order = f"id IN (SELECT rowid FROM {fts} WHERE {fts} MATCH :typed) DESC, rank"
        params["typed"] = typed
    found = conn.execute(f"""WITH hits AS MATERIALIZED (SELECT {HITS[kind].format(fts=fts)} {source})
SELECT id, rank, (SELECT count(*) FROM hits) FROM hits ORDER BY {order}, id LIMIT :reach""",
                         {**params, "match": match, "reach": reach}).fetchall()
    return (found[0][2] if found else 0), [(id_, rank) for id_, rank, _ in found]


def page_rows(conn, kind, match, ranked):
    """The rows of a page's [(id, rank)], in that order, each with its snippet."""
    fts, table = TABLES[kind][:2]
    found = {row["id"]: row for row in rows(conn, f"SELECT {COLUMNS[kind]} FROM {table} r "
                                                  f"WHERE r.id IN ({', '.join(str(i) for i, _ in ranked)})")}
    ranked = [(id_, rank) for id_, rank in ranked if id_ in found]  # an index row whose record is gone (kb doctor)
    if not ranked:
        return []
    ids = ", ".join(str(id_) for id_, _ in ranked)
    # SQLite looks up `rowid IN (...)` one id at a time, each lookup running the match again; a
    # prefix term ("exosom"*) is then looked up among every word of the index each time (20 a
    # page: 200 ms at a million works), so a match with one walks its matches once instead (+rowid).
    rowid = "+rowid" if "*" in match else "rowid"
    for id_, snippet in conn.execute(f"SELECT rowid, snippet({fts}, -1, char(2), char(3), '…', 24) FROM {fts} "
                                     f"WHERE {fts} MATCH ? AND {rowid} IN ({ids})", [match]):
        found[id_]["snippet"] = snippet
    for id_, rank in ranked:
        found[id_]["rank"] = rank
    return [found[id_] for id_, _ in ranked]


def facets(kind):
    """{name: SQL} of the counts over the matches find counts (its `sample`): [value, count] lists,
    as JSON, by year, tag and publication type, most frequent first; the number on topic, with a
    trial, open access."""
    subject = TABLES[kind][3]

    def pairs(sql):  # SQLite aggregates a subquery's rows in its ORDER BY's order
        return f"SELECT json_group_array(json_array(value, n)) FROM ({sql})"

    found = {"year": pairs("SELECT year AS value, count(*) AS n FROM sample WHERE year IS NOT NULL "
                           "GROUP BY year ORDER BY year DESC")}
    for tag in TAG_FILTERS:
        found[tag] = pairs(f"SELECT value, count(*) AS n FROM tags WHERE subject = '{subject}' AND tag = '{tag}' "
                           f"AND subject_id IN (SELECT id FROM sample) GROUP BY value ORDER BY n DESC, value")
    found["on_topic"] = (f"SELECT count(*) FROM tags WHERE subject = '{subject}' AND tag = 'relevance' "
                         f"AND subject_id IN (SELECT id FROM sample)")
    if kind == "works":
        found["pub_type"] = pairs("SELECT j.value, count(*) AS n FROM sample r, json_each(r.pub_types) j "
                                  "GROUP BY j.value ORDER BY n DESC, j.value")
        found["has_trial"] = f"SELECT count(*) FROM sample r WHERE {HAS_TRIAL}"
        found["open_access"] = f"SELECT count(*) FROM sample r WHERE {OPEN_ACCESS}"
    return found


def named(conn, text, limit=20):
    """{"people", "institutions"} whose name, in any form it was written, has a word starting with
    each word of `text` ("wang we" finds Wei Wang; accents and case aside), from the name indexes
    (db.NAMED) rather than a scan of every person."""
    words = [w for w in re.findall(r"\w+", text or "") if len(w) > 1]
    if not words:
        return {"people": [], "institutions": []}
    match = " AND ".join(f'"{w}"*' for w in words)  # \w+ holds no quote to escape
    return {"people": rows(conn, "SELECT id, name, works, first_year, last_year, institutions FROM authors "
                                 "WHERE id IN (SELECT rowid FROM authors_fts WHERE authors_fts MATCH ?) "
                                 f"ORDER BY works DESC, name LIMIT {int(limit)}", [match]),
            "institutions": rows(conn, "SELECT id, name, city, country, works FROM institutions "
                                       "WHERE id IN (SELECT rowid FROM institutions_fts WHERE institutions_fts MATCH ?) "
                                       f"ORDER BY works DESC, name LIMIT {int(limit)}", [match])}


def rows(conn, sql, params=()):
    cursor = conn.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def register_functions(conn):
    conn.create_function("fts_query", 1, fts_query, deterministic=True)


def search(db, text, limit=20, kind="works"):
    """Top works (or trials) for `text`, best first, each with a snippet whose hits are marked
    (`find` for the identifier, the widening and the filters)."""
    return find(db.conn, text, kind=kind, size=limit)["rows"]


def highlight(snippet, start, end):
    return (snippet or "").replace(MARK_START, start).replace(MARK_END, end)
