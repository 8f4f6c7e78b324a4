"""Exports of a table's or a query's rows: works as citations (.bibtex, .ris, .csljson) and
networks as .graphml and .gexf, for reference managers, Gephi and Cytoscape.

An export gives every row its URL asks for, not the page Datasette shows (50 rows of a table,
1,000 of a query): when more rows exist, the renderer runs the page's SQL again without the
page's limit. Past MAX_ROWS it stops and says so, in the EXPORT_CUT header and in a comment in
the file (CSL-JSON has no comments: the header alone). Rows that cannot be exported in a format
are a 400 that names the tables and queries that can.
"""

import io
import json
import re

from ..citations import FORMATS, works_for_citation
from .pages import execute_in_time

# More rows than any reference manager imports in one go; the demo has 65 works and ~2,000 edges.
MAX_ROWS = 100_000
TOO_LONG = ("The export's query took longer than the server's time limit for SQL ({seconds} s) and was stopped. "
            "Narrow it (fewer rows) and try again.")
EXPORT_CUT = "x-regenkb-export-cut"

# How each format writes a comment line about a cut export (None: the format has no comments).
COMMENTS = {"bibtex": "@comment{{{}}}\n\n", "ris": "{}\r\n\r\n", "csljson": None,
            "graphml": "<!-- {} -->\n", "gexf": "<!-- {} -->\n"}


def renderers():
    return [{"extension": extension, "render": citation_renderer(extension), "can_render": can_cite}
            for extension in FORMATS] + [
        {"extension": extension, "render": graph_renderer(extension), "can_render": is_graph}
        for extension in ("graphml", "gexf")]


def answer(body, content_type, status=200, headers=None):
    # A dict, not a Response: Datasette's query view sets its own status (200) on a Response,
    # which turned a refused export into a 200 with the error as its body.
    return {"body": body, "content_type": content_type, "status_code": status, "headers": headers or {}}


def refusal(text):
    return answer(text, "text/plain; charset=utf-8", status=400)


def attachment(name, extension, cut):
    headers = {"content-disposition": f'attachment; filename="{name}.{extension}"'}
    if cut:
        headers[EXPORT_CUT] = f"only the first {MAX_ROWS} rows; narrow the query for the rest"
    return headers


def with_cut_note(text, extension, cut):
    """The text with a comment saying the export stopped at MAX_ROWS (after an XML declaration)."""
    if not cut or COMMENTS[extension] is None:
        return text
    note = COMMENTS[extension].format(f"Export cut at {MAX_ROWS} rows: narrow the query for the rest.")
    if text.startswith("<?xml"):
        declaration, _, rest = text.partition("\n")
        return f"{declaration}\n{note}{rest}"
    return note + text


async def all_rows(datasette, database, columns, rows, data, view_name):
    """Every row the URL asks for as dicts, and whether MAX_ROWS cut them. Datasette hands a
    renderer one page; `next` (a table) or `truncated` (a query) says more rows exist."""
    if not (data.get("next") or data.get("truncated")):
        found = [dict(zip(columns, row)) for row in rows]
        return found[:MAX_ROWS], len(found) > MAX_ROWS
    sql, params = data["query"]["sql"], data["query"].get("params") or {}
    if view_name == "table":
        # The table view's SQL ends "limit <page size + 1>[ offset <n>]"; keep its filters, order and offset.
        sql = re.sub(r"limit \d+( offset \d+)?$", lambda m: f"limit {MAX_ROWS + 1}{m.group(1) or ''}", sql.rstrip())

    def read(conn):
        cursor = conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchmany(MAX_ROWS + 1)]

    found = await execute_in_time(datasette, datasette.get_database(database), read, TOO_LONG)
    return found[:MAX_ROWS], len(found) > MAX_ROWS


def is_graph(columns):
    """Rows with a source and a target (graph_edges) or with a node and the node it was reached
    via (ego_network) are a network."""
    return {"source", "target"} <= set(columns) or {"node", "via"} <= set(columns)


def edges_and_nodes(rows):
    """(edges, node names) of the rows: edge rows as they are, ego_network's rows as an edge from
    `via` to `node` (the centre, reached via nothing, is a node alone)."""
    if rows and "source" in rows[0]:
        return rows, {e["source"] for e in rows} | {e["target"] for e in rows}
    edges = [{"source": row["via"], "target": row["node"], "weight": row.get("strongest_edge"),
              "evidence": row.get("evidence")} for row in rows if row["via"] is not None]
    return edges, {row["node"] for row in rows}


def graph_renderer(extension):
    """Edges (and the nodes they name, with their labels and metrics) as GraphML or GEXF."""

    async def render(datasette, columns, rows, database, table, query_name, request, data, view_name):
        if not is_graph(columns):
            return refusal(f"These rows are not a network (no source and target columns, nor node and via), so "
                           f"they have no .{extension} export; graph_edges and ego_network have.")
        found, cut = await all_rows(datasette, database, columns, rows, data, view_name)
        edges, names = edges_and_nodes(found)
        # A node's name is unique within its network only: read the nodes of the exported networks.
        networks = sorted({e["network"] for e in found if e.get("network")}) or (
            [request.args["network"]] if request.args.get("network") else [])
        nodes = await execute_in_time(datasette, datasette.get_database(database), lambda conn: conn.execute(
            "SELECT node, network, kind, label, degree, pagerank, community, first_year, last_year FROM graph_nodes "
            "WHERE node IN (SELECT value FROM json_each(:names)) "
            "AND (:networks = '[]' OR network IN (SELECT value FROM json_each(:networks)))",
            {"names": json.dumps(sorted(names)), "networks": json.dumps(networks)}).fetchall(), TOO_LONG)
        text = graph_text(edges, [dict(n) for n in nodes], extension)
        name = table or query_name or "network"
        return answer(with_cut_note(text, extension, cut), "application/xml; charset=utf-8",
                      headers=attachment(name, extension, cut))

    return render


def graph_text(edges, nodes, extension):
    import networkx as nx

    graph = nx.MultiGraph()
    for node in nodes:
        graph.add_node(node["node"], **{k: v for k, v in node.items() if k != "node" and v is not None})
    for edge in edges:
        graph.add_edge(edge["source"], edge["target"], **{k: v for k, v in edge.items()
                                                         if k not in ("source", "target", "id") and v is not None})
    out = io.BytesIO()
    (nx.write_graphml if extension == "graphml" else nx.write_gexf)(graph, out)
    return out.getvalue().decode()


def can_cite(columns, table=None):
    """Rows of works (the works table, or any query with a work_id column) can be cited."""
    return table == "works" or "work_id" in columns or (table is None and {"id", "title", "pmid"} <= set(columns))


def citation_renderer(extension):
    formatter, content_type = FORMATS[extension]

    async def render(datasette, columns, rows, database, table, query_name, data, view_name):
        if not can_cite(columns, table):
            return refusal(f"These rows are not works (no work_id column), so they have no .{extension} "
                           "export; works, search results and works_by_author have.")
        found, cut = await all_rows(datasette, database, columns, rows, data, view_name)
        column = "work_id" if "work_id" in columns and table != "works" else "id"
        ids = list(dict.fromkeys(row[column] for row in found if row[column] is not None))
        works = await datasette.get_database(database).execute_fn(lambda conn: works_for_citation(conn, ids))
        name = table or query_name or "works"
        return answer(with_cut_note(formatter(works), extension, cut), content_type,
                      headers=attachment(name, extension, cut))

    return render
