"""The home page, /, and its JSON twin /-/home.json: what the KB holds (counts, works per
year, trials by phase, status and country), a search box over everything, the trials updated
and the papers added last, the most prolific institutions and people, and the ways into the
tables, the SQL editor and the API. Datasette's own /.json (the list of databases) stays as it was.

The charts are Vega-Lite specs drawn in the browser by static/regenkb-home.js from the page's
JSON data block, with Vega's CSP-safe expression interpreter, as the synthesis page draws its
forest plots."""


from ..search import rows
from .pages import json_list, kb_database, page_or_json

RECENT_SHOWN = 8
TOP_SHOWN = 10
# Counted on the page, by the table that holds them.
COUNTED = {"works": "works", "trials": "trials", "people": "authors", "institutions": "institutions"}


async def home_page(datasette, request):
    name, database = kb_database(datasette)
    context = await database.execute_fn(home_context)
    return await page_or_json(datasette, request, "regenkb_home.html", context, database=name)


def home_context(conn):
    """Everything the home page shows, read in one go."""
    counts = {label: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for label, table in COUNTED.items()}
    counts["on_topic_studies"] = conn.execute("SELECT count(*) FROM evidence WHERE on_topic = 1").fetchone()[0]
    works_per_year = rows(conn, "SELECT year, count(*) AS works FROM works WHERE year IS NOT NULL "
                                "GROUP BY year ORDER BY year")
    by_phase = {}
    for row in rows(conn, "SELECT phases, count(*) AS trials FROM trials GROUP BY phases"):
        label = phase_label(json_list(row["phases"]))
        by_phase[label] = by_phase.get(label, 0) + row["trials"]
    trials_by_status = rows(conn, """
        SELECT coalesce(overall_status, 'not given') AS status, count(*) AS trials FROM trials
        GROUP BY 1 ORDER BY trials DESC, status""")
    for row in trials_by_status:
        row["status"] = row["status"].replace("_", " ").capitalize()
    # A trial with sites in three countries counts once in each.
    trials_by_country = rows(conn, """
        SELECT c.value AS country, count(DISTINCT t.id) AS trials FROM trials t, json_each(t.countries) c
        WHERE json_valid(t.countries) GROUP BY c.value ORDER BY trials DESC, country""")
    recent_trials = rows(conn, f"""
        SELECT nct_id, brief_title, overall_status, phases, coalesce(last_update_posted, first_posted) AS updated
        FROM trials ORDER BY updated IS NULL, updated DESC, nct_id LIMIT {RECENT_SHOWN}""")
    for row in recent_trials:
        row["phases"] = json_list(row["phases"])
    # Works are numbered as they are loaded: the highest ids are what the last harvests added.
    recent_works = rows(conn, f"SELECT id, title, journal, year, pmid, doi FROM works "
                              f"ORDER BY id DESC LIMIT {RECENT_SHOWN}")
    institutions = rows(conn, f"SELECT id, name, country, works FROM institutions WHERE works > 0 "
                              f"ORDER BY works DESC, name LIMIT {TOP_SHOWN}")
    people = rows(conn, f"SELECT id, name, works FROM authors WHERE works > 0 "
                        f"ORDER BY works DESC, name LIMIT {TOP_SHOWN}")
    harvests = rows(conn, """
        SELECT source, max(finished_at) AS finished_at FROM harvest_runs WHERE finished_at IS NOT NULL
        GROUP BY source ORDER BY source""")
    return {"counts": counts, "works_per_year": works_per_year,
            "trials_by_phase": [{"phase": label, "trials": n} for label, n in sorted(
                by_phase.items(), key=lambda item: (item[0] == "Not given", item[0]))],
            "trials_by_status": trials_by_status, "trials_by_country": trials_by_country,
            "recent_trials": recent_trials, "recent_works": recent_works, "institutions": institutions,
            "people": people, "harvests": harvests}


def phase_label(phases):
    """["PHASE1", "PHASE2"] -> "Phase 1/Phase 2"; no phase (observational studies) -> "Not given"."""
    names = [p.replace("EARLY_PHASE", "Early phase ").replace("PHASE", "Phase ").replace("NA", "Not applicable")
             for p in phases]
    return "/".join(names) or "Not given"


# The database page lists these first, in this order: where researchers start.
FIRST_TABLES = ("works", "trials", "evidence", "authors", "institutions")
# ...and these last: provenance and the bookkeeping of loads, merges and curation.
LAST_TABLES = ("records", "author_names", "author_curations", "merges", "merge_blocks", "work_conflicts",
               "quarantine", "library_entries")


def table_order(tables):
    """The database page's tables (Datasette's dicts, hidden ones last, by name) with
    FIRST_TABLES first and LAST_TABLES after the rest; templates/database.html calls it."""
    def key(table):
        name = table["name"]
        rank = FIRST_TABLES.index(name) if name in FIRST_TABLES else len(FIRST_TABLES) + (name in LAST_TABLES)
        return (table["hidden"], rank)
    return sorted(tables, key=key)
