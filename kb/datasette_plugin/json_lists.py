"""List columns as arrays in the JSON API: SQLite stores a list (a trial's phases, a work's
publication types) as JSON text, which Datasette's JSON would give as a string inside JSON
("[\\"PHASE1\\", \\"PHASE2\\"]"). Datasette's own `_json=column` switch parses such a column;
this ASGI wrapper adds it, for the list columns of the table or canned query a .json URL
names (or of a row page's table), to every such request, so links in the JSON (next_url)
carry it too. The HTML pages, CSV exports and facets are unchanged (`?_facet_array=phases`
counts each phase)."""

from urllib.parse import parse_qs, quote

from .. import evidence
from .pages import json_list

# table or canned query -> its columns that hold a JSON list
JSON_LIST_COLUMNS = {
    "works": ("pub_types", "keywords", "grants", "sources", "languages"),
    "trials": ("phases", "collaborators", "conditions", "keywords", "condition_mesh", "intervention_types",
               "countries", "expanded_access_types", "std_ages"),
    "trial_interventions": ("arm_labels", "other_names"),
    "authors": ("name_forms", "institutions", "top_coauthors", "evidence"),
    "institutions": ("name_forms",),
    "mesh_descriptors": ("tree_numbers",),
    "gap_map": ("study_ids",),
    "evidence": ("work_ids", *evidence.LIST_COLUMNS),
    "synthesis_safety": ("study_list",),
    "tagged": ("found",),
    # canned queries (datasette-metadata.json) that give a trial's phases
    "trials_for_work": ("phases",),
    "search_trials": ("phases",),
    # the canned query of the evidence table, with its list columns
    "evidence_table": ("design", "intervention", "cell_source", "origin", "route", "stroke_type", "outcomes", "safety"),
}


def with_lists(row, table):
    """A row of table with its list columns as lists ([] for none), as the pages' JSON twins give it."""
    columns = JSON_LIST_COLUMNS[table]
    return {key: json_list(value) if key in columns else value for key, value in row.items()}


def list_columns_of(path):
    """The list columns of the table or query a JSON URL names, or of a row page's table:

    /regenkb/trials.json -> trials' list columns; /regenkb/trials/7.json -> the same;
    /regenkb/work_mesh.json -> ()"""
    if not path.endswith(".json"):
        return ()
    parts = path[:-len(".json")].split("/")
    for table in parts[-1:-3:-1]:
        if table in JSON_LIST_COLUMNS:
            return JSON_LIST_COLUMNS[table]
    return ()


def lists_as_arrays(app):
    async def app_with_arrays(scope, receive, send):
        columns = list_columns_of(scope.get("path", "")) if scope["type"] == "http" else ()
        asked = scope.get("query_string", b"").decode("latin-1")
        # A next_url already carries them: add each once.
        missing = [column for column in columns if column not in parse_qs(asked).get("_json", [])]
        if missing:
            added = "&".join(f"_json={quote(column)}" for column in missing)
            scope = dict(scope, query_string=(f"{asked}&{added}" if asked else added).encode("latin-1"))
        return await app(scope, receive, send)

    return app_with_arrays
