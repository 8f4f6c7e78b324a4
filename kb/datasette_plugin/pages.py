"""What every page of ours shares: the KB's database, a page or its JSON twin from one
reader's dict, the 404 that points to search, identifier links, snippets and list columns.
Each page family has its module (work, person, institution, trial, search, home, evidence,
gap map); __init__.py holds the hooks and the route list."""

import json
import re
import sqlite3
from urllib.parse import quote

from datasette.utils import sqlite_timelimit
from datasette.utils.asgi import Response
from datasette.views.base import DatasetteError
from markupsafe import Markup, escape

from ..search import MARK_END, MARK_START

# column name -> (pattern a value must match, URL of its record at the registry)
IDENTIFIER_LINKS = {
    "nct_id": (r"NCT\d{8}", "https://clinicaltrials.gov/study/{}"),
    "pmid": (r"\d{1,9}", "https://pubmed.ncbi.nlm.nih.gov/{}/"),
    "doi": (r"10\.\S+", "https://doi.org/{}"),
    "pmcid": (r"PMC\d+", "https://www.ncbi.nlm.nih.gov/pmc/articles/{}/"),
    "orcid": (r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", "https://orcid.org/{}"),
    "ror": (r"https://ror\.org/\w+", "{}"),
    "isrctn": (r"ISRCTN\d{8}", "https://www.isrctn.com/{}"),
    "eudract": (r"(?:19|20)\d{2}-\d{6}-\d{2}", "https://www.clinicaltrialsregister.eu/ctr-search/search?query={}"),
}


def identifier_url(kind, value):
    """The URL of an identifier's record at its registry, or None when value is not a valid
    identifier of that kind (a harvested `javascript:` URL is not a ROR)."""
    pattern, url = IDENTIFIER_LINKS[kind]
    return url.format(value) if isinstance(value, str) and re.fullmatch(pattern, value) else None


def identifier_link(kind, value):
    """An identifier linked to its registry when it is valid, else as text; every page and cell
    that links an identifier goes through here."""
    url = identifier_url(kind, value)
    return Markup('<a href="{}">{}</a>').format(url, value) if url else escape(value)


def shown_origin(origin):
    """Where a record was read from, without the folders of the machine that loaded it: a
    local file (a path or a file:// URL) by its name; a relative path as the user gave it,
    an API request or a web page as it is."""
    if not origin:
        return origin
    path = origin[len("file://"):] if origin.startswith("file://") else origin
    if path.startswith("/") or re.match(r"[A-Za-z]:[\\/]", path):
        return re.split(r"[\\/]", path)[-1]
    return origin


def kb_database(datasette):
    """The served database that is a KB: the first database file served."""
    for name, database in datasette.databases.items():
        if name != "_internal" and not database.is_memory:
            return name, database
    return None, None


# SQLite's integers are 64-bit: a longer id in a URL names nothing.
MAX_ID = 2**63 - 1


# What a page says when its SQL ran past the time limit ({seconds}: the limit).
PAGE_TOO_LONG = ("This page's queries took longer than the server's time limit for SQL ({seconds} s) and were "
                 "stopped. Try again in a few seconds: a server that has just started may still be reading the KB.")


class TookTooLong(DatasetteError):
    """A page's SQL stopped at the server's time limit: a 400 that says so, as Datasette answers
    its own pages' interrupted queries ("SQL Interrupted", 400). Datasette's error handler shows
    it on its error page, or at a .json URL as {"ok": false, "error": ..., "status": 400}."""

    def __init__(self, message):
        super().__init__(message, title="Query took too long", status=400)


async def execute_in_time(datasette, database, read, too_long=PAGE_TOO_LONG):
    """database.execute_fn(read), its SQL cut at the server's sql_time_limit_ms as Datasette cuts
    its own queries' (execute_fn alone has no limit); past it, TookTooLong with `too_long`."""
    limit = datasette.setting("sql_time_limit_ms")

    def limited(conn):
        with sqlite_timelimit(conn, limit):
            return read(conn)

    try:
        return await database.execute_fn(limited)
    except sqlite3.DatabaseError as error:
        if error.args != ("interrupted",):
            raise
        raise TookTooLong(too_long.format(seconds=f"{limit / 1000:g}")) from error


async def page_or_json(datasette, request, template, context, **extra):
    """A page of ours from its reader's dict, or that dict itself for the page's JSON twin;
    `extra` is what only the HTML page needs."""
    if request.url_vars.get("format") == "json":
        return Response.json(context)
    return Response.html(await datasette.render_template(template, {**context, **extra}, request=request))


async def missing_page(datasette, request, what, database, query=None):
    """A 404 that points to search (for query, when the URL named something searchable); a
    page's JSON twin answers it as JSON."""
    if request.url_vars.get("format") == "json":
        search = datasette.urls.path("/-/search-all") + ("?q=" + quote(query) if query else "")
        return Response.json({"error": f"There is no {what} in {database}.", "search": search}, status=404)
    return Response.html(await datasette.render_template(
        "regenkb_missing.html", {"what": what, "database": database, "query": query}, request=request), status=404)


async def entity_page(datasette, request, kind, entity_id, read):
    name, database = kb_database(datasette)
    context = (await execute_in_time(datasette, database, lambda conn: read(conn, entity_id))
               if entity_id <= MAX_ID else None)
    if context is None:
        return await missing_page(datasette, request, f"{kind} {entity_id}", name)
    return await page_or_json(datasette, request, f"regenkb_{kind}.html", context, database=name, kind=kind)


def snippet_html(snippet):
    """A search snippet, escaped, with its hits in <mark>."""
    return Markup(str(escape(snippet or "")).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def json_list(value):
    """A JSON list column as a Python list ([] for anything else)."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return parsed if isinstance(parsed, list) else []


def by_year(works):
    """Works counted per year, as the home page's works_per_year: [{"year": 2019, "works": 2}, ...],
    oldest first, undated works (year None) last."""
    counts = {}
    for work in works:
        counts[work["year"]] = counts.get(work["year"], 0) + 1
    return [{"year": year, "works": count} for year, count in
            sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or 0))]
