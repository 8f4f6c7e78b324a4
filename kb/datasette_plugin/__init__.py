"""Datasette plugin: hooks and the route list. Each page family has its module, as
Datasette's own views/ do: work.py (/-/work/{id}), person.py (/-/author/{id}),
institution.py (/-/institution/{id}), network.py (their ego networks), trial.py
(/-/trial/{nct}), search.py (/-/search), home.py (/ and /regenkb, whose database page of
tables moves to /regenkb/-/tables), evidence.py (/-/synthesis), gapmap.py (/-/gap-map),
exports.py (.bibtex, .ris, .csljson, .graphml, .gexf), feeds.py (Atom); pages.py holds what
they share and guards.py the guards of a public server.
Every page of ours has a JSON twin at the same path with .json. The drawing libraries
(cytoscape.js, Vega-Lite, from npm; see package.json) ship in static/, so the pages work
offline.

Registered by entry point, so `kb serve` and plain `datasette regenkb.db` both load it.
"""

from datasette import hookimpl
from markupsafe import Markup, escape

from ..search import MARK_START, register_functions
from . import exports, feeds, guards
from .evidence import synthesis_page
from .gapmap import gap_map_page, gap_map_studies_page
from .home import database_page, home_page, table_order, tables_page
from .institution import institution_page
from .json_lists import lists_as_arrays
from .pages import (IDENTIFIER_LINKS, identifier_link, identifier_url, json_list, kb_database,
                    shown_origin, snippet_html)
from .person import author_page
from .search import search_page
from .trial import trial_page
from .work import work_page

# (table, column) whose value links to the row's page -> (page, the column that names the row there)
PAGES = {("works", "title"): ("work", "id"), ("authors", "name"): ("author", "id"),
         ("institutions", "name"): ("institution", "id"), ("trials", "brief_title"): ("trial", "nct_id")}



@hookimpl
def prepare_connection(conn):
    register_functions(conn)
    conn.set_authorizer(guards.authorizer)


@hookimpl
def asgi_wrapper(datasette):
    """The guards of a public server (guards.py) around all of Datasette, whose JSON gives list
    columns as arrays (json_lists.py)."""
    return lambda app: guards.guarded(lists_as_arrays(app), datasette)


@hookimpl(wrapper=True)
def extra_body_script(request):
    """Every plugin's inline body script, allowed by hash on this response."""
    return guards.record_body_scripts(request, (yield))


@hookimpl
def render_cell(value, column, table, row, datasette):
    """A work's and a trial's title, a person's and an institution's name link to their pages; search snippets
    show their hits as <mark>; identifiers link to their registries; JSON lists of names read as lists; local
    origins show their file name."""
    if not isinstance(value, str):
        return None
    page, key = PAGES.get((table, column), (None, None))
    if page and row is not None and key in row.keys() and row[key] is not None:
        return Markup('<a href="{}">{}</a>'.format(escape(datasette.urls.path(f"/-/{page}/{row[key]}")), escape(value)))
    if MARK_START in value:
        return snippet_html(value)
    if value.startswith('["') and value.endswith("]"):
        items = json_list(value)
        if items and all(isinstance(item, (str, int, float)) for item in items):
            return Markup("; ".join(str(escape(item)) for item in items))
    if column in IDENTIFIER_LINKS and identifier_url(column, value):
        return identifier_link(column, value)
    if column == "origin" or (table, column) == ("loaded_files", "path"):
        return shown_origin(value)
    return None


@hookimpl
def register_output_renderer(datasette):
    return exports.renderers() + [feeds.renderer()]


@hookimpl
def register_routes(datasette):
    hidden = [] if (datasette.plugin_config("regenkb") or {}).get("debug_endpoints") else [
        (guards.DEBUG_ENDPOINTS, guards.hidden_endpoint)]
    return [
        (r"^/(-/home(\.(?P<format>json))?)?$", home_page),
        (r"^/(?P<database>[^/.]+)(\.(?P<format>\w+))?$", database_page),
        (r"^/(?P<database>[^/.]+)/-/tables(\.(?P<format>json))?$", tables_page),
        (r"^/-/search(-all)?(\.(?P<format>json))?$", search_page),
        (r"^/-/work/(?P<work_id>\d+)(\.(?P<format>json))?$", work_page),
        (r"^/-/trial/(?P<nct>[^/]+?)(\.(?P<format>json))?$", trial_page),
        (r"^/-/author/(?P<author_id>\d+)(\.(?P<format>json))?$", author_page),
        (r"^/-/institution/(?P<institution_id>\d+)(\.(?P<format>json))?$", institution_page),
        (r"^/-/gap-map(\.(?P<format>json))?$", gap_map_page),
        (r"^/-/gap-map/studies(\.(?P<format>json))?$", gap_map_studies_page),
        (r"^/-/synthesis(\.(?P<format>json))?$", synthesis_page),
        *feeds.ROUTES,
        *hidden,
    ]


@hookimpl
def menu_links(datasette):
    """The KB's overview pages in Datasette's menu, on every page."""
    name = kb_database(datasette)[0]
    return [{"href": datasette.urls.path("/-/gap-map"), "label": "Evidence gap map"},
            {"href": datasette.urls.database(name) + "/-/tables", "label": "Tables and SQL"}]


@hookimpl
def extra_template_vars():
    return {"regenkb_snippet": snippet_html, "regenkb_list": json_list, "regenkb_link": identifier_link,
            "regenkb_origin": shown_origin, "regenkb_table_order": table_order}
