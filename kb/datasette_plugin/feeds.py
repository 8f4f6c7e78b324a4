"""Atom feeds of what is new or changed in the KB, for a researcher's feed reader: the search
(/-/search.atom?q=...), the works and trials tables (/regenkb/works.atom, /regenkb/trials.atom)
and any canned query or SQL whose rows are works (a work_id column, or the works table's id,
title and pmid) or trials (an nct_id column), as `<name>.atom`.

An entry is a work or a trial, linking to its page (/-/work/{id}, /-/trial/{nct}); its
`updated` is the last time a harvest loaded a new or changed record of it into this KB
(records.retrieved_at, which an unchanged record keeps), so after each scheduled harvest a
reader shows exactly what that harvest added or changed. `?since=YYYY-MM-DD` (or a full
timestamp) keeps the entries updated since then.

Our own renderer rather than datasette-atom: that plugin needs SQL written with atom_id,
atom_title and atom_updated columns (no table, search or existing canned query has them),
fails on an empty result (max() of no rows) and pulls in feedgen, lxml and bleach.
"""

import json
import re
import xml.etree.ElementTree as ET

from datasette.utils.asgi import Response

from .. import search
from ..search import rows
from .pages import execute_in_time, json_list, kb_database
from .exports import all_rows, answer, refusal

ATOM = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
# A feed reader shows the newest; older entries are one `since` away.
MAX_ENTRIES = 200
# Searches read for a feed: the matches of this many pages of search.MAX_PAGE_SIZE.
SEARCH_PAGES = 10
SINCE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?)?")
# Characters XML 1.0 cannot hold at all, not even escaped; harvested text may carry them.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# When the KB has loaded nothing yet.
EPOCH = "1970-01-01T00:00:00+00:00"

ENTRIES_SQL = {
    "works": """
        SELECT w.id AS key, w.title, w.journal, w.year, w.pmid, w.doi,
          (SELECT max(retrieved_at) FROM records r WHERE r.work_id = w.id) AS updated
        FROM works w WHERE w.id IN (SELECT value FROM json_each(:keys))""",
    "trials": """
        SELECT t.nct_id AS key, t.brief_title AS title, t.overall_status, t.phases, t.last_update_posted,
          (SELECT max(retrieved_at) FROM records r WHERE r.trial_id = t.id) AS updated
        FROM trials t WHERE t.nct_id IN (SELECT value FROM json_each(:keys))""",
}


def since_of(request):
    """The `since` argument (`_since` on a table other than works and trials, where Datasette reads
    `since` as a column filter), or None; a ValueError when it is no date."""
    since = (request.args.get("since") or request.args.get("_since") or "").strip()
    if since and not SINCE.fullmatch(since):
        raise ValueError(f"since={since!r} is not a date: give YYYY-MM-DD (or a full ISO timestamp).")
    return since or None


def kind_of(columns, table=None):
    """("works" | "trials", the column naming them) for rows of works or trials, else (None, None)."""
    columns = set(columns)
    if table == "trials" or "nct_id" in columns:
        return "trials", "nct_id"
    if table == "works" or (table is None and {"id", "title", "pmid"} <= columns):
        return "works", "id"
    if "work_id" in columns:
        return "works", "work_id"
    return None, None


def entries(conn, kind, keys, since):
    """The works or trials named by keys, as feed entries, newest change first."""
    found = rows(conn, ENTRIES_SQL[kind], {"keys": json.dumps(list(dict.fromkeys(keys)))})
    found = [e for e in found if not since or (e["updated"] or "") >= since]
    found.sort(key=lambda e: (e["updated"] or "", str(e["key"])), reverse=True)
    return found[:MAX_ENTRIES]


def summary(kind, entry):
    if kind == "works":
        parts = [entry["journal"], entry["year"] and str(entry["year"]), entry["pmid"] and f"PMID {entry['pmid']}",
                 entry["doi"] and f"doi:{entry['doi']}"]
    else:
        phases = ", ".join(str(phase) for phase in json_list(entry["phases"]))
        parts = [entry["key"], entry["overall_status"], phases,
                 entry["last_update_posted"] and f"last updated at the registry {entry['last_update_posted']}"]
    return "; ".join(part for part in parts if part)


def text(value):
    return NOT_XML.sub("", str(value))


def atom(title, feed_url, base_url, kind, found, kb_updated):
    """The Atom XML of entries (a feed's id is its URL; an entry's id is its page's URL)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")

    def add(parent, tag, value=None, **attributes):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: text(v) for k, v in attributes.items()})
        if value is not None:
            element.text = text(value)
        return element

    add(feed, "id", feed_url)
    add(feed, "title", title)
    add(feed, "updated", found[0]["updated"] if found else kb_updated or EPOCH)
    add(feed, "link", rel="self", href=feed_url)
    add(add(feed, "author"), "name", "regenkb")
    add(feed, "generator", "regenkb")
    page = "work" if kind == "works" else "trial"
    for entry in found:
        url = f"{base_url}/-/{page}/{entry['key']}"
        item = add(feed, "entry")
        add(item, "id", url)
        add(item, "title", entry["title"] or f"{page} {entry['key']}")
        add(item, "updated", entry["updated"] or kb_updated or EPOCH)
        add(item, "link", rel="alternate", type="text/html", href=url)
        add(item, "summary", summary(kind, entry))
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


async def feed_text(datasette, request, database, title, kind, keys, since):
    base_url = datasette.absolute_url(request, datasette.urls.path("/")).rstrip("/")
    feed_url = datasette.absolute_url(request, request.full_path)

    def read(conn):
        kb_updated = conn.execute("SELECT max(retrieved_at) FROM records").fetchone()[0]
        return atom(title, feed_url, base_url, kind, entries(conn, kind, keys, since), kb_updated)

    return await execute_in_time(datasette, database, read)


async def search_feed(datasette, request):
    """/-/search.atom?q=...: the search page's matches (its filters too) as a feed."""
    _, database = kb_database(datasette)
    query = request.args.get("q", "").strip()
    args = {key: request.args.getlist(key) for key in request.args}
    kind = "trials" if request.args.get("kind") == "trials" else "works"
    try:
        search.check_query(query)
        since = since_of(request)
    except (search.QueryTooLong, ValueError) as error:
        return Response.text(str(error), status=400)

    def keys(conn):
        found = []
        for page in range(1, SEARCH_PAGES + 1):
            hits = search.find(conn, query, kind=kind, filters=search.filters_from(args), page=page,
                               size=search.MAX_PAGE_SIZE, widen=request.args.get("exact") != "1")["rows"]
            found += [hit["nct_id" if kind == "trials" else "id"] for hit in hits]
            if len(hits) < search.MAX_PAGE_SIZE:
                return found
        return found

    title = f"regenkb: {kind} matching {query!r}" if query else f"regenkb: {kind}"
    text_ = await feed_text(datasette, request, database, title, kind,
                             await execute_in_time(datasette, database, keys), since)
    return Response(text_, content_type=CONTENT_TYPE)


async def table_feed(datasette, request):
    """/regenkb/works.atom and /regenkb/trials.atom: the works or trials whose records a harvest
    loaded new or changed most recently, read from records alone (a whole baseline's works
    would not fit in one feed)."""
    name, database = kb_database(datasette)
    table = request.url_vars["table"]
    if request.url_vars["database"] != name:
        return Response.text(f"There is no database {request.url_vars['database']!r} here.", status=404)
    filters = sorted(key for key in request.args if key not in ("since", "_since"))
    if filters:
        return Response.text(f"{table}.atom takes only since, not {', '.join(filters)}: for a filtered feed use "
                             "/-/search.atom with the search page's filters.", status=400)
    try:
        since = since_of(request)
    except ValueError as error:
        return Response.text(str(error), status=400)
    column = "work_id" if table == "works" else "trial_id"
    key = column if table == "works" else "(SELECT nct_id FROM trials WHERE id = trial_id)"
    keys = [row[0] for row in await execute_in_time(datasette, database, lambda conn: conn.execute(
        f"SELECT {key} FROM records WHERE {column} IS NOT NULL AND retrieved_at >= :since "
        f"GROUP BY {column} ORDER BY max(retrieved_at) DESC LIMIT {MAX_ENTRIES}",
        {"since": since or ""}).fetchall())]
    text_ = await feed_text(datasette, request, database, f"regenkb: {table}", table, keys, since)
    return Response(text_, content_type=CONTENT_TYPE)


async def render(datasette, columns, rows, database, table, query_name, request, data, view_name):
    """The `.atom` of a table, canned query or SQL whose rows are works or trials."""
    kind, column = kind_of(columns, table)
    if kind is None:
        return refusal("These rows are neither works (work_id) nor trials (nct_id), so they have no .atom feed; "
                       "works, trials, search and search_trials have.")
    try:
        since = since_of(request)
    except ValueError as error:
        return refusal(str(error))
    found, _ = await all_rows(datasette, database, columns, rows, data, view_name)
    keys = [row[column] for row in found if row[column] is not None]
    title = f"regenkb: {table or query_name or 'query'}"
    body = await feed_text(datasette, request, datasette.get_database(database), title, kind, keys, since)
    return answer(body, CONTENT_TYPE)


ROUTES = [(r"^/-/search(-all)?\.atom$", search_feed),
          (r"^/(?P<database>[^/]+)/(?P<table>works|trials)\.atom$", table_feed)]


def renderer():
    return {"extension": "atom", "render": render, "can_render": lambda columns: kind_of(columns)[0] is not None}
