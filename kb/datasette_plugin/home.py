"""The home page, / and /regenkb, and its JSON twin /-/home.json: what the KB holds (counts,
works per year, trials by phase, status and country, the map of trial sites), a search box
over everything, the trials updated last, what the last load added or changed, the most
central people and institutions, and the ways into the tables, the SQL editor and the API.
Datasette's own /.json (the list of databases) stays as it was, and its database page (the
tables and the SQL editor) moves one click away to /regenkb/-/tables.

The charts are Vega-Lite specs drawn in the browser by static/regenkb-charts.js from the page's
JSON data block, with Vega's CSP-safe expression interpreter, as the synthesis page draws its
forest plots."""


from ..search import rows
from .evidence import evidence_at_a_glance
from .pages import execute_in_time, json_list, kb_database, page_or_json
from .trial import tile_layer

RECENT_SHOWN = 8
# What the last load added is counted up to this many: after a first load of a whole baseline,
# "more than 10,000" costs reading 10,001 records rather than a million.
COUNTED_UP_TO = 10_000
TOP_SHOWN = 10
# Counted on the page, by the table that holds them.
COUNTED = {"works": "works", "trials": "trials", "people": "authors", "institutions": "institutions"}


async def home_page(datasette, request):
    name, database = kb_database(datasette)
    # The evidence counts link to the table, under the name this Datasette gives the KB.
    context = await execute_in_time(
        datasette, database, lambda conn: {**home_context(conn), "evidence": evidence_at_a_glance(conn, name)})
    return await page_or_json(datasette, request, "regenkb_home.html", context, database=name,
                              tile_layer=tile_layer(datasette))


async def database_page(datasette, request):
    """/regenkb opens on the home page, as / does. With a query (?sql=..., ?_show_hidden=1, the
    SQL editor's and the table list's own links) it stays Datasette's database page, as
    /regenkb/-/tables always is; /regenkb.json and a database other than the KB keep theirs."""
    if (request.url_vars["database"] == kb_database(datasette)[0] and request.url_vars["format"] is None
            and not request.query_string):
        return await home_page(datasette, request)
    return await tables_page(datasette, request)


async def tables_page(datasette, request):
    """/regenkb/-/tables: Datasette's database page (its tables, views, canned queries and SQL
    editor), one click from the home page."""
    # Imported here: Datasette loads this plugin while datasette.views.database is being imported.
    from datasette.views.database import DatabaseView

    return await DatabaseView.as_view(datasette)(request, None)


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
    institutions, institutions_by = most_central(conn, "institutions", "institution", "institutions",
                                                 ("name", "country", "works"))
    people, people_by = most_central(conn, "coauthorship", "author", "authors", ("name", "works"))
    harvests = rows(conn, """
        SELECT source, max(finished_at) AS finished_at FROM harvest_runs WHERE finished_at IS NOT NULL
        GROUP BY source ORDER BY source""")
    return {"counts": counts, "works_per_year": works_per_year,
            "trials_by_phase": [{"phase": label, "trials": n} for label, n in sorted(
                by_phase.items(), key=lambda item: (item[0] == "Not given", item[0]))],
            "trials_by_status": trials_by_status, "trials_by_country": trials_by_country,
            "map": site_map(conn), "recent_trials": recent_trials, "added": added_since_last_load(conn),
            "institutions": institutions, "people": people,
            "ranked_by": {"institutions": institutions_by, "people": people_by}, "harvests": harvests}


def site_map(conn):
    """Every trial site with coordinates, one marker per place: {lat, lon, place, trials, label},
    the label naming the place and its trials (a hospital hosting three trials is one marker)."""
    places = {}
    for site in rows(conn, """
            SELECT s.latitude AS lat, s.longitude AS lon, s.facility, s.city, s.country, t.nct_id
            FROM trial_sites s JOIN trials t ON t.id = s.trial_id
            WHERE s.latitude IS NOT NULL AND s.longitude IS NOT NULL ORDER BY t.nct_id, s.position"""):
        place = places.setdefault((site["lat"], site["lon"]), {"names": [], "trials": []})
        name = ", ".join(filter(None, (site["facility"], site["city"], site["country"])))
        place["names"] += [name] if name not in place["names"] else []
        place["trials"] += [site["nct_id"]] if site["nct_id"] not in place["trials"] else []
    return [{"lat": lat, "lon": lon, "place": "; ".join(place["names"]), "trials": place["trials"],
             "label": "; ".join(place["names"]) + ": " + ", ".join(place["trials"])}
            for (lat, lon), place in places.items()]


def added_since_last_load(conn):
    """What the KB's last load added or changed: the works and trials whose records were
    retrieved on the day of the newest records.retrieved_at. records is what every load writes
    (a harvest, a bulk file, the demo), where harvest_runs and loaded_files each know only
    their kind of load; an unchanged record keeps its old retrieved_at, so these are the new
    and the changed, as the Atom feeds' `since` reads them. None for an empty KB."""
    latest = conn.execute("SELECT max(retrieved_at) FROM records").fetchone()[0]
    if latest is None:
        return None
    since = latest[:10]
    added = {"since": since, "counted_up_to": COUNTED_UP_TO}
    for kind, column in (("works", "work_id"), ("trials", "trial_id")):
        added[kind] = conn.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT {column} FROM records WHERE retrieved_at >= ? "
            f"AND {column} IS NOT NULL LIMIT {COUNTED_UP_TO + 1})", [since]).fetchone()[0]
        # Newest first, read down the retrieved_at index until RECENT_SHOWN are found: grouping a
        # whole day's records first would read every record of a first load.
        newest = {}
        for row_id, retrieved_at in conn.execute(
                f"SELECT {column}, retrieved_at FROM records WHERE retrieved_at >= ? AND {column} IS NOT NULL "
                f"ORDER BY retrieved_at DESC", [since]):
            newest.setdefault(row_id, retrieved_at)
            if len(newest) == RECENT_SHOWN:
                break
        found = {row["id"]: row for row in rows(conn, (
            "SELECT id, title, journal, year FROM works" if kind == "works" else
            "SELECT id, nct_id, brief_title, overall_status FROM trials") +
            f" WHERE id IN ({','.join('?' * len(newest))})", list(newest))}
        added["latest_" + kind] = [{**found[row_id], "retrieved_at": at} for row_id, at in newest.items()
                                   if row_id in found]
    return added


def most_central(conn, network, kind, table, columns):
    """The TOP_SHOWN most central rows of table (people or institutions) and what ranked them:
    "pagerank" in the network `kb graph build` wrote to graph_nodes (with each one's
    `partners`, its degree there), or "works" when that network is not built yet."""
    central = rows(conn, f"""
        SELECT e.id, {", ".join("e." + column for column in columns)}, n.pagerank, n.degree AS partners
        FROM graph_nodes n JOIN {table} e ON e.id = CAST(substr(n.node, {len(kind) + 2}) AS INTEGER)
        WHERE n.network = ? AND n.kind = ? ORDER BY n.pagerank DESC, n.degree DESC, e.name LIMIT {TOP_SHOWN}""",
                   [network, kind])
    if central:
        return central, "pagerank"
    return rows(conn, f"SELECT id, {', '.join(columns)} FROM {table} WHERE works > 0 "
                      f"ORDER BY works DESC, name LIMIT {TOP_SHOWN}"), "works"


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
