"""The evidence gap map: for each intervention class and outcome (clinical studies), and
each species, animal model and outcome (preclinical studies), how many on-topic studies
there are and the strongest design among them, read from the `evidence` table.

A study counts once in every cell its tags put it in (a trial of MSC measuring NIHSS and
mRS is in two cells). A study with no intervention, species, model or outcome tagged
counts under "not stated", so an empty column is a gap, not a tagging miss hidden.
Reviews (systematic, meta-analysis, narrative) are not counted: they count the same
studies again. `gap_map` holds the whole map; the page recomputes it for its filters
with the same `cells`."""

import json
from collections import defaultdict

from .db import inputs_kept, inputs_of, insert_rows, rows_digest

# Strongest first. A study's level is the strongest of its design tags; an animal or in
# vitro study is preclinical whatever else it says ("randomised" rats are no RCT).
DESIGN_LEVELS = ("randomised controlled trial", "non-randomised controlled", "single-arm", "observational",
                 "case series or report", "preclinical", "design not stated")
LEVEL_OF = {"randomised controlled trial": "randomised controlled trial",
            "non-randomised controlled": "non-randomised controlled", "single-arm": "single-arm",
            "observational": "observational", "case series": "case series or report",
            "case report": "case series or report"}
PRECLINICAL = {"preclinical (animal)", "preclinical (in vitro)"}
REVIEWS = {"systematic review", "meta-analysis", "narrative review"}
MAPS = {"clinical": "Clinical studies: intervention × outcome",
        "preclinical": "Preclinical studies: species and animal model × outcome"}
NOT_STATED = {"intervention": "intervention not stated", "species": "species not stated",
              "animal_model": "model not stated", "outcomes": "no outcome tagged"}
# Filters of the page that name a value (years are numbers), each the evidence column it narrows.
FILTERS = ("stroke_type", "phase", "species")
STUDY_COLUMNS = ("study_id", "kind", "title", "year", "nct_id", "work_id", "work_ids", "design", "phase", "species",
                 "animal_model", "intervention", "stroke_type", "outcomes")
# What the map itself reads of a study: the table is rebuilt from these alone (titles and
# works, the page's, held for 20,000 studies took the refresh's peak RSS past 300 MB).
MAP_COLUMNS = ("study_id", "design", "species", "animal_model", "intervention", "outcomes")


class FilterError(ValueError):
    """A filter value the map cannot apply; its message says what it accepts."""


def split(value):
    """The values of an evidence column: a list column's JSON array (kb classify writes
    them so), or text joined by '; ' (a study's phases when its records disagree; a KB
    classified before the lists were arrays, served without a kb command opening it)."""
    if value and value.startswith("["):
        return json.loads(value)
    return [part for part in (value or "").split("; ") if part]


def phases_of(phase):
    """The single phases of a study's phase: '1/2' is in phase 1 and phase 2."""
    return {single for part in split(phase) for single in part.split("/")}


def is_preclinical(study):
    """Animal or in vitro work: a preclinical design tag, or only non-human species."""
    species = split(study["species"])
    return bool(PRECLINICAL & set(split(study["design"]))) or bool(species) and "human" not in species


def design_level(study):
    if is_preclinical(study):
        return "preclinical"
    levels = [LEVEL_OF[d] for d in split(study["design"]) if d in LEVEL_OF]
    return min(levels, key=DESIGN_LEVELS.index) if levels else "design not stated"


def strongest(levels):
    return min(levels, key=DESIGN_LEVELS.index)


def is_review(study):
    designs = set(split(study["design"]))
    return bool(designs & REVIEWS) and not designs & (set(LEVEL_OF) | PRECLINICAL)


def studies(conn, filters=None, columns=STUDY_COLUMNS):
    """On-topic studies that are not reviews, narrowed by checked filters
    ({stroke_type, phase, species: value, year_from, year_to: int}), with their `columns`
    (those the filters name among them)."""
    filters = filters or {}
    chosen = []
    for row in on_topic_rows(conn, columns):
        study = dict(zip(columns, row))
        if is_review(study):
            continue
        if filters.get("stroke_type") and filters["stroke_type"] not in split(study["stroke_type"]):
            continue
        if filters.get("phase") and filters["phase"] not in phases_of(study["phase"]):
            continue
        if filters.get("species") and filters["species"] not in split(study["species"]):
            continue
        if filters.get("year_from") is not None and (study["year"] is None or study["year"] < filters["year_from"]):
            continue
        if filters.get("year_to") is not None and (study["year"] is None or study["year"] > filters["year_to"]):
            continue
        chosen.append(study)
    return chosen


def on_topic_rows(conn, columns=STUDY_COLUMNS):
    """The columns of every on-topic study, as tuples read one at a time."""
    # A KB classified before animal models were tagged, served as it is (kb serve does not
    # migrate), has no evidence.animal_model: its models read as not stated.
    present = {row[1] for row in conn.execute("PRAGMA table_info(evidence)")}
    selected = ", ".join(column if column in present else f"NULL AS {column}" for column in columns)
    return conn.execute(f"SELECT {selected} FROM evidence WHERE on_topic = 1 ORDER BY study_id")


def rows_of(study):
    """The map a study is on and its row keys there: intervention; or (species, model)."""
    if is_preclinical(study):
        species = [s for s in split(study["species"]) if s != "human"] or [NOT_STATED["species"]]
        models = split(study["animal_model"]) or [NOT_STATED["animal_model"]]
        return "preclinical", [(s, m) for s in species for m in models]
    return "clinical", [(i,) for i in split(study["intervention"]) or [NOT_STATED["intervention"]]]


def row_label(key):
    return " · ".join(key)


def cells(found):
    """Cells of both maps from studies: {map: {(row key, outcome): [study, ...]}}."""
    maps = {name: defaultdict(list) for name in MAPS}
    for study in found:
        name, keys = rows_of(study)
        for key in keys:
            for outcome in split(study["outcomes"]) or [NOT_STATED["outcomes"]]:
                maps[name][(key, outcome)].append(study)
    return maps


def cell_row(name, key, outcome, members):
    return {"map": name, "row": row_label(key), "intervention": key[0] if name == "clinical" else None,
            "species": key[0] if name == "preclinical" else None,
            "animal_model": key[1] if name == "preclinical" else None, "outcome": outcome,
            "studies": len(members), "strongest_design": strongest([design_level(s) for s in members]),
            "study_ids": json.dumps([s["study_id"] for s in members])}


def gap_map_rows(conn):
    """Every cell of both maps, unfiltered, as `gap_map` rows."""
    return [cell_row(name, key, outcome, members) for name, found in cells(studies(conn, columns=MAP_COLUMNS)).items()
            for (key, outcome), members in sorted(found.items())]


def rebuild(db, everything=False):
    """Recompute the gap_map table from the evidence table, unless its on-topic studies are
    those it was last computed from (and not everything); returns the number of cells."""
    inputs = {"": rows_digest(on_topic_rows(db.conn, MAP_COLUMNS))}
    if not everything and inputs_of(db, "gap_map") == inputs:
        return db["gap_map"].count
    found = gap_map_rows(db.conn)
    with db.atomic():
        db.execute("DELETE FROM gap_map")
        insert_rows(db, "gap_map", found)
        inputs_kept(db, "gap_map", inputs)
    return len(found)
