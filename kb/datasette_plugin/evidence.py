"""The synthesis page, /-/synthesis, and its JSON twin /-/synthesis.json: serious adverse
events per intervention class and route with exact intervals, the random-effects
meta-analyses of posted outcomes with a forest plot each, and what was left out and why
(the tables `kb synthesize` fills; see kb/synthesis.py for the rules).

The plots are Vega-Lite specs drawn in the browser by static/regenkb-forest.js from the
page's JSON data block, with Vega's CSP-safe expression interpreter (no eval)."""


from ..search import rows
from .pages import json_list, kb_database, page_or_json

TABLES = ("synthesis_safety", "synthesis_meta", "synthesis_meta_studies", "synthesis_excluded")


async def synthesis_page(datasette, request):
    name, database = kb_database(datasette)
    context = await database.execute_fn(synthesis_context)
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
