"""Datasette plugin: the KB's SQL function, cell rendering, exports (exports.py: works as
.bibtex, .ris, .csljson, networks as .graphml, .gexf) and pages (a work page at
/-/work/{id}, people at /-/author/{id} and institutions at /-/institution/{id} with their
ego networks, search across everything at /-/search-all) and the guards of a public
server (guards.py). The network drawing library (cytoscape.js, from npm; see
package.json) ships in static/, so the pages work offline.

Registered by entry point, so `kb serve` and plain `datasette regenkb.db` both load it.
"""

import json
import re
from urllib.parse import quote

import networkx as nx
from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from ..graph import SEED
from ..search import MARK_END, MARK_START, register_functions, rows
from . import exports, guards

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


@hookimpl
def register_output_renderer(datasette):
    return exports.renderers() + [feeds.renderer()]


@hookimpl
def register_routes(datasette):
    hidden = [] if (datasette.plugin_config("regenkb") or {}).get("debug_endpoints") else [
        (guards.DEBUG_ENDPOINTS, guards.hidden_endpoint)]
    return [(r"^/-/work/(?P<work_id>\d+)(\.(?P<format>json))?$", work_page),
            (r"^/-/search(-all)?(\.(?P<format>json))?$", search_page),
            (r"^/-/author/(?P<author_id>\d+)(\.(?P<format>json))?$", author_page),
            (r"^/-/institution/(?P<institution_id>\d+)(\.(?P<format>json))?$", institution_page),
            (r"^/-/trial/(?P<nct>[^/]+?)(\.(?P<format>json))?$", trial_page),
            (r"^/-/gap-map(\.(?P<format>json))?$", gap_map_page),
            (r"^/-/gap-map/studies(\.(?P<format>json))?$", gap_map_studies_page),
            (r"^/-/synthesis(\.(?P<format>json))?$", synthesis_page),
            (r"^/(-/home(\.(?P<format>json))?)?$", home_page), *feeds.ROUTES, *hidden]


@hookimpl
def menu_links(datasette):
    """The KB's overview pages in Datasette's menu, on every page."""
    return [{"href": datasette.urls.path("/-/gap-map"), "label": "Evidence gap map"}]


def kb_database(datasette):
    """The served database that is a KB (the first with a works table)."""
    for name, database in datasette.databases.items():
        if name != "_internal" and not database.is_memory:
            return name, database
    return None, None


# SQLite's integers are 64-bit: a longer id in a URL names nothing.
MAX_ID = 2**63 - 1


async def work_page(datasette, request):
    name, database = kb_database(datasette)
    work_id = int(request.url_vars["work_id"])
    context = await database.execute_fn(lambda conn: work_context(conn, work_id)) if work_id <= MAX_ID else None
    if context is None:
        return await missing_page(datasette, request, f"work {work_id}", name)
    return await page_or_json(datasette, request, "regenkb_work.html", context, database=name)


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


def work_context(conn, work_id):
    """Everything the work page shows, read in one go."""
    found = rows(conn, "SELECT * FROM works WHERE id = ?", [work_id])
    if not found:
        return None
    work = with_lists(found[0], "works")
    authors = rows(conn, """
        SELECT wa.position, wa.written_name, wa.author_id, p.name AS person,
          (SELECT group_concat(number, ', ') FROM (SELECT DISTINCT number FROM work_author_affiliations waa
             WHERE waa.work_id = wa.work_id AND waa.position = wa.position ORDER BY number)) AS numbers
        FROM work_authors wa LEFT JOIN authors p ON p.id = wa.author_id
        WHERE wa.work_id = ? ORDER BY wa.position""", [work_id])
    affiliations = rows(conn, """
        SELECT DISTINCT waa.number, af.name, af.institution_id, i.name AS institution
        FROM work_author_affiliations waa JOIN affiliations af ON af.id = waa.affiliation_id
        LEFT JOIN institutions i ON i.id = af.institution_id WHERE waa.work_id = ? ORDER BY waa.number""", [work_id])
    tags = rows(conn, "SELECT tag, value, field, span, rule FROM tags WHERE subject = 'work' AND subject_id = ? "
                      "ORDER BY tag, value", [work_id])
    links = rows(conn, """
        SELECT l.relation, l.from_work_id, l.to_work_id, l.to_scheme, l.to_id, l.from_scheme, l.from_id,
          l.score, l.evidence, l.asserted_by, fw.title AS from_title, tw.title AS to_title
        FROM links l LEFT JOIN works fw ON fw.id = l.from_work_id LEFT JOIN works tw ON tw.id = l.to_work_id
        WHERE (l.from_work_id = ? OR l.to_work_id = ?) AND l.from_trial_id IS NULL AND l.to_trial_id IS NULL
        ORDER BY l.relation, coalesce(tw.year, fw.year) DESC""", [work_id, work_id])
    trials = rows(conn, """
        SELECT r.rank, r.score, r.reasons, t.id AS trial_id, t.nct_id, t.brief_title, t.phases, t.enrollment
        FROM related_trials r JOIN trials t ON t.id = r.trial_id WHERE r.work_id = ? ORDER BY r.rank""", [work_id])
    records = rows(conn, "SELECT source, source_id, version, retrieved_at, origin FROM records WHERE work_id = ? "
                         "ORDER BY source", [work_id])
    related = [link for link in links if link["relation"] == "related"]
    references = [link for link in links if link["relation"] == "cites" and link["from_work_id"] == work_id]
    cited_by = [link for link in links if link["relation"] == "cites" and link["to_work_id"] == work_id]
    other = [link for link in links if link["relation"] not in ("related", "cites")]
    return {"work": work, "authors": authors, "affiliations": affiliations, "tags": tags, "related": related,
            "references": references, "cited_by": cited_by, "other_links": other, "trials": trials,
            "records": records, "pub_types": work["pub_types"], "keywords": work["keywords"]}


@hookimpl
def extra_template_vars():
    return {"regenkb_snippet": snippet_html, "regenkb_list": json_list, "regenkb_link": identifier_link,
            "regenkb_origin": shown_origin, "regenkb_table_order": table_order}


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


EGO_NEIGHBOURS = 25


async def author_page(datasette, request):
    return await entity_page(datasette, request, "author", int(request.url_vars["author_id"]), author_context)


async def institution_page(datasette, request):
    return await entity_page(datasette, request, "institution", int(request.url_vars["institution_id"]),
                             institution_context)


async def entity_page(datasette, request, kind, entity_id, read):
    name, database = kb_database(datasette)
    context = await database.execute_fn(lambda conn: read(conn, entity_id)) if entity_id <= MAX_ID else None
    if context is None:
        return await missing_page(datasette, request, f"{kind} {entity_id}", name)
    return await page_or_json(datasette, request, f"regenkb_{kind}.html", context, database=name, kind=kind)


def author_context(conn, author_id):
    found = rows(conn, "SELECT * FROM authors WHERE id = ?", [author_id])
    if not found:
        return None
    works = rows(conn, """
        SELECT w.id, w.year, w.title, w.journal, wa.written_name FROM work_authors wa JOIN works w ON w.id = wa.work_id
        WHERE wa.author_id = ? ORDER BY w.year DESC, w.id""", [author_id])
    partners = rows(conn, f"""
        SELECT b.author_id AS id, p.name AS label, count(DISTINCT a.work_id) AS weight
        FROM work_authors a JOIN work_authors b ON b.work_id = a.work_id AND b.author_id != a.author_id
        JOIN authors p ON p.id = b.author_id WHERE a.author_id = ?
        GROUP BY b.author_id ORDER BY weight DESC, p.name LIMIT {EGO_NEIGHBOURS}""", [author_id])
    between = rows(conn, f"""
        SELECT a.author_id AS source, b.author_id AS target, count(DISTINCT a.work_id) AS weight
        FROM work_authors a JOIN work_authors b ON b.work_id = a.work_id AND a.author_id < b.author_id
        WHERE a.author_id IN ({",".join("?" * (len(partners) + 1))}) AND b.author_id IN ({",".join("?" * (len(partners) + 1))})
        GROUP BY a.author_id, b.author_id""", [author_id, *[p["id"] for p in partners]] * 2)
    entity = with_lists(found[0], "authors")
    return {"entity": entity, "works": works, "by_year": by_year(works), "partners": partners,
            "network": ego_network(conn, "coauthorship", "author", entity, partners, between),
            "places": entity["institutions"], "forms": entity["name_forms"]}


def institution_context(conn, institution_id):
    found = rows(conn, "SELECT * FROM institutions WHERE id = ?", [institution_id])
    if not found:
        return None
    memberships = """SELECT DISTINCT waa.work_id, af.institution_id FROM work_author_affiliations waa
                     JOIN affiliations af ON af.id = waa.affiliation_id WHERE af.institution_id IS NOT NULL"""
    works = rows(conn, f"""
        SELECT w.id, w.year, w.title, w.journal FROM works w WHERE w.id IN (
          SELECT work_id FROM ({memberships}) WHERE institution_id = ?) ORDER BY w.year DESC, w.id""", [institution_id])
    partners = rows(conn, f"""
        SELECT b.institution_id AS id, i.name AS label, count(DISTINCT a.work_id) AS weight
        FROM ({memberships}) a JOIN ({memberships}) b ON b.work_id = a.work_id AND b.institution_id != a.institution_id
        JOIN institutions i ON i.id = b.institution_id WHERE a.institution_id = ?
        GROUP BY b.institution_id ORDER BY weight DESC, i.name LIMIT {EGO_NEIGHBOURS}""", [institution_id])
    members = [institution_id, *[p["id"] for p in partners]]
    marks = ",".join("?" * len(members))
    between = rows(conn, f"""
        SELECT a.institution_id AS source, b.institution_id AS target, count(DISTINCT a.work_id) AS weight
        FROM ({memberships}) a JOIN ({memberships}) b ON b.work_id = a.work_id AND a.institution_id < b.institution_id
        WHERE a.institution_id IN ({marks}) AND b.institution_id IN ({marks})
        GROUP BY a.institution_id, b.institution_id""", members * 2)
    people = rows(conn, """
        SELECT p.id, p.name, count(DISTINCT wa.work_id) AS works_here FROM affiliations af
        JOIN work_author_affiliations waa ON waa.affiliation_id = af.id
        JOIN work_authors wa ON wa.work_id = waa.work_id AND wa.position = waa.position
        JOIN authors p ON p.id = wa.author_id WHERE af.institution_id = ?
        GROUP BY p.id ORDER BY works_here DESC, p.name LIMIT 50""", [institution_id])
    departments = rows(conn, "SELECT id, name, works FROM departments WHERE institution_id = ? "
                             "ORDER BY works DESC, name", [institution_id])
    entity = with_lists(found[0], "institutions")
    return {"entity": entity, "works": works, "by_year": by_year(works), "partners": partners, "people": people,
            "departments": departments, "forms": entity["name_forms"], "trials": institution_trials(conn, entity),
            "network": ego_network(conn, "institutions", "institution", entity, partners, between)}


def by_year(works):
    counts = {}
    for work in works:
        counts[work["year"]] = counts.get(work["year"], 0) + 1
    return sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or 0))


EGO_DRAWN = 15  # partners drawn; the rest of the listed partners are only counted under the drawing
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def ego_network(conn, network, kind, centre, partners, between):
    """Cytoscape elements of an ego network: the centre, its strongest partners and the
    links among them, each node coloured by its community when the network is built, sized by
    joint works and placed by a seeded spring layout, so every load draws the same picture."""
    drawn = partners[:EGO_DRAWN]
    ids = [centre["id"], *[p["id"] for p in drawn]]
    found = {node: (community, label) for node, community, label in conn.execute(
        f"SELECT node, community, community_label FROM graph_nodes WHERE network = ? "
        f"AND node IN ({','.join('?' * len(ids))})", [network, *[f"{kind}:{i}" for i in ids]])}
    labels = {centre["id"]: centre["name"], **{p["id"]: p["label"] for p in drawn}}
    weights = {p["id"]: p["weight"] for p in drawn}
    top = max(weights.values(), default=1)
    links = [e for e in between if e["source"] in labels and e["target"] in labels]
    ego = nx.Graph()
    ego.add_nodes_from(ids)
    ego.add_weighted_edges_from((e["source"], e["target"], e["weight"]) for e in links)
    positions = nx.spring_layout(ego, weight="weight", seed=SEED, scale=300)
    nodes = []
    for i in ids:
        community = (found.get(f"{kind}:{i}") or (0, None))[0] or 0
        nodes.append({"data": {"id": str(i), "label": labels[i], "centre": i == centre["id"],
                               "community": community, "colour": PALETTE[community % len(PALETTE)],
                               "weight": weights.get(i), "size": round(10 + 24 * (weights[i] / top) ** 0.5, 1)
                               if i in weights else 40,
                               "href": f"/-/{kind}/{i}"},
                      "position": {"x": round(float(positions[i][0]), 1), "y": round(float(positions[i][1]), 1)}})
    edges = [{"data": {"id": f"{e['source']}-{e['target']}", "source": str(e["source"]), "target": str(e["target"]),
                       "weight": e["weight"]}} for e in links]
    named = {community: label for community, label in found.values()}
    legend = [{"community": c, "colour": PALETTE[c % len(PALETTE)], "label": named.get(c)}
              for c in sorted({n["data"]["community"] for n in nodes})]
    return {"elements": nodes + edges, "nodes": len(nodes), "edges": len(edges), "more": len(partners) - len(drawn),
            "legend": legend}


# Last: the trial page's module reads the helpers above.
from .trial import institution_trials, trial_page  # noqa: E402
from .search import search_page  # noqa: E402
from .gapmap import gap_map_page, gap_map_studies_page  # noqa: E402
from .evidence import synthesis_page  # noqa: E402
from .json_lists import lists_as_arrays, with_lists  # noqa: E402
from .home import home_page, table_order  # noqa: E402
from . import feeds  # noqa: E402
