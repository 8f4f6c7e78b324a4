"""The synthesis page, /-/synthesis, and its JSON twin /-/synthesis.json: serious adverse
events per intervention class and route with exact intervals, the random-effects
meta-analyses of posted outcomes with a forest plot each, and what was left out and why
(the tables `kb synthesize` fills; see kb/synthesis.py for the rules). And the home page's
evidence at a glance: the evidence table's main facets, each count linked to its studies.

The plots are Vega-Lite specs drawn in the browser by static/regenkb-forest.js from the
page's JSON data block, with Vega's CSP-safe expression interpreter (no eval)."""

from urllib.parse import urlencode

from datasette.utils import tilde_encode

from ..search import rows
from .json_lists import JSON_LIST_COLUMNS
from .pages import execute_in_time, json_list, kb_database, page_or_json

TABLES = ("synthesis_safety", "synthesis_meta", "synthesis_meta_studies", "synthesis_excluded")
# The evidence table's columns the home page counts, in its order.
GLANCE = {"design": "Design", "intervention": "Intervention", "cell_source": "Cell source", "route": "Route",
          "species": "Species", "phase": "Phase", "outcomes": "Outcomes measured"}
GLANCE_SHOWN = 8


async def synthesis_page(datasette, request):
    name, database = kb_database(datasette)
    context = await execute_in_time(datasette, database, synthesis_context)
    return await page_or_json(datasette, request, "regenkb_synthesis.html", context, database=name)


def synthesis_context(conn):
    """The syntheses as stored; `ready` is False for a KB made before `kb synthesize` existed."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not set(TABLES) <= present:
        return {"ready": False, "safety": [], "meta": [], "excluded": []}
    safety = rows(conn, "SELECT * FROM synthesis_safety ORDER BY patients DESC, intervention, route")
    for row in safety:
        row["study_list"] = json_list(row["study_list"])
    meta = rows(conn, "SELECT * FROM synthesis_meta ORDER BY outcome, kind, id")
    members = rows(conn, "SELECT * FROM synthesis_meta_studies ORDER BY meta_id, study_id")
    for row in meta:
        row["studies"] = [m for m in members if m["meta_id"] == row["id"]]
    excluded = rows(conn, "SELECT * FROM synthesis_excluded ORDER BY part DESC, study_id, id")
    return {"ready": True, "safety": safety, "meta": meta, "excluded": excluded}


def evidence_at_a_glance(conn, database):
    """The on-topic studies counted by the evidence table's main facets as the table counts
    them (a list column by its items: a study tagged with two designs counts under each),
    most first: [{column, label, counts: [{value, label, studies, path}], more}], `path` the
    table filtered to those studies, `more` the values not shown."""
    table = f"/{tilde_encode(database)}/evidence?"
    found = []
    for column, label in GLANCE.items():
        if column in JSON_LIST_COLUMNS["evidence"]:
            filter_name, counted = f"{column}__arraycontains", conn.execute(f"""
                SELECT j.value, count(DISTINCT e.study_id) AS n FROM evidence e, json_each(e.{column}) j
                WHERE e.on_topic = 1 AND json_valid(e.{column}) GROUP BY j.value ORDER BY n DESC, j.value""")
        else:
            filter_name, counted = column, conn.execute(f"""
                SELECT {column}, count(*) AS n FROM evidence WHERE on_topic = 1 AND {column} IS NOT NULL
                GROUP BY {column} ORDER BY n DESC, {column}""")
        counted = counted.fetchall()
        found.append({"column": column, "label": label, "more": max(0, len(counted) - GLANCE_SHOWN), "counts": [
            {"value": value, "label": f"phase {value}" if column == "phase" else value, "studies": n,
             "path": table + urlencode({"on_topic": 1, filter_name: value})}
            for value, n in counted[:GLANCE_SHOWN]]})
    return found
