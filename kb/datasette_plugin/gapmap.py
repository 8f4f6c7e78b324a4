"""The evidence gap map page, /-/gap-map, its JSON twin /-/gap-map.json, and the list of a
cell's studies, /-/gap-map/studies (and .json).

The maps are `kb.gapmap.cells` of the studies the filters keep (stroke type, phase, species,
years), so the page with no filters shows what the gap_map table holds. A filter must name a
value some on-topic study has (the form offers those); anything else is a 400 that lists
them. A cell links to its studies, each to its work and trial pages.
"""

import math
from urllib.parse import urlencode

from datasette.utils.asgi import Response

from .. import gapmap
from .pages import execute_in_time, json_list, kb_database, missing_page, page_or_json

# Bubble radius in pixels: area proportional to the number of studies, the largest cell
# of both maps at MAX_RADIUS, and no bubble too small to see or to point at.
MAX_RADIUS, MIN_RADIUS = 16, 3
# CSS class of each design level (the template colours them; the legend names them).
DESIGN_CLASSES = dict(zip(gapmap.DESIGN_LEVELS, ("design-rct", "design-nrct", "design-single-arm",
                                                 "design-observational", "design-case-series", "design-preclinical",
                                                 "design-not-stated")))
YEARS = ("year_from", "year_to")


async def gap_map_page(datasette, request):
    return await answer(datasette, request, "regenkb_gap_map.html", gap_map_context)


async def gap_map_studies_page(datasette, request):
    return await answer(datasette, request, "regenkb_gap_map_studies.html", gap_map_studies_context)


async def answer(datasette, request, template, read):
    """One path for both pages: 400 for a bad filter, 404 for no such cell, else the page or its JSON."""
    name, database = kb_database(datasette)
    as_json = request.url_vars.get("format") == "json"
    args = {key: request.args.get(key) for key in request.args.keys()}
    try:
        context = await execute_in_time(datasette, database, lambda conn: read(conn, args))
    except gapmap.FilterError as error:
        if as_json:
            return Response.json({"ok": False, "error": str(error)}, status=400)
        return Response.html(await datasette.render_template(
            "regenkb_gap_map.html", {"problem": str(error), "database": name}, request=request), status=400)
    if context is None:
        what = f"gap map cell {args.get('row')} × {args.get('outcome')} ({args.get('map')})"
        if as_json:
            return Response.json({"ok": False, "error": f"There is no {what} in {name}."}, status=404)
        return await missing_page(datasette, request, what, name)
    return await page_or_json(datasette, request, template, context, database=name,
                              design_classes=DESIGN_CLASSES, problem=None)


def options(found):
    """The values each filter can take: those the on-topic studies have."""
    return {"stroke_type": sorted({s for study in found for s in gapmap.split(study["stroke_type"])}),
            "phase": sorted({p for study in found for p in gapmap.phases_of(study["phase"])},
                            key=lambda p: float(p.split()[-1]) - ("early" in p)),
            "species": sorted({s for study in found for s in gapmap.split(study["species"])}),
            "years": [min((s["year"] for s in found if s["year"]), default=None),
                      max((s["year"] for s in found if s["year"]), default=None)]}


def checked_filters(args, offered):
    """{filter: value} from URL arguments, or FilterError saying what is wrong and what is offered."""
    filters = {}
    for name in gapmap.FILTERS:
        value = (args.get(name) or "").strip()
        if value and value not in offered[name]:
            raise gapmap.FilterError(f"No on-topic study has {name.replace('_', ' ')} {shown(value)}; choose one of: "
                                     + ", ".join(offered[name]) + ".")
        if value:
            filters[name] = value
    for name in YEARS:
        value = (args.get(name) or "").strip()
        if value:
            if not value.isdigit() or len(value) > 4:
                raise gapmap.FilterError(f"{name.replace('_', ' ')} is a year (like 2020), not {shown(value)}.")
            filters[name] = int(value)
    if filters.get("year_from", 0) > filters.get("year_to", 9999):
        raise gapmap.FilterError(f"year from ({filters['year_from']}) is after year to ({filters['year_to']}).")
    return filters


def shown(value, limit=80):
    """A visitor's value quoted in an error, cut short: a 60,000-character filter is not echoed whole."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def filtered(conn, args):
    everything = gapmap.studies(conn)
    offered = options(everything)
    filters = checked_filters(args, offered)
    return gapmap.studies(conn, filters) if filters else everything, filters, offered, len(everything)


def gap_map_context(conn, args):
    """Both maps for the filters in args: rows, outcome columns and a bubble per non-empty cell."""
    found, filters, offered, counted = filtered(conn, args)
    maps = gapmap.cells(found)
    largest = max((len(members) for cells in maps.values() for members in cells.values()), default=1)
    drawn = []
    for name, title in gapmap.MAPS.items():
        cells = maps[name]
        columns = ordered({outcome for _, outcome in cells}, cells, 1)
        keys = ordered({key for key, _ in cells}, cells, 0)
        drawn.append({"map": name, "title": title, "columns": columns,
                      "studies": len({s["study_id"] for members in cells.values() for s in members}),
                      "rows": [{"row": gapmap.row_label(key), "cells": [
                          cell(name, key, outcome, cells[(key, outcome)], filters, largest)
                          if (key, outcome) in cells else None for outcome in columns]} for key in keys]})
    reviews = conn.execute("SELECT count(*) FROM evidence WHERE on_topic = 1").fetchone()[0] - counted
    return {"filters": filters, "options": offered, "maps": drawn, "studies": len(found), "reviews_left_out": reviews,
            "legend": {"designs": list(gapmap.DESIGN_LEVELS), "sizes": legend_sizes(largest)}}


def ordered(labels, cells, part):
    """Rows or columns with the most studies first, 'not stated' ones last."""
    def weight(label):
        return len({s["study_id"] for key, members in cells.items() if key[part] == label for s in members})

    return sorted(labels, key=lambda label: (not stated(label), -weight(label), str(label)))


def stated(label):
    """False for a 'not stated' row or column (a row key is a tuple of parts)."""
    parts = label if isinstance(label, tuple) else (label,)
    return not any(part in gapmap.NOT_STATED.values() for part in parts)


def radius(count, largest):
    return round(max(MIN_RADIUS, MAX_RADIUS * math.sqrt(count / largest)), 1)


def legend_sizes(largest):
    counts = sorted({1, max(1, largest // 2), largest})
    return [{"studies": n, "radius": radius(n, largest)} for n in counts]


def cell(name, key, outcome, members, filters, largest):
    design = gapmap.strongest([gapmap.design_level(s) for s in members])
    query = urlencode({"map": name, "row": gapmap.row_label(key), "outcome": outcome, **filters})
    return {"outcome": outcome, "studies": len(members), "strongest_design": design,
            "study_ids": [s["study_id"] for s in members], "path": "/-/gap-map/studies?" + query,
            "radius": radius(len(members), largest)}


def gap_map_studies_context(conn, args):
    """The studies of one cell (map, row, outcome) under the filters, or None for an empty or unknown cell."""
    found, filters, _, _ = filtered(conn, args)
    if args.get("map") not in gapmap.MAPS:
        return None
    members = next((members for (key, outcome), members in gapmap.cells(found)[args["map"]].items()
                    if gapmap.row_label(key) == args.get("row") and outcome == args.get("outcome")), None)
    if not members:
        return None
    listed = []
    for study in members:
        work_ids = json_list(study["work_ids"]) or ([study["work_id"]] if study["work_id"] else [])
        ncts = [n for n in (study["nct_id"] or "").split(", ") if n]
        listed.append({
            "study_id": study["study_id"], "kind": study["kind"], "title": study["title"], "year": study["year"],
            "design": gapmap.design_level(study), "phase": study["phase"],
            "works": [{"id": i, "title": t, "path": f"/-/work/{i}"} for i, t in titles(conn, "works", "id", "title",
                                                                                          work_ids)],
            "trials": [{"nct_id": n, "title": t, "path": f"/-/trial/{n}"} for n, t in titles(
                conn, "trials", "nct_id", "brief_title", ncts)]})
    return {"map": args["map"], "map_title": gapmap.MAPS[args["map"]], "row": args["row"],
            "outcome": args["outcome"], "filters": filters, "studies": listed,
            "strongest_design": gapmap.strongest([s["design"] for s in listed]),
            "back": "/-/gap-map" + ("?" + urlencode(filters) if filters else "")}


def titles(conn, table, key, column, ids):
    marks = ", ".join("?" for _ in ids)
    found = dict(conn.execute(f"SELECT {key}, {column} FROM {table} WHERE {key} IN ({marks})", ids).fetchall()
                 ) if ids else {}
    return [(i, found[i]) for i in ids if i in found]
